"""Relevance: how well each paper matches a reader's topics, with BM25 over sparse matrices.

A topic is a free-text phrase (``diffusion guidance``). Text is cut into words, stop words are
dropped and the rest stemmed (Snowball, via PyStemmer), so ``regularizing`` matches
``regularization``. Each pair of neighbouring words is also a term (``diffus guidanc``) that a
topic weighs PHRASE_WEIGHT times a single word: the phrase counts more than the same words
scattered.

Papers are indexed once per edition (BM25F-style: a title word counts three times, a keyword
twice). A topic's score for a paper is divided by the best score that topic could get, so
relevance is a share between 0 and 1 that reads the same in a 15-paper day and a 500-paper
month. Scoring many topics is one sparse matrix product, not a loop per reader per paper.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import Stemmer
from scipy import sparse

from digest.models import Paper

K1 = 2.0  # BM25 term-frequency saturation (high end: repeated mentions mark a focus)
B = 0.75  # BM25 length normalisation
PHRASE_WEIGHT = 2.0  # a topic's neighbouring word pair, against one of its words
FIELD_WEIGHTS = {"title": 3, "keywords": 2, "abstract": 1}

_WORD = re.compile(r"[a-z0-9]+")
_STOP_WORDS = """
a an and are as at based be by can do does for from has have how in into is it its new of
on or our over so than that the their them then there these they this to toward towards
under up using via was we were what when where which while who why will with without you
your
"""
_STOP = frozenset(_STOP_WORDS.split())
_STEMMER = Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


def words(text: str) -> list[str]:
    """The stemmed words of ``text``, stop words and one-letter words left out, in order."""
    plain = fold(text)
    return [_stem(w) for w in _WORD.findall(plain) if len(w) > 1 and w not in _STOP]


def fold(text: str) -> str:
    """Lower case without accents: ``Régularisation`` → ``regularisation``."""
    folded = text.casefold()
    if folded.isascii():
        return folded
    return "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))


def terms(stems: Sequence[str]) -> list[str]:
    """The words and the neighbouring word pairs (phrases) of a stemmed text."""
    return [*stems, *(f"{a} {b}" for a, b in itertools.pairwise(stems))]


def paper_fields(paper: Paper) -> dict[str, str]:
    """The text of a paper that topics are matched against, by field."""
    return {
        "title": paper.title,
        "keywords": " . ".join(paper.keywords),
        "abstract": paper.abstract or paper.ai_summary or "",
    }


@dataclass(frozen=True)
class Topic:
    """One topic phrase, analysed: its terms with their query weights."""

    text: str
    weights: dict[str, float]

    @classmethod
    def of(cls, text: str) -> Topic:
        return _topic(text)

    @classmethod
    def analyse(cls, text: str) -> Topic:
        weights = {t: PHRASE_WEIGHT if " " in t else 1.0 for t in terms(words(text))}
        return cls(text=" ".join(text.split()), weights=weights)


@functools.lru_cache(maxsize=65536)  # readers share topics
def _topic(text: str) -> Topic:
    return Topic.analyse(text)


class PaperIndex:
    """The edition's papers as a BM25 matrix (papers x terms), built once per edition."""

    def __init__(self, papers: Sequence[Paper]) -> None:
        counts = [_weighted_counts(p) for p in papers]
        self.vocabulary: dict[str, int] = {}
        for doc in counts:
            for term in doc:
                self.vocabulary.setdefault(term, len(self.vocabulary))
        self.size = len(papers)
        self.matrix, self.idf = _bm25(counts, self.vocabulary)
        self.terms_of = [frozenset(doc) for doc in counts]

    def idf_of(self, term: str) -> float:
        """A term's inverse document frequency (the highest when no paper has it)."""
        index = self.vocabulary.get(term)
        return float(self.idf[index] if index is not None else idf(0, self.size))

    def topic_rows(self, topics: Sequence[Topic]) -> sparse.csr_matrix:
        """Topics x terms, each row scaled so that a perfect match would score 1."""
        rows = [self._row(topic) for topic in topics]
        cols = np.concatenate([c for c, _ in rows]) if rows else np.zeros(0, np.int64)
        values = np.concatenate([v for _, v in rows]) if rows else np.zeros(0, np.float32)
        pointers = np.cumsum([0, *(len(c) for c, _ in rows)])
        shape = (len(topics), len(self.vocabulary))
        return sparse.csr_matrix((values, cols, pointers), shape=shape, dtype=np.float32)

    def _row(self, topic: Topic) -> tuple[np.ndarray, np.ndarray]:
        """One topic's term columns and weights in this edition."""
        best = sum(w * self.idf_of(t) * (K1 + 1) for t, w in topic.weights.items())
        present = [
            (self.vocabulary[t], w / best)
            for t, w in topic.weights.items()
            if t in self.vocabulary and best > 0
        ]
        cols = np.array([c for c, _ in present], dtype=np.int64)
        return cols, np.array([w for _, w in present], np.float32)

    def relevance(self, topics: Sequence[Topic]) -> np.ndarray:
        """Topics x papers relevance, each in [0, 1)."""
        if not topics or not self.size:
            return np.zeros((len(topics), self.size), dtype=np.float32)
        product = self.topic_rows(topics) @ self.matrix.T
        return np.asarray(product.todense(), dtype=np.float32)

    def matched_words(self, topic: Topic, paper: int) -> tuple[str, ...]:
        """The words of ``topic`` that ``paper`` has (all of them when it has the phrase)."""
        have = self.terms_of[paper]
        if any(" " in t and t in have for t in topic.weights):
            return (topic.text,)
        stems = {t for t in topic.weights if " " not in t and t in have}
        return tuple(w for w in topic.text.split() if stems.intersection(words(w)))


