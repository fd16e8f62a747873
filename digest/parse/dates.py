"""Dates as HF pages write them (``Jun 11, 2024``, ``Jun 26``, ``Sept. 9 2024``).

A page shows the year only when it is not the current one, so a year-less date is resolved
against a reference day (the page's date, or today): it takes the latest year in which it is
not after that day (PRODUCT §5.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
STAMP = (
    r"(?P<month>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?\s+(?P<day>\d{1,2})"
    r"(?:(?:,\s*|\s+)(?P<year>(?:19|20)\d\d))?"
)
_FLAGS = re.IGNORECASE | re.ASCII
DATE_LINE = re.compile(
    rf"(?:[·∙⋅]\s*)?(?:published\s+on\s+)?{STAMP}(?:\s+(?P<votes>\d{{1,6}}))?", _FLAGS
)
"""A whole line that is a date, maybe after ``·`` or ``Published on``, maybe before an
upvote count."""
DATE_PREFIX = re.compile(rf"{STAMP}(?![\d,])", _FLAGS)
"""A date at the start of a line (a page date glued to what follows)."""
_LOOKBACK = 9  # years searched for a year-less Feb 29


@dataclass(frozen=True, slots=True)
class Stamp:
    """A date as written, on a given line: the year may be missing."""

    line: int
    text: str
    month: int
    day: int
    year: int | None


def stamp(match: re.Match[str], line: int) -> Stamp:
    """The stamp read by a match of ``DATE_LINE`` or ``DATE_PREFIX``."""
    year = int(match["year"]) if match["year"] else None
    month = _MONTHS[match["month"][:3].lower()]
    return Stamp(line, match.group(0), month, int(match["day"]), year)


def resolve(written: Stamp, reference: date) -> date | None:
    """The day meant: a missing year is the latest one not after ``reference``.

    None when no such day exists (``Feb 30``, or a year out of range).
    """
    if written.year is not None:
        years: range | list[int] = [written.year]
    else:
        years = range(reference.year, max(reference.year - _LOOKBACK, 0), -1)
    for year in years:
        try:
            candidate = date(year, written.month, written.day)
        except ValueError:
            continue
        if written.year is not None or candidate <= reference:
            return candidate
    return None
