"""The hf-search kind: /api/papers/search JSON and the /papers?q= page, and how auto sniffs them."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from digest.config.sources import parse_source_spec
from digest.errors import ParseError
from digest.models import ParseResult
from digest.parse import KINDS, hf_search, parse_bytes, sniff_kind

FIXTURES = Path(__file__).parent / "fixtures"
API = (FIXTURES / "hf-search-api.json").read_bytes()
PAGE = (FIXTURES / "hf-page-search.html").read_bytes()
TODAY = date(2025, 12, 1)


def parse(data: bytes, kind: str, origin: str = "search") -> ParseResult:
    """Parse with an empty source name, so each paper's ``sources`` names the kind chosen."""
    return parse_bytes(data, kind=kind, source="", origin=origin, today=TODAY)


API_RESULTS = [
    (
        "2406.07394",
        {
            "title": "Dropout Is a Regularizer for Preference Optimization",
            "abstract": "We show that dropout regularizes direct preference optimization.",
            "authors": ("Hana Sato", "Omar Haddad"),
            "author_count": 2,
            "published": date(2024, 6, 11),
            "daily_date": date(2024, 6, 12),
            "upvotes": 21,
            "comments": 2,
            "github_url": "https://github.com/example/dropout-dpo",
            "github_stars": 7,
            "ai_summary": "Dropout regularizes DPO.",
            "keywords": ("dropout", "DPO"),
            "url": "https://huggingface.co/papers/2406.07394",
            "pdf_url": "https://arxiv.org/pdf/2406.07394",
            "sources": ("hf-search",),
        },
    ),
    (
        "2301.00042",  # indexed on HF, never on Daily Papers: no submittedOnDailyAt
        {
            "title": "Weight Decay Revisited",
            "authors": ("Jonas Berg",),
            "published": date(2023, 1, 2),
            "daily_date": None,
            "upvotes": 0,
            "comments": 0,
            "github_url": None,
            "ai_summary": None,
            "keywords": (),
        },
    ),
    (
        "2502.11111",  # "2502.11111v2"; a hidden author; no top-level summary
        {
            "title": "Spectral Regularization for Random Features",
            "abstract": "Random features with a spectral penalty generalize better.",
            "authors": ("Li Wei", "Sara Costa"),
            "author_count": 2,
            "daily_date": date(2025, 2, 17),
            "upvotes": 5,
            "comments": 4,
            "url": "https://huggingface.co/papers/2502.11111",
        },
    ),
]


@pytest.mark.parametrize(("paper_id", "expected"), API_RESULTS)
def test_api_results_give_their_fields(paper_id: str, expected: dict[str, Any]) -> None:
    result = parse(API, "hf-search")
    paper = {paper.id: paper for paper in result.papers}[paper_id]
    assert {field: getattr(paper, field) for field in expected} == expected
    assert [paper.id for paper in result.papers] == [paper_id for paper_id, _ in API_RESULTS]
    assert result.problems == ()


def test_search_page_is_parsed_as_its_island_search_results() -> None:
    result = parse(PAGE, "hf-search")
    assert [(paper.id, paper.daily_date, paper.sources) for paper in result.papers] == [
        ("2406.07394", date(2024, 6, 12), ("hf-search",)),
        ("2301.00042", None, ("hf-search",)),
    ]
    api_papers = {paper.id: paper for paper in parse(API, "hf-search").papers}
    assert all(paper == api_papers[paper.id] for paper in result.papers)  # same item parsing


@pytest.mark.parametrize(
    ("data", "chosen"),
    [(API, "hf-daily"), (PAGE, "hf-page")],
    ids=["api-json", "search-page"],
)
def test_auto_sniffs_search_results_as_the_kinds_that_parse_them_the_same(
    data: bytes, chosen: str
) -> None:
    assert sniff_kind(data) == chosen
    by_sniffing = parse(data, "auto")
    assert {paper.sources for paper in by_sniffing.papers} == {(chosen,)}
    as_search = parse(data, "hf-search").papers
    assert [paper.to_json() | {"sources": []} for paper in by_sniffing.papers] == [
        paper.to_json() | {"sources": []} for paper in as_search
    ]


@pytest.mark.parametrize("text", [API.decode(), PAGE.decode(), "[]", "<!doctype html>"])
def test_looks_like_never_claims_anything(text: str) -> None:
    assert hf_search.looks_like(text) is False


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"error": "Invalid query"}', "search: expected a JSON array of Daily Papers items"),
        (b"Subscribe\nA Title", "search:1: not JSON"),
        (
            (FIXTURES / "hf-page-no-list.html").read_bytes(),
            'search: no Daily Papers list in this HTML page: no data-target="DailyPapers"',
        ),
    ],
    ids=["api-error-object", "text", "html-without-list"],
)
def test_bad_input_raises_parse_error(data: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(data, "hf-search")
    assert str(caught.value).startswith(message)


def test_empty_search_is_no_papers() -> None:
    assert parse(b"[]\n", "hf-search") == ParseResult(papers=())


def test_hf_search_is_a_kind_a_source_can_name() -> None:
    assert KINDS.index("hf-daily") < KINDS.index("hf-page") < KINDS.index("hf-search")
    assert KINDS.index("hf-search") < KINDS.index("text")
    spec = parse_source_spec({"kind": "hf-search", "path": "results.json"}, at="digests.x")
    assert (spec.kind, spec.location) == ("hf-search", "results.json")
    assert parse_source_spec("hf-search:search.html").kind == "hf-search"
