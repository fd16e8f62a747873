"""Who an edition goes to, and what each reader was already shown: the store's half of
composing, so that :mod:`digest.pipeline.compose` reads no store.

One rule for "already shown", whatever asks: a send (for every reader at once, through
:meth:`Store.history`), a preview and ``digest rank --subscriber`` (one reader): the papers
that editions other than this one sent, or may have sent, to the reader.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TypeVar, cast

from digest.config import Config, DigestConfig
from digest.errors import InputError
from digest.models import DeliveryStatus, Paper, Subscriber
from digest.pipeline.compose import EditionRequest, preview_email, test_recipient
from digest.store import History, Store
from digest.subscribers import address_key
from digest.subscribers.rules import receives


def recipients(store: Store, digest: DigestConfig, to: Sequence[str]) -> tuple[Subscriber, ...]:
    """Confirmed subscribers of the digest, or the ``--to`` addresses for a test send."""
    if to:
        return tuple(store.get_subscriber(a) or test_recipient(a) for a in to)
    return tuple(s for s in store.list_subscribers() if receives(s, digest))


class Share:
    """The readers one run sends to, a block at a time, each block with what the ledger says
    of its readers: streamed, so that memory does not grow with the list. Counts what it
    met as it goes (for the run's note)."""

    def __init__(
        self,
        blocks: Iterable[Sequence[Subscriber]],
        keep: Callable[[Subscriber], bool],
        due: Callable[[Subscriber], bool] | None,
        history: Callable[[Sequence[Subscriber]], History],
    ) -> None:
        self._blocks, self._keep, self._due, self._history = blocks, keep, due, history
        self.readers = 0  # the digest's readers met (due now or not)
        self.due = 0  # of those, the ones this run sends to (their window has come)

    def __iter__(self) -> Iterator[tuple[Sequence[Subscriber], History]]:
        for block in self._blocks:
            readers = [s for s in block if self._keep(s)]
            due = readers if self._due is None else [s for s in readers if self._due(s)]
            self.readers += len(readers)
            self.due += len(due)
            if due:
                yield due, self._history(due)


T = TypeVar("T")
_END = object()


def read_ahead(items: Iterable[T]) -> Generator[T, None, None]:
    """``items``, each read in one other thread while the one before is used: a sender
    composes a page of readers while the next page and its history come from the database,
    instead of the event loop waiting for them. Exactly one item ahead (the next is asked
    for only once this one was taken); an error reading it is raised where it would have
    been, at the next item. Closing it (or an error in the caller) waits for the read in
    flight, so nothing reads behind the caller's back once it is closed."""
    source = iter(items)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-read-ahead") as reader:
        pending = reader.submit(next, source, _END)
        while (item := pending.result()) is not _END:
            pending = reader.submit(next, source, _END)
            yield cast(T, item)


def send_share(
    store: Store,
    blocks: Iterable[Sequence[Subscriber]],
    target: EditionRequest,
    papers: Sequence[Paper],
    *,
    due: Callable[[Subscriber], bool] | None = None,
    retry: Collection[DeliveryStatus] = (),
) -> Share:
    """The readers of the digest among ``blocks`` (those ``due`` now, when given), each
    block with its ledger history: what a real send or a dry run goes through."""
    candidates = tuple(p.id for p in papers)

    def history(subs: Sequence[Subscriber]) -> History:
        keys = [address_key(s.email) for s in subs]
        return store.history(target.edition.key, candidates, retry=retry, readers=keys)

    return Share(blocks, lambda sub: receives(sub, target.digest), due, history)


def test_share(store: Store, to: Sequence[str]) -> Share:
    """The readers of a test send: the ``--to`` addresses (a subscriber's own record where
    there is one), whatever their state; the ledger is ignored."""
    subs = tuple(store.get_subscriber(a) or test_recipient(a) for a in to)
    return Share([subs], lambda sub: True, None, lambda subs: History())


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
