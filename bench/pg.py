"""A throwaway PostgreSQL server for the benchmarks: ``initdb`` into a temporary folder,
``pg_ctl`` on a free loopback port, stopped and removed at the end.

Unlike the tests' cluster (tests/pg_server.py, which turns fsync off for speed) this one is
configured as a real server would be: ``fsync``, ``synchronous_commit`` and
``full_page_writes`` stay on, so every commit waits for its WAL to reach the disk. As root the
cluster belongs to the ``postgres`` user Debian's package creates (``initdb`` refuses root).

Usage::

    with throwaway_cluster() as server:
        url = server.create_db("bench")

``load_subscribers`` fills an empty store by COPY (``Store.load``, the write half of
``digest store copy``): ``save_subscribers`` (what ``digest subscribers import`` calls) is
far slower at these sizes on PostgreSQL (see docs/benchmarks.md, issue 16).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from secrets import token_hex
from typing import Any

import psycopg

from digest.models import Subscriber
from digest.store.documents import subscriber_doc

#: Settings for a small dedicated server on a 2-core machine: durable commits (the
#: defaults), memory a little above the defaults, room for the benchmarks' connections.
SETTINGS = (
    "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockets}"
    " -c fsync=on -c synchronous_commit=on -c full_page_writes=on"
    " -c max_connections=200 -c shared_buffers=256MB -c max_wal_size=2GB"
)


@dataclass(frozen=True)
class Cluster:
    """A running cluster: ``url(db)`` connects to database ``db`` as the superuser."""

    port: int
    user: str
    folder: Path
    version: str

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{db}"

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.encode())

    def create_db(self, name: str) -> str:
        """A new empty database; its URL."""
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def pid(self) -> int:
        """The postmaster's pid (its backends are its children)."""
        return int((self.folder / "data" / "postmaster.pid").read_text().split()[0])

    def size(self, db: str) -> int:
        """The database's size on disk in bytes."""
        with psycopg.connect(self.url(db)) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0


def load_subscribers(url: str, subs: Iterable[Subscriber]) -> int:
    """Write ``subs`` (ids given or made here) into the empty, migrated store at ``url`` by
    COPY, in one transaction; how many."""
    from digest.store.postgresql import PgStore

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        for sub in subs:
            yield "subscribers", subscriber_doc(sub if sub.id else replace(sub, id=token_hex(8)))

    store = PgStore(url)
    try:
        return store.load(rows()).get("subscribers", 0)
    finally:
        store.close()


def bin_dir() -> Path:
    """The newest installed PostgreSQL's bin folder (Debian's layout)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if not found:
        raise SystemExit(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
            "apt-get install postgresql"
        )
    return Path(found[-1]).parent


def _version(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def throwaway_cluster(kept: Path | None = None) -> Iterator[Cluster]:
    """Start a fresh cluster, yield it, stop and remove it (also on errors). With ``kept``,
    the cluster lives in that folder and stays there, stopped, for the next run to reuse."""
    binaries = bin_dir()
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    folder = kept or Path(tempfile.mkdtemp(prefix="digest-bench-pg-"))
    folder.mkdir(parents=True, exist_ok=True)
    data, sockets = folder / "data", folder / "sockets"
    fresh = not data.exists()
    sockets.mkdir(exist_ok=True)
    if as_root:
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
    user = "postgres" if as_root else os.environ.get("USER", "postgres")
    port = _free_port()

    def run(*args: str) -> str:
        done = subprocess.run(
            [*run_as, *args], capture_output=True, text=True, timeout=180, check=False
        )
        if done.returncode:
            raise SystemExit(f"{Path(args[0]).name} failed: {done.stderr or done.stdout}")
        return done.stdout

    previous = signal.signal(signal.SIGTERM, _exit)  # a kill still stops the cluster
    started = False
    try:
        if fresh:
            run(
                str(binaries / "initdb"),
                *("-D", str(data), "-U", user, "--auth=trust"),
                *("--encoding=UTF8", "--locale=C.UTF-8"),
            )
        options = SETTINGS.format(port=port, sockets=sockets)
        log = str(folder / "server.log")
        run(str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", log, "-w", "start")
        started = True
        version = run(str(binaries / "postgres"), "--version").strip()
        yield Cluster(port, user, folder, version)
    finally:
        if started:
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        if kept is None:
            shutil.rmtree(folder, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def machine() -> str:
    """nproc, CPU model, RAM and kernel, for the figures' heading."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return (
        f"{os.cpu_count()} cores, {model}, {mem_kb / 1024 / 1024:.0f} GiB RAM, {os.uname().release}"
    )
