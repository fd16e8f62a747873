"""The PostgreSQL store as rows and back (:meth:`Store.dump` and :meth:`Store.load`), for
``digest store copy``: rows in the embedded store's layout (``protocol.DUMP_TABLES``).

A dump reads one snapshot (a REPEATABLE READ transaction) through server-side cursors, so
a million subscribers stream through without being held in memory; a load writes every
table with COPY in one transaction, into a store that must be empty.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from digest.errors import StoreError
from digest.models import MailEvent, MailEventKind
from digest.store import events, pg_events
from digest.store.ledger import entry_row, row_entry
from digest.store.protocol import DUMP_TABLES, LedgerEntry
from digest.subscribers import address_key

_Conn = psycopg.Connection[Any]

#: Per dump table: the query whose rows :func:`_row` turns into documents.
_DUMPS = {
    "subscribers": "SELECT doc || jsonb_build_object('hard_bounces', hard_bounces)"
    " FROM subscribers ORDER BY key",
    "papers": "SELECT doc FROM papers ORDER BY id",
    "editions": "SELECT key, digest, date, title, paper_ids FROM editions ORDER BY date, key",
    "deliveries": "SELECT edition, key, email, status, message_id, reason, paper_ids, attempts,"
    " bounce, updated_at FROM deliveries ORDER BY edition, key",
    "runs": "SELECT doc FROM runs ORDER BY id",
    "events": "SELECT kind, email, edition, event_id, at, source, diagnostic, status"
    " FROM mail_events ORDER BY at, event_id",
}
_TABLES = {"events": "mail_events"}
_COPY = {
    "subscribers": "COPY subscribers (key, id, email, status, hard_bounces, doc) FROM STDIN",
    "papers": "COPY papers (id, doc) FROM STDIN",
    "editions": "COPY editions (key, digest, date, title, paper_ids) FROM STDIN",
    "deliveries": "COPY deliveries (edition, key, email, status, message_id, reason, paper_ids,"
    " attempts, bounce, updated_at) FROM STDIN",
    "runs": "COPY runs (digest, round, sender, doc) FROM STDIN",
    "events": "COPY mail_events (event_id, kind, email, key, edition, at, source, diagnostic,"
    " status) FROM STDIN",
}


def dump(conn: _Conn) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every row, table by table in DUMP_TABLES order (``conn`` in one transaction)."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    for table in DUMP_TABLES:
        with conn.cursor(name=f"dump_{table}") as cur:
            cur.itersize = 2000
            cur.execute(_DUMPS[table].encode())
            for row in cur:
                yield table, _row(table, row)


def _row(table: str, row: Any) -> dict[str, Any]:
    if table in ("subscribers", "papers", "runs"):
        return dict(row[0])
    if table == "editions":
        key, digest, day, title, ids = row
        return {
            "key": key,
            "digest": digest,
            "date": day.isoformat(),
            "title": title,
            "paper_ids": list(ids),
        }
    if table == "deliveries":
        edition, key, email, status, message_id, reason, ids, attempts, bounce, at = row
        entry = row_entry(
            {
                "email": email,
                "status": status,
                "message_id": message_id,
                "reason": reason,
                "paper_ids": list(ids),
                "attempts": attempts,
                "bounce": bounce,
                "updated_at": at.isoformat(timespec="milliseconds") if at else "",
            }
        )
        return {"edition": edition, **entry_row(key, entry)}
    kind, email, edition, event_id, at, source, diagnostic, status = row
    event = MailEvent(MailEventKind(kind), email, edition, event_id, at, source, diagnostic, status)
    return events.event_doc(event)


def refuse_unless_empty(conn: _Conn, location: str) -> None:
    held = []
    for table in DUMP_TABLES:
        name = _TABLES.get(table, table)
        if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {name})".encode()).fetchone() != (False,):
            held.append(table)
    if held:
        raise StoreError(
            f"store {location} is not empty (it has {', '.join(held)})",
            hint="copy into a new, empty store",
        )


def load(conn: _Conn, rows: Iterable[tuple[str, dict[str, Any]]]) -> Counter[str]:
    """COPY ``rows`` in (``conn`` in one transaction, the store empty); counts per table."""
    counts: Counter[str] = Counter()
    current = ""
    with ExitStack() as stack:
        copy: Any = None
        cur = conn.cursor()
        for table, doc in rows:
            if table not in _COPY:
                raise StoreError(f"a store dump has a row of an unknown table {table!r}")
            if table != current:
                stack.close()
                copy = stack.enter_context(cur.copy(_COPY[table].encode()))
                current = table
            copy.write_row(_values(table, doc))
            counts[table] += 1
    return counts


def _values(table: str, doc: dict[str, Any]) -> tuple[Any, ...]:
    """The COPY row of one dump document."""
    if table == "subscribers":
        doc = dict(doc)
        bounces = int(doc.pop("hard_bounces", 0) or 0)
        key = doc.get("key") or address_key(doc["email"])
        return (key, doc["id"], doc["email"], doc["status"], bounces, Jsonb({**doc, "key": key}))
    if table == "papers":
        return (doc["id"], Jsonb(doc))
    if table == "editions":
        day = date.fromisoformat(doc["date"])
        return (doc["key"], doc["digest"], day, doc.get("title", doc["digest"]), doc["paper_ids"])
    if table == "deliveries":
        e: LedgerEntry = row_entry(doc)
        at = datetime.fromisoformat(e.updated_at) if e.updated_at else None
        return (
            doc["edition"],
            doc.get("key") or address_key(e.email),
            e.email,
            e.status.value,
            e.message_id,
            e.reason,
            list(e.paper_ids),
            e.attempts,
            e.bounce,
            at,
        )
    if table == "runs":
        return (doc["digest"], doc.get("round", ""), doc.get("sender", ""), Jsonb(doc))
    return pg_events.event_row(events.event(doc))
