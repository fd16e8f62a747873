"""The text parser: the two real captures, hand-made variants of every §5.2 shape, dates,
and captures generated in many shapes from real HF items (tests/capture_shapes.py)."""

from __future__ import annotations

import random
import textwrap
from datetime import date
from pathlib import Path

import pytest
from capture_shapes import HARD_SHAPES, SHAPES, Expected, load_items, random_shape, render

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
        ("● 3 Authors ∙ Published on Jun 11, 2024 5", 3, date(2024, 6, 11), 5),
        ("3 authors\n⋅\nPublished on Jun 11", 3, date(2025, 6, 11), None),
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


# Captures generated from real HF items (tests/capture_shapes.py), with known ground truth -----

SLICE = load_items(FIXTURES / "hf-daily-mixed-slice.json")
PAGE = date(2025, 12, 1)


def truth(
    expected: list[Expected],
) -> list[tuple[str, str | None, int | None, date | None, int | None]]:
    return [(e.title, e.abstract, e.authors, e.published, e.upvotes) for e in expected]


def found(
    papers: tuple[Paper, ...],
) -> list[tuple[str, str | None, int | None, date | None, int | None]]:
    return [(p.title, p.abstract, p.author_count, p.published, p.upvotes) for p in papers]


@pytest.mark.parametrize("name", SHAPES)
def test_generated_captures_of_sixty_real_items(name: str) -> None:
    text, today, expected, organisations = render(SLICE, SHAPES[name], PAGE, seed=1)
    result = parse_text(text, today)
    assert found(result.papers) == truth(expected)
    # Organisation names on day pages cannot be told from titles: reported, never papers.
    assert len(result.problems) == organisations
    assert all("no abstract and no author/date line" in p for p in result.problems)


