"""Row-level helpers of the TinyDB store: reading tables as plain dicts, updating many rows in
one write, and the rules for saving a subscriber over a stored one and counting bounces."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from tinydb.table import Table

from digest.models import SUPPRESSED, Paper, Status, Subscriber
from digest.store import documents as records
from digest.store.files import Transaction
from digest.store.protocol import SaveOutcome
from digest.subscribers import address_key


class TableTransaction(Transaction):
    def seed(self, data: dict[str, Any]) -> None:
        """Start a new file with ``data``, written only if the operation writes anything."""
        self.read()
        self.write(data)
        self._dirty = False


def merge_subscriber(
    sub: Subscriber, doc: dict[str, Any] | None, resubscribe: bool
) -> tuple[Subscriber, SaveOutcome]:
    """What saving ``sub`` over the stored ``doc`` keeps, and the outcome."""
    if doc is None:
        sub = replace(sub, id=sub.id or secrets.token_hex(8), created_at=now())
        return sub, SaveOutcome.ADDED
    current = records.subscriber(doc)
    if current.status in SUPPRESSED and not resubscribe:
        return current, SaveOutcome.SUPPRESSED
    kept = replace(
        sub,
        id=current.id,
        created_at=current.created_at,
        paused=current.paused,
        confirmed_at=sub.confirmed_at or current.confirmed_at,
        consent=sub.consent or current.consent,
    )
    return kept, SaveOutcome.UPDATED


def count_bounces(
    table: Table, bounced: Iterable[str], delivered: Iterable[str], limit: int
) -> tuple[str, ...]:
    bounced_keys = {address_key(e) for e in bounced}
    delivered_keys = {address_key(e) for e in delivered}
    suppressed: list[str] = []
    changed: dict[str, dict[str, Any]] = {}
    for doc in rows(table):
        count = doc.get("hard_bounces", 0)
        if doc["key"] in bounced_keys:
            count += 1
        elif doc["key"] in delivered_keys:
            count = 0
        if count == doc.get("hard_bounces", 0):
            continue
        update: dict[str, Any] = {"hard_bounces": count}
        if count >= limit and Status(doc["status"]) not in SUPPRESSED:
            update["status"] = Status.BOUNCED.value
            suppressed.append(doc["email"])
        changed[doc["key"]] = update
    update_each(table, changed)
    return tuple(suppressed)


def papers_of(edition: dict[str, Any], by_id: Mapping[str, dict[str, Any]]) -> tuple[Paper, ...]:
    """An edition document's papers, in its order (a paper missing from the table is left out)."""
    return tuple(Paper.from_json(by_id[i]) for i in edition.get("paper_ids", ()) if i in by_id)


def by_id(docs: Iterable[dict[str, Any]], sub_id: str) -> dict[str, Any] | None:
    return next((d for d in docs if d["id"] == sub_id), None) if sub_id else None


def rows(table: Table) -> list[dict[str, Any]]:
    """A table's documents as plain dicts, for reading only (no TinyDB Document per row)."""
    data = table.storage.read() or {}
    return list(data.get(table.name, {}).values())


def update_each(table: Table, changes: Mapping[str, Mapping[str, Any]]) -> None:
    """Apply a different update to each document (by address key) in one write of the file."""
    if changes:
        table.update(lambda doc: doc.update(changes[doc["key"]]), lambda doc: doc["key"] in changes)


def now() -> datetime:
    return datetime.now(UTC)
