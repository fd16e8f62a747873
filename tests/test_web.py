"""The web app's routes through Starlette's test client, over a real TinyDB store, with the
confirmation emails written to a real outbox folder: every route, and every bad input."""

from __future__ import annotations

import email
import email.policy
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from conftest import WEEKLY_DIGEST, current_store
from starlette.testclient import TestClient

from digest.config import Config, load_config
from digest.errors import ConfigError
from digest.links import PREFERENCES, UNSUBSCRIBE, make_confirm_token, make_token
from digest.models import Choices, Status, Subscriber
from digest.pipeline.readers import recipients
from digest.send.transport import OutboxTransport
from digest.store import Store, TinyStore
from digest.web import create_app
from digest.web.notices import NoticeSender
from digest.web.security import CSRF_COOKIE, RedactTokens

#: Runs once per store backend (TinyDB, PostgreSQL): see conftest.each_store.
pytestmark = pytest.mark.usefixtures("each_store")
SECRET = "test-secret-0123456789abcdefghij"
BASE = "https://papers.example.org"
TWO_DIGESTS = (
    WEEKLY_DIGEST
    + """\
web:
  per_client_per_hour: {per_client}
  per_address_per_hour: {per_address}
"""
)


@dataclass
class Web:
    """A running app, its store and outbox, and a browser-like client (keeps cookies)."""

    config: Config
    store: Store
    outbox: Path
    client: TestClient

    def csrf(self, path: str = "/subscribe") -> str:
        page = self.client.get(path)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match, f"no CSRF field on {path}"
        return match.group(1)

    def subscribe(self, address: str, **fields: object) -> object:
        form: dict[str, object] = {
            "csrf_token": self.csrf(),
            "email": address,
            "digests": ["daily"],
            "topics": "diffusion models, speech",
            "cadence": "daily",
            "timezone": "Europe/Paris",
        }
        form.update(fields)
        return self.client.post("/subscribe", data=form)

    def mails(self) -> dict[str, EmailMessage]:
        """The notices written so far, by recipient file name."""
        folder = self.outbox / "notices"
        return {
            p.stem: email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted(folder.glob("*.eml"))
        }

    def link_in(self, address: str, path: str) -> str:
        body = self.mails()[address].get_body(("plain",))
        assert body is not None
        match = re.search(rf"{BASE}(/{path}/\S+)", body.get_content())
        assert match, body.get_content()
        return match.group(1)

    def confirm(self, address: str) -> str:
        link = self.link_in(address, "confirm")
        token = self.csrf(link)
        response = self.client.post(link, data={"csrf_token": token})
        assert response.status_code == 200 and "You are subscribed" in response.text
        return link

    def status(self, address: str) -> Status | None:
        sub = self.store.get_subscriber(address)
        return sub.status if sub else None


@pytest.fixture
def make_web(config_file: Callable[..., Path], tmp_path: Path) -> Iterator[Callable[..., Web]]:
    clients: list[TestClient] = []

    def make(per_client: int = 100, per_address: int = 10) -> Web:
        path = config_file(extra=TWO_DIGESTS.format(per_client=per_client, per_address=per_address))
        config = load_config(
            path, {"DIGEST_SECRET": SECRET, "DIGEST_STORE": os.environ["DIGEST_STORE"]}
        )
        store = current_store()
        outbox = tmp_path / "outbox"
        notices = NoticeSender(config, transport=lambda: OutboxTransport(outbox / "notices"))
        app = create_app(config, store=store, notices=notices)
        client = TestClient(app, base_url=BASE)
        client.__enter__()
        clients.append(client)
        return Web(config, store, outbox, client)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def web(make_web: Callable[..., Web]) -> Web:
    return make_web()


def confirmed(web: Web, address: str, digests: tuple[str, ...] = ()) -> Subscriber:
    stored, _ = web.store.save_subscriber(Subscriber(address, "", digests=digests))
    return stored


# subscribe -----------------------------------------------------------------------------------


