"""Connecting to the PostgreSQL store: the URL (and where it points, without its password),
the lazily opened pool, and psycopg's errors as one StoreError line.

The password comes from the URL, ``PGPASSWORD`` or ``~/.pgpass`` (libpq reads them); it is
never part of :attr:`Target.location`, of a message or of a log line.
"""

from __future__ import annotations

import os
import re
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from digest.errors import StoreError


@dataclass(frozen=True, slots=True)
class Target:
    """Where a store URL points."""

    url: str
    location: str  # the URL without its password, for messages
    where: str  # host:port, for "cannot reach" messages
    password: str  # only to scrub it from the server's messages, should one quote it

    @classmethod
    def of(cls, url: str) -> Target:
        try:
            params: dict[str, Any] = conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise StoreError(f"store URL is not valid: {_first_line(exc)}") from None
        host = str(params.get("host") or os.environ.get("PGHOST") or "localhost")
        port = str(params.get("port") or os.environ.get("PGPORT") or "5432")
        user = str(params.get("user") or "")
        db = str(params.get("dbname") or user or "")
        shown_host = quote(host, safe="") if host.startswith("/") else host
        location = (
            f"postgresql://{quote(user, safe='') + '@' if user else ''}{shown_host}:{port}/{db}"
        )
        where = f"{host}:{port}"
        return cls(url, location, where, str(params.get("password") or ""))

    @property
    def cache_name(self) -> str:
        """``<host>-<port>-<db>``: a name for files kept for this store on this machine."""
        rest = self.location.split("://", 1)[1].rpartition("@")[2]
        hostport, _, db = rest.partition("/")
        host, _, port = hostport.rpartition(":")
        return "-".join(p.replace("/", "_").replace("%", "_") for p in (host, port, db))

    def scrub(self, text: str) -> str:
        return text.replace(self.password, "***") if self.password else text


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__


