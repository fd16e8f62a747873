"""A run's deliveries tallied: counted by status, a bounded sample kept (digest.send.tally)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from digest.cli.report import deliveries_table, summary_line
from digest.models import Delivery, DeliveryStatus, Email, RunReport
from digest.send import deliver_all
from digest.send.tally import SHORT_RUN, Tally
from digest.send.transport import PermanentFailure
from digest.store import migrations

SENT, FAILED, SKIPPED = DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED
AT = datetime(2025, 11, 26, 7, tzinfo=UTC)


def delivery(n: int, status: DeliveryStatus, reason: str = "") -> Delivery:
    return Delivery("daily/2025-11-26", f"r{n}@example.org", status, "", reason)


def test_a_short_run_keeps_every_delivery_in_order() -> None:
    tally = Tally()
    made = [delivery(n, SENT if n % 3 else SKIPPED) for n in range(SHORT_RUN)]
    tally.extend(made)
    assert tally.kept == made and tally.left_out == 0


def test_a_long_run_keeps_only_what_a_report_lists_whatever_the_list() -> None:
    tally = Tally(keep=50)
    for n in range(20_000):
        tally.add(delivery(n, FAILED if n % 100 == 0 else SENT, "550 no"))
    assert tally.counts == {SENT: 19_800, FAILED: 200}
    assert [d.status for d in tally.kept] == [FAILED] * 50  # the sent are only counted
    assert tally.left_out == 19_950


def test_two_tallies_add_up_as_if_counted_together() -> None:
    first, second = Tally(keep=3), Tally(keep=3)
    first.extend(delivery(n, SENT) for n in range(15))
    second.extend(delivery(n, SKIPPED, "already delivered") for n in range(15, 25))
    both = first + second
    assert both.counts == {SENT: 15, SKIPPED: 10}
    assert [d.email for d in both.kept] == ["r15@example.org", "r16@example.org", "r17@example.org"]
    short = Tally() + Tally()
    assert short.total == 0 and short.kept == []


def test_the_relay_refusal_is_told_from_the_replies_alone() -> None:
    tally = Tally(keep=1)
    tally.extend(delivery(n, FAILED, f"554 <r{n}@example.org>: relay denied") for n in range(500))
    assert tally.refusal() == "554 <<reader>>: relay denied"
    tally.add(delivery(500, FAILED, "550 5.1.1 no such user"))
    assert tally.refusal() is None
    mixed = Tally()
    mixed.extend([delivery(1, FAILED, "554 no"), delivery(2, SENT)])
    assert mixed.refusal() is None


def email(n: int) -> Email:
    return Email(f"r{n}@example.org", "p@example.org", "s", f"<{n}@x>", b"x", 1, 1, ())


class Refusing:
    """A transport that refuses one reader in ten for good (its address does not exist)."""

    concurrency = 16
    description = "test"

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def deliver(self, email: Email) -> str:
        if int(email.recipient[1:].split("@")[0]) % 10 == 0:
            raise PermanentFailure(f"550 5.1.1 <{email.recipient}>: no such user")
        return "250 ok"


def test_a_senders_held_deliveries_do_not_grow_with_the_list() -> None:
    def held(readers: int) -> tuple[int, int, int]:
        outcome = asyncio.run(
            deliver_all(
                (email(n) for n in range(readers)),
                Refusing(),
                edition="daily/2025-11-26",
                ledger=None,
                keep_sent=False,
            )
        )
        tally = outcome.tally
        assert tally.counts == {SENT: readers - readers // 10, FAILED: readers // 10}
        return len(tally.kept), len(outcome.sent), len(outcome.bounced)

    kept, sent, bounced = held(20_000)
    assert (kept, sent) == (1000, 0) and bounced == 2000  # failures are few in a real run
    assert held(40_000)[:2] == (kept, sent)


def report_of(tally: Tally) -> RunReport:
    counts = {s.value: n for s, n in tally.counts.items()}
    day = date(2025, 11, 26)
    return RunReport("daily", day, AT, AT, False, (), tuple(tally.kept), counted=counts)


def test_a_report_of_more_failures_than_kept_says_how_many_it_left_out() -> None:
    tally = Tally(keep=100)
    tally.extend(delivery(n, FAILED if n < 250 else SENT, "550 no") for n in range(1000))
    report = report_of(tally)
    table = deliveries_table(report)
    assert table.row_count == 100
    assert table.caption == "not listed: 150 more failed (see digest history --edition)"
    assert "sent 750 via SMTP (250 failed)" in summary_line(report, "SMTP")
    assert not report.ok and report.left_out == 900
    doc = migrations.run_doc(report)
    assert doc["counts"] == {"failed": 250, "sent": 750}
    assert len(doc["problems"]) == 100 and doc["problems_left_out"] == 150
    assert migrations.run_record(doc).counts == {"failed": 250, "sent": 750}


def test_a_report_that_kept_everything_prints_as_it_always_did() -> None:
    tally = Tally()
    tally.extend([delivery(1, SENT), delivery(2, FAILED, "550 no"), delivery(3, SKIPPED, "x")])
    report = report_of(tally)
    assert deliveries_table(report).row_count == 3 and deliveries_table(report).caption is None
    assert "problems_left_out" not in migrations.run_doc(report)
    bare = RunReport("daily", date(2025, 11, 26), AT, AT, False, (), tuple(tally.kept))
    assert bare.counts == report.counts == {"sent": 1, "failed": 1, "skipped": 1}
