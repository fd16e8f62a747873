"""A real HTTP server on 127.0.0.1 whose every answer a test scripts in full.

Unlike conftest's ``http_server`` (status, headers, body, and a Content-Length added), a
:class:`Reply` here says exactly what goes on the wire: no header the test did not ask for
(not even ``Date``), a chunked body without Content-Length, a body far larger than what it
announces, a slow answer, or a connection closed without an answer. The server records each
request's path and headers, and how many body bytes it managed to write before the client
hung up, so a test can prove that the client stopped reading early.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Seen:
    """One request as the server received it (header names in lower case)."""

    path: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Reply:
    """What to answer. ``flood`` sends that many body bytes after ``body`` (in 64 KB pieces,
    until the client hangs up); ``chunked`` drops Content-Length for chunked encoding;
    ``length`` False leaves Content-Length out; ``delay`` waits before answering; ``drop``
    closes the connection without a word."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    flood: int = 0
    chunked: bool = False
    length: bool = True
    delay: float = 0.0
    drop: bool = False


Route = Callable[[Seen], Reply]


@dataclass
class FeedServer:
    """A running server: its base URL, what it saw, and what it wrote per answer."""

    url: str
    port: int
    requests: list[Seen] = field(default_factory=list)
    written: list[int] = field(default_factory=list)  # body bytes written, per finished answer
    hung_up: list[bool] = field(default_factory=list)  # did the client close mid-answer?
    done: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def wait_answers(self, count: int, timeout: float = 10.0) -> None:
        """Block until ``count`` answers have finished being written (or failed to)."""
        for _ in range(count):
            assert self.done.acquire(timeout=timeout), "the server never finished answering"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler still sleeping must not hold the test's teardown


def _handler(route: Route, record: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        written = 0  # body bytes of the current answer that reached the socket

        def do_GET(self) -> None:
            seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()})
            record.requests.append(seen)
            reply = route(seen)
            self.close_connection = True
            self.written, hung_up = 0, False
            try:
                time.sleep(reply.delay)
                if not reply.drop:  # else: close without a word
                    self._head(reply)
                    self._body(reply)
            except (BrokenPipeError, ConnectionResetError):
                hung_up = True
            finally:
                record.written.append(self.written)
                record.hung_up.append(hung_up)
                record.done.release()

        def _head(self, reply: Reply) -> None:
            self.send_response_only(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            elif reply.length and "Content-Length" not in reply.headers:
                self.send_header("Content-Length", str(len(reply.body) + reply.flood))
            self.send_header("Connection", "close")
            self.end_headers()

        def _body(self, reply: Reply) -> None:
            for piece in _pieces([reply.body] if reply.body else [], reply.flood):
                self._write(piece, reply.chunked)
                self.written += len(piece)
            if reply.chunked:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _write(self, piece: bytes, chunked: bool) -> None:
            if chunked:
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            else:
                self.wfile.write(piece)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def _pieces(first: list[bytes], flood: int) -> Iterator[bytes]:
    yield from first
    while flood > 0:
        size = min(CHUNK, flood)
        yield b"x" * size
        flood -= size


@contextmanager
def serve(route: Route, port: int = 0) -> Iterator[FeedServer]:
    """A server on 127.0.0.1 (``port`` 0: any free one) answering with ``route``."""
    record = FeedServer("", 0)
    server = _Server(("127.0.0.1", port), _handler(route, record))
    record.port = server.server_address[1]
    record.url = f"http://127.0.0.1:{record.port}"
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()
