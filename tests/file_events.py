"""Which files a block of code opens, as the interpreter itself reports them (the ``open``
audit event of :func:`sys.addaudithook`): a test watches the real file-system calls instead
of patching our code to count them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Opened:
    path: Path
    writing: bool


_watchers: list[list[Opened]] = []


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _watchers or isinstance(args[0], int):
        return
    path, mode, flags = args
    if mode is None:  # os.open
        writing = bool(flags & (os.O_WRONLY | os.O_RDWR))
    else:
        writing = any(c in mode for c in "wax+")
    for opened in _watchers:
        opened.append(Opened(Path(os.fsdecode(path)), writing))


sys.addaudithook(_hook)  # for the life of the process: it does nothing unless watched


@contextmanager
def files_opened() -> Iterator[list[Opened]]:
    """The files opened inside the block, in order."""
    opened: list[Opened] = []
    _watchers.append(opened)
    try:
        yield opened
    finally:
        _watchers.remove(opened)
