"""The delivery ledger of one edition: who was sent what, and what became of it.

Two files per edition under ``<store>.ledger/<digest>/``:

    <date>.jsonl   the journal: append-only records written during a run (O(1) each)
    <date>.json    the folded state: one TinyDB document per subscriber, rewritten only
                   when a run starts or ends (``fold``), never per delivery

A run folds first (so what a killed run left in the journal is settled: a ``sending`` with no
outcome becomes ``unknown``), then appends ``sending`` before each SMTP transaction and the
outcome after it, then folds again. Keeping each edition in its own files means a send never
rewrites the main store, and reading history touches only the editions that matter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from digest.errors import StoreError
from digest.models import DeliveryStatus
from digest.store.files import AtomicJSONStorage, make_folder
from digest.store.journal import Journal, read_journal
from digest.store.protocol import LedgerEntry
from digest.subscribers import address_key

TABLE = "deliveries"
_STATUS = {s.value: s for s in DeliveryStatus}
INTERRUPTED = "an earlier run stopped during this delivery; not resent (see --retry-unknown)"


class EditionLedger:
    """The ledger files of one edition (``digest/date``)."""

    def __init__(self, root: Path, edition: str) -> None:
        digest, _, day = edition.rpartition("/")
        if not digest or not day or ".." in edition:
            raise StoreError(f"not an edition key: {edition!r}")
        self.edition = edition
        self.folded_path = root / digest / f"{day}.json"
        self.journal_path = root / digest / f"{day}.jsonl"
        self._journal: Journal | None = None

    # reading -------------------------------------------------------------------------------

    def load(self) -> dict[str, LedgerEntry]:
        """The current state: the folded file with the journal replayed on top. No writes."""
        state = self._read_folded()
        for line, record in enumerate(read_journal(self.journal_path), start=1):
            if record.get("s") not in _STATUS:
                raise StoreError(
                    f"journal {self.journal_path}, record {line}: no delivery status in it",
                    hint="restore the ledger folder from a backup",
                )
            _apply(state, record)
        return state

    def _read_folded(self) -> dict[str, LedgerEntry]:
        data = AtomicJSONStorage(str(self.folded_path)).read() or {}
        docs = data.get(TABLE, {})
        if not isinstance(docs, dict):
            raise StoreError(f"ledger {self.folded_path} has no {TABLE!r} table")
        return {doc["key"]: row_entry(doc) for doc in docs.values()}

    # folding -------------------------------------------------------------------------------

    def fold(self) -> dict[str, LedgerEntry]:
        """Settle the journal into the folded file and remove it; returns the state.

        A ``sending`` left by a killed run becomes ``unknown``: the message may have been
        accepted, so it is reported and not resent unless the operator asks."""
        state = self.load()
        for key, entry in state.items():
            if entry.status == DeliveryStatus.SENDING:
                state[key] = dataclasses.replace(
                    entry, status=DeliveryStatus.UNKNOWN, reason=INTERRUPTED
                )
        if self.journal_path.exists() or not self.folded_path.exists():
            self._write_folded(state.items())
            self.journal_path.unlink(missing_ok=True)
        return state

    def _write_folded(self, entries: Iterable[tuple[str, LedgerEntry]]) -> None:
        docs = {str(n): entry_row(key, e) for n, (key, e) in enumerate(entries, start=1)}
        try:
            make_folder(self.folded_path.parent)  # 0700: it holds readers' addresses
            AtomicJSONStorage(str(self.folded_path)).write({TABLE: docs})
        except OSError as exc:
            raise StoreError(f"cannot write ledger {self.folded_path}: {exc.strerror}") from exc

    def merge(self, entries: Iterable[LedgerEntry]) -> None:
        """Add entries (e.g. from an older store layout) under the ones already recorded."""
        state = {address_key(e.email): e for e in entries}
        state.update(self.fold())
        self._write_folded(state.items())

    # appending during a run ----------------------------------------------------------------

    def open(self) -> None:
        self._journal = Journal(self.journal_path)
        self._journal.open()

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def claim(self, email: str, message_id: str, paper_ids: tuple[str, ...]) -> Awaitable[None]:
        """Durably record ``sending``: written before the SMTP transaction starts."""
        record = {"k": address_key(email), "e": email, "s": "sending", "m": message_id}
        return self._append({**record, "p": list(paper_ids)})

    def finish(
        self, email: str, status: DeliveryStatus, reason: str = "", *, bounce: bool = False
    ) -> Awaitable[None]:
        """Durably record what became of the delivery."""
        record: dict[str, Any] = {"k": address_key(email), "s": status.value, "r": reason}
        if bounce:
            record["b"] = True
        return self._append(record)

    async def settled(self) -> None:
        """Nothing to let go of: the journal is closed with the ledger (:meth:`close`), and
        every record was awaited by the one who asked for it."""

    def _append(self, record: dict[str, Any]) -> Awaitable[None]:
        if self._journal is None:
            raise StoreError(f"the ledger of {self.edition} is not open for writing")
        record["t"] = datetime.now(UTC).isoformat(timespec="milliseconds")
        return self._journal.append(record)


def _apply(state: dict[str, LedgerEntry], record: dict[str, Any]) -> None:
    """Replay one journal record onto the state (built directly: this runs per record)."""
    key = record.get("k")
    if not isinstance(key, str):
        return
    status = _STATUS[record["s"]]
    earlier = state.get(key)
    if status == DeliveryStatus.SENDING:
        state[key] = LedgerEntry(
            email=record.get("e", key),
            status=status,
            message_id=record.get("m", ""),
            paper_ids=tuple(record.get("p", ())),
            attempts=(earlier.attempts if earlier else 0) + 1,
            updated_at=record.get("t", ""),
        )
        return
    state[key] = LedgerEntry(
        email=earlier.email if earlier else record.get("e", key),
        status=status,
        message_id=earlier.message_id if earlier else "",
        reason=record.get("r", ""),
        paper_ids=earlier.paper_ids if earlier else (),
        attempts=earlier.attempts if earlier else 0,
        bounce=bool(record.get("b", False)),
        updated_at=record.get("t", ""),
    )


def legacy_entry(doc: dict[str, Any]) -> LedgerEntry:
    """A delivery row of the old layout (every edition in the main store file)."""
    return dataclasses.replace(row_entry(doc), attempts=1)


def entry_row(key: str, e: LedgerEntry) -> dict[str, Any]:
    """The document the folded file (and a store dump) keeps for one delivery."""
    return {
        "key": key,
        "email": e.email,
        "status": e.status.value,
        "message_id": e.message_id,
        "reason": e.reason,
        "paper_ids": list(e.paper_ids),
        "attempts": e.attempts,
        "bounce": e.bounce,
        "updated_at": e.updated_at,
    }


def row_entry(doc: dict[str, Any]) -> LedgerEntry:
    """The delivery an :func:`entry_row` document holds."""
    return LedgerEntry(
        email=doc["email"],
        status=DeliveryStatus(doc["status"]),
        message_id=doc.get("message_id", ""),
        reason=doc.get("reason", ""),
        paper_ids=tuple(doc.get("paper_ids", ())),
        attempts=doc.get("attempts", 1),
        bounce=doc.get("bounce", False),
        updated_at=doc.get("updated_at", ""),
    )
