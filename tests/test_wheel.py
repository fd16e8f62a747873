"""The wheel installs anywhere: built offline from the checkout, it carries every package,
template and sample, and installed in a fresh venv that cannot see the checkout it runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import SAMPLE

ROOT = Path(__file__).parent.parent
SOURCES = ("pyproject.toml", "README.md", "digest", "templates")  # what the build reads

CONFIG = """\
store: store.json
outbox: outbox
base_url: https://papers.example.org
sender:
  from: "Daily Papers <papers@example.org>"
  postal_address: "1 Research Way, Cambridge"
  unsubscribe_mailto: unsubscribe@example.org
digests:
  daily:
    title: Daily Papers
    sources: [hf-daily]
    schedule: "0 7 * * mon-fri"
    timezone: Europe/London
    size: 5
"""


def run(args: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``args`` in ``cwd`` without the caller's PYTHONPATH or venv; fails with its output."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline with this venv's setuptools from a clean copy of the checkout
    (no stale build/ folder, nothing written into the checkout)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    pip_wheel = ["-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    run([sys.executable, *pip_wheel, "-w", dist, src], cwd=src)
    (built,) = dist.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; it imports the dependencies from this venv."""
    home = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", home], cwd=home)
    python = home / "bin" / "python"
    install = ["-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel]
    run([sys.executable, *install], cwd=home)
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], home)
    # A path line in a .pth adds that folder but runs none of the .pth files in it, so the
    # checkout's editable install (a .pth there) stays invisible: only the wheel is digest.
    # Written after the install, so that pip never sees this venv's papers-digest.
    Path(purelib.stdout.strip(), "dependencies.pth").write_text(sysconfig.get_path("purelib"))
    return home


def test_the_wheel_carries_every_package_template_and_sample(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for init in ROOT.glob("digest/**/__init__.py"):
        assert str(init.relative_to(ROOT)) in names, f"{init.parent} is missing from the wheel"
    shipped = [*(ROOT / "templates").rglob("*.*"), *(ROOT / "digest" / "samples").glob("*.*")]
    for path in shipped:
        part = path.relative_to(ROOT)
        inside = f"digest/{part}" if part.parts[0] == "templates" else str(part)
        assert inside in names, f"{part} is missing from the wheel"
    assert {"digest/web/app.py", "digest/templates/web/site.css"} <= names


def test_the_installed_wheel_runs_without_the_checkout(venv: Path, tmp_path: Path) -> None:
    python, digest = venv / "bin" / "python", venv / "bin" / "digest"
    where = run([python, "-c", "import digest; print(digest.__file__)"], tmp_path).stdout
    assert Path(where.strip()).is_relative_to(venv), where
    assert "Usage: digest" in run([digest, "--help"], tmp_path).stdout
    assert "--no-scheduler" in run([digest, "serve", "--help"], tmp_path).stdout

    (tmp_path / "schedules.yaml").write_text(CONFIG)
    shutil.copy(SAMPLE, tmp_path / "day.json")
    (tmp_path / "subs.csv").write_text("email,topics\nada@example.org,diffusion\n")
    run([digest, "subscribers", "import", "subs.csv"], tmp_path)
    sent = run(
        [digest, "send", "--dry-run", "--date", "2025-11-26", "--source", "day.json"], tmp_path
    )
    assert "would send 1" in sent.stdout, sent.stdout
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 1
