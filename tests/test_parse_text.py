"""The text parser: the two real captures, hand-made variants of every §5.2 shape, dates."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from digest.errors import ParseError
from digest.models import Paper, ParseResult, title_id
from digest.parse import parse_bytes

FIXTURES = Path(__file__).parent / "fixtures"

ABSTRACT = (
    "We train a small model on a large corpus and report what happens. The results are "
    "surprising in three ways that we describe in detail, and we release the code so that "
    "others can check them. A long discussion of related work closes the paper, followed by "
    "the usual limitations section."
)


def parse_text(text: str, today: date = date(2025, 11, 22), origin: str = "") -> ParseResult:
    return parse_bytes(text.encode(), kind="text", source="text", origin=origin, today=today)


def parse_capture(name: str, today: date) -> ParseResult:
    data = (FIXTURES / f"capture-{name}.txt").read_bytes()
    return parse_bytes(data, source="text", origin=f"capture-{name}.txt", today=today)


def table(rows: str) -> list[tuple[int, date, int | None]]:
    """``"7 2024-06-11 - | 6 2023-11-02 2"`` → (author count, date, upvotes) tuples."""
    cells = [cell.split() for cell in rows.replace("|", "\n").splitlines() if cell.strip()]
    return [(int(n), date.fromisoformat(d), None if v == "-" else int(v)) for n, d, v in cells]


def facts(papers: tuple[Paper, ...]) -> list[tuple[int | None, date | None, int | None]]:
    return [(paper.author_count, paper.published, paper.upvotes) for paper in papers]


REGULARIZATION = table("""
    7 2024-06-11 - | 3 2023-06-02 - | 5 2023-03-28 - | 3 2022-10-29 -
    4 2023-08-19 - | 5 2023-06-11 - | 3 2022-09-30 - | 7 2022-08-31 -
    2 2023-02-09 - | 4 2020-06-30 - | 8 2023-12-19 - | 3 2023-06-29 -
    4 2023-10-19 - | 4 2017-07-21 - | 4 2023-04-25 - | 7 2024-10-25 -
    4 2025-03-06 - | 6 2018-10-22 - | 4 2023-09-25 - | 7 2019-12-02 -
    5 2024-10-07 - | 9 2023-12-07 - | 4 2023-06-04 - | 4 2022-12-28 -
    2 2024-04-29 - | 7 2023-12-21 - | 4 2021-05-09 - | 4 2020-06-22 -
    8 2023-06-01 - | 4 2025-01-08 - | 4 2025-09-18 - | 1 2024-09-23 -
    8 2023-03-01 - | 5 2023-08-15 - | 2 2023-05-27 - | 6 2023-11-02 2
    5 2022-06-27 - | 3 2022-11-23 - | 1 2025-09-25 - | 3 2019-03-23 -
    6 2024-06-23 - | 3 2017-05-24 - | 3 2021-11-01 - | 3 2023-10-22 -
    2 2023-02-06 - | 2 2021-06-13 - | 7 2023-02-28 - | 10 2025-08-05 -
    3 2024-02-02 - | 3 2023-07-22 - | 3 2022-04-29 - | 4 2023-01-30 -
    3 2025-06-26 2 | 4 2025-07-31 - | 3 2024-10-03 6 | 4 2023-02-09 -
    5 2021-10-07 - | 2 2019-12-08 - | 4 2021-10-15 -
""")

RANDOM_FEATURES = table("""
    4 2021-12-26 - | 4 2024-05-04 - | 4 2024-05-30 - | 4 2023-07-21 -
    2 2025-07-30 - | 2 2023-11-26 - | 4 2023-03-27 - | 3 2024-10-17 -
    6 2025-09-14 2 | 6 2023-01-01 - | 4 2021-07-23 - | 3 2024-02-08 -
    4 2025-03-21 3 | 8 2023-05-28 - | 2 2023-06-01 - | 4 2023-11-24 -
    1 2024-03-13 - | 4 2023-02-28 - | 4 2023-03-02 - | 5 2020-06-13 -
    5 2020-08-19 - | 9 2024-10-31 - | 7 2022-02-05 - | 7 2023-05-20 -
    6 2025-05-29 - | 6 2025-07-28 - | 2 2023-05-29 - | 2 2024-12-16 -
    3 2025-02-23 - | 2 2023-06-16 - | 5 2023-10-19 - | 3 2020-02-28 -
    5 2024-03-22 - | 4 2018-04-24 - | 4 2023-02-01 - | 2 2023-03-29 -
    9 2025-03-04 2
