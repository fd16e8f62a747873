"""What a store must do: the operations every backend implements, and the records they trade.

The embedded backend is :class:`digest.store.tinydb.TinyStore` (one TinyDB file and a ledger
folder per edition). A second backend implements :class:`Store` and passes the contract suite
(``tests/test_store_contract.py``), which holds everything the rest of digest relies on:

- every operation is one transaction: all of it or none, whoever else writes at once;
- a delivery is claimed (``sending``) durably before its SMTP transaction and settled after
  it; what a killed run left claimed becomes ``unknown`` when the ledger is next opened;
- ``exclusive(name)`` is held by one process at a time, across processes (and hosts, for a
  server backend), and ``holder(name)`` says who holds it; a lock a server can let go of
  behind the holder's back (its connection dropped) calls ``on_lost`` once another process
  took it;
- ``change_token()`` differs after any write that changes who may be mailed.
"""

from __future__ import annotations

from collections.abc import (
    Callable,
    Collection,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol

from digest.config import DigestConfig
from digest.models import (
    Choices,
    Delivery,
    DeliveryStatus,
    Edition,
    Ledger,
    MailEvent,
    Paper,
    RunReport,
    Status,
    Subscriber,
)
from digest.store.counts import DeliveryCounts, ReaderCounts, ReaderSample
from digest.store.http_cache import HttpCache
from digest.subscribers import address_key
from digest.subscribers.rules import Request

#: Deliveries that must never be attempted again for the same edition.
FINAL = frozenset(
    {DeliveryStatus.SENT, DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN, DeliveryStatus.FAILED}
)
#: Deliveries whose papers count as shown to the reader (sent, or possibly sent).
SHOWN = frozenset({DeliveryStatus.SENT, DeliveryStatus.UNKNOWN, DeliveryStatus.SENDING})
#: The note of an honest empty day (no papers from sources that all answered).
NO_NEW_PAPERS = "no new papers"


#: The tables of a store's dump (:meth:`Store.dump`), in the order a copy writes them. Each
#: row is a document as the embedded store keeps it: ``subscribers`` as
#: :func:`digest.store.documents.subscriber_doc` makes them (with ``hard_bounces`` and any
#: other counters the store keeps), ``papers`` as ``Paper.to_json``, ``editions`` with
#: ``key, digest, date, title, paper_ids``, ``deliveries`` as the ledger's documents plus
#: their ``edition`` key, ``runs`` as :func:`digest.store.migrations.run_doc` makes them
#: (plus ``round`` and ``sender``), ``events`` as the mail events are kept.
DUMP_TABLES = ("subscribers", "papers", "editions", "deliveries", "runs", "events")


class SaveOutcome(StrEnum):
    """What saving a subscriber did."""

    ADDED = "added"
    UPDATED = "updated"
    SUPPRESSED = "suppressed"  # unsubscribed, bounced or complained: left alone


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """The latest state of one (edition, subscriber) delivery."""

    email: str
    status: DeliveryStatus
    message_id: str = ""
    reason: str = ""
    paper_ids: tuple[str, ...] = ()
    attempts: int = 0
    bounce: bool = False  # failed because the address does not exist (a hard bounce)
    updated_at: str = ""

    def delivery(self, edition: str) -> Delivery:
        when = datetime.fromisoformat(self.updated_at) if self.updated_at else None
        return Delivery(edition, self.email, self.status, self.message_id, self.reason, when)


@dataclass(frozen=True, slots=True)
class History:
    """What the ledger says at the start of a run; empty for a test send, which ignores it."""

    earlier: Mapping[str, LedgerEntry] = field(default_factory=dict)  # key -> final delivery
    shown: Mapping[str, frozenset[str]] = field(default_factory=dict)  # key -> paper ids

    def earlier_delivery(self, email: str) -> LedgerEntry | None:
        """This edition's earlier delivery to ``email`` that forbids sending it again."""
        return self.earlier.get(address_key(email))

    def shown_to(self, email: str) -> frozenset[str]:
        return self.shown.get(address_key(email), frozenset())


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One recorded run, as ``digest history`` and the schedule read it back."""

    digest: str
    edition_date: date
    started_at: datetime
    finished_at: datetime
    ok: bool
    note: str = ""
    dry_run: bool = False
    scheduled_at: datetime | None = None  # the scheduled run it was for (None: by hand)
    missed: bool = False  # a scheduled run that came too late: nothing was made
    empty: bool = False  # an honest empty day: every source answered, none had papers
    counts: Mapping[str, int] = field(default_factory=dict)  # deliveries by status
    sources: tuple[Mapping[str, Any], ...] = ()  # per source: name, kind, ok, papers, error…
    problems: tuple[Mapping[str, Any], ...] = ()  # deliveries not sent: email, status, reason
    round: str = ""  # the send round (one per edition send, shared by every sender in it)
    sender: str = ""  # "host pid N": which of a round's senders made this run

    @property
    def papers(self) -> int:
        return sum(int(s.get("papers", 0)) for s in self.sources)


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds an exclusive lock: this process, or another one (its pid when known)."""

    here: bool
    pid: int | None = None
    host: str | None = None  # when the store knows it (PostgreSQL: from lock_holders)

    def __str__(self) -> str:
        return f" (pid {self.pid})" if self.pid else ""


#: Called (in a thread of the store's) when ``exclusive(name)`` was lost to another process
#: while held: the work it guards must stop. It is given who holds the lock now.
OnLost = Callable[[Holder], None]


@dataclass(frozen=True, slots=True)
class EventEffect:
    """What recording a new :class:`~digest.models.MailEvent` did to its reader."""

    status: Status | None = None  # the reader's new status (bounced, complained), if it changed
    paused: bool = False  # paused now (soft bounces on ``soft_limit`` editions in a row)
    unsubscribed: bool = False  # left the digest (a mailto unsubscribe)


class Send(Protocol):
    """One sender's part in sending one edition, from :meth:`Store.sending`.

    Several senders (processes, hosts) may share one edition when the store allows it
    (``Store.many_senders``): the first to start a round fixes the edition's papers, and
    each takes its share of the readers a block at a time, so that no reader is given to
    two senders and none is left out (a block a dead sender held is taken over)."""

    @property
    def round(self) -> str:
        """The send round this sender is part of."""
        ...

    @property
    def papers(self) -> tuple[Paper, ...]:
        """The edition's papers, as the round's first sender fixed them."""
        ...

    @property
    def ledger(self) -> Ledger:
        """Claims (``sending``) and settles each delivery, durably."""
        ...

    def blocks(self, size: int) -> Iterator[Sequence[Subscriber]]:
        """This sender's share of the subscribers (every status: the caller filters), in
        blocks of at most ``size``, each claimed for this sender when it is handed out."""
        ...


class Store(Protocol):
    """The operations of a store. Each is one transaction; every method may raise
    StoreError (unreachable, locked too long, corrupt), never anything else."""

    location: str  # where it is, for messages (a path, or a URL without its password)
    many_senders: bool  # several processes may send one edition at once (else: exclusive)
    indexed: bool  # a lookup by key or id is O(log n) (else it reads the whole store)

    # subscribers
    def get_subscriber(self, email: str) -> Subscriber | None: ...
    def get_subscriber_by_id(self, sub_id: str) -> Subscriber | None: ...
    def list_subscribers(self) -> tuple[Subscriber, ...]: ...
    def subscriber_pages(self, size: int) -> Iterator[Sequence[Subscriber]]:
        """Every subscriber in key order, ``size`` at most at a time (all at once where the
        store is read whole anyway): what reads the whole list without holding it."""
        ...

    def save_subscriber(
        self, sub: Subscriber, *, resubscribe: bool = False
    ) -> tuple[Subscriber, SaveOutcome]: ...
    def save_subscribers(
        self, subs: Iterable[Subscriber], *, resubscribe: bool = False
    ) -> list[tuple[Subscriber, SaveOutcome]]: ...
    def set_status(self, email: str, status: Status) -> Subscriber | None: ...
    def suppressed(self) -> frozenset[str]: ...

    # the readers' own actions (rules in digest.subscribers.rules)
    def request_subscription(
        self, email: str, choices: Choices, *, now: datetime, consent: str
    ) -> tuple[Subscriber, Request]: ...
    def confirm_subscription(
        self, sub_id: str, *, now: datetime
    ) -> tuple[Subscriber, bool] | None: ...
    def unsubscribe(
        self, sub_id: str, digest: str | None, known_digests: Sequence[str]
    ) -> tuple[Subscriber, bool] | None: ...
    def update_preferences(
        self, sub_id: str, choices: Choices, *, paused: bool
    ) -> tuple[Subscriber, bool] | None: ...
    def expire_pending(self, before: datetime) -> int: ...

    # editions and papers
    def save_edition(self, edition: Edition, papers: Iterable[Paper]) -> None: ...
    def edition_papers(self, edition: Edition) -> tuple[Paper, ...] | None: ...
    def latest_editions(
        self, digest: str, *, limit: int, before: date | None = None
    ) -> tuple[tuple[Edition, tuple[Paper, ...]], ...]: ...

    # deliveries and the ledger
    def sending(
        self, edition: Edition, papers: Sequence[Paper], *, sender: str
    ) -> AbstractContextManager[Send]: ...
    def deliveries(self, edition: str) -> tuple[Delivery, ...]: ...
    def history(
        self,
        edition: str,
        candidates: Iterable[str],
        *,
        retry: Collection[DeliveryStatus] = (),
        readers: Collection[str] | None = None,
    ) -> History: ...
    def shown_papers(
        self, email: str, candidates: Iterable[str], besides: str | None = None
    ) -> frozenset[str]: ...

    def waiting_zones(self, edition: str, digest: DigestConfig) -> Mapping[str, int]: ...

    # counts for the operator's commands (digest check, stats, history --edition: counts.py)
    def readers_outside(
        self, digests: Collection[str], *, status: Status, cadence: str, sample: int
    ) -> ReaderSample: ...
    def reader_counts(
        self, digests: Sequence[str], *, since: Sequence[datetime]
    ) -> ReaderCounts: ...
    def delivery_counts(self, edition: str) -> DeliveryCounts: ...
    def unreached(self, edition: str, digest: str) -> Iterator[Subscriber]: ...
    def unsent(self, edition: str) -> tuple[Delivery, ...]: ...
    def delivered(self, edition: str, emails: Collection[str]) -> frozenset[str]: ...

    # runs and bounces
    def finish_run(
        self, report: RunReport, *, bounced: Iterable[str], delivered: Iterable[str], limit: int
    ) -> tuple[str, ...]: ...
    def record_bounces(
        self, bounced: Iterable[str], delivered: Iterable[str], limit: int
    ) -> tuple[str, ...]: ...
    def runs(self, digest: str | None = None) -> tuple[RunRecord, ...]: ...

    # mail that came back (digest.inbound, the provider webhooks)
    def record_event(
        self,
        event: MailEvent,
        *,
        bounce_limit: int,
        soft_limit: int,
        known_digests: Sequence[str] = (),
    ) -> EventEffect | None: ...
    def mail_events(
        self, *, since: datetime | None = None, edition: str | None = None
    ) -> tuple[MailEvent, ...]: ...
    def delivery_by_message_id(self, message_id: str) -> tuple[str, str] | None: ...

    # fetched pages, for conditional GET (read_only: the commands that write nothing)
    def http_cache(self, *, read_only: bool = False) -> HttpCache: ...

    # a whole store, for ``digest store copy`` (rows in the embedded layout: see DUMP_TABLES)
    def dump(self) -> Iterator[tuple[str, dict[str, Any]]]: ...
    def load(self, rows: Iterable[tuple[str, dict[str, Any]]]) -> Mapping[str, int]: ...
    def migrate(self) -> tuple[str, ...]: ...

    # coordination and health
    def exclusive(
        self, name: str, *, on_lost: OnLost | None = None
    ) -> AbstractContextManager[None]: ...
    def holder(self, name: str) -> Holder | None: ...
    def change_token(self) -> Hashable: ...
    def check(self) -> None: ...
    def migrations(self) -> tuple[str, ...]: ...
