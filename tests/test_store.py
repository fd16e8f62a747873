"""The TinyDB store: typed operations, a ledger that forbids double sends, safe writes."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from digest.errors import StoreError
from digest.models import Status, Subscriber
from digest.store import TinyStore


def sub(email: str, **kw: object) -> Subscriber:
    return Subscriber(email=email, id="", **kw)  # type: ignore[arg-type]


def test_subscriber_round_trip(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    stored, outcome = store.save_subscriber(sub("Ada@Example.org", topics=("diffusion",)))
    assert outcome == "added" and stored.id and stored.created_at
    again = store.get_subscriber("ada@example.org")
    assert again == stored
    _, outcome = store.save_subscriber(sub("ada@example.org", topics=("rl",)))
    assert outcome == "updated"
    assert store.list_subscribers()[0].topics == ("rl",)
    assert store.list_subscribers()[0].id == stored.id


def test_suppressed_address_is_not_resubscribed(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    store.save_subscriber(sub("a@example.org"))
    store.set_status("a@example.org", Status.UNSUBSCRIBED)
    current, outcome = store.save_subscriber(sub("a@example.org"))
    assert outcome == "suppressed" and current.status == Status.UNSUBSCRIBED


def test_corrupt_file_is_a_clear_error_and_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"subscribers": {"1": ')
    with pytest.raises(StoreError, match="is not valid JSON"):
        TinyStore(path).list_subscribers()
    assert path.read_text() == '{"subscribers": {"1": '


def _add_many(path: str, prefix: str, count: int) -> None:
    store = TinyStore(Path(path))
    for n in range(count):
        store.save_subscriber(sub(f"{prefix}{n}@example.org"))


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_add_many, args=(str(path), p, 25)) for p in "abc"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert len(TinyStore(path).list_subscribers()) == 75
    json.loads(path.read_text())
    assert not list(tmp_path.glob(".*.tmp"))


def test_exclusive_refuses_a_second_holder(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    other = TinyStore(tmp_path / "s.json")
    with (
        store.exclusive("send-daily"),
        pytest.raises(StoreError, match="another process holds 'send-daily'"),
        other.exclusive("send-daily"),
    ):
        pass
    with store.exclusive("send-daily"):
        pass
