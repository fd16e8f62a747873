"""The hf-page parser: the hydration island, the card fallback, sniffing, errors, bad HTML."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fuzz import SETTINGS, mutated, parse_or_error
from hypothesis import given
from hypothesis import strategies as st

from digest.errors import ParseError
from digest.models import Paper, ParseResult, title_id
from digest.parse import hf_page, parse_bytes, sniff_kind

FIXTURES = Path(__file__).parent / "fixtures"
PAGES = sorted(FIXTURES.glob("hf-page-*.html"))
TODAY = date(2025, 12, 1)
HF = "https://huggingface.co/papers/"

CARD = """<article>
  <a href="/papers/{id}"><img src="/t.png" alt=""></a>
  <label><div class="leading-none">4</div></label>
  <h3><a href="/papers/{id}">{title}</a></h3><span>2 authors</span>
</article>"""


def page(body: str) -> bytes:
    return f"<!DOCTYPE html><html><body><main>{body}</main></body></html>".encode()


def parse(data: bytes, kind: str = "hf-page", origin: str = "page.html") -> ParseResult:
    return parse_bytes(data, kind=kind, source="", origin=origin, today=TODAY)


def parse_fixture(name: str, kind: str = "hf-page") -> tuple[dict[str, Paper], tuple[str, ...]]:
    result = parse((FIXTURES / name).read_bytes(), kind, origin=name)
    return {paper.id: paper for paper in result.papers}, result.problems


def fields(paper: Paper, expected: dict[str, Any]) -> dict[str, Any]:
    return {field: getattr(paper, field) for field in expected}


DAY_PAGE = [
    (
        "2511.07321",  # formats.md §1.6, the full item
        {
            "title": "Sparse Routing Makes Long-Context Agents Cheaper: Token-Level Expert "
            "Selection at Inference Time",
            "abstract": "Long-context agents spend most of their inference budget re-reading "
            "context that is irrelevant to the current step. We propose a token-level router "
            "that ... reduces cost by 41% on three agent benchmarks.",
            "authors": ("Mira Okafor", "Tomasz Lindqvist", "Priya Raman"),
            "author_count": 3,
            "published": date(2025, 11, 7),  # paper.publishedAt, not the top-level EST one
            "daily_date": date(2025, 11, 10),
            "upvotes": 37,
            "comments": 3,
            "github_url": "https://github.com/example-lab/sparse-routing",
            "github_stars": 58,
            "ai_summary": "A token-level router cuts long-context agents' inference cost "
            "while preserving task success.",  # &#39; in the attribute
            "keywords": (
                "sparse routing",
                "long-context agents",
                "mixture of experts",
                "inference efficiency",
                "token-level routing",
            ),
            "url": HF + "2511.07321",
            "pdf_url": "https://arxiv.org/pdf/2511.07321",
            "sources": ("hf-page",),
        },
    ),
    (
        "2410.17777",  # formats.md §1.7, the minimal item: a hidden author, no links
        {
            "title": "A Note on Calibration of Small Reward Models",
            "abstract": "We study calibration of reward models below 1B parameters ...",
            "authors": ("Lena Vogt",),
            "author_count": 1,
            "published": date(2024, 10, 22),
            "daily_date": date(2024, 10, 24),
            "upvotes": 0,
            "comments": 0,
            "github_url": None,
            "github_stars": None,
            "ai_summary": None,
            "keywords": (),
            "url": HF + "2410.17777",
        },
    ),
    (
        "2511.06102",  # id "2511.06102v2"; &amp; &#39; &lt; &gt; and \" in the attribute
        {
            "title": "Q&A Agents Don't Need <Long> Contexts",
            "abstract": 'Retrieval & reranking beat long contexts for "open-book" Q&A.',
            "authors": ("Anaïs Dubois", "Ravi O'Neill"),
            "author_count": 2,
            "upvotes": 12,
            "comments": 1,
            "keywords": ("Q&A", "retrieval"),
            "url": HF + "2511.06102",
            "pdf_url": "https://arxiv.org/pdf/2511.06102",
        },
    ),
]


@pytest.mark.parametrize(("paper_id", "expected"), DAY_PAGE)
def test_day_page_island_gives_the_api_fields(paper_id: str, expected: dict[str, Any]) -> None:
    papers, _ = parse_fixture("hf-page-day.html")
    assert fields(papers[paper_id], expected) == expected


def test_day_page_keeps_island_order_and_drops_the_withdrawn_item() -> None:
    papers, problems = parse_fixture("hf-page-day.html")
    assert list(papers) == ["2511.07321", "2410.17777", "2511.06102"]
    assert problems == ("item [3] (2511.05005): withdrawn, skipped",)


def test_search_page_takes_search_results_over_daily_papers() -> None:
    papers, problems = parse_fixture("hf-page-search.html")
    assert list(papers) == ["2406.07394", "2301.00042"] and problems == ()
    found = papers["2406.07394"]
    assert found.title == "Dropout Is a Regularizer for Preference Optimization"
    assert found.abstract == "We show that dropout regularizes direct preference optimization."
    assert (found.daily_date, found.github_stars, found.keywords) == (
        date(2024, 6, 12),
        7,
        ("dropout", "DPO"),
    )
    never_daily = papers["2301.00042"]
    assert (never_daily.daily_date, never_daily.published) == (None, date(2023, 1, 2))


CARD_ONLY = {"abstract": None, "authors": (), "published": None, "daily_date": None}
NO_LINKS = {"github_url": None, "github_stars": None, "ai_summary": None, "keywords": ()}
CARDS = [
    (
        "2511.07321",  # formats.md §3.3, with the image link to the same page
        {
            "title": "Sparse Routing Makes Long-Context Agents Cheaper: Token-Level Expert "
            "Selection at Inference Time",
            "upvotes": 37,
            "author_count": 3,
            "comments": 3,
            "url": HF + "2511.07321",
            "pdf_url": "https://arxiv.org/pdf/2511.07321",
            "sources": ("hf-page",),
            **CARD_ONLY,
            **NO_LINKS,
        },
    ),
    (
        "2511.06102",  # no image link, no comments link, a wrapped title, "1,204" upvotes
        {
            "title": "Q&A Agents Don't Need Long Contexts",
            "upvotes": 1204,
            "author_count": 12,
            "comments": None,
            "url": HF + "2511.06102",
            **CARD_ONLY,
        },
    ),
    (
        "2410.17777",  # absolute links with a version; "-" upvotes; "2 authors" in the title
        {
            "title": "Do 2 authors Beat 10? A Note on Calibration",
            "upvotes": None,
            "author_count": 1,
            "comments": 12,
            "url": HF + "2410.17777",
            "pdf_url": "https://arxiv.org/pdf/2410.17777",
            **CARD_ONLY,
            **NO_LINKS,
        },
    ),
]


@pytest.mark.parametrize(("paper_id", "expected"), CARDS)
def test_cards_give_what_they_show_and_nothing_else(
    paper_id: str, expected: dict[str, Any]
) -> None:
    papers, _ = parse_fixture("hf-page-cards.html")
    assert fields(papers[paper_id], expected) == expected


def test_card_page_gives_one_paper_per_card_and_skips_other_articles() -> None:
    papers, problems = parse_fixture("hf-page-cards.html")
    assert list(papers) == [paper_id for paper_id, _ in CARDS]
    assert problems == ()


def test_the_same_paper_shown_twice_is_one_paper() -> None:
    twice = CARD.format(id="2511.01111", title="Twice")
    result = parse(page(twice + twice + CARD.format(id="2511.02222", title="B")))
    assert [(paper.id, paper.title, paper.upvotes) for paper in result.papers] == [
        ("2511.01111", "Twice", 4),
        ("2511.02222", "B", 4),
    ]


def test_a_card_with_a_non_arxiv_id_keeps_its_page_link() -> None:
    result = parse(page(CARD.format(id="some-slug", title="A Paper Without arXiv")))
    paper = result.papers[0]
    assert (paper.id, paper.url, paper.pdf_url) == (
        title_id("A Paper Without arXiv"),
        HF + "some-slug",
        None,
    )
    assert result.problems == ("card [0]: id 'some-slug' is not an arXiv id, using a title hash",)


def test_broken_island_falls_back_to_cards_and_says_so() -> None:
    papers, problems = parse_fixture("hf-page-broken-island.html")
    assert list(papers) == ["2511.07321"]
    paper = papers["2511.07321"]
    assert (paper.title, paper.upvotes, paper.author_count, paper.comments, paper.abstract) == (
        "Sparse Routing Makes Long-Context Agents Cheaper",
        37,
        3,
        3,
        None,
    )
    assert problems == (
        "the DailyPapers island is unreadable (data-props is not JSON: Unterminated string "
        "starting at: line 1 column 53 (char 52)); read the 2 <article> cards instead, which "
        "carry no abstracts, authors or dates",
        "card [1] (2511.09999): no title link (h3 > a), skipped",
    )


@pytest.mark.parametrize(
    ("island", "why"),
    [
        ('<div data-target="DailyPapers"></div>', "it has no data-props attribute"),
        (
            '<div data-target="DailyPapers" data-props="{&quot;periodType&quot;:&quot;day&quot;}">'
            "</div>",
            "data-props holds no dailyPapers or searchResults list",
        ),
        (
            '<div data-target="DailyPapers" data-props="[1, 2]"></div>',
            "data-props holds no dailyPapers or searchResults list",
        ),
    ],
)
def test_unreadable_islands_are_named(island: str, why: str) -> None:
    result = parse(page(island + CARD.format(id="2511.01111", title="T")))
    assert [paper.id for paper in result.papers] == ["2511.01111"]
    assert result.problems[0].startswith(f"the DailyPapers island is unreadable ({why}); read")


def test_empty_island_is_no_papers_and_no_problems() -> None:
    assert parse((FIXTURES / "hf-page-empty-day.html").read_bytes()) == ParseResult(papers=())


def test_island_items_that_are_not_papers_are_problems_not_errors() -> None:
    props = "{&quot;dailyPapers&quot;:[42,{&quot;paper&quot;:{&quot;id&quot;:&quot;2511.1&quot;}}]}"
    result = parse(page(f'<div data-target="DailyPapers" data-props="{props}"></div>'))
    assert result.papers == ()
    assert result.problems == (
        "item [0]: not a JSON object, skipped",
        "item [1] ('2511.1'): no title, skipped",
    )


NO_LIST = (
    'page.html: no Daily Papers list in this HTML page: no data-target="DailyPapers" island '
    "and no <article> cards"
)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            (FIXTURES / "hf-page-no-list.html").read_bytes(),
            NO_LIST + " (expected a saved huggingface.co/papers page (/papers/date/D,",
        ),
        (
            b'[{"paper": {"id": "2511.07321"}}]',
            NO_LIST + " (this looks like JSON: use kind hf-daily)",
        ),
        (b"", NO_LIST),
        (
            page('<div data-target="DailyPapers" data-props="{oops"></div>'),
            "page.html: the DailyPapers island is unreadable (data-props is not JSON: Expecting "
            "property name enclosed in double quotes: line 1 column 2 (char 1)) and there are no "
            "<article> cards (save the whole page again, or use the hf-daily API source)",
        ),
        (page("<article><p>no paper link</p></article>"), NO_LIST),
    ],
    ids=["login-page", "json", "empty", "broken-island-no-cards", "article-without-papers"],
)
def test_pages_without_a_list_raise_one_line_parse_errors(data: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(data)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_markup_the_html_parser_rejects_is_a_one_line_parse_error() -> None:
    # Python 3.11's html.parser gives up on "<![" not followed by CDATA; later versions may
    # read it as a bogus comment and find no list instead. Either way: one line, no traceback.
    with pytest.raises(ParseError) as caught:
        parse(b"<![<!DOCTYPE html>\n<p>" + (FIXTURES / "hf-page-no-list.html").read_bytes())
    message = str(caught.value)
    assert message.startswith(("page.html: not readable HTML: ", NO_LIST)), message
    assert "\n" not in message


@pytest.mark.parametrize("path", PAGES, ids=lambda path: path.name)
def test_auto_sniffs_every_html_page_as_hf_page(path: Path) -> None:
    data = path.read_bytes()
    assert sniff_kind(data) == "hf-page"
    if path.name == "hf-page-no-list.html":
        # any HTML page: one without a list gets this kind's clear error, not made-up papers
        with pytest.raises(ParseError) as caught:
            parse(data, kind="auto")
        assert str(caught.value).startswith(NO_LIST)
    else:
        assert parse(data, kind="auto") == parse(data, kind="hf-page")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('\n  <!DOCTYPE HTML><div data-target="DailyPapers" data-props="{}">', True),
        ("<html><body><article><a href='/papers/2511.07321'>T</a></article>", True),
        ("<!doctype html><body><article><a href='/blog/x'>T</a></article>", True),
        ("<!doctype html><body><p>Daily Papers</p>", True),
        ('{"html": "<!doctype html>", "x": "data-target=\\"DailyPapers\\""}', False),
        ('<?xml version="1.0"?><rss><item><link>/papers/1</link></item></rss>', False),
        ('Daily Papers\n<article> /papers/ data-target="DailyPapers"', False),
    ],
)
def test_looks_like(text: str, expected: bool) -> None:
    assert hf_page.looks_like(text) is expected


# -- no HTML makes the parser raise anything but a ParseError -------------------------------


@SETTINGS
@given(
    data=mutated([path.read_bytes() for path in PAGES]), kind=st.sampled_from(["hf-page", "auto"])
)
def test_mutated_pages_never_raise_anything_but_parse_error(data: bytes, kind: str) -> None:
    parse_or_error(data, kind)


@SETTINGS
@given(body=st.text(max_size=500))
def test_random_html_never_raises_anything_but_parse_error(body: str) -> None:
    parse_or_error(f"<!doctype html><article>{body}".encode(), "hf-page")
