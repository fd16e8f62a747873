"""The arxiv-api parser: both link styles of the arXiv search API, its error feed, bad input."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fuzz import SETTINGS, mutated, parse_or_error
from hypothesis import given
from hypothesis import strategies as st

from digest.errors import ParseError
from digest.models import ParseResult
from digest.parse import parse_bytes, sniff_kind

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = date(2025, 11, 10)
API_PAGES = ["arxiv-api-new.xml", "arxiv-api-old.xml"]


def parse(data: bytes, kind: str = "arxiv-api") -> ParseResult:
    return parse_bytes(data, kind=kind, source="", origin="query.xml", today=TODAY)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def atom(entries: str) -> bytes:
    """An arXiv API page (new style) holding ``entries``."""
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
      xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
  <title>arXiv Query: search_query=all:x&amp;id_list=&amp;start=0&amp;max_results=10</title>
  <opensearch:totalResults>1</opensearch:totalResults>{entries}</feed>""".encode()


EXPECTED = [
    (
        "arxiv-api-new.xml",
        "2511.07321",  # <id>…/abs/2511.07321v1</id>: the version is dropped
        {
            "title": "Sparse Routing Makes Long-Context Agents Cheaper: Token-Level Expert "
            "Selection at Inference Time",
            "abstract": "Long-context agents spend most of their inference budget re-reading "
            "context that is irrelevant to the current step. We propose a token-level router "
            "that reduces cost by 41% on three agent benchmarks.",
            "authors": ("Mira Okafor", "Tomasz Lindqvist", "Priya Raman"),  # no affiliation
            "author_count": 3,
            "published": date(2025, 11, 7),
            "url": "https://arxiv.org/abs/2511.07321",
            "pdf_url": "https://arxiv.org/pdf/2511.07321",  # plain <link href=…/pdf/…v1>
            "keywords": (),
            "upvotes": None,
            "sources": ("arxiv-api",),
        },
    ),
    (
        "arxiv-api-new.xml",
        "2509.01234",
        {
            "authors": ("Lena Vogt", "Kenji Arai"),
            "published": date(2025, 8, 31),  # published (v1), not updated (v2)
            "url": "https://arxiv.org/abs/2509.01234",
            "pdf_url": "https://arxiv.org/pdf/2509.01234",  # not the DOI link
        },
    ),
    (
        "arxiv-api-old.xml",
        "2508.12345",
        {
            # hard-wrapped with an indent before November 2025
            "title": "Curriculum Distillation for Small Vision-Language Models under a Fixed "
            "Compute Budget",
            "abstract": "Small vision-language models lag behind large ones when trained on the "
            "same data. We distil a large teacher with a curriculum over task difficulty and "
            "close half of the gap at a fixed compute budget.",
            "authors": ("Sofia Marques", "Daniel K. Osei"),
            "author_count": 2,
            "published": date(2025, 8, 18),
            "url": "https://arxiv.org/abs/2508.12345",
            "pdf_url": "https://arxiv.org/pdf/2508.12345",  # <link title="pdf" rel="related">
            "sources": ("arxiv-api",),
        },
    ),
    (
        "arxiv-api-old.xml",
        "cond-mat/0102536",
        {
            "title": "Impact of Electron-Electron Cusp on Configuration Interaction Energies",
            "authors": ("Ruth Halloran", "M. Nolan", "J. C. Greer"),
            "author_count": 3,
            "published": date(2001, 2, 28),
            "url": "https://arxiv.org/abs/cond-mat/0102536",
            "pdf_url": "https://arxiv.org/pdf/cond-mat/0102536",
        },
    ),
]


@pytest.mark.parametrize(("name", "paper_id", "expected"), EXPECTED)
def test_entries_give_their_fields(name: str, paper_id: str, expected: dict[str, Any]) -> None:
    result = parse(fixture(name))
    papers = {paper.id: paper for paper in result.papers}
    assert {field: getattr(papers[paper_id], field) for field in expected} == expected
    assert result.problems == ()


