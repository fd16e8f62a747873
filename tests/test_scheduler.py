"""``digest serve``'s scheduler: its APScheduler jobs, the next-window job it keeps, and the
lock that allows one scheduler per store (the real process is in test_serve_schedule.py)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from conftest import Feed, SmtpServer
from test_scheduled import RUN, add_readers, make_config

from digest.errors import StoreError
from digest.schedule.scheduler import Scheduler
from digest.store import TinyStore


def test_jobs_make_up_a_missed_run_once_and_never_pile_up(
    tmp_path: Path, feed: Feed, smtp_server: SmtpServer
) -> None:
    config = make_config(tmp_path, feed, smtp_server)
    scheduler = Scheduler(config, clock=lambda: RUN - timedelta(hours=1))  # nothing due
    scheduler.start()
    try:
        jobs = scheduler.jobs()
        run = jobs["run:daily"]
        assert isinstance(run.trigger, CronTrigger)
        assert str(run.trigger.timezone) == "Europe/London"
        assert run.coalesce is True and run.max_instances == 1
        assert run.misfire_grace_time == 6 * 3600  # scheduler.catch_up_hours
        assert "sweep" in jobs
    finally:
        scheduler.stop()
    assert scheduler.stopping.is_set()


def test_after_each_run_the_next_readers_window_is_scheduled(
    tmp_path: Path, feed: Feed, smtp_server: SmtpServer
) -> None:
    config = make_config(tmp_path, feed, smtp_server)
    add_readers(config, {"london@example.org": None, "ny@example.org": "America/New_York"})
    now = [RUN]
    scheduler = Scheduler(config, clock=lambda: now[0])
    result = scheduler.run("daily")
    assert result is not None and result.action == "sent"
    window = scheduler.jobs()["window:daily"]
    assert isinstance(window.trigger, DateTrigger)
    assert window.trigger.run_date == datetime(2026, 11, 24, 12, tzinfo=UTC)
    now[0] = datetime(2026, 11, 24, 12, tzinfo=UTC)
    scheduler.run("daily")
    assert smtp_server.script.recipients == ["london@example.org", "ny@example.org"]
    # not started here, so the 12:00 job stays listed; a running scheduler drops it once run
    assert "window:daily" in scheduler.jobs()


def test_a_run_that_finds_the_store_busy_tries_again_in_five_minutes(
    tmp_path: Path, feed: Feed, smtp_server: SmtpServer
) -> None:
    config = make_config(tmp_path, feed, smtp_server)
    add_readers(config, {"london@example.org": None})
    scheduler = Scheduler(config, clock=lambda: RUN)
    with TinyStore(config.store_path).exclusive("send-daily"):  # a manual digest send is running
        assert scheduler.run("daily") is None
    retry = scheduler.jobs()["window:daily"]
    assert retry.trigger.run_date == RUN + timedelta(minutes=5)
    assert smtp_server.script.recipients == []
    scheduler.run("daily")
    assert smtp_server.script.recipients == ["london@example.org"]


def test_a_stopped_scheduler_starts_nothing(
    tmp_path: Path, feed: Feed, smtp_server: SmtpServer
) -> None:
    config = make_config(tmp_path, feed, smtp_server)
    add_readers(config, {"london@example.org": None})
    scheduler = Scheduler(config, clock=lambda: RUN)
    scheduler.stop()
    assert scheduler.run("daily") is None
    assert feed.fetches == 0


def test_one_scheduler_per_store(tmp_path: Path, feed: Feed, smtp_server: SmtpServer) -> None:
    config = make_config(tmp_path, feed, smtp_server)
    first = Scheduler(config, store=TinyStore(config.store_path))
    second = Scheduler(config, store=TinyStore(config.store_path))
    first.claim()
    with pytest.raises(StoreError) as refused:
        second.claim()
    message = str(refused.value)
    assert "another digest serve" in message and str(config.store_path) in message
    assert f"pid {os.getpid()}" in message
    assert "--no-scheduler" in (refused.value.hint or "")
    first.stop()
    second.claim()  # free again once the first has gone
    second.stop()
