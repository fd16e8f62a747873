"""``Content-Encoding``, decoded by us, a bounded piece at a time.

httpx decodes each network chunk through every layer at once: a few kilobytes of gzip (or of
gzip of gzip) become gigabytes before a size cap can look at them. Here the raw bytes go
through a zlib decompressor that is never asked for more than ``PIECE`` bytes at a time, so
the reader can check its cap after every piece and memory stays near the cap whatever the
server sends. One encoding at most: stacked ones (``gzip, gzip``), which no feed needs, and
unknown ones are refused. Brotli and zstd are not offered (``ACCEPT_ENCODING``), so a
server that sends them anyway is refused too.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

ACCEPT_ENCODING = "gzip, deflate"
PIECE = 64 * 1024  # the most one decompress call may return
_GZIP = zlib.MAX_WBITS | 16
_ZLIB = zlib.MAX_WBITS
_RAW_DEFLATE = -zlib.MAX_WBITS


class EncodingRefused(ValueError):
    """A ``Content-Encoding`` we do not decode; the message says which and why."""


class BodyDecoder:
    """Turns the raw pieces of one body into decoded pieces of at most ``PIECE`` bytes."""

    def __init__(self, header: str) -> None:
        self.coding = coding_of(header)
        self._zlib = self._make(self.coding)
        self._started = False

    @staticmethod
    def _make(coding: str) -> zlib._Decompress | None:
        if coding in ("gzip", "x-gzip"):
            return zlib.decompressobj(_GZIP)
        if coding == "deflate":
            return zlib.decompressobj(_ZLIB)
        return None

    def decode(self, raw: bytes) -> Iterator[bytes]:
        """The decoded pieces of ``raw``; raises ``zlib.error`` on a corrupt body."""
        if self._zlib is None:
            yield raw
            return
        if not self._started and raw:
            self._started = True
            if self.coding == "deflate" and not _zlib_header(raw):
                self._zlib = zlib.decompressobj(_RAW_DEFLATE)  # what many servers send
        data = raw
        while not self._zlib.eof:  # bytes after the end of the stream are ignored, as httpx does
            piece = self._zlib.decompress(data, PIECE)
            if piece:
                yield piece
            data = self._zlib.unconsumed_tail
            if not data and len(piece) < PIECE:
                return


def coding_of(header: str) -> str:
    """The one encoding a ``Content-Encoding`` value names ("" for none or identity)."""
    codings = [c.strip().lower() for c in header.split(",")]
    named = [c for c in codings if c and c != "identity"]
    if len(named) > 1:
        raise EncodingRefused(f"stacked Content-Encoding {header!r} is not accepted")
    coding = named[0] if named else ""
    if coding not in ("", "gzip", "x-gzip", "deflate"):
        raise EncodingRefused(
            f"unsupported Content-Encoding {coding!r} (we ask for gzip or deflate)"
        )
    return coding


def _zlib_header(raw: bytes) -> bool:
    """Whether a deflate body starts with a zlib header (RFC 1950), as the standard says."""
    return len(raw) >= 2 and raw[0] & 0x0F == 8 and (raw[0] << 8 | raw[1]) % 31 == 0
