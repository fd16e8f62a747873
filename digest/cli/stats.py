"""``digest stats``: the list and the last editions in numbers, through the store protocol."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.table import Table

from digest.cli.context import AppContext
from digest.cli.report import make_console
from digest.models import MailEventKind, Status
from digest.store import Store, make_store
from digest.store.counts import ReaderCounts
from digest.store.protocol import FINAL

#: The statuses of the deliveries whose hard bounces count (as ``Store.history`` reads them).
_FINAL = frozenset(s.value for s in FINAL)

#: Windows for "confirmed in the last N days".
RECENT_DAYS = (7, 30)


@dataclass(frozen=True, slots=True)
class EditionStats:
    """One edition: its deliveries by status, the hard bounces (a 5xx in our own SMTP
    transaction, or a bounce that came back later) and the other mail that came back."""

    key: str
    deliveries: Counter[str] = field(default_factory=Counter)
    refused: int = 0  # failed deliveries the relay refused as a hard bounce
    returned: Counter[str] = field(default_factory=Counter)  # MailEventKind values

    @property
    def hard_bounces(self) -> int:
        return self.refused + self.returned.get(MailEventKind.HARD_BOUNCE.value, 0)

    @property
    def bounce_rate(self) -> float | None:
        """Hard bounces per message handed to the relay (sent, or refused there)."""
        tried = self.deliveries.get("sent", 0) + self.deliveries.get("failed", 0)
        return self.hard_bounces / tried if tried else None

    @property
    def complaint_rate(self) -> float | None:
        """Complaints per message sent."""
        sent = self.deliveries.get("sent", 0)
        return self.returned.get(MailEventKind.COMPLAINT.value, 0) / sent if sent else None


@click.command("stats")
@click.option("--digest", "digest_name", help="Only this digest and its readers.")
@click.option(
    "--editions",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="How many of each digest's newest editions to count deliveries for.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_obj
def stats_cmd(app: AppContext, digest_name: str | None, editions: int, as_json: bool) -> None:
    """Readers by state and by digest, recent confirmations, editions sent, and per recent
    edition: deliveries by status, bounce and complaint rates."""
    config = app.config()
    names = [config.digest(digest_name).name] if digest_name else [d.name for d in config.digests]
    store = make_store(config)
    now = datetime.now(UTC)
    since = [now - timedelta(days=days) for days in RECENT_DAYS]
    readers = store.reader_counts(names, since=since)  # counted by the store: no rows read here
    sent = _editions_sent(store, names)
    recent = [_edition(store, key) for name in names for key in _latest(store, name, editions)]
    found = stats_json(readers, sent, recent)
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    console = make_console()
    console.print(readers_table(found["subscribers"]))
    console.print(editions_table(found["editions"], sent))


def _editions_sent(store: Store, names: Sequence[str]) -> dict[str, int]:
    """Per digest, how many editions went to at least one reader (from the run records)."""
    done: dict[str, set[str]] = {name: set() for name in names}
    for run in store.runs():
        if run.digest in done and not run.dry_run and run.counts.get("sent", 0):
            done[run.digest].add(run.edition_date.isoformat())
    return {name: len(days) for name, days in done.items()}


def _latest(store: Store, digest: str, limit: int) -> list[str]:
    return [edition.key for edition, _ in store.latest_editions(digest, limit=limit)]


def _edition(store: Store, key: str) -> EditionStats:
    counted = store.delivery_counts(key)
    deliveries = Counter(counted.by_status)
    # hard bounces among the final deliveries (those history() says were made)
    refused = sum(n for status, n in counted.bounces.items() if status in _FINAL)
    returned = Counter(e.kind.value for e in store.mail_events(edition=key))
    return EditionStats(key, deliveries, refused, returned)


def stats_json(
    readers: ReaderCounts, sent: dict[str, int], recent: Sequence[EditionStats]
) -> dict[str, Any]:
    return {
        "subscribers": {
            "total": readers.total,
            "by_status": {s.value: readers.by_status.get(s, 0) for s in Status},
            "paused": readers.paused,
            "confirmed_by_digest": dict(readers.by_digest),
            **{
                f"confirmed_last_{days}_days": n
                for days, n in zip(RECENT_DAYS, readers.confirmed_since, strict=True)
            },
        },
        "editions_sent": sent,
        "editions": [
            {
                "edition": e.key,
                "deliveries": dict(sorted(e.deliveries.items())),
                "hard_bounces": e.hard_bounces,
                "returned": dict(sorted(e.returned.items())),
                "bounce_rate": e.bounce_rate,
                "complaint_rate": e.complaint_rate,
            }
            for e in recent
        ],
    }


def readers_table(found: dict[str, Any]) -> Table:
    table = Table(title=f"{found['total']} subscribers", title_justify="left")
    table.add_column("readers")
    table.add_column("count", justify="right")
    for status, n in found["by_status"].items():
        table.add_row(
            status + (f" ({found['paused']} paused)" if status == "confirmed" else ""), str(n)
        )
    for name, n in found["confirmed_by_digest"].items():
        table.add_row(f"confirmed, get {name}", str(n))
    for days in RECENT_DAYS:
        table.add_row(
            f"confirmed in the last {days} days", str(found[f"confirmed_last_{days}_days"])
        )
    return table


def editions_table(rows: Sequence[dict[str, Any]], sent: dict[str, int]) -> Table:
    total = ", ".join(f"{name} {n}" for name, n in sent.items())
    table = Table(title=f"Editions sent: {total}; the newest", title_justify="left")
    statuses = ("sent", "skipped", "failed", "deferred", "unknown")
    for col in ("edition", *statuses, "bounced", "complained", "bounce rate", "complaint rate"):
        table.add_column(col, justify="left" if col == "edition" else "right")
    for row in rows:
        table.add_row(
            row["edition"],
            *(str(row["deliveries"].get(s, 0)) for s in statuses),
            str(row["hard_bounces"]),
            str(row["returned"].get(MailEventKind.COMPLAINT.value, 0)),
            _percent(row["bounce_rate"]),
            _percent(row["complaint_rate"]),
        )
    return table


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2%}"
