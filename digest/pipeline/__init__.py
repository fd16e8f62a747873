"""The pipeline, top to bottom: the only place where the stages meet.

collect          fetch each source, parse it, merge what came back (collect.py)
readers          who gets the edition, and what each was already shown (readers.py)
compose          per reader: rank what they have not seen, render one email (compose.py)
send_edition     deliver through the ledger (or write .eml files for a dry run), report

A request's :class:`Mode` (a real send, a later delivery window, a dry run, a test send) is
chosen once; the steps ask it what to do rather than testing flags of their own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import httpx

from digest.config import Config
from digest.fetch.http import PageCache
from digest.links import signing_secret
from digest.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    Email,
    Ledger,
    Paper,
    RunReport,
    SourceReport,
    Subscriber,
)
from digest.pipeline import readers as shown
from digest.pipeline.collect import Collected, collect_edition
from digest.pipeline.compose import Composer, EditionRequest
from digest.pipeline.readers import recipients
from digest.pipeline.stream import STOPPED, DryRunRow, Progress, Stream, run_note
from digest.render.dkim import DkimSigner
from digest.send import NoSkip, Outcome, RetryPolicy, deliver_all
from digest.send.smtp import SmtpPool
from digest.send.suppression import SuppressionWatch
from digest.send.transport import OutboxTransport, Transport
from digest.store import Store


@dataclass(frozen=True, slots=True)
class SendRequest:
    """What ``digest send`` was asked to do."""

    target: EditionRequest
    dry_run: bool = False
    out_dir: Path | None = None
    to: tuple[str, ...] = ()
    retry_unknown: bool = False  # resend deliveries an interrupted run left unknown
    retry_failed: bool = False  # resend failed deliveries (a relay that refused them, fixed)
    # A scheduled run (digest.schedule.due) adds these:
    papers: tuple[Paper, ...] | None = None  # the edition's papers, already made: not fetched
    only: Callable[[Subscriber], bool] | None = None  # the readers whose window has come
    stop: threading.Event | None = None  # set on shutdown: no new message is started
    scheduled_at: datetime | None = None  # the scheduled run that made this edition

    @property
    def retry(self) -> frozenset[DeliveryStatus]:
        """The settled deliveries the operator asked to send again."""
        asked = {
            DeliveryStatus.UNKNOWN: self.retry_unknown,
            DeliveryStatus.FAILED: self.retry_failed,
        }
        return frozenset(status for status, yes in asked.items() if yes)


@dataclass(frozen=True, slots=True)
class SendResult:
    report: RunReport
    transport: str  # how messages went: "SMTP host:port (security)" or "outbox <folder>"
    checks: tuple[DryRunRow, ...] = ()  # a dry run's pre-flight checks, one per message
    suppressed: tuple[str, ...] = ()  # addresses suppressed after hard bounces in this run
    relay_refusal: str | None = None  # the reply with which the relay refused every message


def choose_transport(config: Config, request: SendRequest, edition: Edition) -> Transport:
    """SMTP when a host is configured; otherwise (or with --out/--dry-run) an outbox folder."""
    if request.out_dir is not None:
        return OutboxTransport(request.out_dir)
    if request.dry_run or not config.smtp.host:
        return OutboxTransport(config.outbox / f"{edition.digest}-{edition.date.isoformat()}")
    return SmtpPool(config.smtp)


class Mode(StrEnum):
    """What kind of send a request is, chosen once (:meth:`of`); each step asks the mode."""

    SEND = "send"  # the real send: fetch, record the edition, deliver through the ledger
    WINDOW = "window"  # a later delivery window of an edition already made (papers given)
    DRY_RUN = "dry run"  # every message written as an .eml file; the store is not changed
    TEST = "test send"  # --to: one copy to each address given; the ledger is not touched

    @classmethod
    def of(cls, request: SendRequest) -> Mode:
        if request.dry_run:
            return cls.DRY_RUN
        if request.to:
            return cls.TEST
        return cls.SEND if request.papers is None else cls.WINDOW

    @property
    def writes(self) -> bool:
        """Only a real send (or a later window of one) writes the store and the ledger."""
        return self in (Mode.SEND, Mode.WINDOW)


def send_edition(
    config: Config,
    store: Store,
    request: SendRequest,
    client: httpx.Client,
    progress: Progress | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SendResult:
    """The whole job: collect → compose → deliver → report. ``progress`` hears of each
    subscriber as they are settled (sent, skipped, failed...); ``clock`` tells the time."""
    mode, started, edition = Mode.of(request), clock(), request.target.edition
    with store.exclusive(f"send-{edition.digest}") if mode.writes else nullcontext():
        collected = _collect(request, client, store.http_cache(read_only=not mode.writes))
        transport = choose_transport(config, request, edition)
        with store.sending(edition.key) if mode.writes else nullcontext() as ledger:
            if mode is Mode.SEND and collected.papers:
                store.save_edition(edition, collected.papers)
            since = store.change_token()  # recipients are read as of now
            readers = recipients(store, request.target.digest, request.to)
            subs = _due(readers, request) if collected.papers else ()
            if progress is not None:
                progress.start(len(subs))
            history = shown.history(
                store,
                edition.key,
                collected.papers,
                test=mode is Mode.TEST,
                retry=request.retry,
            )
            composer = _composer(config, request.target, collected, transport, started)
            stream = Stream(composer.compose_all(subs, history), progress, request)
            watch = SuppressionWatch(store, since=since) if mode.writes else NoSkip
            skip = _unless_stopped(watch, request.stop)
            outcome = _deliver(config, transport, stream, edition, ledger, skip, progress, request)
        refusal = relay_refusal(outcome.deliveries)
        report = _report(request, collected, stream, outcome, started, clock(), readers, subs)
        if refusal is not None:
            report = replace(report, note=f"the relay refused every message: {refusal}")
        suppressed = _settle(config, store, report, outcome, refusal) if mode.writes else ()
    checks = tuple(stream.checks)
    return SendResult(report, transport.description, checks, suppressed, refusal)


def relay_refusal(deliveries: Sequence[Delivery]) -> str | None:
    """The one reply with which the relay refused every message of a run, if it did (two
    messages at least): a misconfigured relay, not readers whose addresses bounced."""
    attempted = [d for d in deliveries if d.status != DeliveryStatus.SKIPPED]
    if len(attempted) < 2 or any(d.status != DeliveryStatus.FAILED for d in attempted):
        return None
    # relays quote the recipient ("554 5.7.1 <ada@…>: Relay access denied"): not a difference
    replies = {d.reason.replace(d.email, "<reader>") for d in attempted}
    return replies.pop() if len(replies) == 1 else None


def _due(readers: Sequence[Subscriber], request: SendRequest) -> tuple[Subscriber, ...]:
    """The readers this run sends to: all of them, or those whose window has come."""
    return tuple(readers) if request.only is None else tuple(filter(request.only, readers))


def _report(
    request: SendRequest,
    collected: Collected,
    stream: Stream,
    outcome: Outcome,
    started: datetime,
    finished: datetime,
    readers: Sequence[Subscriber],
    subs: Sequence[Subscriber],
) -> RunReport:
    edition = request.target.edition
    return RunReport(
        digest=edition.digest,
        edition_date=edition.date,
        started_at=started,
        finished_at=finished,
        dry_run=request.dry_run,
        sources=collected.sources,
        deliveries=tuple(outcome.deliveries) + tuple(stream.settled),
        note=run_note(collected, subs, stream, outcome.deliveries, waiting=bool(readers)),
        scheduled_at=request.scheduled_at,
    )


def _settle(
    config: Config, store: Store, report: RunReport, outcome: Outcome, refusal: str | None
) -> tuple[str, ...]:
    """Record the run, and the hard bounces it met (none when the relay refused everyone:
    that is the relay's fault, not the readers'); the addresses suppressed now."""
    bounced = () if refusal is not None else outcome.bounced
    return store.finish_run(
        report, bounced=bounced, delivered=outcome.sent, limit=config.smtp.bounce_limit
    )


def _collect(request: SendRequest, client: httpx.Client, cache: PageCache) -> Collected:
    """The edition's papers: fetched now, or those it was made with (a later window)."""
    if request.papers is None:
        return collect_edition(request.target, client, cache)
    saved = SourceReport(
        f"edition {request.target.edition.key}", "saved", True, len(request.papers), 0.0
    )
    return Collected(request.papers, (saved,))


