"""Who an edition goes to, and what each reader was already shown: the store's half of
composing, so that :mod:`digest.pipeline.compose` reads no store.

One rule for "already shown", whatever asks: a send (for every reader at once, through
:meth:`Store.history`), a preview and ``digest rank --subscriber`` (one reader): the papers
that editions other than this one sent, or may have sent, to the reader.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from digest.config import Config, DigestConfig
from digest.errors import InputError
from digest.models import DeliveryStatus, Paper, Subscriber
from digest.pipeline.compose import EditionRequest, preview_email, receives, test_recipient
from digest.store import History, Store


def recipients(store: Store, digest: DigestConfig, to: Sequence[str]) -> tuple[Subscriber, ...]:
    """Confirmed subscribers of the digest, or the ``--to`` addresses for a test send."""
    if to:
        return tuple(store.get_subscriber(a) or test_recipient(a) for a in to)
    return tuple(s for s in store.list_subscribers() if receives(s, digest))


def subscriber_named(store: Store, email: str) -> Subscriber:
    """The subscriber ``email`` names; one InputError when there is none (``preview`` and
    ``rank --subscriber`` show a reader's own email, not a stranger's)."""
    sub = store.get_subscriber(email)
    if sub is None:
        raise InputError(
            f"no subscriber {email} in {store.location}", hint="see: digest subscribers list"
        )
    return sub


def already_shown(
    store: Store, email: str, candidates: Iterable[str], edition: str
) -> frozenset[str]:
    """Which of ``candidates`` editions other than ``edition`` (its key) showed ``email``:
    this edition's own email may already have gone out, and still counts as unseen."""
    return store.shown_papers(email, candidates, besides=edition)


def history(
    store: Store,
    edition: str,
    papers: Sequence[Paper],
    *,
    test: bool,
    retry: Collection[DeliveryStatus],
) -> History:
    """What the ledger forbids or remembers for a send; a test send (``--to``) ignores it."""
    if test:
        return History()
    return store.history(edition, (p.id for p in papers), retry=retry)


def preview_html(
    config: Config,
    store: Store,
    target: EditionRequest,
    papers: Sequence[Paper],
    address: str,
    now: datetime,
) -> str:
    """The HTML part of the email ``address`` would get (any address: a stranger sees all)."""
    sub = store.get_subscriber(address) or test_recipient(address)
    shown = already_shown(store, sub.email, [p.id for p in papers], target.edition.key)
    return preview_email(config, target, papers, sub, shown, now)
