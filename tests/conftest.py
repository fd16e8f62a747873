"""Shared fixtures: real servers on loopback, a real TinyDB file, a config in a temp dir."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from digest.cli import main
from digest.store import Store, open_store

pytest_plugins = [
    "dovecot_server",
    "pg_server",
    "returned_mail",
]  # throwaway Dovecot, PostgreSQL (tests/*_server.py); an edition sent and its mail back
FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE = Path(__file__).parent.parent / "digest" / "samples" / "hf-daily-2025-11-25.json"

CONFIG_TEMPLATE = """\
store: {store}
outbox: {outbox}
base_url: https://papers.example.org
sender:
  from: "Daily Papers <papers@example.org>"
  postal_address: "1 Research Way, Cambridge"
  unsubscribe_mailto: unsubscribe@example.org
smtp:
  host: {smtp_host}
  port: {smtp_port}
  security: none
  timeout: 5
  retries: 2
digests:
  daily:
    title: Daily Papers
    sources: [hf-daily]
    schedule: "0 7 * * mon-fri"
    timezone: Europe/London
    size: 5
"""


#: A second digest, weekly, to add to CONFIG_TEMPLATE with ``config_file(extra=...)``.
WEEKLY_DIGEST = """\
  weekly:
    title: Weekly Papers
    sources: [hf-daily]
    schedule: "0 8 * * mon"
    timezone: Europe/London
    period: week
"""


#: The slow tests, in one place (`make test-fast` runs the others): whole modules by file
#: name, single tests as "file::function". Measured with `pytest --durations=40`.
SLOW_MODULES = frozenset(
    {
        "test_end_to_end.py",  # the real pipeline, run twice, through the command line
        "test_exactly_once.py",  # sends killed and resumed in real processes
        "test_rank_send.py",  # personal emails through `digest send` processes
        "test_serve_schedule.py",  # `digest serve` processes sending on schedule
        "test_web_browser.py",  # chromium
        "test_web_concurrency.py",  # serve processes under concurrent requests and a send
        "test_wheel.py",  # builds the wheel, installs it in a fresh venv
    }
)
SLOW_TESTS = frozenset(
    {
        "test_parse_props.py::test_mutated_fixtures",  # hypothesis over every saved fixture
        "test_hostile_disk.py::test_a_full_disk_under_the_journal_stops_the_send_with_one_error",
        "test_hostile_disk.py::test_sigterm_ends_a_send_stuck_on_a_silent_relay_within_seconds",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks the tests listed in SLOW_MODULES and SLOW_TESTS as ``slow``; a listed name that
    no longer exists is a usage error, so the list cannot quietly go stale."""
    here = Path(__file__).parent
    for name in (*SLOW_MODULES, *SLOW_TESTS):
        module, _, test = name.partition("::")
        path = here / module
        if not path.is_file() or (test and f"def {test}(" not in path.read_text()):
            raise pytest.UsageError(f"tests/conftest.py lists {name} as slow: no such test")
    for item in items:
        test = getattr(item, "originalname", item.name)
        if item.path.name in SLOW_MODULES or f"{item.path.name}::{test}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


#: Switches of the test run itself, read by tests and never by digest: kept in the environment.
TEST_SWITCHES = frozenset({"DIGEST_REQUIRE_TOOLS", "DIGEST_REGEN_GOLDEN", "DIGEST_SCREENSHOTS"})


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No DIGEST_* setting of the developer's shell (a real relay, a real store) reaches a
    test; the store is tmp_path/store.json, the file the test configs here name."""
    for name in list(os.environ):
        if name.startswith("DIGEST_") and name not in TEST_SWITCHES:
            monkeypatch.delenv(name)
    monkeypatch.setenv("DIGEST_STORE", str(tmp_path / "store.json"))


@pytest.fixture(params=["tinydb", "postgresql"])
def each_store(
    request: pytest.FixtureRequest, clean_environment: None, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Runs the test once per backend: DIGEST_STORE names the TinyDB file, or a fresh
    database of the throwaway PostgreSQL server (tests/pg_server.py). A module opts in with
    ``pytestmark = pytest.mark.usefixtures("each_store")`` and opens :func:`current_store`."""
    if request.param == "postgresql":
        monkeypatch.setenv("DIGEST_STORE", request.getfixturevalue("pg_url"))
    return os.environ["DIGEST_STORE"]