""")


@pytest.mark.parametrize(
    ("name", "today", "count", "expected", "first", "last"),
    [
        (
            "hf-search-regularization",
            date(2025, 11, 1),  # page date "Oct 28" → 2025-10-28
            59,
            REGULARIZATION,
            "3D-Properties: Identifying Challenges in DPO and Charting a Path Forward",
            "Fire Together Wire Together: A Dynamic Pruning Approach with Self-Supervised "
            "Mask Prediction",
        ),
        (
            "hf-search-random-features",
            date(2026, 11, 22),  # page date "Dec 11" → 2025-12-11
            37,
            RANDOM_FEATURES,
            "Generative Kernel Continual learning",
            "Feynman-Kac Correctors in Diffusion: Annealing, Guidance, and Product of Experts",
        ),
    ],
)
def test_shared_captures_parse_whole(
    name: str,
    today: date,
    count: int,
    expected: list[tuple[int, date, int | None]],
    first: str,
    last: str,
) -> None:
    result = parse_capture(name, today)
    assert result.problems == ()
    assert len(result.papers) == len(expected) == count
    assert facts(result.papers) == expected
    assert (result.papers[0].title, result.papers[-1].title) == (first, last)
    for paper in result.papers:
        assert paper.id == title_id(paper.title)
        assert paper.abstract is not None and len(paper.abstract) > 300
        assert (paper.authors, paper.url, paper.pdf_url, paper.daily_date) == ((), None, None, None)
        assert paper.sources == ("text",)


@pytest.mark.parametrize(
    ("today", "page_year"),
    [(date(2025, 10, 28), 2025), (date(2025, 10, 27), 2024), (date(2026, 3, 1), 2025)],
)
def test_page_date_year_is_latest_not_after_today(today: date, page_year: int) -> None:
    papers = parse_capture("hf-search-regularization", today).papers
    by_title = {paper.title: paper.published for paper in papers}
    assert by_title["Grokking at the Edge of Numerical Stability"] == date(page_year, 1, 8)
    assert by_title["Pre-training under infinite compute"] == date(page_year, 9, 18)
    assert by_title["Perturbation Analysis of Neural Collapse"] == date(2022, 10, 29)


VARIANTS = [
    (
        "glued-banner",  # banner shuffled, "new…" and "Subscribe…" glued, no page date
        date(2025, 11, 22),
        [
            ("Sparse Routing Makes Long-Context Agents Cheaper", 3, date(2025, 11, 7), None),
            ("A Note on Calibration of Small Reward Models", 1, date(2024, 10, 22), None),
        ],
    ),
    (
        "no-blank-lines",  # one line per field, "• 1 author · date" on one line
        date(2024, 7, 1),
        [
            ("Token Budgets for Reasoning Models", 7, date(2024, 6, 11), None),
            ("Diffusion Guidance Without Classifiers, Revisited", 2, date(2024, 6, 26), 14),
            ("Tiny Recurrent Models Can Count", 1, date(2023, 1, 30), None),
            ("A Dataset of Everyday Mathematical Questions", 12, date(2024, 5, 2), None),
        ],
    ),
    (
        "no-author-line",  # title + abstract only; one title ends with a period
        date(2025, 11, 22),
        [
            ("Scaling Laws for Sparse Autoencoders", None, None, None),
            ("Attention Sinks Explained.", None, None, None),
            ("A Survey of Retrieval-Augmented Generation", None, None, None),
        ],
    ),
    (
        "new-year",  # page "Jan 3": "Dec 30" is last year, "Jan 4" would be after the page
        date(2026, 1, 5),
        [
            ("Token Budgets for Reasoning Models", 4, date(2025, 12, 30), None),
            ("Tiny Recurrent Models Can Count", 2, date(2026, 1, 2), 5),
            ("Scaling Laws for Sparse Autoencoders", 3, date(2025, 1, 4), None),
            ("Attention Sinks Explained", 6, date(2024, 12, 31), None),
            ("A Survey of Retrieval-Augmented Generation", 5, date(2024, 2, 29), None),
        ],
    ),
    (
        "new-year",  # the page date "Jan 3" is after today: it is last year's
        date(2026, 1, 2),
        [
            ("Token Budgets for Reasoning Models", 4, date(2024, 12, 30), None),
            ("Tiny Recurrent Models Can Count", 2, date(2025, 1, 2), 5),
            ("Scaling Laws for Sparse Autoencoders", 3, date(2024, 1, 4), None),
            ("Attention Sinks Explained", 6, date(2024, 12, 31), None),
            ("A Survey of Retrieval-Augmented Generation", 5, date(2024, 2, 29), None),
        ],
    ),
    (
        "trailing-upvotes",  # "Oct 3, 2024 6", "Sep 14 2", "Jun 26 2024", votes on their own line
        date(2026, 6, 1),
        [
            ("Sparse Routing Makes Long-Context Agents Cheaper", 3, date(2024, 10, 3), 6),
            ("A Note on Calibration of Small Reward Models", 6, date(2025, 9, 14), 2),
            ("Token Budgets for Reasoning Models", 4, date(2024, 6, 26), None),
            ("Diffusion Guidance Without Classifiers, Revisited", 5, date(2025, 3, 4), 12),
            ("Tiny Recurrent Models Can Count", 1, date(2025, 3, 4), 3),
            ("A Dataset of Everyday Mathematical Questions", 2, date(2025, 7, 31), None),
        ],
    ),
]


@pytest.mark.parametrize(("name", "today", "expected"), VARIANTS)
def test_capture_variants(
    name: str, today: date, expected: list[tuple[str, int | None, date | None, int | None]]
) -> None:
    result = parse_capture(name, today)
    got = [(p.title, p.author_count, p.published, p.upvotes) for p in result.papers]
    assert got == expected
    assert result.problems == ()
    assert all(paper.abstract and len(paper.abstract) > 250 for paper in result.papers)


def test_abstracts_only_page_is_an_error_with_line_numbers() -> None:
    with pytest.raises(ParseError) as caught:
        parse_capture("abstracts-only", date(2025, 11, 22))
    message = str(caught.value)
    assert message.startswith(
        "capture-abstracts-only.txt: no papers found in this text; 5 problems"
    )
    assert "first at line 7: text without a title before it, skipped: 'Long-context" in message


def test_bad_blocks_are_reported_by_line_and_good_ones_kept() -> None:
    result = parse_capture("problems", date(2025, 11, 22))
    got = [(p.title, p.author_count, p.published, p.abstract is None) for p in result.papers]
    assert got == [
        ("Scaling Laws for Sparse Autoencoders", 3, date(2024, 6, 11), False),
        ("A Survey of Retrieval-Augmented Generation", 4, None, False),
        ("A Title With Nothing Else", 5, None, True),
    ]
    lines = [problem.split(": ", 1)[0] for problem in result.problems]
    assert lines == ["line 6", "line 7", "line 12", "line 14", "line 15", "line 16"]
    assert result.problems[2] == "line 12: no such date 'Feb 30, 2024', left unknown"
    assert result.problems[3] == "line 14: unreadable date 'last week', left unknown"
    assert result.problems[5].endswith("skipped: 'Load more'")


BANNERS = [
    "new\nGet trending papers in your email inbox!\nSubscribe\nDaily Papers\n"
    "byAK and the research community\nOct 28\n",
    "Oct 28\nDaily Papers\nSubscribe\n",
    "Subscribe\n\nnew\n\nOct 28\n\nGet trending papers in your email inbox once a day!\n",
    "  Daily Papers  \nSUBSCRIBE\n  byAK and the research communityOct 28\n",
    "Get trending papers in your email inbox!SubscribeOct 28",
    "newGet trending papers in your email inbox once a day!Subscribe\nOct 28, 2025\n",
    "Oct 28\nSubscribe",
]


@pytest.mark.parametrize("banner", BANNERS)
@pytest.mark.parametrize("glue", ["", "\n", "\n\n"])
def test_banners_in_any_order_and_glued_to_the_first_title(banner: str, glue: str) -> None:
    text = f"{banner.rstrip()}{glue}My Paper Title\n{ABSTRACT}\n• 2 authors · Sep 3 4\n"
    papers = parse_text(text).papers
    assert [(p.title, p.author_count, p.published, p.upvotes) for p in papers] == [
        ("My Paper Title", 2, date(2025, 9, 3), 4)
    ]
    assert papers[0].abstract == ABSTRACT


@pytest.mark.parametrize(
    ("first_line", "title"),
    [
        ("Subscribers Are Not Readers", "Subscribers Are Not Readers"),
        ("newer models are not better", "newer models are not better"),
        ("SubscribeNewton Methods Revisited", "Newton Methods Revisited"),
        ("Daily Papers as a Dataset", "Daily Papers as a Dataset"),
    ],
)
def test_titles_that_start_like_a_banner_are_kept(first_line: str, title: str) -> None:
    text = f"{first_line}\n{ABSTRACT}\n• 2 authors · Sep 3, 2024\n"
    assert [paper.title for paper in parse_text(text).papers] == [title]


@pytest.mark.parametrize(
    ("meta", "count", "published", "upvotes"),
    [
        ("• 7 authors\n·\nJun 11, 2024", 7, date(2024, 6, 11), None),
        ("• 7 authors · Jun 11, 2024", 7, date(2024, 6, 11), None),
        ("  • 1 author\n·\nJun 26", 1, date(2025, 6, 26), None),
        ("1 authors\n·\nOct 3, 2024 6", 1, date(2024, 10, 3), 6),
        ("7 authors ·\nSep 14 2", 7, date(2025, 9, 14), 2),
        ("• 7 authors\n· Jun 11, 2024", 7, date(2024, 6, 11), None),
        ("• 3 authors\n·\nMar 4\n12", 3, date(2025, 3, 4), 12),
        ("• 3 authors", 3, None, None),
        ("Jun 11, 2024", None, date(2024, 6, 11), None),
        ("·\nJune 11 2024", None, date(2024, 6, 11), None),
        ("• 4 authors · Sept. 9", 4, date(2025, 9, 9), None),
    ],
)
def test_author_and_date_group_shapes(
    meta: str, count: int | None, published: date | None, upvotes: int | None
) -> None:
    result = parse_text(f"Daily Papers\nNov 20\nA Title\n{ABSTRACT}\n{meta}\n")
    paper = result.papers[0]
    assert (paper.author_count, paper.published, paper.upvotes) == (count, published, upvotes)
    assert result.problems == ()


def test_entries_with_and_without_author_lines_mixed_without_blank_lines() -> None:
    text = (
        f"First Title\n{ABSTRACT}\nSecond Title\n{ABSTRACT} Two.\n• 4 authors · Jan 2, 2024\n"
        f"Third Title\n{ABSTRACT} Three.\n"
    )
    papers = parse_text(text).papers
    assert [(p.title, p.author_count, p.published) for p in papers] == [
        ("First Title", None, None),
        ("Second Title", 4, date(2024, 1, 2)),
        ("Third Title", None, None),
    ]
    assert papers[1].abstract == f"{ABSTRACT} Two."


def test_title_only_entries_need_an_author_line() -> None:
    result = parse_text("A Title Alone\n• 3 authors · May 1, 2024\nSomething Else\n")
    assert [(p.title, p.abstract) for p in result.papers] == [("A Title Alone", None)]
    assert result.problems == (
        "line 3: no abstract and no author/date line, skipped: 'Something Else'",
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n   \n",
        "Subscribe\nDaily Papers\nOct 28\n",
        f"{ABSTRACT}\n\n{ABSTRACT}\n",
        "• 3 authors\n·\nJun 1, 2024\n",
        "12\n---\n",
    ],
)
def test_text_without_papers_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_text(text, origin="page.txt")
    assert str(caught.value).startswith("page.txt: no papers found in this text")


@pytest.mark.parametrize(
    ("data", "title"),
    [
        (b"\xef\xbb\xbfA Title\r\n" + ABSTRACT.encode() + b"\r\n", "A Title"),
        (("Ein Titel\n" + ABSTRACT).encode("utf-16"), "Ein Titel"),
        ("Über Titel mit Ümlauten\n".encode() + ABSTRACT.encode(), "Über Titel mit Ümlauten"),
    ],
)
def test_encodings_and_line_endings(data: bytes, title: str) -> None:
    result = parse_bytes(data, source="text", origin="x", today=date(2025, 1, 1))
    assert [(paper.title, paper.abstract) for paper in result.papers] == [(title, ABSTRACT)]


def test_undecodable_bytes_are_a_parse_error() -> None:
    with pytest.raises(ParseError, match=r"^page.txt: not UTF-8 text: bad byte at offset 7"):
        parse_bytes(b"A Title\xff\n", source="text", origin="page.txt", today=date(2025, 1, 1))
