"""Sending one edition from many processes (or hosts) at once, on the PostgreSQL store.

A **round** is one send of an edition (``send_rounds``); its readers are cut into **blocks**,
half-open ranges of subscriber keys (``send_blocks``: about BLOCKS of them, each of at least
LEAST_PER_BLOCK and at most ``block_keys`` readers when the round starts; together the whole
key space, so a reader added later is in one too).
The first sender starts the round and fixes the edition's papers; the others join it and
send those papers, whatever they fetched themselves.

Each sender (:class:`PgSend`) holds a session advisory lock on its own random ``owner`` id,
on a connection of its own, for its whole life: a sender whose lock is free is dead (killed,
or its connection lost). A sender claims one block at a time (``FOR UPDATE SKIP LOCKED``:
two senders never wait for each other, never get the same block), open or held by a dead
sender, and streams its readers in keyset pages. Taking over a dead sender's block first
turns what it left ``sending`` into ``unknown`` (never resent unless asked), and the
pipeline's history check (asked per block) skips whoever that sender reached.

A sender is alive only while its lock is held, and writes only while alive: taking a block
and marking readers ``sending`` both check, in the statement that writes, that its lock is
still held (what the takeover asks ``digest_owner_alive``), and the claim also that the
readers' blocks are still this sender's (locked ``FOR KEY SHARE`` until the claim commits:
a takeover leaves them meanwhile). A sender whose lock's connection dropped (a server
restart, a network cut, ``pg_terminate_backend``) is dead to the others at once, and finds
out at its next claim: it is refused, so nothing is recorded and nothing sent, and the run
stops with one error (:func:`lost`), as when the database is unreachable. A lock once lost
is never taken back (each sender has an owner id of its own), so the others never take over
the blocks of a sender that can still write.

When a sender's run ends normally, the blocks it went through are done, and a round whose
blocks are all done is finished: the next ``digest send`` of that edition starts a new
round, which sends only to the readers not reached yet. When it ends with an error, it only
lets go of its lock: its blocks are taken over.

The ledger (:class:`PgLedger`) records ``sending`` before each SMTP transaction and the
outcome after it, on connections of its own driven by the run's event loop (which never
blocks on the database: it serves the other connections meanwhile), and the records
of concurrent deliveries are written together: one statement, in its own transaction, for
the claims and outcomes of all of them (cut only where one reader would come twice), as the
journal of the TinyDB store groups its appends; a connection's outcome and the claim of its
next delivery are always in the same statement. Recording a reader sent also clears
their hard bounces (the pipeline keeps no list of the addresses sent for ``finish_run``).
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from digest.errors import StoreError
from digest.models import DeliveryStatus, Edition, Ledger, Paper, Subscriber
from digest.store import documents as records
from digest.store import pg_connect
from digest.store.ledger import INTERRUPTED
from digest.store.pg_queries import edition_papers, save_edition
from digest.subscribers import address_key

if TYPE_CHECKING:
    from digest.store.postgresql import PgStore

_Conn = psycopg.Connection[Any]

#: What a dead sender left ``sending`` in an edition becomes ``unknown`` (it may have gone).
_SETTLE_DEAD = (
    "UPDATE deliveries SET status = 'unknown', reason = %s WHERE edition = %s"
    " AND status = 'sending' AND (owner IS NULL OR NOT digest_owner_alive(owner))"
)


def lost(store: PgStore, edition: str) -> StoreError:
    """What stops a sender whose lock is gone: it may no longer write, nor send."""
    return StoreError(
        f"store {store.location}: this sender lost its lock (its connection to PostgreSQL"
        f" dropped): its readers of {edition} are left to the other senders, and it sends"
        " nothing more",
        hint="digest send again reaches whoever is left",
    )


def edition_lock(edition: str) -> int:
    """The pg_advisory_xact_lock key of ``edition``: one sender at a time starts, joins or
    finishes its round."""
    return int.from_bytes(hashlib.blake2b(edition.encode(), digest_size=8).digest(), "big") >> 2


@contextmanager
def open_send(
    store: PgStore, edition: Edition, papers: Sequence[Paper], *, sender: str
) -> Iterator[PgSend]:
    """Join ``edition``'s open round, or start one (saving the edition with ``papers``)."""
    owner = secrets.randbits(62) | 1
    life = store.db.connect("digest sender")
    try:
        life.execute("SELECT pg_advisory_lock(%s)", (owner,))
        with store.tx() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (edition_lock(edition.key),))
            conn.execute(_SETTLE_DEAD, (INTERRUPTED, edition.key))
            row = conn.execute(
                "SELECT round FROM send_rounds WHERE edition = %s AND finished_at IS NULL",
                (edition.key,),
            ).fetchone()
            if row is not None:
                round_id, fixed = row[0], edition_papers(conn, edition.key) or ()
                if not fixed and papers:  # the round began with no papers (its sources failed)
                    fixed = tuple(papers)
                    save_edition(conn, edition, fixed)
            else:
                fixed = tuple(papers)
                if fixed:
                    save_edition(conn, edition, fixed)
                round_id = uuid.uuid4()
                _start_round(conn, round_id, edition.key, store.block_keys)
    except psycopg.Error as exc:
        life.close()
        raise store.db.error(exc) from exc
    except BaseException:
        life.close()
        raise
    send = PgSend(store, edition.key, str(round_id), fixed, owner, life, sender)
    try:
        yield send
    except BaseException:
        send.abandon()
        raise
    send.close()


