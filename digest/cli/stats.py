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
from digest.models import MailEventKind, Status, Subscriber
from digest.store import Store, make_store

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
    readers = [s for s in store.list_subscribers() if _gets_any(s, names, config.digests)]
    now = datetime.now(UTC)
    sent = _editions_sent(store, names)
    recent = [_edition(store, key) for name in names for key in _latest(store, name, editions)]
    found = stats_json(readers, names, config.digests, sent, recent, now)
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    console = make_console()
    console.print(readers_table(found["subscribers"]))
    console.print(editions_table(found["editions"], sent))


def _gets_any(sub: Subscriber, names: Sequence[str], digests: Sequence[Any]) -> bool:
    return any(name in (sub.digests or tuple(d.name for d in digests)) for name in names)


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
    deliveries = Counter(d.status.value for d in store.deliveries(key))
    refused = sum(e.bounce for e in store.history(key, ()).earlier.values())
    returned = Counter(e.kind.value for e in store.mail_events(edition=key))
    return EditionStats(key, deliveries, refused, returned)


def stats_json(
    readers: Sequence[Subscriber],
    names: Sequence[str],
    digests: Sequence[Any],
    sent: dict[str, int],
    recent: Sequence[EditionStats],
    now: datetime,
) -> dict[str, Any]:
    confirmed = [s for s in readers if s.status == Status.CONFIRMED]
    by_digest = {
        name: sum(name in (s.digests or tuple(d.name for d in digests)) for s in confirmed)
        for name in names
    }
    return {
        "subscribers": {
            "total": len(readers),
            "by_status": {s.value: sum(r.status == s for r in readers) for s in Status},
            "paused": sum(s.paused for s in confirmed),
            "confirmed_by_digest": by_digest,
            **{
                f"confirmed_last_{days}_days": sum(
                    1
                    for s in confirmed
                    if s.confirmed_at and s.confirmed_at >= now - timedelta(days=days)
                )
                for days in RECENT_DAYS
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
