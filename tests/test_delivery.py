"""The delivery engine: each email once, through the ledger, whatever the transport says."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from file_events import files_opened

from digest.models import DeliveryStatus, Edition, Email
from digest.send import Outcome, RetryPolicy, deliver_all
from digest.send.transport import (
    AmbiguousFailure,
    OutboxTransport,
    PermanentFailure,
    TemporaryFailure,
)
from digest.store import TinyStore
from digest.store.ledger import EditionLedger

EDITION = "daily/2025-11-26"
NO_WAIT = RetryPolicy(retries=2, backoff_seconds=0)


def email(to: str, message_id: str = "<x@example.org>") -> Email:
    headers = f"From: p@example.org\r\nTo: {to}\r\nSubject: hi\r\nMessage-ID: {message_id}"
    raw = headers + "\r\n\r\nbody\r\n"
    return Email(to, "bounce@example.org", "hi", message_id, raw.encode(), 0, 4, ("p1",))


class Scripted:
    """A transport that answers each recipient from a script: a list of outcomes in order
    (an exception to raise, or a reply string); recipients not in the script are accepted."""

    description = "scripted"

    def __init__(self, concurrency: int = 1, delay: float = 0.0, **script: list[Any]) -> None:
        self.concurrency, self.delay = concurrency, delay
        self.script = {k.replace("_", "@", 1) + ".org": list(v) for k, v in script.items()}
        self.calls: list[tuple[str, str]] = []  # (recipient, message id) per attempt
        self.in_flight = self.most_in_flight = 0

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def deliver(self, email: Email) -> str:
        self.calls.append((email.recipient, email.message_id))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            steps = self.script.get(email.recipient)
            step = steps.pop(0) if steps else "250 ok"
            if isinstance(step, Exception):
                raise step
            return str(step)
        finally:
            self.in_flight -= 1


def run(emails: Iterable[Email], transport: Any, ledger: Any = None, **kw: Any) -> Outcome:
    async def go() -> Outcome:
        return await deliver_all(
            emails, transport, edition=EDITION, ledger=ledger, policy=NO_WAIT, **kw
        )

    return asyncio.run(go())


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[EditionLedger]:
    book = EditionLedger(tmp_path / "ledger", EDITION)
    book.open()
    yield book
    book.close()


def statuses(outcome: Outcome) -> dict[str, DeliveryStatus]:
    return {d.email: d.status for d in outcome.tally.kept}


@pytest.mark.parametrize(
    ("script", "status", "bounced"),
    [
        (["250 ok"], DeliveryStatus.SENT, False),
        ([PermanentFailure("550 5.1.1 no such user")], DeliveryStatus.FAILED, True),
        ([PermanentFailure("550 5.7.1 policy", bounce=False)], DeliveryStatus.FAILED, False),
        ([AmbiguousFailure("lost during DATA")], DeliveryStatus.UNKNOWN, False),
        ([TemporaryFailure("451 later")] * 3, DeliveryStatus.DEFERRED, False),
        ([TemporaryFailure("451 later")] * 2 + ["250 ok"], DeliveryStatus.SENT, False),
        ([RuntimeError("a bug")], DeliveryStatus.UNKNOWN, False),
    ],
)
def test_each_outcome_is_recorded_in_the_ledger(
    ledger: EditionLedger, script: list[Any], status: DeliveryStatus, bounced: bool
) -> None:
    transport = Scripted(a_example=script)
    outcome = run([email("a@example.org"), email("b@example.org")], transport, ledger)
    assert statuses(outcome) == {"a@example.org": status, "b@example.org": DeliveryStatus.SENT}
    assert outcome.bounced == (["a@example.org"] if bounced else [])
    recorded = ledger.load()["a@example.org"]
    assert (recorded.status, recorded.bounce) == (status, bounced)
    assert recorded.attempts == len([c for c in transport.calls if c[0] == "a@example.org"])


def test_retries_keep_the_same_message_id_and_say_how_many(ledger: EditionLedger) -> None:
    transport = Scripted(a_example=[TemporaryFailure("421 busy")] * 3)
    outcome = run([email("a@example.org", "<same@example.org>")], transport, ledger)
    assert transport.calls == [("a@example.org", "<same@example.org>")] * 3
    assert outcome.tally.kept[0].reason == "421 busy (after 3 attempts)"


def test_backoff_grows_with_jitter() -> None:
    policy = RetryPolicy(retries=3, backoff_seconds=2.0, jitter=0.5)
    for attempt, base in enumerate([2.0, 4.0, 8.0]):
        waits = [policy.delay(attempt) for _ in range(200)]
        assert base * 0.5 <= min(waits) < max(waits) <= base * 1.5


def test_workers_run_concurrently_up_to_the_transport_limit(ledger: EditionLedger) -> None:
    transport = Scripted(concurrency=8, delay=0.01)
    emails = [email(f"r{n}@example.org") for n in range(100)]
    outcome = run(emails, transport, ledger)
    assert len(outcome.sent) == 100 and transport.most_in_flight == 8
    assert sorted(c[0] for c in transport.calls) == sorted(e.recipient for e in emails)


def test_a_suppressed_address_is_skipped_at_send_time(ledger: EditionLedger) -> None:
    transport = Scripted()
    skip = {"gone@example.org": "unsubscribed a moment ago"}
    outcome = run(
        [email("gone@example.org"), email("a@example.org")], transport, ledger, skip_reason=skip.get
    )
    assert statuses(outcome)["gone@example.org"] == DeliveryStatus.SKIPPED
    assert [c[0] for c in transport.calls] == ["a@example.org"]
    assert "gone@example.org" not in ledger.load()


def test_emails_are_taken_lazily_and_a_compose_error_still_records_what_was_in_flight(
    ledger: EditionLedger,
) -> None:
    taken: list[int] = []

    def emails() -> Iterator[Email]:
        for n in range(1000):
            taken.append(n)
            if n == 50:
                raise RuntimeError("template broke")
            yield email(f"r{n}@example.org")

    transport = Scripted(concurrency=4, delay=0.001)
    with pytest.raises(RuntimeError, match="template broke"):
        run(emails(), transport, ledger)
    assert len(taken) == 51  # nothing is taken after the error
    recorded = ledger.load()
    assert len(recorded) == 50
    assert {e.status for e in recorded.values()} == {DeliveryStatus.SENT}


def test_ledger_writes_never_rewrite_a_database_file(ledger: EditionLedger) -> None:
    """O(1) per delivery: a run appends to the journal; no JSON file is rewritten."""
    with files_opened() as opened:
        run([email(f"r{n}@example.org") for n in range(300)], Scripted(concurrency=16), ledger)
    writes = [str(f.path) for f in opened if f.writing]
    assert writes == []  # the journal was opened before: appends open nothing
    lines = ledger.journal_path.read_text().splitlines()
    assert len(lines) == 600  # sending + sent, per delivery


def test_an_outcome_and_the_next_claim_of_a_connection_share_one_write(
    ledger: EditionLedger,
) -> None:
    """One write per delivery, not two: the outcome of a connection's delivery goes with the
    claim of its next (both or neither on disk), and the last outcome alone, at once."""
    writes: list[list[tuple[str, str]]] = []
    journal = ledger._journal
    assert journal is not None
    write = journal._write_bytes

    def counted(fd: int, data: bytes) -> int:
        writes.append([(r["k"], r["s"]) for r in map(json.loads, bytes(data).splitlines())])
        return write(fd, data)

    journal._write_bytes = counted
    run([email(f"{c}@example.org") for c in "abc"], Scripted(concurrency=1), ledger)
    assert writes == [
        [("a@example.org", "sending")],
        [("a@example.org", "sent"), ("b@example.org", "sending")],
        [("b@example.org", "sent"), ("c@example.org", "sending")],
        [("c@example.org", "sent")],
    ]


def test_outbox_writes_eml_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    outcome = run([email("a+b@example.org")], OutboxTransport(out))
    assert outcome.sent == ["a+b@example.org"]
    assert (out / "a+b@example.org.eml").read_bytes().startswith(b"From: p@example.org")


def test_unwritable_outbox_defers_instead_of_crashing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a@example.org.eml").mkdir()  # a folder where the file should go
    store = TinyStore(tmp_path / "s.json")
    edition = Edition("daily", date.fromisoformat(EDITION.split("/")[1]), "Daily")
    with store.sending(edition, (), sender="test") as send:
        outcome = run([email("a@example.org")], OutboxTransport(out), send.ledger)
    assert outcome.tally.kept[0].status == DeliveryStatus.DEFERRED
    assert "cannot write" in outcome.tally.kept[0].reason
    assert store.deliveries(EDITION)[0].status == DeliveryStatus.DEFERRED
