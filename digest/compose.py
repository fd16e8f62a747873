"""Compose: one email per reader, the half of the pipeline where rank and render meet.

For each reader: leave out what they were already shown, rank the rest, and render the
email with their own signed links. :mod:`digest.pipeline` calls this for a send, the CLI for
a preview.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import jinja2

from digest.config import Config, DigestConfig
from digest.errors import InputError
from digest.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    Email,
    Links,
    Paper,
    RankedPaper,
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
from digest.sources import SourceSpec
from digest.store import History, Store
from digest.tokens import PREFERENCES, UNSUBSCRIBE, make_token

DEV_SECRET = "insecure-development-secret"
ALREADY_DELIVERED = "already delivered in an earlier run"


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
    return RenderSettings(
        from_address=config.sender.from_address,
        envelope_from=config.sender.envelope_from or "",
        reply_to=config.sender.reply_to,
        postal_address=config.sender.postal_address,
        list_id=f"{digest.name}.{config.sender.domain}",
        base_url=config.base_url,
    )


def template_env(config: Config) -> jinja2.Environment:
    dirs = [d for d in (config.templates, SHIPPED_TEMPLATES) if d is not None]
    return make_environment(dirs)


def recipients(store: Store, digest: DigestConfig, to: Sequence[str]) -> tuple[Subscriber, ...]:
    """Confirmed subscribers of the digest, or the ``--to`` addresses for a test send."""
    if to:
        return tuple(_test_recipient(store, address) for address in to)
    return tuple(s for s in store.list_subscribers() if _receives(s, digest))


def _receives(sub: Subscriber, digest: DigestConfig) -> bool:
    """Confirmed, subscribed to this digest, and (weekly readers) not a daily digest."""
    if sub.status != Status.CONFIRMED or not sub.wants(digest.name):
        return False
    return not (sub.cadence == "weekly" and digest.period == "day")


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
    history: History,
    secret: str,
) -> tuple[tuple[Email, ...], tuple[Delivery, ...]]:
    """One email per subscriber with something new to read; a skip for the others.

    ``history`` leaves out what each reader was shown and who already got this edition; an
    empty one (a test send) shows the whole edition to everyone."""
    edition = target.edition
    env, settings = template_env(config), render_settings(config, target.digest)
    now = datetime.now(UTC)
    emails: list[Email] = []
    skipped: list[Delivery] = []
    for sub in subs:
        done = history.delivered_to(sub.email)
        ranked = () if done else rank_for(target, papers, history.shown_to(sub.email))
        if not ranked:
            skipped.append(_skip(edition, sub, papers, done))
            continue
        links = make_links(config, secret, sub, edition)
        emails.append(render_email(edition, sub, ranked, links, settings, now, env))
    return tuple(emails), tuple(skipped)


def _skip(edition: Edition, sub: Subscriber, papers: Sequence[Paper], done: bool) -> Delivery:
    if done:
        reason = ALREADY_DELIVERED
    else:
        reason = "no papers in this edition" if not papers else "nothing new for this reader"
    return Delivery(edition.key, sub.email, DeliveryStatus.SKIPPED, "", reason)
