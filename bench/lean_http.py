"""A lean HTTP/1.1 client for the web benchmark's load: one keep-alive connection, form POSTs,
the cookies it was given, and nothing else.

httpx costs about 2 ms of CPU a request (measured by bench_store.py, which reports the
clients' CPU beside the server's): at 300 requests/s that is more than half a core of a
two-core machine taken from the server being measured. This client writes the request with
one ``write`` and reads the answer by its ``Content-Length`` (or chunks), about a tenth of
that. It speaks only to ``digest serve`` on loopback: no TLS, no redirects, no proxies.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class LeanClient:
    """POSTs on one connection to ``base`` (``http://host:port``), sending ``cookies``."""

    def __init__(self, base: str, cookies: dict[str, str], *, timeout: float = 120) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self.timeout = timeout
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, *, data: dict[str, str]) -> Answer:
        body = urlencode(data).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n"
            + (f"Cookie: {self.cookie}\r\n" if self.cookie else "")
            + "\r\n"
        )
        return await asyncio.wait_for(self._exchange(head.encode() + body), self.timeout)

    async def _exchange(self, request: bytes) -> Answer:
        reused = self._streams is not None
        try:
            return await self._once(request)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            # the server closed a connection idle past its keep-alive (uvicorn: 5 s) before
            # reading this request: send it again on a new one, as browsers and httpx do
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
            await self.aclose()
            return await self._once(request)

    async def _once(self, request: bytes) -> Answer:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        writer.write(request)
        status, headers = _head(await reader.readuntil(b"\r\n\r\n"))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            content = await _chunks(reader)
        else:
            content = await reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.aclose()
        return Answer(status, content)

    async def aclose(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()


def _head(raw: bytes) -> tuple[int, dict[str, str]]:
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _chunks(reader: asyncio.StreamReader) -> bytes:
    content = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers from our server
            return bytes(content)
        content += await reader.readexactly(size)
        await reader.readexactly(2)
