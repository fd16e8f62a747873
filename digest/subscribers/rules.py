"""What the readers' own actions do to their record: subscribe, confirm, change, leave.

Pure functions from the stored :class:`Subscriber` (or None) to the new one; the
:class:`~digest.store.Store` runs each inside one locked transaction. The rules:

- a subscribe request never changes a confirmed reader's choices: only a click in the
  confirmation email applies what was asked (anyone can type anyone's address);
- an address that unsubscribed or bounced comes back only through a new confirmation;
  one that complained (marked us as spam) never does;
- one-click unsubscribe leaves the digest the link came from (RFC 8058, Gmail: "only the
  list tied to that message"); with no digest left the address is unsubscribed for good.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from digest.config import DigestConfig
from digest.config.sources import Period
from digest.models import SUPPRESSED, Choices, Status, Subscriber


class Request(StrEnum):
    """What a subscribe request found, which decides the email it sends."""

    NEW = "new"  # a new address, now pending: send the confirmation
    PENDING = "pending"  # already waiting for its confirmation: send it again
    RETURNING = "returning"  # unsubscribed or bounced, asking again: send the confirmation
    KNOWN = "known"  # already confirmed: send a note with the preferences link, change nothing
    REFUSED = "refused"  # complained about us: send nothing, ever


def request(
    current: Subscriber | None, email: str, choices: Choices, *, now: datetime, consent: str
) -> tuple[Subscriber, Request]:
    """The record after someone asks, on the form, for ``email`` to get ``choices``."""
    if current is None:
        pending = Subscriber(
            email=email,
            id=secrets.token_hex(8),
            status=Status.PENDING,
            created_at=now,
            consent=consent,
            requested=choices,
            requested_at=now,
        )
        return pending, Request.NEW
    if current.status == Status.COMPLAINED:
        return current, Request.REFUSED
    if current.status == Status.CONFIRMED:
        return current, Request.KNOWN
    asked = replace(current, requested=choices, requested_at=now, consent=consent)
    return asked, Request.PENDING if current.status == Status.PENDING else Request.RETURNING


def confirm(current: Subscriber, *, now: datetime) -> Subscriber | None:
    """The record once the reader clicked Confirm; None when there is nothing to confirm
    (already confirmed, or the request was used up or withdrawn)."""
    if current.requested is None or current.status == Status.COMPLAINED:
        return None
    return _with_choices(
        current,
        current.requested,
        status=Status.CONFIRMED,
        paused=False,
        confirmed_at=now,
        requested=None,
        requested_at=None,
    )


def unsubscribe(
    current: Subscriber, digest: str | None, known_digests: Sequence[str]
) -> Subscriber:
    """The record after leaving ``digest`` (None: every digest). Repeating it changes nothing."""
    if current.status in SUPPRESSED:
        return current
    remaining = () if digest is None else _without(current.digests or known_digests, digest)
    if remaining:
        return replace(current, digests=remaining)
    return replace(current, status=Status.UNSUBSCRIBED, requested=None, requested_at=None)


def update_preferences(current: Subscriber, choices: Choices, *, paused: bool) -> Subscriber:
    """The record with new choices; a suppressed reader must subscribe again instead."""
    if current.status in SUPPRESSED:
        return current
    return _with_choices(current, choices, paused=paused)


def expired(sub: Subscriber, before: datetime) -> bool:
    """A pending address whose confirmation window has closed: it is forgotten."""
    asked = sub.requested_at or sub.created_at
    return sub.status == Status.PENDING and (asked is None or asked < before)


def _without(digests: Sequence[str], digest: str) -> tuple[str, ...]:
    return tuple(d for d in digests if d != digest)


def _with_choices(sub: Subscriber, c: Choices, **changes: Any) -> Subscriber:
    """``sub`` with the reader's choices applied; what only the operator sets (the minimum
    relevance) is kept."""
    return replace(
        sub,
        digests=c.digests,
        topics=c.topics,
        cadence=c.cadence,
        timezone=c.timezone,
        authors=c.authors,
        topic_mode=c.topic_mode,
        **changes,
    )


#: What ``digest subscribers add`` can set, by option name -> Subscriber field.
OPERATOR_FIELDS = {
    "topics": "topics",
    "digests": "digests",
    "cadence": "cadence",
    "timezone": "timezone",
    "authors": "authors",
    "topic_mode": "topic_mode",
    "min_relevance": "min_relevance",
}


def operator_add(
    current: Subscriber | None, given: Subscriber, passed: frozenset[str], *, now: datetime
) -> Subscriber:
    """What ``subscribers add`` stores: a new address as given, vouched for by the operator;
    an address already there keeps everything the command did not pass (its timezone, its
    consent record, when it confirmed) and takes only what was."""
    if current is None:
        return replace(given, confirmed_at=now, consent="added by the operator")
    changes = {OPERATOR_FIELDS[o]: getattr(given, OPERATOR_FIELDS[o]) for o in passed}
    if current.status == Status.PENDING:  # the operator vouches for it now
        consent = f"{current.consent}; confirmed by the operator" if current.consent else ""
        changes |= {
            "status": Status.CONFIRMED,
            "confirmed_at": now,
            "consent": consent or "added by the operator",
        }
    return replace(current, **changes)


def receives(sub: Subscriber, digest: DigestConfig) -> bool:
    """Confirmed, not paused, subscribed to this digest, and (weekly readers) not a daily
    digest. The PostgreSQL store says the same in SQL (``waiting_zones``)."""
    if sub.status != Status.CONFIRMED or sub.paused or not sub.wants(digest.name):
        return False
    return not (sub.cadence == "weekly" and digest.period == Period.DAY)
