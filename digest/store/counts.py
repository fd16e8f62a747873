"""Readers and deliveries counted for the operator's commands (``digest check``, ``digest
stats``, ``digest history --edition``), asked of the store as questions of their own so
that a server store answers them with aggregate queries (``pg_counts``) instead of handing
over a million rows to be counted here. The embedded store reads its file whole anyway: it
counts its rows with the functions below, which say what each answer means."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from digest.models import Status, Subscriber


@dataclass(frozen=True, slots=True)
class ReaderSample:
    """How many readers a question found, and the first few addresses (in key order)."""

    count: int = 0
    sample: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReaderCounts:
    """The readers who get at least one of some digests, counted (``digest stats``)."""

    by_status: Mapping[Status, int] = field(default_factory=dict)  # every status, 0 if none
    paused: int = 0  # confirmed readers who paused their emails
    by_digest: Mapping[str, int] = field(default_factory=dict)  # confirmed readers per digest
    confirmed_since: tuple[int, ...] = ()  # confirmed readers confirmed at or after each instant

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    """One edition's deliveries by status (in the order the statuses first come, by
    address key), and how many of each were refused as a hard bounce (the ledger's
    ``bounce`` flag)."""

    by_status: Mapping[str, int] = field(default_factory=dict)
    bounces: Mapping[str, int] = field(default_factory=dict)


def readers_outside(
    subs: Iterable[Subscriber],
    digests: Collection[str],
    *,
    status: Status,
    cadence: str,
    sample: int,
) -> ReaderSample:
    """The readers with ``status`` and ``cadence`` who want none of ``digests``
    (``Subscriber.wants``); ``subs`` in key order."""
    found = [
        s.email
        for s in subs
        if s.status == status and s.cadence == cadence and not any(s.wants(d) for d in digests)
    ]
    return ReaderSample(len(found), tuple(found[:sample]))


def reader_counts(
    subs: Iterable[Subscriber], digests: Sequence[str], since: Sequence[datetime]
) -> ReaderCounts:
    """Of the readers who want any of ``digests``: how many in each status; of the confirmed
    ones, how many paused, how many get each digest, how many were confirmed since each of
    ``since``."""
    readers = [s for s in subs if any(s.wants(d) for d in digests)]
    confirmed = [s for s in readers if s.status == Status.CONFIRMED]
    return ReaderCounts(
        by_status={s: sum(r.status == s for r in readers) for s in Status},
        paused=sum(s.paused for s in confirmed),
        by_digest={d: sum(s.wants(d) for s in confirmed) for d in digests},
        confirmed_since=tuple(
            sum(1 for s in confirmed if s.confirmed_at and s.confirmed_at >= when) for when in since
        ),
    )


def delivery_counts(deliveries: Iterable[tuple[str, bool]]) -> DeliveryCounts:
    """``(status, refused as a hard bounce)`` pairs, one per delivery in key order, counted."""
    by_status: Counter[str] = Counter()
    bounces: Counter[str] = Counter()
    for status, bounce in deliveries:
        by_status[status] += 1
        bounces[status] += bounce
    return DeliveryCounts(dict(by_status), {s: n for s, n in bounces.items() if n})