def current_store() -> Store:
    """The store this test's DIGEST_STORE names (see ``each_store``)."""
    return open_store(os.environ["DIGEST_STORE"])


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``digest ARGS`` in-process: exit code, stdout, stderr."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Script:
    """An aiosmtpd handler told per address how to answer; records what it got.

    ``mail``/``rcpt``/``data`` map an address to the reply for that step; ``sleep`` delays
    the DATA reply; ``drop`` cuts the connection in the middle of DATA (no reply);
    ``hang_up`` closes the connection right after a 250, as Yahoo does after N messages;
    ``step_sleep`` delays every MAIL, RCPT and DATA reply; ``smtputf8`` False hides the
    SMTPUTF8 extension from EHLO."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    mail: dict[str, str] = field(default_factory=dict)
    rcpt: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    sleep: dict[str, float] = field(default_factory=dict)
    drop: set[str] = field(default_factory=set)
    hang_up: set[str] = field(default_factory=set)
    step_sleep: float = 0.0
    smtputf8: bool = True
    servers: set[Any] = field(default_factory=set)  # one per connection that sent MAIL
    quits: int = 0
    resets: int = 0

    @property
    def connections(self) -> int:
        return len(self.servers)

    @property
    def recipients(self) -> list[str]:
        return [rcpt for _, rcpts, _ in self.messages for rcpt in rcpts]

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [r for r in responses if self.smtputf8 or "SMTPUTF8" not in r]

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.servers.add(server)
        await asyncio.sleep(self.step_sleep)
        if address in self.mail:
            return self.mail[address]
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        await asyncio.sleep(self.step_sleep)
        if address in self.rcpt:
            return self.rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        to = envelope.rcpt_tos[0]
        await asyncio.sleep(self.step_sleep + self.sleep.get(to, 0.0))
        if to in self.drop:
            server.transport.abort()
            return "250 never seen"
        if to in self.data:
            return self.data[to]
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        if to in self.hang_up:
            server.loop.call_soon(server.transport.close)  # after the 250 is written
        return "250 Message accepted for delivery"

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:
        self.resets += 1
        return "250 OK"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.quits += 1
        return "221 Bye"


@dataclass
class SmtpServer:
    host: str
    port: int
    script: Script


@contextmanager
def running(handler: Any) -> Iterator[int]:
    """An aiosmtpd server on 127.0.0.1 with ``handler``, for the block; yields its port."""
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real aiosmtpd server on 127.0.0.1 that records every message and can be told per
    address how to answer (see :class:`Script`)."""
    script = Script()
    with running(script) as port:
        yield SmtpServer("127.0.0.1", port, script)


SMTP_USER, SMTP_PASSWORD = "digest", "correct horse"


def authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    """Accepts SMTP_USER / SMTP_PASSWORD over AUTH PLAIN or LOGIN."""
    expected = LoginPassword(SMTP_USER.encode(), SMTP_PASSWORD.encode())
    return AuthResult(success=auth_data == expected, handled=False)  # False: reply 535


@dataclass
class TlsServer:
    host: str
    port: int
    script: Script
    client_context: ssl.SSLContext  # trusts the throwaway CA that signed the server's cert


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """A throwaway certificate authority for the TLS test servers."""
    return trustme.CA()


