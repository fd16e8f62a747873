"""What the schedule says is due now, done once: ``digest send --due`` and ``digest serve``.

For one digest at ``now``:

1. Its latest scheduled run (:func:`digest.windows.latest_run`) names the edition.
2. Not made yet: make it (fetch, rank, deliver to the readers whose window has come) if the
   run is at most ``scheduler.catch_up_hours`` late; a run later than that is recorded as
   missed, once, and nothing is sent (yesterday's papers the next evening help nobody).
3. Made: deliver it, from the papers it was made with, to the readers whose window has come
   and who do not have it yet. Nothing to do is the common case and costs one store read.

Every step is safe to repeat: the edition's ledger never lets a reader get it twice, so a
timer firing every 15 minutes, a scheduler catching up after a sleep, and a manual send can
overlap in time without a duplicate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import httpx

from digest.config import Config, DigestConfig
from digest.models import Edition, Paper, RunReport, Subscriber
from digest.pipeline import SendRequest, SendResult, send_edition
from digest.pipeline.compose import EditionRequest
from digest.store import Store
from digest.subscribers import address_key
from digest.windows import ScheduledRun, latest_run


class DueAction(StrEnum):
    """What a look at the schedule did (its value is what logs and the CLI print)."""

    SENT = "sent"
    NOTHING_DUE = "nothing due"
    MISSED = "missed"  # the run came too late to be made up: recorded, nothing sent
    NOT_SCHEDULED = "not scheduled"


@dataclass(frozen=True, slots=True)
class DueResult:
    """What one look at a digest's schedule did."""

    digest: str
    action: DueAction
    run: ScheduledRun | None = None
    sent: SendResult | None = None
    next_window: datetime | None = None  # when the next readers of this edition are due
    detail: str = ""

    @property
    def ok(self) -> bool:
        if self.action is DueAction.MISSED:
            return False
        return self.sent is None or self.sent.report.ok


def send_due(
    config: Config,
    store: Store,
    digest: DigestConfig,
    now: datetime,
    client: httpx.Client,
    stop: threading.Event | None = None,
) -> DueResult:
    """Do what is due for ``digest`` at ``now`` (see the module docstring)."""
    run = latest_run(digest, now)
    if run is None:
        return DueResult(digest.name, DueAction.NOT_SCHEDULED, detail="no scheduled run in 32 days")
    edition = Edition(digest.name, run.edition_date, digest.title)
    made = _made(store, edition)
    if made is None:
        late = now - run.at
        if late > timedelta(hours=config.scheduler.catch_up_hours):
            return _missed(config, store, run, now, late)
    windows = {zone: run.zone_window(zone) for zone in store.waiting_zones(edition.key, digest)}
    due = frozenset(zone for zone, window in windows.items() if window <= now)
    later = min((w for w in windows.values() if w > now), default=None)
    if made is not None and (not made or not due):  # an empty day, or nobody due yet
        return DueResult(digest.name, DueAction.NOTHING_DUE, run, next_window=later)
    request = SendRequest(
        EditionRequest(digest, run.edition_date, now, digest.sources),
        papers=made or None,
        only=_waiting(store, edition, due),
        stop=stop,
        scheduled_at=run.at,
    )
    result = send_edition(config, store, request, client)
    return DueResult(digest.name, DueAction.SENT, run, result, next_window=later)


def _waiting(store: Store, edition: Edition, zones: frozenset[str]) -> Callable[[Subscriber], bool]:
    """Readers of the ``zones`` whose window has come, and who have no delivery of the
    edition yet (read now: there is something to send)."""
    delivered = frozenset(address_key(d.email) for d in store.deliveries(edition.key))
    return lambda sub: (sub.timezone or "") in zones and address_key(sub.email) not in delivered


def _made(store: Store, edition: Edition) -> tuple[Paper, ...] | None:
    """The papers ``edition`` was made with; ``()`` for an honest empty day (its sources
    worked and had nothing new); None when it was not made (or every source failed: worth
    another try)."""
    papers = store.edition_papers(edition)
    if papers:
        return papers
    if any(r.edition_date == edition.date and r.empty for r in store.runs(edition.digest)):
        return ()
    return None


def _missed(
    config: Config, store: Store, run: ScheduledRun, now: datetime, late: timedelta
) -> DueResult:
    """Record, once, that this run came too late to be made up (unless the digest never
    ran: a first start is not a miss)."""
    digest = run.digest
    detail = (
        f"the run of {run.at:%a %d %b %H:%M %Z} was {late.total_seconds() / 3600:.1f} h "
        f"overdue (scheduler.catch_up_hours is {config.scheduler.catch_up_hours:g}), so nothing "
        "was sent: was digest serve (or its timer) stopped?"
    )
    runs = store.runs(digest.name)
    if not any(r.scheduled_at for r in runs):  # the schedule's first look (sends by
        # hand, like make demo's, do not count): nothing was due before, so nothing missed
        first = "its first edition is made at the next scheduled run"
        return DueResult(digest.name, DueAction.NOTHING_DUE, run, detail=first)
    if any(r.edition_date == run.edition_date and r.missed for r in runs):
        return DueResult(
            digest.name, DueAction.NOTHING_DUE, run, detail=detail
        )  # said once already
    report = RunReport(
        digest=digest.name,
        edition_date=run.edition_date,
        started_at=now,
        finished_at=now,
        dry_run=False,
        note=f"missed: {detail}",
        scheduled_at=run.at,
        missed=True,
    )
    store.finish_run(report, bounced=(), delivered=(), limit=config.smtp.bounce_limit)
    return DueResult(digest.name, DueAction.MISSED, run, detail=detail)
