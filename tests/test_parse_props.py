"""Property tests: no input makes a parser raise anything but ParseError, or emit a bad Paper."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.errors import ParseError
from digest.models import Paper, ParseResult
from digest.parse import KINDS as ALL_KINDS
from digest.parse import parse_bytes

FIXTURES = Path(__file__).parent / "fixtures"
SMALL_FIXTURES = sorted(
    path
    for path in FIXTURES.glob("*")
    if path.name.startswith(("hf-", "capture-")) and path.stat().st_size < 40_000
)
KINDS = ["auto", *ALL_KINDS]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
dates = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))


def parse_or_error(data: bytes, kind: str, today: date = date(2025, 11, 22)) -> ParseResult | None:
    """Parse; a ParseError is an allowed outcome (None), anything else fails the test."""
    try:
        result = parse_bytes(data, kind=kind, source="prop", origin="prop.bin", today=today)
    except ParseError as exc:
        assert str(exc).strip()
        return None
    for paper in result.papers:
        check_paper(paper)
    assert all("\n" not in problem for problem in result.problems)
    return result


def check_paper(paper: Paper) -> None:
    """The §5.1 field types hold whatever the input was."""
    assert paper.title and paper.title == " ".join(paper.title.split())
    assert paper.id and paper.sources == ("prop",)
    assert paper.abstract is None or (paper.abstract and "\n" not in paper.abstract)
    assert all(isinstance(name, str) and name for name in paper.authors)
    assert all(isinstance(word, str) and word for word in paper.keywords)
    for count in (paper.author_count, paper.upvotes, paper.comments, paper.github_stars):
        assert count is None or (type(count) is int and count >= 0)
    for day in (paper.published, paper.daily_date):
        assert day is None or type(day) is date
    for text in (paper.github_url, paper.ai_summary, paper.url, paper.pdf_url):
        assert text is None or (isinstance(text, str) and text)


@SETTINGS
@given(data=st.binary(max_size=2_000), kind=st.sampled_from(KINDS), today=dates)
def test_random_bytes(data: bytes, kind: str, today: date) -> None:
    parse_or_error(data, kind, today)


@SETTINGS
@given(text=st.text(max_size=2_000), kind=st.sampled_from(KINDS), today=dates)
def test_random_text(text: str, kind: str, today: date) -> None:
    parse_or_error(text.encode(), kind, today)


capture_lines = st.lists(
    st.sampled_from(
        [
            "",
            "Subscribe",
            "SubscribeA Title",
            "Oct 28",
            "Dec 31, 2024",
            "Feb 29",
            "Feb 30 3",
            "• 7 authors",
            "1 author · Jun 26 2",
            "·",
            "12",
            "A Short Title",
            "A Title Ending With a Period.",
            "An abstract sentence that goes on. " * 12,
        ]
    )
    | st.text(max_size=40),
    max_size=40,
)


@SETTINGS
@given(lines=capture_lines, today=dates)
def test_capture_shaped_text(lines: list[str], today: date) -> None:
    parse_or_error("\n".join(lines).encode(), "text", today)


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """The fixture with a few slices deleted, duplicated or overwritten by random bytes."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(data)))
        end = draw(st.integers(start, min(len(data), start + 200)))
        action = draw(st.sampled_from(["delete", "duplicate", "replace"]))
        if action == "delete":
            del data[start:end]
        elif action == "duplicate":
            data[start:start] = data[start:end]
        else:
            data[start:end] = draw(st.binary(max_size=20))
    return bytes(data)


@pytest.mark.parametrize("path", SMALL_FIXTURES, ids=lambda path: path.name)
@SETTINGS
@given(data=st.data())
def test_mutated_fixtures(path: Path, data: st.DataObject) -> None:
    mutant = data.draw(mutated(path.read_bytes()))
    parse_or_error(mutant, data.draw(st.sampled_from(KINDS)))


@SETTINGS
@given(data=st.data())
def test_items_with_random_field_values(data: st.DataObject) -> None:
    items: list[Any] = json.loads((FIXTURES / "hf-daily-edge.json").read_text())
    for _ in range(data.draw(st.integers(1, 6))):
        item = items[data.draw(st.integers(0, len(items) - 1))]
        target = item.get("paper", item) if isinstance(item, dict) else None
        if isinstance(target, dict) and target:
            key = data.draw(st.sampled_from(sorted(target)))
            target[key] = data.draw(json_values)
    result = parse_or_error(json.dumps(items).encode(), "hf-daily")
    assert result is not None  # a list of items is always readable, item by item


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
ABSTRACT = "We study a thing. It works well in practice, and we explain why in detail. " * 5
non_leap_days = st.dates(date(2023, 1, 1), date(2023, 12, 31))


@SETTINGS
@given(page=non_leap_days, entry=non_leap_days, today=st.dates(date(1990, 1, 1), date(2090, 1, 1)))
def test_year_less_dates_fall_in_the_year_before_the_page_date(
    page: date, entry: date, today: date
) -> None:
    text = (
        f"Daily Papers\n{MONTHS[page.month - 1]} {page.day}\nA Title\n{ABSTRACT}\n"
        f"• 2 authors · {MONTHS[entry.month - 1]} {entry.day}\n"
    )
    published = parse_bytes(text.encode(), source="p", today=today).papers[0].published
    page_date = max(
        page.replace(year=year)
        for year in (today.year - 1, today.year)
        if page.replace(year=year) <= today
    )
    assert published is not None and (published.month, published.day) == (entry.month, entry.day)
    assert 0 <= (page_date - published).days < 366
