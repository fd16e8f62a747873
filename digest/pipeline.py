"""The pipeline, top to bottom: the only place where the stages meet.

collect_papers   fetch each source, parse it, merge what came back
compose          per subscriber: rank what they have not seen, render one email
send_edition     deliver through the ledger (or write .eml files for a dry run)
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as clock
from pathlib import Path

import httpx
import jinja2

from digest import parse
from digest.config import Config, DigestConfig
from digest.errors import ConfigError, FetchError, InputError, ParseError
from digest.fetch import fetch_source
from digest.merge import merge_papers
from digest.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    Email,
    Links,
    Paper,
    RankedPaper,
    RunReport,
    SourceReport,
    Status,
    Subscriber,
)
from digest.rank import RankSettings, rank_trending
from digest.render import (
    SHIPPED_TEMPLATES,
    RenderSettings,
    make_environment,
    render_email,
    render_preview_html,
)
from digest.send import OutboxTransport, RetryPolicy, SmtpTransport, Transport, deliver_all
from digest.sources import SourceSpec
from digest.store import Store
from digest.tokens import PREFERENCES, UNSUBSCRIBE, make_token

DEV_SECRET = "insecure-development-secret"
ALREADY_DELIVERED = "already delivered in an earlier run"


@dataclass(frozen=True, slots=True)
class Collected:
    papers: tuple[Paper, ...]
    sources: tuple[SourceReport, ...]


@dataclass(frozen=True, slots=True)
class EditionRequest:
    """Which edition a command works on, and from which sources."""

    digest: DigestConfig
    edition_date: date
    now: datetime
    sources: tuple[SourceSpec, ...]

    @property
    def edition(self) -> Edition:
        return Edition(self.digest.name, self.edition_date, self.digest.title)


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
    out_dir: Path | None
    transport: str


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


def rank_for(
    target: EditionRequest, papers: Sequence[Paper], shown: frozenset[str] = frozenset()
) -> tuple[RankedPaper, ...]:
    """What one reader's email of this edition would show."""
    digest = target.digest
    settings = RankSettings(size=digest.size, half_life_days=digest.half_life_days)
    return rank_trending(papers, today=target.edition_date, shown=shown, settings=settings)


def preview_html(
    config: Config, store: Store, target: EditionRequest, papers: Sequence[Paper], address: str
) -> str:
    """The HTML part of the email ``address`` would get (any address: a stranger sees all)."""
    sub = _test_recipient(store, address)
    ranked = rank_for(target, papers, store.shown_papers(sub.email))
    if not ranked:
        raise InputError(f"nothing to preview: no new papers for {address} in {target.edition.key}")
    edition = target.edition
    links = make_links(config, config.secret or DEV_SECRET, sub, edition)
    settings = render_settings(config, target.digest)
    return render_preview_html(
        edition, sub, ranked, links, settings, datetime.now(UTC), template_env(config)
    )


def _paper_source(spec: SourceSpec) -> str:
    """The name papers carry in ``sources``: empty for a sniffed file (the kind found)."""
    return "" if spec.kind == "auto" and spec.name == "auto" else spec.name


def make_links(config: Config, secret: str, sub: Subscriber, edition: Edition) -> Links:
    unsub = make_token(secret, UNSUBSCRIBE, sub.id, edition.digest)
    prefs = make_token(secret, PREFERENCES, sub.id, edition.digest)
    mailto = config.sender.unsubscribe_mailto
    return Links(
        unsubscribe_url=f"{config.base_url}/unsubscribe/{unsub}",
        unsubscribe_mailto=f"mailto:{mailto}?subject=unsubscribe" if mailto else None,
        preferences_url=f"{config.base_url}/preferences/{prefs}",
        archive_url=f"{config.base_url}/archive/{edition.digest}/{edition.date.isoformat()}",
    )


def render_settings(config: Config, digest: DigestConfig) -> RenderSettings:
    domain = config.sender.from_address.rsplit("@", 1)[-1].strip("> ")
    return RenderSettings(
        from_address=config.sender.from_address,
        envelope_from=config.sender.envelope_from or _bare(config.sender.from_address),
        reply_to=config.sender.reply_to,
        postal_address=config.sender.postal_address,
        list_id=f"{digest.name}.{domain}",
        base_url=config.base_url,
    )


def template_env(config: Config) -> jinja2.Environment:
    dirs = [d for d in (config.templates, SHIPPED_TEMPLATES) if d is not None]
    return make_environment(dirs)


def recipients(store: Store, digest: DigestConfig, to: Sequence[str]) -> tuple[Subscriber, ...]:
    """Confirmed subscribers of the digest, or the ``--to`` addresses for a test send."""
    if to:
        return tuple(_test_recipient(store, address) for address in to)
    return tuple(
        s for s in store.list_subscribers() if s.status == Status.CONFIRMED and s.wants(digest.name)
    )


def _test_recipient(store: Store, address: str) -> Subscriber:
    known = store.get_subscriber(address)
    if known is not None:
        return known
    return Subscriber(email=address, id="test-" + hashlib.sha256(address.encode()).hexdigest()[:12])


def compose(
    target: EditionRequest,
    subs: Sequence[Subscriber],
    papers: Sequence[Paper],
    *,
    config: Config,
    history: Store | None,
    secret: str,
) -> tuple[tuple[Email, ...], tuple[Delivery, ...]]:
    """One email per subscriber with something new to read; a skip for the others.

    ``history`` (read only) leaves out what each reader was shown and who already got this
    edition; None (a test send) shows the whole edition to everyone."""
    edition = target.edition
    env, settings = template_env(config), render_settings(config, target.digest)
    done = history.delivered(edition.key) if history is not None else frozenset()
    now = datetime.now(UTC)
    emails: list[Email] = []
    skipped: list[Delivery] = []
    for sub in subs:
        shown = history.shown_papers(sub.email) if history is not None else frozenset()
        ranked = () if sub.email.casefold() in done else rank_for(target, papers, shown)
        if not ranked:
            skipped.append(_skip(edition, sub, papers, done))
            continue
        links = make_links(config, secret, sub, edition)
        emails.append(render_email(edition, sub, ranked, links, settings, now, env))
    return tuple(emails), tuple(skipped)


def _skip(
    edition: Edition, sub: Subscriber, papers: Sequence[Paper], done: frozenset[str]
) -> Delivery:
    if sub.email.casefold() in done:
        reason = ALREADY_DELIVERED
    else:
        reason = "no papers in this edition" if not papers else "nothing new for this reader"
    return Delivery(edition.key, sub.email, DeliveryStatus.SKIPPED, "", reason)


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
        history = None if test_send else store
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
    out = transport.folder if isinstance(transport, OutboxTransport) else None
    return SendResult(report, emails, out, transport.description)


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


def _bare(address: str) -> str:
    return address.rsplit("<", 1)[-1].rstrip(">").strip()
