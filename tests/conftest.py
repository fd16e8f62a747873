"""Shared fixtures: real servers on loopback, a real TinyDB file, a config in a temp dir."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Received:
    """What the SMTP server got: one entry per accepted message."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    reject_rcpt: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.reject_rcpt:
            return self.reject_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    received: Received


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real aiosmtpd server on 127.0.0.1 that records every message."""
    received = Received()
    port = free_port()
    controller = Controller(received, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, received)
    finally:
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
