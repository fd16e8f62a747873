"""Rank: choose and order the papers of one email. Pure: no clock, no I/O.

Trending score = community signal (upvotes, comments, GitHub stars) decayed by age with a
half-life, so a paper with 40 upvotes today beats one with 60 from last week. Papers the
reader was already shown are left out. Ties break on upvotes, then on id, so the same input
always gives the same order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from digest.models import Paper, RankedPaper


@dataclass(frozen=True, slots=True)
class RankSettings:
    size: int = 10
    half_life_days: float = 3.0


def signal(paper: Paper) -> float:
    """Community signal: upvotes, plus comments and (damped) GitHub stars."""
    upvotes = paper.upvotes or 0
    comments = paper.comments or 0
    stars = math.log2(1 + (paper.github_stars or 0))
    return 1.0 + upvotes + 0.5 * comments + stars


def age_days(paper: Paper, today: date) -> int | None:
    """Days since the paper reached Daily Papers (or was published); None when unknown."""
    day = paper.daily_date or paper.published
    return max(0, (today - day).days) if day else None


def trending_score(paper: Paper, today: date, half_life_days: float) -> float:
    age = age_days(paper, today)
    decay = 0.5 ** (age / half_life_days) if age is not None else 0.5
    return signal(paper) * decay


def rank_trending(
    papers: Iterable[Paper],
    *,
    today: date,
    shown: frozenset[str] = frozenset(),
    settings: RankSettings = RankSettings(),
) -> tuple[RankedPaper, ...]:
    """The top ``settings.size`` papers not in ``shown``, best first, each with its reason."""
    scored = [
        (trending_score(p, today, settings.half_life_days), p) for p in papers if p.id not in shown
    ]
    scored.sort(key=lambda sp: (-sp[0], -(sp[1].upvotes or 0), sp[1].id))
    return tuple(
        RankedPaper(paper=p, score=round(score, 4), reason=explain(p, today))
        for score, p in scored[: settings.size]
    )


def explain(paper: Paper, today: date) -> str:
    """The one-line reason shown under a paper: ``42 upvotes · 2 days old``."""
    parts = []
    if paper.upvotes is not None:
        parts.append(_plural(paper.upvotes, "upvote"))
    if paper.comments:
        parts.append(_plural(paper.comments, "comment"))
    if paper.github_stars:
        parts.append(f"{paper.github_stars} GitHub stars")
    age = age_days(paper, today)
    if age is not None:
        parts.append("today" if age == 0 else f"{_plural(age, 'day')} old")
    return " · ".join(parts) or "new on the list"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
