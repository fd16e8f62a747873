"""A damaged store file, command by command: each says what is wrong in one ``Error:`` line
(naming the file, or the table and the record) and exits 1; none shows a traceback. And the
web app's hourly expiry of unconfirmed addresses outlives an unexpected error."""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLE

from digest.cli import main
from digest.errors import StoreError
from digest.models import Status, Subscriber
from digest.store.documents import subscriber_doc
from digest.store.ledger import EditionLedger
from digest.web.app import _sweep_pending

ADA = subscriber_doc(
    Subscriber(email="ada@example.org", id="ada01", status=Status.CONFIRMED, digests=("daily",))
)
EDITION = {"key": "daily/2025-11-20", "digest": "daily", "date": "2025-11-20", "paper_ids": []}


def store_with(subscriber: dict[str, Any] | None = None, **tables: Any) -> str:
    doc = ADA if subscriber is None else subscriber
    return json.dumps({"subscribers": {"1": doc}, "editions": {"1": EDITION}, **tables})


def without(field: str) -> dict[str, Any]:
    return {k: v for k, v in ADA.items() if k != field}


CORRUPT: dict[str, bytes | str] = {
    "not UTF-8": b'{"subscribers": {"1": {"email": "\xff\xfe"}}}',
    "cut short": store_with()[:40],
    "a list": "[]",
    "a string": '"subscribers"',
    "a number": "42",
    "null": "null",
    "a table that is a list": '{"subscribers": []}',
    "a table that is a string": '{"subscribers": "ada"}',
    "a record that is a number": '{"subscribers": {"1": 5}}',
    "a record that is a list": '{"subscribers": {"1": ["ada@example.org"]}}',
    "no email": store_with(without("email")),
    "no key": store_with(without("key")),
    "no id": store_with(without("id")),
    "no status": store_with(without("status")),
    "a bad status": store_with({**ADA, "status": "zombie"}),
    "a bad date": store_with({**ADA, "created_at": "yesterday"}),
    "a date that is a number": store_with({**ADA, "created_at": 20251126}),
    "digests that are a number": store_with({**ADA, "digests": 5}),
    "an edition with no date": store_with(editions={"1": {**EDITION, "date": None}}),
    "an edition with a bad date": store_with(editions={"1": {**EDITION, "date": "2025-13-45"}}),
    "an edition with no key": store_with(editions={"1": {"digest": "daily", "date": "2025-11-20"}}),
    "a paper with a bad date": store_with(papers={"1": {"id": "2511.00001", "published": "soon"}}),
}

PAPERS = ["--date", "2025-11-26", "--source", str(SAMPLE)]
COMMANDS = {
    "subscribers list": ["subscribers", "list"],
    "send --dry-run": ["send", "--dry-run", *PAPERS],
    "history": ["history"],
    "check": ["check"],
    "preview": ["preview", *PAPERS, "--subscriber", "ada@example.org"],
    "rank": ["rank", *PAPERS, "--subscriber", "ada@example.org"],
}


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``digest ARGS`` in-process: exit code and stderr (a traceback if one escaped)."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    except Exception:  # what the operator would see as a traceback
        code = -1
        print(traceback.format_exc(), file=__import__("sys").stderr)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
@pytest.mark.parametrize("damage", CORRUPT, ids=list(CORRUPT))
def test_a_damaged_store_is_one_error_line_for_every_command(
    damage: str,
    command: str,
    config_file: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = config_file()
    store = tmp_path / "store.json"
    content = CORRUPT[damage]
    store.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = store.read_bytes()
    code, err = run(["--config", str(config), *COMMANDS[command]], capsys)
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert "Traceback" not in err, err
    assert code == 1 and len(errors) == 1, err
    assert "store" in errors[0] and "backup" in errors[0], errors[0]
    assert store.read_bytes() == before  # left alone for the operator to restore


# the hourly expiry of unconfirmed addresses -------------------------------------------------


class BrokenOnce:
    """A store whose first expiry fails with an error no one planned for."""

    def __init__(self) -> None:
        self.calls = 0

    def expire_pending(self, before: datetime) -> int:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("a bug")
        return 0


class SweepSite:
    """What the sweep uses of the web app's Site: the store, the clock, the window."""

    def __init__(self, store: BrokenOnce) -> None:
        self.store = store
        self.confirm_window = timedelta(hours=48)

    def clock(self) -> datetime:
        return datetime(2025, 11, 26, tzinfo=UTC)

    async def db(self, operation: Callable[..., int], *args: Any) -> int:
        return operation(*args)


def test_the_expiry_sweep_logs_an_unexpected_error_and_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = BrokenOnce()

    async def go() -> bool:
        sweep = asyncio.create_task(_sweep_pending(SweepSite(store)))  # type: ignore[arg-type]
        for _ in range(100):
            await asyncio.sleep(0.01)
            if store.calls:
                break
        await asyncio.sleep(0.05)
        alive = not sweep.done()
        sweep.cancel()
        return alive

    with caplog.at_level(logging.ERROR):
        assert asyncio.run(go()), "the sweep stopped for good"
    assert store.calls == 1
    assert "could not forget expired unconfirmed addresses" in caplog.text


def test_a_journal_record_without_a_status_is_one_store_error(tmp_path: Path) -> None:
    book = EditionLedger(tmp_path, "daily/2026-11-24")
    book.journal_path.parent.mkdir(parents=True)
    book.journal_path.write_text(json.dumps({"k": "a@example.org"}) + "\n")
    with pytest.raises(StoreError, match="record 1: no delivery status"):
        book.load()
