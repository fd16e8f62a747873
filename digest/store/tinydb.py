"""The embedded store: one TinyDB JSON file with subscribers, papers, editions and runs, and a
ledger folder per edition (``ledger.py``) for the deliveries.

It implements :class:`digest.store.protocol.Store`; ``files`` writes the file, ``documents``
maps records to table rows, ``migrations`` upgrades older layouts. Several processes (the
web app, the scheduler, a manual ``digest send``) may use it at once, so every operation
holds a file lock (``<store>.lock``) and every write replaces the file atomically (temp
file, fsync, rename): a process killed at any point leaves either the old file or the new
one, never half of one.

Over 300 lines because it is one class with the thirty short operations of the protocol,
each a transaction of a few lines; what they share lives beside it (``tables`` for rows,
``locks`` for exclusive runs, ``ledger`` for deliveries, ``migrations`` for layouts).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from tinydb import Query, TinyDB
from tinydb.table import Document

from digest.config import DigestConfig
from digest.errors import StoreError
from digest.models import (
    SUPPRESSED,
    Choices,
    Delivery,
    DeliveryStatus,
    Edition,
    MailEvent,
    Paper,
    RunReport,
    Status,
    Subscriber,
)
from digest.store import counts, migrations, tables, tinydump
from digest.store import documents as records
from digest.store import events as returned
from digest.store.counts import DeliveryCounts, ReaderCounts, ReaderSample
from digest.store.http_cache import HttpCache
from digest.store.ledger import EditionLedger
from digest.store.locks import FileLocks
from digest.store.protocol import (
    FINAL,
    SHOWN,
    EventEffect,
    History,
    Holder,
    OnLost,
    RunRecord,
    SaveOutcome,
)
from digest.subscribers import address_key, rules


@dataclass(frozen=True, slots=True)
class OneSender:
    """The :class:`~digest.store.protocol.Send` of the embedded store: its only sender
    takes every reader, in one round per send."""

    store: TinyStore
    papers: tuple[Paper, ...]
    ledger: EditionLedger
    round: str = ""

    def blocks(self, size: int) -> Iterator[Sequence[Subscriber]]:
        """Every reader in one block, whatever ``size``: the file is read whole anyway, and
        one block means the ledgers are read once for the whole send."""
        yield self.store.list_subscribers()


class TinyStore:
    """:class:`~digest.store.protocol.Store` over a TinyDB file; each operation is a locked
    transaction (file lock, then an atomic replace of the whole file)."""

    many_senders = False  # one ``digest send`` per digest at a time (``exclusive``)
    indexed = False  # every lookup reads the file: a batch reads it once instead

    def __init__(self, path: Path, *, lock_timeout: float = 60.0) -> None:
        self.path = path
        self.location = str(path)
        self._lock = FileLock(f"{path}.lock", timeout=lock_timeout)
        self._migrated = False
        self._locks = FileLocks(path)

    @contextmanager
    def _db(self) -> Iterator[TinyDB]:
        """One transaction; the first of this process also brings an older layout up to date."""
        with self._open() as db:
            if not self._migrated:
                self._migrate(db)
            yield db

    def _migrate(self, db: TinyDB) -> tuple[str, ...]:
        if db.storage.read() is None:  # a new store: whichever write creates it says so
            storage = db.storage
            assert isinstance(storage, tables.TableTransaction)
            storage.seed({migrations.TABLE: migrations.stamp()})
            return ()  # and the next transaction looks again: this one may write nothing
        self._migrated = True
        return migrations.apply(db, self.ledger_root)

    @contextmanager
    def _open(self) -> Iterator[TinyDB]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                db = TinyDB(str(self.path), storage=tables.TableTransaction)
                yield db
                storage = db.storage
                assert isinstance(storage, tables.TableTransaction)
                storage.commit()  # only when the operation finished: all of it or none
        except Timeout as exc:
            raise StoreError(
                f"store {self.path} is locked by another process",
                hint=f"wait for it to finish, or remove {self.path}.lock if none is running",
            ) from exc
        except OSError as exc:
            raise StoreError(f"cannot use store {self.path}: {exc.strerror or exc}") from exc

    def migrate(self) -> tuple[str, ...]:
        """Bring an older layout up to date (numbered migrations, each recorded once it ran);
        the names of those that ran now."""
        with self._open() as db:
            return self._migrate(db)

    def migrations(self) -> tuple[str, ...]:
        """The migrations recorded as applied, oldest first."""
        with self._db() as db:
            return migrations.applied(db)

    def exclusive(
        self, name: str, *, on_lost: OnLost | None = None
    ) -> AbstractContextManager[None]:
        """Held for a whole run (one ``digest send`` per digest, one scheduler per store).
        A file lock is never lost while its process lives: ``on_lost`` is never called."""
        return self._locks.exclusive(name)

    def holder(self, name: str) -> Holder | None:
        """Who holds ``exclusive(name)`` now (None: nobody)."""
        return self._locks.holder(name)

    # subscribers ---------------------------------------------------------------------------

    def get_subscriber(self, email: str) -> Subscriber | None:
        with self._db() as db:
            doc = db.table("subscribers").get(Query().key == address_key(email))
        return records.subscriber(doc) if doc else None

    def list_subscribers(self) -> tuple[Subscriber, ...]:
        with self._db() as db:
            docs = tables.rows(db.table("subscribers"))
        return tuple(records.subscriber(d) for d in sorted(docs, key=lambda d: d["key"]))

    def subscriber_pages(self, size: int) -> Iterator[Sequence[Subscriber]]:
        """One page: the file is read whole for any of them."""
        yield self.list_subscribers()

    def save_subscriber(
        self, sub: Subscriber, *, resubscribe: bool = False
    ) -> tuple[Subscriber, SaveOutcome]:
        """Add or update ``sub``; returns what is stored and ``added``, ``updated`` or
        ``suppressed`` (an unsubscribed/bounced address is left alone unless ``resubscribe``)."""
        return self.save_subscribers([sub], resubscribe=resubscribe)[0]

    def save_subscribers(
        self, subs: Iterable[Subscriber], *, resubscribe: bool = False
    ) -> list[tuple[Subscriber, SaveOutcome]]:
        """:meth:`save_subscriber` for many at once: one read and one write of the file."""
        results: list[tuple[Subscriber, SaveOutcome]] = []
        with self._db() as db:
            table = db.table("subscribers")
            by_key: dict[str, dict[str, Any]] = {doc["key"]: doc for doc in table.all()}
            inserts: list[dict[str, Any]] = []
            updates: dict[str, dict[str, Any]] = {}
            for sub in subs:
                doc = by_key.get(address_key(sub.email))
                stored, outcome = tables.merge_subscriber(sub, doc, resubscribe)
                results.append((stored, outcome))
                if outcome == SaveOutcome.SUPPRESSED:
                    continue
                new_doc = records.subscriber_doc(stored)
                if doc is None:
                    inserts.append(new_doc)
                    by_key[new_doc["key"]] = new_doc
                elif isinstance(doc, Document):
                    updates[doc["key"]] = new_doc
                else:  # added earlier in this same batch
                    doc.update(new_doc)
            tables.update_each(table, updates)
            if inserts:
                table.insert_multiple(inserts)
        return results

    def set_status(self, email: str, status: Status) -> Subscriber | None:
        with self._db() as db:
            table = db.table("subscribers")
            if not table.update({"status": status.value}, Query().key == address_key(email)):
                return None
            doc = table.get(Query().key == address_key(email))
        return records.subscriber(doc) if doc else None

    def get_subscriber_by_id(self, sub_id: str) -> Subscriber | None:
        with self._db() as db:
            doc = tables.by_id(tables.rows(db.table("subscribers")), sub_id)
        return records.subscriber(doc) if doc else None

    # the readers' own actions (rules in digest.subscribers.rules) ---------------------------

    def request_subscription(
        self, email: str, choices: Choices, *, now: datetime, consent: str
    ) -> tuple[Subscriber, rules.Request]:
        """Record a subscribe request for ``email``; what it found decides the email to send."""
        with self._db() as db:
            table = db.table("subscribers")
            doc = table.get(Query().key == address_key(email))
            current = records.subscriber(doc) if doc else None
            sub, outcome = rules.request(current, email, choices, now=now, consent=consent)
            if sub != current:
                table.upsert(records.subscriber_doc(sub), Query().key == address_key(email))
        return sub, outcome

    def confirm_subscription(self, sub_id: str, *, now: datetime) -> tuple[Subscriber, bool] | None:
        """Apply a confirmed request: the record, and whether anything changed (None: no
        such subscriber, e.g. a pending address that expired)."""
        return self._change(sub_id, lambda sub: rules.confirm(sub, now=now))

    def unsubscribe(
        self, sub_id: str, digest: str | None, known_digests: Sequence[str]
    ) -> tuple[Subscriber, bool] | None:
        """Leave ``digest`` (None: every digest); durable when this returns."""
        return self._change(sub_id, lambda sub: rules.unsubscribe(sub, digest, known_digests))

    def update_preferences(
        self, sub_id: str, choices: Choices, *, paused: bool
    ) -> tuple[Subscriber, bool] | None:
        return self._change(
            sub_id, lambda sub: rules.update_preferences(sub, choices, paused=paused)
        )

    def expire_pending(self, before: datetime) -> int:
        """Forget pending addresses asked for before ``before``; how many were forgotten."""
        with self._db() as db:
            table = db.table("subscribers")
            gone = [
                d["key"] for d in tables.rows(table) if rules.expired(records.subscriber(d), before)
            ]
            if gone:
                keys = set(gone)
                table.remove(lambda doc: doc["key"] in keys)
        return len(gone)

    def _change(
        self, sub_id: str, change: Callable[[Subscriber], Subscriber | None]
    ) -> tuple[Subscriber, bool] | None:
        with self._db() as db:
            table = db.table("subscribers")
            doc = tables.by_id(tables.rows(table), sub_id)
            if doc is None:
                return None
            current = records.subscriber(doc)
            changed = change(current)
            if changed is None or changed == current:
                return current, False
            table.update(records.subscriber_doc(changed), Query().key == doc["key"])
        return changed, True

    # editions and papers ---------------------------------------------------------------------

    def save_edition(self, edition: Edition, papers: Iterable[Paper]) -> None:
        """Record an edition and its papers (one write, however many papers)."""
        papers = tuple(papers)
        with self._db() as db:
            db.table("editions").upsert(
                {
                    "key": edition.key,
                    "digest": edition.digest,
                    "date": edition.date.isoformat(),
                    "title": edition.title,
                    "paper_ids": [p.id for p in papers],
                },
                Query().key == edition.key,
            )
            table = db.table("papers")
            known = {doc["id"] for doc in table.all()}
            fresh = {p.id: p.to_json() for p in papers}
            if known & fresh.keys():
                table.update(lambda doc: doc.update(fresh[doc["id"]]), lambda d: d["id"] in fresh)
            table.insert_multiple(doc for pid, doc in fresh.items() if pid not in known)

    def edition_papers(self, edition: Edition) -> tuple[Paper, ...] | None:
        """The papers ``edition`` carried, in the order recorded; None if it was never sent."""
        with self._db() as db:
            doc = db.table("editions").get(Query().key == edition.key)
            if doc is None:
                return None
            by_id = {d["id"]: d for d in tables.rows(db.table("papers"))}
        return tables.papers_of(doc, by_id)

    def latest_editions(
        self, digest: str, *, limit: int, before: date | None = None
    ) -> tuple[tuple[Edition, tuple[Paper, ...]], ...]:
        """The newest ``limit`` published editions of ``digest`` (dated before ``before``),
        each with its papers, newest first. One read of the file for all of them: the
        archive's index and feed would read it once per edition with :meth:`edition_papers`."""
        with self._db() as db:
            docs = [
                d
                for d in tables.rows(db.table("editions"))
                if d["digest"] == digest and (before is None or d["date"] < before.isoformat())
            ]
            docs = sorted(docs, key=lambda d: str(d["date"]), reverse=True)[:limit]
            wanted = {i for d in docs for i in d.get("paper_ids", ())}
            by_id = {p["id"]: p for p in tables.rows(db.table("papers")) if p["id"] in wanted}
        return tuple((records.edition(d), tables.papers_of(d, by_id)) for d in docs)

    # the HTTP cache (validators and bodies for conditional GET: see http_cache.py) ----------

    def http_cache(self, *, read_only: bool = False) -> HttpCache:
        """The cache of fetched pages, in ``<store>.http-cache/`` next to the store file;
        ``read_only`` for the commands that promise to write nothing."""
        folder = self.path.with_name(self.path.stem + ".http-cache")
        return HttpCache(folder, read_only=read_only)

    # deliveries (the ledger, one set of files per edition: see ledger.py) -----------------

    @property
    def ledger_root(self) -> Path:
        return self.path.with_name(self.path.stem + ".ledger")

    @contextmanager
    def sending(
        self, edition: Edition, papers: Sequence[Paper], *, sender: str
    ) -> Iterator[OneSender]:
        """One edition's send, for one sender at a time (the caller holds ``exclusive``):
        ``papers`` are recorded as the edition's, the ledger is opened (what a killed run
        left is settled first: in flight → unknown) and folded again however the send ends."""
        ledger = self._ledger_files(edition.key)
        ledger.fold()
        if papers:
            self.save_edition(edition, papers)
        ledger.open()
        try:
            yield OneSender(self, tuple(papers), ledger)
        finally:
            ledger.close()
            ledger.fold()

    def _ledger_files(self, edition: str) -> EditionLedger:
        if not self._migrated and self.path.exists():  # older deliveries move here first
            self.migrate()
        return EditionLedger(self.ledger_root, edition)

    def deliveries(self, edition: str) -> tuple[Delivery, ...]:
        state = self._ledger_files(edition).load()
        return tuple(state[k].delivery(edition) for k in sorted(state))

    def history(
        self,
        edition: str,
        candidates: Iterable[str],
        *,
        retry: Collection[DeliveryStatus] = (),
        readers: Collection[str] | None = None,
    ) -> History:
        """Who already got ``edition``, and which of ``candidates`` each reader was shown.

        Only editions that carried one of the candidates are read, so a daily run reads
        little and a weekly run reads the week's dailies. Deliveries whose status is in
        ``retry`` may be sent again (the operator's call): ``unknown`` ones an interrupted
        run left, ``failed`` ones a refusing relay left. ``readers`` (address keys) limits
        it to those readers; the file is read whole either way."""
        candidates = frozenset(candidates)
        forbid = FINAL - set(retry)
        earlier = {
            k: e for k, e in self._ledger_files(edition).load().items() if e.status in forbid
        }
        shown = self._shown(candidates, besides=edition)
        if readers is not None:
            wanted = set(readers)
            earlier = {k: e for k, e in earlier.items() if k in wanted}
            shown = {k: v for k, v in shown.items() if k in wanted}
        return History(earlier, shown)

    def shown_papers(
        self, email: str, candidates: Iterable[str], besides: str | None = None
    ) -> frozenset[str]:
        """Which of ``candidates`` editions other than ``besides`` (an edition key) already
        showed this address (sent, or maybe sent)."""
        return self._shown(frozenset(candidates), besides).get(address_key(email), frozenset())

    def _shown(
        self, candidates: frozenset[str], besides: str | None = None
    ) -> dict[str, frozenset[str]]:
        """Per address key, the candidates that editions other than ``besides`` showed."""
        shown: dict[str, set[str]] = {}
        for other in self._editions_showing(candidates, besides):
            for key, entry in self._ledger_files(other).load().items():
                if entry.status in SHOWN:
                    seen = candidates.intersection(entry.paper_ids)
                    if seen:
                        shown.setdefault(key, set()).update(seen)
        return {k: frozenset(v) for k, v in shown.items()}

    def _editions_showing(self, candidates: frozenset[str], besides: str | None) -> list[str]:
        with self._db() as db:
            docs = tables.rows(db.table("editions"))
        return sorted(
            d["key"]
            for d in docs
            if d["key"] != besides and not candidates.isdisjoint(d.get("paper_ids", ()))
        )

    def waiting_zones(self, edition: str, digest: DigestConfig) -> dict[str, int]:
        """The timezones ('' for none) of the readers of ``digest`` (as ``rules.receives``
        says) with no delivery of ``edition`` yet, and how many readers in each: all the
        schedule needs to know whose window has come."""
        delivered = self._ledger_files(edition).load().keys()
        zones: dict[str, int] = {}
        for sub in self.list_subscribers():
            if rules.receives(sub, digest) and address_key(sub.email) not in delivered:
                zones[sub.timezone or ""] = zones.get(sub.timezone or "", 0) + 1
        return zones

    # counts for the operator's commands (counts.py) ------------------------------------------

    def readers_outside(
        self, digests: Collection[str], *, status: Status, cadence: str, sample: int
    ) -> ReaderSample:
        """How many readers with ``status`` and ``cadence`` want none of ``digests``, and the
        first ``sample`` addresses in key order."""
        subs = self.list_subscribers()
        return counts.readers_outside(subs, digests, status=status, cadence=cadence, sample=sample)

    def reader_counts(self, digests: Sequence[str], *, since: Sequence[datetime]) -> ReaderCounts:
        """The readers who want any of ``digests``, counted (see ``counts.reader_counts``)."""
        return counts.reader_counts(self.list_subscribers(), digests, since)

    def delivery_counts(self, edition: str) -> DeliveryCounts:
        """``edition``'s deliveries by status, and the hard bounces among them."""
        state = self._ledger_files(edition).load()
        return counts.delivery_counts(
            (state[k].status.value, state[k].bounce) for k in sorted(state)
        )

    def unreached(self, edition: str, digest: str) -> Iterator[Subscriber]:
        """The readers who want ``digest`` and have no delivery of ``edition``, in key order."""
        delivered = self._ledger_files(edition).load().keys()
        for sub in self.list_subscribers():
            if sub.wants(digest) and address_key(sub.email) not in delivered:
                yield sub

    def unsent(self, edition: str) -> tuple[Delivery, ...]:
        """``edition``'s deliveries whose status is not sent, in key order."""
        state = self._ledger_files(edition).load()
        return tuple(
            state[k].delivery(edition)
            for k in sorted(state)
            if state[k].status != DeliveryStatus.SENT
        )

    def delivered(self, edition: str, emails: Collection[str]) -> frozenset[str]:
        """The address keys of ``emails`` that have a delivery of ``edition`` (any status)."""
        state = self._ledger_files(edition).load()
        return frozenset(k for k in map(address_key, emails) if k in state)

    # suppression and bounces -----------------------------------------------------------------

    def suppressed(self) -> frozenset[str]:
        """Address keys that must never be mailed (unsubscribed, bounced, complained)."""
        with self._db() as db:
            docs = tables.rows(db.table("subscribers"))
        suppressed = {s.value for s in SUPPRESSED}
        return frozenset(d["key"] for d in docs if d["status"] in suppressed)

    def check(self) -> None:
        """Take the lock and read the file: StoreError if either fails (for /healthz)."""
        with self._db() as db:
            db.storage.read()

    def change_token(self) -> tuple[int, int, int]:
        """Which write of the main file is on disk, cheap to poll: every write replaces the
        file, so a new one has a new inode, time or size (mtime alone can repeat within a
        coarse clock tick). ``(0, 0, 0)`` when there is no file yet."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return (0, 0, 0)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def record_bounces(
        self, bounced: Iterable[str], delivered: Iterable[str], limit: int
    ) -> tuple[str, ...]:
        """Count hard bounces per address (reset by a successful delivery); an address that
        reaches ``limit`` becomes ``bounced``. Returns the addresses suppressed now."""
        with self._db() as db:
            return tables.count_bounces(db.table("subscribers"), bounced, delivered, limit)

    # the whole store, for ``digest store copy`` (tinydump.py) -------------------------------

    def dump(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every row of the store (see ``protocol.DUMP_TABLES``), deliveries folded."""
        with self._db() as db:
            main = tinydump.main_rows(db)
        for table in tinydump.MAIN_TABLES:
            if table == "editions":  # deliveries come between editions and runs
                yield from ((table, doc) for doc in main[table])
                yield from tinydump.delivery_rows(self.ledger_root)
                continue
            yield from ((table, doc) for doc in main[table])

    def load(self, rows: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, int]:
        """Write a dump into this store, which must be empty; the rows written per table."""
        with self._db() as db:
            tinydump.refuse_unless_empty(db, self.ledger_root, self.location)
            return dict(tinydump.load_rows(db, self.ledger_root, rows))

    # runs -------------------------------------------------------------------------------------

    def finish_run(
        self, report: RunReport, *, bounced: Iterable[str], delivered: Iterable[str], limit: int
    ) -> tuple[str, ...]:
        """:meth:`record_bounces` and the run report, in one transaction (one write)."""
        with self._db() as db:
            suppressed = tables.count_bounces(db.table("subscribers"), bounced, delivered, limit)
            db.table("runs").insert(migrations.run_doc(report))
        return suppressed

    def runs(self, digest: str | None = None) -> tuple[RunRecord, ...]:
        """Every recorded run (of ``digest``), in the order they were recorded."""
        with self._db() as db:
            docs = tables.rows(db.table("runs"))
        return tuple(migrations.run_record(d) for d in docs if digest in (None, d["digest"]))

    # mail that came back (digest.inbound, the provider webhooks: rules in events.py) ----------

    def record_event(
        self,
        event: MailEvent,
        *,
        bounce_limit: int,
        soft_limit: int,
        known_digests: Sequence[str] = (),
    ) -> EventEffect | None:
        """Record ``event`` and apply it to its reader; None if its id was recorded before."""
        with self._db() as db:
            limits = (bounce_limit, soft_limit)
            return returned.record(db, self.ledger_root, event, limits, known_digests)

    def mail_events(
        self, *, since: datetime | None = None, edition: str | None = None
    ) -> tuple[MailEvent, ...]:
        with self._db() as db:
            return returned.listed(db, since, edition)

    def delivery_by_message_id(self, message_id: str) -> tuple[str, str] | None:
        """``(edition key, email)`` of the delivery we sent with this Message-ID, if any."""
        if not self._migrated and self.path.exists():
            self.migrate()
        return returned.find_delivery(self.ledger_root, message_id)