@pytest.mark.parametrize("name", HARD_SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_what_cannot_be_read_is_reported_not_guessed(name: str, seed: int) -> None:
    text, today, expected, _ = render(SLICE, HARD_SHAPES[name], PAGE, seed=seed)
    result = parse_text(text, today)
    wanted = truth(expected)
    assert set(found(result.papers)) <= set(wanted)
    missed = len(wanted) - len(result.papers)
    assert missed <= 2
    assert sum("text without a title" in problem for problem in result.problems) == missed


def test_random_shapes_floor() -> None:
    """Every axis at once, at random: an accuracy floor, measured as in capture_shapes.py."""
    rng = random.Random(11)
    right = total = made_up = 0
    for seed in range(60):
        shape = random_shape(rng)
        start = rng.randrange(len(SLICE))
        items = (SLICE[start:] + SLICE[:start])[: rng.randint(1, 30)]
        text, today, expected, _ = render(items, shape, PAGE, seed=seed)
        try:
            papers = parse_text(text, today).papers
        except ParseError:
            papers = ()
        wanted = set(truth(expected))
        right += len(wanted & set(found(papers)))
        made_up += len({p.title for p in papers} - {e.title for e in expected})
        total += len(wanted)
    assert right >= 0.98 * total
    assert made_up <= 0.005 * total


DAY_PAGE = [
    ("SAM 3: Segment Anything with Concepts", 38, date(2025, 11, 20)),
    (
        "Tiny Model, Big Logic: Diversity-Driven Optimization Elicits Large-Model Reasoning "
        "Ability in VibeThinker-1.5B",
        10,
        date(2025, 11, 9),
    ),
    (
        "Toward the Frontiers of Reliable Diffusion Sampling via Adversarial Sinkhorn Attention "
        "Guidance",
        1,
        date(2025, 11, 10),
    ),
    (
        "π_RL: Online RL Fine-tuning for Flow-based Vision-Language-Action Models",
        13,
        date(2025, 10, 29),
    ),
    (
        "INT v.s. FP: A Comprehensive Study of Fine-Grained Low-bit Quantization Formats",
        13,
        date(2025, 10, 29),
    ),
    ("NVIDIA Nemotron Nano V2 VL", 126, date(2025, 11, 6)),
]


def test_day_page_lines_are_skipped_and_organisations_reported() -> None:
    """``Submitted by``, upvote and comment counts go; organisation names are reported."""
    result = parse_capture("hf-day-page", date(2025, 11, 27))
    got = [(p.title, p.author_count, p.published, p.upvotes) for p in result.papers]
    assert got == [(title, count, day, None) for title, count, day in DAY_PAGE]
    assert all(paper.abstract and len(paper.abstract) > 500 for paper in result.papers)
    assert result.problems == tuple(
        f"line {line}: no abstract and no author/date line, skipped: {name!r}"
        for line, name in [
            (15, "AI at Meta"),
            (26, "WeiboAI"),
            (47, "RLinf"),
            (56, "ByteDance Seed"),
            (67, "NVIDIA"),
        ]
    )


def test_capture_hard_wrapped_at_80_columns_without_blank_lines() -> None:
    result = parse_capture("wrapped-80", date(2024, 6, 29))
    got = [(p.title, p.author_count, p.published, p.upvotes) for p in result.papers]
    assert got == [
        ("Is Programming by Example solved by LLMs?", 2, date(2024, 6, 12), 13),
        (
            "τ-bench: A Benchmark for Tool-Agent-User Interaction in Real-World Domains",
            4,
            date(2024, 6, 17),
            10,
        ),
        (
            "Benchmarking Multi-Image Understanding in Vision and Language Models: Perception, "
            "Knowledge, Reasoning, and Multi-Hop Reasoning",
            4,
            date(2024, 6, 18),
            15,
        ),
        ("An Image is Worth 32 Tokens for Reconstruction and Generation", 6, date(2024, 6, 11), 60),
        ("Breaking the Attention Bottleneck", 1, date(2024, 6, 16), 4),
        (
            "How Do Large Language Models Acquire Factual Knowledge During Pretraining?",
            7,
            date(2024, 6, 17),
            31,
        ),
    ]
    assert result.problems == ()
    first = result.papers[0].abstract or ""
    # Words broken after a hyphen are whole again; "pre- and post-" would keep its space.
    assert "from an end-user perspective" in first and "fine-tuned" in first
    assert "\n" not in first and first.endswith("identifying ways in which LLMs still fall short.")


# Hand-made shapes that used to be misread -------------------------------------------------


@pytest.mark.parametrize(
    "abstract",
    [
        "We scale sparse autoencoders to a billion features",
        "Sparse autoencoders recover features from activations",
        "A short note on features",
    ],
)
@pytest.mark.parametrize("meta", ["• 3 authors · Oct 1\n", ""])
def test_short_abstract_without_a_period_under_its_title(abstract: str, meta: str) -> None:
    text = f"Subscribe\nOct 28\nSparse Autoencoders at Scale\n{abstract}\n{meta}"
    papers = parse_text(text).papers
    assert [(p.title, p.abstract) for p in papers] == [("Sparse Autoencoders at Scale", abstract)]


def test_title_like_short_abstract_on_a_page_of_abstracts() -> None:
    text = (
        f"Token Budgets for Reasoning Models\n{ABSTRACT}\n• 2 authors · Oct 1\n"
        "Calibration of Small Reward Models\nLarge Language Models Are Overconfident Judges\n"
        f"• 3 authors · Oct 2\nTiny Recurrent Models Can Count\n{ABSTRACT}\n• 1 author · Oct 3\n"
    )
    papers = parse_text(text).papers
    assert [(p.title, p.abstract) for p in papers] == [
        ("Token Budgets for Reasoning Models", ABSTRACT),
        ("Calibration of Small Reward Models", "Large Language Models Are Overconfident Judges"),
        ("Tiny Recurrent Models Can Count", ABSTRACT),
    ]


ODD_TITLES = [
    "Are We Done with MMLU?",
    "Stop Overthinking!",
    "GPT-4.5 Scales: What Changes at 10^26 FLOPs",
    "Dr. Who Meets Transformers: Time Travel in Attention",
    "INT v.s. FP: A Comprehensive Study of Fine-Grained Low-bit Quantization Formats",
    "μLO: Compute-Efficient Meta-Generalization of Learned Optimizers",
    "多模态推理 Benchmark: Évaluation des Modèles",
    "Attention Sinks Explained.",
    "From RAGs to rich parameters: Probing how language models utilize external knowledge over "
    "parametric information for factual queries",
]


@pytest.mark.parametrize("title", ODD_TITLES)
@pytest.mark.parametrize("separator", ["\n", "\n\n"])
@pytest.mark.parametrize("meta", ["• 4 authors · Jun 3, 2024", ""])
def test_titles_with_odd_punctuation_and_scripts(title: str, separator: str, meta: str) -> None:
    entry = separator.join(part for part in (title, ABSTRACT, meta) if part)
    text = separator.join(["Daily Papers", entry, "Second Paper Title", ABSTRACT, meta])
    papers = parse_text(text).papers
    assert [(p.title, p.abstract) for p in papers] == [
        (title, ABSTRACT),
        ("Second Paper Title", ABSTRACT),
    ]


def test_wrapped_page_of_abstracts_is_not_given_titles() -> None:
    abstracts = [item.abstract for item in SLICE[:6]]
    wrapped = ["\n".join(textwrap.wrap(abstract, 80)) for abstract in abstracts]
    text = "Daily Papers\nOct 28\n" + "\n• 3 authors\n·\nOct 1\n".join(wrapped) + "\n"
    with pytest.raises(ParseError, match="no papers found in this text; 11 problems"):
        parse_text(text)


def test_a_stray_line_does_not_take_the_author_line_of_an_abstract_without_title() -> None:
    text = f"Daily Papers\nNVIDIA\n3 comments\n{ABSTRACT}\n• 4 authors · Oct 1\n"
    with pytest.raises(ParseError) as caught:
        parse_text(text)
    assert "first at line 2: no abstract and no author/date line, skipped: 'NVIDIA'" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("first_line", "title"),
    [
        ("SUBSCRIBEToken Budgets", "Token Budgets"),
        ("Subscribe μLO: Learned Optimizers", "μLO: Learned Optimizers"),
        ("Subscribexlstm Revisited", "Subscribexlstm Revisited"),
        ("New Methods for Old Problems", "New Methods for Old Problems"),
        ("NEW Methods for Old Problems", "NEW Methods for Old Problems"),
        ("byAK and the research communityOct 28Token Budgets", "Token Budgets"),
    ],
)
def test_banner_glued_in_any_case(first_line: str, title: str) -> None:
    text = f"{first_line}\n{ABSTRACT}\n• 2 authors · Sep 3, 2024\n"
    assert [paper.title for paper in parse_text(text).papers] == [title]


