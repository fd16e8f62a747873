"""``Store.waiting_zones``: what the schedule reads instead of the whole list, on every
backend (the contract suite's ``store`` fixture). It must say what ``rules.receives`` and
the ledger say, reader for reader."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date

from test_store_contract import backend, store  # noqa: F401  (the parametrized fixtures)

from digest.config import DigestConfig
from digest.config.sources import Period, SourceSpec
from digest.models import DeliveryStatus, Edition, Status, Subscriber
from digest.store import Store
from digest.subscribers.rules import receives

SOURCES = (SourceSpec("hf-daily", "hf-daily"),)
DAILY = DigestConfig("daily", "Daily Papers", SOURCES, "0 7 * * mon-fri", "Europe/London")
WEEKLY = DigestConfig(
    "weekly", "Weekly Papers", SOURCES, "0 7 * * mon", "Europe/London", period=Period.WEEK
)
EDITION = Edition("daily", date(2026, 11, 24), "Daily Papers")


def variety() -> list[Subscriber]:
    """Every combination that decides whether a reader receives a digest."""
    combos = itertools.product(
        (Status.CONFIRMED, Status.PENDING, Status.UNSUBSCRIBED, Status.BOUNCED),
        (False, True),  # paused
        ((), ("daily",), ("weekly",), ("daily", "weekly")),
        ("daily", "weekly"),
        (None, "Asia/Tokyo", "Europe/Paris", "Not/AZone"),
    )
    return [
        Subscriber(f"r{n}@example.org", "", status, digests, (), cadence, zone, paused=paused)
        for n, (status, paused, digests, cadence, zone) in enumerate(combos)
    ]


def expected(subs: list[Subscriber], digest: DigestConfig, delivered: set[str]) -> dict[str, int]:
    zones: dict[str, int] = {}
    for sub in subs:
        if receives(sub, digest) and sub.email not in delivered:
            zones[sub.timezone or ""] = zones.get(sub.timezone or "", 0) + 1
    return zones


def test_waiting_zones_count_the_readers_of_a_digest_not_yet_delivered(store: Store) -> None:  # noqa: F811
    subs = variety()
    saved = [s for s, _ in store.save_subscribers(subs)]
    assert [s.paused for s in saved] == [s.paused for s in subs]
    assert store.waiting_zones(EDITION.key, DAILY) == expected(saved, DAILY, set())
    assert store.waiting_zones("weekly/2026-11-24", WEEKLY) == expected(saved, WEEKLY, set())
    takers = [s.email for s in saved if receives(s, DAILY)][::3]
    with store.sending(EDITION, (), sender="t") as send:

        async def deliver() -> None:
            for n, email in enumerate(takers):
                await send.ledger.claim(email, f"<{n}@x>", ())
                status = DeliveryStatus.SENT if n % 2 else DeliveryStatus.DEFERRED
                await send.ledger.finish(email, status)

        asyncio.run(deliver())
    assert store.waiting_zones(EDITION.key, DAILY) == expected(saved, DAILY, set(takers))
