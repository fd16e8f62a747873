"""The hf-daily parser: real Daily Papers items, hand-written edge cases, wrappers, bad input."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from digest.errors import ParseError
from digest.models import Paper, title_id
from digest.parse import KINDS, parse_bytes, sniff_kind

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = date(2025, 12, 1)


def parse_fixture(name: str) -> tuple[dict[str, Paper], tuple[str, ...]]:
    data = (FIXTURES / name).read_bytes()
    result = parse_bytes(data, kind="hf-daily", source="hf-daily", origin=name, today=TODAY)
    return {paper.id: paper for paper in result.papers}, result.problems


def parse_json(value: Any, origin: str = "api") -> list[Paper]:
    data = json.dumps(value).encode()
    return list(parse_bytes(data, source="hf-daily", origin=origin, today=TODAY).papers)


REAL_SLICE = [
    (
        "2510.25616",
        {
            "title": "Don't Blind Your VLA: Aligning Visual Representations for OOD Generalization",
            "author_count": 5,
            "authors": (
                "Nikita Kachaev",
                "Mikhail Kolosov",
                "Daniil Zelezetsky",
                "Alexey K. Kovalev",
                "Aleksandr I. Panov",
            ),
            "published": date(2025, 10, 29),
            "daily_date": date(2025, 11, 5),
            "upvotes": 107,
            "comments": 3,
            "github_url": "https://github.com/CognitiveAISystems/BlindVLA",
            "github_stars": 66,
        },
    ),
    (
        "2511.16166",
        {
            "title": "EvoVLA: Self-Evolving Vision-Language-Action Model",
            "authors": ("Zeting Liu", "Zida Yang", "Hao Tang"),  # Zeyu Zhang is hidden
            "author_count": 3,
            "published": date(2025, 11, 20),
            "daily_date": date(2025, 11, 25),
            "upvotes": 6,
            "comments": 2,
            "github_stars": 132,
        },
    ),
    (
        "2511.10258",
        {
            "title": "Workload Schedulers -- Genesis, Algorithms and Differences",
            "authors": ("Leszek Sliwko", "Vladimir Getov"),
            "ai_summary": None,
            "keywords": (),
            "github_url": None,
            "github_stars": None,
            "upvotes": 2,
        },
    ),
    (
        "2511.11721",
        {
            "title": "A Meta-Heuristic Load Balancer for Cloud Computing Systems",
            "authors": ("Vladimir Getov",),
            "author_count": 1,
            # paper.publishedAt is 2025-11-13T00:26Z; the top-level one says 2025-11-12 (EST).
            "published": date(2025, 11, 13),
            "daily_date": date(2025, 11, 17),
            "ai_summary": None,
        },
    ),
    (
        "2511.01450",
        {
            "title": "Reg-DPO: SFT-Regularized Direct Preference Optimization with GT-Pair for "
            "Improving Video Generation",
            "author_count": 10,
            "github_url": None,
            "github_stars": 0,
            "upvotes": 1,
            "comments": 1,
            "keywords": (
                "Direct Preference Optimization",
                "DPO",
                "GT-Pair",
                "Reg-DPO",
                "SFT loss",
                "FSDP framework",
                "I2V tasks",
                "T2V tasks",
            ),
        },
    ),
    (
        "2511.21208",
        {
            "title": "I-GLIDE: Input Groups for Latent Health Indicators in Degradation Estimation",
            "upvotes": 0,
            "published": date(2025, 11, 26),
            "daily_date": date(2025, 11, 27),
            "ai_summary": "A novel framework using RaPP and uncertainty quantification improves "
            "RUL prediction accuracy and interpretability in multi-sensor systems.",
        },
    ),
]


@pytest.mark.parametrize(("paper_id", "expected"), REAL_SLICE)
def test_real_items_give_their_fields(paper_id: str, expected: dict[str, Any]) -> None:
    papers, problems = parse_fixture("hf-daily-2025-11-slice.json")
    paper = papers[paper_id]
    assert {field: getattr(paper, field) for field in expected} == expected
    assert paper.url == f"https://huggingface.co/papers/{paper_id}"
    assert paper.pdf_url == f"https://arxiv.org/pdf/{paper_id}"
    assert paper.sources == ("hf-daily",)
    assert problems == ()


def test_real_items_keep_order_and_clean_text() -> None:
    papers, _ = parse_fixture("hf-daily-2025-11-slice.json")
    assert list(papers) == [paper_id for paper_id, _ in REAL_SLICE]
    for paper in papers.values():
        assert paper.abstract and "\n" not in paper.abstract and "  " not in paper.abstract
        assert "\n" not in paper.title


EDGE_CASES = [
    (
        "2511.07321",
        {
            "title": "Sparse Routing Makes Long-Context Agents Cheaper: Token-Level Expert "
            "Selection at Inference Time",
            "authors": ("Mira Okafor", "Tomasz Lindqvist", "Priya Raman"),
            "published": date(2025, 11, 7),
            "daily_date": date(2025, 11, 10),
            "upvotes": 37,
            "comments": 3,
            "github_url": "https://github.com/example-lab/sparse-routing",
            "github_stars": 58,
            "keywords": (
                "sparse routing",
                "long-context agents",
                "mixture of experts",
                "inference efficiency",
                "token-level routing",
            ),
        },
    ),
    (
        "2410.17777",
        {
            "authors": ("Lena Vogt",),
            "author_count": 1,
            "upvotes": 0,
            "comments": 0,
            "keywords": (),
            "ai_summary": None,
            "github_url": None,
            "published": date(2024, 10, 22),
        },
    ),
    (
        "2403.01234",  # "v2" dropped; every optional field is null
        {
            "title": "Optional Fields Given as Null",
            "abstract": "Top-level summary only.",
            "authors": ("Null Fields",),
            "published": None,
            "daily_date": date(2024, 3, 5),
            "upvotes": None,
            "comments": None,
            "github_url": None,
            "github_stars": None,
            "ai_summary": None,
            "keywords": (),
        },
    ),
    (
        "2404.04321",  # wrong types everywhere: unknown, never a crash
        {
            "title": "Top-Level Title Only",
            "abstract": None,
            "authors": (),
            "author_count": None,
            "published": None,
            "daily_date": None,
            "upvotes": None,
            "comments": None,
            "github_url": None,
            "github_stars": None,
            "ai_summary": None,
            "keywords": ("ok", "two words"),
        },
    ),
    (
        "2405.05555",  # a flat paper object as an item; 23:30 at -02:00 is the next day in UTC
        {
            "title": "A Flat Paper Item",
            "authors": ("Solo Author",),
            "published": date(2024, 5, 10),
            "upvotes": 12,
            "comments": 4,
        },
    ),
    (
        title_id("A Paper With an Odd Id"),
        {"title": "A Paper With an Odd Id", "url": None, "pdf_url": None, "upvotes": 3},
    ),
    (
        title_id("A Paper Without an Id"),
        {"authors": (), "author_count": 0, "url": None, "upvotes": None},
    ),
]


@pytest.mark.parametrize(("paper_id", "expected"), EDGE_CASES)
def test_edge_items_give_their_fields(paper_id: str, expected: dict[str, Any]) -> None:
    papers, _ = parse_fixture("hf-daily-edge.json")
    assert {field: getattr(papers[paper_id], field) for field in expected} == expected


@pytest.mark.parametrize(
    "fragment",
    [
        "item [2] (2402.00001): withdrawn, skipped",
        "item [4]: no title, skipped",
        "item [6]: not a JSON object, skipped",
        "item [8]: id 'not-an-arxiv-id' is not an arXiv id",
    ],
)
def test_edge_items_report_problems(fragment: str) -> None:
    papers, problems = parse_fixture("hf-daily-edge.json")
    assert any(problem.startswith(fragment) for problem in problems), problems
    assert "2402.00001" not in papers
    assert len(papers) == 7 and len(problems) == 4


@pytest.mark.parametrize(
    "wrap",
    [
        lambda items: items,
        lambda items: {"dailyPapers": items, "periodType": "day", "dateString": "2025-11-05"},
        lambda items: {"searchResults": items},
        lambda items: {"searchResults": "oops", "dailyPapers": items},
    ],
    ids=["array", "dailyPapers", "searchResults", "fallback-to-dailyPapers"],
)
def test_item_lists_are_accepted_bare_or_wrapped(wrap: Any) -> None:
    items = json.loads((FIXTURES / "hf-daily-2025-11-slice.json").read_text())
    papers = parse_json(wrap(items))
    assert [paper.id for paper in papers] == [paper_id for paper_id, _ in REAL_SLICE]
    assert papers[1].authors == ("Zeting Liu", "Zida Yang", "Hao Tang")


def test_single_flat_paper_object_is_one_paper() -> None:
    papers, problems = parse_fixture("hf-paper-flat.json")
    paper = papers["2407.21783"]
    assert problems == ()
    assert paper.title == "A Herd of Example Models"
    assert paper.abstract == "We present a herd of example models. They are examples."
    assert (paper.author_count, paper.upvotes, paper.comments) == (2, 104, None)
    assert paper.keywords == ("herd", "examples")


def test_empty_array_is_no_papers_and_no_problems() -> None:
    result = parse_bytes(b"[]", source="hf-daily", origin="empty.json", today=TODAY)
    assert result.papers == () and result.problems == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'[{"paper": ', "feed.json:1: not JSON"),
        (b"{oops}", "feed.json:1: not JSON"),
        (b'"a string"', "feed.json: expected a JSON array of Daily Papers items, got str"),
        (b"42", "feed.json: expected a JSON array of Daily Papers items, got int"),
        (b'{"error": "rate limited"}', "feed.json: expected a JSON array"),
        (b"[" * 100_000 + b"]" * 100_000, "feed.json: not JSON"),
        (b"\xff\xfe\xfa", "feed.json: not UTF-16 text"),
        (b"[\xc3\x28]", "feed.json: not UTF-8 text: bad byte at offset 1"),
    ],
)
def test_unparseable_documents_raise_parse_error_naming_origin(data: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_bytes(data, kind="hf-daily", source="hf-daily", origin="feed.json", today=TODAY)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b'[{"paper": {}}]', "hf-daily"),
        (b'\xef\xbb\xbf  {"dailyPapers": []}\n', "hf-daily"),
        (b"Subscribe\nSome Title\n", "text"),
        (b"[Submitted on 3 Jun] A Title", "text"),
        (b"", "text"),
    ],
)
def test_sniff_kind(data: bytes, kind: str) -> None:
    assert sniff_kind(data) == kind


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(ParseError) as caught:
        parse_bytes(b"[]", kind="rss", source="x", origin="feed.xml", today=TODAY)
    assert "unknown kind 'rss'" in str(caught.value)
    assert all(kind in str(caught.value) for kind in KINDS)
    assert "hf-daily" in KINDS and KINDS[-1] == "text"


def test_auto_kind_parses_json_with_a_bom() -> None:
    data = b"\xef\xbb\xbf" + (FIXTURES / "hf-daily-2025-11-slice.json").read_bytes()
    result = parse_bytes(data, source="hf-daily", origin="bom.json", today=TODAY)
    assert [paper.id for paper in result.papers] == [paper_id for paper_id, _ in REAL_SLICE]
