"""The embedded store as rows and back (:meth:`Store.dump` and :meth:`Store.load`), for
``digest store copy``: the main file's tables, and every edition's ledger folded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tinydb import TinyDB

from digest.errors import StoreError
from digest.store import tables
from digest.store.ledger import EditionLedger, entry_row, row_entry
from digest.store.protocol import DUMP_TABLES

#: The dump's tables that live in the main file (``deliveries`` live in the ledger folder).
MAIN_TABLES = tuple(t for t in DUMP_TABLES if t != "deliveries")


def ledger_editions(root: Path) -> list[str]:
    """The edition keys that have ledger files under ``root`` (folded or journal)."""
    if not root.is_dir():
        return []
    found = {f"{f.parent.name}/{f.stem}" for f in root.glob("*/*.json*")}
    return sorted(found)


def main_rows(db: TinyDB) -> dict[str, list[dict[str, Any]]]:
    """The main file's dump tables, as plain documents."""
    return {name: tables.rows(db.table(name)) for name in MAIN_TABLES}


def delivery_rows(root: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every edition's deliveries, each row with its ``edition`` key."""
    for edition in ledger_editions(root):
        for key, entry in sorted(EditionLedger(root, edition).load().items()):
            yield "deliveries", {"edition": edition, **entry_row(key, entry)}


def refuse_unless_empty(db: TinyDB, root: Path, location: str) -> None:
    held = [name for name, docs in main_rows(db).items() if docs]
    if ledger_editions(root):
        held.append("deliveries")
    if held:
        raise StoreError(
            f"store {location} is not empty (it has {', '.join(held)})",
            hint="copy into a new, empty store",
        )


def load_rows(db: TinyDB, root: Path, rows: Iterable[tuple[str, dict[str, Any]]]) -> Counter[str]:
    """Write ``rows`` into an empty store: the main tables in this transaction, each
    edition's deliveries into its ledger file. Counts per table."""
    counts: Counter[str] = Counter()
    main: dict[str, list[dict[str, Any]]] = {name: [] for name in MAIN_TABLES}
    deliveries: dict[str, list[dict[str, Any]]] = {}
    for table, row in rows:
        if table == "deliveries":
            deliveries.setdefault(str(row["edition"]), []).append(row)
        elif table in main:
            main[table].append(row)
        else:
            raise StoreError(f"a store dump has a row of an unknown table {table!r}")
        counts[table] += 1
    for name, docs in main.items():
        if docs:
            db.table(name).insert_multiple(docs)
    for edition, docs in deliveries.items():
        EditionLedger(root, edition).merge(row_entry(d) for d in docs)
    return counts
