"""Returned mail in an IMAP folder (imapclient): open it, list what is new, fetch, move away.

:func:`open_mailbox` logs in (implicit TLS, STARTTLS or plain, as ``inbound.imap.tls``
says), makes the processed folder when it is missing, and selects the folder. A
:class:`Mailbox` lists the UIDs above a position, fetches messages without marking them
seen, and moves the ones the caller classified: with MOVE (RFC 6851) when the server has it,
else COPY, ``\\Deleted`` and UID EXPUNGE of exactly those UIDs (UIDPLUS); a server with
neither expunges only when no other message is flagged ``\\Deleted``, so that nothing the
operator marked is removed by us (the copies are made either way).

Where the folder was read up to is a :class:`Position` (UIDVALIDITY and the last UID seen),
kept in a small JSON file by :func:`load_position` / :func:`save_position`. A UIDVALIDITY
that changed means the UIDs were renumbered: reading starts again from the first message,
which is safe because what was processed was moved away and recording is idempotent.

Every failure of the server or the network is an :class:`~digest.errors.InputError` naming
the server and folder, never the password.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from digest.config.mail_sources import ImapConfig, ImapTls
from digest.errors import InputError

Connect = Callable[[ImapConfig], IMAPClient]


@dataclass(frozen=True, slots=True)
class Position:
    """How far a folder was read: its UIDVALIDITY and the last UID handled in it."""

    uidvalidity: int
    last_uid: int = 0


@dataclass(frozen=True, slots=True)
class Fetched:
    uid: int
    raw: bytes


def where(config: ImapConfig) -> str:
    """``bounces@imap.example.org:993 INBOX``: how messages name the folder."""
    return f"{config.user}@{config.host}:{config.port} {config.folder}"


class Mailbox:
    """The selected folder of a logged-in client."""

    def __init__(self, client: IMAPClient, config: ImapConfig, uidvalidity: int) -> None:
        self.client, self.config, self.uidvalidity = client, config, uidvalidity

    def new_uids(self, after: int, limit: int) -> list[int]:
        """Up to ``limit`` UIDs above ``after``, in order (none flagged \\Deleted)."""
        with _errors(self.config, "search"):
            found = self.client.search(["UID", f"{after + 1}:*", "NOT", "DELETED"])
        # "n:*" also matches the last message when every UID is below n (RFC 3501 §6.4.8)
        return sorted(uid for uid in found if uid > after)[:limit]

    def fetch(self, uids: Sequence[int]) -> list[Fetched]:
        """The raw messages, in UID order, without setting \\Seen (BODY.PEEK)."""
        if not uids:
            return []
        with _errors(self.config, "fetch"):
            found = self.client.fetch(list(uids), ["BODY.PEEK[]"])
        return [
            Fetched(uid, bytes(found[uid][b"BODY[]"]))
            for uid in sorted(found)
            if isinstance(found[uid].get(b"BODY[]"), bytes)
        ]

    def move(self, uids: Sequence[int]) -> None:
        """Moves ``uids`` to the processed folder, and only those."""
        if not uids:
            return
        target, uids = self.config.processed_folder, list(uids)
        with _errors(self.config, f"move to {target!r}"):
            if self.client.has_capability("MOVE"):
                self.client.move(uids, target)
                return
            self.client.copy(uids, target)
            self.client.add_flags(uids, [b"\\Deleted"], silent=True)
            if self.client.has_capability("UIDPLUS"):
                self.client.uid_expunge(uids)
            elif set(self.client.search(["DELETED"])) <= set(uids):
                self.client.expunge()


@contextmanager
def open_mailbox(config: ImapConfig, *, connect: Connect | None = None) -> Iterator[Mailbox]:
    """The folder, selected read-write, with the processed folder made when missing."""
    client = (connect or make_client)(config)
    try:
        with _errors(config, "login"):
            if config.password is None:
                raise InputError(
                    f"IMAP {where(config)}: no password: DIGEST_IMAP_PASSWORD is not set",
                    hint="set it in the environment of digest (never in schedules.yaml)",
                )
            client.login(config.user, config.password)
        with _errors(config, "select"):
            if not client.folder_exists(config.processed_folder):
                client.create_folder(config.processed_folder)
            selected = client.select_folder(config.folder)
        yield Mailbox(client, config, int(selected[b"UIDVALIDITY"]))
    finally:
        with suppress(IMAPClientError, OSError):
            client.logout()


def make_client(config: ImapConfig) -> IMAPClient:
    """Connects (and for ``starttls`` upgrades) without logging in."""
    context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
    with _errors(config, "connect"):
        client = IMAPClient(
            config.host,
            config.port,
            ssl=config.tls is ImapTls.SSL,
            ssl_context=context,
            timeout=config.timeout,
        )
        if config.tls is ImapTls.STARTTLS:
            client.starttls(context)
    return client


@contextmanager
def _errors(config: ImapConfig, doing: str) -> Iterator[None]:
    """Turns what imapclient, ssl and the socket raise into one InputError line."""
    try:
        yield
    except InputError:
        raise
    except IMAPClientError as exc:
        hint = "check inbound.imap.user and DIGEST_IMAP_PASSWORD" if doing == "login" else None
        raise InputError(f"IMAP {where(config)}: {doing} failed: {_said(exc)}", hint=hint) from None
    except ssl.SSLError as exc:
        raise InputError(
            f"IMAP {where(config)}: TLS failed during {doing}: {exc.reason or exc}",
            hint="check inbound.imap.tls (ssl on 993, starttls on 143) and inbound.imap.ca_file",
        ) from None
    except OSError as exc:  # a refused connection, a timeout, a reset
        raise InputError(
            f"IMAP {where(config)}: {doing} failed: {exc.strerror or exc}",
            hint="check inbound.imap.host and port, and that the server is up",
        ) from None


def _said(exc: Exception) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text[:200] or type(exc).__name__


def load_position(path: Path, key: str) -> Position | None:
    """Where ``key``'s folder was read up to; None when never (or the file is unreadable)."""
    entry = _load(path).get(key)
    if not isinstance(entry, dict):
        return None
    try:
        return Position(int(entry["uidvalidity"]), int(entry["last_uid"]))
    except (KeyError, TypeError, ValueError):
        return None


def save_position(path: Path, key: str, position: Position) -> None:
    """Records ``position`` for ``key``: a temporary file renamed over the old one."""
    data = _load(path)
    data[key] = {"uidvalidity": position.uidvalidity, "last_uid": position.last_uid}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise InputError(
            f"cannot write the IMAP position file {path}: {exc.strerror or exc}",
            hint="it lives beside the store; check that folder's permissions and free space",
        ) from None


def position_key(config: ImapConfig) -> str:
    return f"{config.user}@{config.host}:{config.port}/{config.folder}"


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
