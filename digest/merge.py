"""Merge: the same paper from several sources becomes one paper (PRODUCT §3).

Two records are the same paper when they share an id (an arXiv id, version stripped by the
parsers) or, failing that, a normalised title. The merged paper keeps the richest value of
each field, the highest counts and every source name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields, replace
from typing import Any

from digest.models import Paper, title_key

_COUNTS = ("upvotes", "comments", "github_stars", "author_count")
_LONGEST = ("abstract", "ai_summary", "authors", "keywords")


def merge_papers(papers: Iterable[Paper]) -> tuple[Paper, ...]:
    """One paper per distinct paper, in order of first appearance."""
    merged: list[Paper] = []
    by_id: dict[str, int] = {}
    by_title: dict[str, int] = {}
    for paper in papers:
        key = title_key(paper.title)
        index = by_id.get(paper.id, by_title.get(key))
        if index is None:
            index = len(merged)
            merged.append(paper)
        else:
            merged[index] = merge_two(merged[index], paper)
        by_id[merged[index].id] = by_id[paper.id] = index
        by_title[key] = by_title[title_key(merged[index].title)] = index
    return tuple(merged)


def merge_two(a: Paper, b: Paper) -> Paper:
    """``a`` completed and upgraded with what ``b`` knows."""
    changes: dict[str, Any] = {}
    for f in fields(Paper):
        mine, theirs = getattr(a, f.name), getattr(b, f.name)
        changes[f.name] = _pick(f.name, mine, theirs)
    changes["id"] = b.id if a.id.startswith("title-") and not b.id.startswith("title-") else a.id
    changes["sources"] = tuple(dict.fromkeys(a.sources + b.sources))
    return replace(a, **changes)


def _pick(name: str, mine: Any, theirs: Any) -> Any:
    if mine is None or mine == () or mine == "":
        return theirs
    if theirs is None or theirs == () or theirs == "":
        return mine
    if name in _COUNTS:
        return max(mine, theirs)
    if name in _LONGEST:
        return theirs if len(theirs) > len(mine) else mine
    return mine
