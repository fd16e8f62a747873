"""``digest serve --workers N``: N web processes on one PostgreSQL store, with the scheduler in
the process that started them (a real ``digest serve`` and a real server on loopback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import current_store, free_port
from test_web_concurrency import csrf, wait_for

from digest.config import load_config
from digest.models import Status
from digest.web import create_app

SECRET = "workers-test-secret-0123456789abcdefgh"
CONFIG = """\
store: {store}
outbox: {outbox}
base_url: http://127.0.0.1:{port}
sender:
  from: "Daily Papers <papers@example.org>"
  postal_address: "1 Research Way, Cambridge"
web: {{port: {port}, workers: 2{limits}}}
log: {{format: keyvalue, level: info}}
digests:
  daily:
    sources: [hf-daily]
    schedule: "0 7 1 1 *"
    timezone: UTC
"""


LIMITS = ", per_client_per_hour: 1000, per_address_per_hour: 10"


def write_config(tmp_path: Path, store: str, port: int, limits: str = LIMITS) -> Path:
    path = tmp_path / "schedules.yaml"
    outbox = tmp_path / "outbox"
    path.write_text(CONFIG.format(store=store, outbox=outbox, port=port, limits=limits))
    return path


def workers_of(pid: int) -> set[int]:
    """The worker processes uvicorn started under ``pid`` (spawned interpreters)."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"multiprocessing-fork" in command and b"resource_tracker" not in command:
                found.add(int(child))
    return found


def notices(tmp_path: Path) -> list[str]:
    """The confirmation emails written so far (no relay: the outbox)."""
    folder = tmp_path / "outbox" / "notices"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


@contextmanager
def serving(config: Path, log: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    env = {**os.environ, "DIGEST_CONFIG": str(config), "DIGEST_SECRET": SECRET}
    env.pop("DIGEST_STORE")  # the config's store
    port = load_config(config).web.port
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "digest", "serve", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("serve to answer", lambda: healthy(url), 60, proc)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def subscribe_all(url: str, addresses: list[str]) -> None:
    """Each address through the form, by a browser of its own (its own connection)."""

    def one(address: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as browser:
            form = {"csrf_token": csrf(browser, "/subscribe"), "email": address}
            answer = browser.post("/subscribe", data={**form, "digests": "daily"})
            assert answer.status_code == 200 and "Check your inbox" in answer.text, answer.text

    with ThreadPoolExecutor(8) as pool:
        for done in [pool.submit(one, a) for a in addresses]:
            done.result(timeout=60)


def test_two_workers_share_the_store_and_survive_one_killed(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_STORE", pg_url)
    config = write_config(tmp_path, pg_url, free_port())
    log = tmp_path / "serve.log"
    with serving(config, log) as (proc, url):
        wait_for("two workers", lambda: len(workers_of(proc.pid)) == 2, 30, proc)
        first = workers_of(proc.pid)
        holder = current_store().holder("scheduler")  # the scheduler: the parent, once
        assert holder is not None and holder.pid == proc.pid, holder

        subscribe_all(url, [f"reader{n}@example.org" for n in range(12)])
        # each is answered before it is written (the same answer for any address): the
        # records, and then their emails, follow
        wait_for("the first 12 written", lambda: len(notices(tmp_path)) == 12, 30, proc)
        killed = min(first)
        os.kill(killed, signal.SIGKILL)  # a worker dies: the others serve, it is replaced
        wait_for(
            "a worker in its place",
            lambda: len(workers_of(proc.pid) - {killed}) == 2 and healthy(url),
            60,
            proc,
        )
        subscribe_all(url, [f"later{n}@example.org" for n in range(12)])

        now = workers_of(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    assert all(gone(pid) for pid in first | now), "a worker outlived digest serve"
    store = current_store()
    pending = [s for s in store.list_subscribers() if s.status == Status.PENDING]
    assert len(pending) == 24
    assert len(notices(tmp_path)) == 24 and notices(tmp_path)[0] == "later0@example.org.eml"
    assert store.holder("scheduler") is None  # let go on the way out
    text = log.read_text()
    assert "Traceback" not in text, text


def test_workers_on_a_tinydb_store_is_one_error_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, str(tmp_path / "store.json"), free_port())
    env = {**os.environ, "DIGEST_CONFIG": str(config), "DIGEST_SECRET": SECRET}
    env.pop("DIGEST_STORE")
    done = subprocess.run(
        [sys.executable, "-m", "digest", "serve", "--no-scheduler"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        f"Error: 2 web workers need the PostgreSQL store: {tmp_path / 'store.json'} is a "
        "TinyDB file, which takes one process's writes at a time (run one worker, or move the "
        "store to PostgreSQL: docs/operations.md, section 14)"
    ], done.stderr
    with serving(config, tmp_path / "one.log", "--no-scheduler", "--workers", "1") as (_, url):
        assert healthy(url)  # one worker on TinyDB is the default, and serves


@pytest.mark.parametrize(("workers", "per_client", "per_address"), [(1, 10, 3), (3, 4, 1)])
def test_each_worker_keeps_its_share_of_the_rate_limits(
    tmp_path: Path, workers: int, per_client: int, per_address: int
) -> None:
    """The defaults (10 subscribe requests a client, 3 emails an address, an hour), split."""
    config = write_config(tmp_path, str(tmp_path / "store.json"), 8000, limits="")
    app = create_app(load_config(config, env={"DIGEST_SECRET": SECRET}), workers=workers)
    site = app.state.site
    assert (site.per_client.limit, site.per_address.limit) == (per_client, per_address)
