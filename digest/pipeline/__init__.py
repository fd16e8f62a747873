"""The pipeline, top to bottom: the only place where the stages meet.

collect_papers   fetch each source, parse it, merge what came back
compose          per reader: rank what they have not seen, render one email (compose.py)
send_edition     deliver through the ledger (or write .eml files for a dry run), report
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Protocol

import httpx

from digest import parse
from digest.config import Config, DigestConfig
from digest.config.sources import SourceSpec
from digest.errors import FetchError, ParseError
from digest.fetch import fetch_source
from digest.fetch.http import PageCache
from digest.links import signing_secret
from digest.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    Email,
    Paper,
    RunReport,
    SourceReport,
    Subscriber,
)
from digest.parse.merge import merge_papers
from digest.pipeline.compose import (
    ALREADY_DELIVERED,
    Composer,
    EditionRequest,
    recipients,
)
from digest.render.dkim import DkimSigner
from digest.send import NoSkip, Outcome, RetryPolicy, deliver_all
from digest.send.preflight import preflight
from digest.send.smtp import SmtpPool
from digest.send.suppression import SuppressionWatch
from digest.send.transport import OutboxTransport, Transport
from digest.store import History, Store
from digest.store.ledger import EditionLedger
from digest.windows import latest_run


@dataclass(frozen=True, slots=True)
class Collected:
    papers: tuple[Paper, ...]
    sources: tuple[SourceReport, ...]


@dataclass(frozen=True, slots=True)
class SendRequest:
    """What ``digest send`` was asked to do."""

    target: EditionRequest
    dry_run: bool = False
    out_dir: Path | None = None
    to: tuple[str, ...] = ()
    retry_unknown: bool = False  # resend deliveries an interrupted run left unknown
    # A scheduled run (digest.schedule.due) adds these:
    papers: tuple[Paper, ...] | None = None  # the edition's papers, already made: not fetched
    only: Callable[[Subscriber], bool] | None = None  # the readers whose window has come
    stop: threading.Event | None = None  # set on shutdown: no new message is started
    scheduled_at: datetime | None = None  # the scheduled run that made this edition


class Progress(Protocol):
    """Hears how a send advances (the CLI's progress bar)."""

    def start(self, total: int) -> None: ...

    def update(self, delivery: Delivery) -> None: ...


@dataclass(frozen=True, slots=True)
class DryRunRow:
    """What a dry run shows of one message: the pre-flight checks that failed, if any."""

    recipient: str
    subject: str
    papers: int
    size: int
    failed: tuple[str, ...]

    @classmethod
    def of(cls, email: Email) -> DryRunRow:
        return cls(
            email.recipient, email.subject, len(email.paper_ids), len(email.raw), preflight(email)
        )


@dataclass(frozen=True, slots=True)
class SendResult:
    report: RunReport
    transport: str  # how messages went: "SMTP host:port (security)" or "outbox <folder>"
    checks: tuple[DryRunRow, ...] = ()  # a dry run's pre-flight checks, one per message
    suppressed: tuple[str, ...] = ()  # addresses suppressed after hard bounces in this run


STOPPED = "left for the next run: shutting down"
NO_NEW_PAPERS = "no new papers"  # the note of an honest empty day (digest.schedule.due reads it)


def edition_moment(digest: DigestConfig, edition_date: date, now: datetime) -> datetime:
    """The instant an edition is made at: now for today's edition, else the end of its day."""
    if now.astimezone(digest.zone).date() == edition_date:
        return now
    return datetime.combine(edition_date, clock(23, 59, 59), digest.zone).astimezone(UTC)


def collect_papers(
    sources: Sequence[SourceSpec],
    *,
    period: str,
    now: datetime,
    today: date,
    client: httpx.Client,
    cache: PageCache | None = None,
    since: datetime | None = None,
) -> Collected:
    """Fetch and parse every source; one failing source is reported, the others go on.
    ``cache`` (None: none) lets fetching ask servers whether a page changed (conditional GET);
    ``since`` is the previous scheduled run (a daily edition takes the days completed since)."""
    papers: list[Paper] = []
    reports: list[SourceReport] = []
    for spec in sources:
        started = time.monotonic()
        try:
            fetched = fetch_source(
                spec, client=client, period=period, now=now, cache=cache, since=since
            )
            results = [
                parse.parse_bytes(
                    page,
                    kind=spec.kind,
                    source=_paper_source(spec),
                    origin=fetched.origin,
                    today=today,
                    options=spec.options,
                )
                for page in fetched.pages
            ]
        except (FetchError, ParseError) as exc:
            reports.append(
                SourceReport(spec.label, spec.kind, False, 0, time.monotonic() - started, str(exc))
            )
            continue
        found = [p for r in results for p in r.papers]
        problems = tuple(msg for r in results for msg in r.problems)
        papers.extend(found)
        seconds = time.monotonic() - started
        note = None if found or problems else fetched.empty_note  # e.g. a weekend's []
        reports.append(
            SourceReport(spec.label, spec.kind, True, len(found), seconds, None, problems, note)
        )
    return Collected(merge_papers(papers), tuple(reports))


def collect_edition(
    target: EditionRequest, client: httpx.Client, cache: PageCache | None = None
) -> Collected:
    """The papers of one edition, from its sources as of the edition's moment: for a daily
    digest, the HF days completed since its previous scheduled run."""
    digest = target.digest
    moment = edition_moment(digest, target.edition_date, target.now)
    return collect_papers(
        target.sources,
        period=digest.period,
        now=moment,
        today=target.edition_date,
        client=client,
        cache=cache,
        since=previous_run(digest, target.edition_date, moment),
    )


def previous_run(digest: DigestConfig, edition_date: date, moment: datetime) -> datetime | None:
    """The scheduled run before the one that makes this edition (None: none in 32 days)."""
    run = latest_run(digest, moment)
    if run is not None and run.edition_date == edition_date:  # this edition's own run
        run = latest_run(digest, run.at - timedelta(seconds=1))
    return run.at if run is not None else None


def _paper_source(spec: SourceSpec) -> str:
    """The name papers carry in ``sources``: empty for a sniffed file (the kind found)."""
    return "" if spec.kind == "auto" and spec.name == "auto" else spec.name


def choose_transport(config: Config, request: SendRequest, edition: Edition) -> Transport:
    """SMTP when a host is configured; otherwise (or with --out/--dry-run) an outbox folder."""
    if request.out_dir is not None:
        return OutboxTransport(request.out_dir)
    if request.dry_run or not config.smtp.host:
        return OutboxTransport(config.outbox / f"{edition.digest}-{edition.date.isoformat()}")
    return SmtpPool(config.smtp)


def send_edition(
    config: Config,
    store: Store,
    request: SendRequest,
    client: httpx.Client,
    progress: Progress | None = None,
) -> SendResult:
    """The whole job: collect → compose → deliver → report. ``progress`` hears of each
    subscriber as they are settled (sent, skipped, failed...)."""
    started = datetime.now(UTC)
    target, edition = request.target, request.target.edition
    real = not (request.dry_run or request.to)  # only a real send writes the store
    with store.exclusive(f"send-{edition.digest}") if real else nullcontext():
        collected = _collect(request, client, store.http_cache(read_only=not real))
        transport = choose_transport(config, request, edition)
        composer = _composer(config, target, collected, transport)
        ledger = _open_ledger(store, edition, collected, request) if real else None
        since = store.version()  # recipients are read as of now
        readers = recipients(store, target.digest, request.to) if collected.papers else ()
        subs = readers if request.only is None else tuple(filter(request.only, readers))
        if progress is not None:
            progress.start(len(subs))
        history = _history(store, request, collected)
        stream = _Stream(composer.compose_all(subs, history), progress, request)
        watch = SuppressionWatch(store, since=since) if real else NoSkip
        skip = _unless_stopped(watch, request.stop)
        outcome = _deliver(config, transport, stream, edition, ledger, skip, progress)
        report = RunReport(
            digest=edition.digest,
            edition_date=edition.date,
            started_at=started,
            finished_at=datetime.now(UTC),
            dry_run=request.dry_run,
            sources=collected.sources,
            deliveries=tuple(outcome.deliveries) + tuple(stream.settled),
            note=_note(collected, subs, stream, outcome.deliveries, waiting=bool(readers)),
            scheduled_at=request.scheduled_at,
        )
        suppressed = (
            store.finish_run(
                report,
                bounced=outcome.bounced,
                delivered=outcome.sent,
                limit=config.smtp.bounce_limit,
            )
            if real
            else ()
        )
    return SendResult(report, transport.description, tuple(stream.checks), suppressed)


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
    config: Config, target: EditionRequest, collected: Collected, transport: Transport
) -> Composer:
    dkim = config.sender.dkim
    return Composer(
        target,
        collected.papers,
        config=config,
        secret=signing_secret(config, real=isinstance(transport, SmtpPool)),
        signer=DkimSigner.from_config(dkim) if dkim else None,
    )