def test_the_form_is_served_with_a_csrf_cookie_and_safe_headers(web: Web) -> None:
    assert web.client.get("/", follow_redirects=False).headers["location"] == "/subscribe"
    page = web.client.get("/subscribe")
    assert page.status_code == 200
    assert 'name="csrf_token"' in page.text and CSRF_COOKIE in page.cookies
    for field in ('name="email"', 'value="daily"', 'value="weekly"', 'name="topics"'):
        assert field in page.text
    assert '<label for="authors">Authors you follow' in page.text
    assert '<fieldset class="field" id="topic_mode"' in page.text
    assert "<legend>How to use your topics</legend>" in page.text
    for mode in ("boost", "filter"):  # neither chosen: the digest decides
        assert f'name="topic_mode" value="{mode}">' in page.text
    assert "<option selected>Europe/London</option>" not in page.text  # UTC until chosen
    headers = page.headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    css = web.client.get("/static/site.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert web.client.get("/static/nope.css").status_code == 404


def test_subscribing_makes_a_pending_reader_and_sends_the_confirmation(web: Web) -> None:
    page = web.subscribe("Ann@Example.org")
    assert page.status_code == 200 and "Check your inbox" in page.text  # type: ignore[attr-defined]
    sub = web.store.get_subscriber("ann@example.org")
    assert sub is not None and sub.status == Status.PENDING
    assert sub.topics == () and sub.requested is not None  # applied only on confirmation
    assert sub.requested.topics == ("diffusion models", "speech")
    assert sub.consent == "web form from testclient"
    mail = web.mails()["Ann@example.org"]
    assert mail["Subject"] == "Confirm your subscription to Daily Papers"
    assert mail["Auto-Submitted"] == "auto-generated" and "List-Unsubscribe" not in mail
    html = mail.get_body(("html",))
    assert html is not None and "/confirm/" in html.get_content()
    assert recipients(web.store, web.config.digests[0], ()) == ()  # pending gets nothing


def test_the_answer_does_not_tell_whether_the_address_is_known(web: Web) -> None:
    confirmed(web, "known@example.org")
    web.store.save_subscriber(Subscriber("angry@example.org", "", Status.COMPLAINED))
    pages = [
        web.subscribe(a) for a in ("new@example.org", "known@example.org", "angry@example.org")
    ]

    def visible(page: object) -> str:
        text = page.text  # type: ignore[attr-defined]
        return re.sub(r'value="[^"]+"', "", text[text.index("<main") :])

    assert visible(pages[0]) == visible(pages[1]) == visible(pages[2])
    mails = web.mails()
    assert mails["known@example.org"]["Subject"] == "You are already subscribed to Daily Papers"
    assert "/preferences/" in web.link_in("known@example.org", "preferences")
    assert "angry@example.org" not in mails  # never mailed again
    after = web.store.get_subscriber("known@example.org")
    assert after is not None and after.status == Status.CONFIRMED and after.requested is None


def test_confirming_takes_a_post_and_applies_the_choices(web: Web) -> None:
    web.subscribe("ann@example.org", cadence="weekly", digests=["daily", "weekly"])
    link = web.link_in("ann@example.org", "confirm")
    page = web.client.get(link)
    assert page.status_code == 200 and "Once a week" in page.text
    assert web.status("ann@example.org") == Status.PENDING  # a GET changes nothing
    web.confirm("ann@example.org")
    sub = web.store.get_subscriber("ann@example.org")
    assert sub is not None and sub.status == Status.CONFIRMED
    assert sub.digests == () and sub.cadence == "weekly"  # every digest ticked: all of them
    assert sub.timezone == "Europe/Paris" and sub.confirmed_at is not None
    again = web.client.get(link)
    assert "Already confirmed" in again.text and "/preferences/" in again.text


def test_followed_authors_and_topic_mode_are_applied_on_confirmation(web: Web) -> None:
    web.subscribe("ann@example.org", authors="Smith, J.; Ada  Lovelace", topic_mode="filter")
    pending = web.store.get_subscriber("ann@example.org")
    assert pending is not None and pending.requested is not None
    assert (pending.authors, pending.topic_mode) == ((), None)  # nothing before confirming
    assert pending.requested.authors == ("Smith, J.", "Ada Lovelace")
    page = web.client.get(web.link_in("ann@example.org", "confirm"))
    assert "<dd>Smith, J.; Ada Lovelace</dd>" in page.text
    assert "<dd>Only papers matching my topics or authors</dd>" in page.text
    web.confirm("ann@example.org")
    sub = web.store.get_subscriber("ann@example.org")
    assert sub is not None and sub.status == Status.CONFIRMED
    assert (sub.authors, sub.topic_mode, sub.min_relevance) == (
        ("Smith, J.", "Ada Lovelace"),
        "filter",
        None,
    )


def test_a_reader_who_leaves_the_topic_mode_gets_the_digests(web: Web) -> None:
    web.subscribe("ann@example.org", authors="Alan Turing, Grace Hopper")
    link = web.link_in("ann@example.org", "confirm")
    assert "<dd>As the digest chooses</dd>" in web.client.get(link).text
    web.confirm("ann@example.org")
    sub = web.store.get_subscriber("ann@example.org")
    assert sub is not None
    assert (sub.authors, sub.topic_mode) == (("Alan Turing", "Grace Hopper"), None)


def test_an_unsubscribed_reader_comes_back_only_by_confirming(web: Web) -> None:
    stored, _ = web.store.save_subscriber(Subscriber("ann@example.org", "", Status.UNSUBSCRIBED))
    web.subscribe("ann@example.org")
    assert web.status("ann@example.org") == Status.UNSUBSCRIBED
    web.confirm("ann@example.org")
    sub = web.store.get_subscriber("ann@example.org")
    assert sub is not None and sub.status == Status.CONFIRMED and sub.id == stored.id


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": "not-an-address"}, "email", "not a valid email address"),
        ({"email": ""}, "email", "Enter your email address"),
        ({"email": "a@b@c.org"}, "email", "not a valid email address"),
        ({"digests": []}, "digests", "Choose at least one digest"),
        ({"digests": ["monthly"]}, "digests", "Choose digests from the list"),
        ({"cadence": "hourly"}, "cadence", "Choose daily or weekly"),
        ({"cadence": "weekly"}, "cadence", "Weekly readers get the weekly digests"),
        ({"timezone": "Mars/Olympus"}, "timezone", "Choose a timezone from the list"),
        ({"topics": ",".join(f"t{n}" for n in range(21))}, "topics", "At most 20 topics"),
        ({"topics": "x" * 81}, "topics", "at most 80 characters"),
        ({"authors": ", ".join(f"Author {n}" for n in range(21))}, "authors", "At most 20"),
        ({"authors": "Ada Lovelace, " + "x" * 81}, "authors", "at most 80 characters"),
        ({"authors": "Ada Lovelace; 1234"}, "authors", "Each name needs letters"),
        ({"topic_mode": "everything"}, "topic_mode", "Choose one of the two ways"),
        ({"topic_mode": "filter", "topics": ""}, "topic_mode", "at least one topic or author"),
    ],
)
def test_bad_fields_come_back_named_with_what_was_typed(
    web: Web, fields: dict[str, object], field: str, message: str
) -> None:
    page = web.subscribe(fields.get("email", "ann@example.org"), **fields)
    text = page.text  # type: ignore[attr-defined]
    assert page.status_code == 400  # type: ignore[attr-defined]
    assert message in text and f'id="{field}-error"' in text and 'role="alert"' in text
    assert web.store.list_subscribers() == () and not (web.outbox / "notices").exists()
    if "topics" not in fields:
        assert "diffusion models, speech" in text  # what the reader typed is kept


