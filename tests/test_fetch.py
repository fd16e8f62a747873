"""Fetching over real HTTP on loopback, and from local paths."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from digest import USER_AGENT
from digest.config.sources import SourceSpec
from digest.errors import FetchError
from digest.fetch import fetch_hf_pages, fetch_source, hf_days, hf_period_param, make_client
from digest.fetch.http import Session, fetch_url
from digest.fetch.policy import FetchPolicy

NOW = datetime(2025, 11, 26, 7, 0, tzinfo=UTC)
NO_WAIT = FetchPolicy(sleep=lambda _seconds: None)


@pytest.mark.parametrize(
    ("period", "now", "expected"),
    [
        ("day", datetime(2025, 11, 26, 7, 0, tzinfo=UTC), {"date": "2025-11-25"}),
        # HF's latest day moves on at 21:30 US Eastern (formats.md §1.5): at 21:00 EST on the
        # 25th the 25th is still filling, so the last complete day is the 24th...
        ("day", datetime(2025, 11, 26, 2, 0, tzinfo=UTC), {"date": "2025-11-24"}),
        # ...and from 21:30 EST on the 25th (02:30 UTC on the 26th) the 25th is complete
        ("day", datetime(2025, 11, 26, 2, 30, tzinfo=UTC), {"date": "2025-11-25"}),
        ("day", datetime(2025, 11, 26, 3, 0, tzinfo=UTC), {"date": "2025-11-25"}),
        # in summer (EDT) the same 21:30 is 01:30 UTC
        ("day", datetime(2025, 7, 9, 1, 29, tzinfo=UTC), {"date": "2025-07-07"}),
        ("day", datetime(2025, 7, 9, 1, 30, tzinfo=UTC), {"date": "2025-07-08"}),
        # a Monday-morning edition's last complete day is Sunday (hf_days adds Fri and Sat)
        ("day", datetime(2025, 11, 24, 7, 0, tzinfo=UTC), {"date": "2025-11-23"}),
        ("week", datetime(2025, 11, 24, 8, 0, tzinfo=UTC), {"week": "2025-W47"}),
        ("month", datetime(2025, 12, 1, 8, 0, tzinfo=UTC), {"month": "2025-11"}),
    ],
)
def test_period_is_the_last_complete_one(
    period: str, now: datetime, expected: dict[str, str]
) -> None:
    assert hf_period_param(period, now) == expected


MON_0700 = datetime(2025, 11, 24, 7, 0, tzinfo=UTC)  # 07:00 London, 02:00 New York
FRI_0700 = datetime(2025, 11, 21, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "since", "expected"),
    [
        # Monday after Friday's run: Friday, Saturday and Sunday; no day falls between editions
        (MON_0700, FRI_0700, ["2025-11-21", "2025-11-22", "2025-11-23"]),
        # Tuesday after Monday's run: Monday
        (MON_0700 + timedelta(days=1), MON_0700, ["2025-11-24"]),
        # no earlier run known: the last complete day
        (MON_0700, None, ["2025-11-23"]),
        # a run an hour after the last one: still the last complete day, never nothing
        (MON_0700, MON_0700 - timedelta(hours=1), ["2025-11-23"]),
        # after a month's pause: the last 7 days, no more
        (MON_0700, MON_0700 - timedelta(days=30), [f"2025-11-{d}" for d in range(17, 24)]),
    ],
)
def test_days_since_the_previous_run(
    now: datetime, since: datetime | None, expected: list[str]
) -> None:
    assert [d.isoformat() for d in hf_days(now, since)] == expected


def test_a_monday_edition_fetches_the_weekend_and_friday(http_server: Any) -> None:
    def route(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        day = parse_qs(urlparse(req.path).query)["date"][0]
        items = [{"paper": {"id": f"2511.{day[-2:]}001", "title": f"Paper of {day}"}}]
        return 200, {"Content-Type": "application/json"}, json.dumps(items).encode()

    server = http_server(route)
    spec = SourceSpec("hf-daily", "hf-daily", server.url + "/api/daily_papers")
    with make_client() as client:
        fetched = fetch_source(
            spec, client=client, period="day", now=MON_0700, since=FRI_0700, policy=NO_WAIT
        )
    days = [parse_qs(urlparse(p).query)["date"][0] for p in server.requests]
    assert days == ["2025-11-21", "2025-11-22", "2025-11-23"]
    assert [json.loads(page)[0]["paper"]["title"] for page in fetched.pages] == [
        "Paper of 2025-11-21",
        "Paper of 2025-11-22",
        "Paper of 2025-11-23",
    ]


def test_pages_until_a_short_page(http_server: Any) -> None:
    def route(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        page = int(parse_qs(urlparse(req.path).query)["p"][0])
        count = 100 if page < 2 else 7
        items = [{"paper": {"id": f"2511.{page:02d}{n:03d}"}} for n in range(count)]
        return 200, {"Content-Type": "application/json"}, json.dumps(items).encode()

    server = http_server(route)
    with make_client() as client:
        session = Session(client, NO_WAIT)
        pages = fetch_hf_pages(session, server.url + "/api/daily_papers", {"date": "2025-11-25"})
    assert [len(json.loads(p)) for p in pages] == [100, 100, 7]
    queries = [parse_qs(urlparse(p).query) for p in server.requests]
    assert [q["p"] for q in queries] == [["0"], ["1"], ["2"]]
    assert all(q["date"] == ["2025-11-25"] and q["limit"] == ["100"] for q in queries)


def test_sends_user_agent_and_retries_503(http_server: Any) -> None:
    agents: list[str] = []

    def route(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        agents.append(req.headers["User-Agent"])
        if len(agents) == 1:
            return 503, {"Retry-After": "0"}, b"busy"
        return 200, {}, b"[]"

    server = http_server(route)
    with make_client() as client:
        assert fetch_url(client, server.url + "/x", policy=NO_WAIT) == b"[]"
    assert agents == [USER_AGENT, USER_AGENT]


def test_http_error_is_a_clear_fetch_error(http_server: Any) -> None:
    server = http_server(lambda req: (404, {}, b"nope"))
    with make_client() as client, pytest.raises(FetchError, match="HTTP 404"):
        fetch_url(client, server.url + "/missing", policy=NO_WAIT)


def test_unreachable_host_is_a_clear_fetch_error() -> None:
    with httpx.Client(timeout=2) as client, pytest.raises(FetchError, match="cannot fetch"):
        fetch_url(client, "http://127.0.0.1:9/", policy=FetchPolicy(attempts=1))


def test_local_path_and_file_url(tmp_path: Path) -> None:
    path = tmp_path / "day one.json"
    path.write_bytes(b"[]")
    with make_client() as client:
        for location in (str(path), path.as_uri()):
            fetched = fetch_source(
                SourceSpec("auto", "auto", location), client=client, period="day", now=NOW
            )
            assert fetched.pages == (b"[]",)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with make_client() as client, pytest.raises(FetchError, match=r"cannot read .*nope\.json"):
        fetch_source(
            SourceSpec("auto", "auto", str(tmp_path / "nope.json")),
            client=client,
            period="day",
            now=NOW,
        )
