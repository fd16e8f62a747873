"""``digest check``, ``stats``, ``history --edition`` and ``inbound`` print, on both
backends, what they printed when each of them read every subscriber of the store: the
store now counts or picks the readers they need (digest.store.counts). The expected text is
in tests/fixtures/operator-counts/, written by the earlier code for the store made here
(DIGEST_REGEN_GOLDEN=1 rewrites it)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from bounce_mail import dsn, unsubscribe
from conftest import current_store
from conftest import run_cli as run

from digest.links import UNSUBSCRIBE_MAILTO, VERP, make_mail_token, tagged_address
from digest.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    Ledger,
    MailEvent,
    MailEventKind,
    Paper,
    RunReport,
    SourceReport,
    Status,
    Subscriber,
)
from digest.store import Store

pytestmark = pytest.mark.usefixtures("each_store")

SECRET = "test-secret-0123456789abcdefghijkl"
GOLDEN = Path(__file__).parent / "fixtures" / "operator-counts"
EDITION = Edition("daily", date(2025, 11, 26), "Daily Papers")
MADE = datetime(2025, 11, 26, 7, 0, tzinfo=UTC)
NOW = datetime.now(UTC)
Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def utc_local() -> Iterator[None]:
    """The times the commands print are this machine's local times: UTC here."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    config_file: Callable[..., Path],
    utc_local: None,
) -> Cli:
    """``digest --config schedules.yaml ARGS`` in-process, with a return path of its own."""
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    config = config_file()
    own_return_path = "sender:\n  envelope_from: bounces@example.org\n"
    config.write_text(config.read_text().replace("sender:\n", own_return_path))
    return lambda *args: run(["--config", str(config), *args], capsys)


def _readers() -> list[Subscriber]:
    daily, weekly = ("daily",), "weekly"
    return [
        *(Subscriber(f"w{n}@example.org", "", digests=daily, cadence=weekly) for n in range(5)),
        Subscriber("ada@example.org", "", digests=daily, confirmed_at=NOW - timedelta(days=2)),
        Subscriber("bob@example.org", "", confirmed_at=NOW - timedelta(days=20)),
        Subscriber("cy@example.org", "", digests=daily, timezone="Asia/Tokyo"),
        Subscriber("paused@example.org", "", paused=True, confirmed_at=NOW - timedelta(days=60)),
        Subscriber("pending@example.org", "", status=Status.PENDING, digests=daily),
        Subscriber("gone@example.org", "", status=Status.UNSUBSCRIBED),
        Subscriber("late@example.org", "", confirmed_at=MADE + timedelta(days=1)),
        Subscriber("other@example.org", "", digests=("other",), confirmed_at=NOW),
        Subscriber("skip@example.org", "", digests=daily),
    ]


def _send(store: Store) -> None:
    """EDITION sent by hand: ada@ got it, bob@ was refused (5xx), cy@ deferred, skip@ had
    nothing new."""
    outcomes = {
        "ada@example.org": (DeliveryStatus.SENT, False, ""),
        "bob@example.org": (DeliveryStatus.FAILED, True, "550 5.1.1 no such user"),
        "cy@example.org": (DeliveryStatus.DEFERRED, False, "421 try later"),
    }

    async def go(ledger: Ledger) -> None:
        for n, (address, (status, bounce, reason)) in enumerate(outcomes.items()):
            await ledger.claim(address, f"<daily.{n}@example.org>", ("p1",))
            await ledger.finish(address, status, reason, bounce=bounce)

    with store.sending(EDITION, [Paper(id="p1", title="P1")], sender="test") as send:
        asyncio.run(go(send.ledger))
    skipped = {  # settled by the run without a message: skip@ in no ledger, ada@ sent later
        "skip@example.org": (DeliveryStatus.SKIPPED, False, "nothing new for them"),
        "ada@example.org": (DeliveryStatus.SKIPPED, False, "an earlier try"),
    }
    deliveries = tuple(
        Delivery(EDITION.key, address, status, reason=reason)
        for address, (status, _, reason) in (*outcomes.items(), *skipped.items())
    )
    report = RunReport(
        "daily",
        EDITION.date,
        MADE,
        MADE + timedelta(minutes=1),
        False,
        (SourceReport("hf", "hf-daily", True, 1, 0.5),),
        deliveries,
    )
    store.finish_run(report, bounced=["bob@example.org"], delivered=["ada@example.org"], limit=5)
    event = MailEvent(
        MailEventKind.SOFT_BOUNCE,
        "cy@example.org",
        EDITION.key,
        "<report-1@mx.example>",
        MADE + timedelta(hours=1),
        "file r.eml",
    )
    store.record_event(event, bounce_limit=5, soft_limit=3, known_digests=("daily",))


@pytest.fixture
def filled() -> Store:
    store = current_store()
    store.save_subscribers(_readers())
    _send(store)
    return store


def _same_as_before(name: str, text: str) -> None:
    golden = GOLDEN / f"{name}.txt"
    if os.environ.get("DIGEST_REGEN_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"{golden} is missing: run with DIGEST_REGEN_GOLDEN=1"
    if name.endswith("-json"):  # a run's sources come back from jsonb with their keys sorted
        assert json.loads(text) == json.loads(golden.read_text(encoding="utf-8"))
    else:
        assert text == golden.read_text(encoding="utf-8")


def test_check_names_the_stranded_weekly_readers_as_before(filled: Store, cli: Cli) -> None:
    code, _, err = cli("check")
    assert code == 0
    assert "warning: 5 weekly reader(s) get nothing (w0@example.org, w1@" in err
    _same_as_before("check-stderr", err)


def test_stats_count_as_before(filled: Store, cli: Cli) -> None:
    code, out, err = cli("stats")
    assert code == 0, err
    _same_as_before("stats", out)
    code, out, err = cli("stats", "--json")
    assert code == 0, err
    _same_as_before("stats-json", out)


def test_history_of_an_edition_names_whom_it_missed_as_before(filled: Store, cli: Cli) -> None:
    code, out, err = cli("history", "--edition", "daily-2025-11-26")
    assert code == 0, err
    _same_as_before("history-edition", out)
    code, out, err = cli("history", "--edition", "daily-2025-11-26", "--json")
    assert code == 0, err
    _same_as_before("history-edition-json", out)


def test_inbound_finds_the_readers_of_tokens_as_before(
    filled: Store, cli: Cli, tmp_path: Path
) -> None:
    ids = {s.email: s.id for s in filled.list_subscribers()}
    verp = make_mail_token(SECRET, VERP, ids["ada@example.org"], EDITION.key)
    mailto = make_mail_token(SECRET, UNSUBSCRIBE_MAILTO, ids["w1@example.org"], EDITION.key)
    sent = b"From: papers@example.org\r\nTo: ada@example.org\r\nMessage-ID: <x@example.org>\r\n"
    bounce = dsn(sent, to=str(tagged_address("bounces@example.org", verp)), recipient="ada@x")
    leave = unsubscribe(to=str(tagged_address("unsubscribe@example.org", mailto)))
    (tmp_path / "bounce.eml").write_bytes(bounce)
    (tmp_path / "leave.eml").write_bytes(leave)
    code, out, err = cli("inbound", str(tmp_path / "bounce.eml"), str(tmp_path / "leave.eml"))
    assert code == 0, err
    _same_as_before("inbound", out.replace(str(tmp_path), "TMP"))
    left = filled.get_subscriber("w1@example.org")
    assert left is not None and left.status == Status.UNSUBSCRIBED
