"""``digest store copy``: a store made by real sends (a relay that bounces one reader and
cuts another off mid-DATA), an unsubscribe and a complaint, copied into an empty store and
back, loses nothing: every row of every table compares equal, field by field."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import SAMPLE, SmtpServer, run_cli

from digest.models import Status
from digest.store import Store, TinyStore, open_store
from digest.store.protocol import DUMP_TABLES

READERS = [f"r{n}@example.org" for n in range(8)]


def rows(store: Store) -> dict[str, list[str]]:
    """Every row of ``store`` per table, as sorted canonical JSON (order-free, field-exact)."""
    tables: dict[str, list[str]] = {t: [] for t in DUMP_TABLES}
    for table, row in store.dump():
        if table == "subscribers":  # a counter not yet counted is 0 in a table with a column
            row = {"hard_bounces": 0, **row}
        if table == "runs":  # a run of no round has round and sender "" in a table with columns
            row = {"round": "", "sender": "", **row}
        tables[table].append(json.dumps(row, sort_keys=True, ensure_ascii=False))
    return {t: sorted(r) for t, r in tables.items()}


def assert_same(got: dict[str, list[str]], want: dict[str, list[str]]) -> None:
    """Equal, table by table; else the rows each side has that the other lacks."""
    for table in DUMP_TABLES:
        lost = sorted(set(want[table]) - set(got[table]))
        added = sorted(set(got[table]) - set(want[table]))
        assert not lost and not added, f"{table}: lost {lost[:1]}, added {added[:1]}"
        assert len(got[table]) == len(want[table]), table


@pytest.fixture
def made(
    smtp_server: SmtpServer,
    config_file: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    """A TinyDB store after two real sends of two editions through a scripted relay."""
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-0123456789abcdefghijkl")
    config = str(config_file(smtp_host="127.0.0.1", smtp_port=smtp_server.port))
    csv = tmp_path / "readers.csv"
    csv.write_text("email,topics\n" + "".join(f"{a},llm\n" for a in READERS), encoding="utf-8")
    assert run_cli(["--config", config, "subscribers", "import", str(csv)], capsys)[0] == 0
    relay = smtp_server.script
    relay.rcpt["r1@example.org"] = "550 5.1.1 no such user"
    relay.drop.add("r2@example.org")  # cut off during DATA: an unknown delivery
    relay.data["r3@example.org"] = "451 4.3.0 try later"  # deferred
    for day in ("2025-11-26", "2025-11-27"):
        run_cli(["--config", config, "send", "--date", day, "--source", str(SAMPLE)], capsys)
    store = TinyStore(tmp_path / "store.json")
    sub = store.get_subscriber("r4@example.org")
    assert sub is not None
    store.unsubscribe(sub.id, None, ["daily"])
    store.set_status("r5@example.org", Status.COMPLAINED)
    yield tmp_path / "store.json"


def copy(capsys: pytest.CaptureFixture[str], source: str, target: str) -> tuple[int, str, str]:
    return run_cli(["store", "copy", source, target], capsys)


@pytest.fixture(params=["tinydb", "postgresql"])
def empty_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a copy goes: a new TinyDB path, or an empty PostgreSQL database."""
    if request.param == "tinydb":
        return str(tmp_path / "copy" / "store.json")
    return str(request.getfixturevalue("pg_url"))


def test_a_round_trip_loses_nothing(
    made: Path, empty_target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = rows(TinyStore(made))
    statuses = {json.loads(r)["status"] for r in before["deliveries"]}
    assert {"sent", "failed", "unknown", "deferred"} <= statuses  # what real sends leave
    code, out, err = copy(capsys, str(made), empty_target)
    assert code == 0, err
    assert f"{len(before['subscribers'])} subscribers" in out
    assert_same(rows(open_store(empty_target)), before)
    back = tmp_path / "back" / "store.json"
    code, out, err = copy(capsys, empty_target, str(back))
    assert code == 0, err
    assert_same(rows(TinyStore(back)), before)


def test_a_copy_refuses_a_target_that_is_not_empty(
    made: Path, empty_target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert copy(capsys, str(made), empty_target)[0] == 0
    code, _, err = copy(capsys, str(made), empty_target)
    assert code == 1
    assert err.startswith("Error: store ") and "is not empty" in err
    assert len(err.strip().splitlines()) <= 2  # the line, and its hint


def test_a_missing_source_copies_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = copy(capsys, str(tmp_path / "nope.json"), str(tmp_path / "to.json"))
    assert code == 1 and "empty or missing: nothing was copied" in err