@pytest.mark.parametrize("name", API_PAGES)
def test_entries_keep_their_order(name: str) -> None:
    ids = [paper.id for paper in parse(fixture(name)).papers]
    assert ids == [paper_id for fixture_name, paper_id, _ in EXPECTED if fixture_name == name]


def test_an_error_feed_is_a_parse_error_quoting_arxiv() -> None:
    with pytest.raises(ParseError) as caught:
        parse(fixture("arxiv-api-error.xml"))
    message = str(caught.value)
    assert message.startswith(
        "query.xml: the arXiv API answered with an error: incorrect id format for 1234.12345"
    )
    assert "check the source's query" in message and "\n" not in message


def test_entry_without_a_pdf_link_has_no_pdf_url() -> None:
    entry = """<entry><id>http://arxiv.org/abs/2511.00042v1</id><title>No PDF</title>
<link href="https://arxiv.org/abs/2511.00042v1"/><published>2025-11-03T10:00:00Z</published>
<summary>Withdrawn from the PDF service, say.</summary></entry>"""
    (paper,) = parse(atom(entry)).papers
    assert (paper.url, paper.pdf_url) == ("https://arxiv.org/abs/2511.00042", None)
    assert (paper.authors, paper.author_count) == ((), None)


def test_withdrawn_entries_are_dropped_and_reported() -> None:
    entry = """<entry><id>http://arxiv.org/abs/2511.00043v2</id><title>Gone</title>
<summary>This paper has been withdrawn by the author due to an error.</summary></entry>"""
    result = parse(atom(entry))
    assert result.papers == ()
    assert result.problems == ("entry [0] (2511.00043): withdrawn, skipped",)


def test_a_query_with_no_results_is_no_papers() -> None:
    assert parse(atom("")) == ParseResult(papers=(), problems=())


@pytest.mark.parametrize("name", [*API_PAGES, "arxiv-api-error.xml"])
def test_sniffing_picks_arxiv_api_for_both_styles(name: str) -> None:
    assert sniff_kind(fixture(name)) == "arxiv-api"


def test_sniffed_api_page_parses_as_arxiv_api() -> None:
    papers = parse(fixture("arxiv-api-old.xml"), kind="auto").papers
    assert [paper.sources for paper in papers] == [("arxiv-api",), ("arxiv-api",)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<feed xmlns='http://www.w3.org/2005/Atom'>", "query.xml: not an RSS or Atom feed"),
        (fixture("feed-broken.xml"), "query.xml: not an RSS or Atom feed: not well-formed XML"),
        (b"Rate exceeded.", "query.xml: not an RSS or Atom feed"),
    ],
)
def test_bad_input_is_a_one_line_parse_error(data: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(data)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_page_cut_inside_an_entry_keeps_what_was_read_and_says_so() -> None:
    data = fixture("arxiv-api-new.xml")
    result = parse(data[: data.index(b"<summary>Retrievers")])
    first, cut = result.papers
    assert first.abstract is not None and first.authors == EXPECTED[0][2]["authors"]
    assert (cut.id, cut.title, cut.abstract, cut.authors, cut.published) == (
        "2509.01234",
        "Calibrated Retrieval for Open-Domain Question Answering",
        None,  # cut off before the summary: unknown, not guessed
        (),
        None,
    )
    assert result.problems == (
        "not well-formed XML (line 33: no element found); the items were read leniently",
    )


@SETTINGS
@given(
    data=mutated([fixture(name) for name in [*API_PAGES, "arxiv-api-error.xml"]]),
    kind=st.sampled_from(["arxiv-api", "auto"]),
)
def test_mutated_pages_raise_only_parse_error(data: bytes, kind: str) -> None:
    parse_or_error(data, kind)


@SETTINGS
@given(text=st.text(max_size=1_000))
def test_random_text_raises_only_parse_error(text: str) -> None:
    parse_or_error(text.encode(), "arxiv-api")
