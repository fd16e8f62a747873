"""A PostgreSQL ``exclusive`` lock whose session ends behind the holder's back
(``pg_terminate_backend``, as a server restart, a proxy or a network cut would end it): the
holder notices at its next check, takes the lock back when nobody else has it, and stops the
work it guards when another process took it (digest/store/pg_lock.py)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from conftest import Feed, SmtpServer
from pg_server import PgServer
from test_scheduled import RUN, add_readers, make_config

from digest.errors import StoreError
from digest.schedule.scheduler import Scheduler
from digest.store.pg_queries import lock_keys
from digest.store.postgresql import PgStore
from digest.store.protocol import Holder

EVERY = 0.1  # seconds between two checks of a held lock, instead of 15
_THE_LOCK = (  # in this database: the session's cluster holds every test's
    "locktype = 'advisory' AND classid = %s::int4::oid AND objid = %s::int4::oid"
    " AND objsubid = 2"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def lock_backend(url: str, name: str) -> int | None:
    """The server pid of the session that holds ``exclusive(name)`` (None: nobody)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT pid FROM pg_locks WHERE {_THE_LOCK} AND granted", lock_keys(name)
        ).fetchone()
    return int(row[0]) if row else None


def terminate(url: str, backend: int) -> None:
    """End that session from another connection, and wait until it is gone."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s, 5000)", (backend,))


def eventually(check: Callable[[], bool], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


@contextmanager
def another_host(url: str) -> Iterator[Callable[[str], threading.Thread]]:
    """Another host's process; ``queue(name)`` has it wait for the lock (``pg_advisory_lock``)
    in a thread: it gets it the moment the holder's session ends, before any check of the
    holder's can take it back, and records itself in lock_holders as ``exclusive`` does
    (host-b, pid 4242). It holds the lock until the block ends."""
    conn = psycopg.connect(url, autocommit=True)
    grab = (
        "WITH got AS (SELECT pg_advisory_lock(%s, %s))"
        " INSERT INTO lock_holders (name, host, pid) SELECT %s, 'host-b', 4242 FROM got"
        " ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid"
    )
    waiters: list[threading.Thread] = []

    def queue(name: str) -> threading.Thread:
        waiter = threading.Thread(target=conn.execute, args=(grab, (*lock_keys(name), name)))
        waiters.append(waiter)
        waiter.start()
        assert eventually(lambda: _waiting(url, name)), "the other host never queued"
        return waiter

    try:
        yield queue
    finally:
        for waiter in waiters:
            waiter.join(timeout=10)
        conn.close()


def _waiting(url: str, name: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM pg_locks WHERE {_THE_LOCK} AND NOT granted", lock_keys(name)
        ).fetchone()
    return bool(row and row[0])


HOST_B = Holder(here=False, pid=4242, host="host-b")


def test_a_lock_whose_session_was_ended_is_taken_back_when_nobody_else_has_it(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = "send-lab"
    assert lock_keys(name)[1] < 0  # a key pg_locks shows as an oid above 2**31
    store, lost = PgStore(pg_url, lock_every=EVERY), list[Holder]()
    with caplog.at_level(logging.INFO), store.exclusive(name, on_lost=lost.append):
        first = lock_backend(pg_url, name)
        assert first is not None
        terminate(pg_url, first)
        assert eventually(lambda: lock_backend(pg_url, name) not in (None, first))
        here = Holder(here=False, pid=os.getpid(), host=socket.gethostname())
        assert PgStore(pg_url).holder(name) == here
        with (
            pytest.raises(StoreError, match="another process holds"),
            PgStore(pg_url).exclusive(name),
        ):  # ours again
            pass
    assert lost == []
    assert events(caplog).count("lock.lost") == 1 and events(caplog).count("lock.retaken") == 1
    assert "lock.taken_over" not in events(caplog)
    assert PgStore(pg_url).holder(name) is None  # let go at the end of the block


def test_a_lock_another_process_took_meanwhile_is_lost_once_and_names_it(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store, lost = PgStore(pg_url, lock_every=EVERY), list[Holder]()
    fired = threading.Event()

    def on_lost(holder: Holder) -> None:
        lost.append(holder)
        fired.set()

    with caplog.at_level(logging.INFO), another_host(pg_url) as queue:
        with store.exclusive("scheduler", on_lost=on_lost):
            first = lock_backend(pg_url, "scheduler")
            assert first is not None
            waiter = queue("scheduler")
            terminate(pg_url, first)
            waiter.join(timeout=5)
            assert fired.wait(timeout=5), "the holder never noticed"
            assert store.holder("scheduler") == HOST_B  # not "here" any more
            assert PgStore(pg_url).holder("scheduler") == HOST_B
            time.sleep(5 * EVERY)  # more checks: no second call, no retake
        assert lost == [HOST_B]
        assert PgStore(pg_url).holder("scheduler") == HOST_B  # its record left alone
    taken = [r for r in caplog.records if r.getMessage() == "lock.taken_over"]
    assert len(taken) == 1 and taken[0].levelno == logging.ERROR
    assert taken[0].__dict__["fields"]["holder_host"] == "host-b"
    assert taken[0].__dict__["fields"]["holder_pid"] == 4242
    assert "lock.retaken" not in events(caplog)


@pytest.mark.slow
def test_a_lock_held_across_a_server_restart_is_taken_back_once_the_server_is_up(
    pg_own_server: PgServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = pg_own_server.create_db("papers")
    store, lost = PgStore(url, lock_every=EVERY), list[Holder]()
    with caplog.at_level(logging.INFO), store.exclusive("scheduler", on_lost=lost.append):
        pg_own_server.stop()
        assert eventually(lambda: "lock.lost" in events(caplog))
        time.sleep(5 * EVERY)  # checks while the server is down: tried again, quietly
        pg_own_server.start()
        assert eventually(lambda: lock_backend(url, "scheduler") is not None, within=10)
        assert PgStore(url).holder("scheduler") == Holder(
            here=False, pid=os.getpid(), host=socket.gethostname()
        )
    assert lost == []
    assert events(caplog).count("lock.lost") == 1 and events(caplog).count("lock.retaken") == 1


def test_a_cut_the_server_has_not_seen_yet_ends_our_old_session_and_takes_the_lock_back(
    pg_url: str, pg_server: PgServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The client's end of the connection gone while the server still keeps the session
    (its backend stopped, as a server on the far side of a cut would): nobody else can take
    the lock meanwhile, and once that session ends the holder has it again. Another
    digest's database on the same server, holding its own lock of that name, is no rival."""
    store, lost = PgStore(pg_url, lock_every=EVERY), list[Holder]()
    neighbour = PgStore(pg_server.create_db(f"n{os.getpid()}_{time.monotonic_ns()}"))
    with (
        caplog.at_level(logging.INFO),
        neighbour.exclusive("inbound-imap"),
        store.exclusive("inbound-imap", on_lost=lost.append),
    ):
        first = lock_backend(pg_url, "inbound-imap")
        assert first is not None
        os.kill(first, signal.SIGSTOP)
        try:
            held = store._held["inbound-imap"]._conn  # the client's end of the lock's session
            assert held is not None
            with socket.socket(fileno=os.dup(held.fileno())) as end:
                end.shutdown(socket.SHUT_RDWR)
            assert eventually(lambda: "lock.lost" in events(caplog))
            # the holder asked the server to end its old session (a SIGTERM waits on the
            # stopped backend), and meanwhile nobody has the lock but that session
            assert eventually(lambda: _sigterm_pending(first))
            assert lock_backend(pg_url, "inbound-imap") == first
            other = PgStore(pg_url)
            with pytest.raises(StoreError), other.exclusive("inbound-imap"):  # nobody else can
                pass
        finally:
            os.kill(first, signal.SIGCONT)  # it ends: terminated by the holder's retake
        assert eventually(lambda: lock_backend(pg_url, "inbound-imap") not in (None, first))
    assert lost == [] and "lock.retaken" in events(caplog)


