"""What every store backend must do (digest.store.protocol.Store). Each test takes the store
as the parametrized ``store`` fixture; a new backend adds itself to BACKENDS and must pass
them all. The older-layout migrations at the end are the TinyDB backend's own history."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from digest.errors import StoreError
from digest.models import (
    Choices,
    Delivery,
    DeliveryStatus,
    Edition,
    Ledger,
    MailEvent,
    MailEventKind,
    Paper,
    RunReport,
    SourceReport,
    Status,
    Subscriber,
)
from digest.store import SaveOutcome, Store, TinyStore
from digest.store.migrations import MIGRATIONS
from digest.store.postgresql import PgStore
from digest.store.protocol import EventEffect
from digest.subscribers.rules import Request

NOW = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
EDITION = Edition("daily", date(2026, 11, 24), "Daily Papers")

#: name -> how to open a fresh store of that backend in a folder (and again, by a second
#: process, at the same place: the second element says where)
BACKENDS: dict[str, Callable[[Path], Store]] = {
    "tinydb": lambda folder: TinyStore(folder / "store.json"),
    # a fresh database of the throwaway server (tests/pg_server.py), its URL in the folder
    "postgresql": lambda folder: PgStore((folder / "pg-url").read_text(encoding="utf-8")),
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test."""
    return str(request.param)


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    """A fresh, empty store of the backend under test."""
    if backend == "postgresql":
        (tmp_path / "pg-url").write_text(request.getfixturevalue("pg_url"), encoding="utf-8")
    return BACKENDS[backend](tmp_path)


def full_subscriber(email: str = "ada@example.org") -> Subscriber:
    return Subscriber(
        email=email,
        id="",
        status=Status.CONFIRMED,
        digests=("daily",),
        topics=("diffusion", "video generation"),
        cadence="weekly",
        timezone="Asia/Tokyo",
        confirmed_at=NOW,
        consent="imported by the operator",
        requested=Choices(("daily",), ("agents",), "daily", "Europe/Paris", ("A. Author",)),
        requested_at=NOW - timedelta(hours=1),
        authors=("Mira Okafor",),
        topic_mode="filter",
        min_relevance=0.25,
    )


# subscribers -------------------------------------------------------------------------------


def test_a_subscriber_comes_back_field_for_field(store: Store) -> None:
    saved, outcome = store.save_subscriber(full_subscriber())
    assert outcome is SaveOutcome.ADDED and saved.id and saved.created_at is not None
    for found in (
        store.get_subscriber("ADA@Example.org"),
        store.get_subscriber_by_id(saved.id),
        *store.list_subscribers(),
    ):
        assert found == saved


def test_the_pages_hold_every_subscriber_once_in_key_order(store: Store) -> None:
    assert [list(p) for p in store.subscriber_pages(3)] in ([], [[]])
    store.save_subscribers(Subscriber(f"r{n:02}@example.org", "") for n in range(11))
    pages = [list(p) for p in store.subscriber_pages(3)]
    assert [s for p in pages for s in p] == list(store.list_subscribers())
    assert [len(p) for p in pages] == ([3, 3, 3, 2] if store.indexed else [11])  # file: one


def test_saving_again_updates_and_a_suppressed_address_is_left_alone(store: Store) -> None:
    first, _ = store.save_subscriber(full_subscriber())
    again, outcome = store.save_subscriber(Subscriber("ada@example.org", "", topics=("llm",)))
    assert outcome is SaveOutcome.UPDATED and again.id == first.id and again.topics == ("llm",)
    assert again.created_at == first.created_at and again.consent == first.consent
    store.set_status("ada@example.org", Status.UNSUBSCRIBED)
    kept, outcome = store.save_subscriber(Subscriber("ada@example.org", "", topics=("x",)))
    assert outcome is SaveOutcome.SUPPRESSED and kept.topics == ("llm",)
    assert store.suppressed() == frozenset({"ada@example.org"})
    back, outcome = store.save_subscriber(Subscriber("ada@example.org", ""), resubscribe=True)
    assert outcome is SaveOutcome.UPDATED and back.status == Status.CONFIRMED


