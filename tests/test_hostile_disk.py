"""A hostile disk: full, torn by kills, shared with other users. What the store's files and a
real ``digest send`` do when a write fails, a writer is killed or the umask is generous."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import PROCESS_SECRET, READERS, SAMPLE, SmtpServer, durably, run_digest, with_readers
from conftest import digest_command as command

from digest.errors import StoreError
from digest.models import Email
from digest.send.transport import OutboxTransport, PermanentFailure, outbox_path
from digest.store.files import AtomicJSONStorage
from digest.store.journal import Journal, read_journal

SEND = ("send", "--date", "2025-11-26", "--source", str(SAMPLE))


# the real full disk: a small tmpfs ----------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[Path, str], Path]]:
    """Mounts a tmpfs of the given size at a folder (skipped where mounting is not allowed,
    except under DIGEST_REQUIRE_TOOLS=1, as in CI, where it fails); unmounted afterwards."""
    mounted: list[Path] = []

    def mount(folder: Path, size: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            reason = f"cannot mount a tmpfs here: {done.stderr.strip()}"
            if os.environ.get("DIGEST_REQUIRE_TOOLS") == "1":
                pytest.fail(reason)
            pytest.skip(reason)
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def run(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_digest(config, *args, timeout=timeout)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def test_a_full_disk_under_the_journal_stops_the_send_with_one_error(
    smtp_server: SmtpServer,
    config_file: Callable[..., Path],
    tmp_path: Path,
    small_disk: Callable[[Path, str], Path],
) -> None:
    config = with_readers(config_file, smtp_server.port, tmp_path)
    ledger = small_disk(tmp_path / "store.ledger", "16k")  # the ledger folder fills up
    started = time.monotonic()
    sent = run(config, *SEND)
    took = time.monotonic() - started
    assert sent.returncode == 1, sent.stdout + sent.stderr
    assert len(error_lines(sent.stderr)) == 1, sent.stderr
    assert "No space left on device" in sent.stderr and "Traceback" not in sent.stderr
    assert took < 30, f"took {took:.1f}s"
    got = len(smtp_server.script.recipients)
    assert 0 < got < len(READERS), "the disk must fill mid-run"

    journal = ledger / "daily" / "2025-11-26.jsonl"
    assert journal.read_bytes().endswith(b"\n"), "no torn record after the failed write"
    records = list(read_journal(journal))  # readable: not "line N is damaged"
    assert {r["k"] for r in records if r["s"] == "sent"} <= set(smtp_server.script.recipients)
    assert not [p.name for p in ledger.rglob("*.tmp")], "a failed write leaves no temp file"

    again = run(config, *SEND)  # the send lock was released: the same error, not "locked"
    assert again.returncode == 1 and len(error_lines(again.stderr)) == 1, again.stderr
    assert "another process holds" not in again.stderr
    assert len(smtp_server.script.recipients) == got, "nothing sent that cannot be recorded"


def test_sigterm_ends_a_send_stuck_on_a_silent_relay_within_seconds(
    smtp_server: SmtpServer, config_file: Callable[..., Path], tmp_path: Path
) -> None:
    """Every connection waits for a DATA reply that takes a minute (within the relay timeout
    of 30 s): SIGTERM still ends the run in seconds, leaving those in flight ``unknown``."""
    relay = smtp_server.script
    relay.sleep = dict.fromkeys(READERS, 60.0)
    config = with_readers(config_file, smtp_server.port, tmp_path)
    config.write_text(config.read_text().replace("  timeout: 5\n", "  timeout: 30\n"))
    env = {**os.environ, "DIGEST_SECRET": PROCESS_SECRET}
    sender = subprocess.Popen(
        command(config, *SEND), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while relay.connections < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)  # every connection is in DATA, the queue is full: the producer waits
    sender.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    try:
        out, err = sender.communicate(timeout=30)
    finally:
        sender.kill()
    took = time.monotonic() - stopped
    assert took < 10, f"SIGTERM took {took:.1f}s"
    assert sender.returncode == 1 and "Traceback" not in err, err
    assert "stopped by shutdown" in out
    assert relay.recipients == []


# the journal: a failed write is cut off, a torn tail is cut off --------------------------


class FullAfter:
    """os.write that writes ``room`` bytes in all, then fails as a full disk does (the
    first failing call writes what still fits, as a real short write would)."""

    def __init__(self, room: int) -> None:
        self.room = room

    def __call__(self, fd: int, data: bytes | memoryview) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = os.write(fd, data[: self.room])
        self.room -= written
        return written


def test_a_failed_journal_write_is_cut_back_to_the_last_whole_record(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    disk = FullAfter(room=30)
    journal = Journal(path, write=disk)
    journal.open()

    async def go() -> None:
        await journal.append({"k": "a", "s": "sending"})  # 24 bytes: fits
        with pytest.raises(StoreError, match="No space left on device"):
            await journal.append({"k": "b", "s": "sending", "p": ["p1", "p2"]})
        disk.room = 1000  # space freed
        await journal.append({"k": "c", "s": "sending"})

    asyncio.run(go())
    journal.close()
    assert [r["k"] for r in read_journal(path)] == ["a", "c"]


def test_a_torn_last_line_is_read_past_and_cut_off_before_the_next_append(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"k":"a","s":"sent"}\n{"k":"b","s":"sen')  # a kill mid-write
    assert [r["k"] for r in read_journal(path)] == ["a"]
    journal = Journal(path)
    journal.open()
    durably(lambda: journal.append({"k": "c", "s": "sent"}))
    journal.close()
    assert [r["k"] for r in read_journal(path)] == ["a", "c"]  # not "line 2 is damaged"


# temp files of the store's file ---------------------------------------------------------


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temp_files_of_dead_writers_are_removed_at_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    dead = dead_pid()
    orphans = [tmp_path / f".s.json.{dead}.1a2b3c4d.tmp", tmp_path / f".s.json.{dead}.tmp"]
    live = tmp_path / ".s.json.1.1a2b3c4d.tmp"  # pid 1 is always running
    other = tmp_path / f".t.json.{dead}.1a2b3c4d.tmp"  # another file's: not ours to judge
    for file in (*orphans, live, other):
        file.write_bytes(b"x" * 1000)
    AtomicJSONStorage(str(path)).write({"t": {}})
    assert [f.exists() for f in orphans] == [False, False]
    assert live.exists() and other.exists()
    assert json.loads(path.read_text()) == {"t": {}}


def test_a_failed_store_write_removes_its_temp_file_and_keeps_the_old_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.json"
    AtomicJSONStorage(str(path)).write({"t": {"1": {"a": 1}}})
    full = AtomicJSONStorage(str(path), write=FullAfter(room=5))
    with pytest.raises(OSError, match="No space left"):
        full.write({"t": {"1": {"a": 2}}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]
    assert json.loads(path.read_text()) == {"t": {"1": {"a": 1}}}


# permissions whatever the umask ----------------------------------------------------------


@pytest.fixture
def generous_umask() -> Iterator[None]:
    """umask 022, as outside the systemd units (files 0644 unless digest says otherwise)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_journal_and_outbox_files_are_private_whatever_the_umask(
    tmp_path: Path, generous_umask: None
) -> None:
    before = mode(tmp_path)
    store = tmp_path / "s.json"
    AtomicJSONStorage(str(store)).write({"subscribers": {}})
    journal = Journal(tmp_path / "s.ledger" / "daily" / "2025-11-26.jsonl")
    journal.open()
    durably(lambda: journal.append({"k": "a", "s": "sent"}))
    journal.close()
    outbox = OutboxTransport(tmp_path / "outbox" / "daily")
    asyncio.run(outbox.open())
    asyncio.run(outbox.deliver(message("a@example.org")))
    assert mode(store) == 0o600
    assert [mode(p) for p in (tmp_path / "s.ledger", tmp_path / "s.ledger" / "daily")] == [
        0o700,
        0o700,
    ]
    assert mode(journal.path) == 0o600
    assert mode(tmp_path / "outbox") == 0o700 and mode(tmp_path / "outbox" / "daily") == 0o700
    assert mode(tmp_path / "outbox" / "daily" / "a@example.org.eml") == 0o600
    assert mode(tmp_path) == before  # the operator's own folder is left as it was