def _open_ledger(
    store: Store, edition: Edition, collected: Collected, request: SendRequest
) -> EditionLedger:
    """The edition's ledger, with what a killed run left settled (in flight → unknown)."""
    ledger = store.ledger(edition.key)
    ledger.fold()
    if collected.papers and request.papers is None:  # a later window: already recorded
        store.save_edition(edition, collected.papers)
    return ledger


def _history(store: Store, request: SendRequest, collected: Collected) -> History:
    """What the ledger forbids or remembers; a test send (``--to``) ignores it."""
    if request.to:
        return History()
    papers = (p.id for p in collected.papers)
    edition = request.target.edition.key
    return store.history(edition, papers, retry_unknown=request.retry_unknown)


def _deliver(
    config: Config,
    transport: Transport,
    stream: Iterable[Email],
    edition: Edition,
    ledger: EditionLedger | None,
    skip_reason: Callable[[str], str | None],
    progress: Progress | None,
) -> Outcome:
    policy = RetryPolicy(retries=config.smtp.retries, backoff_seconds=config.smtp.retry_backoff)
    if ledger is not None:
        ledger.open()
    try:
        return asyncio.run(
            deliver_all(
                stream,
                transport,
                edition=edition.key,
                ledger=ledger,
                policy=policy,
                skip_reason=skip_reason,
                progress=progress.update if progress else None,
            )
        )
    finally:
        if ledger is not None:
            ledger.close()
            ledger.fold()