def _unless_stopped(
    skip_reason: Callable[[str], str | None], stop: threading.Event | None
) -> Callable[[str], str | None]:
    """``skip_reason``, and once ``stop`` is set every message not yet started is left (not
    claimed in the ledger, so the next run sends it)."""
    if stop is None:
        return skip_reason

    def reason(address: str) -> str | None:
        return STOPPED if stop.is_set() else skip_reason(address)

    return reason


def _composer(
    config: Config,
    target: EditionRequest,
    collected: Collected,
    transport: Transport,
    now: datetime,
) -> Composer:
    dkim = config.sender.dkim
    return Composer(
        target,
        collected.papers,
        config=config,
        secret=signing_secret(config, real=isinstance(transport, SmtpPool)),
        signer=DkimSigner.from_config(dkim) if dkim else None,
        now=now,
    )


def _deliver(
    config: Config,
    transport: Transport,
    stream: Iterable[Email],
    edition: Edition,
    ledger: Ledger | None,
    skip_reason: Callable[[str], str | None],
    progress: Progress | None,
    request: SendRequest,
) -> Outcome:
    policy = RetryPolicy(retries=config.smtp.retries, backoff_seconds=config.smtp.retry_backoff)
    return asyncio.run(
        deliver_all(
            stream,
            transport,
            edition=edition.key,
            ledger=ledger,
            policy=policy,
            skip_reason=skip_reason,
            progress=progress.update if progress else None,
            stop=request.stop,
        )
    )
