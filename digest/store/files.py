"""The file under the store: TinyDB storage that writes atomically (temp file, fsync, rename).

TinyDB's own JSONStorage rewrites the file in place, so a process killed mid-write leaves a
corrupt database. This one leaves either the old file or the new one, never half of one.

Every file is created ``0600`` and every folder ``0700`` whatever the umask: the store and
the ledger hold subscribers' addresses and the ids in their never-expiring links. A temp file
is named ``.<name>.<pid>.<random>.tmp``; the next write removes those whose writer is dead
(a ``kill -9`` mid-write), and a write that fails removes its own, so that a full disk is not
kept full by half a copy. Writes run under the store's lock (or a run's exclusive lock, for
a ledger), so no live writer's temp file of the same name is ever removed.

A file that cannot be read as the store's tables (not UTF-8, not JSON, not an object of
tables, a record the code relies on damaged: :func:`digest.store.documents.check_tables`) is
one StoreError naming the file and what is wrong, raised at the read, before any command
meets the damage half-way.

``write`` is os.write's shape, the seam a test uses to fail a write (a full disk) on purpose.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

from digest.errors import StoreError
from digest.store.documents import check_tables

#: ``os.write``'s shape: write some bytes to a file descriptor, return how many were written.
Write = Callable[[int, bytes | memoryview], int]

FILE_MODE = 0o600
FOLDER_MODE = 0o700
RESTORE = "restore it from a backup, or move it aside to start empty"


class AtomicJSONStorage(Storage):
    """TinyDB storage that never leaves a half-written file behind."""

    def __init__(self, path: str, *, write: Write = os.write) -> None:
        self.path = Path(path)
        self._write = write

    def read(self) -> dict[str, Any] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read store file {self.path}: {exc.strerror}") from exc
        if not raw.strip():
            return None
        return _tables(self.path, raw)

    def write(self, data: dict[str, Any]) -> None:
        # dumps, not dump: only the one-shot encoder is the C one (10x faster on a big store)
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        remove_stale_temps(self.path)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            fd = create(tmp, os.O_WRONLY | os.O_EXCL)
            try:
                write_all(fd, text, self._write)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except BaseException:
            _remove(tmp)  # a full disk must not stay full of our half copy
            raise
        _fsync_dir(self.path.parent)

    def close(self) -> None:
        pass


def _tables(path: Path, raw: bytes) -> dict[str, Any]:
    """The file's tables, or StoreError saying what is wrong (never a traceback)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _damaged(path, f"is not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _damaged(path, f"is not valid JSON (line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise _damaged(path, f"holds {_kind(data)}, not an object of tables")
    for name, table in data.items():
        if not isinstance(table, dict):
            raise _damaged(path, f"has a table {name!r} that is {_kind(table)}, not an object")
        for doc_id, doc in table.items():
            if type(doc) is not dict:
                raise _damaged(
                    path, f"has a record {doc_id!r} in table {name!r} that is not an object"
                )
    check_tables(data, where=f"store file {path}")
    return data


def _damaged(path: Path, what: str) -> StoreError:
    return StoreError(f"store file {path} {what}", hint=RESTORE)


def _kind(value: Any) -> str:
    names = {list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


def create(path: Path, flags: int) -> int:
    """Open a new file ``0600`` whatever the umask; the descriptor."""
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def write_all(fd: int, data: bytes, write: Write = os.write) -> None:
    view = memoryview(data)
    while view:
        view = view[write(fd, view) :]


def make_folder(folder: Path) -> None:
    """Create ``folder`` and its missing parents ``0700`` whatever the umask (folders that
    exist are left as they are: they are the operator's)."""
    missing: list[Path] = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for level in reversed(missing):
        try:
            os.mkdir(level, FOLDER_MODE)
        except FileExistsError:
            continue
        os.chmod(level, FOLDER_MODE)


def remove_stale_temps(path: Path) -> None:
    """Remove the temp files of ``path`` left by writers that are no longer running."""
    prefix = f".{path.name}."
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid = name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            _remove(Path(entry.path))


def _alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a pid we wrote: leave it alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (EPERM): alive
        return True
    return True


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Transaction(Storage):
    """One locked store operation: the file is read at most once and written at most once,
    on :meth:`commit`, however many tables the operation touches. TinyDB itself reads and
    rewrites the whole file for every table call; at 100,000 subscribers that is seconds."""

    def __init__(self, path: str, *, write: Write = os.write) -> None:
        self._file = AtomicJSONStorage(path, write=write)
        self._data: dict[str, Any] | None = None
        self._loaded = False
        self._dirty = False

    def read(self) -> dict[str, Any] | None:
        if not self._loaded:
            self._data, self._loaded = self._file.read(), True
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        self._data, self._loaded, self._dirty = data, True, True

    def commit(self) -> None:
        if self._dirty and self._data is not None:
            self._file.write(self._data)
            self._dirty = False

    def close(self) -> None:
        pass
