"""The per-edition ledger: an fsynced journal during a run, folded into TinyDB around it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from file_events import Opened, files_opened
from tinydb import TinyDB

from digest.errors import StoreError
from digest.models import DeliveryStatus, Edition, Ledger, Paper, RunReport, Status, Subscriber
from digest.send.suppression import SuppressionWatch
from digest.store import Store, TinyStore
from digest.store.journal import Journal, read_journal
from digest.store.ledger import INTERRUPTED, EditionLedger

EDITION = "daily/2025-11-26"


def test_concurrent_appends_are_all_durable_and_batched(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    journal.open()
    writes: list[int] = []
    write = journal._write

    def counting(data: bytes) -> None:
        writes.append(data.count(b"\n"))
        write(data)

    journal._write = counting  # type: ignore[method-assign]

    async def go() -> None:
        await asyncio.gather(*(journal.append({"n": n}) for n in range(200)))

    asyncio.run(go())
    journal.close()
    assert [r["n"] for r in read_journal(tmp_path / "j.jsonl")] == list(range(200))
    assert sum(writes) == 200 and len(writes) < 20  # group commit: few fsyncs for many records


def test_a_torn_last_line_is_skipped_a_damaged_middle_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"n": 1}\n{"n": 2}\n{"n": ')  # killed mid-write
    assert [r["n"] for r in read_journal(path)] == [1, 2]
    path.write_text('{"n": 1}\nGARBAGE\n{"n": 3}\n')
    with pytest.raises(StoreError, match=r"j\.jsonl line 2 is damaged"):
        list(read_journal(path))


async def _steps(book: Ledger, steps: tuple[tuple[str, DeliveryStatus | None], ...]) -> None:
    for address, status in steps:
        if status is None:
            await book.claim(address, f"<{address}>", ("p1", "p2"))
        else:
            bounce = status == DeliveryStatus.FAILED
            await book.finish(address, status, "reply", bounce=bounce)


def claim_and_finish(book: EditionLedger, *steps: tuple[str, DeliveryStatus | None]) -> None:
    book.open()
    asyncio.run(_steps(book, steps))
    book.close()


def record(store: Store, edition: str, *steps: tuple[str, DeliveryStatus | None]) -> None:
    """A send's ledger writes, through the store (as the pipeline makes them)."""
    digest, _, day = edition.rpartition("/")
    with store.sending(Edition(digest, date.fromisoformat(day), digest), (), sender="t") as send:
        asyncio.run(_steps(send.ledger, steps))


def test_fold_settles_an_interrupted_run(tmp_path: Path) -> None:
    book = EditionLedger(tmp_path, EDITION)
    claim_and_finish(
        book,
        ("a@example.org", None),
        ("a@example.org", DeliveryStatus.SENT),
        ("b@example.org", None),  # killed here: no outcome for b
    )
    state = book.load()
    assert state["b@example.org"].status == DeliveryStatus.SENDING
    folded = book.fold()
    assert folded["a@example.org"].status == DeliveryStatus.SENT
    assert folded["b@example.org"].status == DeliveryStatus.UNKNOWN
    assert folded["b@example.org"].reason == INTERRUPTED
    assert not book.journal_path.exists()
    docs = TinyDB(str(book.folded_path)).table("deliveries").all()  # a plain TinyDB file
    assert {d["email"]: d["status"] for d in docs} == {
        "a@example.org": "sent",
        "b@example.org": "unknown",
    }
    assert book.fold() == folded  # idempotent


def test_attempts_and_bounces_are_counted(tmp_path: Path) -> None:
    book = EditionLedger(tmp_path, EDITION)
    claim_and_finish(
        book,
        ("a@example.org", None),
        ("a@example.org", DeliveryStatus.DEFERRED),
        ("a@example.org", None),
        ("a@example.org", DeliveryStatus.FAILED),
    )
    entry = book.fold()["a@example.org"]
    assert (entry.attempts, entry.status, entry.bounce) == (2, DeliveryStatus.FAILED, True)
    assert entry.message_id == "<a@example.org>" and entry.paper_ids == ("p1", "p2")