def test_many_at_once_in_one_batch_including_the_same_address_twice(store: Store) -> None:
    subs = [Subscriber(f"r{i}@example.org", "") for i in range(50)]
    results = store.save_subscribers([*subs, Subscriber("r1@example.org", "", topics=("t",))])
    assert [o for _, o in results].count(SaveOutcome.ADDED) == 50
    assert len(store.list_subscribers()) == 50
    found = store.get_subscriber("r1@example.org")
    assert found is not None and found.topics == ("t",)


def test_an_operation_that_fails_midway_changes_nothing(store: Store) -> None:
    store.save_subscriber(Subscriber("kept@example.org", "", topics=("old",)))

    def batch() -> Iterator[Subscriber]:
        yield Subscriber("kept@example.org", "", topics=("new",))
        yield Subscriber("added@example.org", "")
        raise RuntimeError("the operator's CSV reader broke halfway")

    with pytest.raises(RuntimeError):
        store.save_subscribers(batch())
    assert [(s.email, s.topics) for s in store.list_subscribers()] == [
        ("kept@example.org", ("old",))
    ]


def test_the_readers_own_actions(store: Store) -> None:
    choices = Choices(("daily", "weekly"), ("agents",))
    pending, found = store.request_subscription("new@example.org", choices, now=NOW, consent="web")
    assert found is Request.NEW and pending.status is Status.PENDING
    confirmed = store.confirm_subscription(pending.id, now=NOW)
    assert confirmed is not None and confirmed[1] and confirmed[0].status is Status.CONFIRMED
    assert confirmed[0].topics == ("agents",)
    left = store.unsubscribe(pending.id, "daily", ("daily", "weekly"))
    assert left is not None and left[0].digests == ("weekly",)
    prefs = store.update_preferences(pending.id, Choices(("weekly",), ("robots",)), paused=True)
    assert prefs is not None and prefs[0].paused and prefs[0].topics == ("robots",)
    assert store.confirm_subscription("no-such-id", now=NOW) is None


def test_unconfirmed_addresses_expire(store: Store) -> None:
    store.request_subscription("old@example.org", Choices(), now=NOW, consent="web")
    store.request_subscription(
        "new@example.org", Choices(), now=NOW + timedelta(hours=47), consent="web"
    )
    assert store.expire_pending(NOW + timedelta(hours=1)) == 1
    assert [s.email for s in store.list_subscribers()] == ["new@example.org"]


def test_the_change_token_moves_when_who_may_be_mailed_changes(store: Store) -> None:
    store.save_subscriber(Subscriber("a@example.org", ""))
    before = store.change_token()
    assert store.change_token() == before  # reading changes nothing
    store.set_status("a@example.org", Status.BOUNCED)
    assert store.change_token() != before


# editions, papers, runs ---------------------------------------------------------------------


def test_an_edition_and_its_papers_come_back_in_order(store: Store) -> None:
    papers = [Paper(id=f"2511.0000{i}", title=f"Paper {i}", upvotes=i) for i in range(3)]
    assert store.edition_papers(EDITION) is None
    store.save_edition(EDITION, reversed(papers))
    assert store.edition_papers(EDITION) == tuple(reversed(papers))
    older = Edition("daily", date(2026, 11, 23), "Daily Papers")
    store.save_edition(older, papers[:1])
    latest = store.latest_editions("daily", limit=5)
    assert [e.date for e, _ in latest] == [EDITION.date, older.date]
    assert store.latest_editions("daily", limit=5, before=EDITION.date)[0][1] == tuple(papers[:1])


