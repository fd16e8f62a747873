"""A real ``digest serve`` sends on schedule: its own process, a digest due within the minute,
another whose run was missed ten minutes before it started, aiosmtpd as the relay.

It also checks that a second ``digest serve`` on the same store refuses to schedule, that a
reader in another timezone waits for their own hour, and that SIGTERM stops it cleanly.
This test waits for a real minute boundary: up to about 75 seconds.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import FIXTURES, SmtpServer, free_port
from test_web_concurrency import wait_for

SOURCE = FIXTURES / "hf-daily-2025-11-slice.json"


def minute_cron(moment: datetime) -> str:
    return f"{moment.minute} {moment.hour} * * *"


def write_config(tmp_path: Path, smtp: SmtpServer, port: int) -> Path:
    """Two UTC digests: ``missed`` ran 10 minutes ago, ``soon`` runs at the next minute that is
    at least 15 seconds away (time for serve to start)."""
    now = datetime.now(UTC)
    soon = (now + timedelta(seconds=75)).replace(second=0, microsecond=0)
    ago = now - timedelta(minutes=10)
    path = tmp_path / "schedules.yaml"
    path.write_text(
        f"""\
store: {tmp_path / "store.json"}
outbox: {tmp_path / "outbox"}
base_url: https://papers.example.org
sender:
  from: "Daily Papers <papers@example.org>"
  postal_address: "1 Research Way, Cambridge"
smtp: {{host: {smtp.host}, port: {smtp.port}, security: none, timeout: 5}}
web: {{port: {port}}}
log: {{format: keyvalue, level: info}}
digests:
  soon:
    sources: ['{SOURCE}']
    schedule: "{minute_cron(soon)}"
    timezone: UTC
    size: 3
  missed:
    sources: ['{SOURCE}']
    schedule: "{minute_cron(ago)}"
    timezone: UTC
    size: 3
"""
    )
    return path


def digest(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "digest", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[dict[str, str]]:
    port = free_port()
    config = write_config(tmp_path, smtp_server, port)
    environment = {
        **os.environ,
        "DIGEST_CONFIG": str(config),
        "DIGEST_SECRET": "serve-test-secret-0123456789abcdefgh",
        "DIGEST_TEST_PORT": str(port),
    }
    for reader in ("ada@example.org", "grace@example.org"):
        assert digest(environment, "subscribers", "add", reader).returncode == 0
    added = digest(
        environment, "subscribers", "add", "kenji@example.org", "--timezone", "Asia/Tokyo"
    )
    assert added.returncode == 0
    yield environment


def test_serve_sends_on_schedule_and_catches_up_what_it_missed(
    env: dict[str, str], smtp_server: SmtpServer, tmp_path: Path
) -> None:
    relay = smtp_server.script
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "digest", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{env['DIGEST_TEST_PORT']}"
        wait_for("digest serve to answer", lambda: _healthy(url), 30, serve)

        # the run missed 10 minutes before serve started is made once, at start
        wait_for("the missed edition", lambda: len(relay.messages) >= 2, 30, serve)
        assert sorted(relay.recipients) == ["ada@example.org", "grace@example.org"]

        # a second scheduler on the same store says who holds it and exits
        second = digest({**env, "DIGEST_TEST_PORT": ""}, "serve", "--port", str(free_port()))
        assert second.returncode == 1
        assert f"another digest serve (pid {serve.pid})" in second.stderr
        assert second.stderr.count("\n") == 1 and second.stderr.startswith("Error:")

        # the scheduled run, at its minute
        wait_for("the scheduled edition", lambda: len(relay.messages) >= 4, 90, serve)
        lists = [re.search(rb"List-Id: .*<(\w+)\.", m[2]) for m in relay.messages]
        assert sorted(m.group(1) for m in lists if m) == [b"missed", b"missed", b"soon", b"soon"]
        # Kenji's 07:00... is his own: the run's time of day, in Tokyo, is still to come
        assert "kenji@example.org" not in relay.recipients

        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=20)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(timeout=10)
    assert serve.returncode in (0, -signal.SIGTERM)
    log_text = log_path.read_text()
    assert "Traceback" not in log_text and "level=error" not in log_text, log_text
    finished = [line for line in log_text.splitlines() if "event=run.finished" in line]
    assert any("digest=missed" in line and "sent=2" in line for line in finished), log_text
    assert any("digest=soon" in line and "sent=2" in line for line in finished), log_text
    assert "event=scheduler.stopped" in log_text
    assert len(relay.recipients) == 4  # and nothing more after the stop

    today = datetime.now(UTC).date().isoformat()
    why = digest(env, "history", "--edition", f"soon/{today}")
    assert why.returncode == 0, why.stderr
    assert "kenji@example.org" in why.stdout and "Asia/Tokyo" in why.stdout


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_serve_refuses_to_schedule_real_sends_without_a_secret(
    env: dict[str, str], tmp_path: Path
) -> None:
    started = time.monotonic()
    refused = digest({**env, "DIGEST_SECRET": ""}, "serve")
    assert refused.returncode == 1
    assert refused.stderr.startswith("Error: DIGEST_SECRET is not set")
    assert time.monotonic() - started < 30
    web_only = subprocess.Popen(  # --no-scheduler needs no secret for sends (base_url local)
        [sys.executable, "-m", "digest", "serve", "--no-scheduler"],
        env={**env, "DIGEST_SECRET": "", "DIGEST_BASE_URL": "http://localhost:8000"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{env['DIGEST_TEST_PORT']}"
        wait_for("web-only serve", lambda: _healthy(url), 30, web_only)
    finally:
        web_only.terminate()
        web_only.wait(timeout=10)


def test_serve_on_a_port_in_use_is_one_error_line(env: dict[str, str]) -> None:
    """Issue 15, bug 8: uvicorn's log lines and exit 3; now one Error: line and exit 1, before
    the scheduler takes the store's lock."""
    port = int(env["DIGEST_TEST_PORT"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        refused = digest(env, "serve")
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1].startswith(
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert "uvicorn" not in refused.stderr
    assert not [ln for ln in refused.stderr.splitlines() if ln.startswith("Error:")][1:]
