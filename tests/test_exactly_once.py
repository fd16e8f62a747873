"""Exactly once per (edition, subscriber), tested the hard way: a real ``digest send``
killed with SIGKILL in the middle of a run against a real SMTP server, then run again."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import PROCESS_SECRET, READERS, SAMPLE, SmtpServer, current_store, with_readers
from conftest import digest_command as command
from conftest import run_digest as run

from digest.models import DeliveryStatus, Status

#: Runs once per store backend (TinyDB, PostgreSQL): see conftest.each_store.
pytestmark = pytest.mark.usefixtures("each_store")
EDITION = "daily/2025-11-26"
SEND = ("send", "--date", "2025-11-26", "--source", str(SAMPLE))


def test_a_killed_send_resumes_without_sending_anyone_twice(
    smtp_server: SmtpServer, config_file: Callable[..., Path], tmp_path: Path
) -> None:
    relay = smtp_server.script
    relay.sleep = dict.fromkeys(READERS, 0.05)  # like a real relay, answers DATA after 50 ms
    config = with_readers(config_file, smtp_server.port, tmp_path)
    env = {**os.environ, "DIGEST_SECRET": PROCESS_SECRET}
    sender = subprocess.Popen(command(config, *SEND), env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(relay.recipients) < 30 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(sender.pid, signal.SIGKILL)  # mid-run, transactions in flight
    sender.wait(timeout=10)
    killed_at = len(relay.recipients)
    assert 30 <= killed_at < len(READERS), "the kill must land mid-run"

    rerun = run(config, *SEND)
    assert rerun.returncode == 0, rerun.stderr
    store = current_store()
    ledger = {d.email: d.status for d in store.deliveries(EDITION)}
    unknown = {a for a, s in ledger.items() if s == DeliveryStatus.UNKNOWN}
    got = Counter(relay.recipients)
    assert max(got.values()) == 1, "nobody gets the edition twice"
    assert len(unknown) <= 4, "at most one delivery per connection can be caught in flight"
    assert set(READERS) == set(got) | unknown, "everyone else got it exactly once"
    assert {a for a, s in ledger.items() if s == DeliveryStatus.SENT} <= set(got)
    if unknown:
        assert f"{len(unknown)} unknown" in rerun.stdout

    again = run(config, *SEND)
    assert "sent 0 via SMTP" in again.stdout and len(relay.recipients) == sum(got.values())
    assert "every subscriber already got this edition" in again.stdout

    retried = run(config, *SEND, "--retry-unknown")
    assert retried.returncode == 0, retried.stderr
    after = Counter(relay.recipients)
    assert set(after) == set(READERS)
    assert {a for a, n in after.items() if n > 1} <= unknown  # only the operator's choice


def test_hard_bounces_suppress_the_address_for_later_editions(
    smtp_server: SmtpServer, config_file: Callable[..., Path], tmp_path: Path
) -> None:

    relay = smtp_server.script
    config = config_file(smtp_host="127.0.0.1", smtp_port=smtp_server.port)
    for address in ("gone@example.org", "policy@example.org", "ok@example.org"):
        assert run(config, "subscribers", "add", address).returncode == 0
    relay.rcpt["gone@example.org"] = "550 5.1.1 no such user"
    relay.rcpt["policy@example.org"] = "550 5.7.1 rejected by policy"
    for day in ("2025-11-26", "2025-11-27"):
        sent = run(config, "send", "--date", day, "--source", str(SAMPLE))
        assert sent.returncode == 1  # a failed delivery makes the run fail
        assert "failed" in sent.stdout
    assert "suppressed gone@example.org: too many hard bounces" in sent.stderr
    store = current_store()
    assert store.get_subscriber("gone@example.org").status == Status.BOUNCED  # type: ignore[union-attr]
    assert store.get_subscriber("policy@example.org").status == Status.CONFIRMED  # type: ignore[union-attr]
    relay.messages.clear()
    run(config, "send", "--date", "2025-11-28", "--source", str(SAMPLE))
    assert relay.recipients == ["ok@example.org"]  # the bounced address gets nothing


def test_sigterm_finishes_what_is_in_flight_and_leaves_the_rest_for_the_next_run(
    smtp_server: SmtpServer, config_file: Callable[..., Path], tmp_path: Path
) -> None:
    """``systemctl stop`` or a timer's timeout: unlike a kill, nothing is left ``unknown``."""
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
    sender.send_signal(signal.SIGTERM)
    out, err = sender.communicate(timeout=30)
    stopped_at = len(relay.recipients)
    assert sender.returncode == 1, err
    assert 30 <= stopped_at < len(READERS), "the stop must land mid-run"
    assert "stopped by shutdown" in out and "Traceback" not in err

    ledger = {d.email: d.status for d in current_store().deliveries(EDITION)}
    assert set(ledger.values()) == {DeliveryStatus.SENT}, "in flight finished: none unknown"
    assert set(ledger) == set(relay.recipients)

    rerun = run(config, *SEND)
    assert rerun.returncode == 0, rerun.stderr
    got = Counter(relay.recipients)
    assert set(got) == set(READERS) and max(got.values()) == 1
