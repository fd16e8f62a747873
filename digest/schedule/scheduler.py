"""``digest serve``'s scheduler: APScheduler 3.x in the web app's process (PRODUCT §10).

Jobs, all calling :meth:`Scheduler.run` (which does what :mod:`digest.schedule.due` says is due):

- ``run:<digest>``: the digest's cron expression in its timezone, when editions are made.
  ``misfire_grace_time`` is ``scheduler.catch_up_hours``: a run the process slept through is
  made once when it wakes (``coalesce``), never twice.
- ``window:<digest>``: at the next reader's delivery window of the current edition,
  rescheduled after each run.
- ``inbound-imap``: when ``inbound.imap`` is configured, every ``poll_minutes`` and once at
  start: reads returned mail from the IMAP folder (:mod:`digest.pipeline.inbound_imap`).
- ``sweep``: every 15 minutes, and once at start: catches a run missed while serve was
  stopped, retries an edition whose sources all failed, and picks up readers whose window
  moved (a new timezone). It costs a few store reads when nothing is due.

Jobs live in memory and are rebuilt at each start from ``schedules.yaml`` and the store:
nothing to migrate, and a restart never duplicates a job. Only one scheduler may run per
store (the store's ``exclusive("scheduler")``); a second ``digest serve`` says so and exits.
Should that lock be lost to another process while held (PostgreSQL: its connection dropped
and another ``digest serve`` took it, see :mod:`digest.store.pg_lock`), this scheduler
starts nothing more, as if stopped, and says so in one log line (``scheduler.lock_lost``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from digest.config import Config, DigestConfig
from digest.errors import DigestError, StoreError
from digest.fetch import make_client
from digest.pipeline.inbound_imap import ImapRun, read_imap
from digest.schedule.due import DueAction, DueResult, send_due
from digest.store import Store, make_store
from digest.store.protocol import Holder
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
        self.store = store or make_store(config)
        self.stopping = threading.Event()  # set on shutdown: sends start no new message
        self.lost = threading.Event()  # set when another process took the scheduler lock
        self._claimed = ExitStack()  # the store's "scheduler" lock, while this one runs it
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
        try:
            self._claimed.enter_context(self.store.exclusive("scheduler", on_lost=self._lost))
        except StoreError:
            holder = self.store.holder("scheduler")
            raise StoreError(
                f"another digest serve{holder or ''} is already running the schedule of "
                f"store {self.store.location}",
                hint="stop it first, or start this one with --no-scheduler for the web pages only",
            ) from None

    def _lost(self, holder: Holder) -> None:
        """The store's thread, when another process took the scheduler lock: no job starts
        a run any more; a send in progress finishes its messages in flight, as on
        :meth:`stop` (which still lets go of the rest at the end)."""
        self.lost.set()
        self.stopping.set()
        if self._aps.running:
            self._aps.pause()
        fields = {
            "store": self.store.location,
            "holder_host": holder.host or "",
            "holder_pid": holder.pid,
        }
        detail = (
            "this digest serve schedules nothing more: the other one does"
            " (restart this one to schedule here again)"
        )
        log.error("scheduler.lock_lost", extra={"fields": {**fields, "detail": detail}})

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
        imap = self.config.inbound.imap
        if imap is not None:
            self._aps.add_job(
                self.read_imap,
                IntervalTrigger(minutes=imap.poll_minutes, timezone=UTC),
                id="inbound-imap",
                name="read returned mail",
                next_run_time=self.clock(),  # once now, then every poll_minutes
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
        self._claimed.close()
        log.info("scheduler.stopped")

    def jobs(self) -> dict[str, Any]:
        """Job id → job (what is scheduled, and when)."""
        return {job.id: job for job in self._aps.get_jobs()}

    def read_imap(self) -> ImapRun | None:
        """Reads the inbound.imap folder (returned mail); a failure is logged, not raised."""
        if self.stopping.is_set():
            return None
        try:
            return read_imap(self.config, self.store)
        except DigestError as exc:  # the server is down, the password wrong: next poll
            log.error("inbound.imap.failed", extra={"fields": {"error": str(exc)}})
            return None

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
        fields.update(report.counts)
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
    if result.action is DueAction.NOTHING_DUE:
        log.debug("run.idle", extra={"fields": fields})
    elif result.ok:
        log.info("run.finished", extra={"fields": fields})
    else:
        log.warning("run.finished", extra={"fields": fields})


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else ""
