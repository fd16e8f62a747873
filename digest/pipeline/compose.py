"""Compose: one email per reader, the half of the pipeline where rank and render meet.

For each reader: leave out what they were already shown, rank the rest, and render the
email with their own signed links. :mod:`digest.pipeline` calls this for a send, the CLI for
a preview. It reads no store: who the readers are and what they were shown is handed in
(:mod:`digest.pipeline.readers`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from digest.config import Config, DigestConfig
from digest.config.sources import SourceSpec
from digest.errors import InputError
from digest.links import (
    DEV_SECRET,
    PREFERENCES,
    UNSUBSCRIBE,
    UNSUBSCRIBE_MAILTO,
    VERP,
    WEB_VERSION,
    make_mail_token,
    make_token,
    tagged_address,
)
from digest.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    Email,
    Links,
    Paper,
    Subscriber,
)
from digest.rank import Ranker, Ranking, RankSettings, Reader, rank
from digest.render import RenderSettings, render_preview_html
from digest.render.dkim import DkimSigner
from digest.render.edition import EditionRenderer
from digest.render.template import template_env
from digest.store import History, LedgerEntry
from digest.store.ledger import INTERRUPTED

ALREADY_DELIVERED = "already delivered in an earlier run"
RANK_BLOCK = 512  # readers ranked together: one matrix product per block


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


def rank_settings(digest: DigestConfig, size: int | None = None) -> RankSettings:
    """The digest's ranking settings from ``schedules.yaml`` (``size``: the digest's)."""
    return RankSettings(
        size=size or digest.size,
        half_life_days=digest.half_life_days,
        topic_mode=digest.topic_mode,
        min_relevance=digest.min_relevance,
        period=digest.period,
    )


def rank_for(
    target: EditionRequest, papers: Sequence[Paper], reader: Reader, *, size: int | None = None
) -> Ranking:
    """What one reader's email of this edition would show (``size``: the digest's)."""
    settings = rank_settings(target.digest, size)
    return rank(papers, reader, today=target.edition_date, settings=settings)


def preview_email(
    config: Config,
    target: EditionRequest,
    papers: Sequence[Paper],
    sub: Subscriber,
    shown: frozenset[str],
    now: datetime,
) -> str:
    """The HTML part of the email ``sub`` would get, leaving out the papers in ``shown``."""
    ranking = rank_for(target, papers, Reader.of(sub, shown))
    if not ranking.papers:
        raise InputError(
            f"nothing to preview for {sub.email} in {target.edition.key}: {ranking.why_empty}"
        )
    edition = target.edition
    links = make_links(config, config.secret or DEV_SECRET, sub, edition)
    settings = render_settings(config, target.digest)
    return render_preview_html(
        edition, sub, ranking.papers, links, settings, now, template_env(config)
    )


def make_links(config: Config, secret: str, sub: Subscriber, edition: Edition) -> Links:
    unsub = make_token(secret, UNSUBSCRIBE, sub.id, edition.digest)
    prefs = make_token(secret, PREFERENCES, sub.id, edition.digest)
    own = make_token(secret, WEB_VERSION, sub.id, edition.digest)  # the reader's own email
    mailto = config.sender.unsubscribe_mailto
    if mailto:
        mailto = tagged(mailto, secret, UNSUBSCRIBE_MAILTO, sub, edition) or mailto
    envelope_from = config.sender.envelope_from
    return Links(
        unsubscribe_url=f"{config.base_url}/unsubscribe/{unsub}",
        unsubscribe_mailto=f"mailto:{mailto}?subject=unsubscribe" if mailto else None,
        preferences_url=f"{config.base_url}/preferences/{prefs}",
        archive_url=f"{config.base_url}/archive/{edition.digest}/{edition.date.isoformat()}"
        f"/for/{own}",
        return_path=tagged(envelope_from, secret, VERP, sub, edition) if envelope_from else None,
    )


def tagged(
    address: str, secret: str, purpose: str, sub: Subscriber, edition: Edition
) -> str | None:
    """``address`` with a token naming (reader, edition) in its local part (VERP), so that
    mail coming back to it says which delivery it is about; None when it would not fit in
    a local part (a very long subscriber id): the plain address is used then."""
    if not sub.id:
        return None
    return tagged_address(address, make_mail_token(secret, purpose, sub.id, edition.key))


def render_settings(config: Config, digest: DigestConfig) -> RenderSettings:
    return RenderSettings(
        from_address=config.sender.from_address,
        envelope_from=config.sender.envelope_from or "",
        reply_to=config.sender.reply_to,
        postal_address=config.sender.postal_address,
        list_id=f"{digest.name}.{config.sender.domain}",
        base_url=config.base_url,
        period=digest.period,
        thumbnails=digest.thumbnails,
    )


def test_recipient(address: str) -> Subscriber:
    """Who ``--to`` (or a preview) sends to when the address is no subscriber."""
    return Subscriber(email=address, id="test-" + hashlib.sha256(address.encode()).hexdigest()[:12])


class Composer:
    """Composes one edition's emails: indexes the edition's papers once, ranks readers a
    block at a time (each leaving out what they were shown), and renders each reader's email
    with their own signed links."""

    def __init__(
        self,
        target: EditionRequest,
        papers: Sequence[Paper],
        *,
        config: Config,
        secret: str,
        signer: DkimSigner | None = None,
        now: datetime | None = None,
    ) -> None:
        self.target, self.config, self.secret = target, config, secret
        self.edition = target.edition
        self.papers = tuple(papers)
        self._ranker = Ranker(
            self.papers, today=target.edition_date, settings=rank_settings(target.digest)
        )
        self._renderer = EditionRenderer(
            self.edition,
            render_settings(config, target.digest),
            template_env(config),
            now or datetime.now(UTC),
            signer=signer,
        )

    def compose(self, sub: Subscriber, history: History) -> Email | Delivery:
        """The reader's email, or why they get none this time."""
        return next(self.compose_all([sub], history))

    def compose_all(
        self, subs: Iterable[Subscriber], history: History
    ) -> Iterator[Email | Delivery]:
        """Lazily, one item per subscriber: readers are ranked a block at a time and nothing
        is rendered before it is needed."""
        return self.compose_blocks([(tuple(subs), history)])

    def compose_blocks(
        self, blocks: Iterable[tuple[Sequence[Subscriber], History]]
    ) -> Iterator[Email | Delivery]:
        """:meth:`compose_all` for readers that come a block at a time, each block with what
        the ledger says of its readers (a send streams its share of the list this way)."""
        for readers, history in blocks:
            yield from self._compose_block(readers, history)

    def _compose_block(
        self, subs: Sequence[Subscriber], history: History
    ) -> Iterator[Email | Delivery]:
        for start in range(0, len(subs), RANK_BLOCK):
            block = subs[start : start + RANK_BLOCK]
            earlier = [history.earlier_delivery(s.email) for s in block]
            readers = [
                Reader.of(s, history.shown_to(s.email))
                for s, e in zip(block, earlier, strict=True)
                if e is None
            ]
            rankings = iter(self._ranker.rank(readers))
            for sub, settled in zip(block, earlier, strict=True):
                if settled is not None:
                    yield _settled(self.edition, sub, settled)
                else:
                    yield self._email(sub, next(rankings))

    def _email(self, sub: Subscriber, ranking: Ranking) -> Email | Delivery:
        if not ranking.papers:
            status = DeliveryStatus.SKIPPED
            return Delivery(self.edition.key, sub.email, status, "", ranking.why_empty)
        links = make_links(self.config, self.secret, sub, self.edition)
        return self._renderer.render(sub, ranking.papers, links)


def _settled(edition: Edition, sub: Subscriber, earlier: LedgerEntry) -> Delivery:
    """How a reader this edition already reached (or may have reached) is reported."""
    if earlier.status == DeliveryStatus.UNKNOWN:
        status, reason = DeliveryStatus.UNKNOWN, earlier.reason or INTERRUPTED
    elif earlier.status == DeliveryStatus.SENT:
        status, reason = DeliveryStatus.SKIPPED, ALREADY_DELIVERED
    else:
        status = DeliveryStatus.SKIPPED
        reason = f"already {earlier.status.value} in an earlier run: {earlier.reason}"
    return Delivery(edition.key, sub.email, status, earlier.message_id, reason)
