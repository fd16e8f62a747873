"""Mail that came back, in the TinyDB store: the ``events`` table and what an event does
to its reader (the contract tests in tests/test_store_contract.py hold every rule):

- Recording is idempotent by ``event_id``: the same report or webhook event twice counts once.
- COMPLAINT: the reader becomes ``complained`` (never mailed again), whatever they were.
- UNSUBSCRIBE: as the one-click link does (:func:`digest.subscribers.rules.unsubscribe`).
- HARD_BOUNCE: ``bounced`` when the reader's last ``bounce_limit`` editions sent to them all
  hard-bounced (an event for it, or a synchronous 5xx in its ledger).
- SOFT_BOUNCE: paused when their last ``soft_limit`` editions sent to them all soft-bounced.
- AUTO_REPLY: recorded only.

"Sent to them": the edition's ledger holds the reader as sent, unknown, or failed with a
bounce; editions that skipped them or failed for another reason are passed over. The row is
read from the newest such edition back, so an old bounce arriving late after newer editions
went through does not suppress anyone; an edition's events count once, however many.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB

from digest.models import (
    DeliveryStatus,
    MailEvent,
    MailEventKind,
    Subscriber,
)
from digest.store import documents as records
from digest.store import tables
from digest.store.event_rules import apply_event
from digest.store.ledger import EditionLedger
from digest.store.protocol import EventEffect, LedgerEntry
from digest.subscribers import address_key

TABLE = "events"  # the dump (DUMP_TABLES) and digest store copy name it so too
WALK = 30  # editions looked at, at most, to decide whether bounces came "in a row"
_OUR_MESSAGE_ID = re.compile(r"\.(\d{4}-\d{2}-\d{2})\.[0-9a-f]{16}@")
_SENT = frozenset({DeliveryStatus.SENT, DeliveryStatus.UNKNOWN})
_CACHED_LEDGERS = 64
_LEDGERS: dict[Path, tuple[tuple[object, object], dict[str, LedgerEntry]]] = {}


def record(
    db: TinyDB,
    ledger_root: Path,
    event: MailEvent,
    limits: tuple[int, int],
    known_digests: Sequence[str],
) -> EventEffect | None:
    """Record ``event`` and apply it (``limits``: bounce and soft-bounce limits); None when
    an event with its id was recorded before."""
    table = db.table(TABLE)
    docs = tables.rows(table)
    if any(d.get("id") == event.event_id for d in docs):
        return None
    doc = event_doc(event)
    table.insert(doc)
    subscribers = db.table("subscribers")
    found = subscribers.get(Query().key == doc["key"])
    if found is None:
        return EventEffect()
    current = records.subscriber(found)
    history = [*docs, doc]

    def streak(limit: int) -> bool:
        return in_a_row(db, ledger_root, current, event, history, limit)

    changed, effect = apply_event(current, event, streak, limits, known_digests)
    if changed != current:
        subscribers.update(records.subscriber_doc(changed), Query().key == doc["key"])
    return effect


def in_a_row(
    db: TinyDB,
    ledger_root: Path,
    sub: Subscriber,
    event: MailEvent,
    history: Iterable[dict[str, Any]],
    limit: int,
) -> bool:
    """Whether the reader's last ``limit`` editions sent to them all bounced as ``event``
    did (its kind), ``event`` itself recorded."""
    key = address_key(sub.email)
    kind = event.kind.value
    bounced = {d["edition"] for d in history if d.get("key") == key and d.get("kind") == kind}
    hard = event.kind == MailEventKind.HARD_BOUNCE
    if not hard and len(bounced) < limit:  # too few events: no ledger is read
        return False
    sent = _sent_to(db, ledger_root, key, event.edition)
    for count, (edition, entry) in enumerate(sent, start=1):
        synchronous = hard and entry is not None and entry.bounce
        if edition not in bounced and not synchronous:
            return False
        if count >= limit:
            return True
    return False


def _sent_to(
    db: TinyDB, ledger_root: Path, key: str, own: str
) -> Iterator[tuple[str, LedgerEntry | None]]:
    """The editions sent to the reader (address ``key``), newest first, each with its ledger
    entry; the event's ``own`` edition is one of them (the token or Message-ID says so)."""
    editions = {(d["date"], d["key"]) for d in tables.rows(db.table("editions"))}
    editions.add((own.rpartition("/")[2], own))
    for _, edition in sorted(editions, reverse=True)[:WALK]:
        entry = load_ledger(ledger_root, edition).get(key)
        if edition == own or _was_sent(entry):
            yield edition, entry