def _sigterm_pending(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    pending = next(line for line in status.splitlines() if line.startswith("ShdPnd:"))
    return bool(int(pending.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def test_a_scheduler_whose_lock_another_serve_took_starts_no_more_runs(
    tmp_path: Path,
    feed: Feed,
    smtp_server: SmtpServer,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("DIGEST_STORE", pg_url)
    config = make_config(tmp_path, feed, smtp_server)
    add_readers(config, {"london@example.org": None})
    now = [RUN - timedelta(hours=1)]  # nothing due yet
    store = PgStore(pg_url, lock_every=EVERY)
    scheduler = Scheduler(config, store=store, clock=lambda: now[0])
    with caplog.at_level(logging.INFO), another_host(pg_url) as queue:
        scheduler.claim()
        scheduler.start()
        try:
            first = lock_backend(pg_url, "scheduler")
            assert first is not None
            queue("scheduler")
            terminate(pg_url, first)
            assert scheduler.lost.wait(timeout=5), "the scheduler never heard"
            assert scheduler.stopping.is_set()
            now[0] = RUN
            assert scheduler.run("daily") is None  # due now, but not ours to send
            scheduler.sweep()
            assert smtp_server.script.recipients == []
        finally:
            scheduler.stop()  # from paused: lets go of the rest, and of nobody else's lock
        assert PgStore(pg_url).holder("scheduler") == HOST_B
    said = [r for r in caplog.records if r.getMessage() == "scheduler.lock_lost"]
    assert len(said) == 1 and said[0].levelno == logging.ERROR
    assert said[0].__dict__["fields"]["holder_host"] == "host-b"
    assert said[0].__dict__["fields"]["holder_pid"] == 4242


def test_a_held_lock_gives_up_on_a_silent_server_within_its_tcp_user_timeout(
    pg_url: str,
) -> None:
    store = PgStore(pg_url, lock_every=60)
    with store.exclusive("scheduler"):
        held = store._held["scheduler"]._conn
        assert held is not None
        with socket.socket(fileno=os.dup(held.fileno())) as sock:
            ms = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)
    assert ms == 20_000
