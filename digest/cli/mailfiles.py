"""Where ``digest inbound`` reads returned mail from: a message file, an mbox, a Maildir, a
folder of ``.eml`` files, or standard input; and where a Maildir's processed messages go.

Nothing is ever deleted. A Maildir's processed messages move (one rename each) to its
``.Processed`` folder (Maildir++: ``<maildir>/.Processed/cur``), where a mail client shows
them as a subfolder; what could not be classified stays where it was. An mbox and single
files are read and left as they are (a message in an mbox cannot be moved without
rewriting the file).
"""

from __future__ import annotations

import mailbox
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from digest.errors import InputError

PROCESSED = ".Processed"


@dataclass(frozen=True, slots=True)
class Message:
    """One message read from a source, and how to move it once processed (None: it stays)."""

    raw: bytes
    where: str  # for reports: "file x.eml", "mbox box 3", "maildir M new/1234.host"
    move: Callable[[], None] | None = None


def read_source(source: str) -> Iterator[Message]:
    """The messages of one SOURCE argument; InputError naming it when it cannot be read."""
    if source == "-":
        yield Message(_without_from_line(sys.stdin.buffer.read()), "stdin")
        return
    path = Path(source)
    try:
        if path.is_dir():
            yield from _maildir(path) if _is_maildir(path) else _eml_folder(path)
        elif _is_mbox(path):
            yield from _mbox(path)
        else:
            yield Message(path.read_bytes(), f"file {path}")
    except FileNotFoundError:
        raise InputError(f"{source}: no such file or folder") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot be read: {exc.strerror or exc}") from None


def _without_from_line(raw: bytes) -> bytes:
    """A pipe may hand the message with an mbox "From " line first (Postfix's F flag)."""
    if raw.startswith(b"From "):
        return raw.partition(b"\n")[2]
    return raw


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(5) == b"From "


def _maildir(root: Path) -> Iterator[Message]:
    for sub in ("new", "cur"):
        for file in sorted(p for p in (root / sub).iterdir() if p.is_file()):
            yield Message(
                file.read_bytes(), f"maildir {root} {sub}/{file.name}", _mover(root, file)
            )


def _mover(root: Path, file: Path) -> Callable[[], None]:
    def move() -> None:
        folder = root / PROCESSED
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        name = file.name if ":2," in file.name else f"{file.name}:2,S"  # seen, as a client would
        try:
            os.rename(file, folder / "cur" / name)
        except OSError as exc:
            raise InputError(f"cannot move {file} to {folder}/cur: {exc.strerror}") from None

    return move


def _eml_folder(folder: Path) -> Iterator[Message]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".eml")
    if not files:
        raise InputError(f"{folder}: neither a Maildir (cur/, new/) nor a folder of .eml files")
    for file in files:
        yield Message(file.read_bytes(), f"file {file}")


def _mbox(path: Path) -> Iterator[Message]:
    box = mailbox.mbox(path, create=False)
    try:
        for n, key in enumerate(box.iterkeys(), start=1):
            yield Message(box.get_bytes(key), f"mbox {path} {n}")
    finally:
        box.close()