def test_a_run_comes_back_typed(store: Store) -> None:
    store.save_subscriber(Subscriber("b@example.org", ""))
    report = RunReport(
        digest="daily",
        edition_date=EDITION.date,
        started_at=NOW,
        finished_at=NOW + timedelta(seconds=3),
        dry_run=False,
        sources=(SourceReport("hf", "hf-daily", True, 12, 0.5),),
        deliveries=(
            Delivery(EDITION.key, "a@example.org", DeliveryStatus.SENT),
            Delivery(EDITION.key, "b@example.org", DeliveryStatus.FAILED, reason="550 no such"),
        ),
        scheduled_at=NOW,
    )
    assert store.finish_run(report, bounced=["b@example.org"], delivered=[], limit=1) == (
        "b@example.org",
    )
    (run,) = store.runs("daily")
    assert (run.digest, run.edition_date, run.started_at, run.scheduled_at) == (
        "daily",
        EDITION.date,
        NOW,
        NOW,
    )
    assert (run.ok, run.missed, run.empty, run.papers) == (False, False, False, 12)
    assert run.counts == {"sent": 1, "failed": 1}
    assert [p["email"] for p in run.problems] == ["b@example.org"]
    assert store.runs("weekly") == ()
    missed = RunReport("daily", EDITION.date, NOW, NOW, False, note="missed: late", missed=True)
    empty = RunReport(
        "daily",
        EDITION.date,
        NOW,
        NOW,
        False,
        (SourceReport("hf", "hf-daily", True, 0, 0.1),),
        note="no new papers",
    )
    for r in (missed, empty):
        store.finish_run(r, bounced=[], delivered=[], limit=1)
    assert [(r.missed, r.empty) for r in store.runs()][1:] == [(True, False), (False, True)]


# deliveries and the ledger -----------------------------------------------------------------


async def _claim_and_settle(ledger: Ledger, steps: list[tuple[str, DeliveryStatus | None]]) -> None:
    for address, status in steps:
        if status is None:
            await ledger.claim(address, f"<{address}>", ("p1",))
        else:
            await ledger.finish(address, status)


def test_the_ledger_remembers_what_each_reader_got(store: Store) -> None:
    with store.sending(EDITION, (), sender="test") as send:
        asyncio.run(
            _claim_and_settle(
                send.ledger,
                [
                    ("a@example.org", None),
                    ("a@example.org", DeliveryStatus.SENT),
                    ("b@example.org", None),
                    ("b@example.org", DeliveryStatus.DEFERRED),
                ],
            )
        )
    store.save_edition(EDITION, [Paper(id="p1", title="P1")])
    got = {d.email: d.status for d in store.deliveries(EDITION.key)}
    assert got == {"a@example.org": DeliveryStatus.SENT, "b@example.org": DeliveryStatus.DEFERRED}
    history = store.history(EDITION.key, ["p1"])
    assert history.earlier_delivery("A@example.org") is not None
    assert history.earlier_delivery("b@example.org") is None  # deferred: tried again
    assert store.shown_papers("a@example.org", ["p1"]) == frozenset({"p1"})
    assert store.shown_papers("a@example.org", ["p1"], besides=EDITION.key) == frozenset()


_KILLED_SENDER = """
import asyncio, os, sys
from digest.models import DeliveryStatus
from tests.test_store_contract import BACKENDS, EDITION
from pathlib import Path

store = BACKENDS[sys.argv[1]](Path(sys.argv[2]))
with store.sending(EDITION, (), sender="killed") as send:
    ledger = send.ledger
    async def go():
        await ledger.claim("done@example.org", "<d>", ("p1",))
        await ledger.finish("done@example.org", DeliveryStatus.SENT)
        await ledger.claim("inflight@example.org", "<i>", ("p1",))
    asyncio.run(go())
    print("claimed", flush=True)
    os.kill(os.getpid(), 9)
"""


