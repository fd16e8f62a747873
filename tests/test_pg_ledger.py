"""The PostgreSQL ledger writes on connections of its own, on the run's event loop
(digest/store/pg_send.py, PgLedger): one the server closed while it sat idle (a restart
during a long wait for retries) is replaced, not the run stopped; ``settled()`` closes them
all; and a write that failed leaves no connection behind to be used again."""

from __future__ import annotations

import asyncio
from datetime import date

import psycopg
import pytest

from digest.errors import StoreError
from digest.models import DeliveryStatus, Edition, Paper, Subscriber
from digest.store import pg_connect
from digest.store.postgresql import PgStore
from digest.subscribers import address_key

EDITION = Edition("daily", date(2026, 11, 30), "Daily Papers")
PAPERS = (Paper(id="2511.00001", title="One"),)
_LEDGER = "SELECT pid FROM pg_stat_activity WHERE application_name = 'digest ledger'"


def _ledger_sessions(url: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [pid for (pid,) in conn.execute(_LEDGER).fetchall()]


def _end(url: str, pids: list[int]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def test_a_ledger_connection_ended_while_idle_is_replaced_and_settled_closes_them(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_connect, "CHECK_AFTER", 0.0)  # every idle connection is checked
    store = PgStore(pg_url)
    store.save_subscribers(Subscriber(f"r{i}@example.org", "") for i in range(3))
    keys = [address_key(f"r{i}@example.org") for i in range(3)]

    async def run() -> list[int]:
        with store.sending(EDITION, PAPERS, sender="one") as send:
            next(send.blocks(10))
            await send.ledger.claim(keys[0], "<m0@example.org>", (PAPERS[0].id,))
            first = await asyncio.to_thread(_ledger_sessions, pg_url)
            assert len(first) == 1, "one batch at a time: one connection"
            await asyncio.to_thread(_end, pg_url, first)  # as a server restart would
            await send.ledger.finish(keys[0], DeliveryStatus.SENT, "250 ok")
            await send.ledger.claim(keys[1], "<m1@example.org>", (PAPERS[0].id,))
            second = await asyncio.to_thread(_ledger_sessions, pg_url)
            assert len(second) == 1 and second != first, "a new connection"
            await send.ledger.settled()
            return await asyncio.to_thread(_ledger_sessions, pg_url)

    assert asyncio.run(run()) == [], "settled() closed the ledger's connections"
    shown = {d.email: d.status for d in store.deliveries(EDITION.key)}
    assert shown == {keys[0]: DeliveryStatus.SENT, keys[1]: DeliveryStatus.UNKNOWN}  # run ended
    store.close()


def test_a_write_that_fails_on_its_connection_closes_it_and_says_where(pg_url: str) -> None:
    """Ended mid-use (not idle long enough to be checked first): the write fails with one
    StoreError line, and the broken connection is not kept for the next."""
    store = PgStore(pg_url)
    store.save_subscribers([Subscriber("r0@example.org", ""), Subscriber("r1@example.org", "")])

    async def run() -> None:
        with store.sending(EDITION, PAPERS, sender="one") as send:
            next(send.blocks(10))
            await send.ledger.claim("r0@example.org", "<m0@example.org>", ())
            await asyncio.to_thread(_end, pg_url, await asyncio.to_thread(_ledger_sessions, pg_url))
            with pytest.raises(StoreError, match=r"PostgreSQL at 127\.0\.0\.1:\d+|store "):
                await send.ledger.finish("r0@example.org", DeliveryStatus.SENT, "250 ok")
            await send.ledger.finish("r0@example.org", DeliveryStatus.SENT, "250 ok")  # anew
            await send.ledger.settled()

    asyncio.run(run())
    (delivery,) = store.deliveries(EDITION.key)
    assert delivery.status == DeliveryStatus.SENT
    assert _ledger_sessions(pg_url) == []
    store.close()
