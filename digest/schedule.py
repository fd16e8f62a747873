"""When each digest runs: cron expressions in the digest's own timezone (APScheduler 3.x)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from digest.config import Config, DigestConfig


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
