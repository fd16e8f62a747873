"""``exclusive(name)`` on the PostgreSQL store: a session advisory lock on a connection of its
own, held for a whole block, and watched.

The server lets go of a session's locks when the session ends: the server restarted, a proxy
closed an idle connection, ``pg_terminate_backend``, a network cut (the server's keepalives
end the session in about a minute). Nothing tells the holder, and a second process could take
the lock while the first goes on. So a thread asks the lock's connection, every ``every``
seconds, whether its session still holds the lock (one query on ``pg_locks``). When it does
not, the thread logs ``lock.lost`` and takes the lock again on a new connection:

- nobody else has it: ``lock.retaken``, and the work goes on;
- this process's old session still has it (the server has not seen the cut yet): that
  session is ended, and the lock taken at the next check; nobody else can have it meanwhile;
- the server cannot be reached: tried again at each check (nothing here can send without the
  server either);
- another process holds it now: ``lock.taken_over`` names it (host, pid), :attr:`lost` is set
  and ``on_lost`` called, once; the caller stops the work the lock guards (the scheduler
  stops scheduling). The lock is not watched any more.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from contextlib import suppress
from typing import Any

import psycopg

from digest.errors import StoreError
from digest.store import pg_queries as q
from digest.store.pg_connect import Connections
from digest.store.protocol import Holder, OnLost

log = logging.getLogger("digest.store")
_Conn = psycopg.Connection[Any]

#: Seconds between two checks of a held lock (``PgStore(lock_every=...)``).
EVERY = 15.0
#: The two-key advisory lock (k1, k2) of this database as pg_locks shows it.
_THE_LOCK = (
    "locktype = 'advisory' AND granted AND classid = %s::int4::oid"
    " AND objid = %s::int4::oid AND objsubid = 2"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
_OURS = f"SELECT EXISTS (SELECT 1 FROM pg_locks WHERE {_THE_LOCK} AND pid = pg_backend_pid())"
_WHO = (
    "SELECT l.pid, h.host, h.pid FROM pg_locks l LEFT JOIN lock_holders h ON h.name = %s"
    f" WHERE {_THE_LOCK} LIMIT 1"
)
_RECORD = (
    "INSERT INTO lock_holders (name, host, pid) VALUES (%s, %s, %s)"
    " ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, since = now()"
)


class AdvisoryLock:
    """One ``exclusive(name)``: :meth:`take`, then :meth:`watch` from a thread, :meth:`release`."""

    def __init__(
        self,
        db: Connections,
        name: str,
        *,
        location: str,
        every: float = EVERY,
        on_lost: OnLost | None = None,
    ) -> None:
        self.db, self.name, self.location = db, name, location
        self.keys = q.lock_keys(name)
        self.every, self.on_lost = every, on_lost
        self.lost = threading.Event()  # another process took it while this one held it
        self._conn: _Conn | None = None  # the session holding it (None: being taken again)
        self._backend = 0  # that session's server pid (kept once it is gone, to end it)
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> bool:
        """This process holds it, as of the last check."""
        return self._conn is not None

    def take(self) -> None:
        """Take the lock on a new connection; StoreError if another process holds it."""
        if self._try() is not None:
            raise StoreError(
                f"another process holds {self.name!r} on store {self.location}",
                hint="wait for the running send to finish",
            )

    def watch(self) -> None:
        """Check the lock every ``every`` seconds, in a daemon thread, until :meth:`release`."""
        self._thread = threading.Thread(
            target=self._watch, name=f"digest lock {self.name}", daemon=True
        )
        self._thread.start()

    def release(self) -> None:
        """Stop watching, and let go of the lock if this process still holds it (an
        unlock now, so that whoever asks next finds it free without waiting for the server
        to end the session)."""
        self._done.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        conn, self._conn = self._conn, None
        if conn is None:  # lost: lock_holders names whoever holds it now
            return
        with suppress(psycopg.Error):
            conn.execute("DELETE FROM lock_holders WHERE name = %s", (self.name,))
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", self.keys)
        conn.close()

    # the watch ------------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._done.wait(self.every):
            try:
                if self._step():
                    return
            except Exception:  # a bug here must not end the watch without a word
                log.exception("lock.watch_failed", extra={"fields": self._fields()})

    def _step(self) -> bool:
        """One check, and what follows from it; True once the lock is lost for good."""
        if self._conn is not None:
            why = self._check()
            if why is None:
                return False
            self._drop(why)
        other = self._retake()
        if other is None:
            return False
        self._give_up(other)
        return True

    def _check(self) -> str | None:
        """None when the lock's session answers and holds it; else why not."""
        assert self._conn is not None
        try:
            row = self._conn.execute(_OURS, self.keys).fetchone()
        except psycopg.Error as exc:
            return self.db.error(exc).message  # its hint is for a command, not this line
        return None if row and row[0] else "its session no longer holds it"

    def _drop(self, why: str) -> None:
        detail = "taking it back on a new connection"
        log.error("lock.lost", extra={"fields": {**self._fields(), "error": why, "detail": detail}})
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _retake(self) -> Holder | None:
        """Take the lock again: who holds it instead if another process does (None: taken,
        or to be tried again at the next check)."""
        try:
            holding = self._try()
        except StoreError as exc:  # the server down or unreachable: next check
            log.debug(
                "lock.retake_failed", extra={"fields": {**self._fields(), "error": exc.message}}
            )
            return None
        if holding is None:
            log.warning("lock.retaken", extra={"fields": self._fields()})
            return None
        backend, holder = holding
        return None if backend in (0, self._backend) else holder

    def _give_up(self, holder: Holder) -> None:
        self.lost.set()
        fields = {**self._fields(), "holder_host": holder.host or "", "holder_pid": holder.pid}
        stops = "on_lost called" if self.on_lost else "nothing here stops"
        log.error("lock.taken_over", extra={"fields": {**fields, "detail": stops}})
        if self.on_lost is not None:
            try:
                self.on_lost(holder)
            except Exception:  # a thread of ours: its failure is logged, not lost
                log.exception("lock.on_lost_failed", extra={"fields": self._fields()})

    def _fields(self) -> dict[str, Any]:
        return {"lock": self.name, "store": self.location}

    # one attempt ----------------------------------------------------------------------------

    def _try(self) -> tuple[int, Holder] | None:
        """Take the lock on a new connection: None when taken; else the server pid of the
        session holding it (0: let go meanwhile) and who holds it, per lock_holders. When
        that session is this process's old one, it is ended."""
        conn, kept = self.db.connect("digest lock"), False
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", self.keys).fetchone()
            if row and row[0]:
                conn.execute(_RECORD, (self.name, socket.gethostname(), os.getpid()))
                self._conn, self._backend, kept = conn, conn.info.backend_pid, True
                return None
            who = conn.execute(_WHO, (self.name, *self.keys)).fetchone()
            if who is None:
                return 0, Holder(here=False)
            backend, host, pid = int(who[0]), who[1], who[2]
            if backend == self._backend:
                _end(conn, backend)
            return backend, Holder(here=False, pid=pid, host=host)
        except psycopg.Error as exc:
            raise self.db.error(exc) from exc
        finally:
            if not kept:
                conn.close()


def _end(conn: _Conn, backend: int) -> None:
    """End this process's old session, which still holds the lock (allowed for the same role;
    if not, the server ends it once its keepalives give up)."""
    with suppress(psycopg.Error):
        conn.execute("SELECT pg_terminate_backend(%s)", (backend,))