# outbox names ----------------------------------------------------------------------------


def message(to: str) -> Email:
    raw = f"From: p@example.org\r\nTo: {to}\r\nSubject: hi\r\n\r\nbody\r\n".encode()
    return Email(to, "bounce@example.org", "hi", f"<{len(to)}@example.org>", raw, 0, 4, ())


def test_outbox_names_are_unique_per_exact_address(tmp_path: Path) -> None:
    readers = ["josé@example.org", "josè@example.org", "jos_@example.org", "a+b@example.org"]
    outbox = OutboxTransport(tmp_path)

    async def go() -> None:
        await outbox.open()
        for reader in readers:
            await outbox.deliver(message(reader))

    asyncio.run(go())
    files = sorted(tmp_path.glob("*.eml"))
    assert len(files) == 4
    assert {p.read_bytes().split(b"\r\n")[1].decode() for p in files} == {
        f"To: {r}" for r in readers
    }
    assert (tmp_path / "jos_@example.org.eml").exists()  # a safe address keeps its name
    assert outbox_path(tmp_path, "josé@example.org").name.startswith("jos_@example.org~")


def test_an_outbox_name_taken_in_this_run_is_never_overwritten(tmp_path: Path) -> None:
    """On a case-insensitive file system, Ada@ and ada@ would be one file."""
    outbox = OutboxTransport(tmp_path)

    async def go() -> None:
        await outbox.deliver(message("ada@example.org"))
        with pytest.raises(PermanentFailure, match=r"already written for ada@example\.org"):
            await outbox.deliver(message("Ada@example.org"))
        await outbox.deliver(message("ada@example.org"))  # the same reader again: fine

    asyncio.run(go())
    assert not (tmp_path / "Ada@example.org.eml").exists()
