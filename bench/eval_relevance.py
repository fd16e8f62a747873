"""How good is personal ranking? precision@10 on real labels (rerun: make eval).

Each capture is the result list of a Hugging Face paper search for one topic. Its papers are
pooled with a whole HF Daily Papers month; a subscriber is made per topic; precision@10 is the
share of that subscriber's top 10 that come from the topic's capture. Columns: "digest" is the
email's ranking (filter mode by default: relevance plus a little trending), "bm25" the relevance
model alone, "keywords" plain keyword counting (how often the topic's words occur in title and
abstract), for comparison.

Usage:
  python bench/eval_relevance.py [--month FILE.json[.gz]]... [--capture "TOPIC=FILE.txt"]...
  (defaults: the two shipped captures and the two shipped months, from tests/fixtures)
"""

from __future__ import annotations

import argparse
import gzip
import re
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from digest.models import Paper, title_key
from digest.parse import parse_bytes
from digest.parse.merge import merge_papers
from digest.rank import Ranker, RankSettings, Reader
from digest.rank.relevance import Topic

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
MONTHS = [FIXTURES / "hf-daily-2024-06.json.gz", FIXTURES / "hf-daily-2025-11.json.gz"]
CAPTURES = [
    f"regularization={FIXTURES / 'capture-hf-search-regularization.txt'}",
    f"random features={FIXTURES / 'capture-hf-search-random-features.txt'}",
]
K = 10


def load(path: Path, today: date, source: str) -> list[Paper]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return list(parse_bytes(data, source=source, origin=str(path), today=today).papers)


def keyword_count(topic: str, paper: Paper) -> int:
    """The baseline: occurrences of the topic's words in title and abstract, no stemming."""
    text = f"{paper.title} {paper.abstract or ''}".casefold()
    return sum(len(re.findall(rf"\b{re.escape(w)}\b", text)) for w in topic.casefold().split())


def precision(chosen: Sequence[Paper], labelled: set[str]) -> float:
    return sum(title_key(p.title) in labelled for p in chosen[:K]) / K


def evaluate(
    month: Path, captures: dict[str, Path], mode: str
) -> list[tuple[str, float, float, float]]:
    month_papers = load(month, date(2030, 1, 1), "month")
    last = max((p.daily_date for p in month_papers if p.daily_date), default=date(2025, 1, 1))
    today = last + timedelta(days=1)
    labelled = {topic: load(path, today, f"search:{topic}") for topic, path in captures.items()}
    pool = merge_papers([*month_papers, *(p for ps in labelled.values() for p in ps)])
    ranker = Ranker(pool, today=today, settings=RankSettings(size=K, topic_mode=mode))
    rows = []
    for topic, papers in labelled.items():
        keys = {title_key(p.title) for p in papers}
        ours = [r.paper for r in ranker.rank_one(Reader(topics=(topic,))).papers]
        scores = ranker.index.relevance([Topic.of(topic)])[0]
        alone = [pool[i] for i in sorted(range(len(pool)), key=lambda i: (-scores[i], i))]
        counted = sorted(pool, key=lambda p: (-keyword_count(topic, p), -(p.upvotes or 0), p.id))
        rows.append(
            (topic, precision(ours, keys), precision(alone, keys), precision(counted, keys))
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month", type=Path, action="append")
    parser.add_argument("--capture", action="append", help='"topic=path/to/capture.txt"')
    parser.add_argument("--mode", choices=("filter", "boost"), default="filter")
    args = parser.parse_args()
    captures = {}
    for item in args.capture or CAPTURES:
        topic, _, path = item.partition("=")
        captures[topic.strip()] = Path(path)
    print(f"precision@{K}: share of a subscriber's top {K} found by HF search for the topic")
    print(f"{'month':<28} {'topic':<22} {'digest':>7} {'bm25':>6} {'keywords':>9}")
    for month in args.month or MONTHS:
        for topic, ours, alone, counted in evaluate(month, captures, args.mode):
            print(f"{month.name:<28} {topic:<22} {ours:>7.1f} {alone:>6.1f} {counted:>9.1f}")


if __name__ == "__main__":
    main()
