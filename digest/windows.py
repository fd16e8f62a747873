"""When an edition is made, and when each reader gets it (PRODUCT §10).

A digest runs at its ``schedule``, a cron expression in the digest's own timezone
(APScheduler 3.x triggers, :func:`make_trigger`).

An edition is made once, at a scheduled run of its digest (the cron expression in the digest's
timezone): the papers are fetched and ranked then, so every reader of an edition sees the same
papers. It is delivered in per-timezone windows: each reader gets it the first time their own
clock shows the run's time of day, at or after the run. A reader in the digest's timezone (or
with none) gets it at once; readers to the west later that day; readers to the east, whose hour
has already passed, the next morning. No reader waits a day or more.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from digest.config import Config, DigestConfig
from digest.models import Subscriber

#: How far back :func:`latest_run` looks for a scheduled run, widening step by step so that
#: a cron expression that fires every minute costs as little as a weekly one.
_LOOKBACKS = (timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=32))


def make_trigger(digest: DigestConfig) -> CronTrigger:
    return CronTrigger.from_crontab(digest.schedule, timezone=digest.zone)


def next_run(digest: DigestConfig, now: datetime) -> datetime:
    """The first scheduled run strictly after ``now``, in the digest's timezone."""
    # APScheduler answers "at or after"; in UTC, so that an hour a DST change repeats keeps
    # its fold (in local time, the repeated 01:30 would be found again and again)
    after = now.astimezone(UTC) + timedelta(microseconds=1)
    fire: datetime | None = make_trigger(digest).get_next_fire_time(None, after)
    if fire is None:  # a cron expression always fires again; guard for the type checker
        raise ValueError(f"schedule {digest.schedule!r} never fires")
    return fire


def next_runs(config: Config, now: datetime) -> tuple[tuple[DigestConfig, datetime], ...]:
    return tuple((d, next_run(d, now)) for d in config.digests)


@dataclass(frozen=True, slots=True)
class ScheduledRun:
    """One scheduled run of a digest: the moment its edition is (or was to be) made."""

    digest: DigestConfig
    at: datetime  # aware, in the digest's timezone

    @property
    def edition_date(self) -> date:
        return self.at.astimezone(self.digest.zone).date()

    def window(self, sub: Subscriber) -> datetime:
        """When ``sub`` gets this run's edition (see the module docstring)."""
        return self.zone_window(sub.timezone)

    def zone_window(self, timezone: str | None) -> datetime:
        """When the readers of ``timezone`` (a name; None or unknown: the digest's) get it."""
        if not self.digest.local_time:
            return self.at
        at = self.at.astimezone(self.digest.zone)
        return _local_window(at, zone_named(timezone, self.digest))


def local_window(run_at: datetime, zone: ZoneInfo) -> datetime:
    """The first instant at or after ``run_at`` when the clock in ``zone`` shows the time of
    day that ``run_at`` shows (in the timezone it is expressed in). A time that a DST change
    skips in ``zone`` is the instant the clock would show it (02:30 on a spring-forward night
    is 03:30)."""
    wall = run_at.time()
    start = run_at.astimezone(UTC)
    day = run_at.astimezone(zone).date()
    for offset in (0, 1, 2):
        local = datetime.combine(day + timedelta(days=offset), wall, zone)
        instant = local.astimezone(UTC)  # compare instants: same-zone comparison ignores DST
        if instant >= start:
            return instant.astimezone(zone)
    raise AssertionError("unreachable: a wall-clock time recurs within two days")


#: The same computation for every reader of a timezone: a run has as many windows as zones.
_local_window = functools.lru_cache(maxsize=2048)(local_window)


def reader_zone(sub: Subscriber, digest: DigestConfig) -> ZoneInfo:
    """The reader's timezone, or the digest's when they have none (or an unknown one)."""
    return zone_named(sub.timezone, digest)


def zone_named(timezone: str | None, digest: DigestConfig) -> ZoneInfo:
    """The zone ``timezone`` names, or the digest's for none (or an unknown name)."""
    return (_zone(timezone) if timezone else None) or digest.zone


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    """ZoneInfo keeps loaded zones only while something holds them: keep them, since a big
    list asks for the same few hundred again and again."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def latest_run(digest: DigestConfig, now: datetime) -> ScheduledRun | None:
    """The digest's last scheduled run at or before ``now`` (None if it has not run in the
    last 32 days)."""
    trigger, now = make_trigger(digest), now.astimezone(UTC)
    for lookback in _LOOKBACKS:
        latest: datetime | None = None
        fire: datetime | None = trigger.get_next_fire_time(None, now - lookback)
        while fire is not None and fire <= now:
            latest = fire
            # from the instant after, in UTC: a local time loses the fold of a repeated hour
            after = fire.astimezone(UTC) + timedelta(seconds=1)
            fire = trigger.get_next_fire_time(fire, after)
        if latest is not None:
            return ScheduledRun(digest, latest)
    return None


def run_on(digest: DigestConfig, day: date) -> ScheduledRun | None:
    """The digest's first scheduled run on ``day`` (in its timezone): the run that makes the
    edition of that date. None if the schedule does not fire that day."""
    start = datetime.combine(day, datetime.min.time(), digest.zone).astimezone(UTC)
    fire: datetime | None = make_trigger(digest).get_next_fire_time(None, start)
    if fire is None or fire.astimezone(digest.zone).date() != day:
        return None
    return ScheduledRun(digest, fire)
