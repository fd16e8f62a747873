"""The feed parser: community HF feeds (takara RSS, jamesg JSON Feed), RSSHub, lab blogs."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fuzz import SETTINGS, mutated, parse_or_error
from hypothesis import given
from hypothesis import strategies as st

from digest.errors import ParseError
from digest.models import ParseResult, title_id
from digest.parse import parse_bytes, sniff_kind

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = date(2025, 11, 10)
FEEDS = ["feed-takara.xml", "feed-jamesg.json", "feed-rsshub.xml", "feed-lab-blog.xml"]
SPARSE = "Sparse Routing Makes Long-Context Agents Cheaper: Token-Level Expert Selection at "
SPARSE_ABSTRACT = (
    "Long-context agents spend most of their inference budget re-reading context that is "
    "irrelevant to the current step. We propose a token-level router that reduces cost by 41% "
    "on three agent benchmarks."
)


def parse(data: bytes, kind: str = "feed") -> ParseResult:
    return parse_bytes(data, kind=kind, source="", origin="feed.xml", today=TODAY)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def json_feed(items: list[Any], version: str = "https://jsonfeed.org/version/1.1") -> bytes:
    return json.dumps({"version": version, "title": "Papers", "items": items}).encode()


EXPECTED = [
    (
        "feed-takara.xml",
        [
            {
                "id": "2511.07321",
                "title": SPARSE + "Inference Time",
                "abstract": SPARSE_ABSTRACT,  # the CDATA is hard-wrapped
                "authors": (),
                "author_count": None,  # takara says nothing about authors
                "published": None,  # pubDate is when takara scraped the page
                "url": "https://huggingface.co/papers/2511.07321",
                "pdf_url": "https://arxiv.org/pdf/2511.07321",
                "upvotes": None,
                "sources": ("feed",),
            },
            {
                "id": "2511.08004",
                "abstract": "Tabular transformers ignore the relations between columns. We add a "
                "graph prior over columns & rows, so that p < 0.05 holds.",
                "published": None,
            },
        ],
    ),
    (
        "feed-jamesg.json",
        [
            {
                "id": "2511.07321",
                "title": SPARSE + "Inference Time",
                "abstract": SPARSE_ABSTRACT,
                "author_count": None,
                "published": date(2025, 11, 7),  # the paper page's own date
                "url": "https://huggingface.co/papers/2511.07321",
                "pdf_url": "https://arxiv.org/pdf/2511.07321",
            },
            {
                "id": "2410.17777",
                "title": "A Note on Calibration of Small Reward Models",
                "abstract": "We study calibration of reward models below 1B parameters. "
                "Code & data are released.",  # content_html made text
                "published": None,
            },
        ],
    ),
    (
        "feed-rsshub.xml",
        [
            {
                "id": "2511.07321",
                "abstract": "Long-context agents spend most of their inference budget "
                "re-reading context that is irrelevant to the current step. "
                "We propose a token-level router.",
                "authors": ("Mira Okafor", "Tomasz Lindqvist", "Priya Raman"),
                "author_count": 3,
                "published": date(2025, 11, 7),
                "url": "https://arxiv.org/abs/2511.07321",
                "pdf_url": "https://arxiv.org/pdf/2511.07321",
                "keywords": (),
            },
            {
                "id": "2508.12345",  # from a versioned PDF link
                "abstract": "Small vision-language models lag behind large ones.",  # no script
                "authors": ("Sofia Marques",),
                "author_count": 1,
                "published": date(2025, 8, 18),
                "url": "https://arxiv.org/pdf/2508.12345v2",
                "pdf_url": "https://arxiv.org/pdf/2508.12345",
            },
        ],
    ),
    (
        "feed-lab-blog.xml",
        [
            {
                "id": title_id("Scaling & Sparsity: What We Learned"),
                "title": "Scaling & Sparsity: What We Learned",  # type="html" title unescaped
                "abstract": "Sparse models scale differently. Here is what we found after a year.",
                "authors": ("Ines Duarte", "Wei Zhang"),
                "author_count": 2,
                "published": date(2025, 11, 8),  # in its own +01:00 offset
                "url": "https://lab.example.org/posts/scaling-sparsity/",
                "pdf_url": None,
                "keywords": ("sparsity", "scaling laws"),
            },
            {
                "id": title_id("Notes from the Reading Group"),
                "abstract": "We read three papers this week.",  # from <content>
                "authors": (),
                "author_count": None,
                "published": None,  # only <updated>: the last edit, not the publication
                "url": "https://lab.example.org/posts/reading-group/",
            },
        ],
    ),
]


@pytest.mark.parametrize(("name", "expected"), EXPECTED)
def test_items_give_their_fields(name: str, expected: list[dict[str, Any]]) -> None:
    papers = parse(fixture(name)).papers
    assert len(papers) == len(expected)
    for paper, fields in zip(papers, expected, strict=True):
        assert {field: getattr(paper, field) for field in fields} == fields


def test_json_feed_items_that_are_not_papers_are_reported() -> None:
    assert parse(fixture("feed-jamesg.json")).problems == (
        "item [2] (2511.09999): no title, skipped",
        "item [3]: not a JSON object, skipped",
    )


def test_json_feed_1_1_authors_tags_and_external_url() -> None:
    item = {
        "id": "post-17",
        "title": "Reading <Group> Notes",
        "summary": "Three papers on  sparsity.",
        "external_url": "https://arxiv.org/abs/2511.07321v2",
        "authors": [{"name": "Ines Duarte"}, {"name": "Wei Zhang"}, {"url": "https://x.example"}],
        "date_published": "2025-11-08T23:30:00-08:00",
        "tags": ["cs.LG"],
    }
    (paper,) = parse(json_feed([item])).papers
    assert paper.id == "2511.07321"
    assert paper.title == "Reading <Group> Notes"  # JSON Feed titles are plain text
    assert paper.abstract == "Three papers on sparsity."
    assert (paper.authors, paper.author_count) == (("Ines Duarte", "Wei Zhang"), 2)
    assert paper.published == date(2025, 11, 8)
    assert paper.url == "https://arxiv.org/abs/2511.07321v2"
    assert paper.keywords == ()  # an arXiv paper's tags are its classes


def test_json_feed_version_1_author_object() -> None:
    item = {"id": "x", "title": "Solo", "author": {"name": "Lena Vogt"}, "tags": ["agents"]}
    (paper,) = parse(json_feed([item], "https://jsonfeed.org/version/1")).papers
    assert (paper.id, paper.authors, paper.keywords, paper.url) == (
        title_id("Solo"),
        ("Lena Vogt",),
        ("agents",),
        None,
    )


def test_rss_1_0_items_are_dated_by_dc_date() -> None:
    data = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://lab.example.org/"><title>Lab</title></channel>
  <item rdf:about="https://arxiv.org/abs/2511.07321"><title>Sparse Routing</title>
    <link>https://arxiv.org/abs/2511.07321</link><dc:date>2025-11-07</dc:date>
    <dc:creator>Mira Okafor, Tomasz Lindqvist</dc:creator></item>
</rdf:RDF>"""
    assert sniff_kind(data) == "feed"
    (paper,) = parse(data).papers
    assert (paper.id, paper.published, paper.authors) == (
        "2511.07321",
        date(2025, 11, 7),
        ("Mira Okafor", "Tomasz Lindqvist"),
    )


