"""The pipeline, top to bottom: the only place where the stages meet.

collect_papers   fetch each source, parse it, merge what came back
compose          per reader: rank what they have not seen, render one email (compose.py)
send_edition     deliver through the ledger (or write .eml files for a dry run), report
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as clock
from pathlib import Path

import httpx

from digest import parse
from digest.compose import (
    ALREADY_DELIVERED,
    DEV_SECRET,
    EditionRequest,
    compose,
    recipients,
)
from digest.config import Config, DigestConfig
from digest.errors import ConfigError, FetchError, ParseError
from digest.fetch import fetch_source
from digest.merge import merge_papers
from digest.models import (
    Delivery,
    Edition,
    Email,
    Paper,
    RunReport,
    SourceReport,
    Subscriber,
)
from digest.send import RetryPolicy, SmtpTransport, deliver_all
from digest.sources import SourceSpec
from digest.store import History, Store
from digest.transport import OutboxTransport, Transport


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


@dataclass(frozen=True, slots=True)
class SendResult:
    report: RunReport
    emails: tuple[Email, ...]
    transport: str  # how messages went: "SMTP host:port (security)" or "outbox <folder>"


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
) -> Collected:
    """Fetch and parse every source; one failing source is reported, the others go on."""
    papers: list[Paper] = []
    reports: list[SourceReport] = []
    for spec in sources:
        started = time.monotonic()
        try:
            fetched = fetch_source(spec, client=client, period=period, now=now)
            results = [
                parse.parse_bytes(
                    page,
                    kind=spec.kind,
                    source=_paper_source(spec),
                    origin=fetched.origin,
                    today=today,
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
        reports.append(
            SourceReport(
                spec.label, spec.kind, True, len(found), time.monotonic() - started, None, problems
            )
        )
    return Collected(merge_papers(papers), tuple(reports))


def collect_edition(target: EditionRequest, client: httpx.Client) -> Collected:
    """The papers of one edition, from its sources as of the edition's moment."""
    digest = target.digest
    return collect_papers(
        target.sources,
        period=digest.period,
        now=edition_moment(digest, target.edition_date, target.now),
        today=target.edition_date,
        client=client,
    )


def _paper_source(spec: SourceSpec) -> str:
    """The name papers carry in ``sources``: empty for a sniffed file (the kind found)."""
    return "" if spec.kind == "auto" and spec.name == "auto" else spec.name


def choose_transport(config: Config, request: SendRequest, edition: Edition) -> Transport:
    """SMTP when a host is configured; otherwise (or with --out/--dry-run) an outbox folder."""
    if request.out_dir is not None:
        return OutboxTransport(request.out_dir)
    if request.dry_run or not config.smtp.host:
        return OutboxTransport(config.outbox / f"{edition.digest}-{edition.date.isoformat()}")
    return SmtpTransport(config.smtp)


def signing_secret(config: Config, transport: Transport) -> str:
    if config.secret:
        return config.secret
    if isinstance(transport, SmtpTransport):
        raise ConfigError(
            "DIGEST_SECRET is not set: unsubscribe links in real emails must be signed",
            hint="set it to a long random string, e.g. the output of: openssl rand -hex 32",
        )
    return DEV_SECRET


def send_edition(
    config: Config, store: Store, request: SendRequest, client: httpx.Client
) -> SendResult:
    """The whole job: collect → compose → deliver → report."""
    started = datetime.now(UTC)
    target, edition = request.target, request.target.edition
    test_send = bool(request.to)
    ledger = None if (request.dry_run or test_send) else store
    with store.exclusive(f"send-{edition.digest}") if ledger else nullcontext():
        collected = collect_edition(target, client)
        transport = choose_transport(config, request, edition)
        secret = signing_secret(config, transport)
        subs = recipients(store, target.digest, request.to)
        history = History() if test_send else store.history(edition.key)
        emails, skipped = compose(
            target, subs, collected.papers, config=config, history=history, secret=secret
        )
        if ledger is not None and emails:
            store.save_edition(edition, collected.papers)
        policy = RetryPolicy(retries=config.smtp.retries)
        delivered = asyncio.run(deliver_all(edition.key, emails, transport, ledger, policy))
        report = RunReport(
            digest=edition.digest,
            edition_date=edition.date,
            started_at=started,
            finished_at=datetime.now(UTC),
            dry_run=request.dry_run,
            sources=collected.sources,
            deliveries=delivered + skipped,
            note=_note(collected, subs, skipped),
        )
        if ledger is not None:
            store.save_run(report)
    return SendResult(report, emails, transport.description)


def _note(collected: Collected, subs: Sequence[Subscriber], skipped: Sequence[Delivery]) -> str:
    """Why a run sent nothing (empty when it sent something)."""
    if not collected.papers:
        failed = [s.name for s in collected.sources if not s.ok]
        return f"no papers: sources failed ({', '.join(failed)})" if failed else "no new papers"
    if not subs:
        return "no confirmed subscribers for this digest"
    if len(skipped) < len(subs):
        return ""
    if all(d.reason == ALREADY_DELIVERED for d in skipped):
        return "every subscriber already got this edition"
    return "nothing new for any subscriber"
