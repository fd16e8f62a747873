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

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{db}"

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.encode())

    def create_db(self, name: str, *, template: str | None = TEMPLATE) -> str:
        """A new database (a copy of the migrated template, or empty); its URL."""
        self.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)


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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        _missing("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)")
    assert bin_dir is not None
    as_root = os.geteuid() == 0
    run_as: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root and shutil.which("runuser") is None:
        _missing("runuser is missing: cannot start PostgreSQL as the postgres user")
    folder = Path(tempfile.mkdtemp(prefix="digest-pg-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if as_root:
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
    user = "postgres" if as_root else os.environ.get("USER", "postgres")
    port = _free_port()

    def run(*args: str) -> None:
        done = subprocess.run(
            [*run_as, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed: {done.stderr or done.stdout}")

    try:
        run(
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockets}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=200 -c shared_buffers=32MB"
        )
        run(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(folder / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"cannot start a test PostgreSQL: {exc}")
    server = PgServer(port, user, folder)
    try:
        from digest.store.postgresql import PgStore

        server.create_db(TEMPLATE, template=None)
        template = PgStore(server.url(TEMPLATE))
        template.migrate()
        template.close()
        yield server
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


_numbers = itertools.count(1)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL of a fresh, empty database with the schema in place, for this test only."""
    return pg_server.create_db(f"t{os.getpid()}_{next(_numbers)}")


@pytest.fixture
def pg_empty_url(pg_server: PgServer) -> str:
    """The URL of a fresh database with no schema at all."""
    return pg_server.create_db(f"e{os.getpid()}_{next(_numbers)}", template=None)
