"""Hostile web requests (issue 18): forged Host headers, timing, broken stores, odd zones
and addresses that only casefold alike. Over the real app, store and outbox of test_web."""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from conftest import free_port
from starlette.testclient import TestClient
from test_web import BASE, SECRET, Web, confirmed, make_web, preferences_path, web

from digest.config import load_config
from digest.models import Status, Subscriber
from digest.send.transport import OutboxTransport
from digest.store import TinyStore
from digest.web import create_app
from digest.web.notices import NoticeSender
from digest.web.security import CSRF_COOKIE

__all__ = ["make_web", "web"]  # fixtures, used by name


# 17: redirects never name the request's Host ------------------------------------------------


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/subscribe/", "/subscribe"),
        ("/subscribe/?x=1", "/subscribe?x=1"),
        ("/archive/daily/", "/archive/daily"),
        ("/healthz/", "/healthz"),
    ],
)
def test_a_trailing_slash_redirects_to_base_url_not_to_the_host_header(
    web: Web, path: str, target: str
) -> None:
    answer = web.client.get(path, headers={"host": "evil.example"}, follow_redirects=False)
    assert answer.status_code in (301, 307, 308)
    assert answer.headers["location"] == BASE + target
    assert "evil.example" not in answer.text


def test_a_trailing_slash_on_no_route_is_still_not_found(web: Web) -> None:
    assert web.client.get("/nope/", headers={"host": "evil.example"}).status_code == 404


# 8: /healthz does not say ok on a store that subscribe cannot use ------------------------


@pytest.mark.parametrize("content", ['{"subscribers": []}', "[]", '{"subscribers": 5}'])
def test_healthz_is_503_on_a_store_of_the_wrong_shape(web: Web, content: str) -> None:
    assert web.client.get("/healthz").status_code == 200
    web.store.path.write_text(content)
    answer = web.client.get("/healthz")
    assert answer.status_code == 503 and answer.json()["status"] == "error"
    assert 0 < len(answer.json()["store"]) < 400


class BrokenStore(TinyStore):
    """A store whose check fails with something other than a StoreError."""

    def check(self) -> None:
        raise ValueError("unexpected byte at 7")


def test_healthz_is_503_whatever_the_store_raises(config_file: Callable[..., Path]) -> None:
    config = load_config(config_file(), {"DIGEST_SECRET": SECRET})
    app = create_app(config, store=BrokenStore(config.store_path))
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as client:
        answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json() == {"status": "error", "store": "the store cannot be read: ValueError"}


# 7: a zone name that is a tzdata folder, or too long, is a field error --------------------


@pytest.mark.parametrize("zone", ["Europe", "America", "E" * 400, "Europe/" + "x" * 300])
def test_subscribe_with_a_folder_or_huge_timezone_is_a_field_error(web: Web, zone: str) -> None:
    page = web.subscribe("ann@example.org", timezone=zone)
    assert page.status_code == 400  # type: ignore[attr-defined]
    assert "Choose a timezone from the list" in page.text  # type: ignore[attr-defined]
    assert web.store.get_subscriber("ann@example.org") is None


@pytest.mark.parametrize("zone", ["Europe", "x" * 1000])
def test_preferences_with_a_folder_timezone_is_a_field_error(web: Web, zone: str) -> None:
    sub = confirmed(web, "ann@example.org")
    path = preferences_path(sub)
    form = {"csrf_token": web.csrf(path), "action": "save", "digests": ["daily"]}
    page = web.client.post(path, data={**form, "cadence": "daily", "timezone": zone})
    assert page.status_code == 400 and "Choose a timezone from the list" in page.text


# 12: strasse@ is not straße@ -----------------------------------------------------------------


def test_an_address_that_only_casefolds_like_another_is_another_reader(web: Web) -> None:
    confirmed(web, "straße@example.org")
    web.subscribe("strasse@example.org")
    new = web.store.get_subscriber("strasse@example.org")
    assert new is not None and new.email == "strasse@example.org"
    assert new.status == Status.PENDING
    old = web.store.get_subscriber("straße@example.org")
    assert old is not None and old.status == Status.CONFIRMED
    mails = web.mails()
    assert mails["strasse@example.org"]["Subject"].startswith("Confirm")
    assert "straße@example.org" not in mails


# 18: a known address answers in the time a new one does ----------------------------------

ROUNDS = 60  # pairs of requests, one of each kind, in alternating order
WARM_UP = 4  # pairs not counted
PAUSE = 0.02  # seconds between requests
TOLERANCE = 0.25  # the median difference within a pair, against the median request


@contextmanager
def serving(web_dir: Path, config_path: Path) -> Iterator[tuple[str, TinyStore]]:
    """The app under uvicorn on 127.0.0.1 (so timings are a real client's); its URL."""
    config = load_config(config_path, {"DIGEST_SECRET": SECRET})
    store = TinyStore(config.store_path)
    notices = NoticeSender(config, transport=lambda: OutboxTransport(web_dir / "notices"))
    app = create_app(config, store=store, notices=notices)
    port = free_port()
    loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    levels = [lg.level for lg in loggers]  # uvicorn's log_level sets them for the process
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", store
    finally:
        server.should_exit = True
        thread.join(10)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def test_subscribe_takes_as_long_for_a_known_address_as_for_a_new_one(
    config_file: Callable[..., Path], tmp_path: Path
) -> None:
    web_config = "web:\n  per_client_per_hour: 100000\n  per_address_per_hour: 100\n"
    path = config_file(extra=web_config)
    with serving(tmp_path / "outbox", path) as (url, store):
        for n in range(ROUNDS + 5):
            store.save_subscriber(Subscriber(reader(n), ""))
        gaps: list[float] = []  # known minus new, within each adjacent pair
        everything: list[float] = []
        with httpx.Client(base_url=url, timeout=10) as client:
            page = client.get("/subscribe")
            token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            client.headers["cookie"] = f"{CSRF_COOKIE}={page.cookies[CSRF_COOKIE]}"  # Secure

            def took(address: str) -> float:
                form = {"csrf_token": token, "email": address, "digests": ["daily"]}
                time.sleep(PAUSE)  # single requests: the last one's email is written
                start = time.perf_counter()
                answer = client.post("/subscribe", data=form)
                elapsed = time.perf_counter() - start
                assert answer.status_code == 200 and "Check your inbox" in answer.text
                return elapsed

            for n in range(ROUNDS + WARM_UP):
                new, known = f"new{n}@example.org", reader(n)
                if n % 2:  # ABBA: neither kind always comes second
                    known_took, new_took = took(known), took(new)
                else:
                    new_took, known_took = took(new), took(known)
                if n >= WARM_UP:
                    gaps.append(known_took - new_took)
                    everything += (known_took, new_took)
    gap, typical = statistics.median(gaps), statistics.median(everything)
    print(f"median {typical * 1000:.2f} ms, known minus new {gap * 1000:+.2f} ms")
    assert abs(gap) <= TOLERANCE * typical, (
        f"a known address answers {gap * 1000:+.2f} ms apart from a new one "
        f"(median request {typical * 1000:.2f} ms)"
    )


def reader(n: int) -> str:
    return f"known{n}@example.org"
