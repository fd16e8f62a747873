"""Personal ranking at scale: 100,000 readers with 3-5 topics each against 500 papers, top 10
each (rerun: make bench-rank).

Papers: the first 500 of the two shipped HF months (real titles, abstracts, keywords).
Readers (seeded): 3-5 topics each drawn from the papers' own AI keywords (readers pick topics
that exist, and share popular ones), a third in filter mode, one in ten following two authors,
each already shown 20 papers of the edition. "total" covers indexing the edition, scoring
every reader and choosing each one's ten papers; "reasons" then builds every chosen paper's
reason line, which a send does reader by reader as it renders each email.

Usage: python bench/bench_rank.py [--readers N] [--papers N] [--seed S]
"""

from __future__ import annotations

import argparse
import gzip
import platform
import random
import resource
import time
from collections import Counter
from datetime import date
from pathlib import Path

from digest.models import Paper
from digest.parse import parse_bytes
from digest.parse.merge import merge_papers
from digest.rank import Ranker, RankSettings, Reader

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
MONTHS = [FIXTURES / "hf-daily-2025-11.json.gz", FIXTURES / "hf-daily-2024-06.json.gz"]
TODAY = date(2025, 12, 1)


def load_papers(count: int) -> list[Paper]:
    found: list[Paper] = []
    for path in MONTHS:
        data = gzip.decompress(path.read_bytes())
        found.extend(parse_bytes(data, source="hf-daily", today=TODAY).papers)
    return list(merge_papers(found))[:count]


def make_readers(papers: list[Paper], count: int, seed: int) -> list[Reader]:
    rng = random.Random(seed)
    phrases = [k for k, _ in Counter(k.lower() for p in papers for k in p.keywords).most_common()]
    authors = [a for p in papers for a in p.authors]
    ids = [p.id for p in papers]
    readers = []
    for n in range(count):
        topics = tuple(rng.sample(phrases[:3000], rng.randint(3, 5)))
        followed = tuple(rng.sample(authors, 2)) if n % 10 == 0 else ()
        mode = "filter" if n % 3 == 0 else "boost"
        readers.append(Reader(topics, followed, mode, None, frozenset(rng.sample(ids, 20))))
    return readers


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--papers", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    papers = load_papers(args.papers)
    readers = make_readers(papers, args.readers, args.seed)
    before = peak_mib()
    started = time.perf_counter()
    ranker = Ranker(papers, today=TODAY, settings=RankSettings(size=10))
    indexed = time.perf_counter()
    rankings = ranker.rank(readers)
    done = time.perf_counter()
    ranked_peak = peak_mib()
    chosen = sum(len(r) for r in rankings)
    empty = sum(not len(r) for r in rankings)
    reasons = sum(len(r.papers) for r in rankings)  # what composing each email reads
    explained = time.perf_counter()
    print(
        f"machine   {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}"
    )
    print(
        f"input     {len(papers)} papers, {len(readers)} readers, "
        f"{sum(len(r.topics) for r in readers)} topics"
    )
    print(f"index     {indexed - started:8.3f} s")
    rate = len(readers) / (done - indexed)
    print(f"rank      {done - indexed:8.3f} s  ({rate:,.0f} readers/s)")
    print(f"total     {done - started:8.3f} s  (index + rank: every reader's top 10)")
    print(
        f"reasons   {explained - done:8.3f} s  ({reasons} reason lines, built as emails are made)"
    )
    print(f"chosen    {chosen} papers, {empty} readers with an empty edition")
    print(
        f"memory    peak RSS {ranked_peak:.0f} MiB after ranking (before: {before:.0f} MiB),"
        f" {peak_mib():.0f} MiB once every reason line is built and kept"
    )


if __name__ == "__main__":
    main()
