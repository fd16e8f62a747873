"""``digest serve``'s scheduler: APScheduler 3.x in the web app's process (PRODUCT §10).

Jobs, all calling :meth:`Scheduler.run` (which does what :mod:`digest.schedule.due` says is due):

- ``run:<digest>``: the digest's cron expression in its timezone, when editions are made.
  ``misfire_grace_time`` is ``scheduler.catch_up_hours``: a run the process slept through is
  made once when it wakes (``coalesce``), never twice.
- ``window:<digest>``: at the next reader's delivery window of the current edition,
  rescheduled after each run.
- ``sweep``: every 15 minutes, and once at start: catches a run missed while serve was
  stopped, retries an edition whose sources all failed, and picks up readers whose window
  moved (a new timezone). It costs a few store reads when nothing is due.

Jobs live in memory and are rebuilt at each start from ``schedules.yaml`` and the store:
nothing to migrate, and a restart never duplicates a job. Only one scheduler may run per
store (:class:`SchedulerLock`); a second ``digest serve`` says so and exits.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from filelock import FileLock, Timeout

from digest.config import Config, DigestConfig
from digest.errors import DigestError, StoreError
from digest.fetch import make_client
from digest.schedule.due import DueResult, send_due
from digest.store import Store
from digest.windows import make_trigger

log = logging.getLogger("digest.scheduler")

SWEEP_MINUTES = 15


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    """The jobs of every digest; :meth:`run` is also what tests call with a fake clock."""

    def __init__(
        self,
        config: Config,
        *,
        store: Store | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.config, self.clock = config, clock
        self.store = store or Store(config.store_path)
        self.stopping = threading.Event()  # set on shutdown: sends start no new message
        self.lock = SchedulerLock(self.store.path)
        self._running = {d.name: threading.Lock() for d in config.digests}
        self._aps = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=2)},
            job_defaults={
                "coalesce": True,  # a backlog of missed runs is one run
                "max_instances": 1,
                "misfire_grace_time": int(config.scheduler.catch_up_hours * 3600) or 1,
            },
        )

    def claim(self) -> None:
        """Take the store's scheduler lock (StoreError if another process has it); held
        until :meth:`stop` or the end of the process."""
        self.lock.acquire()

    def start(self) -> None:
        for digest in self.config.digests:
            self._aps.add_job(
                self.run,
                make_trigger(digest),
                args=[digest.name],
                id=f"run:{digest.name}",
                name=f"{digest.name} edition",
                replace_existing=True,
            )
        self._aps.add_job(
            self.sweep,
            IntervalTrigger(minutes=SWEEP_MINUTES, timezone=UTC),
            id="sweep",
            name="catch up",
            next_run_time=self.clock(),  # once now: what was missed while stopped
            replace_existing=True,
        )
        self._aps.start()
        for job in self._aps.get_jobs():
            log.info(
                "scheduler.job",
                extra={"fields": {"job": job.id, "next_run": _iso(job.next_run_time)}},
            )

    def stop(self) -> None:
        """Let a send in progress finish the messages in flight, then stop."""
        self.stopping.set()
        if self._aps.running:
            self._aps.shutdown(wait=True)
        self.lock.release()
        log.info("scheduler.stopped")

    def jobs(self) -> dict[str, Any]:
        """Job id → job (what is scheduled, and when)."""
        return {job.id: job for job in self._aps.get_jobs()}

    def sweep(self) -> None:
        for digest in self.config.digests:
            if self.stopping.is_set():
                return
            self.run(digest.name)

    def run(self, name: str) -> DueResult | None:
        """Do what is due for digest ``name`` now; one at a time per digest."""
        digest = self.config.digest(name)
        with self._running[name]:
            if self.stopping.is_set():
                return None
            try:
                with make_client() as client:
                    result = send_due(
                        self.config, self.store, digest, self.clock(), client, self.stopping
                    )
            except DigestError as exc:  # e.g. a manual send holds the edition: try again soon
                log.error("run.failed", extra={"fields": {"digest": name, "error": str(exc)}})
                self._window(digest, self.clock() + timedelta(minutes=5))
                return None
        _log_result(result)
        if result.next_window is not None:
            self._window(digest, result.next_window)
        return result

    def _window(self, digest: DigestConfig, when: datetime) -> None:
        self._aps.add_job(
            self.run,
            DateTrigger(when, timezone=UTC),
            args=[digest.name],
            id=f"window:{digest.name}",
            name=f"{digest.name} next readers",
            replace_existing=True,
        )


def _log_result(result: DueResult) -> None:
    fields: dict[str, Any] = {"digest": result.digest, "action": result.action}
    if result.run is not None:
        fields["edition"] = f"{result.digest}/{result.run.edition_date.isoformat()}"
        fields["scheduled"] = _iso(result.run.at)
    if result.sent is not None:
        report = result.sent.report
        for delivery in report.deliveries:
            status = delivery.status.value
            fields[status] = fields.get(status, 0) + 1
        fields["papers"] = sum(s.papers for s in report.sources)
        failed = [s.name for s in report.sources if not s.ok]
        if failed:
            fields["failed_sources"] = ",".join(failed)
        if report.note:
            fields["note"] = report.note
    if result.detail:
        fields["detail"] = result.detail
    if result.next_window is not None:
        fields["next_window"] = _iso(result.next_window)
    if result.action == "nothing due":
        log.debug("run.idle", extra={"fields": fields})
    elif result.ok:
        log.info("run.finished", extra={"fields": fields})
    else:
        log.warning("run.finished", extra={"fields": fields})


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else ""


class SchedulerLock:
    """One scheduler per store: an exclusive lock held for the life of ``digest serve``, with
    the holder's pid beside it so that a second one can say who holds it."""

    def __init__(self, store_path: Path) -> None:
        self.store_path = store_path
        self.path = Path(f"{store_path}.scheduler.lock")
        self.pid_file = Path(f"{store_path}.scheduler.pid")
        self._lock = FileLock(str(self.path), timeout=0)

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            raise StoreError(
                f"another digest serve{self._holder()} is already running the schedule of "
                f"store {self.store_path}",
                hint="stop it first, or start this one with --no-scheduler for the web pages only",
            ) from None
        self.pid_file.write_text(f"{os.getpid()}\n", encoding="ascii")

    def release(self) -> None:
        if self._lock.is_locked:
            self.pid_file.unlink(missing_ok=True)
            self._lock.release()

    def holder(self) -> str | None:
        """Who runs the schedule of this store: `` (pid N)`` or ``""`` if another process
        does, None if nobody does. Takes the lock for an instant to find out."""
        if self._lock.is_locked:
            return f" (pid {os.getpid()})"
        if not self.path.parent.is_dir():  # no store there yet: nothing can be running it
            return None
        try:
            self._lock.acquire()
        except Timeout:
            return self._holder()
        except OSError:  # not ours to judge here: ``check`` warns about the store's folder
            return None
        self._lock.release()
        return None

    def _holder(self) -> str:
        try:
            pid = self.pid_file.read_text(encoding="ascii").strip()
        except OSError:
            return ""
        return f" (pid {pid})" if pid.isdigit() else ""