class _Stream:
    """The composed items of a run as the emails to deliver: readers settled without an
    email (already sent, nothing new) are kept aside, and a dry run checks each message."""

    def __init__(
        self, items: Iterable[Email | Delivery], progress: Progress | None, request: SendRequest
    ) -> None:
        self.items, self.progress, self.check = items, progress, request.dry_run
        self.stop = request.stop
        self.settled: list[Delivery] = []
        self.checks: list[DryRunRow] = []
        self.stopped = False  # the stop came before every reader was composed

    def __iter__(self) -> Iterator[Email]:
        for item in self.items:
            if self.stop is not None and self.stop.is_set():
                self.stopped = True
                return
            if isinstance(item, Email):
                if self.check:
                    self.checks.append(DryRunRow.of(item))
                yield item
                continue
            self.settled.append(item)
            if self.progress is not None:
                self.progress.update(item)


def _note(
    collected: Collected,
    subs: Sequence[Subscriber],
    stream: _Stream,
    delivered: Sequence[Delivery],
    *,
    waiting: bool = False,
) -> str:
    """Why a run sent nothing or stopped early (empty when it sent to everyone it could)."""
    left = sum(d.reason == STOPPED for d in delivered)
    if stream.stopped or left:
        done = sum(d.status == DeliveryStatus.SENT for d in delivered)
        return f"stopped by shutdown after {done} sent: the rest go out on the next run"
    settled = stream.settled
    if not collected.papers:
        failed = [s.name for s in collected.sources if not s.ok]
        return f"no papers: sources failed ({', '.join(failed)})" if failed else NO_NEW_PAPERS
    if not subs and waiting:  # a scheduled run: readers elsewhere get it at their own hour
        return "made; no reader's local time has come yet"
    if not subs:
        return "no confirmed subscribers for this digest"
    if delivered:
        return ""
    unknown = sum(d.status == DeliveryStatus.UNKNOWN for d in settled)
    if all(d.reason == ALREADY_DELIVERED or d.status == DeliveryStatus.UNKNOWN for d in settled):
        maybe = f" ({unknown} maybe: see --retry-unknown)" if unknown else ""
        return "every subscriber already got this edition" + maybe
    return "nothing new for any subscriber"
