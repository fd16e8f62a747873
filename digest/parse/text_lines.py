"""Reading a text capture: each non-blank line classified (text, authors, dot, date, number,
noise), banners peeled off, invisible characters and odd line breaks cleaned."""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.parse.dates import DATE_LINE, DATE_PREFIX, Stamp, stamp

_FLAGS = re.IGNORECASE | re.ASCII


_BREAK = re.compile(r"\r*\n|\r")


_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"))


_AUTHORS_LINE = re.compile(
    r"(?:[•·∙⋅●*-]\s*)?(?P<count>\d{1,6})\s+authors?(?:\s*[·∙⋅]\s*(?P<rest>.*))?", _FLAGS
)


_DOT_LINE = re.compile(r"[·•∙⋅●]")


_NUMBER_LINE = re.compile(r"\d{1,6}", re.ASCII)


_NOISE_LINE = re.compile(r"submitted by\b.*|\d{1,6} comments?|comments?|upvote", _FLAGS)


_SUBMITTED = "submitted by"  # alone on its line, the submitter's name is on the next one


_SPECIAL_START = re.compile(  # how any line but a text line starts
    r"[•·∙⋅●*\d-]|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|published|submitted|comment"
    r"|upvote",
    _FLAGS,
)


_LOWER_WORD = re.compile(r"[a-z]+")


_BANNERS = (
    "Get trending papers in your email inbox once a day!",
    "Get trending papers in your email inbox!",
    "byAK and the research community",
    "by AK and the research community",
    "Daily Papers",
    "Subscribe",
    "new",
)


_BANNER_LINES = frozenset(banner.casefold() for banner in _BANNERS)


_BANNER_PREFIX = re.compile("|".join(re.escape(banner) for banner in _BANNERS), re.IGNORECASE)


Problems = list[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class Token:
    """A non-blank line (text, authors, dot, date, number, noise) or an author/date group.

    A text paragraph joined back from hard-wrapped lines ends on line ``end``, its last line
    being ``tail`` characters long; ``cut`` marks one split from the paragraph above although
    that one's last line was full (a title above its abstract, say): a guess, undone in
    ``_second_abstract`` if it proves wrong.
    """

    line: int
    kind: str
    text: str
    authors: int | None = None
    stamp: Stamp | None = None
    votes: int | None = None
    end: int = 0
    tail: int = 0
    cut: bool = False


def quote(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def read_tokens(text: str, problems: Problems) -> tuple[Stamp | None, list[Token]]:
    """The page date from the banner, and the classified lines after it."""
    page: Stamp | None = None
    tokens: list[Token] = []
    in_banner = True
    if "\r" in text:
        text = _BREAK.sub("\n", text)
    for number, raw in enumerate(text.split("\n"), start=1):
        line = _clean(raw)
        if line.casefold() in _BANNER_LINES:
            continue
        if in_banner and line:
            line, page_stamp = _peel(line, number, want_date=page is None)
            page = page or page_stamp
            in_banner = not line
        if line:
            tokens.append(_token(number, line, tokens[-1] if tokens else None, problems))
    return page, tokens


def _clean(raw: str) -> str:
    """The line without invisible characters, with single spaces between words."""
    if raw.isascii() and "  " not in raw and "\t" not in raw:
        return raw.strip()  # the common case, quickly
    return " ".join(raw.translate(_INVISIBLE).split())


def _peel(line: str, number: int, *, want_date: bool) -> tuple[str, Stamp | None]:
    """Strip banner phrases (and the page date) from the start of a banner-region line."""
    rest, page = line, None
    while rest:
        match = _BANNER_PREFIX.match(rest)
        if match is None and want_date and page is None:
            match = DATE_PREFIX.match(rest)
        if match is None or not _glued(match, rest[match.end() :]):
            break
        if match.re is DATE_PREFIX:
            page = stamp(match, number)
        rest = rest[match.end() :].lstrip()
    return rest, page


def _glued(match: re.Match[str], after: str) -> bool:
    """Whether a banner phrase starting a line is the banner, not a title's first word.

    ``Subscribers…`` and ``newer…`` are titles; ``SubscribeTitle``, ``SUBSCRIBETitle`` and
    ``Subscribe μLO…`` are a banner glued to a title. A phrase in another case than the
    banner's must be glued (``New Methods…`` is a title).
    """
    words = after.split(maxsplit=1)
    if words and _LOWER_WORD.fullmatch(words[0]):
        return False
    exact = match.re is DATE_PREFIX or match.group(0) in _BANNERS
    return exact or not (after[:1].isspace() or match.group(0).casefold() == "new")


def _token(number: int, line: str, previous: Token | None, problems: Problems) -> Token:
    """The line classified: ``text`` unless it is one of the known short lines."""
    submitter = previous is not None and previous.text.casefold() == _SUBMITTED
    if not submitter and not _SPECIAL_START.match(line):
        return Token(number, "text", line, end=number, tail=len(line))  # most lines, quickly
    if match := _AUTHORS_LINE.fullmatch(line):
        when = DATE_LINE.fullmatch(match["rest"] or "")
        if match["rest"] and when is None:
            problems.append((number, f"unreadable date {quote(match['rest'])}, left unknown"))
        votes = int(when["votes"]) if when and when["votes"] else None
        written = stamp(when, number) if when else None
        return Token(number, "authors", line, int(match["count"]), written, votes)
    if match := DATE_LINE.fullmatch(line):
        votes = int(match["votes"]) if match["votes"] else None
        return Token(number, "date", line, stamp=stamp(match, number), votes=votes)
    if _DOT_LINE.fullmatch(line):
        return Token(number, "dot", line)
    if _NUMBER_LINE.fullmatch(line):
        return Token(number, "number", line, votes=int(line))
    if _NOISE_LINE.fullmatch(line) or (submitter and len(line.split()) <= 3):
        return Token(number, "noise", line)
    return Token(number, "text", line, end=number, tail=len(line))
