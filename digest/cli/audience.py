"""Who an edition did not reach, and why (``digest history --edition``).

Three records answer it, read in this order for each reader:

1. the edition's ledger: everyone a run tried to send to (failed with the server's reply,
   unknown after an interrupted run, deferred until the next run);
2. the runs' reports: readers a run settled without sending (nothing new for them, an
   unsubscribe in the middle of the run);
3. the subscriber list, for the digest's readers in neither: why a run would pass them by
   (pending, paused, unsubscribed, weekly cadence on a daily digest, joined after the edition
   was made), or when they are due while the edition is still going out in per-timezone
   windows (:mod:`digest.windows`).

Pure: the caller reads the store and passes ``now``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from digest.config import DigestConfig
from digest.models import Delivery, DeliveryStatus, Status, Subscriber
from digest.store import RunRecord
from digest.subscribers import address_key
from digest.windows import ScheduledRun, reader_zone, run_on

Run = RunRecord
#: Every reader's window of a scheduled run comes before this long after it (with margin).
WINDOWS_WITHIN = timedelta(days=3)

_LEDGER_WHY = {
    DeliveryStatus.UNKNOWN: "a run stopped while sending it: it may have arrived "
    "(digest send --retry-unknown sends it again)",
    DeliveryStatus.SENDING: "being sent now, or a run was killed while sending it "
    "(the next run reports it unknown)",
}
_STATUS_WHY = {
    Status.PENDING: "has not confirmed the address yet",
    Status.UNSUBSCRIBED: "unsubscribed",
    Status.BOUNCED: "suppressed: the address bounced too often",
    Status.COMPLAINED: "suppressed: reported a digest as spam",
}


@dataclass(frozen=True, slots=True)
class Miss:
    """A reader the edition did not reach: the status that says so, and why."""

    email: str
    status: str
    why: str


@dataclass(frozen=True, slots=True)
class EditionAccount:
    """What became of one edition: its runs, the ledger's counts, who did not get it."""

    digest: DigestConfig
    edition_date: date
    runs: tuple[Run, ...]
    counts: Mapping[str, int]  # ledger status -> deliveries
    missed: tuple[Miss, ...]
    scheduled: ScheduledRun | None

    @property
    def key(self) -> str:
        return f"{self.digest.name}/{self.edition_date.isoformat()}"


def account(
    digest: DigestConfig,
    day: date,
    *,
    runs: Iterable[Run],
    ledger: Sequence[Delivery],
    subscribers: Iterable[Subscriber],
    now: datetime,
    counts: Mapping[str, int] | None = None,
    settled: Collection[str] = (),
) -> EditionAccount | None:
    """The account of edition ``digest``/``day``; None when nothing is known of it (no run,
    no delivery, and no reader still due to get it).

    ``ledger`` is every delivery of the edition; or, for a big one, only those not sent,
    with ``counts`` (every delivery by status, in the order the statuses first come by
    address) and ``settled`` (the address keys of :func:`problem_addresses` that have a
    delivery). ``subscribers`` may be only the readers with no delivery, streamed."""
    mine = _runs_of(runs, digest, day)
    scheduled = run_on(digest, day)
    counts = dict(counts if counts is not None else Counter(d.status.value for d in ledger))
    if not (mine or counts or _windows_ahead(scheduled, now)):
        return None  # nobody can be due: the readers (a million, maybe) need not be read
    readers = (s for s in subscribers if s.wants(digest.name))  # once: may be streamed
    settled = {address_key(d.email) for d in ledger} | set(settled)
    missed = [_from_ledger(d) for d in ledger if d.status != DeliveryStatus.SENT]
    problems = _latest_problems(mine, settled)
    missed += problems.values()
    known = settled | problems.keys()
    passed_by = (s for s in readers if address_key(s.email) not in known)
    missed += [_why_not(s, digest, mine, scheduled, now) for s in passed_by]
    if not (mine or counts or any(m.status == "due" for m in missed)):
        return None
    ordered = tuple(sorted(missed, key=lambda m: (m.status, m.email.casefold())))
    return EditionAccount(digest, day, mine, counts, ordered, scheduled)


def _windows_ahead(scheduled: ScheduledRun | None, now: datetime) -> bool:
    """Whether some reader's window of the scheduled run may still be ahead: a window is
    the run's time of day in the reader's zone within two days of it (``windows``)."""
    return scheduled is not None and now < scheduled.at + WINDOWS_WITHIN


