"""Trending: signal decayed by age, never repeat, deterministic ties, explained."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from digest.models import Paper
from digest.rank import RankSettings, explain, rank_trending

TODAY = date(2025, 11, 26)


def paper(pid: str, upvotes: int | None, age: int | None, **kw: object) -> Paper:
    day = TODAY - timedelta(days=age) if age is not None else None
    return Paper(id=pid, title=f"Paper {pid}", upvotes=upvotes, daily_date=day, **kw)  # type: ignore[arg-type]


def ids(papers: list[Paper], **kw: object) -> list[str]:
    return [r.paper.id for r in rank_trending(papers, today=TODAY, **kw)]  # type: ignore[arg-type]


def test_fresh_beats_old_and_popular() -> None:
    assert ids([paper("old", 60, 7), paper("new", 40, 0)]) == ["new", "old"]


def test_same_age_orders_by_signal() -> None:
    assert ids([paper("a", 5, 1), paper("b", 50, 1), paper("c", 20, 1)]) == ["b", "c", "a"]


def test_ties_break_on_id_whatever_the_input_order() -> None:
    papers = [paper("b", 10, 1), paper("a", 10, 1), paper("c", 10, 1)]
    assert ids(papers) == ids(list(reversed(papers))) == ["a", "b", "c"]


def test_shown_papers_are_never_repeated() -> None:
    papers = [paper("a", 50, 0), paper("b", 40, 0), paper("c", 30, 0)]
    assert ids(papers, shown=frozenset({"a"})) == ["b", "c"]


def test_size_limits_the_email() -> None:
    papers = [paper(str(n), n, 0) for n in range(30)]
    assert len(ids(papers, settings=RankSettings(size=10))) == 10


def test_unknown_upvotes_and_dates_still_rank() -> None:
    assert ids([paper("x", None, None), paper("y", 3, 0)]) == ["y", "x"]


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (paper("a", 42, 2), "42 upvotes · 2 days old"),
        (paper("a", 1, 0, comments=3), "1 upvote · 3 comments · today"),
        (paper("a", None, None), "new on the list"),
    ],
)
def test_reason_line(p: Paper, expected: str) -> None:
    assert explain(p, TODAY) == expected
