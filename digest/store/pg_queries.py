"""The SQL the PostgreSQL store's operations share (``postgresql``, ``pg_send``,
``pg_events``): subscribers written in one statement per batch, editions and their papers,
the ledger's rows as entries, what other editions showed a reader, hard bounces counted."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from digest.models import SUPPRESSED, DeliveryStatus, Edition, Paper
from digest.store.protocol import SHOWN, LedgerEntry
from digest.subscribers import address_key

_Conn = psycopg.Connection[Any]
_SUPPRESSED = [s.value for s in SUPPRESSED]
#: First key of the two-key advisory locks that ``exclusive(name)`` takes ("dg").
_LOCK_SPACE = 0x6467


#: Subscriber documents per statement (each slice is one JSON array, far under jsonb's 256 MB).
WRITE_SLICE = 20_000


def write_subscribers(
    conn: _Conn, inserts: list[dict[str, Any]], updates: list[dict[str, Any]]
) -> None:
    """One statement per :data:`WRITE_SLICE` of ``inserts`` and of ``updates`` (one JSON
    array the server takes apart: 100,000 readers are five round trips, not 100,000). An
    update merges the document, so keys another version of digest added are kept."""
    rows = (
        "(SELECT d->>'key' AS key, d->>'id' AS id, d->>'email' AS email,"
        " d->>'status' AS status, d AS doc FROM jsonb_array_elements(%s::jsonb) d)"
    )
    insert = "INSERT INTO subscribers (key, id, email, status, doc) SELECT * FROM " + rows + " AS u"
    update = (
        "UPDATE subscribers s SET id = u.id, email = u.email, status = u.status,"
        " doc = s.doc || u.doc FROM " + rows + " AS u WHERE s.key = u.key"
    )
    for sql, docs in ((insert, inserts), (update, updates)):
        # a jsonb value holds at most 256 MB: a million readers go in slices, one transaction
        for start in range(0, len(docs), WRITE_SLICE):
            conn.execute(sql.encode(), (Jsonb(docs[start : start + WRITE_SLICE]),))


def save_edition(conn: _Conn, edition: Edition, papers: Sequence[Paper]) -> None:
    conn.execute(
        "INSERT INTO editions (key, digest, date, title, paper_ids) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (key) DO UPDATE SET digest = EXCLUDED.digest, date = EXCLUDED.date,"
        " title = EXCLUDED.title, paper_ids = EXCLUDED.paper_ids",
        (edition.key, edition.digest, edition.date, edition.title, [p.id for p in papers]),
    )
    fresh = {p.id: p.to_json() for p in papers}
    if fresh:
        conn.cursor().executemany(
            "INSERT INTO papers (id, doc) VALUES (%s, %s)"
            " ON CONFLICT (id) DO UPDATE SET doc = papers.doc || EXCLUDED.doc",
            [(pid, Jsonb(doc)) for pid, doc in sorted(fresh.items())],
        )


def edition_papers(conn: _Conn, key: str) -> tuple[Paper, ...] | None:
    row = conn.execute("SELECT paper_ids FROM editions WHERE key = %s", (key,)).fetchone()
    if row is None:
        return None
    by_id = papers_by_id(conn, set(row[0]))
    return tuple(by_id[i] for i in row[0] if i in by_id)


def papers_by_id(conn: _Conn, ids: set[str]) -> dict[str, Paper]:
    if not ids:
        return {}
    rows = conn.execute("SELECT id, doc FROM papers WHERE id = ANY(%s)", (sorted(ids),))
    return {str(i): Paper.from_json(doc) for i, doc in rows.fetchall()}


ENTRY = (
    "SELECT email, status, message_id, reason, paper_ids, attempts, bounce, updated_at"
    " FROM deliveries"
)


def entry(row: Sequence[Any]) -> LedgerEntry:
    email, status, message_id, reason, paper_ids, attempts, bounce, updated_at = row
    return LedgerEntry(
        email=email,
        status=DeliveryStatus(status),
        message_id=message_id,
        reason=reason,
        paper_ids=tuple(paper_ids),
        attempts=attempts,
        bounce=bounce,
        updated_at=updated_at.astimezone(UTC).isoformat(timespec="milliseconds")
        if updated_at
        else "",
    )


def shown(
    conn: _Conn, candidates: list[str], besides: str | None, keys: list[str] | None
) -> dict[str, frozenset[str]]:
    """Per address key (of ``keys``, or all), the candidates that editions other than
    ``besides`` showed them. For given readers, their own deliveries (the index by key:
    O(readers' history), whatever the list's size); for all, the deliveries that hold a
    candidate (the GIN index on paper_ids)."""
    if not candidates:
        return {}
    params = {"c": candidates, "s": [s.value for s in SHOWN], "b": besides, "k": keys}
    other = b" AND d.edition <> %(b)s" if besides is not None else b""
    if keys is None:
        rows = conn.execute(
            b"SELECT d.key, array_agg(DISTINCT p) FROM deliveries d, unnest(d.paper_ids) p"
            b" WHERE d.paper_ids && %(c)s::text[] AND p = ANY(%(c)s::text[])"
            b" AND d.status = ANY(%(s)s)" + other + b" GROUP BY d.key",
            params,
        )
    else:
        rows = conn.execute(
            b"SELECT d.key, array_agg(DISTINCT p) FROM unnest(%(k)s::text[]) AS u(key)"
            b" CROSS JOIN LATERAL (" + _BY_KEY + b") d, unnest(d.paper_ids) p"
            b" WHERE d.paper_ids && %(c)s::text[] AND p = ANY(%(c)s::text[])"
            b" AND d.status = ANY(%(s)s)" + other + b" GROUP BY d.key",
            params,
        )
    return {str(k): frozenset(ids) for k, ids in rows.fetchall()}


#: One reader's deliveries, found by the index on their key and nothing else: ``OFFSET 0``
#: keeps the conditions on status, edition and papers out of the subquery, where a planner
#: without statistics yet (a new table in its first minute) or with the current edition's
#: papers in every row would scan the GIN or the status index instead, every delivery of the
#: edition for each page of readers: O(list) a page, O(list²) a send.
_BY_KEY = b"SELECT key, edition, status, paper_ids FROM deliveries WHERE key = u.key OFFSET 0"

#: What the ledger holds of given readers (``k``) in edition ``e``, each found by the primary
#: key (fenced as :data:`_BY_KEY` is, for the same reason: the index on (edition, status)
#: would read every delivery of the edition sent so far).
READERS_ENTRIES = (
    b"SELECT d.key, d.email, d.status, d.message_id, d.reason, d.paper_ids, d.attempts,"
    b" d.bounce, d.updated_at FROM unnest(%(k)s::text[]) AS u(key) CROSS JOIN LATERAL"
    b" (SELECT * FROM deliveries WHERE edition = %(e)s AND key = u.key OFFSET 0) d"
    b" WHERE d.status = ANY(%(s)s)"
)


def count_bounces(
    conn: _Conn, bounced: Iterable[str], delivered: Iterable[str], limit: int
) -> tuple[str, ...]:
    """One more hard bounce for each of ``bounced``, none left for the others ``delivered``;
    an address at ``limit`` becomes bounced. The addresses suppressed now."""
    bounced_keys = sorted({address_key(e) for e in bounced})
    reset = sorted({address_key(e) for e in delivered} - set(bounced_keys))
    if reset:
        conn.execute(
            "UPDATE subscribers SET hard_bounces = 0 WHERE key = ANY(%s) AND hard_bounces <> 0",
            (reset,),
        )
    if not bounced_keys:
        return ()
    rows = conn.execute(
        "SELECT key, email, status, hard_bounces FROM subscribers WHERE key = ANY(%s)"
        " ORDER BY key FOR UPDATE",
        (bounced_keys,),
    ).fetchall()
    now_bounced = [
        (str(k), str(email))
        for k, email, status, count in rows
        if count + 1 >= limit and status not in _SUPPRESSED
    ]
    conn.execute(
        "UPDATE subscribers SET hard_bounces = hard_bounces + 1 WHERE key = ANY(%s)",
        (bounced_keys,),
    )
    if now_bounced:
        conn.execute(
            "UPDATE subscribers SET status = 'bounced',"
            " doc = jsonb_set(doc, '{status}', '\"bounced\"') WHERE key = ANY(%s)",
            ([k for k, _ in now_bounced],),
        )
    return tuple(email for _, email in now_bounced)


def lock_keys(name: str) -> tuple[int, int]:
    """The two int4 keys of ``exclusive(name)``'s advisory lock."""
    digest = hashlib.blake2b(name.encode(), digest_size=4).digest()
    return _LOCK_SPACE, int.from_bytes(digest, "big", signed=True)
