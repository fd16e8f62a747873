"""What running digest leaves in a checkout: git ignores it and ``make clean`` removes it
(issue 15, bug 10: ``digest serve`` left ``digest-store.json.scheduler.pid`` untracked, and
``make clean`` left the ``.scheduler.*`` and ``.send-*.lock`` files)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEFT_BY_RUNS = [
    "digest-store.json",
    "digest-store.json.lock",
    "digest-store.json.scheduler.lock",
    "digest-store.json.scheduler.pid",
    "digest-store.json.send-daily.lock",
    "digest-store.json.send-daily.pid",
    "digest-store.ledger/daily/2025-11-26.json",
    "digest-store.http-cache/abc.json",
    "outbox/daily-2025-11-26/ada@example.org.eml",
]


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="no git")
def test_git_ignores_what_runs_leave() -> None:
    found = subprocess.run(
        ["git", "check-ignore", "--no-index", *LEFT_BY_RUNS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert sorted(found.stdout.split()) == sorted(LEFT_BY_RUNS)


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_clean_removes_what_runs_leave(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for name in LEFT_BY_RUNS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    subprocess.run(["make", "-s", "clean"], cwd=tmp_path, check=True, capture_output=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Makefile"]
