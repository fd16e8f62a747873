"""The one-line reason under each chosen paper says *why* it was chosen, never how much
(the email's stats line says that): ``matches "diffusion guidance"``, ``you follow Ada
Lovelace`` or ``trending #2 today``. Each reason comes with a short label of what matched
(``on diffusion guidance``, ``by Ada Lovelace``; empty for trending) that the email's intro
counts ("3 on diffusion, and today's top 5")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from digest.models import Paper
from digest.rank.relevance import PaperIndex, Topic, follows
from digest.rank.trending import age_days

#: What a reason calls the edition's period.
WHEN = {"day": "today", "week": "this week", "month": "this month"}


class Explainer:
    """Reasons for one edition's papers; readers share them, so they are cached."""

    def __init__(
        self,
        papers: Sequence[Paper],
        index: PaperIndex,
        today: date,
        order: Sequence[int] = (),
        period: str = "day",
    ) -> None:
        self.papers, self.index = papers, index
        when = WHEN.get(period, "today")
        place = {col: n for n, col in enumerate(order, start=1)}
        self._trend = [
            f"trending #{place[col]} {when}" if col in place else "new on the list"
            for col in range(len(papers))
        ]
        self._cache: dict[tuple[str, int], str] = {}

    def reason(self, col: int, topic: Topic | None, authors: Sequence[str]) -> str:
        """Why paper ``col`` was chosen: the ``topic`` it matched, a followed author, or
        its place in the edition's trending order."""
        if authors:
            return "you follow " + ", ".join(self._followed(col, authors)[:2])
        if topic is None:
            return self._trend[col]
        key = (topic.text, col)
        found = self._cache.get(key)
        if found is None:
            matched = self.index.matched_words(topic, col)
            quoted = ", ".join(f'"{w}"' for w in matched) or f'"{topic.text}"'
            found = self._cache[key] = f"matches {quoted}"
        return found

    def label(self, col: int, topic: Topic | None, authors: Sequence[str]) -> str:
        """What the paper matched, for the intro: ``on <topic>``, ``by <author>``, or ``""``."""
        if authors:
            names = self._followed(col, authors)
            return f"by {names[0]}" if names else ""
        return f"on {topic.text}" if topic is not None else ""

    def _followed(self, col: int, authors: Sequence[str]) -> list[str]:
        return [n for n in self.papers[col].authors if any(follows(a, n) for a in authors)]


def trend_reason(paper: Paper, today: date) -> str:
    """The paper's community signal and age: ``42 upvotes · 3 comments · 2 days old``
    (``digest rank --explain`` and the benchmarks; emails show a paper's stats line)."""
    parts = []
    if paper.upvotes is not None:
        parts.append(_plural(paper.upvotes, "upvote"))
    if paper.comments:
        parts.append(_plural(paper.comments, "comment"))
    if paper.github_stars:
        parts.append(f"{paper.github_stars:,} GitHub stars")
    age = age_days(paper, today)
    if age is not None:
        parts.append("today" if age == 0 else f"{_plural(age, 'day')} old")
    return " · ".join(parts) or "new on the list"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"