def test_what_the_reader_typed_is_escaped(web: Web) -> None:
    page = web.subscribe("bad", topics='<script>alert("x")</script>')
    assert "<script>alert" not in page.text  # type: ignore[attr-defined]
    assert "&lt;script&gt;alert" in page.text  # type: ignore[attr-defined]


@pytest.mark.parametrize("token", [None, "forged", "other-secret"])
def test_a_form_without_a_valid_csrf_token_changes_nothing(web: Web, token: str | None) -> None:
    web.client.get("/subscribe")  # the cookie
    form = {"email": "ann@example.org", "digests": ["daily"]}
    if token == "forged":
        form["csrf_token"] = "abc.def"
    elif token == "other-secret":
        from itsdangerous import Signer

        value = web.client.cookies[CSRF_COOKIE]
        form["csrf_token"] = Signer("other", salt="csrf").sign(value).decode()
    page = web.client.post("/subscribe", data=form)
    assert page.status_code == 400 and "The form has expired" in page.text
    assert web.store.list_subscribers() == ()


def test_a_csrf_token_from_another_browser_is_refused(web: Web) -> None:
    token = web.csrf()
    web.client.cookies.clear()
    web.client.get("/subscribe")  # a new cookie, which the old field does not match
    page = web.client.post("/subscribe", data={"csrf_token": token, "email": "a@example.org"})
    assert page.status_code == 400 and web.store.list_subscribers() == ()


