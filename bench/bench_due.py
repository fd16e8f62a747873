"""What a look at the schedule costs on a big store (rerun: make bench-due).

``digest serve`` looks every 15 minutes and at each delivery window, and a timer runs
``digest send --due`` every 15 minutes; most looks find nothing due. This measures, on a
store of N confirmed subscribers spread over 24 timezones:

    1. the look that makes the edition at its scheduled run (fetch and parse a saved HF day,
       save the edition; every reader is in a later window, so nothing is sent);
    2. a look with nothing due (the common case), median of 5;
    3. ``digest send --due`` as a timer runs it (a subprocess, Python start-up included), when
       nothing is due.

With ``--store postgresql`` the store is a PostgreSQL database on a throwaway cluster
(bench/pg.py: fsync on), the subscribers written by COPY (``Store.load``); the
look asks the store only for the timezones still waiting (``Store.waiting_zones``).

Usage: python bench/bench_due.py [--subscribers 100000] [--store tinydb|postgresql]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from pg import load_subscribers, machine, throwaway_cluster

from digest.config import load_config
from digest.models import Status, Subscriber
from digest.schedule.due import send_due
from digest.store import Store, TinyStore, open_store

SAMPLE = Path(__file__).resolve().parent.parent / "digest" / "samples" / "hf-daily-2025-11-25.json"
#: Zones east of UTC whose 07:00 has passed at a 07:00 UTC run: everyone is in a later window.
ZONES = [f"Etc/GMT-{h}" for h in range(1, 13)] + [f"Etc/GMT+{h}" for h in range(1, 13)]


def write_config(folder: Path, schedule: str, store: str | None = None) -> Path:
    path = folder / "schedules.yaml"
    path.write_text(
        f"""\
store: {store or folder / "store.json"}
outbox: {folder / "outbox"}
sender: {{from: "Daily Papers <papers@example.org>", postal_address: "1 Research Way"}}
digests:
  daily:
    sources: ['{SAMPLE}']
    schedule: "{schedule}"
    timezone: UTC
"""
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--store", choices=["tinydb", "postgresql"], default="tinydb")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        folder = Path(tmp)
        now = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
        url = None
        if args.store == "postgresql":
            cluster = stack.enter_context(throwaway_cluster())
            url = cluster.create_db("bench")
            print(f"server: {cluster.version} (fsync on); machine: {machine()}")
        config_path = write_config(folder, f"{now.minute} {now.hour} * * *", url)
        config = load_config(config_path, {})
        store: Store = TinyStore(config.store_path) if url is None else open_store(url)
        if url is not None:
            store.migrate()
        subs = [
            Subscriber(
                email=f"reader{i:06}@example.org",
                id=f"r{i:06}",
                status=Status.CONFIRMED,
                timezone=ZONES[i % len(ZONES)],
            )
            for i in range(args.subscribers)
        ]
        started = time.perf_counter()
        if url is None:
            store.save_subscribers(subs)
        else:  # by COPY: save_subscribers is slow at this size on PostgreSQL (see bench/pg.py)
            load_subscribers(url, subs)
        print(f"setup: {len(subs):,} subscribers stored in {time.perf_counter() - started:.1f} s")
        del subs
        size = cluster.size("bench") if url else config.store_path.stat().st_size
        digest = config.digest("daily")
        with httpx.Client() as client:
            started = time.perf_counter()
            made = send_due(config, store, digest, now, client)
            making = time.perf_counter() - started
            idle = []
            for minutes in range(1, 6):
                started = time.perf_counter()
                look = send_due(config, store, digest, now + timedelta(seconds=minutes), client)
                idle.append(time.perf_counter() - started)
                assert look.action == "nothing due", look
        assert made.action == "sent" and made.sent is not None
        env = {**os.environ, "DIGEST_CONFIG": str(config_path)}
        started = time.perf_counter()
        cli = subprocess.run(
            [sys.executable, "-m", "digest", "send", "--due"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        process = time.perf_counter() - started
    python = platform.python_version()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {python}")
    print(
        f"store ({args.store}): {args.subscribers:,} subscribers in {len(ZONES)} timezones, "
        f"{size / 1e6:.1f} MB"
    )
    print(f"make the edition (nothing due yet): {making:.2f} s — {made.sent.report.note}")
    print(f"look with nothing due: median {statistics.median(idle):.2f} s (of 5)")
    print(f"digest send --due, nothing due, whole process: {process:.2f} s")
    print(f"  {cli.stdout.strip()}")


if __name__ == "__main__":
    main()