def _why(exc: BaseException) -> str:
    """libpq's reason, without its preamble: ``Connection refused``, ``FATAL: password
    authentication failed for user "digest"``, ``timeout expired``."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    reason = first.rpartition(" failed: ")[2] if " failed: " in first else first
    return re.sub(r"^(FATAL|ERROR):\s+", "", reason) or type(exc).__name__


#: A pooled connection used less than this many seconds ago is lent again without a round
#: trip to check it: it was working a moment ago (a busy web app reuses each several times a
#: second). One idle for longer is checked first, so a server restarted overnight costs no
#: reader's request.
CHECK_AFTER = 2.0

#: The server's TCP keepalives on a lock's connection: a peer silent for 30 s is probed every
#: 10 s, and given up after 3 probes unanswered.
_KEEPALIVES = "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"

#: The same on this side (libpq's parameters), and a write the server leaves unacknowledged
#: for 20 s ends the connection (TCP_USER_TIMEOUT): a lock's check on a cut network fails
#: within a check or two, instead of after the kernel's 15 minutes of retries.
_CLIENT_KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 20_000,
}


class Connections:
    """The store's pool, opened on first use, and dedicated connections (for locks)."""

    def __init__(self, target: Target, *, size: int = 8, timeout: float = 10.0) -> None:
        self.target = target
        self._size, self._timeout = size, timeout
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._lock = threading.Lock()
        self._used: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    def error(self, exc: BaseException, *, connecting: bool = False) -> StoreError:
        """One line: what failed, where (host:port), and the server's or libpq's reason."""
        reason = self.target.scrub(_first_line(exc))
        if connecting or (isinstance(exc, psycopg.OperationalError) and self._lost(exc)):
            return StoreError(
                f"cannot reach PostgreSQL at {self.target.where}: {self.target.scrub(_why(exc))}",
                hint="is the server running, and the store URL right?",
            )
        return StoreError(f"store {self.target.location}: {reason}")

    @staticmethod
    def _lost(exc: psycopg.OperationalError) -> bool:
        return exc.sqlstate is None or exc.sqlstate.startswith(("08", "57P"))  # gone, shut down

    def connect(self, name: str = "digest") -> psycopg.Connection[Any]:
        """A connection of its own (autocommit), for a lock held over many transactions. The
        server probes it (TCP keepalives), so that the locks of a host that died without a
        word (power cut, network gone) are let go in about a minute, not hours."""
        try:
            return psycopg.connect(self.target.url, **self._own(name))
        except psycopg.Error as exc:
            raise self.error(exc, connecting=True) from None

    async def connect_async(self, name: str) -> psycopg.AsyncConnection[Any]:
        """:meth:`connect`'s connection, on the running event loop (a sender's ledger: its
        writes wait on the server there, not in a thread that needs the GIL back twice)."""
        try:
            return await psycopg.AsyncConnection.connect(self.target.url, **self._own(name))
        except psycopg.Error as exc:
            raise self.error(exc, connecting=True) from None

    def _own(self, name: str) -> dict[str, Any]:
        """The settings of a connection of its own: autocommit, probed both ways, and named
        (``application_name`` in ``pg_stat_activity``) unless the URL names it."""
        params = conninfo_to_dict(self.target.url)
        given = str(params.get("options") or "")
        return {
            "application_name": str(params.get("application_name") or name),
            "autocommit": True,
            "connect_timeout": int(self._timeout),
            "options": f"{given} {_KEEPALIVES}".strip(),
            **_CLIENT_KEEPALIVES,
        }

    def pool(self) -> ConnectionPool[psycopg.Connection[Any]]:
        with self._lock:
            if self._pool is None:
                self.connect().close()  # an unreachable server: its reason, not a timeout
                pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                    self.target.url,
                    min_size=1,
                    max_size=self._size,
                    open=False,
                    timeout=self._timeout,
                    kwargs={"connect_timeout": int(self._timeout)},
                    check=self._check,  # a server restarted: reconnect
                    name=f"digest {self.target.where}",
                )
                try:
                    pool.open(wait=True, timeout=self._timeout)
                except PoolTimeout as exc:
                    raise StoreError(
                        f"cannot reach PostgreSQL at {self.target.where}: no connection in "
                        f"{self._timeout:g} s"
                    ) from exc
                self._pool = pool
            return self._pool

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """Before the pool lends ``conn``: a round trip, unless it was in use a moment ago."""
        if time.monotonic() - self._used.get(conn, 0.0) > CHECK_AFTER:
            ConnectionPool.check_connection(conn)

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on a pooled connection: committed when the block ends, rolled
        back when it raises. psycopg's errors become StoreError."""
        with self._pooled(autocommit=False) as conn:
            yield conn

    @contextmanager
    def statement(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection for one statement that stands alone (a read by key): no
        BEGIN and COMMIT around it, two round trips fewer. psycopg's errors become
        StoreError."""
        with self._pooled(autocommit=True) as conn:
            yield conn

    @contextmanager
    def _pooled(self, *, autocommit: bool) -> Iterator[psycopg.Connection[Any]]:
        pool = self.pool()
        try:
            with pool.connection() as conn:
                try:
                    conn.autocommit = autocommit
                    yield conn
                finally:
                    self._give_back(conn)
        except PoolTimeout as exc:
            self.connect().close()  # the server gone: say why (cannot reach …), not "busy"
            raise StoreError(
                f"store {self.target.location}: no free connection in {self._timeout:g} s",
                hint="too many operations at once, or the server is stuck",
            ) from exc
        except psycopg.Error as exc:
            raise self.error(exc) from exc

    def _give_back(self, conn: psycopg.Connection[Any]) -> None:
        """Note when ``conn`` was last used, and leave it as the pool lends them (not in
        autocommit), unless it is broken: then the pool replaces it."""
        self._used[conn] = time.monotonic()
        if conn.autocommit and not conn.closed:
            try:
                conn.autocommit = False
            except psycopg.Error:
                conn.close()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
