"""When editions are made and when each reader gets them: schedule computations with an
injected clock (no waiting), across DST changes, weekly schedules and every kind of zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from digest.config import DigestConfig
from digest.config.sources import SourceSpec
from digest.models import Subscriber
from digest.windows import ScheduledRun, latest_run, local_window, next_run, run_on


def digest(schedule: str, timezone: str, *, local_time: bool = True) -> DigestConfig:
    source = SourceSpec(name="hf-daily", kind="hf-daily")
    return DigestConfig("daily", "Daily", (source,), schedule, timezone, local_time=local_time)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def reader(timezone: str | None) -> Subscriber:
    return Subscriber(email="r@example.org", id="r", timezone=timezone)


@pytest.mark.parametrize(
    ("schedule", "zone", "after", "expected_utc"),
    [
        # wall-clock time is kept across both DST changes (London: GMT → BST on 29 March)
        ("0 7 * * mon-fri", "Europe/London", utc(2026, 3, 27, 7), utc(2026, 3, 30, 6)),
        ("0 7 * * mon-fri", "Europe/London", utc(2026, 10, 23, 7), utc(2026, 10, 26, 7)),
        # day names: Friday evening → Monday, and the weekly run a week on
        ("0 7 * * mon-fri", "Europe/London", utc(2026, 11, 20, 18), utc(2026, 11, 23, 7)),
        ("0 8 * * mon", "Europe/London", utc(2026, 11, 23, 8), utc(2026, 11, 30, 8)),
        # strictly after: a run at exactly now is not the next one
        ("0 7 * * *", "UTC", utc(2026, 11, 24, 7), utc(2026, 11, 25, 7)),
        # New York repeats 01:00-02:00 on 1 November: 01:30 happens twice (EDT, then EST)...
        ("30 1 * * *", "America/New_York", utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)),
        # ...and the day after is found again, not the repeated hour forever
        ("30 1 * * *", "America/New_York", utc(2026, 11, 1, 6, 30), utc(2026, 11, 2, 6, 30)),
        # 02:30 does not exist on 8 March: the run happens when the clock shows 03:30
        ("30 2 * * *", "America/New_York", utc(2026, 3, 7, 12), utc(2026, 3, 8, 7, 30)),
        ("30 2 * * *", "America/New_York", utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6, 30)),
    ],
)
def test_next_run(schedule: str, zone: str, after: datetime, expected_utc: datetime) -> None:
    found = next_run(digest(schedule, zone), after)
    assert found.astimezone(UTC) == expected_utc
    assert found.tzinfo == ZoneInfo(zone)  # shown in the digest's own time


@pytest.mark.parametrize(
    ("schedule", "zone", "now", "expected_utc"),
    [
        ("0 7 * * mon-fri", "Europe/London", utc(2026, 11, 24, 7), utc(2026, 11, 24, 7)),
        ("0 7 * * mon-fri", "Europe/London", utc(2026, 11, 24, 6, 59), utc(2026, 11, 23, 7)),
        # on a weekend the latest run is Friday's
        ("0 7 * * mon-fri", "Europe/London", utc(2026, 11, 22, 12), utc(2026, 11, 20, 7)),
        ("0 8 * * mon", "Europe/London", utc(2026, 11, 29, 23), utc(2026, 11, 23, 8)),
        # a cron that fires every minute is found without walking a month of minutes
        ("* * * * *", "UTC", utc(2026, 11, 24, 7, 3, 30), utc(2026, 11, 24, 7, 3)),
        # monthly: the 32-day lookback
        ("0 9 1 * *", "UTC", utc(2026, 11, 30, 0), utc(2026, 11, 1, 9)),
        # after the repeated hour, the later of the two 01:30s
        ("30 1 * * *", "America/New_York", utc(2026, 11, 1, 7), utc(2026, 11, 1, 6, 30)),
    ],
)
def test_latest_run(schedule: str, zone: str, now: datetime, expected_utc: datetime) -> None:
    run = latest_run(digest(schedule, zone), now)
    assert run is not None
    assert run.at.astimezone(UTC) == expected_utc


def test_latest_run_none_when_the_schedule_has_not_fired_for_a_long_time() -> None:
    assert latest_run(digest("0 9 29 2 *", "UTC"), utc(2026, 11, 24)) is None


def test_both_runs_of_a_repeated_hour_make_the_same_edition() -> None:
    """01:30 on the night clocks go back fires twice; both runs name the same edition date,
    so the second finds the edition made and sends nothing (see test_scheduled)."""
    d = digest("30 1 * * *", "America/New_York")
    first, second = latest_run(d, utc(2026, 11, 1, 6)), latest_run(d, utc(2026, 11, 1, 7))
    assert first is not None and second is not None
    assert first.at.astimezone(UTC) != second.at.astimezone(UTC)  # same wall time, fold 0/1
    assert first.edition_date == second.edition_date == date(2026, 11, 1)


@pytest.mark.parametrize(
    ("zone", "expected_utc"),
    [
        (None, utc(2026, 11, 24, 7)),  # no timezone: the digest's, at once
        ("Europe/London", utc(2026, 11, 24, 7)),
        ("Europe/Lisbon", utc(2026, 11, 24, 7)),  # another zone at the same offset
        ("America/New_York", utc(2026, 11, 24, 12)),  # west: later the same day
        ("America/Los_Angeles", utc(2026, 11, 24, 15)),
        ("Pacific/Pago_Pago", utc(2026, 11, 24, 18)),  # UTC-11
        ("Europe/Paris", utc(2026, 11, 25, 6)),  # east: 07:00 has passed, so tomorrow's
        ("Asia/Tokyo", utc(2026, 11, 24, 22)),
        ("Asia/Kathmandu", utc(2026, 11, 25, 1, 15)),  # UTC+5:45
        ("Pacific/Kiritimati", utc(2026, 11, 24, 17)),  # UTC+14: the next morning there
        ("Not/AZone", utc(2026, 11, 24, 7)),  # an unknown zone: the digest's
    ],
)
def test_each_reader_gets_it_at_the_schedules_hour_in_their_timezone(
    zone: str | None, expected_utc: datetime
) -> None:
    run = ScheduledRun(digest("0 7 * * mon-fri", "Europe/London"), utc(2026, 11, 24, 7))
    window = run.window(reader(zone))
    assert window.astimezone(UTC) == expected_utc
    assert run.at <= window < run.at + timedelta(days=1)  # never before, never a day late
    if zone in ("Asia/Tokyo", "America/New_York", "Asia/Kathmandu"):
        assert window.astimezone(ZoneInfo(zone)).strftime("%H:%M") == "07:00"


def test_local_time_off_sends_everyone_at_the_run() -> None:
    run = ScheduledRun(digest("0 7 * * *", "Europe/London", local_time=False), utc(2026, 11, 24, 7))
    assert run.window(reader("Asia/Tokyo")) == run.at


def test_weekly_schedule_windows_follow_the_readers_day() -> None:
    """A Monday 08:00 London edition reaches Tokyo on Tuesday 08:00 and San Francisco on
    Monday 08:00 local."""
    run = ScheduledRun(digest("0 8 * * mon", "Europe/London"), utc(2026, 11, 23, 8))
    tokyo = run.window(reader("Asia/Tokyo")).astimezone(ZoneInfo("Asia/Tokyo"))
    sf = run.window(reader("America/Los_Angeles")).astimezone(ZoneInfo("America/Los_Angeles"))
    assert (tokyo.strftime("%a %H:%M"), sf.strftime("%a %H:%M")) == ("Tue 08:00", "Mon 08:00")


@pytest.mark.parametrize(
    ("run_at", "zone", "expected"),
    [
        # the reader's 02:30 does not exist that night: the instant their clock says 03:30
        (datetime(2026, 3, 8, 2, 30, tzinfo=UTC), "America/New_York", utc(2026, 3, 8, 7, 30)),
        # the reader's 01:30 happens twice: the first one
        (datetime(2026, 11, 1, 1, 30, tzinfo=UTC), "America/New_York", utc(2026, 11, 1, 5, 30)),
        # Sydney changes clocks (5 April 2026, 03:00 → 02:00); 07:00 is unaffected
        (
            datetime(2026, 4, 4, 7, tzinfo=ZoneInfo("Europe/London")),
            "Australia/Sydney",
            utc(2026, 4, 4, 21),
        ),
    ],
)
def test_local_window_across_dst(run_at: datetime, zone: str, expected: datetime) -> None:
    assert local_window(run_at, ZoneInfo(zone)).astimezone(UTC) == expected


def test_run_on_names_the_run_that_makes_an_edition() -> None:
    d = digest("0 7 * * mon-fri", "Europe/London")
    found = run_on(d, date(2026, 11, 24))
    assert found is not None and found.at.astimezone(UTC) == utc(2026, 11, 24, 7)
    assert run_on(d, date(2026, 11, 22)) is None  # a Sunday: no run, no edition