def test_history_forbids_a_second_send_and_remembers_what_was_shown(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    yesterday = Edition("daily", date(2025, 11, 25), "Daily Papers")
    store.save_edition(yesterday, [paper("p1"), paper("p2")])
    record(store, yesterday.key, ("A@example.org", None), ("A@example.org", DeliveryStatus.SENT))
    record(
        store,
        EDITION,
        ("a@example.org", None),
        ("a@example.org", DeliveryStatus.SENT),
        ("b@example.org", None),
        ("b@example.org", DeliveryStatus.DEFERRED),
        ("c@example.org", None),
        ("c@example.org", DeliveryStatus.UNKNOWN),
    )
    history = store.history(EDITION, ["p2", "p3"])
    assert history.shown_to("a@example.org") == frozenset({"p2"})  # only candidates matter
    assert history.earlier_delivery("a@example.org") is not None  # sent: never again
    assert history.earlier_delivery("b@example.org") is None  # deferred: send again
    assert history.earlier_delivery("c@example.org") is not None  # unknown: not resent ...
    retry = store.history(EDITION, ["p2"], retry={DeliveryStatus.UNKNOWN})
    assert retry.earlier_delivery("c@example.org") is None  # ... unless the operator asks
    assert store.history(EDITION, ["p9"]).shown == {}  # no edition carried p9: nothing read
    assert store.shown_papers("A@EXAMPLE.org", ["p1", "p3"]) == frozenset({"p1"})


def paper(pid: str) -> Paper:
    return Paper(id=pid, title=f"Paper {pid}")


def test_old_single_file_deliveries_move_to_the_ledger_once(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    row = {
        "edition": EDITION,
        "key": "a@example.org",
        "email": "a@example.org",
        "status": "sent",
        "message_id": "<m>",
        "reason": "",
        "paper_ids": ["p1"],
        "updated_at": "2025-11-26T07:00:00+00:00",
    }
    path.write_text(json.dumps({"deliveries": {"1": row}}))
    store = TinyStore(path)
    assert {d.email: d.status for d in store.deliveries(EDITION)} == {
        "a@example.org": DeliveryStatus.SENT
    }
    assert "deliveries" not in json.loads(path.read_text())
    assert [d.email for d in store.deliveries(EDITION)] == ["a@example.org"]


def test_hard_bounces_suppress_an_address_at_the_limit(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    for address in ("a@example.org", "b@example.org"):
        store.save_subscriber(Subscriber(email=address, id=""))
    assert store.record_bounces(["a@example.org", "b@example.org"], [], limit=2) == ()
    assert store.record_bounces(["a@example.org"], ["b@example.org"], limit=2) == ("a@example.org",)
    assert store.get_subscriber("a@example.org").status == Status.BOUNCED  # type: ignore[union-attr]
    assert store.get_subscriber("b@example.org").status == Status.CONFIRMED  # type: ignore[union-attr]
    assert store.record_bounces(["b@example.org"], [], limit=2) == ()  # reset by a delivery


def test_suppression_is_reloaded_when_the_store_changes(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    store.save_subscriber(Subscriber(email="a@example.org", id=""))
    now = [0.0]
    watch = SuppressionWatch(store, every=5.0, clock=lambda: now[0])
    assert watch("a@example.org") is None
    store.set_status("a@example.org", Status.UNSUBSCRIBED)
    now[0] = 4.0
    assert watch("A@example.org") is None  # not looked again yet
    now[0] = 5.0
    assert watch("A@example.org") is not None


def test_a_watch_started_with_since_reads_nothing_until_the_store_changes() -> None:
    class Source:
        reads, stamp = 0, (1, 1, 1)

        def suppressed(self) -> frozenset[str]:
            self.reads += 1
            return frozenset({"gone@example.org"})

        def change_token(self) -> tuple[int, int, int]:
            return self.stamp

    source, now = Source(), [0.0]
    watch = SuppressionWatch(source, since=(1, 1, 1), every=1.0, clock=lambda: now[0])
    now[0] = 5.0
    assert watch("gone@example.org") is None and source.reads == 0  # unchanged since
    source.stamp = (2, 1, 1)  # a new file, same mtime and size
    now[0] = 6.0
    assert watch("gone@example.org") is not None and source.reads == 1


def test_one_operation_is_one_read_and_one_write(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    store.save_subscribers([Subscriber(email=f"r{n}@example.org", id="") for n in range(50)])
    report = RunReport("daily", date(2025, 11, 26), datetime.now(UTC), datetime.now(UTC), False)
    with files_opened() as opened:
        store.finish_run(report, bounced=["r1@example.org"], delivered=["r2@example.org"], limit=1)
    calls = [_call(f) for f in opened if f.path.parent == tmp_path and _call(f)]
    assert calls == ["read", "write"]  # bounces and the run report: one transaction
    assert store.get_subscriber("r1@example.org").status == Status.BOUNCED  # type: ignore[union-attr]
    assert len(store.runs()) == 1


def _call(opened: Opened) -> str:
    """What opening the store's file (or its temp file) was: a read or a write."""
    name = opened.path.name
    if name == "s.json":
        return "write" if opened.writing else "read"
    return "write" if name.startswith(".s.json.") and name.endswith(".tmp") else ""
