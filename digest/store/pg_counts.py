"""The PostgreSQL store's answers to the operator's counting questions (``counts``): each
an aggregate query on the columns ``pg_schema`` keeps beside the documents (status, paused,
cadence, digests: migration 003), so that ``digest check`` and ``digest stats`` on a list
of a million readers read counts, not a million documents."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

import psycopg

from digest.models import Status, Subscriber
from digest.store import documents as records
from digest.store.counts import DeliveryCounts, ReaderCounts, ReaderSample

_Conn = psycopg.Connection[Any]
#: ``Subscriber.wants`` one of ``%(d)s``: no digests chosen means every digest.
_WANTS_ANY = (
    "(cardinality(digests) = 0 AND cardinality(%(d)s::text[]) > 0 OR digests && %(d)s::text[])"
)
#: Rows a streamed answer fetches per round trip.
ITERSIZE = 2000


def readers_outside(
    conn: _Conn, digests: Collection[str], status: Status, cadence: str, sample: int
) -> ReaderSample:
    """How many readers with ``status`` and ``cadence`` want none of ``digests``, and the
    first ``sample`` addresses in key order (the receivers index holds what the count
    reads, for confirmed readers)."""
    where = f"status = %(s)s AND cadence = %(c)s AND NOT {_WANTS_ANY}"
    params = {"s": status.value, "c": cadence, "d": sorted(digests), "n": sample}
    row = conn.execute(f"SELECT count(*) FROM subscribers WHERE {where}".encode(), params)
    count = int(next(iter(row.fetchone() or (0,))))
    if not count or sample <= 0:
        return ReaderSample(count)
    emails = conn.execute(
        f"SELECT email FROM subscribers WHERE key = ANY(ARRAY(SELECT key FROM subscribers"
        f" WHERE {where} ORDER BY key LIMIT %(n)s)) ORDER BY key".encode(),
        params,
    ).fetchall()
    return ReaderSample(count, tuple(str(r[0]) for r in emails))


def reader_counts(conn: _Conn, digests: Sequence[str], since: Sequence[datetime]) -> ReaderCounts:
    """``counts.reader_counts`` in one pass over the table, grouped by what it tells apart
    (status, pause, digests chosen: a few rows), then added up per digest."""
    recent = "".join(
        f", count(*) FILTER (WHERE status = 'confirmed'"
        f" AND (doc->>'confirmed_at')::timestamptz >= %(t{i})s)"
        for i in range(len(since))
    )
    params: dict[str, Any] = {"d": list(digests)} | {f"t{i}": t for i, t in enumerate(since)}
    rows = conn.execute(
        f"SELECT status, paused, digests, count(*){recent} FROM subscribers"
        f" WHERE {_WANTS_ANY} GROUP BY status, paused, digests".encode(),
        params,
    ).fetchall()
    by_status = dict.fromkeys(Status, 0)
    paused, by_digest, confirmed_since = 0, dict.fromkeys(digests, 0), [0] * len(since)
    for status, is_paused, chosen, n, *since_counts in rows:
        by_status[Status(status)] += n
        if status != Status.CONFIRMED.value:
            continue
        paused += n if is_paused else 0
        for name in digests:
            by_digest[name] += n if not chosen or name in chosen else 0
        confirmed_since = [a + b for a, b in zip(confirmed_since, since_counts, strict=True)]
    return ReaderCounts(by_status, paused, by_digest, tuple(confirmed_since))


def delivery_counts(conn: _Conn, edition: str) -> DeliveryCounts:
    rows = conn.execute(
        "SELECT status, count(*), count(*) FILTER (WHERE bounce) FROM deliveries"
        " WHERE edition = %s GROUP BY status ORDER BY min(key)",
        (edition,),
    ).fetchall()
    return DeliveryCounts(
        {str(s): int(n) for s, n, _ in rows}, {str(s): int(b) for s, _, b in rows if b}
    )


def unreached(conn: _Conn, edition: str, digest: str) -> Iterator[Subscriber]:
    """The readers who want ``digest`` and have no delivery of ``edition``, in key order,
    streamed (``conn`` in one transaction)."""
    with conn.cursor(name="unreached") as cur:
        cur.itersize = ITERSIZE
        cur.execute(
            "SELECT s.doc FROM subscribers s"
            " WHERE (cardinality(s.digests) = 0 OR %(d)s = ANY(s.digests))"
            " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.edition = %(e)s"
            " AND d.key = s.key) ORDER BY s.key",
            {"d": digest, "e": edition},
        )
        for row in cur:
            yield records.subscriber(row[0])
