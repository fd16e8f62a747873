"""An append-only journal file: one JSON record per line, durable before ``append`` returns.

The delivery ledger writes two records per message (before and after the SMTP transaction;
a connection's outcome goes in one write with its next claim); rewriting a TinyDB file for
each would cost O(deliveries) per write. Appending a line costs
O(1), and records from concurrent senders are written and fsynced together ("group commit"),
so 30 connections in flight cost one fsync, not 30.

A process killed mid-write can leave a torn last line; :func:`read_journal` skips it (its
record was never acknowledged, so nothing depended on it), and :meth:`Journal.open` cuts it
off before appending. A write that fails (a full disk) is cut off the same way, back to the
last whole record, so that later appends never follow half a line.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from digest.errors import StoreError
from digest.store.files import Write, create, make_folder, write_all


class Journal:
    """Appends records to ``path``; each ``append`` returns once its record is on disk.

    ``write`` (os.write's shape) is the seam a test uses to fail a write on purpose."""

    def __init__(self, path: Path, *, write: Write = os.write) -> None:
        self.path = path
        self._write_bytes = write
        self._fd: int | None = None
        self._end = 0  # where the last whole record ends
        self._torn = False  # a failed write could not be cut off: append no more
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def open(self) -> None:
        try:
            make_folder(self.path.parent)
            self._fd = create(self.path, os.O_RDWR | os.O_APPEND)
            self._end = _last_record_end(self._fd)
            if os.fstat(self._fd).st_size > self._end:
                os.ftruncate(self._fd, self._end)  # a torn line left by a killed run
        except OSError as exc:
            self.close()
            raise StoreError(f"cannot open ledger journal {self.path}: {exc.strerror}") from exc

    def append(self, record: dict[str, Any]) -> asyncio.Future[None]:
        """Queue ``record``: the future is done once it is on disk. Records queued with no
        ``await`` between them go into one write, in order (a killed process keeps a prefix
        of them: the torn rest is skipped)."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((line.encode(), done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return done

    async def _flush(self) -> None:
        """Write everything pending in one write + fsync, until nothing is left."""
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._write, b"".join(line for line, _ in batch))
            except Exception as exc:  # OSError, or a bug: every waiter hears of it
                why = (exc.strerror or exc) if isinstance(exc, OSError) else repr(exc)
                error = StoreError(
                    f"cannot write ledger journal {self.path}: {why}",
                    hint="free space (or fix permissions) there, then run again",
                )
                for _, done in batch:
                    if not done.done():
                        done.set_exception(error)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            raise OSError(9, "journal is not open")
        if self._torn:
            raise OSError(5, "an earlier write failed and could not be undone")
        try:
            write_all(self._fd, data, self._write_bytes)
            os.fsync(self._fd)
        except Exception:
            self._cut()
            raise
        self._end += len(data)

    def _cut(self) -> None:
        """Back to the last whole record after a failed write (truncating frees space, so
        it works on a full disk)."""
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._end)
            os.fsync(self._fd)
        except OSError:
            self._torn = True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _last_record_end(fd: int) -> int:
    """The offset just after the file's last newline (0 if it has none)."""
    end = os.fstat(fd).st_size
    while end > 0:
        start = max(0, end - 65536)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a journal in order; a torn (unterminated or unreadable) last line is
    skipped. A bad line anywhere else means the file was damaged: StoreError naming it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"cannot read ledger journal {path}: {exc.strerror}") from exc
    lines = [line for line in data.split(b"\n") if line.strip()]
    try:  # one parse for the whole file: a journal holds two records per delivery
        records = json.loads(b"[" + b",".join(lines) + b"]")
    except ValueError:
        records = _parse_lines(path, data)
    yield from (r for r in records if isinstance(r, dict))


def _parse_lines(path: Path, data: bytes) -> list[Any]:
    """Line by line, to skip a torn tail and to name a damaged line."""
    lines = data.split(b"\n")
    last = len(lines) - 1  # the text after the final newline: empty unless the tail is torn
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            if number >= last:
                break  # torn tail from a killed process
            raise StoreError(
                f"ledger journal {path} line {number} is damaged",
                hint="restore it from a backup; records after it cannot be trusted",
            ) from None
    return records