def test_a_killed_send_leaves_only_its_message_in_flight_unknown(
    backend: str, store: Store, tmp_path: Path
) -> None:
    store.save_subscriber(Subscriber("done@example.org", ""))  # the store exists
    root = Path(__file__).resolve().parent.parent
    killed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED_SENDER), backend, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=60,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL and "claimed" in killed.stdout, killed.stderr
    with store.sending(EDITION, (), sender="next"):  # the next run settles what the killed left
        pass
    got = {d.email: d.status for d in store.deliveries(EDITION.key)}
    assert got == {
        "done@example.org": DeliveryStatus.SENT,
        "inflight@example.org": DeliveryStatus.UNKNOWN,
    }
    history = store.history(EDITION.key, ["p1"])
    assert history.earlier_delivery("inflight@example.org") is not None  # never resent...
    retry = store.history(EDITION.key, ["p1"], retry={DeliveryStatus.UNKNOWN})
    assert retry.earlier_delivery("inflight@example.org") is None  # ...unless asked


# coordination: transactions across processes, exclusive locks --------------------------------


def _add_many(backend: str, folder: str, worker: int) -> None:
    store = BACKENDS[backend](Path(folder))
    for i in range(20):
        store.save_subscriber(Subscriber(f"w{worker}-{i}@example.org", ""))


def test_concurrent_writers_lose_nothing(backend: str, store: Store, tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_add_many, args=(backend, str(tmp_path), n)) for n in range(4)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    assert len(store.list_subscribers()) == 80


def test_exclusive_is_one_holder_at_a_time_and_says_who(
    backend: str, store: Store, tmp_path: Path
) -> None:
    assert store.holder("send-daily") is None
    with store.exclusive("send-daily"):
        holder = store.holder("send-daily")
        assert holder is not None and holder.here and holder.pid == os.getpid()
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path;"
                "from tests.test_store_contract import BACKENDS;"
                "s = BACKENDS[sys.argv[1]](Path(sys.argv[2]));"
                "h = s.holder('send-daily'); print(h.here, h.pid)",
                backend,
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
            timeout=60,
            check=False,
        )
        assert probe.stdout.split() == ["False", str(os.getpid())], probe.stderr
        other = BACKENDS[backend](tmp_path)
        with pytest.raises(StoreError), other.exclusive("send-daily"):
            pass
    assert store.holder("send-daily") is None


def test_check_answers_on_a_healthy_store(store: Store) -> None:
    store.save_subscriber(Subscriber("a@example.org", ""))
    store.check()


# the TinyDB backend's older layouts ---------------------------------------------------------


@pytest.fixture
def old_store(tmp_path: Path) -> Iterator[Path]:
    """A store file as digest 0.1 wrote it: deliveries in the main file, runs that say
    "missed" and "no new papers" only in their note, keys folded with casefold()."""
    path = tmp_path / "store.json"
    path.write_text(
        json.dumps(
            {
                "subscribers": {
                    "1": {
                        "key": "strasse@example.org",
                        "email": "straße@example.org",
                        "id": "s1",
                        "status": "confirmed",
                    },
                },
                "deliveries": {
                    "1": {
                        "edition": EDITION.key,
                        "key": "a@example.org",
                        "email": "a@example.org",
                        "status": "sent",
                        "message_id": "<m>",
                        "reason": "",
                        "paper_ids": ["p1"],
                        "updated_at": "2026-11-24T07:00:00+00:00",
                    },
                },
                "runs": {
                    "1": {
                        "digest": "daily",
                        "edition_date": "2026-11-24",
                        "started_at": "2026-11-24T07:00:00+00:00",
                        "finished_at": "2026-11-24T07:00:01+00:00",
                        "ok": False,
                        "note": "missed: the machine was off",
                        "dry_run": False,
                    },
                    "2": {
                        "digest": "daily",
                        "edition_date": "2026-11-25",
                        "started_at": "2026-11-25T07:00:00+00:00",
                        "finished_at": "2026-11-25T07:00:01+00:00",
                        "ok": True,
                        "note": "no new papers",
                        "dry_run": False,
                        "sources": [{"name": "hf", "ok": True, "papers": 0}],
                    },
                },
            }
        )
    )
    yield path


