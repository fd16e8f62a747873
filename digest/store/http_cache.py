"""The HTTP cache: each URL's validators (ETag, Last-Modified) and the body of its last 200,
so that the next fetch asks the server "changed since?" and reuses the body on a 304.

It lives in a folder next to the store file (``store.http-cache/``), one file per URL, named
by the SHA-256 of the whole URL, query included, so each page of a paged source is its own
entry. Bodies can be megabytes, which is why they are not in the TinyDB file. A file is one
JSON line (the URL, the validators, the body's length, when it was saved) and then the body.
It is written to a temporary file and renamed over the old one, so a reader sees the old
entry or the new one, never half of one; an entry that does not check out (another URL, a
short body) counts as absent. A 304 that changes nothing only touches its entry. Entries
neither saved nor touched for ``keep_days`` are deleted when the cache is next written.

A read-only cache (``digest fetch``, ``digest rank``, a dry run: commands that promise to
write nothing) loads entries but never writes or deletes one. The cache is only an
optimisation: a file it cannot read or write is logged and the fetch goes on without it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("digest.store")

SUFFIX = ".http"


@dataclass(frozen=True, slots=True)
class CachedPage:
    """A URL's validators and the body of its last 200."""

    url: str
    etag: str | None
    last_modified: str | None
    body: bytes


class HttpCache:
    """Validators and bodies by URL, in ``folder`` (see the module docstring)."""

    def __init__(self, folder: Path, *, read_only: bool = False, keep_days: float = 30) -> None:
        self.folder = folder
        self.read_only = read_only
        self.keep_days = keep_days
        self._pruned = False

    def path(self, url: str) -> Path:
        return self.folder / (hashlib.sha256(url.encode()).hexdigest() + SUFFIX)

    def load(self, url: str) -> CachedPage | None:
        """What was saved for exactly ``url``, or None."""
        try:
            data = self.path(url).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("http cache: cannot read the entry of %s: %s", url, exc)
            return None
        return _decode(url, data)

    def save(self, url: str, headers: Mapping[str, str], body: bytes) -> None:
        """Remember ``body`` under the validators in ``headers`` (names in any case). An
        answer without validators cannot be asked about again: its old entry is dropped."""
        if self.read_only:
            return
        names = {name.lower(): value for name, value in headers.items()}
        etag, modified = names.get("etag") or None, names.get("last-modified") or None
        try:
            self._prune()
            if etag is None and modified is None:
                self.path(url).unlink(missing_ok=True)
                return
            head = {"url": url, "etag": etag, "last_modified": modified, "length": len(body)}
            if _head(self.path(url)) == head:  # a 304 that changed nothing: keep the entry
                os.utime(self.path(url))  # (its time is what pruning goes by)
                return
            _write_atomically(self.path(url), json.dumps(head).encode() + b"\n" + body)
        except OSError as exc:
            log.warning("http cache: cannot save the entry of %s: %s", url, exc)

    def prune(self) -> int:
        """Delete entries (and stray temporary files) not written for ``keep_days``; how
        many were deleted. Nothing in a read-only cache."""
        if self.read_only or not self.folder.is_dir():
            return 0
        oldest = time.time() - self.keep_days * 86400
        gone = 0
        for entry in self.folder.iterdir():
            try:
                if entry.stat().st_mtime < oldest:
                    entry.unlink()
                    gone += 1
            except FileNotFoundError:  # another process pruned it first
                continue
        return gone

    def _prune(self) -> None:
        """Once per cache object: a run writes many entries, the folder is walked once."""
        if not self._pruned:
            self._pruned = True
            self.prune()


def _head(path: Path) -> dict[str, Any] | None:
    """An entry's first line (its URL, validators and body length), without the body."""
    try:
        with path.open("rb") as handle:
            head: dict[str, Any] = json.loads(handle.readline())
    except (OSError, ValueError):
        return None
    return head


def _decode(url: str, data: bytes) -> CachedPage | None:
    line, sep, body = data.partition(b"\n")
    try:
        head: dict[str, Any] = json.loads(line) if sep else {}
    except ValueError:
        head = {}
    if head.get("url") != url or head.get("length") != len(body):
        return None
    return CachedPage(url, head.get("etag"), head.get("last_modified"), body)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