#: A round aims at this many blocks, so that many senders can share even a short list...
BLOCKS = 64
#: ...but a block holds at least this many readers (fewer blocks for a very short list).
LEAST_PER_BLOCK = 10


def _start_round(conn: _Conn, round_id: uuid.UUID, edition: str, most: int) -> None:
    """A new round whose blocks cut the key space every ``clamp(ceil(readers / BLOCKS),
    LEAST_PER_BLOCK, most)`` subscriber keys: 120 readers make blocks of 10, a million
    blocks of ``most``."""
    conn.execute("INSERT INTO send_rounds (round, edition) VALUES (%s, %s)", (round_id, edition))
    count = conn.execute("SELECT count(*) FROM subscribers").fetchone()
    readers = int(count[0]) if count else 0
    every = max(1, min(most, max(LEAST_PER_BLOCK, -(-readers // BLOCKS))))
    conn.execute(
        "INSERT INTO send_blocks (round, n, lo_key, hi_key)"
        " SELECT %(r)s, row_number() OVER (ORDER BY lo) - 1, lo, lead(lo) OVER (ORDER BY lo)"
        " FROM (SELECT ''::text COLLATE \"C\" AS lo UNION ALL"
        "   SELECT key FROM (SELECT key, row_number() OVER (ORDER BY key) AS rn"
        "     FROM subscribers) s WHERE rn > 1 AND rn %% %(e)s = 1) cuts",
        {"r": round_id, "e": every},
    )


class PgSend:
    """One sender's part in a round (see the module's docstring)."""

    def __init__(
        self,
        store: PgStore,
        edition: str,
        round_id: str,
        papers: tuple[Paper, ...],
        owner: int,
        life: _Conn,
        sender: str,
    ) -> None:
        self.store, self.edition = store, edition
        self.round: str = round_id
        self.papers: tuple[Paper, ...] = papers
        self.owner, self.sender = owner, sender
        self._life = life
        self._through: list[int] = []  # blocks whose readers were all handed out
        self._exhausted = False  # every block was handed out: the run was not stopped early
        self._los: list[str] = []  # the first keys of the blocks it claimed, in order
        self._ranges: dict[str, tuple[str | None, int]] = {}  # lo -> (hi, n)
        self.ledger: Ledger = PgLedger(store, edition, round_id, owner, sender, self.block_of)

    def blocks(self, size: int) -> Iterator[Sequence[Subscriber]]:
        """Claim a block, hand out its readers ``size`` at a time, and the next, until no
        block of the round is left (open, or held by a dead sender)."""
        while (block := self._claim()) is not None:
            n, lo, hi = block
            after = None
            while True:
                page = self._page(lo, hi, after, size)
                if page:
                    yield [records.subscriber(doc) for _, doc in page]
                    after = page[-1][0]
                if len(page) < size:
                    break
            self._through.append(n)
        self._exhausted = True

    def block_of(self, key: str) -> int:
        """The block this sender claimed that subscriber key ``key`` is in (str order is the
        code-point order of the keys' "C" collation); -1 if none: a reader not handed out by
        :meth:`blocks` (the ledger used on its own) is claimed while this sender is alive."""
        i = bisect.bisect_right(self._los, key) - 1
        if i < 0:
            return -1
        hi, n = self._ranges[self._los[i]]
        return n if hi is None or key < hi else -1

    def _claim(self) -> tuple[int, str, str | None] | None:
        with self.store.tx() as conn:
            row = conn.execute(
                "SELECT n, lo_key, hi_key, state FROM send_blocks WHERE round = %s"
                " AND state = 'open' ORDER BY n LIMIT 1 FOR UPDATE SKIP LOCKED",
                (self.round,),
            ).fetchone()
            if row is None:  # none open: one a dead sender held?
                row = conn.execute(
                    "SELECT n, lo_key, hi_key, state FROM send_blocks WHERE round = %s"
                    " AND state = 'claimed' AND owner <> %s AND NOT digest_owner_alive(owner)"
                    " ORDER BY n LIMIT 1 FOR UPDATE SKIP LOCKED",
                    (self.round, self.owner),
                ).fetchone()
            if row is None:
                return None
            n, lo, hi, state = row
            if state == "claimed":  # a dead sender's: what it left in flight is unknown
                conn.execute(_SETTLE_DEAD, (INTERRUPTED, self.edition))
            taken = conn.execute(
                "UPDATE send_blocks SET state = 'claimed', owner = %(o)s WHERE round = %(r)s"
                " AND n = %(n)s AND " + _ALIVE,
                {"o": self.owner, "r": self.round, "n": n},
            )
            if taken.rowcount != 1:  # this sender's lock is gone: the block stays as it was
                raise lost(self.store, self.edition)
        self._ranges[str(lo)] = (hi, int(n))  # first: block_of runs in the ledger's thread
        bisect.insort(self._los, str(lo))
        return int(n), str(lo), hi

    def _page(
        self, lo: str, hi: str | None, after: str | None, size: int
    ) -> list[tuple[str, dict[str, Any]]]:
        where = "key > %(after)s" if after is not None else "key >= %(lo)s"
        if hi is not None:
            where += " AND key < %(hi)s"
        with self.store.tx() as conn:
            rows = conn.execute(
                ("SELECT key, doc FROM subscribers WHERE " + where).encode()
                + b" ORDER BY key LIMIT %(n)s",
                {"lo": lo, "hi": hi, "after": after, "n": size},
            ).fetchall()
        return [(str(k), d) for k, d in rows]

    def close(self) -> None:
        """The run ended: the blocks it went through are done (only if it went through all
        it could get: a run stopped early may have left readers of a block it handed out
        unsent and unclaimed), the others it held open again, what it left in flight
        unknown, and the round finished if nothing is left."""
        try:
            with self.store.tx() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (edition_lock(self.edition),))
                conn.execute(
                    "UPDATE send_blocks SET state = CASE WHEN n = ANY(%s) THEN 'done'"
                    " ELSE 'open' END, owner = CASE WHEN n = ANY(%s) THEN owner END"
                    " WHERE round = %s AND owner = %s AND state = 'claimed'",
                    (
                        done := self._through if self._exhausted else [],
                        done,
                        self.round,
                        self.owner,
                    ),
                )
                conn.execute(
                    "UPDATE deliveries SET status = 'unknown', reason = %s"
                    " WHERE edition = %s AND owner = %s AND status = 'sending'",
                    (INTERRUPTED, self.edition, self.owner),
                )
                conn.execute(
                    "UPDATE send_rounds SET finished_at = now() WHERE round = %s"
                    " AND finished_at IS NULL AND NOT EXISTS (SELECT 1 FROM send_blocks"
                    "   WHERE round = %s AND state <> 'done')",
                    (self.round, self.round),
                )
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Let go of the owner lock: this sender is dead to the others from now on."""
        self._life.close()


#: Batches of the ledger committed at once (each on a connection of the ledger's own).
FLUSHERS = 3


class PgLedger:
    """:class:`digest.models.Ledger` of one sender: each record durable (committed) before
    its ``claim``/``finish`` returns; concurrent records share one commit. Written on the
    run's event loop (its own connections, at most FLUSHERS), not in threads: a write in a
    thread waits for the GIL, held by the loop composing, before and after the server."""

    def __init__(
        self,
        store: PgStore,
        edition: str,
        round_id: str,
        owner: int,
        sender: str,
        block_of: Callable[[str], int],
    ) -> None:
        self.store, self.edition, self.round = store, edition, round_id
        self.owner, self.sender, self.block_of = owner, sender, block_of
        self._pending: list[tuple[tuple[Any, ...], asyncio.Future[None]]] = []
        self._flushers: set[asyncio.Task[None]] = set()
        self._idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []  # open, since when
        self._loop: asyncio.AbstractEventLoop | None = None  # the one they were used on

    def claim(self, email: str, message_id: str, paper_ids: tuple[str, ...]) -> Awaitable[None]:
        """Durably record ``sending``: written before the SMTP transaction starts. Raises
        :func:`lost` (not recorded, so not to be sent) once this sender's lock is gone."""
        key = address_key(email)
        return self._add(("claim", key, email, message_id, list(paper_ids), self.block_of(key)))

    def finish(
        self, email: str, status: DeliveryStatus, reason: str = "", *, bounce: bool = False
    ) -> Awaitable[None]:
        """Durably record what became of the delivery."""
        return self._add(("finish", address_key(email), email, status.value, reason, bounce))

    async def settled(self) -> None:
        """Wait for the batches in flight, then close the ledger's connections."""
        while flushing := list(self._flushers):
            await asyncio.gather(*flushing, return_exceptions=True)
            self._flushers.difference_update(flushing)
        await self._let_go()

    async def _let_go(self) -> None:
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            await conn.close()

    def _add(self, record: tuple[Any, ...]) -> Awaitable[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(((*record, datetime.now(UTC)), done))
        if len(self._flushers) < FLUSHERS:
            task = asyncio.create_task(self._flush())
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)
        return done

    async def _flush(self) -> None:
        """Commit what is pending, one batch at a time, until nothing is left. A few of these
        run at once, each on its own connection (the server merges their WAL flushes); a
        claim and the outcome of the same delivery are never in flight together, since the
        outcome is only written once the claim returned."""
        while self._pending:
            batch, self._pending = self._pending, []
            refusal: StoreError | None = None  # made only when a record was refused
            try:
                written = await self._write([r for r, _ in batch])
            except Exception as exc:  # StoreError, or a bug: every waiter hears of it
                error = exc if isinstance(exc, StoreError) else StoreError(str(exc))
                written, refusal = [False] * len(batch), error
            for (_, done), ok in zip(batch, written, strict=True):
                if done.done():
                    continue
                if ok:
                    done.set_result(None)
                else:
                    done.set_exception(refusal or (refusal := lost(self.store, self.edition)))

    async def _write(self, batch: list[tuple[Any, ...]]) -> list[bool]:
        """:meth:`_record` on an idle connection of the ledger's (a new one if none is); one
        that failed, or was cancelled mid-statement, is closed, not used again."""
        conn = await self._connection()
        try:
            written = await self._record(conn, batch)
        except BaseException as exc:
            await conn.close()
            if isinstance(exc, psycopg.Error):
                raise self.store.db.error(exc) from exc
            raise
        self._idle.append((conn, time.monotonic()))
        return written

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        """An idle connection, checked first (a round trip) if it has been idle for a while:
        a server restarted during a long wait for retries closed it, and it is replaced
        rather than the run stopped. Those of another event loop are not reused."""
        if self._loop is not (loop := asyncio.get_running_loop()):
            await self._let_go()
            self._loop = loop
        while self._idle:
            conn, since = self._idle.pop()
            if time.monotonic() - since <= pg_connect.CHECK_AFTER:
                return conn
            try:
                await AsyncConnectionPool.check_connection(conn)  # as the store's pool does
                return conn
            except psycopg.Error:
                await conn.close()
        return await self.store.db.connect_async("digest ledger")

    async def _record(
        self, conn: psycopg.AsyncConnection[Any], batch: list[tuple[Any, ...]]
    ) -> list[bool]:
        """The batch in order, one statement (its own transaction) for each part in which no
        reader comes twice (:func:`_parts`: a claim and the outcome of one delivery are never
        in flight together, so that is nearly always the whole batch); whether each record
        was written. The claims of a part are written whole or not at all (this sender lost
        its lock): the outcomes beside them are kept all the same."""
        written: list[bool] = []
        for part in _parts(batch):
            claims = [self._claimed(r) for r in part if r[0] == "claim"]
            outcomes = [self._finished(r) for r in part if r[0] == "finish"]
            blocks = sorted({r[5] for r in part if r[0] == "claim" and r[5] >= 0})
            params = {"e": self.edition, "r": self.round, "s": self.sender, "o": self.owner}
            params |= {"n": blocks, "claims": Jsonb(claims), "outcomes": Jsonb(outcomes)}
            row = await (await conn.execute(_RECORD, params)).fetchone()
            whole = row is not None and row[0] == len(claims)
            written += [whole or r[0] == "finish" for r in part]
        return written

    @staticmethod
    def _claimed(r: tuple[Any, ...]) -> dict[str, Any]:
        _, key, email, message_id, paper_ids, _, at = r
        return {"k": key, "a": email, "m": message_id, "p": paper_ids, "t": at.isoformat()}

    @staticmethod
    def _finished(r: tuple[Any, ...]) -> dict[str, Any]:
        _, key, email, status, reason, bounce, at = r
        return {"k": key, "a": email, "s": status, "r": reason, "b": bounce, "t": at.isoformat()}


#: This sender is still alive, asked of the server in the statement that writes: another
#: session's shared try of its owner lock fails while its own session holds the lock. That
#: is what ``digest_owner_alive`` tells the takeover, found in the lock table (5 µs on the
#: test server) instead of a read of the whole of pg_locks (150 µs). When the try succeeds
#: (the owner is dead), the shared lock lasts until the transaction ends; the takeover
#: counts only the exclusive one (migration 004), so it is not fooled meanwhile.
_ALIVE = "(SELECT NOT pg_try_advisory_xact_lock_shared(%(o)s))"
#: One part of a batch, in one statement: the claims (``claims``), all of them or none, only
#: while the sender is alive and only while it still holds the blocks of the readers it took
#: from a block (``n``, numbers of blocks), each locked until the statement commits (a
#: takeover skips it meanwhile, then finds the claims and settles them ``unknown``; a block a
#: takeover locked already is skipped, not waited for: the claims are refused); and the
#: outcomes (``outcomes``), where a reader sent has no hard bounce left (what ``finish_run``
#: does with the ``delivered`` of a store whose ledger does not do it, the embedded one).
#: Its one row: how many claims it wrote (a CTE that writes runs whether or not it is read).
_RECORD = (
    b"WITH held AS (SELECT 1 FROM send_blocks WHERE round = %(r)s AND n = ANY(%(n)s::int[])"
    b"   AND state = 'claimed' AND owner = %(o)s FOR KEY SHARE SKIP LOCKED),"
    b" claimed AS (INSERT INTO deliveries (edition, key, email, status, message_id, paper_ids,"
    b" attempts, updated_at, sender, owner) SELECT %(e)s, u.k, u.a, 'sending', u.m, u.p, 1, u.t,"
    b" %(s)s, %(o)s FROM jsonb_to_recordset(%(claims)s::jsonb)"
    b" AS u(k text, a text, m text, p text[], t timestamptz)"
    b" WHERE " + _ALIVE.encode() + b" AND (SELECT count(*) FROM held) = cardinality(%(n)s::int[])"
    b" ON CONFLICT (edition, key) DO UPDATE SET email = EXCLUDED.email, status = 'sending',"
    b" message_id = EXCLUDED.message_id, paper_ids = EXCLUDED.paper_ids, reason = '',"
    b" bounce = false, attempts = deliveries.attempts + 1, updated_at = EXCLUDED.updated_at,"
    b" sender = EXCLUDED.sender, owner = EXCLUDED.owner RETURNING 1),"
    b" settled AS (INSERT INTO deliveries (edition, key, email, status, reason, bounce,"
    b" updated_at) SELECT %(e)s, u.k, u.a, u.s, u.r, u.b, u.t"
    b" FROM jsonb_to_recordset(%(outcomes)s::jsonb)"
    b" AS u(k text, a text, s text, r text, b boolean, t timestamptz)"
    b" ON CONFLICT (edition, key) DO UPDATE SET status = EXCLUDED.status,"
    b" reason = EXCLUDED.reason, bounce = EXCLUDED.bounce, updated_at = EXCLUDED.updated_at"
    b" RETURNING key, status),"
    b" cleared AS (UPDATE subscribers SET hard_bounces = 0 WHERE hard_bounces <> 0"
    b" AND key IN (SELECT key FROM settled WHERE status = 'sent'))"
    b" SELECT count(*) FROM claimed"
)


def _parts(batch: list[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    """The batch cut, in order, into parts in which no reader (subscriber key) comes twice:
    one statement may not write a row twice."""
    part: list[tuple[Any, ...]] = []
    keys: set[str] = set()
    for record in batch:
        if record[1] in keys:
            yield part
            part, keys = [], set()
        part.append(record)
        keys.add(record[1])
    if part:
        yield part