def test_the_honeypot_gets_the_same_answer_and_nothing_else(web: Web) -> None:
    page = web.subscribe("bot@example.org", website="http://spam.example")
    assert page.status_code == 200 and "Check your inbox" in page.text  # type: ignore[attr-defined]
    assert web.store.list_subscribers() == () and not (web.outbox / "notices").exists()


def test_subscribe_requests_are_limited_per_client(make_web: Callable[..., Web]) -> None:
    web = make_web(per_client=2)
    assert web.subscribe("a@example.org").status_code == 200  # type: ignore[attr-defined]
    assert web.subscribe("b@example.org").status_code == 200  # type: ignore[attr-defined]
    third = web.subscribe("c@example.org")
    assert third.status_code == 429 and "Too many" in third.text  # type: ignore[attr-defined]
    assert web.store.get_subscriber("c@example.org") is None


def test_confirmation_emails_are_limited_per_address(make_web: Callable[..., Web]) -> None:
    web = make_web(per_address=1)
    web.subscribe("ann@example.org")
    first = (web.outbox / "notices" / "ann@example.org.eml").read_bytes()
    second = web.subscribe("ANN@example.org")
    assert "Check your inbox" in second.text  # type: ignore[attr-defined]
    assert (web.outbox / "notices" / "ann@example.org.eml").read_bytes() == first  # not resent


# confirmation links ----------------------------------------------------------------------------


def test_a_forged_confirmation_link_is_a_clear_400(web: Web) -> None:
    web.subscribe("ann@example.org")
    link = web.link_in("ann@example.org", "confirm")
    forged = link[:-2] + ("AA" if not link.endswith("AA") else "BB")
    page = web.client.get(forged)
    assert (
        page.status_code == 400
        and "This link is not valid" in page.text
        and "nothing was changed" in page.text
    )
    other = web.client.get("/confirm/" + make_token(SECRET, PREFERENCES, "x", ""))
    assert other.status_code == 400  # a token made for another purpose
    posted = web.client.post(forged, data={"csrf_token": web.csrf()})
    assert posted.status_code == 400 and web.status("ann@example.org") == Status.PENDING


def test_an_expired_confirmation_link_asks_to_subscribe_again(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub, _ = web.store.request_subscription(
        "ann@example.org", Choices(("daily",)), now=datetime.now(UTC), consent=""
    )
    import itsdangerous.timed

    real = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() - 49 * 3600)
    token = make_confirm_token(SECRET, sub.id)
    monkeypatch.undo()
    page = web.client.get(f"/confirm/{token}")
    assert page.status_code == 410 and "Subscribe again" in page.text
    posted = web.client.post(f"/confirm/{token}", data={"csrf_token": web.csrf()})
    assert posted.status_code == 410 and web.status("ann@example.org") == Status.PENDING


def test_a_link_to_a_forgotten_pending_address_has_expired(web: Web) -> None:
    page = web.client.get(f"/confirm/{make_confirm_token(SECRET, 'gone-id')}")
    assert page.status_code == 410


def test_confirming_needs_the_csrf_token(web: Web) -> None:
    web.subscribe("ann@example.org")
    link = web.link_in("ann@example.org", "confirm")
    assert web.client.post(link).status_code == 400
    assert web.status("ann@example.org") == Status.PENDING


# one-click unsubscribe (RFC 8058) ------------------------------------------------------------


def unsubscribe_path(sub: Subscriber, digest: str = "daily") -> str:
    return f"/unsubscribe/{make_token(SECRET, UNSUBSCRIBE, sub.id, digest)}"