@pytest.fixture
def tls_smtp(tls_ca: trustme.CA) -> Iterator[Callable[[str], TlsServer]]:
    """Starts a real aiosmtpd server with a certificate for 127.0.0.1 and AUTH required:
    ``"starttls"`` (mail and AUTH only after STARTTLS) or ``"tls"`` (implicit TLS)."""
    controllers: list[Controller] = []

    def start(mode: str) -> TlsServer:
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_ca.issue_cert("127.0.0.1").configure_cert(server_context)
        client_context = ssl.create_default_context()
        tls_ca.configure_trust(client_context)
        options: dict[str, Any] = {"authenticator": authenticate, "auth_required": True}
        if mode == "starttls":
            options.update(tls_context=server_context, require_starttls=True)
        else:  # aiosmtpd counts only STARTTLS as TLS, so let AUTH through on implicit TLS
            options.update(ssl_context=server_context, auth_require_tls=False)
        script = Script()
        controller = Controller(script, hostname="127.0.0.1", port=free_port(), **options)
        controller.start()
        controllers.append(controller)
        return TlsServer("127.0.0.1", controller.port, script, client_context)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[..., Path]:
    """Writes a schedules.yaml in tmp_path (store and outbox in tmp_path too)."""

    def write(smtp_host: str = "null", smtp_port: int = 25, extra: str = "") -> Path:
        path = tmp_path / "schedules.yaml"
        path.write_text(
            CONFIG_TEMPLATE.format(
                store=tmp_path / "store.json",
                outbox=tmp_path / "outbox",
                smtp_host=smtp_host,
                smtp_port=smtp_port,
            )
            + extra
        )
        return path

    return write


Route = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


@dataclass
class HttpServer:
    url: str
    requests: list[str]


@pytest.fixture
def http_server() -> Iterator[Callable[[Route], HttpServer]]:
    """Starts a real HTTP server on 127.0.0.1 answering with the given route function."""
    servers: list[ThreadingHTTPServer] = []

    def start(route: Route) -> HttpServer:
        seen: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                status, headers, body = route(self)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return HttpServer(f"http://127.0.0.1:{server.server_address[1]}", seen)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class Feed:
    """A digest's source: a local HTTP server answering with a saved HF day (a test can
    change the answer), that counts its fetches."""

    def __init__(self, server: Callable[[Route], HttpServer]) -> None:
        self.status = 200
        self.body = (FIXTURES / "hf-daily-2025-11-slice.json").read_bytes()
        self.http = server(self.answer)

    def answer(self, _: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        return self.status, {"Content-Type": "application/json"}, self.body

    @property
    def fetches(self) -> int:
        return len(self.http.requests)


@pytest.fixture
def feed(http_server: Callable[[Route], HttpServer]) -> Feed:
    return Feed(http_server)


# the real digest command in a subprocess, as an operator runs it ------------------------

READERS = [f"reader{n:03}@example.org" for n in range(120)]
PROCESS_SECRET = "test-secret-0123456789abcdefghijkl"


def digest_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "digest", "--config", str(config), *args]


def run_digest(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``digest --config CONFIG ARGS…`` in a subprocess, signing links with a test secret."""
    env = {**os.environ, "DIGEST_SECRET": PROCESS_SECRET}
    return subprocess.run(
        digest_command(config, *args),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def durably(ask: Callable[[], Awaitable[None]]) -> None:
    """Run one ledger or journal write to its end (it is queued when asked for, so it is asked
    for inside the event loop): ``durably(lambda: ledger.claim(...))``."""

    async def go() -> None:
        await ask()

    asyncio.run(go())


def with_readers(config_file: Callable[..., Path], port: int, tmp_path: Path) -> Path:
    """A config with 4 SMTP connections, and READERS imported."""
    config = config_file(smtp_host="127.0.0.1", smtp_port=port)
    config.write_text(
        config.read_text().replace("  retries: 2\n", "  retries: 2\n  connections: 4\n")
    )
    csv = tmp_path / "readers.csv"
    csv.write_text("email\n" + "\n".join(READERS) + "\n")
    imported = run_digest(config, "subscribers", "import", str(csv))
    assert imported.returncode == 0, imported.stderr
    return config