def _weighted_counts(paper: Paper) -> Counter[str]:
    counts: Counter[str] = Counter()
    for field, text in paper_fields(paper).items():
        found = Counter(terms(words(text)))
        weight = FIELD_WEIGHTS[field]
        counts.update({term: n * weight for term, n in found.items()})
    return counts


def idf(df: Any, n: int) -> Any:
    """BM25's inverse document frequency of a term in ``df`` of ``n`` papers (numbers or
    arrays of them)."""
    return np.log1p((n - df + 0.5) / (df + 0.5))


def _bm25(counts: Sequence[Counter[str]], vocabulary: dict[str, int]) -> tuple[Any, np.ndarray]:
    """Papers x terms of BM25 term weights, idf · tf (k1 + 1) / (tf + k1 (1 - b + b·dl/avgdl)),
    and each term's idf."""
    rows = np.repeat(np.arange(len(counts)), [len(doc) for doc in counts])
    cols = np.fromiter((vocabulary[t] for doc in counts for t in doc), np.int64, len(rows))
    tf = np.fromiter((n for doc in counts for n in doc.values()), np.float64, len(rows))
    df = np.bincount(cols, minlength=len(vocabulary))
    weights = idf(df, len(counts))
    lengths = np.bincount(rows, weights=tf, minlength=len(counts))
    average = lengths.mean() if len(counts) and lengths.mean() > 0 else 1.0
    norm = K1 * (1 - B + B * lengths / average)
    values = weights[cols] * tf * (K1 + 1) / (tf + norm[rows])
    shape = (len(counts), len(vocabulary))
    matrix = sparse.csr_matrix((values, (rows, cols)), shape=shape, dtype=np.float32)
    return matrix, weights


def author_keys(name: str) -> tuple[str, ...]:
    """The keys a paper's author is found by. A name written in full is one person: case,
    accents, hyphens and middle initials folded (``Ada B. Lovelace`` is ``ada lovelace``),
    never just the initial and surname (``Xinchao Wang`` is not ``Xiaofeng Wang``); it is
    also listed under its initial, for a reader who follows ``X. Wang``. A name the paper
    itself gives with only an initial (``A. Lovelace``) is found by the initial alone."""
    parts = _name_parts(name)
    if not parts:
        return ()
    initial = f"i:{parts[0][0]} {parts[-1]}" if len(parts) > 1 else f"i:{parts[0]}"
    if len(parts[0]) == 1:
        return (initial,)
    return (f"f:{' '.join(p for p in parts if len(p) > 1)}", "a" + initial)


def followed_keys(name: str) -> tuple[str, ...]:
    """The keys a followed name looks up: its full name, and the papers that give only its
    initial; a reader who follows an initial (``A. Lovelace``) asked for every such name."""
    keys = author_keys(name)
    if not keys:
        return ()
    if keys[0].startswith("i:"):
        return (keys[0], "a" + keys[0])
    return (keys[0], keys[1][1:])


def follows(followed: str, author: str) -> bool:
    """Whether following ``followed`` takes a paper by ``author``."""
    return not set(followed_keys(followed)).isdisjoint(author_keys(author))


def _name_parts(name: str) -> list[str]:
    return fold(name).replace(".", " ").replace("-", " ").split()
