"""The arxiv-rss parser: arXiv announcement feeds (RSS and Atom), the announce filter, names."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fuzz import SETTINGS, mutated, parse_or_error
from hypothesis import given
from hypothesis import strategies as st

from digest.errors import ParseError
from digest.models import NO_OPTIONS, Paper, ParseOptions, ParseResult, title_id
from digest.parse import parse_bytes, sniff_kind
from digest.parse.syndication import split_names

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = date(2025, 11, 10)
ANNOUNCE_FEEDS = ["arxiv-rss-cs-lg.xml", "arxiv-atom-cs-lg.xml"]
EVERY_TYPE = ParseOptions(announce=("new", "cross", "replace", "replace-cross"))


def parse(data: bytes, options: ParseOptions = NO_OPTIONS, kind: str = "arxiv-rss") -> ParseResult:
    return parse_bytes(data, kind=kind, source="", origin="feed.xml", today=TODAY, options=options)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def rss(items: str) -> bytes:
    """A one-channel arXiv RSS document holding ``items``."""
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
     version="2.0"><channel><title>cs.LG updates on arXiv.org</title>
<link>http://rss.arxiv.org/rss/cs.LG</link>
<pubDate>Tue, 11 Nov 2025 00:00:00 -0500</pubDate>{items}</channel></rss>""".encode()


EXPECTED = {
    "2511.07321": {
        "title": "Sparse Routing Makes Long-Context Agents Cheaper: Token-Level Expert "
        "Selection at Inference Time",
        "abstract": "Long-context agents spend most of their inference budget re-reading "
        "context that is irrelevant to the current step. We propose a token-level router "
        "that reduces cost by 41% on three agent benchmarks.",
        "authors": ("Mira Okafor", "Tomasz Lindqvist", "Priya Raman"),  # "(Example Lab)" dropped
        "author_count": 3,
        "published": date(2025, 11, 10),  # midnight -0500 is the announce day, not Nov 9 in UTC
        "url": "https://arxiv.org/abs/2511.07321",
        "pdf_url": "https://arxiv.org/pdf/2511.07321",
        "keywords": (),  # cs.LG, cs.CL are arXiv classes, not topics
        "upvotes": None,
        "comments": None,
        "daily_date": None,
        "sources": ("arxiv-rss",),
    },
    "2511.08004": {
        "title": "Graph Priors for Tabular Transformers",
        "abstract": "Tabular transformers ignore the relations between columns. We add a graph "
        "prior over columns & rows and gain 3 points on average.",
        # an affiliation holding commas, and "and" before the last name
        "authors": ("Ana Souza", "Björn Ek", "Chen Wei"),
        "author_count": 3,
        "published": date(2025, 11, 10),
        "url": "https://arxiv.org/abs/2511.08004",
        "pdf_url": "https://arxiv.org/pdf/2511.08004",
        "keywords": (),
    },
}


@pytest.mark.parametrize("name", ANNOUNCE_FEEDS)
@pytest.mark.parametrize(("paper_id", "expected"), EXPECTED.items())
def test_new_and_cross_items_give_their_fields(
    name: str, paper_id: str, expected: dict[str, Any]
) -> None:
    papers = {paper.id: paper for paper in parse(fixture(name)).papers}
    assert {field: getattr(papers[paper_id], field) for field in expected} == expected


@pytest.mark.parametrize("name", ANNOUNCE_FEEDS)
def test_default_keeps_new_and_cross_and_says_what_it_skipped(name: str) -> None:
    result = parse(fixture(name))
    assert [paper.id for paper in result.papers] == ["2511.07321", "2511.08004"]
    assert result.problems == (
        "skipped 2 items announced as replace, replace-cross "
        "(keep them with announce: [new, cross, replace, replace-cross])",
    )


