"""Transports: where a rendered message goes, and what a failure means for a resend.

Two transports implement :class:`Transport`: :class:`OutboxTransport` (``.eml`` files, for
dry runs and for machines with no SMTP relay) and :class:`digest.send.smtp.SmtpPool`. A transport
raises one of three failures, classified by what they mean for a resend:

    TemporaryFailure   4xx replies, connection errors before DATA    retried with backoff
    PermanentFailure   5xx replies for the recipient                 failed (maybe a bounce)
    AmbiguousFailure   connection lost during DATA                   unknown: never resent
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from pathlib import Path
from typing import Protocol

from digest.errors import SendError
from digest.models import Email


class TemporaryFailure(Exception):
    """Worth retrying: nothing was delivered."""


class PermanentFailure(Exception):
    """The server refused this message for good.

    ``bounce`` is True when the refusal is about the address (5.1.x user unknown, 5.2.x
    mailbox gone...) and False when it is about us (5.7.x policy: authentication, reputation),
    which must not suppress the reader."""

    def __init__(self, text: str, *, code: int = 550, bounce: bool = True) -> None:
        super().__init__(text)
        self.code = code
        self.bounce = bounce


class AmbiguousFailure(Exception):
    """The message may or may not have been accepted."""


class Transport(Protocol):
    description: str
    concurrency: int  # deliveries that may be in flight at once

    async def open(self) -> None:
        """Check the transport works (connect, log in); SendError if it cannot."""

    async def deliver(self, email: Email) -> str:
        """Hand over one message; returns the server's reply or where it was written."""

    async def close(self) -> None: ...


class OutboxTransport:
    """Writes each message as ``<folder>/<recipient>.eml`` instead of sending it.

    Files are ``0600`` and a folder made here ``0700`` whatever the umask: a message holds
    the reader's never-expiring unsubscribe and preferences links. Two recipients never
    share a file: see :func:`outbox_path`; a name already written in this run for another
    address (a case-insensitive file system) is refused, never overwritten."""

    concurrency = 1

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.description = f"outbox {folder}"
        self._written: dict[str, str] = {}  # file name, case-folded -> recipient

    async def open(self) -> None:
        try:
            _make_folder(self.folder)
        except OSError as exc:
            raise SendError(f"cannot create outbox folder {self.folder}: {exc.strerror}") from exc

    async def deliver(self, email: Email) -> str:
        path = outbox_path(self.folder, email.recipient)
        other = self._written.setdefault(path.name.casefold(), email.recipient)
        if other != email.recipient:
            raise PermanentFailure(
                f"{path} was already written for {other} in this run", bounce=False
            )
        try:  # in a thread: creating a file can take a millisecond, the event loop's time
            await asyncio.to_thread(_write_private, path, email.raw)
        except OSError as exc:
            raise TemporaryFailure(f"cannot write {path}: {exc.strerror or exc}") from exc
        return f"written to {path}"

    async def close(self) -> None:
        pass


def outbox_path(folder: Path, recipient: str) -> Path:
    """The .eml file name for a recipient: the address itself when it is made of safe
    characters only; otherwise the address with unsafe characters replaced, then ``~`` and a
    short hash of the exact address (``josé@`` and ``josè@`` must not share ``jos_@``). A
    safe address has no ``~``, so the two kinds of name never meet."""
    safe = _UNSAFE.sub("_", recipient)
    if safe != recipient or not recipient:
        digest = hashlib.sha256(recipient.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        safe = f"{safe[:150]}~{digest}"
    return folder / f"{safe}.eml"


_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


def _make_folder(folder: Path) -> None:
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for level in reversed(missing):
        try:
            os.mkdir(level, 0o700)
        except FileExistsError:
            continue
        os.chmod(level, 0o700)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older file of the same reader, made under another umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
