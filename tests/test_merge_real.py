"""Merging on real data: two whole months of /api/daily_papers and two HF search captures.

The two search captures share no paper with the two months (their papers are older, or never
made the Daily Papers list), so the "same paper in a capture and a month" case is made from the
real months themselves: a capture, shaped like the real ones, of every 25th paper of each month.
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from digest.models import Paper, arxiv_id, title_key
from digest.parse import parse_bytes
from digest.parse.merge import merge_papers

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = date(2025, 12, 1)
MONTHS = ("hf-daily-2024-06", "hf-daily-2025-11")
CAPTURES = ("capture-hf-search-regularization", "capture-hf-search-random-features")
MADE_CAPTURE = "capture-made-from-months"
BANNER = (
    "Get trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
    "byAK and the research community\n\nNov 30\n\n"
)


def parse_fixture(name: str) -> tuple[Paper, ...]:
    """A fixture parsed as its kind would be in a run; the file's stem is the source name."""
    path = next(FIXTURES.glob(f"{name}.*"))
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return parse_bytes(data, source=name, origin=path.name, today=TODAY).papers


def capture_of(papers: Iterable[Paper]) -> bytes:
    """A search-page text capture (as a browser saves it) listing these papers."""
    blocks = (
        f"{p.title}\n\n{p.abstract}\n\n  • {len(p.authors)} authors\n·\n"
        f"{p.published:%b} {p.published.day}, {p.published.year}\n"
        for p in papers
        if p.published is not None
    )
    return (BANNER + "\n".join(blocks)).encode()


@pytest.fixture(scope="module")
def inputs() -> dict[str, tuple[Paper, ...]]:
    """Every real source parsed, plus a capture of some month papers, by source name."""
    parsed = {name: parse_fixture(name) for name in (*MONTHS, *CAPTURES)}
    sample = [p for name in MONTHS for p in parsed[name][::25]]
    made = parse_bytes(capture_of(sample), source=MADE_CAPTURE, today=TODAY)
    assert [p.title for p in made.papers] == [p.title for p in sample] and not made.problems
    parsed[MADE_CAPTURE] = made.papers
    return parsed


@pytest.fixture(scope="module")
def merged(inputs: dict[str, tuple[Paper, ...]]) -> tuple[Paper, ...]:
    """All sources merged in the order they are listed."""
    return merge_papers(p for papers in inputs.values() for p in papers)


def test_the_real_sources_parse_into_the_expected_papers(
    inputs: dict[str, tuple[Paper, ...]],
) -> None:
    counts = {name: len(papers) for name, papers in inputs.items()}
    assert counts == {
        "hf-daily-2024-06": 345,
        "hf-daily-2025-11": 412,
        "capture-hf-search-regularization": 59,
        "capture-hf-search-random-features": 37,
        MADE_CAPTURE: 31,
    }
    assert all(arxiv_id(p.id) for name in MONTHS for p in inputs[name])
    assert not any(arxiv_id(p.id) for name in (*CAPTURES, MADE_CAPTURE) for p in inputs[name])


def test_no_two_merged_papers_share_an_arxiv_id_a_title_or_a_url(merged: tuple[Paper, ...]) -> None:
    assert_unique([p.id for p in merged], "id")
    assert_unique([title_key(p.title) for p in merged], "title")
    assert_unique([p.url for p in merged if p.url], "url")
    assert_unique([p.pdf_url for p in merged if p.pdf_url], "pdf_url")


def assert_unique(values: list[str], what: str) -> None:
    repeated = sorted(value for value, times in Counter(values).items() if times > 1)
    assert not repeated, f"{what} shared by merged papers: {repeated[:5]}"


def test_the_counts_add_up(inputs: dict[str, tuple[Paper, ...]], merged: tuple[Paper, ...]) -> None:
    records = [p for papers in inputs.values() for p in papers]
    duplicates = len(records) - len(distinct_papers(records))
    assert duplicates == 31  # exactly the made capture: the real captures add no duplicate
    assert len(merged) == len(records) - duplicates == 853


def distinct_papers(records: list[Paper]) -> set[str]:
    """Count papers without the merge code: an arXiv id, else the id a same-title record has."""
    id_of_title = {title_key(p.title): p.id for p in records if arxiv_id(p.id)}
    return {arxiv_id(p.id) or id_of_title.get(title_key(p.title), p.id) for p in records}


def test_a_paper_in_a_capture_and_a_month_keeps_the_months_values(
    inputs: dict[str, tuple[Paper, ...]], merged: tuple[Paper, ...]
) -> None:
    by_title = {title_key(p.title): p for p in merged}
    month_papers = {title_key(p.title): (name, p) for name in MONTHS for p in inputs[name]}
    for captured in inputs[MADE_CAPTURE]:
        source, month = month_papers[title_key(captured.title)]
        paper = by_title[title_key(captured.title)]
        assert paper.id == month.id and arxiv_id(paper.id) == month.id
        assert paper.upvotes == month.upvotes and paper.upvotes is not None
        assert paper.daily_date == month.daily_date and paper.daily_date is not None
        assert paper.sources == (source, MADE_CAPTURE)
        assert paper.url == f"https://huggingface.co/papers/{month.id}"
        assert paper.authors == month.authors and paper.author_count == len(month.authors)
        assert paper.abstract == month.abstract and paper.keywords == month.keywords


@pytest.mark.parametrize(
    ("title", "source", "author_count", "published"),
    [
        (
            "3D-Properties: Identifying Challenges in DPO and Charting a Path Forward",
            "capture-hf-search-regularization",
            7,
            date(2024, 6, 11),
        ),
        (
            "Your Diffusion Model is Secretly a Zero-Shot Classifier",
            "capture-hf-search-regularization",
            5,
            date(2023, 3, 28),
        ),
    ],
)
def test_a_paper_only_in_a_capture_comes_through_unchanged(
    merged: tuple[Paper, ...], title: str, source: str, author_count: int, published: date
) -> None:
    (paper,) = [p for p in merged if p.title == title]
    assert paper.id.startswith("title-") and paper.sources == (source,)
    assert paper.author_count == author_count and paper.published == published
    assert paper.upvotes is None and paper.daily_date is None and paper.abstract


def test_merging_in_reverse_source_order_gives_the_same_papers(
    inputs: dict[str, tuple[Paper, ...]], merged: tuple[Paper, ...]
) -> None:
    backwards = merge_papers(p for papers in reversed(inputs.values()) for p in papers)
    assert {p.id for p in backwards} == {p.id for p in merged}
    assert by_id(backwards) == by_id(merged)


def by_id(papers: tuple[Paper, ...]) -> dict[str, dict[str, Any]]:
    """Each paper's fields by id, its sources as a set (their order follows the input's)."""
    return {p.id: {**p.to_json(), "sources": set(p.sources)} for p in papers}