def test_an_old_store_is_migrated_once_and_loses_nothing(old_store: Path) -> None:
    store = TinyStore(old_store)
    assert [d.email for d in store.deliveries(EDITION.key)] == ["a@example.org"]
    data = json.loads(old_store.read_text())
    assert "deliveries" not in data
    assert store.migrations() == tuple(name for name, _ in MIGRATIONS)
    assert [(r.missed, r.empty) for r in store.runs()] == [(True, False), (False, True)]
    found = store.get_subscriber("straße@example.org")
    assert found is not None and found.id == "s1"
    before = old_store.read_bytes()
    assert TinyStore(old_store).migrate() == ()  # recorded: never run twice
    assert old_store.read_bytes() == before


def test_a_new_store_records_every_migration_and_a_read_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    store = TinyStore(path)
    assert store.list_subscribers() == () and not path.exists()  # reading creates nothing
    store.save_subscriber(Subscriber("a@example.org", ""))
    assert TinyStore(path).migrations() == tuple(name for name, _ in MIGRATIONS)
    before = path.read_bytes()
    TinyStore(path).list_subscribers()
    assert path.read_bytes() == before


def test_a_new_store_read_before_its_first_write_records_its_migrations(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    store = TinyStore(path)
    assert store.get_subscriber("a@example.org") is None  # a read first: nothing written
    store.save_subscriber(Subscriber("a@example.org", ""))  # then the write that creates it
    assert TinyStore(path).migrations() == tuple(name for name, _ in MIGRATIONS)


# mail that came back: record_event, mail_events, delivery_by_message_id ---------------------
# (the rules: digest/store/events.py; the PostgreSQL backend implements the same)


def _edition(day: int) -> Edition:
    return Edition("daily", date(2026, 11, day), "Daily Papers")


def _send(store: Store, edition: Edition, outcomes: dict[str, tuple[DeliveryStatus, bool]]) -> None:
    """``edition`` sent: each address's delivery settled as (status, hard bounce)."""

    async def go(ledger: Ledger) -> None:
        for address, (status, bounce) in outcomes.items():
            message_id = f"<daily.{edition.date.isoformat()}.{abs(hash(address)):016x}@ex.org>"
            await ledger.claim(address, message_id[:60], ("p1",))
            await ledger.finish(address, status, "", bounce=bounce)

    with store.sending(edition, [Paper(id="p1", title="P1")], sender="test") as send:
        asyncio.run(go(send.ledger))


def _event(
    kind: MailEventKind, edition: Edition, n: int, email: str = "ada@example.org"
) -> MailEvent:
    at = NOW + timedelta(minutes=n)
    return MailEvent(kind, email, edition.key, f"<report-{n}@mx.example>", at, "file r.eml")


SENT = (DeliveryStatus.SENT, False)


def _reader(store: Store, email: str = "ada@example.org", **changes: object) -> Subscriber:
    return store.save_subscriber(Subscriber(email, "", digests=("daily",)))[0]


def _record(store: Store, event: MailEvent, soft: int = 3, bounce: int = 2) -> EventEffect | None:
    return store.record_event(
        event, bounce_limit=bounce, soft_limit=soft, known_digests=("daily", "weekly")
    )


def test_an_event_is_recorded_once_however_often_it_comes(store: Store) -> None:
    _reader(store)
    event = _event(MailEventKind.AUTO_REPLY, _edition(2), 1)
    assert _record(store, event) == EventEffect()
    assert _record(store, event) is None
    assert _record(store, dataclasses.replace(event, kind=MailEventKind.COMPLAINT)) is None
    assert store.mail_events() == (event,)
    assert store.get_subscriber("ada@example.org").status == Status.CONFIRMED  # type: ignore[union-attr]


def test_a_complaint_suppresses_the_reader_for_good(store: Store) -> None:
    _reader(store)
    effect = _record(store, _event(MailEventKind.COMPLAINT, _edition(2), 1))
    assert effect == EventEffect(status=Status.COMPLAINED)
    assert store.get_subscriber("ADA@example.org").status == Status.COMPLAINED  # type: ignore[union-attr]
    assert "ada@example.org" in store.suppressed()
    assert _record(store, _event(MailEventKind.COMPLAINT, _edition(3), 2)) == EventEffect()


def test_a_mailto_unsubscribe_leaves_that_digest_as_the_link_does(store: Store) -> None:
    store.save_subscriber(Subscriber("ada@example.org", "", digests=()))
    effect = _record(store, _event(MailEventKind.UNSUBSCRIBE, _edition(2), 1))
    assert effect == EventEffect(unsubscribed=True)
    sub = store.get_subscriber("ada@example.org")
    assert sub is not None and sub.status == Status.CONFIRMED and sub.digests == ("weekly",)
    weekly = MailEvent(MailEventKind.UNSUBSCRIBE, "ada@example.org", "weekly/2026-11-02", "w", NOW)
    assert _record(store, weekly) == EventEffect(status=Status.UNSUBSCRIBED, unsubscribed=True)
    assert _record(store, _event(MailEventKind.UNSUBSCRIBE, _edition(3), 3)) == EventEffect()


def test_hard_bounces_on_the_last_editions_in_a_row_bounce_the_reader(store: Store) -> None:
    _reader(store)
    for day in (2, 3, 4):
        _send(store, _edition(day), {"ada@example.org": SENT})
    assert _record(store, _event(MailEventKind.HARD_BOUNCE, _edition(3), 1)) == EventEffect()
    # edition 4 went through unreported: the old bounce does not count with a new one yet
    assert _record(store, _event(MailEventKind.HARD_BOUNCE, _edition(2), 2)) == EventEffect()
    effect = _record(store, _event(MailEventKind.HARD_BOUNCE, _edition(4), 3))
    assert effect == EventEffect(status=Status.BOUNCED)
    assert "ada@example.org" in store.suppressed()


def test_a_second_report_of_the_same_edition_counts_once(store: Store) -> None:
    _reader(store)
    _send(store, _edition(2), {"ada@example.org": SENT})
    assert _record(store, _event(MailEventKind.HARD_BOUNCE, _edition(2), 1)) == EventEffect()
    assert _record(store, _event(MailEventKind.HARD_BOUNCE, _edition(2), 2)) == EventEffect()
    assert store.get_subscriber("ada@example.org").status == Status.CONFIRMED  # type: ignore[union-attr]


def test_a_synchronous_5xx_counts_in_the_row_with_a_late_bounce(store: Store) -> None:
    _reader(store)
    _send(store, _edition(2), {"ada@example.org": (DeliveryStatus.FAILED, True)})
    _send(store, _edition(3), {"ada@example.org": SENT})
    effect = _record(store, _event(MailEventKind.HARD_BOUNCE, _edition(3), 1))
    assert effect == EventEffect(status=Status.BOUNCED)


def test_editions_that_skipped_the_reader_neither_count_nor_break_the_row(store: Store) -> None:
    _reader(store)
    _send(store, _edition(2), {"ada@example.org": SENT})
    _send(store, _edition(3), {"ada@example.org": (DeliveryStatus.SKIPPED, False)})
    _send(store, _edition(4), {"ada@example.org": SENT})
    _send(store, _edition(5), {"bob@example.org": SENT})  # not to her at all
    events = [_event(MailEventKind.SOFT_BOUNCE, _edition(d), d) for d in (2, 4)]
    assert [_record(store, e, soft=2) for e in events] == [EventEffect(), EventEffect(paused=True)]


def test_soft_bounces_on_soft_limit_editions_in_a_row_pause_the_reader(store: Store) -> None:
    _reader(store)
    for day in (2, 3, 4, 5):
        _send(store, _edition(day), {"ada@example.org": SENT})
    for n, day in enumerate((2, 3, 5)):  # 4 went through: 5 alone is no row of three
        assert _record(store, _event(MailEventKind.SOFT_BOUNCE, _edition(day), n)) == EventEffect()
    assert _record(store, _event(MailEventKind.SOFT_BOUNCE, _edition(4), 9)) == EventEffect(
        paused=True
    )
    sub = store.get_subscriber("ada@example.org")
    assert sub is not None and sub.paused and sub.status == Status.CONFIRMED
    assert _record(store, _event(MailEventKind.SOFT_BOUNCE, _edition(5), 10)) == EventEffect()


def test_an_event_for_no_subscriber_is_recorded_and_changes_nothing(store: Store) -> None:
    event = _event(MailEventKind.COMPLAINT, _edition(2), 1, email="gone@example.org")
    assert _record(store, event) == EventEffect()
    assert store.mail_events(edition=_edition(2).key) == (event,)


def test_events_are_listed_oldest_first_since_a_time_or_for_an_edition(store: Store) -> None:
    _reader(store)
    kinds = [MailEventKind.AUTO_REPLY, MailEventKind.SOFT_BOUNCE, MailEventKind.AUTO_REPLY]
    recorded = [_event(k, _edition(2 + n % 2), 10 - n) for n, k in enumerate(kinds)]
    for event in recorded:
        _record(store, event)
    assert store.mail_events() == tuple(reversed(recorded))
    assert store.mail_events(since=NOW + timedelta(minutes=9)) == (recorded[1], recorded[0])
    assert store.mail_events(edition=_edition(3).key) == (recorded[1],)
    assert all(e.at.tzinfo is not None for e in store.mail_events())


def test_a_message_id_we_sent_names_its_delivery(store: Store) -> None:
    assert store.delivery_by_message_id("<nothing@here>") is None  # no ledger at all yet
    _send(store, _edition(2), {"ada@example.org": SENT, "bob@example.org": SENT})
    _send(store, _edition(3), {"ada@example.org": SENT})
    wanted = {d.email: d.message_id for d in store.deliveries(_edition(3).key)}["ada@example.org"]
    assert store.delivery_by_message_id(wanted) == (_edition(3).key, "ada@example.org")
    bare = wanted.strip("<>").upper()
    assert store.delivery_by_message_id(f"  <{bare}> ") == (_edition(3).key, "ada@example.org")
    assert store.delivery_by_message_id("<daily.2026-11-03.0000000000000000@ex.org>") is None
    assert store.delivery_by_message_id("") is None


def test_events_survive_a_copy_of_the_store(store: Store, tmp_path: Path) -> None:
    _reader(store)
    event = _event(MailEventKind.SOFT_BOUNCE, _edition(2), 1)
    _record(store, event)
    copy = TinyStore(tmp_path / "copy" / "store.json")  # the dump's rows are the same for all
    copy.load(store.dump())
    assert copy.mail_events() == (event,)
    assert _record(copy, event) is None  # still recorded once


# counts for the operator's commands (digest check, stats, history --edition) ---------------


def _readers_to_count(store: Store) -> None:
    """Readers of every kind the counts tell apart, saved out of key order."""
    week, day, both = ("weekly",), ("daily",), ("daily", "weekly")
    weekly = {"cadence": "weekly"}
    store.save_subscribers(
        [
            Subscriber("g@example.org", "", digests=day, confirmed_at=NOW, **weekly),
            Subscriber("a@example.org", "", digests=day, confirmed_at=NOW - timedelta(days=9)),
            Subscriber("b@example.org", "", **weekly),  # no digests chosen: every digest
            Subscriber("c@example.org", "", digests=week, paused=True, **weekly),
            Subscriber("d@example.org", "", status=Status.PENDING, digests=day, **weekly),
            Subscriber("e@example.org", "", digests=both, paused=True, confirmed_at=NOW),
            Subscriber("f@example.org", "", digests=("daily", "other"), **weekly),
            Subscriber("h@example.org", "", status=Status.UNSUBSCRIBED, digests=week),
            Subscriber("i@example.org", "", digests=("other",)),
        ]
    )


def test_readers_outside_some_digests_are_counted_with_the_first_addresses(store: Store) -> None:
    _readers_to_count(store)

    def outside(digests: list[str], sample: int = 2, status: Status = Status.CONFIRMED) -> Any:
        found = store.readers_outside(digests, status=status, cadence="weekly", sample=sample)
        return found.count, found.sample

    assert outside(["weekly"]) == (2, ("f@example.org", "g@example.org"))
    assert outside(["weekly", "other"]) == (1, ("g@example.org",))
    assert outside([], sample=9) == (4, tuple(f"{c}@example.org" for c in "bcfg"))
    assert outside(["weekly"], sample=0) == (2, ())
    assert outside(["weekly"], status=Status.PENDING) == (1, ("d@example.org",))
    assert outside(["daily"], status=Status.BOUNCED) == (0, ())


def test_reader_counts_count_by_status_digest_pause_and_confirmation(store: Store) -> None:
    assert store.reader_counts(["daily"], since=[NOW]).total == 0
    _readers_to_count(store)
    found = store.reader_counts(["daily", "weekly"], since=[NOW - timedelta(days=7), NOW])
    assert dict(found.by_status) == {
        Status.PENDING: 1,
        Status.CONFIRMED: 6,  # not i: it wants neither
        Status.UNSUBSCRIBED: 1,
        Status.BOUNCED: 0,
        Status.COMPLAINED: 0,
    }
    assert (found.total, found.paused, found.confirmed_since) == (8, 2, (2, 2))
    assert dict(found.by_digest) == {"daily": 5, "weekly": 3}
    only_weekly = store.reader_counts(["weekly"], since=[])
    assert (only_weekly.total, dict(only_weekly.by_digest)) == (4, {"weekly": 3})
    assert only_weekly.confirmed_since == ()


def test_delivery_counts_count_an_editions_deliveries_and_hard_bounces(store: Store) -> None:
    assert store.delivery_counts(_edition(2).key).by_status == {}
    failed, refused = (DeliveryStatus.FAILED, False), (DeliveryStatus.FAILED, True)
    deferred = (DeliveryStatus.DEFERRED, False)
    outcomes = {"a@x.org": SENT, "b@x.org": refused, "c@x.org": failed, "d@x.org": deferred}
    _send(store, _edition(2), outcomes)
    found = store.delivery_counts(_edition(2).key)
    assert dict(found.by_status) == {"sent": 1, "failed": 2, "deferred": 1}
    assert list(found.by_status) == ["sent", "failed", "deferred"]  # as they come by address
    assert dict(found.bounces) == {"failed": 1}
    assert store.delivery_counts(_edition(3).key).by_status == {}


def test_unreached_are_a_digests_readers_without_a_delivery_of_the_edition(store: Store) -> None:
    _readers_to_count(store)
    everyone = [s.email for s in store.unreached(_edition(2).key, "weekly")]
    assert everyone == [f"{c}@example.org" for c in "bceh"]  # every status, in key order
    _send(store, _edition(2), {"B@example.org": SENT, "e@example.org": SENT})
    left = store.unreached(_edition(2).key, "weekly")
    assert [s.email for s in left] == ["c@example.org", "h@example.org"]
    others = store.unreached(_edition(2).key, "other")
    assert [s.email for s in others] == ["f@example.org", "i@example.org"]


def test_unsent_and_delivered_answer_for_part_of_an_editions_ledger(store: Store) -> None:
    assert store.unsent(_edition(2).key) == ()
    assert store.delivered(_edition(2).key, ["a@x.org"]) == frozenset()
    refused, deferred = (DeliveryStatus.FAILED, True), (DeliveryStatus.DEFERRED, False)
    _send(store, _edition(2), {"c@x.org": deferred, "a@x.org": SENT, "b@x.org": refused})
    unsent = store.unsent(_edition(2).key)
    assert [(d.email, d.status) for d in unsent] == [
        ("b@x.org", DeliveryStatus.FAILED),
        ("c@x.org", DeliveryStatus.DEFERRED),
    ]
    assert unsent == tuple(d for d in store.deliveries(_edition(2).key) if d.email != "a@x.org")
    found = store.delivered(_edition(2).key, ["A@x.org", "c@x.org", "z@x.org"])
    assert found == frozenset({"a@x.org", "c@x.org"})
    assert store.delivered(_edition(2).key, []) == frozenset()
