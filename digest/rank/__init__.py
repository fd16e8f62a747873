"""Rank: choose and order the papers of each reader's email. Pure: no clock, no I/O.

Each paper gets two parts, both between 0 and 1:

- **trending**: community signal (upvotes, comments, GitHub stars) decayed by age with a
  half-life, on a log scale against the edition's best, so a paper with 40 upvotes today beats
  one with 60 from last week. Without any upvotes (arXiv feeds) it is recency alone.
- **relevance**: the reader's best-matching topic (:mod:`digest.rank.relevance`, BM25), or 1 for a
  paper by an author they follow. Below the reader's minimum relevance it counts as 0.

A reader's topics act in one of two modes. ``boost``: every paper can be chosen, and
``trending + RELEVANCE_WEIGHT * relevance`` moves matching papers up. ``filter``: only matching
papers can be chosen, ordered by ``relevance + TRENDING_WEIGHT * trending``. Papers the reader
was already shown are left out, near-duplicates don't take two slots (:mod:`digest.rank.select`)
and ties follow the edition's trending order, then the id: the same input gives the same emails.

:class:`Ranker` indexes an edition once and ranks any number of readers, a block of readers per
sparse matrix product; each reader's :class:`Ranking` builds its reason lines when first read.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from digest.models import TOPIC_MODES, Paper, RankedPaper, Subscriber
from digest.rank.explain import Explainer
from digest.rank.relevance import PaperIndex, Topic, author_keys, followed_keys
from digest.rank.select import Selector
from digest.rank.trending import trending_parts

RELEVANCE_WEIGHT = 2.0  # boost: a strong match lifts a paper past any unmatched one
TRENDING_WEIGHT = 0.1  # filter: popularity only reorders papers of close relevance
TOPIC_CACHE = 25_000_000  # topic relevance numbers kept across blocks (100 MB)
BLOCK = 1024  # readers per matrix product: bounds memory at BLOCK x topics x papers floats


@dataclass(frozen=True, slots=True)
class RankSettings:
    """A digest's ranking settings (``schedules.yaml``); a reader may override the mode and
    the minimum relevance."""

    size: int = 10
    half_life_days: float = 3.0
    topic_mode: str = "boost"
    min_relevance: float = 0.15
    period: str = "day"  # the digest's: a trending reason says "today" or "this week"
    for_you: float = 0.5  # boost: at most this share of an email goes to the reader's
    # matches ("For you"), the rest to the edition's trending papers ("Also trending")
    similar: float = 0.6  # cosine similarity at which two papers are near-duplicates (distinct
    # papers of a real HF month stay under 0.16; the same abstract twice is above 0.7)


@dataclass(frozen=True, slots=True)
class Reader:
    """What ranking knows of a subscriber: interests, settings, and papers already shown."""

    topics: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    topic_mode: str | None = None
    min_relevance: float | None = None
    shown: frozenset[str] = frozenset()

    @classmethod
    def of(cls, sub: Subscriber, shown: frozenset[str] = frozenset()) -> Reader:
        return cls(sub.topics, sub.authors, sub.topic_mode, sub.min_relevance, shown)

    def mode(self, settings: RankSettings) -> str:
        """``filter`` or ``boost``; a reader with nothing to match on is never filtered."""
        if not (self.topics or self.authors):
            return "boost"
        mode = self.topic_mode or settings.topic_mode
        return mode if mode in TOPIC_MODES else settings.topic_mode

    def floor(self, settings: RankSettings) -> float:
        return settings.min_relevance if self.min_relevance is None else self.min_relevance


class Ranker:
    """An edition's papers, indexed once, ranked for any number of readers."""

    def __init__(
        self,
        papers: Sequence[Paper],
        *,
        today: date,
        settings: RankSettings,
        block: int = BLOCK,
    ) -> None:
        self.papers = tuple(papers)
        self.settings = settings
        self.block = block  # readers per matrix product
        self.index = PaperIndex(self.papers)
        self.trending = trending_parts(self.papers, today, settings.half_life_days)
        order = sorted(
            range(len(self.papers)),
            key=lambda i: (-self.trending[i], -(self.papers[i].upvotes or 0), self.papers[i].id),
        )
        self.column = {paper.id: col for col, paper in enumerate(self.papers)}
        self.by_author = _papers_by_author(self.papers)
        texts = [bool(p.abstract or p.ai_summary) for p in self.papers]
        self.selector = Selector(self.index, order, settings.similar, texts)
        self.explainer = Explainer(self.papers, self.index, today, order, settings.period)
        self._topic_rows: dict[str, np.ndarray] = {}

    def rank(self, readers: Sequence[Reader], size: int | None = None) -> list[Ranking]:
        """Each reader's ranking, in the order given."""
        out: list[Ranking] = []
        for start in range(0, len(readers), self.block):
            block = _Block(self, readers[start : start + self.block], size or self.settings.size)
            out.extend(Ranking(block, row) for row in range(len(block.readers)))
        return out

    def rank_one(self, reader: Reader, size: int | None = None) -> Ranking:
        return self.rank([reader], size)[0]

    def topic_relevance(self, topics: Sequence[Topic]) -> np.ndarray:
        """Topics x papers relevance. Readers share topics, so each topic's row is kept for
        the next block, up to TOPIC_CACHE numbers in all."""
        missing = list({t.text: t for t in topics if t.text not in self._topic_rows}.values())
        computed = self.index.relevance(missing)
        room = TOPIC_CACHE // max(1, len(self.papers)) - len(self._topic_rows)
        for topic, row in zip(missing[: max(0, room)], computed, strict=False):
            self._topic_rows[topic.text] = row
        fresh = {t.text: row for t, row in zip(missing, computed, strict=True)}
        rows = [
            self._topic_rows[t.text] if t.text in self._topic_rows else fresh[t.text]
            for t in topics
        ]
        if not rows:
            return np.zeros((0, len(self.papers)), dtype=np.float32)
        return np.stack(rows)

    def followed(self, reader: Reader) -> set[int]:
        """The columns of the papers by an author the reader follows."""
        return {
            col
            for name in reader.authors
            for key in followed_keys(name)
            for col in self.by_author.get(key, ())
        }


