"""A throwaway PostgreSQL server for the tests (a pytest plugin, see conftest's
``pytest_plugins``): one cluster per test session, ``initdb`` into a temporary folder and
``pg_ctl`` on a free loopback port, stopped and removed at the end.

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user
that Debian's package creates (``runuser -u postgres --``). Each test that asks for
``pg_url`` gets a fresh, empty, migrated database in a few milliseconds: a copy of a
template migrated once (``CREATE DATABASE … TEMPLATE``).

No PostgreSQL installed: the tests that need it are skipped, unless DIGEST_REQUIRE_TOOLS=1
(CI), where they fail.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

TEMPLATE = "digest_template"


@dataclass(frozen=True)
class PgServer:
    """A running cluster: ``url(db)`` connects to database ``db`` as the superuser."""

    port: int
    user: str
    folder: Path
    run_as: tuple[str, ...] = ()
    bin_dir: Path = Path()
    durable: bool = False  # commits on disk before they return, as on a real server

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{db}"

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.encode())

    def create_db(self, name: str, *, template: str | None = TEMPLATE) -> str:
        """A new database (a copy of the migrated template, or empty); its URL."""
        self.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def _ctl(self, *args: str) -> None:
        done = subprocess.run(
            [*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"pg_ctl {args[-1]} failed: {done.stderr or done.stdout}")

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port}"
            f" -c unix_socket_directories={self.folder / 'sockets'}"
            " -c max_connections=200 -c shared_buffers=32MB"
            # a stop(immediate) must not lose what a commit said was kept: only a test that
            # stops its own server pays for durable commits
            + (
                ""
                if self.durable
                else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
        )
        log = str(self.folder / "server.log")
        self._ctl("-o", options, "-l", log, "-w", "-t", "60", "start")

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate``: as if it crashed; ``fast``: as an operator does)."""
        self._ctl("-m", mode, "-w", "stop")


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    return Path(found[-1]).parent if found else None


def _version(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _missing(why: str) -> None:
    if os.environ.get("DIGEST_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{why}, and DIGEST_REQUIRE_TOOLS is set")
    pytest.skip(why)


@contextmanager
def cluster(*, durable: bool = False) -> Iterator[PgServer]:
    """A new cluster in a temporary folder, started; stopped and removed afterwards, with
    the migrated template database every ``pg_url`` copies."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        _missing("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)")
    assert bin_dir is not None
    as_root = os.geteuid() == 0
    run_as = ("runuser", "-u", "postgres", "--") if as_root else ()
    if as_root and shutil.which("runuser") is None:
        _missing("runuser is missing: cannot start PostgreSQL as the postgres user")
    folder = Path(tempfile.mkdtemp(prefix="digest-pg-"))
    (folder / "sockets").mkdir()
    if as_root:
        shutil.chown(folder, "postgres")
        shutil.chown(folder / "sockets", "postgres")
    user = "postgres" if as_root else os.environ.get("USER", "postgres")
    server = PgServer(_free_port(), user, folder, run_as, bin_dir, durable)
    try:
        initdb = subprocess.run(
            [
                *run_as,
                str(bin_dir / "initdb"),
                "-D",
                str(folder / "data"),
                "-U",
                user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if initdb.returncode:
            raise RuntimeError(f"initdb failed: {initdb.stderr or initdb.stdout}")
        server.start()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"cannot start a test PostgreSQL: {exc}")
    try:
        from digest.store.postgresql import PgStore

        server.create_db(TEMPLATE, template=None)
        template = PgStore(server.url(TEMPLATE))
        template.migrate()
        template.close()
        yield server
    finally:
        with suppress(RuntimeError, subprocess.TimeoutExpired):
            server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's cluster, shared by every test (each gets its own database)."""
    with cluster() as server:
        yield server


@pytest.fixture
def pg_own_server() -> Iterator[PgServer]:
    """A cluster of this test's own, to stop and start again (``stop()``, ``start()``: same
    port, same data); ``create_db(name)`` makes a migrated database and gives its URL.
    Durable, unlike the session's: a crash keeps every commit."""
    with cluster(durable=True) as server:
        yield server


_numbers = itertools.count(1)


@pytest.fixture
def pg_url(pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The URL of a fresh, empty database with the schema in place, for this test only (and
    its HTTP cache in tmp_path: a PostgreSQL store keeps it in DIGEST_CACHE_DIR, else in
    ~/.cache/digest)."""
    monkeypatch.setenv("DIGEST_CACHE_DIR", str(tmp_path / "cache"))
    return pg_server.create_db(f"t{os.getpid()}_{next(_numbers)}")


@pytest.fixture
def pg_empty_url(pg_server: PgServer) -> str:
    """The URL of a fresh database with no schema at all."""
    return pg_server.create_db(f"e{os.getpid()}_{next(_numbers)}", template=None)