def test_get_shows_a_button_and_changes_nothing(web: Web) -> None:
    sub = confirmed(web, "ann@example.org")
    page = web.client.get(unsubscribe_path(sub))
    assert page.status_code == 200
    assert (
        "Unsubscribe from Daily Papers" in page.text and "Unsubscribe from everything" in page.text
    )
    assert web.status("ann@example.org") == Status.CONFIRMED


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_post_unsubscribes_with_200_and_no_redirect(web: Web, encoding: str) -> None:
    sub = confirmed(web, "ann@example.org", digests=("daily",))
    client = TestClient(web.client.app, base_url=BASE)  # a mailbox provider: no cookies
    body = {"List-Unsubscribe": "One-Click"}
    if encoding == "multipart":
        response = client.post(
            unsubscribe_path(sub), files={"List-Unsubscribe": (None, "One-Click")}
        )
    else:
        response = client.post(unsubscribe_path(sub), data=body, follow_redirects=False)
    assert response.status_code == 200 and not response.is_redirect
    assert web.status("ann@example.org") == Status.UNSUBSCRIBED
    assert recipients(web.store, web.config.digests[0], ()) == ()  # the next send skips them
    again = client.post(unsubscribe_path(sub), data=body)
    assert again.status_code == 200 and web.status("ann@example.org") == Status.UNSUBSCRIBED


def test_one_click_leaves_only_the_digest_of_the_link(web: Web) -> None:
    sub = confirmed(web, "ann@example.org")  # every digest
    web.client.post(unsubscribe_path(sub, "daily"), data={"List-Unsubscribe": "One-Click"})
    after = web.store.get_subscriber("ann@example.org")
    assert after is not None and after.status == Status.CONFIRMED and after.digests == ("weekly",)
    web.client.post(
        unsubscribe_path(sub, "weekly"), data={"List-Unsubscribe": "One-Click", "scope": "all"}
    )
    assert web.status("ann@example.org") == Status.UNSUBSCRIBED


def test_a_link_for_a_digest_that_no_longer_exists_unsubscribes_from_all(web: Web) -> None:
    sub = confirmed(web, "ann@example.org")
    web.client.post(unsubscribe_path(sub, "retired"), data={"List-Unsubscribe": "One-Click"})
    assert web.status("ann@example.org") == Status.UNSUBSCRIBED


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_forged_unsubscribe_link_is_a_400_and_changes_nothing(web: Web, method: str) -> None:
    sub = confirmed(web, "ann@example.org")
    path = unsubscribe_path(sub)
    forged = path[:-3] + ("xyz" if not path.endswith("xyz") else "abc")
    response = getattr(web.client, method)(forged)
    assert response.status_code == 400 and "nothing was changed" in response.text
    made_for_preferences = f"/unsubscribe/{make_token(SECRET, PREFERENCES, sub.id, 'daily')}"
    assert getattr(web.client, method)(made_for_preferences).status_code == 400
    assert web.status("ann@example.org") == Status.CONFIRMED