class _Block:
    """One block of readers, scored together. Once each reader's papers are chosen, only
    the chosen cells are kept (columns, scores, relevance, what matched), so a ranking of
    100,000 readers holds kilobytes per block, not the whole score matrix."""

    def __init__(self, ranker: Ranker, readers: Sequence[Reader], size: int) -> None:
        self.ranker, self.readers = ranker, readers
        topics, table, per_topic, relevance = self._topic_relevance()
        followed = {row: ranker.followed(r) for row, r in enumerate(readers) if r.authors}
        for row, cols in followed.items():
            relevance[row, list(cols)] = 1.0
        settings = ranker.settings
        floors = np.array([r.floor(settings) for r in readers], dtype=np.float32)[:, None]
        matching = (relevance > 0) & (relevance >= floors)
        filtered = np.array([r.mode(settings) == "filter" for r in readers])[:, None]
        weight = np.where(filtered, 1.0, RELEVANCE_WEIGHT).astype(np.float32)
        base = np.where(filtered, TRENDING_WEIGHT, 1.0).astype(np.float32)
        scores = relevance * matching * weight + ranker.trending[None, :] * base
        allowed = matching | ~filtered
        allowed[self._shown()] = False
        self.columns, self.counts = ranker.selector.top(scores, allowed, size)
        shared = ~filtered[:, 0] & np.array([bool(r.topics or r.authors) for r in readers])
        if shared.any():
            cap = max(1, math.ceil(size * settings.for_you))
            self._share(scores, allowed & ~matching, matching, shared, size, cap)
        chosen = (np.arange(len(readers))[:, None], self.columns)
        self.scores, self.relevance = scores[chosen], relevance[chosen]
        self.matched, self.followed, self.topics = matching[chosen], followed, topics
        self.best = self._best_topics(table, per_topic)

    def _share(
        self,
        scores: np.ndarray,
        trending_only: np.ndarray,
        matching: np.ndarray,
        shared: np.ndarray,
        size: int,
        cap: int,
    ) -> None:
        """For each boost reader in ``shared`` whose top ``size`` hold more than ``cap`` of
        their matches: the best ``cap`` matches, the rest the best trending papers that match
        nothing (more matches when those run out), all in score order."""
        chosen = (np.arange(len(scores))[:, None], self.columns)
        over = shared & ((matching[chosen] & self._filled()).sum(axis=1) > cap)
        rows = np.flatnonzero(over)
        if not len(rows):
            return
        trend = np.broadcast_to(self.ranker.trending[None, :], (len(rows), scores.shape[1]))
        others, counts = self.ranker.selector.top(trend, trending_only[rows], size - cap)
        for i, row in enumerate(rows):
            mine = self.columns[row, : self.counts[row]]
            mine = mine[matching[row, mine]]
            keep = [*mine[:cap], *others[i, : counts[i]]]
            keep += list(mine[cap : cap + size - len(keep)])
            picks = sorted(keep, key=lambda c: -scores[row, c])
            self.columns[row, : len(picks)] = picks
            self.counts[row] = len(picks)

    def _filled(self) -> np.ndarray:
        """Which of each reader's chosen cells hold a paper."""
        return np.arange(self.columns.shape[1])[None, :] < self.counts[:, None]

    def _topic_relevance(self) -> tuple[list[Topic], np.ndarray, np.ndarray, np.ndarray]:
        """The block's topics, each reader's topic numbers (-1: none), every topic's
        relevance to every paper, and per reader and paper their best topic's relevance."""
        readers, papers = self.readers, len(self.ranker.papers)
        known: dict[str, int] = {}
        table = np.full((len(readers), max([1, *(len(r.topics) for r in readers)])), -1)
        for row, reader in enumerate(readers):
            for slot, text in enumerate(reader.topics):
                table[row, slot] = known.setdefault(text, len(known))
        topics = [Topic.of(text) for text in known]
        per_topic = self.ranker.topic_relevance(topics)
        per_topic = np.vstack([per_topic, np.zeros((1, papers), dtype=np.float32)])
        relevance = np.zeros((len(readers), papers), dtype=np.float32)
        for slot in range(table.shape[1]):  # an empty slot (-1) reads the zero row
            np.maximum(relevance, per_topic[table[:, slot]], out=relevance)
        return topics, table, per_topic, relevance

    def _best_topics(self, table: np.ndarray, per_topic: np.ndarray) -> np.ndarray:
        """For each chosen cell, the number of the reader's topic that matched it best."""
        slots = per_topic[table[:, :, None], self.columns[:, None, :]]  # readers x slots x k
        best: np.ndarray = table[np.arange(len(table))[:, None], slots.argmax(axis=1)]
        return best

    def _shown(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, columns) of the papers each reader was already shown."""
        ids = itertools.chain.from_iterable(r.shown for r in self.readers)
        found = map(self.ranker.column.get, ids, itertools.repeat(-1))
        cols = np.fromiter(found, dtype=np.int64)
        rows = np.repeat(np.arange(len(self.readers)), [len(r.shown) for r in self.readers])
        known = cols >= 0
        return rows[known], cols[known]

    def _why(self, row: int, k: int, col: int) -> tuple[Topic | None, tuple[str, ...]]:
        """What made the reader's ``k``-th paper relevant: a topic, followed authors, or
        nothing (trending alone)."""
        if not self.matched[row, k]:
            return None, ()
        if col in self.followed.get(row, ()):
            return None, self.readers[row].authors
        return self.topics[self.best[row, k]], ()

    def papers(self, row: int) -> tuple[RankedPaper, ...]:
        ranker = self.ranker
        picked = []
        for k, col in enumerate(self.columns[row, : self.counts[row]]):
            topic, authors = self._why(row, k, int(col))
            picked.append(
                RankedPaper(
                    ranker.papers[col],
                    round(float(self.scores[row, k]), 4),
                    ranker.explainer.reason(int(col), topic, authors),
                    trending=round(float(ranker.trending[col]), 4),
                    relevance=round(float(self.relevance[row, k]), 4),
                    match=ranker.explainer.label(int(col), topic, authors),
                )
            )
        return tuple(picked)

    def why_empty(self, row: int) -> str:
        """Why this reader's ranking is empty, for the run report."""
        reader, papers = self.readers[row], self.ranker.papers
        if not papers:
            return "no papers in this edition"
        unseen = [p for p in papers if p.id not in reader.shown]
        if not unseen:
            return f"all {len(papers)} papers of this edition were in earlier emails"
        wanted = "; ".join([*reader.topics, *reader.authors])
        floor = reader.floor(self.ranker.settings)
        return (
            f"none of the {len(unseen)} new papers matches the reader's topics ({wanted})"
            f" with relevance {floor:.2f} or more"
        )


