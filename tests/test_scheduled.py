"""What the schedule says is due, done once (digest.schedule.due), with an injected clock: a real
TinyDB store in tmp, the papers served by a local HTTP server (so fetches can be counted),
and aiosmtpd as the relay (so every message can be counted)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import CONFIG_TEMPLATE, WEEKLY_DIGEST, Feed, SmtpServer, current_store

from digest.config import Config, load_config
from digest.models import DeliveryStatus, RunReport, Subscriber
from digest.schedule.due import DueResult, send_due
from digest.store import Store

#: Runs once per store backend (TinyDB, PostgreSQL): see conftest.each_store.
pytestmark = pytest.mark.usefixtures("each_store")
ENV = {"DIGEST_SECRET": "test-secret-0123456789abcdefghijkl"}

#: Tuesday 24 November 2026, 07:00 in London (GMT): the daily digest's scheduled run.
RUN = datetime(2026, 11, 24, 7, tzinfo=UTC)

READERS = {
    "london@example.org": None,  # no timezone: the digest's, so at the run
    "lisbon@example.org": "Europe/Lisbon",  # same offset as London
    "newyork@example.org": "America/New_York",  # 07:00 there is 12:00 UTC
    "tokyo@example.org": "Asia/Tokyo",  # 07:00 there has passed: 22:00 UTC
}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


def make_config(tmp_path: Path, feed: Feed, smtp: SmtpServer, extra: str = "") -> Config:
    text = CONFIG_TEMPLATE.format(
        store=tmp_path / "store.json",
        outbox=tmp_path / "outbox",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
    ).replace("sources: [hf-daily]", f"sources: ['{feed.http.url}/papers.json']")
    path = tmp_path / "schedules.yaml"
    path.write_text(text + extra.replace("sources: [hf-daily]", f"sources: ['{feed.http.url}/w']"))
    return load_config(path, {**ENV, "DIGEST_STORE": os.environ["DIGEST_STORE"]})


def add_readers(config: Config, readers: Mapping[str, str | None], **choices: object) -> Store:
    store = current_store()
    for n, (email, zone) in enumerate(readers.items()):
        sub = Subscriber(email=email, id=f"r{n}-{email[:3]}", timezone=zone, **choices)  # type: ignore[arg-type]
        store.save_subscriber(sub)
    return store


def due(
    config: Config, store: Store, client: httpx.Client, at: datetime, name: str = "daily"
) -> DueResult:
    return send_due(config, store, config.digest(name), at, client)


def test_one_edition_reaches_each_reader_at_their_own_seven_oclock(
    tmp_path: Path, feed: Feed, smtp_server: SmtpServer, client: httpx.Client
) -> None:
    config = make_config(tmp_path, feed, smtp_server)
    store = add_readers(config, READERS)
    relay = smtp_server.script

    first = due(config, store, client, RUN)
    assert first.action == "sent" and first.ok
    assert sorted(relay.recipients) == ["lisbon@example.org", "london@example.org"]
    assert first.next_window == datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert feed.fetches == 1

    # a look in between: nothing is due, nothing is fetched, nothing is recorded
    runs = len(store.runs())
    idle = due(config, store, client, RUN + timedelta(minutes=20))
    assert (idle.action, idle.next_window) == ("nothing due", first.next_window)
    assert (feed.fetches, len(store.runs())) == (1, runs)

    noon = due(config, store, client, datetime(2026, 11, 24, 12, tzinfo=UTC))
    assert relay.recipients[2:] == ["newyork@example.org"]
    assert noon.next_window == datetime(2026, 11, 24, 22, tzinfo=UTC)
    late = due(config, store, client, datetime(2026, 11, 24, 22, 5, tzinfo=UTC))
    assert relay.recipients[3:] == ["tokyo@example.org"]
    assert late.next_window is None  # everyone has it
    assert (
        due(config, store, client, datetime(2026, 11, 24, 23, tzinfo=UTC)).action == "nothing due"
    )

    # made once: later windows use the edition's papers, not a new fetch...
    assert feed.fetches == 1
    # ...so every reader's email shows the same papers, in the same order
    ledger = store.deliveries("daily/2026-11-24")
    assert [d.status for d in ledger] == [DeliveryStatus.SENT] * 4
    subjects = {m[2].split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0] for m in relay.messages}
    assert len(subjects) == 1
    assert len(relay.recipients) == len(set(relay.recipients)) == 4
    reports = [r for r in store.runs("daily") if r.edition_date == date(2026, 11, 24)]
    assert [r.counts for r in reports] == [{"sent": 2}, {"sent": 1}, {"sent": 1}]
    assert {r.scheduled_at for r in reports} == {RUN}


def test_a_run_missed_while_asleep_is_made_once_on_waking(
    tmp_path: Path, feed: Feed, smtp_server: SmtpServer, client: httpx.Client
) -> None:
    config = make_config(tmp_path, feed, smtp_server)
    store = add_readers(config, {"london@example.org": None, "paris@example.org": "Europe/Paris"})
    woke = RUN + timedelta(hours=2, minutes=10)  # within catch_up_hours (6)
    result = due(config, store, client, woke)
    assert result.action == "sent"
    # Paris's 07:00 had passed at the run: their window is tomorrow morning, not now
    assert smtp_server.script.recipients == ["london@example.org"]
    for minutes in (1, 2, 30):  # the scheduler's catch-up, the sweep, a timer: never twice
        assert due(config, store, client, woke + timedelta(minutes=minutes)).action == "nothing due"
    assert smtp_server.script.recipients == ["london@example.org"]
    assert feed.fetches == 1


def test_a_run_found_too_late_is_recorded_once_as_missed_and_sends_nothing(
    tmp_path: Path, feed: Feed, smtp_server: SmtpServer, client: httpx.Client
) -> None:
    config = make_config(tmp_path, feed, smtp_server)
    store = add_readers(config, {"london@example.org": None})
    woke = RUN + timedelta(hours=7)
    first_start = due(config, store, client, woke)  # a new install: nothing was ever due
    assert (first_start.action, store.runs("daily")) == ("nothing due", ())
    due(config, store, client, RUN + timedelta(days=1))  # Wednesday's edition goes out
    assert smtp_server.script.recipients == ["london@example.org"]

    woke = RUN + timedelta(days=2, hours=7)  # Thursday: asleep until 14:00
    missed = due(config, store, client, woke)
    assert (missed.action, missed.ok) == ("missed", False)
    assert "7.0 h overdue" in missed.detail and "catch_up_hours is 6" in missed.detail
    again = due(config, store, client, woke + timedelta(minutes=15))
    assert (again.action, again.ok) == ("nothing due", True)  # logged and recorded once
    runs = store.runs("daily")
    assert [r.ok for r in runs] == [True, False] and runs[1].note.startswith("missed:")
    assert [r.missed for r in runs] == [False, True]
    assert (feed.fetches, smtp_server.script.recipients) == (1, ["london@example.org"])
    # Friday's run is made as usual
    friday = due(config, store, client, RUN + timedelta(days=3))
    assert friday.action == "sent" and len(smtp_server.script.recipients) == 2


def test_an_empty_day_sends_nothing_and_says_so_once(
    tmp_path: Path, feed: Feed, smtp_server: SmtpServer, client: httpx.Client
) -> None:
    config = make_config(tmp_path, feed, smtp_server)
    store = add_readers(config, READERS)
    feed.body = b"[]"  # a holiday: HF's list is empty
    result = due(config, store, client, RUN)
    assert result.action == "sent" and result.ok and result.sent is not None
    assert result.sent.report.note == "no new papers"
    assert result.sent.report.deliveries == ()  # no per-reader noise for an empty day
    assert result.next_window is not None  # readers elsewhere are still to come...
    for hour in (12, 22):  # ...but their windows find the day empty and do not refetch
        at = datetime(2026, 11, 24, hour, tzinfo=UTC)
        assert due(config, store, client, at).action == "nothing due"
    assert feed.fetches == 1 and smtp_server.script.recipients == []
    assert [(r.note, r.empty) for r in store.runs("daily")] == [("no new papers", True)]


def test_an_edition_whose_sources_failed_is_tried_again(
    tmp_path: Path, feed: Feed, smtp_server: SmtpServer, client: httpx.Client
) -> None:
    config = make_config(tmp_path, feed, smtp_server)
    store = add_readers(config, {"london@example.org": None})
    feed.status = 500
    failed = due(config, store, client, RUN)
    assert failed.action == "sent" and not failed.ok
    assert failed.sent is not None and failed.sent.report.note.startswith(
        "no papers: sources failed"
    )
    feed.status = 200
    retried = due(config, store, client, RUN + timedelta(minutes=15))
    assert retried.ok and smtp_server.script.recipients == ["london@example.org"]


def test_weekly_readers_get_only_the_weekly_edition_at_their_hour(
    tmp_path: Path, feed: Feed, smtp_server: SmtpServer, client: httpx.Client
) -> None:
    config = make_config(tmp_path, feed, smtp_server, extra=WEEKLY_DIGEST)
    store = add_readers(config, {"daily@example.org": "America/New_York"}, digests=("daily",))
    add_readers(config, {"weekly@example.org": "America/New_York"}, cadence="weekly")
    relay = smtp_server.script
    london_runs = datetime(2026, 11, 23, 8, 1, tzinfo=UTC)  # Monday: both digests have run
    made = due(config, store, client, london_runs, "daily")
    assert (
        made.sent is not None
        and made.sent.report.note == "made; no reader's local time has come yet"
    )
    assert due(config, store, client, london_runs, "weekly").action == "sent"
    assert relay.recipients == []  # made, but New York's 07:00 and 08:00 are to come
    due(config, store, client, datetime(2026, 11, 23, 12, tzinfo=UTC), "daily")
    due(config, store, client, datetime(2026, 11, 23, 12, tzinfo=UTC), "weekly")
    assert relay.recipients == ["daily@example.org"]  # 07:00 in New York: the daily
    due(config, store, client, datetime(2026, 11, 23, 13, tzinfo=UTC), "daily")
    due(config, store, client, datetime(2026, 11, 23, 13, tzinfo=UTC), "weekly")
    assert relay.recipients == ["daily@example.org", "weekly@example.org"]  # 08:00: the weekly
    tuesday = datetime(2026, 11, 24, 12, tzinfo=UTC)
    due(config, store, client, tuesday, "daily")
    assert relay.recipients[2:] == ["daily@example.org"]  # a weekly reader gets no daily


def test_both_runs_of_a_repeated_hour_send_once(
    tmp_path: Path, feed: Feed, smtp_server: SmtpServer, client: httpx.Client
) -> None:
    config = make_config(tmp_path, feed, smtp_server)
    text = config.path.read_text() if config.path else ""
    assert config.path is not None
    config.path.write_text(
        text.replace('"0 7 * * mon-fri"', '"30 1 * * *"').replace(
            "Europe/London", "America/New_York"
        )
    )
    config = load_config(config.path, {**ENV, "DIGEST_STORE": os.environ["DIGEST_STORE"]})
    store = add_readers(config, {"ny@example.org": None})
    first = due(config, store, client, datetime(2026, 11, 1, 5, 31, tzinfo=UTC))  # 01:31 EDT
    second = due(config, store, client, datetime(2026, 11, 1, 6, 31, tzinfo=UTC))  # 01:31 EST
    assert (first.action, second.action) == ("sent", "nothing due")
    assert smtp_server.script.recipients == ["ny@example.org"]


def test_a_stop_leaves_the_readers_not_yet_started_for_the_next_run(
    tmp_path: Path, feed: Feed, smtp_server: SmtpServer, client: httpx.Client
) -> None:
    config = make_config(tmp_path, feed, smtp_server)
    readers = {f"r{n:02}@example.org": None for n in range(12)}
    store = add_readers(config, readers)
    stop = threading.Event()
    relay = smtp_server.script
    relay.step_sleep = 0.02  # a slow relay: the stop comes with messages still to start

    original = relay.handle_DATA

    async def data_then_stop(server: object, session: object, envelope: object) -> str:
        reply = await original(server, session, envelope)
        stop.set()  # SIGTERM arrives while the first messages are in flight
        return reply

    relay.handle_DATA = data_then_stop  # type: ignore[method-assign]
    result = send_due(config, store, config.digest("daily"), RUN, client, stop)
    assert result.sent is not None
    sent = [
        d.email for d in store.deliveries("daily/2026-11-24") if d.status == DeliveryStatus.SENT
    ]
    assert 1 <= len(sent) < 12
    assert result.sent.report.note.startswith("stopped by shutdown")
    assert sorted(relay.recipients) == sorted(sent)  # what was in flight finished, recorded
    # the next run (a restart's catch-up) sends the rest, and nobody twice
    relay.handle_DATA = original  # type: ignore[method-assign]
    rest = send_due(config, store, config.digest("daily"), RUN + timedelta(minutes=5), client)
    assert rest.action == "sent" and rest.ok
    assert sorted(relay.recipients) == sorted(readers)


def test_sends_by_hand_are_not_a_schedule_to_have_missed(
    tmp_path: Path, feed: Feed, smtp_server: SmtpServer, client: httpx.Client
) -> None:
    """``make demo`` sends by hand; the first ``digest serve`` afterwards misses nothing."""
    config = make_config(tmp_path, feed, smtp_server)
    store = add_readers(config, {"london@example.org": None})
    by_hand = RunReport("daily", RUN.date(), RUN, RUN, dry_run=False, note="")
    store.finish_run(by_hand, bounced=(), delivered=(), limit=2)
    look = due(config, store, client, RUN + timedelta(hours=7))
    assert look.action == "nothing due" and look.ok
    assert len(store.runs("daily")) == 1
