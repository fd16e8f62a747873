"""Terminal output for the CLI: tables and one-line summaries (rich), nothing else."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from digest.models import (
    Delivery,
    DeliveryStatus,
    Paper,
    RankedPaper,
    RunReport,
    SourceReport,
    Subscriber,
)
from digest.pipeline.stream import DryRunRow
from digest.rank import RankSettings, Reader
from digest.schedule.due import DueResult
from digest.store import RunRecord

OK = Text("ok", style="green")


def sources_table(reports: Sequence[SourceReport]) -> Table:
    table = Table(title="Sources", title_justify="left")
    for col in ("source", "kind", "status", "papers", "time", "detail"):
        table.add_column(col, justify="right" if col in ("papers", "time") else "left")
    for r in reports:
        status = OK if r.ok else Text("failed", style="red")
        detail = r.error or _problems(r.problems) or r.note or ""
        table.add_row(r.name, r.kind, status, str(r.papers), f"{r.seconds:.2f}s", detail)
    return table


def _problems(problems: Sequence[str]) -> str:
    """A source's parse problems in one cell: the only one, or how many and the first."""
    if len(problems) > 1:
        return f"{len(problems)} problems, the first: {problems[0]}"
    return problems[0] if problems else ""


def source_failures(reports: Sequence[SourceReport]) -> list[str]:
    """One plain line per failed source, whole (tables cut long messages on narrow screens)."""
    return [f"error: source {r.name} ({r.kind}) failed: {r.error}" for r in reports if not r.ok]


def papers_table(papers: Sequence[Paper]) -> Table:
    table = Table(title=f"{len(papers)} papers", title_justify="left")
    for col in ("id", "title", "authors", "date", "upvotes"):
        table.add_column(col, justify="right" if col == "upvotes" else "left")
    for p in papers:
        day = p.daily_date or p.published
        authors = str(p.author_count) if p.author_count is not None else "?"
        upvotes = "" if p.upvotes is None else str(p.upvotes)
        table.add_row(p.id, p.title[:70], authors, day.isoformat() if day else "", upvotes)
    return table


def ranked_table(ranked: Sequence[RankedPaper]) -> Table:
    """``digest rank --explain``: each paper's score, the parts it is made of, and why."""
    table = Table(title="Ranking", title_justify="left")
    for col in ("#", "score", "trending", "relevance", "id", "title", "reason"):
        table.add_column(col, justify="right" if col in _NUMBERS else "left")
    for n, r in enumerate(ranked, 1):
        table.add_row(
            str(n),
            f"{r.score:.3f}",
            f"{r.trending:.3f}",
            f"{r.relevance:.3f}" if r.relevance else "",
            r.paper.id,
            r.paper.title[:60],
            r.reason,
        )
    return table


_NUMBERS = ("#", "score", "trending", "relevance")


def ranked_json(ranked: RankedPaper) -> dict[str, object]:
    """A ranked paper for ``--json``: the §5.1 fields, the score, its parts and the reason."""
    return {
        **ranked.paper.to_json(),
        "score": ranked.score,
        "trending": ranked.trending,
        "relevance": ranked.relevance,
        "reason": ranked.reason,
    }


def reader_line(reader: Reader, settings: RankSettings) -> str:
    """Whom a ranking is for, as ``digest rank --explain`` heads it."""
    if not (reader.topics or reader.authors):
        return "Trending order (no topics or authors to match)."
    wanted = [*(f'"{t}"' for t in reader.topics), *(f"{a} (author)" for a in reader.authors)]
    return (
        f"For {', '.join(wanted)}: {reader.mode(settings)} mode, relevance counts from"
        f" {reader.floor(settings):.2f}; {len(reader.shown)} papers already shown left out."
    )


def subscribers_table(subs: Sequence[Subscriber]) -> Table:
    table = Table(title=f"{len(subs)} subscribers", title_justify="left")
    columns = ("email", "status", "digests", "topics", "authors", "topic mode", "min relevance")
    for col in (*columns, "cadence", "timezone"):
        table.add_column(col)
    for s in subs:
        table.add_row(
            s.email,
            s.status.value + (" (paused)" if s.paused else ""),
            ", ".join(s.digests) or "all",
            ", ".join(s.topics),
            "; ".join(s.authors),
            s.topic_mode or "",
            "" if s.min_relevance is None else f"{s.min_relevance:g}",
            s.cadence,
            s.timezone or "",
        )
    return table


def dry_run_table(rows: Sequence[DryRunRow]) -> Table:
    table = Table(title="Dry run: nothing was sent", title_justify="left")
    for col in ("recipient", "papers", "size", "checks"):
        table.add_column(
            col, justify="right" if col in ("papers", "size") else "left", no_wrap=True
        )
    table.add_column("subject", no_wrap=True, overflow="ellipsis", max_width=48)
    for row in rows:
        checks = OK if not row.failed else Text("; ".join(row.failed), style="red")
        size = f"{row.size / 1024:.1f} KB"
        table.add_row(row.recipient, str(row.papers), size, checks, row.subject)
    return table