def test_unsubscribing_an_unknown_reader_answers_200(web: Web) -> None:
    ghost = Subscriber("ghost@example.org", "no-such-id")
    response = web.client.post(unsubscribe_path(ghost), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and web.store.list_subscribers() == ()


# preferences ---------------------------------------------------------------------------------


def preferences_path(sub: Subscriber) -> str:
    return f"/preferences/{make_token(SECRET, PREFERENCES, sub.id, 'daily')}"


def test_preferences_show_and_save_the_readers_choices(web: Web) -> None:
    stored, _ = web.store.save_subscriber(
        Subscriber("ann@example.org", "", topics=("speech",), timezone="Asia/Tokyo")
    )
    path = preferences_path(stored)
    page = web.client.get(path)
    assert page.status_code == 200 and "ann@example.org" in page.text
    assert ">speech</textarea>" in page.text and re.search(
        r'<option value="Asia/Tokyo"[^>]* selected>Tokyo</', page.text
    )
    token = web.csrf(path)
    form = {
        "csrf_token": token,
        "action": "save",
        "digests": ["weekly"],
        "topics": "robotics; vision",
        "cadence": "weekly",
        "timezone": "America/New_York",
        "paused": "on",
    }
    saved = web.client.post(path, data=form)
    assert saved.status_code == 200 and "Saved." in saved.text
    sub = web.store.get_subscriber("ann@example.org")
    assert sub is not None
    assert (sub.digests, sub.topics, sub.cadence, sub.timezone, sub.paused) == (
        ("weekly",),
        ("robotics", "vision"),
        "weekly",
        "America/New_York",
        True,
    )
    assert recipients(web.store, web.config.digests[1], ()) == ()  # paused: no mail


def test_preferences_show_and_change_authors_and_topic_mode(web: Web) -> None:
    stored, _ = web.store.save_subscriber(
        Subscriber(
            "ann@example.org",
            "",
            topics=("speech",),
            authors=("Smith, J.", "Ada Lovelace"),
            topic_mode="boost",
            min_relevance=0.4,
        )
    )
    path = preferences_path(stored)
    page = web.client.get(path)
    assert ">Smith, J.\nAda Lovelace</textarea>" in page.text  # one per line: commas kept
    assert 'name="topic_mode" value="boost" checked>' in page.text
    assert 'name="topic_mode" value="filter">' in page.text
    form = {
        "csrf_token": web.csrf(path),
        "action": "save",
        "digests": ["daily"],
        "topics": "",
        "authors": "Smith, J.\nGrace Hopper",
        "topic_mode": "filter",
    }
    saved = web.client.post(path, data=form)
    assert saved.status_code == 200 and "Saved." in saved.text
    assert 'name="topic_mode" value="filter" checked>' in saved.text
    sub = web.store.get_subscriber("ann@example.org")
    assert sub is not None
    assert (sub.topics, sub.authors, sub.topic_mode) == (
        (),
        ("Smith, J.", "Grace Hopper"),
        "filter",
    )
    assert sub.min_relevance == 0.4  # the operator's, not on the form


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"authors": "\n".join(f"Author {n}" for n in range(21))}, "authors", "At most 20"),
        ({"authors": "y" * 81}, "authors", "at most 80 characters"),
        ({"topic_mode": "all-of-it"}, "topic_mode", "Choose one of the two ways"),
        ({"topic_mode": "filter"}, "topic_mode", "at least one topic or author"),
    ],
)
def test_bad_authors_or_topic_mode_change_no_preferences(
    web: Web, fields: dict[str, str], field: str, message: str
) -> None:
    stored, _ = web.store.save_subscriber(
        Subscriber("ann@example.org", "", authors=("Ada Lovelace",), topic_mode="boost")
    )
    path = preferences_path(stored)
    form = {"csrf_token": web.csrf(path), "action": "save", "digests": ["daily"], **fields}
    page = web.client.post(path, data=form)
    assert page.status_code == 400 and message in page.text
    assert f'<p class="error" id="{field}-error">' in page.text and 'role="alert"' in page.text
    assert f'aria-describedby="{field}-hint {field}-error" aria-invalid="true"' in page.text
    assert web.store.get_subscriber("ann@example.org") == stored


def test_bad_preferences_change_nothing_and_keep_what_was_typed(web: Web) -> None:
    stored = confirmed(web, "ann@example.org")
    path = preferences_path(stored)
    form = {"csrf_token": web.csrf(path), "digests": [], "topics": "kept text", "timezone": "X"}
    page = web.client.post(path, data=form)
    assert page.status_code == 400 and "Choose at least one digest" in page.text
    assert "kept text" in page.text and "Choose a timezone" in page.text
    assert web.store.get_subscriber("ann@example.org") == stored
    no_csrf = web.client.post(path, data={**form, "csrf_token": "x", "digests": ["daily"]})
    assert no_csrf.status_code == 400 and web.store.get_subscriber("ann@example.org") == stored


def test_unsubscribe_from_the_preferences_page(web: Web) -> None:
    stored = confirmed(web, "ann@example.org")
    path = preferences_path(stored)
    page = web.client.post(path, data={"csrf_token": web.csrf(path), "action": "unsubscribe"})
    assert page.status_code == 200 and "You are unsubscribed" in page.text
    assert web.status("ann@example.org") == Status.UNSUBSCRIBED
    after = web.client.get(path)
    assert after.status_code == 404 and "not subscribed any more" in after.text


def test_a_forged_preferences_link_is_a_400(web: Web) -> None:
    stored = confirmed(web, "ann@example.org")
    forged = preferences_path(stored)[:-1] + "!"
    assert web.client.get(forged).status_code == 400
    made_for_unsubscribe = f"/preferences/{make_token(SECRET, UNSUBSCRIBE, stored.id, 'daily')}"
    assert web.client.get(made_for_unsubscribe).status_code == 400