def load_ledger(ledger_root: Path, edition: str) -> dict[str, LedgerEntry]:
    """An edition's ledger, read again only when its files changed: a batch of returned
    mail reads the same few editions over and over, each file as big as the list."""
    ledger = EditionLedger(ledger_root, edition)
    stamp = (_stat(ledger.folded_path), _stat(ledger.journal_path))
    cached = _LEDGERS.get(ledger.folded_path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    state = ledger.load()
    if len(_LEDGERS) >= _CACHED_LEDGERS:
        _LEDGERS.clear()
    _LEDGERS[ledger.folded_path] = (stamp, state)
    return state


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _was_sent(entry: LedgerEntry | None) -> bool:
    if entry is None:
        return False
    return entry.status in _SENT or (entry.status == DeliveryStatus.FAILED and entry.bounce)


def listed(db: TinyDB, since: datetime | None, edition: str | None) -> tuple[MailEvent, ...]:
    """The recorded events (at or after ``since``, of ``edition``), oldest first."""
    events = [event(d) for d in tables.rows(db.table(TABLE))]
    kept = [
        e
        for e in events
        if (since is None or e.at >= since) and (edition is None or e.edition == edition)
    ]
    return tuple(sorted(kept, key=lambda e: (e.at, e.event_id)))


def find_delivery(ledger_root: Path, message_id: str) -> tuple[str, str] | None:
    """``(edition key, email)`` of the delivery we sent with ``message_id``, from the ledgers;
    only the editions of the date our Message-IDs carry are read, when it has one."""
    wanted = normal_message_id(message_id)
    if not wanted:
        return None
    for edition in _ledgers(ledger_root, _OUR_MESSAGE_ID.search(wanted)):
        for entry in load_ledger(ledger_root, edition).values():
            if normal_message_id(entry.message_id) == wanted:
                return edition, entry.email
    return None


def _ledgers(root: Path, dated: re.Match[str] | None) -> list[str]:
    if not root.is_dir():
        return []
    found: set[str] = set()
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        pattern = f"{dated[1]}.json*" if dated else "*.json*"
        found.update(f"{folder.name}/{p.name.partition('.')[0]}" for p in folder.glob(pattern))
    return sorted(found, reverse=True)


def normal_message_id(message_id: str) -> str:
    """A Message-ID compared the way MTAs quote it back: no brackets, no spaces, case folded."""
    return message_id.strip().removeprefix("<").removesuffix(">").strip().casefold()


def event_doc(event: MailEvent) -> dict[str, Any]:
    return {
        "id": event.event_id,
        "kind": event.kind.value,
        "email": event.email,
        "key": address_key(event.email),
        "edition": event.edition,
        "at": event.at.isoformat(),
        "source": event.source,
        "diagnostic": event.diagnostic,
        "status": event.status,
    }


def event(doc: dict[str, Any]) -> MailEvent:
    """The event a row holds; StoreError naming it if the row is damaged."""
    try:
        return MailEvent(
            kind=MailEventKind(doc["kind"]),
            email=str(doc["email"]),
            edition=str(doc["edition"]),
            event_id=str(doc["id"]),
            at=datetime.fromisoformat(doc["at"]),
            source=str(doc.get("source", "")),
            diagnostic=str(doc.get("diagnostic", "")),
            status=str(doc.get("status", "")),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise records.damaged(TABLE, doc, exc) from exc
