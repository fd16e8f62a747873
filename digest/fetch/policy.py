"""How hard and how long fetching tries: the policy, the backoff, and ``Retry-After``.

Pure: the sleeping, the randomness and the clock are fields of :class:`FetchPolicy`, so the
code that waits (:mod:`digest.fetch.http`) runs fast and deterministic in tests, with no
patching.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from random import random as random_fraction

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """How hard to try for one source, how long to wait, and how much to accept."""

    attempts: int = 4  # tries per URL (1: no retry)
    base_delay: float = 1.0  # the first backoff's ceiling in seconds; it doubles each retry
    max_delay: float = 60.0  # no single wait is longer, whatever Retry-After asks
    budget: float = 120.0  # seconds for a whole source: every page, attempt and wait
    timeout: float = 20.0  # per request (connect, each read, each write)
    max_bytes: int = 20 * 1024 * 1024  # per answer, after decompression
    max_redirects: int = 5
    page_delay: float = 3.0  # between the calls of a paged API that asks for it (arXiv)
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random_fraction  # uniform in [0, 1): the jitter
    clock: Callable[[], float] = time.monotonic  # for the budget


DEFAULT_POLICY = FetchPolicy()


def backoff(policy: FetchPolicy, attempt: int, asked: float | None = None) -> float:
    """The wait after failed attempt number ``attempt``: what the server asked for, else
    "full jitter" (uniform between 0 and a ceiling that doubles each time); never over the cap."""
    if asked is not None:
        return min(asked, policy.max_delay)
    ceiling = min(policy.max_delay, policy.base_delay * 2.0 ** (attempt - 1))
    return policy.random() * ceiling


def retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds: given as seconds, or as an HTTP date, which is taken
    relative to the answer's own ``Date`` (so our clock's skew does not matter). None when
    absent or unreadable."""
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    sent = _http_date(headers.get("date", "")) or datetime.now(UTC)
    return max(0.0, (when - sent).total_seconds())


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
