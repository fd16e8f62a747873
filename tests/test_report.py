"""Terminal output: a big run's table shows only the deliveries to look at, and data with
brackets in it is printed as it is."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from rich.console import Console

from digest.cli.report import deliveries_table, make_console, papers_table, sources_table
from digest.models import Delivery, DeliveryStatus, Paper, RunReport, SourceReport

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


def test_brackets_in_data_are_printed_not_taken_as_styles(capsys: Any) -> None:
    source = SourceReport(
        "arxiv", "arxiv-rss", True, 2, 0.1, None, ("keep them with announce: [new, cross]",)
    )
    paper = Paper(id="2511.00001", title="[Re] Reproducing [bold] results", upvotes=3)
    make_console().print(sources_table([source]))
    make_console().print(papers_table([paper]))
    out = capsys.readouterr().out
    assert "keep them with announce: [new, cross]" in out
    assert "[Re] Reproducing [bold] results" in out
    assert "ok" in out
