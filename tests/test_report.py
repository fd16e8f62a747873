"""Terminal output: a big run's table shows only the deliveries to look at."""

from __future__ import annotations

from datetime import UTC, date, datetime

from rich.console import Console

from digest.models import Delivery, DeliveryStatus, RunReport
from digest.report import deliveries_table

NOW = datetime(2025, 11, 26, 7, tzinfo=UTC)


def report(*statuses: DeliveryStatus) -> RunReport:
    deliveries = tuple(
        Delivery("daily/2025-11-26", f"r{n}@example.org", s, "", f"why {n}")
        for n, s in enumerate(statuses)
    )
    return RunReport("daily", date(2025, 11, 26), NOW, NOW, False, (), deliveries)


def rendered(run: RunReport) -> str:
    console = Console(width=200, record=True)
    console.print(deliveries_table(run))
    return console.export_text()


def test_a_small_run_lists_every_delivery() -> None:
    text = rendered(report(DeliveryStatus.SENT, DeliveryStatus.SKIPPED))
    assert "r0@example.org" in text and "r1@example.org" in text


def test_a_big_run_lists_only_what_needs_a_look() -> None:
    statuses = [DeliveryStatus.SENT] * 30 + [DeliveryStatus.SKIPPED] * 30
    statuses += [DeliveryStatus.UNKNOWN, DeliveryStatus.FAILED, DeliveryStatus.DEFERRED]
    text = rendered(report(*statuses))
    listed = [line for line in text.splitlines() if "@example.org" in line]
    assert [line.split()[1] for line in listed] == [f"r{n}@example.org" for n in (60, 61, 62)]