@pytest.mark.parametrize("name", ANNOUNCE_FEEDS)
def test_announce_option_keeps_the_types_asked_for(name: str) -> None:
    result = parse(fixture(name), ParseOptions(announce=("replace",)))
    (paper,) = result.papers
    assert paper == Paper(
        id="math-ph/0309136",  # an old-style id, version dropped
        title='Spectral Gaps of Random Schr\\"odinger Operators',
        abstract='We bound the spectral gap of random Schr\\"odinger operators on the lattice.',
        authors=("O. Brandt", "M. Ito"),  # "O. Brandt, and M. Ito"
        author_count=2,
        published=date(2025, 11, 10),
        url="https://arxiv.org/abs/math-ph/0309136",
        pdf_url="https://arxiv.org/pdf/math-ph/0309136",
        sources=("arxiv-rss",),
    )
    assert result.problems == (
        "skipped 3 items announced as new, cross, replace-cross "
        "(keep them with announce: [replace, new, cross, replace-cross])",
    )


def test_every_type_kept_means_no_summary_line() -> None:
    result = parse(fixture("arxiv-rss-cs-lg.xml"), EVERY_TYPE)
    assert [paper.id for paper in result.papers] == [
        "2511.07321",
        "2511.08004",
        "2410.17777",
        "math-ph/0309136",
    ]
    assert result.papers[2].authors == ("Lena Vogt", "Kenji Arai")
    assert result.problems == ()


def test_an_empty_announcement_day_is_no_papers_and_no_error() -> None:
    assert parse(fixture("arxiv-rss-empty.xml")) == ParseResult(papers=(), problems=())


@pytest.mark.parametrize("name", [*ANNOUNCE_FEEDS, "arxiv-rss-empty.xml"])
def test_sniffing_picks_arxiv_rss(name: str) -> None:
    assert sniff_kind(fixture(name)) == "arxiv-rss"
    papers = parse(fixture(name), kind="auto").papers
    assert all(paper.sources == ("arxiv-rss",) for paper in papers)


@pytest.mark.parametrize(
    "name", ["arxiv-api-new.xml", "feed-rsshub.xml", "feed-takara.xml", "feed-lab-blog.xml"]
)
def test_other_feeds_are_not_arxiv_announcements(name: str) -> None:
    assert sniff_kind(fixture(name)) != "arxiv-rss"


@pytest.mark.parametrize(
    ("creators", "names"),
    [
        (
            "Mira Okafor, Tomasz Lindqvist, Priya Raman",
            ("Mira Okafor", "Tomasz Lindqvist", "Priya Raman"),
        ),
        ("Mira Okafor (Example Lab)", ("Mira Okafor",)),
        ("A. Souza (Dept. of CS, Univ. of Example, Lisbon), B. Ek", ("A. Souza", "B. Ek")),
        ("A. Souza (Lab (Lisbon), PT) and B. Ek", ("A. Souza", "B. Ek")),
        ("Lena Vogt and Kenji Arai", ("Lena Vogt", "Kenji Arai")),
        ("O. Brandt, and M. Ito", ("O. Brandt", "M. Ito")),
        ("Alexander Anand, Sandra Andersen", ("Alexander Anand", "Sandra Andersen")),
        ("The ATLAS Collaboration", ("The ATLAS Collaboration",)),
        ("A. Person (unclosed, B. Person", ("A. Person unclosed", "B. Person")),
        ("  ", ()),
    ],
)
def test_creators_split_into_names(creators: str, names: tuple[str, ...]) -> None:
    assert split_names(creators) == names


def test_missing_announce_element_falls_back_to_the_description() -> None:
    item = """<item><title>Only a Description</title>
<link>https://arxiv.org/abs/2511.09001</link>
<description>arXiv:2511.09001v2 Announce Type: replace
Abstract: Text.</description><dc:creator>Solo Author</dc:creator></item>"""
    assert parse(rss(item)).papers == ()
    (paper,) = parse(rss(item), ParseOptions(announce=("replace",))).papers
    assert (paper.id, paper.abstract, paper.authors) == ("2511.09001", "Text.", ("Solo Author",))
    assert paper.published == date(2025, 11, 11)  # no item pubDate: the channel's


