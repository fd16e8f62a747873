"""Mail that came back, in the PostgreSQL store: the ``mail_events`` table and what an event
does to its reader, by the rules of :mod:`digest.store.events` (the TinyDB side, whose
docstring and the contract tests hold them): idempotent by ``event_id``; a complaint, a
mailto unsubscribe, hard or soft bounces on the reader's last editions sent to them "in a
row"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg

from digest.models import DeliveryStatus, MailEvent, MailEventKind, Subscriber
from digest.store import documents as records
from digest.store import events as rules_of
from digest.store.event_rules import apply_event
from digest.store.protocol import EventEffect
from digest.subscribers import address_key

_Conn = psycopg.Connection[Any]
_SENT = frozenset({DeliveryStatus.SENT.value, DeliveryStatus.UNKNOWN.value})


def event_row(event: MailEvent) -> tuple[Any, ...]:
    """The ``mail_events`` columns of ``event``, in the table's order (record and load)."""
    return (
        event.event_id,
        event.kind.value,
        event.email,
        address_key(event.email),
        event.edition,
        event.at,
        event.source,
        event.diagnostic,
        event.status,
    )


def record(
    conn: _Conn,
    event: MailEvent,
    limits: tuple[int, int],
    known_digests: Sequence[str],
    write: Any,
) -> EventEffect | None:
    """Record ``event`` and apply it; None when its id was recorded before. ``write`` saves
    a changed subscriber document (the store's update)."""
    added = conn.execute(
        "INSERT INTO mail_events (event_id, kind, email, key, edition, at, source, diagnostic,"
        " status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING",
        event_row(event),
    )
    if added.rowcount == 0:
        return None
    row = conn.execute(
        "SELECT doc FROM subscribers WHERE key = %s FOR UPDATE", (address_key(event.email),)
    ).fetchone()
    if row is None:
        return EventEffect()
    current = records.subscriber(row[0])

    def streak(limit: int) -> bool:
        return _in_a_row(conn, current, event, limit)

    changed, effect = apply_event(current, event, streak, limits, known_digests)
    if changed != current:
        write(conn, records.subscriber_doc(changed))
    return effect


def _in_a_row(conn: _Conn, sub: Subscriber, event: MailEvent, limit: int) -> bool:
    """Whether the reader's last ``limit`` editions sent to them all bounced as ``event`` did."""
    key = address_key(sub.email)
    rows = conn.execute(
        "SELECT DISTINCT edition FROM mail_events WHERE key = %s AND kind = %s",
        (key, event.kind.value),
    ).fetchall()
    bounced = {str(r[0]) for r in rows}
    hard = event.kind == MailEventKind.HARD_BOUNCE
    if not hard and len(bounced) < limit:
        return False
    count = 0
    for edition, status, bounce in _sent_to(conn, key, event.edition):
        if edition != event.edition and not _was_sent(status, bounce):
            continue
        count += 1
        if edition not in bounced and not (hard and bounce):
            return False
        if count >= limit:
            return True
    return False


def _sent_to(conn: _Conn, key: str, own: str) -> list[tuple[str, str | None, bool]]:
    """The newest editions (and the event's own), each with the reader's ledger entry."""
    found = conn.execute(
        "SELECT key, date::text FROM editions ORDER BY date DESC, key DESC LIMIT %s",
        (rules_of.WALK,),
    ).fetchall()
    editions = {(str(day), str(k)) for k, day in found} | {(own.rpartition("/")[2], own)}
    walk = [k for _, k in sorted(editions, reverse=True)[: rules_of.WALK]]
    entries = conn.execute(
        "SELECT edition, status, bounce FROM deliveries WHERE key = %s AND edition = ANY(%s)",
        (key, walk),
    ).fetchall()
    by_edition = {str(e): (str(s), bool(b)) for e, s, b in entries}
    return [(e, *by_edition.get(e, (None, False))) for e in walk]


def _was_sent(status: str | None, bounce: bool) -> bool:
    return status in _SENT or (status == DeliveryStatus.FAILED.value and bounce)


def listed(conn: _Conn, since: datetime | None, edition: str | None) -> tuple[MailEvent, ...]:
    rows = conn.execute(
        "SELECT kind, email, edition, event_id, at, source, diagnostic, status FROM mail_events"
        " WHERE (%(s)s::timestamptz IS NULL OR at >= %(s)s)"
        " AND (%(e)s::text IS NULL OR edition = %(e)s) ORDER BY at, event_id",
        {"s": since, "e": edition},
    ).fetchall()
    return tuple(
        MailEvent(MailEventKind(k), em, ed, i, at, src, diag, st)
        for k, em, ed, i, at, src, diag, st in rows
    )


def find_delivery(conn: _Conn, message_id: str) -> tuple[str, str] | None:
    wanted = rules_of.normal_message_id(message_id)
    if not wanted:
        return None
    row = conn.execute(
        "SELECT edition, email FROM deliveries WHERE " + NORMAL_MESSAGE_ID + " = %s"
        " ORDER BY edition DESC LIMIT 1",
        (wanted,),
    ).fetchone()
    return (str(row[0]), str(row[1])) if row else None


#: normal_message_id in SQL (the expression of the deliveries_message_id index).
NORMAL_MESSAGE_ID = (
    "lower(btrim(regexp_replace(regexp_replace(btrim(message_id), '^<', ''), '>$', '')))"
)
