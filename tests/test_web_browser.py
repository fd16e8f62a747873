"""The web app in a real browser: headless Debian chromium driven by Playwright, against a real
uvicorn server on loopback, with the confirmation email caught by a real SMTP server.

Each test walks one reader's path through the pages a person would click, and checks the
store after every step. Set DIGEST_SCREENSHOTS=<folder> to save a full-page PNG of each page
visited (at desktop and phone widths) for a look at the layout.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import pytest
import uvicorn
from conftest import WEEKLY_DIGEST, SmtpServer
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

from digest.config import load_config
from digest.models import Status, Subscriber
from digest.store import Store, TinyStore
from digest.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; .ci/run installs it. No Playwright download.
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # no calls home: the test network is closed, and chromium would keep retrying
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000  # any one browser action or assertion
MAIL_WAIT_S = 10.0  # the confirmation email is sent after the page is answered
DESKTOP = ViewportSize(width=1000, height=800)
PHONE = ViewportSize(width=390, height=844)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} not found: install Debian's chromium (.ci/run does) to run browser tests",
)
expect.set_options(timeout=TIMEOUT_MS)


# the server ----------------------------------------------------------------------------------


@dataclass
class Served:
    """The running app: its address, its store, and the SMTP server its emails go to."""

    url: str
    store: Store
    smtp: SmtpServer

    def subscriber(self, email: str) -> Subscriber:
        sub = self.store.get_subscriber(email)
        assert sub is not None, f"{email} is not in the store"
        return sub


@pytest.fixture
def served(config_file: Callable[..., Path], smtp_server: SmtpServer) -> Iterator[Served]:
    """``create_app`` under a real uvicorn in a thread, on a socket bound before the config is
    written, so the links in the emails (``base_url``) point at this very server."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    path = config_file(smtp_host="127.0.0.1", smtp_port=smtp_server.port, extra=WEEKLY_DIGEST)
    config = load_config(path, {"DIGEST_BASE_URL": url, "DIGEST_SECRET": "browser-test-secret"})
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Served(url, TinyStore(config.store_path), smtp_server)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


# the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class OpenPage(Protocol):
    def __call__(self, *, timezone: str, javascript: bool = True) -> Page: ...


@pytest.fixture
def open_page(browser: Browser) -> Iterator[OpenPage]:
    """Opens pages in fresh contexts (no cookies), each in the given timezone, with or
    without JavaScript. A script error or a Content-Security-Policy violation fails the test."""
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            problems.append(message.text)

    def open_(*, timezone: str, javascript: bool = True) -> Page:
        context = browser.new_context(
            timezone_id=timezone, java_script_enabled=javascript, viewport=DESKTOP
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda error: problems.append(str(error)))
        return page

    yield open_
    for context in contexts:
        context.close()
    assert problems == []


