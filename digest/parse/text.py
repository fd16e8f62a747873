"""Parse plain-text captures of HF Daily Papers and search pages (PRODUCT §5.2).

A capture is a banner (``Subscribe``, ``Daily Papers``, a page date such as ``Oct 28``…),
possibly glued to the first title, then entries: a title line, an abstract line and an
author/date group (``• 7 authors``, ``·``, ``Jun 11, 2024 6``) that closes the entry. Blank
lines carry no meaning. Where the group is missing, titles are told from abstracts by their
shape; an abstract without a title is reported with its line number, never given a title.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from digest.errors import ParseError
from digest.models import Paper, ParseResult, collapse_whitespace, title_id

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_STAMP = (
    r"(?P<month>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?\s+(?P<day>\d{1,2})"
    r"(?:(?:,\s*|\s+)(?P<year>(?:19|20)\d\d))?"
)
_FLAGS = re.IGNORECASE | re.ASCII
_DATE_LINE = re.compile(rf"(?:·\s*)?{_STAMP}(?:\s+(?P<votes>\d{{1,6}}))?", _FLAGS)
_DATE_PREFIX = re.compile(rf"{_STAMP}(?![\d,])", _FLAGS)
_AUTHORS_LINE = re.compile(
    r"(?:[•·*-]\s*)?(?P<count>\d{1,6})\s+authors?(?:\s*·\s*(?P<rest>.*))?", _FLAGS
)
_DOT_LINE = re.compile(r"[·•]")
_NUMBER_LINE = re.compile(r"\d{1,6}", re.ASCII)
_LETTER = re.compile(r"[^\W\d_]")
_SENTENCE_BREAK = re.compile(r"(?:[a-z]{3,}|[0-9%)\]])\.\s+[A-Z]")
_TITLE_MAX = 250
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
_BANNER_PREFIX = re.compile("|".join(re.escape(banner) for banner in _BANNERS))
_META_STAGES = {"authors": 0, "dot": 1, "date": 2, "number": 3}
_HINT = "expected a Daily Papers or search page capture: title, abstract, '• N authors · date'"

Problems = list[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class _Stamp:
    """A date as written: the year may be missing."""

    line: int
    text: str
    month: int
    day: int
    year: int | None


@dataclass(frozen=True, slots=True)
class _Token:
    """A non-blank line (text, authors, dot, date, number) or an author/date group (meta)."""

    line: int
    kind: str
    text: str
    authors: int | None = None
    stamp: _Stamp | None = None
    votes: int | None = None


@dataclass(slots=True)
class _Entry:
    title: _Token
    abstract: str | None = None


def looks_like(text: str) -> bool:
    """Any text may be a capture: this kind is the fallback."""
    return True


def parse(text: str, *, source: str, origin: str = "", today: date) -> ParseResult:
    """Turn a text capture into papers; blocks that are not papers go to ``problems``."""
    problems: Problems = []
    page_stamp, tokens = _read(text, problems)
    reference = _resolve(page_stamp, today, problems) if page_stamp else None
    papers = [
        _paper(entry, meta, reference or today, source, problems)
        for texts, group in _chunks(tokens)
        for entry, meta in _entries(texts, group, problems)
    ]
    problems.sort(key=lambda problem: problem[0])
    if not papers:
        raise ParseError(_nothing_found(problems), source=origin, hint=_HINT)
    messages = tuple(f"line {line}: {message}" for line, message in problems)
    return ParseResult(papers=tuple(papers), problems=messages)


def _nothing_found(problems: Problems) -> str:
    if not problems:
        return "no papers found in this text"
    line, message = problems[0]
    return (
        f"no papers found in this text; {len(problems)} problems, first at line {line}: {message}"
    )


def _quote(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _read(text: str, problems: Problems) -> tuple[_Stamp | None, list[_Token]]:
    """The page date from the banner, and the classified lines after it."""
    page: _Stamp | None = None
    tokens: list[_Token] = []
    in_banner = True
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if line.casefold() in _BANNER_LINES:
            continue
        if in_banner and line:
            line, stamp = _peel(line, number, want_date=page is None)
            page = page or stamp
            in_banner = not line
        if line:
            tokens.append(_token(number, line, problems))
    return page, tokens


def _peel(line: str, number: int, *, want_date: bool) -> tuple[str, _Stamp | None]:
    """Strip banner phrases (and the page date) from the start of a banner-region line."""
    rest, page = line, None
    while rest:
        match = _BANNER_PREFIX.match(rest)
        if match is None and want_date and page is None:
            match = _DATE_PREFIX.match(rest)
        after = rest[match.end() :].lstrip() if match else ""
        if match is None or after[:1].islower():
            break
        if match.re is _DATE_PREFIX:
            page = _stamp(match, number)
        rest = after
    return rest, page


def _token(number: int, line: str, problems: Problems) -> _Token:
    if match := _AUTHORS_LINE.fullmatch(line):
        when = _DATE_LINE.fullmatch(match["rest"] or "")
        if match["rest"] and when is None:
            problems.append((number, f"unreadable date {_quote(match['rest'])}, left unknown"))
        stamp = _stamp(when, number) if when else None
        votes = int(when["votes"]) if when and when["votes"] else None
        count = int(match["count"])
        return _Token(number, "authors", line, authors=count, stamp=stamp, votes=votes)
    if match := _DATE_LINE.fullmatch(line):
        votes = int(match["votes"]) if match["votes"] else None
        return _Token(number, "date", line, stamp=_stamp(match, number), votes=votes)
    if _DOT_LINE.fullmatch(line):
        return _Token(number, "dot", line)
    if _NUMBER_LINE.fullmatch(line):
        return _Token(number, "number", line, votes=int(line))
    return _Token(number, "text", line)


def _stamp(match: re.Match[str], number: int) -> _Stamp:
    year = int(match["year"]) if match["year"] else None
    month = _MONTHS[match["month"][:3].lower()]
    return _Stamp(number, match.group(0), month, int(match["day"]), year)


def _chunks(tokens: list[_Token]) -> Iterator[tuple[list[_Token], _Token | None]]:
    """Runs of text lines, each with the author/date group that closes it (if any)."""
    texts: list[_Token] = []
    index = 0
    while index < len(tokens):
        if tokens[index].kind in ("authors", "dot", "date"):
            meta, index = _take_meta(tokens, index)
            yield texts, meta
            texts = []
        else:
            texts.append(tokens[index])
            index += 1
    if texts:
        yield texts, None


def _take_meta(tokens: list[_Token], index: int) -> tuple[_Token, int]:
    """Absorb ``N authors``, ``·``, a date and upvotes, in that order, each at most once."""
    line, stage = tokens[index].line, -1
    authors: int | None = None
    stamp: _Stamp | None = None
    votes: int | None = None
    while index < len(tokens):
        token = tokens[index]
        rank = _META_STAGES.get(token.kind)
        if rank is None or rank <= stage or (token.kind == "number" and stage != 2):
            break
        authors = token.authors if token.authors is not None else authors
        stamp, votes = token.stamp or stamp, token.votes if token.votes is not None else votes
        stage = 3 if token.votes is not None else 2 if token.stamp else rank
        index += 1
    return _Token(line, "meta", "", authors=authors, stamp=stamp, votes=votes), index


def _entries(
    texts: list[_Token], meta: _Token | None, problems: Problems
) -> Iterator[tuple[_Entry, _Token | None]]:
    """The entries in a run of text lines; the last one owns the author/date group."""
    entries = _split(texts, problems)
    if meta is not None and not entries:
        problems.append((meta.line, "author/date line without a title before it, skipped"))
    for position, entry in enumerate(entries, start=1):
        owned = meta if position == len(entries) else None
        if owned is None and entry.abstract is None:
            text = _quote(entry.title.text)
            problems.append(
                (entry.title.line, f"no abstract and no author/date line, skipped: {text}")
            )
        else:
            yield entry, owned


def _split(texts: list[_Token], problems: Problems) -> list[_Entry]:
    """Group lines into title + abstract entries; stray lines become problems."""
    entries: list[_Entry] = []
    for index, token in enumerate(texts):
        shape = _shape(token.text)
        current = entries[-1] if entries else None
        awaiting = current is not None and current.abstract is None
        if shape == "noise":
            problems.append((token.line, f"line without words, skipped: {_quote(token.text)}"))
        elif shape == "title" or (
            not awaiting and _title_by_contrast(token, texts[index + 1 : index + 2])
        ):
            entries.append(_Entry(token))
        elif current is not None and awaiting:
            current.abstract = collapse_whitespace(token.text)
        else:
            text = _quote(token.text)
            problems.append((token.line, f"text without a title before it, skipped: {text}"))
    return entries


def _shape(text: str) -> str:
    """``title`` (one short sentence-free line), ``abstract``, or ``noise`` (no letters)."""
    if not _LETTER.search(text):
        return "noise"
    if len(text) <= _TITLE_MAX and not text.endswith(".") and not _SENTENCE_BREAK.search(text):
        return "title"
    return "abstract"


def _title_by_contrast(token: _Token, following: list[_Token]) -> bool:
    """A short one-sentence line ending in a period is a title if a long abstract follows."""
    if not following or len(token.text) > _TITLE_MAX or _SENTENCE_BREAK.search(token.text):
        return False
    after = following[0].text
    return _shape(after) == "abstract" and len(after) >= 2 * len(token.text)


def _paper(
    entry: _Entry, meta: _Token | None, reference: date, source: str, problems: Problems
) -> Paper:
    title = collapse_whitespace(entry.title.text)
    stamp = meta.stamp if meta else None
    return Paper(
        id=title_id(title),
        title=title,
        abstract=entry.abstract,
        author_count=meta.authors if meta else None,
        published=_resolve(stamp, reference, problems) if stamp else None,
        upvotes=meta.votes if meta else None,
        sources=(source,),
    )


def _resolve(stamp: _Stamp, reference: date, problems: Problems) -> date | None:
    """The date, a missing year being the latest one that is not after ``reference``."""
    years = [stamp.year] if stamp.year else range(reference.year, reference.year - 9, -1)
    for year in years:
        try:
            candidate = date(year, stamp.month, stamp.day)
        except ValueError:
            continue
        if stamp.year or candidate <= reference:
            return candidate
    problems.append((stamp.line, f"no such date {_quote(stamp.text)}, left unknown"))
    return None
