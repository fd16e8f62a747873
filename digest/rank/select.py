"""Pick each reader's top papers from a block of scores, leaving out near-duplicates.

Two papers are near-duplicates when the cosine similarity of their BM25 vectors (title,
keywords, abstract) is at least ``similar``: the same work posted twice, or a v2 under a new
id. Of such a pair a reader gets the one that scores higher for them; the other does not take
a second slot. Selection is vectorised; only readers whose top candidates hold such a pair
are walked one by one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from digest.rank.relevance import PaperIndex

_TIE = 1e-9  # scores equal to this precision follow the edition's trending order


class Selector:
    """Top-k selection over (readers x papers) score blocks for one edition."""

    def __init__(
        self, index: PaperIndex, order: Sequence[int], similar: float, texts: Sequence[bool]
    ) -> None:
        self.size = index.size
        self.position = np.empty(self.size, dtype=np.float64)
        self.position[list(order)] = np.arange(self.size)
        self.twins = near_duplicates(index.matrix, similar, texts)
        self.has_twin = np.zeros(self.size, dtype=bool)
        self.has_twin[list(self.twins)] = True

    def top(self, scores: np.ndarray, allowed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the columns of the ``k`` best allowed scores, best first, and how many of
        them there are (a row's columns past its count mean nothing)."""
        rows = len(scores)
        k = min(k, self.size)
        if k <= 0:
            return np.zeros((rows, 0), dtype=np.int64), np.zeros(rows, dtype=np.int64)
        keyed = scores - _TIE * self.position[None, :]  # float64: the tie-break must show
        keyed[~allowed] = -np.inf
        columns, valid = _best(keyed, min(self.size, 2 * k if self.twins else k))
        counts = valid[:, :k].sum(axis=1)
        if self.twins:
            clash = (self.has_twin[columns[:, :k]] & valid[:, :k]).any(axis=1)
            for row in np.flatnonzero(clash):
                picks = self._without_twins(keyed[row], k)
                columns[row, : len(picks)] = picks
                counts[row] = len(picks)
        return columns[:, :k], counts

    def _without_twins(self, keyed: np.ndarray, k: int) -> list[int]:
        chosen: list[int] = []
        for col in np.argsort(-keyed, kind="stable"):
            if keyed[col] == -np.inf or len(chosen) == k:
                break
            if not self.twins.get(int(col), frozenset()).intersection(chosen):
                chosen.append(int(col))
        return chosen


def _best(keyed: np.ndarray, wanted: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``wanted`` best columns of each row, sorted best first, and which are allowed."""
    if wanted < keyed.shape[1]:
        columns = np.argpartition(-keyed, wanted - 1, axis=1)[:, :wanted]
    else:
        columns = np.broadcast_to(np.arange(keyed.shape[1]), keyed.shape)
    values = np.take_along_axis(keyed, columns, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    columns = np.take_along_axis(columns, order, axis=1)
    return columns, np.take_along_axis(values, order, axis=1) > -np.inf


def near_duplicates(
    matrix: sparse.csr_matrix, similar: float, texts: Sequence[bool]
) -> dict[int, frozenset[int]]:
    """Each paper that has near-duplicates, with theirs (cosine similarity >= ``similar``).

    Only papers with an abstract (``texts``) take part: two different papers can have
    near-identical titles, and a title alone is too little to call them the same work."""
    if matrix.shape[0] < 2 or similar >= 1.0:
        return {}
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[(norms == 0) | ~np.asarray(texts, dtype=bool)] = np.inf  # their rows become zero
    unit = sparse.diags(1.0 / norms) @ matrix
    cosine = (unit @ unit.T).tocoo()
    pairs: dict[int, set[int]] = {}
    for a, b, value in zip(cosine.row, cosine.col, cosine.data, strict=True):
        if a != b and value >= similar:
            pairs.setdefault(int(a), set()).add(int(b))
    return {a: frozenset(bs) for a, bs in pairs.items()}
