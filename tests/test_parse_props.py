"""Property tests: no input makes a parser raise anything but ParseError, or emit a bad Paper."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fuzz import SETTINGS, mutated, parse_or_error
from hypothesis import given
from hypothesis import strategies as st

from digest.parse import KINDS as ALL_KINDS
from digest.parse import parse_bytes

FIXTURES = Path(__file__).parent / "fixtures"
SMALL_FIXTURES = sorted(
    path
    for path in FIXTURES.glob("*")
    if path.name.startswith(("hf-", "capture-", "arxiv-", "feed-")) and path.stat().st_size < 40_000
)
KINDS = ["auto", *ALL_KINDS]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
dates = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))


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


@pytest.mark.parametrize("path", SMALL_FIXTURES, ids=lambda path: path.name)
@SETTINGS
@given(data=st.data())
def test_mutated_fixtures(path: Path, data: st.DataObject) -> None:
    mutant = data.draw(mutated([path.read_bytes()]))
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