@pytest.mark.parametrize(
    ("description", "abstract"),
    [
        ("arXiv:2511.00009v1 Announce Type: new \nAbstract: Text here.", "Text here."),
        ("Announce Type: new\nAbstract:   Text\n  here.", "Text here."),
        ("Abstract: Text here.", "Text here."),
        ("arXiv:2401.00001 showed this.", "arXiv:2401.00001 showed this."),
        ("", None),
    ],
)
def test_the_abstract_is_what_follows_the_preamble(description: str, abstract: str | None) -> None:
    item = f"""<item><title>T</title><link>https://arxiv.org/abs/2511.00009</link>
<description>{description}</description><arxiv:announce_type>new</arxiv:announce_type></item>"""
    (paper,) = parse(rss(item)).papers
    assert (paper.id, paper.abstract) == ("2511.00009", abstract)


@pytest.mark.parametrize(
    ("description", "paper_id"),
    [
        ("arXiv:2511.00010v2 Announce Type: new \nAbstract: X.", "2511.00010"),
        ("arXiv:2401.00001 showed this.", title_id("T")),  # an id quoted in an abstract
    ],
)
def test_without_link_or_guid_the_id_comes_from_the_preamble(
    description: str, paper_id: str
) -> None:
    item = f"""<item><title>T</title><description>{description}</description>
<arxiv:announce_type>new</arxiv:announce_type></item>"""
    (paper,) = parse(rss(item)).papers
    assert paper.id == paper_id


def test_item_without_an_arxiv_id_is_named_by_its_title_hash() -> None:
    item = """<item><title>No Link Here</title><description>Plain abstract.</description>
<arxiv:announce_type>new</arxiv:announce_type></item>"""
    result = parse(rss(item))
    (paper,) = result.papers
    assert (paper.id, paper.abstract, paper.url, paper.pdf_url) == (
        title_id("No Link Here"),
        "Plain abstract.",
        None,
        None,
    )
    assert (paper.authors, paper.author_count) == ((), None)
    assert result.problems == (
        "item [0] ('No Link Here'): no arXiv id in its link or guid, using a title hash",
    )


def test_withdrawn_and_untitled_items_are_reported() -> None:
    items = """<item><title>Gone</title><link>https://arxiv.org/abs/2511.00001</link>
<description>arXiv:2511.00001v3 Announce Type: new
Abstract: This paper has been withdrawn by the authors.</description></item>
<item><link>https://arxiv.org/abs/2511.00002</link><description>x</description></item>"""
    result = parse(rss(items))
    assert result.papers == ()
    assert result.problems == (
        "item [0] (2511.00001): withdrawn, skipped",
        "item [1] (2511.00002): no title, skipped",
    )


def test_less_than_in_an_abstract_is_text_not_a_tag() -> None:
    item = """<item><title>Bounds</title><link>https://arxiv.org/abs/2511.00003</link>
<description>arXiv:2511.00003v1 Announce Type: new
Abstract: We show a&lt;b for n&lt;10 &amp; $p&lt;0.05$.</description></item>"""
    (paper,) = parse(rss(item)).papers
    assert paper.abstract == "We show a<b for n<10 & $p<0.05$."


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"<rss version='2.0'><channel><title>cut",
            "feed.xml: not an RSS or Atom feed: not well-formed XML (line 1",
        ),
        (
            b"<html><body>Maintenance</body></html>",
            "feed.xml: not an RSS or Atom feed: no RSS or Atom root",
        ),
        (b"", "feed.xml: not an RSS or Atom feed"),
    ],
)
def test_what_is_not_a_feed_is_a_one_line_parse_error(data: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(data)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


@SETTINGS
@given(
    data=mutated([fixture(name) for name in [*ANNOUNCE_FEEDS, "arxiv-rss-empty.xml"]]),
    kind=st.sampled_from(["arxiv-rss", "auto"]),
)
def test_mutated_feeds_raise_only_parse_error(data: bytes, kind: str) -> None:
    parse_or_error(data, kind)


@SETTINGS
@given(text=st.text(max_size=1_000))
def test_random_text_raises_only_parse_error(text: str) -> None:
    parse_or_error(text.encode(), "arxiv-rss")