def screenshot(page: Page, name: str) -> None:
    """Full-page PNGs of the page into $DIGEST_SCREENSHOTS: desktop and phone widths, and the
    phone width in dark mode."""
    folder = os.environ.get("DIGEST_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for size, suffix in ((DESKTOP, ""), (PHONE, ""), (PHONE, "-dark")):
        page.set_viewport_size(size)
        page.emulate_media(color_scheme="dark" if suffix else "light")
        page.screenshot(path=f"{folder}/{name}-{size['width']}{suffix}.png", full_page=True)
    page.set_viewport_size(DESKTOP)
    page.emulate_media(color_scheme="light")


# the pages' steps ----------------------------------------------------------------------------


def heading(page: Page, text: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(text)


def fill_subscribe_form(page: Page, email: str, topics: str) -> None:
    """Only Weekly Papers (one choice: weekly follows), the given topics; the timezone as
    the page has it."""
    page.get_by_label("Email address").fill(email)
    page.get_by_role("radio", name="Weekly Papers").check()
    page.get_by_role("textbox", name="Topics").fill(topics)


def confirm_link(served: Served, email: str) -> str:
    """The link in the confirmation email to ``email``, waiting for it to arrive."""
    message = wait_for_mail(served.smtp, email)
    assert message["Subject"] == "Confirm your subscription to Daily Papers"
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    found = re.search(rf"^{re.escape(served.url)}/confirm/\S+", body.get_content(), re.M)
    assert found, body.get_content()
    return found.group(0)


def wait_for_mail(smtp: SmtpServer, recipient: str) -> EmailMessage:
    deadline = time.monotonic() + MAIL_WAIT_S
    while time.monotonic() < deadline:
        for _, rcpt_tos, content in list(smtp.script.messages):
            if recipient in rcpt_tos:
                message = message_from_bytes(content, policy=policy.default)
                assert isinstance(message, EmailMessage)
                return message
        time.sleep(0.05)
    raise AssertionError(f"no email to {recipient} within {MAIL_WAIT_S} s")


def subscribe_and_confirm(
    served: Served, page: Page, email: str, topics: str, *, shots: str = ""
) -> Subscriber:
    """The double opt-in, from the form to "You are subscribed"; the confirmed subscriber.
    ``shots`` prefixes the screenshots' names."""
    page.goto(f"{served.url}/subscribe")
    heading(page, "Subscribe to Daily Papers")
    screenshot(page, f"{shots}01-subscribe")
    fill_subscribe_form(page, email, topics)
    page.get_by_role("button", name="Subscribe").click()
    heading(page, "Check your inbox")
    screenshot(page, f"{shots}02-check-inbox")

    page.goto(confirm_link(served, email))
    heading(page, "Confirm your subscription")
    expect(page.get_by_text(email)).to_be_visible()
    screenshot(page, f"{shots}03-confirm")
    assert served.subscriber(email).status == Status.PENDING  # a GET never changes state

    page.get_by_role("button", name="Confirm").click()
    heading(page, "You are subscribed")
    screenshot(page, f"{shots}04-subscribed")
    sub = served.subscriber(email)
    assert sub.status == Status.CONFIRMED
    assert sub.digests == ("weekly",)
    assert sub.topics == tuple(t.strip() for t in topics.split(","))
    assert sub.cadence == "weekly"
    return sub


# the scenarios -------------------------------------------------------------------------------


def test_subscribe_confirm_change_preferences_and_unsubscribe(
    served: Served, open_page: OpenPage
) -> None:
    email = "ada@example.org"
    page = open_page(timezone="Asia/Tokyo")
    page.goto(f"{served.url}/subscribe")
    expect(page.get_by_label("Timezone")).to_have_value("Asia/Tokyo")  # guessed by the script

    sub = subscribe_and_confirm(served, page, email, "diffusion models, speech")
    assert sub.timezone == "Asia/Tokyo"

    page.get_by_role("link", name="Open my preferences").click()
    heading(page, "Your preferences")
    expect(page.get_by_role("textbox", name="Topics")).to_have_value("diffusion models, speech")
    expect(page.get_by_role("radio", name="Once a week")).to_be_checked()
    expect(page.get_by_label("Timezone")).to_have_value("Asia/Tokyo")
    screenshot(page, "05-preferences")
    expect(page.get_by_role("radio", name="Only papers matching my topics")).not_to_be_checked()
    page.get_by_role("textbox", name="Topics").fill("graph neural networks")
    page.get_by_label("Authors you follow").fill("Smith, J.\nAda Lovelace")
    page.get_by_role("radio", name="Only papers matching my topics or authors").check()
    page.get_by_role("checkbox", name="Pause my emails").check()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("status")).to_contain_text("Saved.")
    screenshot(page, "06-preferences-saved")
    sub = served.subscriber(email)
    assert (sub.status, sub.topics, sub.paused) == (
        Status.CONFIRMED,
        ("graph neural networks",),
        True,
    )
    assert (sub.cadence, sub.timezone, sub.digests) == ("weekly", "Asia/Tokyo", ("weekly",))
    assert (sub.authors, sub.topic_mode) == (("Smith, J.", "Ada Lovelace"), "filter")
    expect(page.get_by_label("Authors you follow")).to_have_value("Smith, J.\nAda Lovelace")
    expect(page.get_by_role("radio", name="Only papers matching my topics")).to_be_checked()

    page.get_by_role("button", name="Unsubscribe from everything").click()
    heading(page, "You are unsubscribed")
    screenshot(page, "07-unsubscribed")
    assert served.subscriber(email).status == Status.UNSUBSCRIBED


def test_subscribe_without_javascript(served: Served, open_page: OpenPage) -> None:
    """The forms are plain HTML: no script, no guessed timezone (UTC), still subscribed."""
    email = "grace@example.org"
    page = open_page(timezone="Asia/Tokyo", javascript=False)
    sub = subscribe_and_confirm(served, page, email, "compilers", shots="nojs-")
    assert sub.timezone is None


def test_invalid_form_comes_back_with_errors_and_what_was_typed(
    served: Served, open_page: OpenPage
) -> None:
    page = open_page(timezone="Europe/Paris")
    page.goto(f"{served.url}/subscribe")
    page.get_by_label("Email address").fill("not an address")
    page.get_by_role("radio", name="Weekly Papers").check()
    page.get_by_role("textbox", name="Topics").fill("robotics")
    page.get_by_role("button", name="Subscribe").click()

    heading(page, "Subscribe to Daily Papers")
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("This is not a valid email address")
    expect(page.get_by_role("radio", name="Weekly Papers")).to_be_checked()  # kept
    expect(page.get_by_label("Email address")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Email address")).to_have_value("not an address")
    expect(page.get_by_role("textbox", name="Topics")).to_have_value("robotics")
    expect(page.get_by_label("Timezone")).to_have_value("Europe/Paris")  # guessed, sent, kept
    screenshot(page, "08-subscribe-errors")
    assert served.store.list_subscribers() == ()
    assert served.smtp.script.messages == []


def test_the_browsers_timezone_comes_first_in_the_list(served: Served, open_page: OpenPage) -> None:
    """Issue 15: the reader's own zone heads the list (guessed by the browser), chosen."""
    page = open_page(timezone="Asia/Kolkata")
    page.goto(f"{served.url}/subscribe")
    select = page.get_by_label("Timezone")
    expect(select).to_have_value("Asia/Kolkata")
    first = select.locator("optgroup").first
    expect(first).to_have_attribute("label", "Your timezone")
    expect(first.locator("option")).to_have_text("Asia/Kolkata")
    values = select.locator("option").evaluate_all("options => options.map(o => o.value)")
    assert "Asia/Calcutta" not in values and "Africa/Asmera" not in values
