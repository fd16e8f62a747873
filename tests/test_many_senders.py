"""One edition sent from several machines at once, sharing one PostgreSQL store: three real
``digest send`` processes against one relay, one of them killed with SIGKILL mid-run, then
a rerun. Nobody gets the edition twice, nobody is left out but the few deliveries the
killed sender had in flight (``unknown``, never resent unless asked)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from conftest import PROCESS_SECRET, READERS, SAMPLE, SmtpServer, with_readers
from conftest import digest_command as command
from conftest import run_digest as run
from pg_server import PgServer

from digest.models import DeliveryStatus
from digest.store import open_store

pytestmark = pytest.mark.slow
EDITION = "daily/2025-11-26"
SEND = ("send", "--date", "2025-11-26", "--source", str(SAMPLE))


def shares(url: str) -> Counter[int]:
    """Deliveries of the edition per sender, by the pid in its name ("host pid N")."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT sender, count(*) FROM deliveries WHERE edition = %s GROUP BY sender",
            (EDITION,),
        ).fetchall()
    return Counter({int(sender.rsplit(" ", 1)[1]): n for sender, n in rows if sender})


def test_three_senders_share_an_edition_and_a_killed_one_loses_only_its_flight(
    smtp_server: SmtpServer,
    config_file: Callable[..., Path],
    tmp_path: Path,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIGEST_STORE", pg_url)  # every digest process here uses PostgreSQL
    relay = smtp_server.script
    relay.sleep = dict.fromkeys(READERS, 0.05)  # like a real relay, answers DATA after 50 ms
    config = with_readers(config_file, smtp_server.port, tmp_path)  # 4 connections a sender
    env = {**os.environ, "DIGEST_SECRET": PROCESS_SECRET}
    senders = [
        subprocess.Popen(command(config, *SEND), env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        len(relay.recipients) < 30 or shares(pg_url).get(senders[0].pid, 0) < 3
    ):
        time.sleep(0.01)
    os.kill(senders[0].pid, signal.SIGKILL)  # mid-run, transactions in flight
    killed_at = len(relay.recipients)
    outputs = [s.communicate(timeout=120)[0] for s in senders]
    assert senders[0].returncode == -signal.SIGKILL
    assert [s.returncode for s in senders[1:]] == [0, 0], outputs
    assert killed_at < len(READERS), "the kill must land mid-run"

    store = open_store(pg_url)
    ledger = {d.email: d.status for d in store.deliveries(EDITION)}
    unknown = {a for a, s in ledger.items() if s == DeliveryStatus.UNKNOWN}
    got = Counter(relay.recipients)
    assert max(got.values()) == 1, "nobody gets the edition twice"
    assert len(unknown) <= 4, "at most one delivery per connection of the killed sender"
    assert set(READERS) == set(got) | unknown, "everyone else got it exactly once"

    rerun = run(config, *SEND)
    assert rerun.returncode == 0, rerun.stderr
    assert len(relay.recipients) == sum(got.values()), "a rerun sends nobody anything"
    history = run(config, "history", "--json")
    assert history.returncode == 0, history.stderr
    first = json.loads(history.stdout)[0]  # the round of the two that finished, as one run
    assert first["note"].startswith("2 senders (")
    share = shares(pg_url)  # deliveries per sender's pid, the killed one's included
    assert sum(share.values()) == len(READERS) and share[senders[0].pid] >= 3
    assert first["counts"]["sent"] == share[senders[1].pid] + share[senders[2].pid]
    print(f"shares: killed {share[senders[0].pid]}, others", [share[s.pid] for s in senders[1:]])

    retried = run(config, *SEND, "--retry-unknown")
    assert retried.returncode == 0, retried.stderr
    after = Counter(relay.recipients)
    assert set(after) == set(READERS)
    assert {a for a, n in after.items() if n > 1} <= unknown  # only the operator's choice


def test_a_send_that_loses_the_database_stops_cleanly_and_the_next_run_finishes(
    smtp_server: SmtpServer,
    config_file: Callable[..., Path],
    tmp_path: Path,
    pg_own_server: PgServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The PostgreSQL server stops (as if it crashed) under a running ``digest send``: the
    send says so in one Error: line and exits 1; sent nothing it could not record; once the
    server is back, a rerun reaches everyone else, nobody twice."""
    url = pg_own_server.create_db("lost")
    monkeypatch.setenv("DIGEST_STORE", url)
    monkeypatch.setenv("DIGEST_CACHE_DIR", str(tmp_path / "cache"))
    relay = smtp_server.script
    relay.sleep = dict.fromkeys(READERS, 0.05)
    config = with_readers(config_file, smtp_server.port, tmp_path)
    env = {**os.environ, "DIGEST_SECRET": PROCESS_SECRET}
    sender = subprocess.Popen(
        command(config, *SEND), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while len(relay.recipients) < 30 and time.monotonic() < deadline:
        time.sleep(0.005)
    pg_own_server.stop()  # immediate: connections cut, as a crash or a network loss would
    stopped_at = len(relay.recipients)
    _, err = sender.communicate(timeout=60)
    assert sender.returncode == 1, err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert len(relay.recipients) <= stopped_at + 4, "nothing started once the store was gone"
    assert 30 <= stopped_at < len(READERS), "the loss must land mid-run"

    pg_own_server.start()
    rerun = run(config, *SEND)
    assert rerun.returncode == 0, rerun.stderr
    ledger = {d.email: d.status for d in open_store(url).deliveries(EDITION)}
    unknown = {a for a, s in ledger.items() if s == DeliveryStatus.UNKNOWN}
    got = Counter(relay.recipients)
    assert max(got.values()) == 1, "nobody gets the edition twice"
    assert len(unknown) <= 4, "at most one delivery per connection was in flight"
    assert set(READERS) == set(got) | unknown, "everyone else got it exactly once"