@pytest.mark.parametrize(
    "noise",
    [
        "\r",  # old Mac line ends
        "\r\r\n",  # Windows line ends written twice
        "\u200b",  # zero-width spaces from a copy-paste
        "\u00a0",  # non-breaking spaces
        "\t ",  # tabs and trailing spaces
    ],
)
def test_invisible_differences_in_line_ends_and_spaces(noise: str) -> None:
    lines = ["Daily Papers", "Jun 28", "Token Budgets for Reasoning Models", ABSTRACT]
    lines += ["• 7 authors", "·", "Jun 11, 2024 6"]
    if noise in ("\r", "\r\r\n"):
        text = noise.join(lines)
    else:
        text = "\n".join(line.replace(" ", noise + " ", 2) + noise for line in lines)
    papers = parse_text(text).papers
    assert found(papers) == [
        ("Token Budgets for Reasoning Models", ABSTRACT, 7, date(2024, 6, 11), 6)
    ]


def test_hyphens_at_wrapped_line_ends() -> None:
    text = """Daily Papers
Token Budgets for Open Vision-Language-
Action Models
We compare the budgets spent during pre-
and post-training of vision-language-
action models, and release all of them.
The results are surprising in three ways
that we describe in detail, and we share
the code so that others can check them.
• 2 authors · Jun 3, 2024
"""
    paper = parse_text(text).papers[0]
    assert paper.title == "Token Budgets for Open Vision-Language-Action Models"
    assert (paper.abstract or "").startswith(
        "We compare the budgets spent during pre- and post-training of vision-language-action "
        "models, and release all of them. The results"
    )
