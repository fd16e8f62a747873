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
import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import httpx

from digest.config import Config
from digest.fetch.http import PageCache
from digest.links import signing_secret
from digest.models import (
    DeliveryStatus,
    Edition,
    Email,
    Ledger,
    Paper,
    RunReport,
    SourceReport,
    Subscriber,
)
from digest.pipeline.collect import Collected, collect_edition
from digest.pipeline.compose import Composer, EditionRequest
from digest.pipeline.readers import Share, read_ahead, send_share, test_share
from digest.pipeline.stream import STOPPED, DryRunRow, Progress, Stream, run_note
from digest.render.dkim import DkimSigner
from digest.send import NoSkip, Outcome, RetryPolicy, deliver_all
from digest.send.smtp import SmtpPool
from digest.send.suppression import SuppressionWatch
from digest.send.transport import OutboxTransport, Transport
from digest.store import History, Store
from digest.store.protocol import Send


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
    subscriber as they are settled (sent, skipped, failed...); ``clock`` tells the time.

    A real send is this sender's part of the edition (:meth:`Store.sending`): alone under
    ``exclusive`` on the embedded store; beside other senders on a store that has
    ``many_senders``, each taking its share of the readers a block at a time."""
    mode, started, edition = Mode.of(request), clock(), request.target.edition
    alone = mode.writes and not store.many_senders
    with store.exclusive(f"send-{edition.digest}") if alone else nullcontext():
        collected = _collect(request, client, store.http_cache(read_only=not mode.writes))
        transport = choose_transport(config, request, edition)
        with _sending(store, mode, edition, collected.papers) as send:
            collected = replace(collected, papers=send.papers)  # as the round fixed them
            since = store.change_token()  # recipients are read as of now
            share = _share(store, request, mode, send)
            with _pages(store, share) as pages:
                if progress is not None:
                    progress.start(share.due if not store.many_senders else None)
                composer = _composer(config, request.target, collected, transport, started)
                stream = Stream(composer.compose_blocks(pages), progress, request)
                watch = SuppressionWatch(store, since=since) if mode.writes else NoSkip
                skip = _unless_stopped(watch, request.stop)
                keep_sent = not store.many_senders  # a server's ledger resets bounces itself
                outcome = _deliver(
                    config, transport, stream, send, skip, progress, request, keep_sent
                )
        refusal = outcome.tally.refusal()
        report = _report(request, collected, stream, outcome, (started, clock()), share, send)
        if refusal is not None:
            report = replace(report, note=f"the relay refused every message: {refusal}")
        suppressed = _settle(config, store, report, outcome, refusal) if mode.writes else ()
    checks = tuple(stream.checks)
    return SendResult(report, transport.description, checks, suppressed, refusal)


@dataclass(frozen=True, slots=True)
class _Rehearsal:
    """What stands in for :class:`Store.sending` in a dry run or a test send: no ledger,
    no round; the readers page by page (the store's own pages: one on TinyDB)."""

    store: Store
    papers: tuple[Paper, ...]
    ledger: Ledger | None = None
    round: str = ""

    def blocks(self, size: int) -> Iterator[Sequence[Subscriber]]:
        yield from self.store.subscriber_pages(size)


def _sending(
    store: Store, mode: Mode, edition: Edition, papers: Sequence[Paper]
) -> AbstractContextManager[Send | _Rehearsal]:
    """This sender's part of a real send, or a rehearsal that writes nothing."""
    if mode.writes:
        return store.sending(edition, papers, sender=SENDER)
    return nullcontext(_Rehearsal(store, tuple(papers)))


@contextmanager
def _pages(store: Store, share: Share) -> Iterator[Iterable[tuple[Sequence[Subscriber], History]]]:
    """The share's pages of readers as composing takes them: all read at once from the
    embedded store (one file), and from a server streamed, each page (and its history) read
    in a thread while the one before is composed. Closed (waiting for a read in flight)
    before the send's blocks are let go: no block is claimed after that."""
    if not store.many_senders:
        yield list(share)
        return
    with closing(read_ahead(share)) as pages:
        yield pages


def _share(store: Store, request: SendRequest, mode: Mode, send: Send | _Rehearsal) -> Share:
    """The readers this run sends to (every reader of the digest, or those whose window has
    come; the ``--to`` addresses for a test send), a block at a time."""
    if mode is Mode.TEST:
        return test_share(store, request.to)
    if not send.papers:
        return Share((), lambda sub: False, None, lambda subs: History())
    blocks = send.blocks(READER_BLOCK)
    return send_share(
        store, blocks, request.target, send.papers, due=request.only, retry=request.retry
    )


def _report(
    request: SendRequest,
    collected: Collected,
    stream: Stream,
    outcome: Outcome,
    times: tuple[datetime, datetime],
    share: Share,
    send: Send | _Rehearsal,
) -> RunReport:
    edition = request.target.edition
    note = run_note(collected, share.due, stream, outcome, waiting=bool(share.readers))
    tally = outcome.tally + stream.settled
    return RunReport(
        digest=edition.digest,
        edition_date=edition.date,
        started_at=times[0],
        finished_at=times[1],
        dry_run=request.dry_run,
        sources=collected.sources,
        deliveries=tuple(tally.kept),
        counted={status.value: n for status, n in tally.counts.items()},
        note=note,
        scheduled_at=request.scheduled_at,
        round=send.round,
        sender=SENDER if send.round else "",
    )


def _settle(
    config: Config, store: Store, report: RunReport, outcome: Outcome, refusal: str | None
) -> tuple[str, ...]:
    """Record the run, and the hard bounces it met (none when the relay refused everyone:
    that is the relay's fault, not the readers'); the addresses suppressed now. A store
    with ``many_senders`` reset the hard bounces of the readers sent as its ledger recorded
    them (``keep_sent``): the addresses were not kept."""
    bounced = () if refusal is not None else outcome.bounced
    return store.finish_run(
        report, bounced=bounced, delivered=outcome.sent, limit=config.smtp.bounce_limit
    )


#: Who this process is among the senders of a round (several hosts may share one store).
SENDER = f"{socket.gethostname()} pid {os.getpid()}"
#: Readers taken from the store at a time by a sender (a page of its share): what it holds
#: of the list at once, whatever the list's size (pages of 1,000 cost a sender of 100,000
#: readers 3 MB more at its peak than pages of 157, the size of a block at 10,000).
READER_BLOCK = 128


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
    send: Send | _Rehearsal,
    skip_reason: Callable[[str], str | None],
    progress: Progress | None,
    request: SendRequest,
    keep_sent: bool,
) -> Outcome:
    policy = RetryPolicy(retries=config.smtp.retries, backoff_seconds=config.smtp.retry_backoff)
    return asyncio.run(
        deliver_all(
            stream,
            transport,
            edition=request.target.edition.key,
            ledger=send.ledger,
            policy=policy,
            skip_reason=skip_reason,
            progress=progress.update if progress else None,
            stop=request.stop,
            keep_sent=keep_sent,
        )
    )
