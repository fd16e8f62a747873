"""Trending: a paper's community signal decayed by age, for ranking (pure, no clock).

The signal is ``1 + upvotes + comments/2 + log2(1 + GitHub stars)``, halved every
``half_life_days`` since the paper reached Daily Papers (or was published), so a paper with 40
upvotes today beats one with 60 from last week. A source without upvotes (arXiv) leaves
recency alone. :func:`trending_parts` puts an edition's scores on a log scale from 0 to 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

import numpy as np

from digest.models import Paper


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


def trending_parts(papers: Sequence[Paper], today: date, half_life_days: float) -> np.ndarray:
    """Each paper's trending part in [0, 1]: log-scaled against the edition's best."""
    raw = np.array([trending_score(p, today, half_life_days) for p in papers], dtype=np.float64)
    scaled = np.log1p(raw)
    return scaled / scaled.max() if len(raw) and scaled.max() > 0 else scaled
