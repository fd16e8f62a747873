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

import pytest
from conftest import PROCESS_SECRET, READERS, SAMPLE, SmtpServer, with_readers
from conftest import digest_command as command
from conftest import run_digest as run

from digest.models import DeliveryStatus
from digest.store import open_store

pytestmark = pytest.mark.slow
EDITION = "daily/2025-11-26"
SEND = ("send", "--date", "2025-11-26", "--source", str(SAMPLE))


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
    while len(relay.recipients) < 30 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(senders[0].pid, signal.SIGKILL)  # mid-run, transactions in flight
    outputs = [s.communicate(timeout=120)[0] for s in senders]
    assert senders[0].returncode == -signal.SIGKILL
    assert [s.returncode for s in senders[1:]] == [0, 0], outputs
    assert len(relay.recipients) < len(READERS), "the kill must land mid-run"

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
    killed_sent = len(got) - first["counts"]["sent"]  # what the killed one sent (no run of its own)
    assert 0 < killed_sent < len(got) // 2

    retried = run(config, *SEND, "--retry-unknown")
    assert retried.returncode == 0, retried.stderr
    after = Counter(relay.recipients)
    assert set(after) == set(READERS)
    assert {a for a, n in after.items() if n > 1} <= unknown  # only the operator's choice
