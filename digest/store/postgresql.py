"""The PostgreSQL store: every table of the TinyDB store as a real table with the keys and
indexes that make each reader-facing operation O(log n), for a list of a million readers,
and one edition sent by several processes or hosts at once (``pg_send``).

It implements :class:`digest.store.protocol.Store`. Each operation is one transaction on a
pooled connection (``pg_connect``), opened on first use; the schema is created and upgraded
by ``digest store migrate`` only (``pg_schema``): any other operation on a missing or older
schema stops with one line that says to run it. A subscriber is kept whole as the JSON
document the TinyDB store writes (``documents.subscriber_doc``), beside the columns the
queries use, so a round trip through either store loses nothing.

Beside it: ``pg_queries`` (the SQL the operations share), ``pg_send`` (many senders),
``pg_events`` (mail that came back), ``pg_copy`` (dump and load). Over 300 lines because it
is one class with the thirty short operations of the protocol, each a transaction of a few
lines.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.types.json import Jsonb

from digest.config import DigestConfig
from digest.config.sources import Period
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
from digest.store import documents as records
from digest.store import migrations, pg_copy, pg_counts, pg_events, pg_lock, pg_schema, tables
from digest.store import pg_queries as q
from digest.store.counts import DeliveryCounts, ReaderCounts, ReaderSample
from digest.store.http_cache import HttpCache
from digest.store.pg_connect import Connections, Target
from digest.store.pg_lock import AdvisoryLock
from digest.store.pg_send import PgSend, open_send
from digest.store.protocol import (
    FINAL,
    EventEffect,
    History,
    Holder,
    OnLost,
    RunRecord,
    SaveOutcome,
)
from digest.subscribers import address_key, rules

T = TypeVar("T")
_Conn = psycopg.Connection[Any]
_SUPPRESSED = [s.value for s in SUPPRESSED]
#: SQLSTATEs after which an operation is tried again: another writer got there first.
_RETRY = frozenset({"23505", "40001", "40P01"})


class PgStore:
    """:class:`~digest.store.protocol.Store` over a PostgreSQL database (``url``)."""

    many_senders = True
    indexed = True  # lookups by key or id are index scans

    def __init__(
        self,
        url: str,
        *,
        block_keys: int = 1000,
        pool_size: int = 8,
        lock_every: float = pg_lock.EVERY,
    ) -> None:
        self.target = Target.of(url)
        self.location = self.target.location
        self.block_keys = block_keys  # readers per send block (see pg_send)
        self.db = Connections(self.target, size=pool_size)
        self._schema_ok = False
        self.lock_every = lock_every  # seconds between two checks of a held lock (pg_lock)
        self._held: dict[str, AdvisoryLock] = {}

    # transactions and the schema -------------------------------------------------------------

    @contextmanager
    def tx(self) -> Iterator[_Conn]:
        """One transaction, on a schema that is up to date (checked once per store)."""
        with self.db.transaction() as conn:
            if not self._schema_ok:
                self._check_schema(conn)
            yield conn

    @contextmanager
    def read(self) -> Iterator[_Conn]:
        """A connection for one statement that reads on its own (no transaction around it),
        on a schema that is up to date."""
        with self.db.statement() as conn:
            if not self._schema_ok:
                self._check_schema(conn)
            yield conn

    def _run(self, operation: Callable[[_Conn], T]) -> T:
        """``operation`` in one transaction, tried again (up to 5 times) when a concurrent
        writer made it fail: two subscribe requests for one new address, a deadlock."""
        for attempt in range(5):
            try:
                with self.tx() as conn:
                    return operation(conn)
            except StoreError as exc:
                cause = exc.__cause__
                if attempt == 4 or not isinstance(cause, psycopg.Error):
                    raise
                if cause.sqlstate not in _RETRY:
                    raise
        raise AssertionError("unreachable")

    def _check_schema(self, conn: _Conn) -> None:
        done = pg_schema.applied(conn)
        if done is None:
            raise StoreError(
                f"store {self.location} has no schema", hint="run: digest store migrate"
            )
        if len(done) < pg_schema.LATEST:
            raise StoreError(
                f"store {self.location} has schema {len(done)} of {pg_schema.LATEST}",
                hint="run: digest store migrate",
            )
        self._schema_ok = True

    def migrate(self) -> tuple[str, ...]:
        """Create or upgrade the schema, one transaction per migration; those that ran now."""
        conn = self.db.connect()
        try:
            return pg_schema.apply(conn)
        except psycopg.Error as exc:
            raise self.db.error(exc) from exc
        finally:
            conn.close()

    def migrations(self) -> tuple[str, ...]:
        """The migrations recorded as applied, oldest first (none: no schema yet)."""
        with self.db.transaction() as conn:
            return pg_schema.applied(conn) or ()

    def schema_version(self) -> tuple[int, int]:
        """(migrations applied, migrations this digest knows), for ``digest check``."""
        return len(self.migrations()), pg_schema.LATEST

    def close(self) -> None:
        self.db.close()

    # subscribers ---------------------------------------------------------------------------

    def get_subscriber(self, email: str) -> Subscriber | None:
        with self.read() as conn:
            row = conn.execute(
                "SELECT doc FROM subscribers WHERE key = %s", (address_key(email),)
            ).fetchone()
        return records.subscriber(row[0]) if row else None

    def get_subscriber_by_id(self, sub_id: str) -> Subscriber | None:
        if not sub_id:
            return None
        with self.read() as conn:
            row = conn.execute("SELECT doc FROM subscribers WHERE id = %s", (sub_id,)).fetchone()
        return records.subscriber(row[0]) if row else None

    def list_subscribers(self) -> tuple[Subscriber, ...]:
        with self.tx() as conn:
            rows = conn.execute("SELECT doc FROM subscribers ORDER BY key").fetchall()
        return tuple(records.subscriber(r[0]) for r in rows)

    def subscriber_pages(self, size: int) -> Iterator[Sequence[Subscriber]]:
        """Keyset pages (``key > the last one``, by the primary key), a statement each."""
        after = ""
        while True:
            with self.read() as conn:
                rows = conn.execute(
                    "SELECT key, doc FROM subscribers WHERE key > %s ORDER BY key LIMIT %s",
                    (after, size),
                ).fetchall()
            if not rows:
                return
            yield [records.subscriber(d) for _, d in rows]
            after = str(rows[-1][0])

    def save_subscriber(
        self, sub: Subscriber, *, resubscribe: bool = False
    ) -> tuple[Subscriber, SaveOutcome]:
        return self.save_subscribers([sub], resubscribe=resubscribe)[0]

    def save_subscribers(
        self, subs: Iterable[Subscriber], *, resubscribe: bool = False
    ) -> list[tuple[Subscriber, SaveOutcome]]:
        """Add or update each of ``subs`` (see TinyStore.save_subscribers), in one transaction."""
        batch = list(subs)

        def save(conn: _Conn) -> list[tuple[Subscriber, SaveOutcome]]:
            keys = sorted({address_key(s.email) for s in batch})
            rows = conn.execute(
                "SELECT key, doc FROM subscribers WHERE key = ANY(%s) ORDER BY key FOR UPDATE",
                (keys,),
            ).fetchall()
            by_key: dict[str, dict[str, Any]] = {k: d for k, d in rows}
            stored_keys = set(by_key)
            results: list[tuple[Subscriber, SaveOutcome]] = []
            writes: dict[str, dict[str, Any]] = {}
            for sub in batch:
                stored, outcome = tables.merge_subscriber(
                    sub, by_key.get(address_key(sub.email)), resubscribe
                )
                results.append((stored, outcome))
                if outcome != SaveOutcome.SUPPRESSED:
                    doc = records.subscriber_doc(stored)
                    by_key[doc["key"]] = writes[doc["key"]] = doc
            q.write_subscribers(conn, [d for k, d in writes.items() if k not in stored_keys], [])
            q.write_subscribers(conn, [], [d for k, d in writes.items() if k in stored_keys])
            return results

        return self._run(save)

    def set_status(self, email: str, status: Status) -> Subscriber | None:
        with self.tx() as conn:
            row = conn.execute(
                "UPDATE subscribers SET status = %(s)s,"
                " doc = jsonb_set(doc, '{status}', to_jsonb(%(s)s::text))"
                " WHERE key = %(k)s RETURNING doc",
                {"s": status.value, "k": address_key(email)},
            ).fetchone()
        return records.subscriber(row[0]) if row else None

    def suppressed(self) -> frozenset[str]:
        with self.tx() as conn:
            rows = conn.execute(
                "SELECT key FROM subscribers WHERE status = ANY(%s)", (_SUPPRESSED,)
            ).fetchall()
        return frozenset(str(r[0]) for r in rows)

    # the readers' own actions (rules in digest.subscribers.rules) ---------------------------

    def request_subscription(
        self, email: str, choices: Choices, *, now: datetime, consent: str
    ) -> tuple[Subscriber, rules.Request]:
        def request(conn: _Conn) -> tuple[Subscriber, rules.Request]:
            row = conn.execute(
                "SELECT doc FROM subscribers WHERE key = %s FOR UPDATE", (address_key(email),)
            ).fetchone()
            current = records.subscriber(row[0]) if row else None
            sub, outcome = rules.request(current, email, choices, now=now, consent=consent)
            if sub != current:
                doc = records.subscriber_doc(sub)
                q.write_subscribers(conn, [] if row else [doc], [doc] if row else [])
            return sub, outcome

        return self._run(request)

    def confirm_subscription(self, sub_id: str, *, now: datetime) -> tuple[Subscriber, bool] | None:
        return self._change(sub_id, lambda sub: rules.confirm(sub, now=now))

    def unsubscribe(
        self, sub_id: str, digest: str | None, known_digests: Sequence[str]
    ) -> tuple[Subscriber, bool] | None:
        return self._change(sub_id, lambda sub: rules.unsubscribe(sub, digest, known_digests))

    def update_preferences(
        self, sub_id: str, choices: Choices, *, paused: bool
    ) -> tuple[Subscriber, bool] | None:
        return self._change(
            sub_id, lambda sub: rules.update_preferences(sub, choices, paused=paused)
        )

    def _change(
        self, sub_id: str, change: Callable[[Subscriber], Subscriber | None]
    ) -> tuple[Subscriber, bool] | None:
        if not sub_id:
            return None

        def apply(conn: _Conn) -> tuple[Subscriber, bool] | None:
            row = conn.execute(
                "SELECT doc FROM subscribers WHERE id = %s FOR UPDATE", (sub_id,)
            ).fetchone()
            if row is None:
                return None
            current = records.subscriber(row[0])
            changed = change(current)
            if changed is None or changed == current:
                return current, False
            q.write_subscribers(conn, [], [records.subscriber_doc(changed)])
            return changed, True

        return self._run(apply)

    def expire_pending(self, before: datetime) -> int:
        with self.tx() as conn:
            rows = conn.execute(
                "SELECT key, doc FROM subscribers WHERE status = 'pending' FOR UPDATE"
            ).fetchall()
            gone = [k for k, d in rows if rules.expired(records.subscriber(d), before)]
            if gone:
                conn.execute("DELETE FROM subscribers WHERE key = ANY(%s)", (gone,))
        return len(gone)

    # editions and papers ---------------------------------------------------------------------

    def save_edition(self, edition: Edition, papers: Iterable[Paper]) -> None:
        papers = tuple(papers)
        with self.tx() as conn:
            q.save_edition(conn, edition, papers)

    def edition_papers(self, edition: Edition) -> tuple[Paper, ...] | None:
        with self.tx() as conn:
            return q.edition_papers(conn, edition.key)

    def latest_editions(
        self, digest: str, *, limit: int, before: date | None = None
    ) -> tuple[tuple[Edition, tuple[Paper, ...]], ...]:
        with self.tx() as conn:
            rows = conn.execute(
                "SELECT digest, date, title, paper_ids FROM editions WHERE digest = %s"
                " AND (%s::date IS NULL OR date < %s::date) ORDER BY date DESC LIMIT %s",
                (digest, before, before, limit),
            ).fetchall()
            by_id = q.papers_by_id(conn, {i for r in rows for i in r[3]})
        return tuple(
            (Edition(d, day, title), tuple(by_id[i] for i in ids if i in by_id))
            for d, day, title, ids in rows
        )

    # deliveries and the ledger ----------------------------------------------------------------

    def sending(
        self, edition: Edition, papers: Sequence[Paper], *, sender: str
    ) -> AbstractContextManager[PgSend]:
        """This sender's part in sending ``edition`` (see pg_send): it joins the edition's
        open round, or starts one with ``papers``."""
        return open_send(self, edition, papers, sender=sender)

    def deliveries(self, edition: str) -> tuple[Delivery, ...]:
        with self.tx() as conn:
            rows = conn.execute(q.ENTRY + " WHERE edition = %s ORDER BY key", (edition,)).fetchall()
        return tuple(q.entry(r).delivery(edition) for r in rows)

    def history(
        self,
        edition: str,
        candidates: Iterable[str],
        *,
        retry: Collection[DeliveryStatus] = (),
        readers: Collection[str] | None = None,
    ) -> History:
        """Who already got ``edition`` (final deliveries not in ``retry``), and which of
        ``candidates`` other editions showed each reader; only ``readers`` (address keys)
        when given."""
        forbid = [s.value for s in FINAL - set(retry)]
        keys = None if readers is None else sorted(readers)
        every = ("SELECT key, " + q.ENTRY[len("SELECT ") :]).encode()
        every += b" WHERE edition = %(e)s AND status = ANY(%(s)s)"
        with self.tx() as conn:
            rows = conn.execute(
                every if keys is None else q.READERS_ENTRIES, {"e": edition, "s": forbid, "k": keys}
            ).fetchall()
            earlier = {str(r[0]): q.entry(r[1:]) for r in rows}
            shown = q.shown(conn, list(set(candidates)), edition, keys)
        return History(earlier, shown)

    def shown_papers(
        self, email: str, candidates: Iterable[str], besides: str | None = None
    ) -> frozenset[str]:
        key = address_key(email)
        with self.tx() as conn:
            return q.shown(conn, list(set(candidates)), besides, [key]).get(key, frozenset())

    def waiting_zones(self, edition: str, digest: DigestConfig) -> dict[str, int]:
        """The timezones ('' for none) of the readers of ``digest`` (``rules.receives``, in
        SQL) with no delivery of ``edition`` yet, and how many readers in each."""
        with self.tx() as conn:
            receives = b" s.status = 'confirmed' AND NOT s.paused" + (
                b" AND (cardinality(s.digests) = 0 OR %(d)s = ANY(s.digests))"
            )
            if digest.period == Period.DAY:
                receives += b" AND s.cadence <> 'weekly'"
            params = {"d": digest.name, "e": edition}
            rows = conn.execute(
                b"SELECT s.timezone, count(*) FROM subscribers s WHERE"
                + receives
                + b" GROUP BY s.timezone",
                params,
            ).fetchall()
            zones = {str(zone): int(n) for zone, n in rows}
            if conn.execute(
                "SELECT EXISTS (SELECT 1 FROM deliveries WHERE edition = %s)", (edition,)
            ).fetchone() == (True,):  # minus those it reached already
                reached = conn.execute(
                    b"SELECT s.timezone, count(*) FROM deliveries d JOIN subscribers s"
                    b" ON s.key = d.key WHERE d.edition = %(e)s AND"
                    + receives
                    + b" GROUP BY s.timezone",
                    params,
                ).fetchall()
                for zone, n in reached:
                    zones[str(zone)] -= int(n)
        return {zone: n for zone, n in zones.items() if n > 0}

    # counts for the operator's commands (pg_counts: aggregate queries) -----------------------

    def readers_outside(
        self, digests: Collection[str], *, status: Status, cadence: str, sample: int
    ) -> ReaderSample:
        with self.tx() as conn:
            return pg_counts.readers_outside(conn, digests, status, cadence, sample)

    def reader_counts(self, digests: Sequence[str], *, since: Sequence[datetime]) -> ReaderCounts:
        with self.tx() as conn:
            return pg_counts.reader_counts(conn, digests, since)

    def delivery_counts(self, edition: str) -> DeliveryCounts:
        with self.tx() as conn:
            return pg_counts.delivery_counts(conn, edition)

    def unreached(self, edition: str, digest: str) -> Iterator[Subscriber]:
        """Streamed from one snapshot: a million readers never in memory at once."""
        with self.tx() as conn:
            yield from pg_counts.unreached(conn, edition, digest)

    def unsent(self, edition: str) -> tuple[Delivery, ...]:
        with self.tx() as conn:
            rows = conn.execute(
                q.ENTRY + " WHERE edition = %s AND status <> 'sent' ORDER BY key", (edition,)
            ).fetchall()
        return tuple(q.entry(r).delivery(edition) for r in rows)

    def delivered(self, edition: str, emails: Collection[str]) -> frozenset[str]:
        keys = sorted({address_key(e) for e in emails})
        if not keys:
            return frozenset()
        with self.tx() as conn:
            rows = conn.execute(
                "SELECT key FROM deliveries WHERE edition = %s AND key = ANY(%s)", (edition, keys)
            ).fetchall()
        return frozenset(str(r[0]) for r in rows)

    # runs and bounces ------------------------------------------------------------------------

    def finish_run(
        self, report: RunReport, *, bounced: Iterable[str], delivered: Iterable[str], limit: int
    ) -> tuple[str, ...]:
        doc = migrations.run_doc(report)  # with its round and sender, when it has them
        with self.tx() as conn:
            suppressed = q.count_bounces(conn, bounced, delivered, limit)
            conn.execute(
                "INSERT INTO runs (digest, round, sender, doc) VALUES (%s, %s, %s, %s)",
                (report.digest, report.round, report.sender, Jsonb(doc)),
            )
        return suppressed

    def record_bounces(
        self, bounced: Iterable[str], delivered: Iterable[str], limit: int
    ) -> tuple[str, ...]:
        with self.tx() as conn:
            return q.count_bounces(conn, bounced, delivered, limit)

    def runs(self, digest: str | None = None) -> tuple[RunRecord, ...]:
        with self.tx() as conn:
            rows = conn.execute(
                "SELECT round, sender, doc FROM runs WHERE %s::text IS NULL OR digest = %s"
                " ORDER BY id",
                (digest, digest),
            ).fetchall()
        return tuple(
            dataclasses.replace(migrations.run_record(doc), round=r, sender=s) for r, s, doc in rows
        )

    # mail that came back -----------------------------------------------------------------------

    def record_event(
        self,
        event: MailEvent,
        *,
        bounce_limit: int,
        soft_limit: int,
        known_digests: Sequence[str] = (),
    ) -> EventEffect | None:
        """Record ``event`` once (by its id) and apply it to its reader (pg_events)."""

        def write(conn: _Conn, doc: dict[str, Any]) -> None:
            q.write_subscribers(conn, [], [doc])

        limits = (bounce_limit, soft_limit)
        return self._run(lambda conn: pg_events.record(conn, event, limits, known_digests, write))

    def mail_events(
        self, *, since: datetime | None = None, edition: str | None = None
    ) -> tuple[MailEvent, ...]:
        with self.tx() as conn:
            return pg_events.listed(conn, since, edition)

    def delivery_by_message_id(self, message_id: str) -> tuple[str, str] | None:
        with self.tx() as conn:
            return pg_events.find_delivery(conn, message_id)

    # the whole store, for ``digest store copy`` (pg_copy) -----------------------------------

    def dump(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every row of the store (see ``protocol.DUMP_TABLES``), from one snapshot."""
        with self.tx():
            pass  # the schema is checked before the snapshot's first statement
        with self.tx() as conn:
            yield from pg_copy.dump(conn)

    def load(self, rows: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, int]:
        """Write a dump into this store, which must be empty, in one transaction; the rows
        written per table."""
        with self.tx() as conn:
            conn.execute("LOCK TABLE subscribers, deliveries, runs IN EXCLUSIVE MODE")
            pg_copy.refuse_unless_empty(conn, self.location)
            return dict(pg_copy.load(conn, rows))

    # fetched pages -----------------------------------------------------------------------------

    def http_cache(self, *, read_only: bool = False) -> HttpCache:
        """No file beside it: the cache lives in ``$DIGEST_CACHE_DIR`` (``~/.cache/digest``)."""
        root = Path(os.environ.get("DIGEST_CACHE_DIR") or "~/.cache/digest").expanduser()
        return HttpCache(root / f"{self.target.cache_name}.http-cache", read_only=read_only)

    # coordination and health ---------------------------------------------------------------

    @contextmanager
    def exclusive(self, name: str, *, on_lost: OnLost | None = None) -> Iterator[None]:
        """A session advisory lock on a connection of its own, held for the whole block and
        checked every ``lock_every`` seconds (``pg_lock``): taken again if its connection
        dropped, ``on_lost`` called if another process took it meanwhile. The holder's host
        and pid are written beside it for :meth:`holder`."""
        with self.tx():
            pass  # the schema is there (lock_holders)
        lock = AdvisoryLock(
            self.db, name, location=self.location, every=self.lock_every, on_lost=on_lost
        )
        lock.take()
        self._held[name] = lock
        try:
            lock.watch()
            yield
        finally:
            del self._held[name]
            lock.release()

    def holder(self, name: str) -> Holder | None:
        """Who holds ``exclusive(name)`` now (None: nobody): tries the lock for an instant."""
        held = self._held.get(name)
        if held is not None and held.held:
            return Holder(here=True, pid=os.getpid(), host=socket.gethostname())
        with self.db.transaction() as conn:  # no schema: nobody can hold it (no such table)
            row = conn.execute(
                "SELECT pg_try_advisory_xact_lock(%s, %s)", q.lock_keys(name)
            ).fetchone()
            if row and row[0]:
                return None
            who = conn.execute(
                "SELECT pid, host FROM lock_holders WHERE name = %s", (name,)
            ).fetchone()
        if who is None:
            return Holder(here=False)
        return Holder(here=False, pid=int(who[0]), host=str(who[1]))

    def change_token(self) -> int:
        """The sum of the change counters, which the subscribers' triggers bump."""
        with self.tx() as conn:
            row = conn.execute("SELECT sum(value) FROM change_counter").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def check(self) -> None:
        with self.tx() as conn:
            conn.execute("SELECT 1")
