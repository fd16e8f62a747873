"""Merge: the same paper from several sources becomes one paper (PRODUCT §3).

Two records are the same paper when they share an arXiv id, found in the ``id`` (version
dropped: ``2511.07321v2`` is ``2511.07321``), in an HF paper URL
(``https://huggingface.co/papers/<arXiv id>``) or in an arXiv abs/pdf URL (``url`` or
``pdf_url``). A record with no arXiv id at all (a text capture's ``title-…`` hash) is the
same paper as any record with the same normalised title (``models.title_key``), and the merged
paper takes the arXiv id. The title never joins two records with *different* arXiv ids (arXiv
holds distinct papers with the same title); a title-only record whose title several of them
share joins the one seen first.

Sameness is transitive (A ~ B by title and B ~ C by id: one paper), so records are grouped
with a union-find over one index dict per key kind, never compared pairwise. Each group becomes
one paper, in order of first appearance, keeping:

- ``id``: the lead record's arXiv id, else the first arXiv id a link names, else its own id;
- the richest value of each field: the longest abstract, AI summary and keyword list, the
  authors of the record with the most names (ties: the larger value, not the earlier one);
- ``author_count``: the largest of the known counts and the number of authors kept;
- the highest ``upvotes``, ``comments`` and ``github_stars``;
- the earliest ``published`` and ``daily_date`` (a paper has one Daily Papers day);
- title, ``url``, ``pdf_url`` and ``github_url`` from the lead record (the first one whose
  ``id`` is an arXiv id, else the first), gaps filled by the others in order;
- every source name, in order of first appearance.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date
from typing import TypeVar

from digest.models import ARXIV_ID, ARXIV_VERSION, Paper, arxiv_id, arxiv_id_of, title_key

_ARXIV_URL = re.compile(
    rf"(?i:https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/){ARXIV_ID}{ARXIV_VERSION}"
    r"(?i:\.pdf)?/?(?:[?#].*)?"
)
_HF_URL = re.compile(
    rf"(?i:https?://(?:www\.)?(?:huggingface\.co|hf\.co)/papers/){ARXIV_ID}{ARXIV_VERSION}"
    r"/?(?:[?#].*)?"
)

_Sized = TypeVar("_Sized", str, tuple[str, ...])


def arxiv_id_in_url(url: str | None) -> str | None:
    """The versionless arXiv id of an arXiv abs/pdf URL or an HF paper URL, else None."""
    text = (url or "").strip()
    return arxiv_id_of(_ARXIV_URL.fullmatch(text) or _HF_URL.fullmatch(text))


def arxiv_ids(paper: Paper) -> tuple[str, ...]:
    """Every arXiv id a record names, its own ``id`` first; empty for a title-only record."""
    found = (arxiv_id(paper.id), arxiv_id_in_url(paper.url), arxiv_id_in_url(paper.pdf_url))
    return tuple(dict.fromkeys(found_id for found_id in found if found_id))


def merge_papers(papers: Iterable[Paper]) -> tuple[Paper, ...]:
    """One paper per distinct paper, in order of first appearance."""
    records = tuple(papers)
    ids = [arxiv_ids(paper) for paper in records]
    return tuple(
        _combine([records[i] for i in group], [name for i in group for name in ids[i]])
        for group in _groups(records, ids)
    )


class _UnionFind:
    """Disjoint sets of record indexes; a set's root is its smallest index (first seen)."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, index: int) -> int:
        root = index
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[index] != root:  # path compression keeps later finds O(1)
            self.parent[index], index = root, self.parent[index]
        return root

    def union(self, a: int, b: int) -> None:
        first, second = sorted((self.find(a), self.find(b)))
        self.parent[second] = first


def _groups(records: Sequence[Paper], ids: Sequence[tuple[str, ...]]) -> list[list[int]]:
    """Indexes of the records that are one paper, groups in order of first appearance."""
    sets = _UnionFind(len(records))
    _link_by_arxiv_id(ids, sets)
    _link_by_title(records, ids, sets)
    groups: dict[int, list[int]] = {}
    for index in range(len(records)):
        groups.setdefault(sets.find(index), []).append(index)
    return list(groups.values())


def _link_by_arxiv_id(ids: Sequence[tuple[str, ...]], sets: _UnionFind) -> None:
    first_with: dict[str, int] = {}
    for index, names in enumerate(ids):
        for name in names:
            sets.union(first_with.setdefault(name, index), index)


def _link_by_title(
    records: Sequence[Paper], ids: Sequence[tuple[str, ...]], sets: _UnionFind
) -> None:
    """Join each title-only record to the first group with an arXiv id and its title, else to
    the first title-only record with its title. Only title-only records move, so two groups
    with different arXiv ids never meet here."""
    first_group: dict[str, int] = {}
    first_loose: dict[str, int] = {}
    for index, paper in enumerate(records):
        key = title_key(paper.title)
        if ids[index]:
            root = sets.find(index)
            first_group[key] = min(root, first_group.get(key, root))
        else:
            first_loose.setdefault(key, index)
    for index, paper in enumerate(records):
        if not ids[index]:
            key = title_key(paper.title)
            sets.union(first_group.get(key, first_loose[key]), index)


def _combine(records: Sequence[Paper], linked: Sequence[str]) -> Paper:
    """One paper from records of the same paper (in input order), by the rules above;
    ``linked`` holds the arXiv ids they name, in order."""
    lead = next((paper for paper in records if arxiv_id(paper.id)), records[0])
    lead_first = [lead, *records]
    authors = _richest(paper.authors for paper in records) or ()
    return replace(
        lead,
        id=arxiv_id(lead.id) or next(iter(linked), lead.id),
        abstract=_richest(paper.abstract for paper in records),
        authors=authors,
        author_count=_highest([paper.author_count for paper in records], len(authors) or None),
        published=_earliest(paper.published for paper in records),
        daily_date=_earliest(paper.daily_date for paper in records),
        upvotes=_highest([paper.upvotes for paper in records]),
        comments=_highest([paper.comments for paper in records]),
        github_stars=_highest([paper.github_stars for paper in records]),
        ai_summary=_richest(paper.ai_summary for paper in records),
        keywords=_richest(paper.keywords for paper in records) or (),
        github_url=_first(paper.github_url for paper in lead_first),
        url=_first(paper.url for paper in lead_first),
        pdf_url=_first(paper.pdf_url for paper in lead_first),
        sources=tuple(dict.fromkeys(name for paper in records for name in paper.sources)),
    )


def _richest(values: Iterable[_Sized | None]) -> _Sized | None:
    """The longest non-empty value; between equally long ones the larger, so that the choice
    does not depend on the order of the sources."""
    known = [value for value in values if value]
    return max(known, key=lambda value: (len(value), value)) if known else None


def _highest(values: Iterable[int | None], *more: int | None) -> int | None:
    known = [value for value in (*values, *more) if value is not None]
    return max(known) if known else None


def _earliest(values: Iterable[date | None]) -> date | None:
    known = [value for value in values if value is not None]
    return min(known) if known else None


def _first(values: Iterable[str | None]) -> str | None:
    return next((value for value in values if value), None)