class Ranking:
    """One reader's papers, best first, built when first read; when there are none, why."""

    __slots__ = ("_block", "_papers", "_row")

    def __init__(self, block: _Block, row: int) -> None:
        self._block, self._row = block, row
        self._papers: tuple[RankedPaper, ...] | None = None

    def __len__(self) -> int:
        return int(self._block.counts[self._row])

    @property
    def papers(self) -> tuple[RankedPaper, ...]:
        if self._papers is None:
            self._papers = self._block.papers(self._row)
        return self._papers

    @property
    def why_empty(self) -> str:
        """Empty when papers were chosen."""
        return "" if len(self) else self._block.why_empty(self._row)


def rank(
    papers: Sequence[Paper], reader: Reader, *, today: date, settings: RankSettings
) -> Ranking:
    """One reader's ranking of ``papers`` (see :class:`Ranker` to rank many readers)."""
    return Ranker(papers, today=today, settings=settings).rank_one(reader)


def _papers_by_author(papers: Sequence[Paper]) -> dict[str, tuple[int, ...]]:
    found: dict[str, list[int]] = {}
    for col, paper in enumerate(papers):
        for name in paper.authors:
            for key in author_keys(name):
                found.setdefault(key, []).append(col)
    return {key: tuple(cols) for key, cols in found.items()}
