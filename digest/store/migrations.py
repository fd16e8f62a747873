"""Numbered migrations of the TinyDB store, each recorded in the ``migrations`` table once it
ran (the way simonw/llm's ``migrations.py`` does it), so an older layout is upgraded once and
nothing has to be sniffed from the file's bytes.

A migration runs inside the first transaction a process opens on the store: all of it is
written with that transaction's one write, or none. Each one is idempotent (a migration
interrupted between a ledger write and the main file's write is run again and finds its work
half done). A new store records every migration as applied with its first write.

The run records' layout lives here too (``run_doc``/``run_record``), since its history is the
reason for migration 2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tinydb import TinyDB

from digest.models import RunReport
from digest.store import documents as records
from digest.store.ledger import EditionLedger, legacy_entry
from digest.store.protocol import NO_NEW_PAPERS, RunRecord
from digest.subscribers import address_key

TABLE = "migrations"


def _deliveries_to_ledgers(db: TinyDB, ledger_root: Path) -> None:
    """Stores written before the per-edition ledger kept deliveries in the main file: move
    them to their editions' ledgers (nothing is lost, nothing duplicated)."""
    if "deliveries" not in db.tables():
        return
    by_edition: dict[str, list[Any]] = {}
    for doc in db.table("deliveries").all():
        by_edition.setdefault(doc["edition"], []).append(legacy_entry(doc))
    for edition, entries in by_edition.items():
        EditionLedger(ledger_root, edition).merge(entries)
    db.drop_table("deliveries")


def _runs_say_missed_and_empty(db: TinyDB, ledger_root: Path) -> None:
    """Runs recorded before these flags said "missed …" and "no new papers" in their note."""
    runs = db.table("runs")
    runs.update(
        lambda doc: doc.update(missed=_was_missed(doc), empty=_was_empty(doc)),
        lambda doc: "missed" not in doc or "empty" not in doc,
    )


def _subscriber_keys(db: TinyDB, ledger_root: Path) -> None:
    """Each subscriber's key is :func:`address_key` of its address, as that rule now says."""
    table = db.table("subscribers")
    table.update(
        lambda doc: doc.update(key=address_key(doc["email"])),
        lambda doc: doc.get("key") != address_key(doc["email"]),
    )


#: In order; a name is never reused, and a migration is never edited once released.
MIGRATIONS: tuple[tuple[str, Callable[[TinyDB, Path], None]], ...] = (
    ("001 deliveries move to per-edition ledgers", _deliveries_to_ledgers),
    ("002 runs say whether they were missed or an empty day", _runs_say_missed_and_empty),
    ("003 subscriber keys follow address_key", _subscriber_keys),
)


def applied(db: TinyDB) -> tuple[str, ...]:
    return tuple(str(d["name"]) for d in db.table(TABLE).all())


def apply(db: TinyDB, ledger_root: Path) -> tuple[str, ...]:
    """Run the migrations this store has not recorded; the names of those that ran."""
    done = set(applied(db))
    ran = []
    for name, migration in MIGRATIONS:
        if name not in done:
            migration(db, ledger_root)
            db.table(TABLE).insert({"name": name, "applied_at": _now()})
            ran.append(name)
    return tuple(ran)


def stamp() -> dict[str, Any]:
    """The migrations table of a new store: everything applied (there was nothing to do)."""
    at = _now()
    return {str(n): {"name": name, "applied_at": at} for n, (name, _) in enumerate(MIGRATIONS, 1)}


def run_doc(report: RunReport) -> dict[str, Any]:
    doc = records.run_doc(report)
    doc["missed"] = report.missed
    doc["empty"] = report.note == NO_NEW_PAPERS and bool(report.sources)
    if report.round:
        doc["round"], doc["sender"] = report.round, report.sender
    return doc


def run_record(doc: dict[str, Any]) -> RunRecord:
    scheduled = doc.get("scheduled_at")
    return RunRecord(
        digest=str(doc["digest"]),
        edition_date=date.fromisoformat(str(doc["edition_date"])),
        started_at=datetime.fromisoformat(str(doc["started_at"])),
        finished_at=datetime.fromisoformat(str(doc.get("finished_at") or doc["started_at"])),
        ok=bool(doc.get("ok")),
        note=str(doc.get("note") or ""),
        dry_run=bool(doc.get("dry_run")),
        scheduled_at=datetime.fromisoformat(scheduled) if scheduled else None,
        missed=bool(doc["missed"]) if "missed" in doc else _was_missed(doc),
        empty=bool(doc["empty"]) if "empty" in doc else _was_empty(doc),
        counts={str(k): int(v) for k, v in dict(doc.get("counts") or {}).items()},
        sources=tuple(doc.get("sources") or ()),
        problems=tuple(doc.get("problems") or ()),
        round=str(doc.get("round") or ""),
        sender=str(doc.get("sender") or ""),
    )


def run_json(run: RunRecord) -> dict[str, Any]:
    """A run as ``digest history --json`` prints it (the layout it always had)."""
    return {
        "digest": run.digest,
        "edition_date": run.edition_date.isoformat(),
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "dry_run": run.dry_run,
        "ok": run.ok,
        "note": run.note,
        "scheduled_at": run.scheduled_at.isoformat() if run.scheduled_at else None,
        "counts": dict(run.counts),
        "sources": [dict(s) for s in run.sources],
        "problems": [dict(p) for p in run.problems],
        **({"round": run.round, "sender": run.sender} if run.round else {}),
    }


def _was_missed(doc: Mapping[str, Any]) -> bool:
    return str(doc.get("note") or "").startswith("missed")


def _was_empty(doc: Mapping[str, Any]) -> bool:
    sources = doc.get("sources")
    return doc.get("note") == NO_NEW_PAPERS and isinstance(sources, list) and bool(sources)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
