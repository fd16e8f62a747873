"""The same paper from several sources becomes one, keeping the richest fields."""

from __future__ import annotations

from datetime import date

from digest.merge import merge_papers
from digest.models import Paper, title_id


def test_same_arxiv_id_merges_keeping_richest_fields() -> None:
    a = Paper(
        id="2511.00001",
        title="Sparse Routing",
        abstract="Short.",
        upvotes=10,
        authors=("A",),
        sources=("hf-daily",),
    )
    b = Paper(
        id="2511.00001",
        title="Sparse Routing",
        abstract="A much longer abstract.",
        upvotes=7,
        comments=3,
        authors=("A", "B"),
        github_url="https://github.com/x/y",
        sources=("feed",),
    )
    (merged,) = merge_papers([a, b])
    assert merged.abstract == "A much longer abstract."
    assert merged.upvotes == 10 and merged.comments == 3
    assert merged.authors == ("A", "B")
    assert merged.github_url == "https://github.com/x/y"
    assert merged.sources == ("hf-daily", "feed")


def test_title_match_merges_and_prefers_the_arxiv_id() -> None:
    text = Paper(
        id=title_id("Sparse Routing: Cheaper Agents"),
        title="Sparse Routing: Cheaper Agents",
        author_count=3,
        published=date(2025, 11, 7),
        sources=("text",),
    )
    api = Paper(
        id="2511.07321", title="Sparse routing — cheaper agents", upvotes=37, sources=("hf-daily",)
    )
    (merged,) = merge_papers([text, api])
    assert merged.id == "2511.07321"
    assert merged.author_count == 3 and merged.upvotes == 37
    assert merged.published == date(2025, 11, 7)
    assert merged.sources == ("text", "hf-daily")


def test_different_papers_stay_apart_in_first_seen_order() -> None:
    papers = [Paper(id="1", title="One"), Paper(id="2", title="Two"), Paper(id="1", title="One")]
    assert [p.id for p in merge_papers(papers)] == ["1", "2"]
