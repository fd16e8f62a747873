"""Locks held for a whole run, beside a store file: ``<store>.<name>.lock`` (filelock), with
the holder's pid in ``<store>.<name>.pid`` so that a second process can say who holds it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from digest.errors import StoreError
from digest.store.protocol import Holder


class FileLocks:
    """The exclusive locks of the store at ``store_path`` (one process at a time each)."""

    def __init__(self, store_path: Path) -> None:
        self.store_path = store_path
        self._held: dict[str, FileLock] = {}

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Held for a whole run (one ``digest send`` per digest, one scheduler per store):
        a lock file ``<store>.<name>.lock``, with the holder's pid beside it."""
        lock = FileLock(f"{self.store_path}.{name}.lock", timeout=0)
        pid_file = Path(f"{self.store_path}.{name}.pid")
        try:
            self.store_path.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:
            raise StoreError(
                f"another process holds {name!r} on store {self.store_path}",
                hint="wait for the running send to finish",
            ) from None
        self._held[name] = lock
        try:
            pid_file.write_text(f"{os.getpid()}\n", encoding="ascii")
            yield
        finally:
            pid_file.unlink(missing_ok=True)
            del self._held[name]
            lock.release()

    def holder(self, name: str) -> Holder | None:
        """Who holds ``exclusive(name)`` now (None: nobody). Takes the lock for an instant
        to find out."""
        if name in self._held:
            return Holder(here=True, pid=os.getpid())
        if not self.store_path.parent.is_dir():  # no store there yet: nobody can hold its locks
            return None
        lock = FileLock(f"{self.store_path}.{name}.lock", timeout=0)
        try:
            lock.acquire()
        except Timeout:
            pid = self._pid_of(name).strip(" (pid)")
            return Holder(here=False, pid=int(pid) if pid.isdigit() else None)
        except OSError:  # not ours to judge here: ``check`` warns about the store's folder
            return None
        lock.release()
        return None

    def _pid_of(self, name: str) -> str:
        try:
            pid = Path(f"{self.store_path}.{name}.pid").read_text(encoding="ascii").strip()
        except OSError:
            return ""
        return f" (pid {pid})" if pid.isdigit() else ""
