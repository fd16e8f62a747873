"""Milliseconds per email: EditionRenderer (the fast path) against render_email (rerun freely).

Every reader gets a personal choice of 10 papers out of the edition, in a personal order, so
the fast path's caches see what a real run shows them. Timings are CPU time of this process.

Usage: python bench/bench_render.py [--readers N] [--slow-readers N] [--source FILE]
                                    [--dkim-key PEM]
The source defaults to the sample day shipped in digest/samples; pass the month
(../shared/data/hf-api/daily_papers_2025-11.json) for an edition of ~400 candidates.
"""

from __future__ import annotations

import argparse
import platform
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from digest.config import DkimConfig
from digest.models import Edition, Email, Links, Paper, RankedPaper, Subscriber
from digest.parse import parse_bytes
from digest.rank.explain import trend_reason
from digest.render import SHIPPED_TEMPLATES, RenderSettings, make_environment, render_email
from digest.render.dkim import DkimSigner
from digest.render.edition import EditionRenderer

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "digest" / "samples" / "hf-daily-2025-11-25.json"
SETTINGS = RenderSettings(
    from_address="Daily Papers <papers@example.org>",
    postal_address="1 Research Way, Cambridge",
    list_id="daily.example.org",
    base_url="https://papers.example.org",
)
Reader = tuple[Subscriber, tuple[RankedPaper, ...], Links]


PERSONAL = 'matches "agents" · 12 upvotes · 1 day old'


def make_readers(papers: Sequence[Paper], today: date, count: int) -> list[Reader]:
    """``count`` readers, each with 10 papers of their own, some with a personal reason."""
    rng = random.Random(20251125)
    readers = []
    for n in range(count):
        chosen = rng.sample(list(papers), min(10, len(papers)))
        ranked = tuple(
            RankedPaper(p, 1.0 / i, trend_reason(p, today) if rng.random() < 0.8 else PERSONAL)
            for i, p in enumerate(chosen, start=1)
        )
        links = Links(
            f"https://papers.example.org/unsubscribe/tok{n:06d}",
            f"mailto:unsubscribe@example.org?subject=unsubscribe%20tok{n:06d}",
            f"https://papers.example.org/preferences/tok{n:06d}",
            f"https://papers.example.org/archive/daily/{today.isoformat()}",
        )
        readers.append((Subscriber(f"reader{n}@example.org", f"r{n}"), ranked, links))
    return readers


def per_email(render: Callable[[Reader], Email], readers: Sequence[Reader]) -> float:
    """CPU milliseconds per email."""
    started = time.process_time()
    for reader in readers:
        render(reader)
    return (time.process_time() - started) * 1000 / len(readers)


def describe(mail: Email) -> str:
    lines = mail.raw.count(b"\n")
    return (
        f"message {len(mail.raw) / 1024:.1f} KB in {lines} lines, "
        f"HTML {mail.html_size / 1024:.1f} KB, text {mail.text_size / 1024:.1f} KB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=20_000)
    parser.add_argument("--slow-readers", type=int, default=200)
    parser.add_argument("--source", type=Path, default=SAMPLE)
    parser.add_argument("--dkim-key", type=Path, help="a PEM RSA key: also time signed emails")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    data = args.source.read_bytes()
    papers = parse_bytes(data, source="hf-daily", origin=str(args.source), today=date.today())
    today = max(p.daily_date for p in papers.papers if p.daily_date)
    edition = Edition("daily", today, "Daily Papers")
    env, now = make_environment([SHIPPED_TEMPLATES]), datetime.now(UTC)
    readers = make_readers(papers.papers, today, args.readers)
    print(f"edition: {args.source.name}, {len(papers.papers)} candidate papers")

    slow = per_email(
        lambda r: render_email(edition, *r, SETTINGS, now, env), readers[: args.slow_readers]
    )
    print(f"render_email      {slow:8.3f} ms/email  ({args.slow_readers} readers)")
    renderer = EditionRenderer(edition, SETTINGS, env, now)
    fast = per_email(lambda r: renderer.render(*r), readers)
    print(f"EditionRenderer   {fast:8.3f} ms/email  ({args.readers} readers, warm-up included)")
    warm = per_email(lambda r: renderer.render(*r), readers)
    print(f"  again, warm     {warm:8.3f} ms/email  ({slow / warm:.0f}x)  fast={renderer.fast}")
    print(f"  {describe(renderer.render(*readers[0]))}")
    if args.dkim_key:
        signer = DkimSigner.from_config(DkimConfig("bench", args.dkim_key, "example.org"))
        signed = EditionRenderer(edition, SETTINGS, env, now, signer=signer)
        cost = per_email(lambda r: signed.render(*r), readers[: args.slow_readers])
        print(f"  signed (DKIM)   {cost:8.3f} ms/email  ({args.slow_readers} readers)")


if __name__ == "__main__":
    main()
