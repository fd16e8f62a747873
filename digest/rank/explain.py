"""The one-line reason under each chosen paper: ``matches "diffusion guidance" · 42 upvotes ·
2 days old``. Built from the parts that chose it: the reader's matched topic words or
followed author, then the paper's community signal and age."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from digest.models import Paper
from digest.rank.relevance import PaperIndex, Topic, follows
from digest.rank.trending import age_days


class Explainer:
    """Reasons for one edition's papers; readers share them, so they are cached."""

    def __init__(self, papers: Sequence[Paper], index: PaperIndex, today: date) -> None:
        self.papers, self.index = papers, index
        self._trend = [trend_reason(p, today) for p in papers]
        self._cache: dict[tuple[str, int], str] = {}

    def reason(self, col: int, topic: Topic | None, authors: Sequence[str]) -> str:
        """Why paper ``col`` was chosen: the ``topic`` it matched, or a followed author."""
        if authors:
            return " · ".join([self._by(col, authors), self._trend[col]])
        if topic is None:
            return self._trend[col]
        key = (topic.text, col)
        found = self._cache.get(key)
        if found is None:
            matched = self.index.matched_words(topic, col)
            quoted = ", ".join(f'"{w}"' for w in matched) or f'"{topic.text}"'
            found = self._cache[key] = f"matches {quoted} · {self._trend[col]}"
        return found

    def _by(self, col: int, authors: Sequence[str]) -> str:
        names = [n for n in self.papers[col].authors if any(follows(a, n) for a in authors)]
        return "by " + ", ".join(names[:2]) + " (followed)"


def trend_reason(paper: Paper, today: date) -> str:
    """The paper's community signal and age: ``42 upvotes · 3 comments · 2 days old``."""
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
