"""``digest inbound --imap`` and serve's poll: the IMAP folder's new messages, classified.

Read from where the last run stopped (the position file beside the store, per server, user
and folder; a new UIDVALIDITY starts again from the first message), a batch at a time:
fetch, classify and record each message (:func:`digest.pipeline.inbound.process_message`),
move the processed ones to ``processed_folder``, then save the position. What could not
be classified stays in the folder, is reported once, and is never deleted. A run that
stops midway (a crash, a lost connection) does the unsaved batch again next time, which
changes nothing twice: recording is idempotent, and the moved messages are gone from the
folder. At most ``MAX_BATCHES`` batches a run: a flood is read over several polls. One
reader at a time (the store's ``exclusive("inbound-imap")``): a second is one InputError.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from digest.config import Config
from digest.config.mail_sources import ImapConfig
from digest.errors import ConfigError, InputError, StoreError
from digest.inbound.imap import (
    Connect,
    Mailbox,
    Position,
    load_position,
    open_mailbox,
    position_key,
    save_position,
    where,
)
from digest.pipeline.inbound import InboundReport, process_message, summary_lines
from digest.store import Store

log = logging.getLogger("digest.inbound")

MAX_BATCHES = 20


@dataclass(frozen=True, slots=True)
class ImapRun:
    """What one read of the folder did."""

    folder: str  # user@host:port FOLDER
    reports: tuple[InboundReport, ...]
    restarted: bool = False  # the UIDVALIDITY changed: read again from the first message
    more: bool = False  # stopped after MAX_BATCHES with messages still to read

    @property
    def left(self) -> tuple[InboundReport, ...]:
        """The messages left in the folder: not classified."""
        return tuple(r for r in self.reports if not r.processed)

    def lines(self) -> list[str]:
        """The headline, what was recorded (summary_lines), and the notes."""
        return [self.headline(), *summary_lines(self.reports), *self.notes()]

    def headline(self) -> str:
        if not self.reports:
            return f"IMAP {self.folder}: no new messages"
        moved = len(self.reports) - len(self.left)
        return f"IMAP {self.folder}: {len(self.reports)} new, {moved} moved"

    def notes(self) -> list[str]:
        """A renumbered folder, each message left in it and why, a backlog."""
        notes = []
        if self.restarted:
            notes.append("the folder's UIDVALIDITY changed: it was read from the start")
        notes += [f"left in the folder: {r.source}: {r.reason}" for r in self.left]
        if self.more:
            notes.append(f"more messages wait: read {MAX_BATCHES} batches, the rest next time")
        return notes


def position_file(config: Config) -> Path:
    """Where the folders' positions are kept: beside the store."""
    store = config.store_path
    return store.with_name(f"{store.name}.imap-position.json")


def imap_settings(config: Config) -> ImapConfig:
    imap = config.inbound.imap
    if imap is None:
        raise ConfigError(
            f"{config.where}: no inbound.imap section",
            hint="add inbound: {imap: {host: …, user: …, folder: INBOX}} and set "
            "DIGEST_IMAP_PASSWORD",
        )
    return imap


def read_imap(config: Config, store: Store, *, connect: Connect | None = None) -> ImapRun:
    """Reads what is new in the folder; raises InputError when the server fails us."""
    imap = imap_settings(config)
    path, key = position_file(config), position_key(imap)
    with _alone(store), open_mailbox(imap, connect=connect) as box:
        position = load_position(path, key)
        restarted = position is not None and position.uidvalidity != box.uidvalidity
        last = position.last_uid if position is not None and not restarted else 0
        reports: list[InboundReport] = []
        for _ in range(MAX_BATCHES):
            batch = _read_batch(config, store, box, last)
            if batch is None:
                break
            last, done = batch
            reports += done
            save_position(path, key, Position(box.uidvalidity, last))
        else:
            more = bool(box.new_uids(last, 1))
            return _finished(ImapRun(where(imap), tuple(reports), restarted, more))
        if position is None or restarted:  # remember the UIDVALIDITY, even of an empty folder
            save_position(path, key, Position(box.uidvalidity, last))
    return _finished(ImapRun(where(imap), tuple(reports), restarted))


@contextmanager
def _alone(store: Store) -> Iterator[None]:
    """One reader of the folder at a time (serve's poll, a manual digest inbound --imap)."""
    with ExitStack() as held:
        try:
            held.enter_context(store.exclusive("inbound-imap"))
        except StoreError:
            raise InputError(
                "another digest is reading the IMAP folder now (digest serve's poll, or "
                "digest inbound --imap)",
                hint="it reads everything new: try again in a minute if you still need to",
            ) from None
        yield


def _read_batch(
    config: Config, store: Store, box: Mailbox, after: int
) -> tuple[int, list[InboundReport]] | None:
    """One batch: (the last UID read, the reports), or None when nothing is new."""
    uids = box.new_uids(after, box.config.batch)
    if not uids:
        return None
    reports = []
    processed = []
    for message in box.fetch(uids):
        source = f"imap {box.config.folder} uid {message.uid}"
        report = process_message(store, config, message.raw, source)
        reports.append(report)
        if report.processed:
            processed.append(message.uid)
        else:
            log.warning(
                "inbound.left", extra={"fields": {"source": source, "reason": report.reason}}
            )
    box.move(processed)
    return max(uids), reports


def _finished(run: ImapRun) -> ImapRun:
    fields: dict[str, object] = {"folder": run.folder, "new": len(run.reports)}
    fields["left"] = len(run.left)
    if run.restarted:
        fields["restarted"] = True
    log.info("inbound.imap", extra={"fields": fields})
    return run
