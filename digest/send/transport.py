"""Transports: where a rendered message goes, and what a failure means for a resend.

Two transports implement :class:`Transport`: :class:`OutboxTransport` (``.eml`` files, for
dry runs and for machines with no SMTP relay) and :class:`digest.send.smtp.SmtpPool`. A transport
raises one of three failures, classified by what they mean for a resend:

    TemporaryFailure   4xx replies, connection errors before DATA    retried with backoff
    PermanentFailure   5xx replies for the recipient                 failed (maybe a bounce)
    AmbiguousFailure   connection lost during DATA                   unknown: never resent
"""

from __future__ import annotations

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
    """Writes each message as ``<folder>/<recipient>.eml`` instead of sending it."""

    concurrency = 1

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.description = f"outbox {folder}"

    async def open(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SendError(f"cannot create outbox folder {self.folder}: {exc.strerror}") from exc

    async def deliver(self, email: Email) -> str:
        path = outbox_path(self.folder, email.recipient)
        try:
            path.write_bytes(email.raw)
        except OSError as exc:
            raise TemporaryFailure(f"cannot write {path}: {exc.strerror or exc}") from exc
        return f"written to {path}"

    async def close(self) -> None:
        pass


def outbox_path(folder: Path, recipient: str) -> Path:
    """The .eml file name for a recipient: the address with unsafe characters replaced."""
    return folder / (re.sub(r"[^A-Za-z0-9@._+-]", "_", recipient) + ".eml")