def deliveries_table(report: RunReport, limit: int = 20) -> Table:
    """Every delivery when there are few; otherwise only the ones to look at (failed,
    deferred, unknown), since the summary line counts the sent and the skipped. A long run
    keeps only some of each (see ``RunReport.counted``): the table says how many more."""
    shown = report.deliveries
    counts = report.counts
    if sum(counts.values()) > limit:
        quiet = (DeliveryStatus.SENT, DeliveryStatus.SKIPPED)
        shown = tuple(d for d in shown if d.status not in quiet)
    table = Table(title="Deliveries", title_justify="left")
    for col in ("recipient", "status", "detail"):
        table.add_column(col)
    for d in shown:
        table.add_row(d.email, d.status.value, d.reason)
    listed = Counter(d.status.value for d in shown)
    more = [f"{counts[s] - n} more {s}" for s, n in sorted(listed.items()) if counts[s] > n]
    if more:  # digest history --edition lists every reader an edition missed
        table.caption = f"not listed: {', '.join(more)} (see digest history --edition)"
        table.caption_justify = "left"
    return table


def summary_line(report: RunReport, transport: str) -> str:
    """``daily 2025-11-26: sources 1/1 ok, 31 papers; sent 3 via SMTP … (1 skipped)``."""
    counts = report.counts
    sources_ok = sum(s.ok for s in report.sources)
    papers = sum(s.papers for s in report.sources)
    done = counts.get("sent", 0)
    if report.dry_run:
        outcome = f"would send {done} (dry run: messages in {transport.removeprefix('outbox ')})"
    elif transport.startswith("outbox"):
        outcome = f"wrote {done} .eml files to {transport.removeprefix('outbox ')}"
    else:
        outcome = f"sent {done} via {transport}"
    parts = [
        f"{report.digest} {report.edition_date.isoformat()}:",
        f"sources {sources_ok}/{len(report.sources)} ok, {papers} papers;",
        outcome,
    ]
    others = [f"{n} {s}" for s, n in sorted(counts.items()) if s != "sent"]
    if others:
        parts.append("(" + ", ".join(others) + ")")
    if report.note:
        parts.append(f"— {report.note}")
    return " ".join(parts)


def due_line(result: DueResult) -> str:
    """What ``send --due`` did for a digest that sent nothing: ``daily 2026-11-24: nothing
    due; next readers at 12:00 UTC``."""
    run = result.run
    head = f"{result.digest} {run.edition_date.isoformat()}:" if run else f"{result.digest}:"
    parts = [head, result.action]
    if result.detail:
        parts.append(f"— {result.detail}")
    if result.next_window is not None:
        parts.append(f"— next readers at {result.next_window.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
    return " ".join(parts)


#: The columns of ``digest history --csv``, one row per run.
RUN_COLUMNS = (
    "started_at",
    "finished_at",
    "digest",
    "edition",
    "ok",
    "dry_run",
    "sources",
    "sources_ok",
    "papers",
    *(s.value for s in DeliveryStatus if s != DeliveryStatus.SENDING),
    "note",
)


def runs_csv(runs: Sequence[RunRecord]) -> str:
    """The runs as CSV with a header row (:data:`RUN_COLUMNS`), times in UTC ISO 8601."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RUN_COLUMNS)
    for run in runs:
        writer.writerow(
            [
                run.started_at.astimezone(UTC).isoformat(),
                run.finished_at.astimezone(UTC).isoformat(),
                run.digest,
                run.edition_date.isoformat(),
                str(run.ok).lower(),
                str(run.dry_run).lower(),
                len(run.sources),
                sum(bool(s.get("ok")) for s in run.sources),
                run.papers,
                *(run.counts.get(c, 0) for c in RUN_COLUMNS[9:-1]),
                run.note,
            ]
        )
    return out.getvalue()


def make_console(stderr: bool = False) -> Console:
    """A console for tables; off a terminal (logs, pipes) lines are kept whole up to 200 wide."""
    # markup off: titles, reasons and errors are data, and "[new, cross]" is not a style
    console = Console(stderr=stderr, highlight=False, soft_wrap=False, markup=False)
    if not console.is_terminal:
        console.width = 200
    return console


class SendProgress:
    """A progress bar on stderr while a send runs (only on a terminal: logs stay clean)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task = progress.add_task("sending", total=None)

    def start(self, total: int | None) -> None:
        self._progress.update(self._task, total=total)

    def update(self, delivery: Delivery) -> None:
        self._progress.advance(self._task)


@contextmanager
def send_progress() -> Iterator[SendProgress | None]:
    console = make_console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield SendProgress(progress)