# the rest ----------------------------------------------------------------------------------


def test_healthz_reports_an_unreadable_store(web: Web, request: pytest.FixtureRequest) -> None:
    assert web.client.get("/healthz").json() == {"status": "ok"}
    if isinstance(web.store, TinyStore):
        web.store.path.write_text("{ not json")
        broken = web.client.get("/healthz")
        assert broken.status_code == 503 and "not valid JSON" in broken.json()["store"]
        return
    server = request.getfixturevalue("pg_server")  # the database goes away: 503, not a crash
    name = os.environ["DIGEST_STORE"].rsplit("/", 1)[1]
    server.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    server.execute(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    )
    broken = web.client.get("/healthz")
    assert broken.status_code == 503 and "cannot" in broken.json()["store"].lower()


def test_unknown_pages_and_methods_get_plain_error_pages(web: Web) -> None:
    missing = web.client.get("/nope")
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert web.client.put("/subscribe").status_code == 405


def test_the_app_refuses_to_start_without_a_secret(config_file: Callable[..., Path]) -> None:
    config = load_config(config_file(), {})
    with pytest.raises(ConfigError, match="DIGEST_SECRET is not set"):
        create_app(config)
    assert create_app(config, allow_dev_secret=True) is not None


def test_archive_pages_are_public_and_set_no_cookie(web: Web) -> None:
    page = web.client.get("/archive")
    assert page.status_code == 200 and "set-cookie" not in page.headers
    assert page.headers["cache-control"] == "public, max-age=300"


def test_with_only_daily_digests_the_form_does_not_ask_how_often(
    config_file: Callable[..., Path],
) -> None:
    config = load_config(config_file(), {"DIGEST_SECRET": SECRET})
    with TestClient(create_app(config), base_url=BASE) as client:
        page = client.get("/subscribe").text
    assert 'name="cadence"' not in page  # how often follows from what the reader chose
    assert '<input type="radio" name="digests" value="daily" checked>' in page


def test_the_form_asks_one_question_what_to_receive(web: Web) -> None:
    """Issue 15: "Digests" checkboxes and "How often" radios overlapped (both digests ticked,
    cadence daily); the reader makes one choice, and how often follows from it."""
    page = web.client.get("/subscribe").text
    assert 'type="checkbox" name="digests"' not in page and 'name="cadence"' not in page
    assert re.findall(r'type="radio" name="digests" value="([^"]+)"', page) == [
        "daily",
        "weekly",
        "*",
    ]
    web.subscribe("wes@example.org", digests=["weekly"], cadence="")
    web.subscribe("all@example.org", digests=["*"], cadence="")
    wes, everyone = (
        web.store.get_subscriber("wes@example.org"),
        web.store.get_subscriber("all@example.org"),
    )
    assert wes is not None and wes.requested is not None
    assert (wes.requested.digests, wes.requested.cadence) == (("weekly",), "weekly")
    assert everyone is not None and everyone.requested is not None
    assert (everyone.requested.digests, everyone.requested.cadence) == ((), "daily")


def test_the_timezones_are_current_canonical_zones_by_region(web: Web) -> None:
    """Issue 15: the list held Africa/Asmera, US/Eastern and every other alias."""
    page = web.client.get("/subscribe").text
    zones = re.findall(r'<option value="([^"]+)"', page)
    assert "Africa/Asmara" in zones and "Europe/Paris" in zones and "Asia/Kolkata" in zones
    for alias in ("Africa/Asmera", "US/Eastern", "Etc/GMT+5", "Asia/Calcutta", "GB", "UTC"):
        assert alias not in zones
    groups = re.findall(r'<optgroup label="([^"]+)">', page)
    assert groups == sorted(groups) and {"Africa", "America", "Europe", "Pacific"} <= set(groups)
    assert '<option value="Europe/Paris">Paris</option>' in page


def test_access_logs_never_show_the_readers_tokens() -> None:
    path = "/unsubscribe/eyJzIjoiYSJ9.abc?x=1"
    record = logging.LogRecord(
        "uvicorn.access",
        20,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4", "POST", path, "1.1", 200),
        None,
    )
    RedactTokens().filter(record)
    assert record.getMessage() == '1.2.3.4 - "POST /unsubscribe/…?x=1 HTTP/1.1" 200'