def test_broken_xml_with_items_is_read_and_reported() -> None:
    data = b"""<rss version="2.0"><channel><title>t</title>
<item><title>Fine Item</title><link>https://arxiv.org/abs/2511.07321</link></item>
<item><title>Broken & Item</title></item></channel></rss>"""
    result = parse(data)
    assert [paper.title for paper in result.papers] == ["Fine Item", "Broken & Item"]
    assert result.problems == (
        "not well-formed XML (line 3: not well-formed (invalid token)); "
        "the items were read leniently",
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            fixture("feed-broken.xml"),
            "feed.xml: not an RSS or Atom feed: not well-formed XML (line 6: no element found)",
        ),
        (b'{"version": "https://jsonfeed.org/version/1"', "feed.xml:1: not JSON"),
        (b'{"title": "no version", "items": []}', "feed.xml: not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1", "items": 3}', "feed.xml: JSON Feed"),
        (b"[1, 2]", "feed.xml: not a JSON Feed"),
        (b"Just some words.", "feed.xml: not an RSS or Atom feed: not well-formed XML"),
        (  # feedparser's lenient parser itself fails on this close tag (KeyError 'tags')
            b'<rss version="2.0"><channel><item><title>T</title>'
            b"<category</entry>cs.LG</category></item></channel></rss>",
            "feed.xml: not an RSS or Atom feed: markup too broken to read leniently",
        ),
    ],
)
def test_bad_input_is_a_one_line_parse_error(data: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(data)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", [*FEEDS, "feed-broken.xml"])
def test_sniffing_picks_feed(name: str) -> None:
    assert sniff_kind(fixture(name)) == "feed"


def test_sniffed_feeds_carry_the_kind_as_their_source() -> None:
    papers = parse(fixture("feed-jamesg.json"), kind="auto").papers
    assert [paper.sources for paper in papers] == [("feed",), ("feed",)]


@pytest.mark.parametrize(
    ("name", "kind"),
    [("hf-daily-2025-11-slice.json", "hf-daily"), ("hf-paper-flat.json", "hf-daily")],
)
def test_hf_json_is_still_hf_daily(name: str, kind: str) -> None:
    assert sniff_kind(fixture(name)) == kind


def test_a_json_object_mentioning_jsonfeed_elsewhere_is_not_a_feed() -> None:
    data = json.dumps({"paper": {"id": "2511.07321", "summary": "https://jsonfeed.org/version/1"}})
    assert sniff_kind(data.encode()) == "hf-daily"


@SETTINGS
@given(data=mutated([fixture(name) for name in FEEDS]), kind=st.sampled_from(["feed", "auto"]))
def test_mutated_feeds_raise_only_parse_error(data: bytes, kind: str) -> None:
    parse_or_error(data, kind)


@SETTINGS
@given(text=st.text(max_size=1_000))
def test_random_text_raises_only_parse_error(text: str) -> None:
    parse_or_error(text.encode(), "feed")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@SETTINGS
@given(
    items=st.lists(
        st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "url",
                    "title",
                    "content_html",
                    "authors",
                    "author",
                    "tags",
                    "date_published",
                ]
            ),
            json_values,
        ),
        max_size=4,
    )
)
def test_random_json_feed_items_raise_only_parse_error(items: list[Any]) -> None:
    parse_or_error(json_feed(items), "auto")
