"""Baseline figures for the pipeline stages on this machine (rerun: make bench).

    parse   a whole month of real HF Daily Papers JSON
    rank    trending top 10 for each reader (personal ranking at scale: bench_rank.py)
    render  one email per reader (Jinja2 + css-inline + MIME)

Sending (ledger, SMTP pool, the whole run end to end) is bench/bench_send.py.

Usage: python bench/bench_pipeline.py [--readers N] [--month FILE]
The month defaults to the sample day shipped in digest/samples when ../shared is absent.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import time
from datetime import UTC, date, datetime
from pathlib import Path

from digest.models import Edition, Links, Subscriber
from digest.parse import parse_bytes
from digest.rank import Ranker, RankSettings, Reader
from digest.render import SHIPPED_TEMPLATES, RenderSettings, make_environment, render_email

REPO = Path(__file__).resolve().parent.parent
MONTH = REPO.parent / "shared" / "data" / "hf-api" / "daily_papers_2025-11.json"
SAMPLE = REPO / "digest" / "samples" / "hf-daily-2025-11-25.json"


def timed(label: str, count: int, started: float) -> None:
    seconds = time.perf_counter() - started
    print(f"{label:<8} {count:>6} items  {seconds:8.3f} s  {count / seconds:10.1f} /s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--month", type=Path, default=MONTH if MONTH.exists() else SAMPLE)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{multiprocessing.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"input: {args.month.name}, {args.readers} readers")

    data = args.month.read_bytes()
    started = time.perf_counter()
    papers = parse_bytes(data, source="hf-daily", origin=str(args.month), today=date.today()).papers
    timed("parse", len(papers), started)

    today = max(p.daily_date for p in papers if p.daily_date)
    started = time.perf_counter()
    rankings = Ranker(papers, today=today, settings=RankSettings()).rank([Reader()] * args.readers)
    ranked = rankings[-1].papers
    timed("rank", args.readers, started)

    env = make_environment([SHIPPED_TEMPLATES])
    settings = RenderSettings(
        from_address="Daily Papers <papers@example.org>",
        postal_address="1 Research Way",
        list_id="daily.example.org",
        base_url="https://papers.example.org",
    )
    edition = Edition("daily", today, "Daily Papers")
    now = datetime.now(UTC)
    started = time.perf_counter()
    emails = []
    for n in range(args.readers):
        reader = Subscriber(email=f"reader{n}@example.org", id=f"r{n}")
        links = Links(
            f"https://papers.example.org/u/{n}",
            None,
            f"https://papers.example.org/p/{n}",
            "https://papers.example.org/a",
        )
        emails.append(render_email(edition, reader, ranked, links, settings, now, env))
    timed("render", len(emails), started)
    print(
        f"         mean message size {sum(len(e.raw) for e in emails) / len(emails) / 1024:.1f} KB"
    )


if __name__ == "__main__":
    main()