def problem_addresses(runs: Iterable[Run], digest: DigestConfig, day: date) -> set[str]:
    """The readers the edition's runs settled without sending (their reports' problems)."""
    return {p["email"] for run in _runs_of(runs, digest, day) for p in run.problems}


def _runs_of(runs: Iterable[Run], digest: DigestConfig, day: date) -> tuple[Run, ...]:
    """The runs that worked on the edition, oldest first."""
    found = (r for r in runs if (r.digest, r.edition_date) == (digest.name, day))
    return tuple(sorted(found, key=lambda r: r.started_at))


def _from_ledger(delivery: Delivery) -> Miss:
    status = delivery.status
    why = _LEDGER_WHY.get(status) or delivery.reason or status.value
    if status == DeliveryStatus.DEFERRED:
        why = f"{delivery.reason}; the next run tries again" if delivery.reason else why
    return Miss(delivery.email, status.value, why)


def _latest_problems(runs: Sequence[Run], settled: set[str]) -> dict[str, Miss]:
    """Readers the runs settled without sending (skipped), the latest run's word for each;
    those the ledger knows are left to it."""
    found: dict[str, Miss] = {}
    for run in runs:
        for problem in run.problems:
            address = address_key(problem["email"])
            if address not in settled:
                found[address] = Miss(problem["email"], problem["status"], problem["reason"])
    return found


def _why_not(
    sub: Subscriber,
    digest: DigestConfig,
    runs: Sequence[Run],
    scheduled: ScheduledRun | None,
    now: datetime,
) -> Miss:
    """Why no run of the edition has sent to ``sub``, from what the record says now."""
    if sub.status != Status.CONFIRMED:
        return Miss(sub.email, sub.status.value, _STATUS_WHY[sub.status])
    if sub.paused:
        return Miss(sub.email, "paused", "paused their emails")
    if sub.cadence == "weekly" and digest.period == "day":
        return Miss(sub.email, "weekly", "reads weekly: gets the weekly digest, not this daily one")
    due = _due(sub, digest, runs, scheduled, now)
    if due is not None:
        return Miss(sub.email, "due", due)
    made = _made_at(runs, scheduled)
    joined = sub.confirmed_at or sub.created_at
    if made is not None and joined is not None and joined > made:
        when = f"{_local(joined)}, after the edition was made at {_local(made)}"
        return Miss(sub.email, "joined later", f"subscribed {when}")
    missed = [r.note for r in runs if r.missed]
    if missed and len(missed) == len(runs):
        return Miss(sub.email, "missed", missed[-1])
    if not runs:
        return Miss(sub.email, "not sent", "no run has made this edition")
    return Miss(sub.email, "not sent", "no run of this edition included this reader")


def _due(
    sub: Subscriber,
    digest: DigestConfig,
    runs: Sequence[Run],
    scheduled: ScheduledRun | None,
    now: datetime,
) -> str | None:
    """Say when ``sub`` is due, while the edition still goes out in windows and theirs is ahead.
    Runs made by hand (no ``scheduled_at``) send to everyone at once: nobody is due then."""
    windowed = not runs or any(r.scheduled_at for r in runs)
    if scheduled is None or not windowed:
        return None
    window = scheduled.window(sub)
    if window <= now:
        return None
    zone = reader_zone(sub, digest) if digest.local_time else digest.zone
    return f"due at {window.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"


def _made_at(runs: Sequence[Run], scheduled: ScheduledRun | None) -> datetime | None:
    """When the edition was made: its first run that was not missed, else its schedule."""
    for run in runs:
        if not run.missed:
            return run.started_at
    return scheduled.at if scheduled else None


def _local(moment: datetime) -> str:
    return f"{moment.astimezone():%Y-%m-%d %H:%M}"


def grouped(missed: Sequence[Miss], shown: int = 3) -> list[tuple[str, int, str, str]]:
    """For a long list: per status, how many, the commonest reason, and the first addresses."""
    by_status: dict[str, list[Miss]] = {}
    for miss in missed:
        by_status.setdefault(miss.status, []).append(miss)
    rows = []
    for status, group in sorted(by_status.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        why, n = Counter(m.why for m in group).most_common(1)[0]
        reason = why if n == len(group) else f"{why} ({n} of them)"
        addresses = ", ".join(m.email for m in group[:shown])
        if len(group) > shown:
            addresses += f", … {len(group) - shown} more"
        rows.append((status, len(group), reason, addresses))
    return rows
