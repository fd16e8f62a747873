"""Parse plain-text captures of HF Daily Papers and search pages (PRODUCT §5.2).

A capture is a banner (``Subscribe``, ``Daily Papers``, a page date such as ``Oct 28``…),
possibly glued to the first title, then entries: a title, an abstract and an author/date
group (``• 7 authors``, ``·``, ``Jun 11, 2024 6``) that closes the entry. Day pages add
lines such as ``Submitted by akhaliq`` and bare upvote or comment counts, which are skipped,
and organisation names, which are reported.

The work goes in four steps: lines are classified (``_read``); paragraphs hard-wrapped at a
fixed width are joined back (``_unwrap``); runs of text lines, each closed by its author/date
group, are split into titles and abstracts (``_split``), which is where the shape of a line
(Title Case or prose, one sentence or several) decides what it is; papers are made. Whatever
cannot be made into a paper is reported with its line number, never guessed at: an abstract
is never given a title.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from itertools import pairwise

from digest.errors import ParseError
from digest.models import Paper, ParseResult, collapse_whitespace, title_id
from digest.parse.dates import DATE_LINE, DATE_PREFIX, Stamp, resolve, stamp

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
_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")
_LOWER_WORD = re.compile(r"[a-z]+")
_LONG_WORD = re.compile(r"\S{30}")  # a URL, which a wrapper cannot break
_SENTENCE_BREAK = re.compile(r"(?:[a-z]{3,}|[0-9%)\]])\.\s+[A-Z]")
_TITLE_MAX = 250
_WRAP_MAX = 200  # a capture whose lines are longer than this was not hard-wrapped
_NEAR_FULL = 15  # most lines of a wrapped capture are at most this much shorter than its width
_MINOR = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be by can do does for from how in into is it its of on or over than "
        "the their to under via vs what when where which who why with within without",
    )
)
_PROSE_OPENERS = frozenset(("we", "this", "these", "our", "while", "although", "despite"))
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
_META_STAGES = {"authors": 0, "dot": 1, "date": 2, "number": 3}
_HINT = "expected a Daily Papers or search page capture: title, abstract, '• N authors · date'"

Problems = list[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class _Token:
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


@dataclass(slots=True)
class _Entry:
    """A title and (once read) its abstract."""

    title: _Token
    abstract: _Token | None = None


def looks_like(text: str) -> bool:
    """Any text may be a capture: this kind is the fallback."""
    return True


def parse(text: str, *, source: str, origin: str = "", today: date) -> ParseResult:
    """Turn a text capture into papers; blocks that are not papers go to ``problems``."""
    problems: Problems = []
    page_stamp, tokens = _read(text, problems)
    reference = _resolve(page_stamp, today, problems) if page_stamp else None
    runs = list(_runs(_unwrap(tokens)))
    abstracts = _shows_abstracts(runs)
    papers = [
        _paper(entry, meta, reference or today, source, problems)
        for texts, group in runs
        for entry, meta in _entries(texts, group, problems, abstracts=abstracts)
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


# Reading lines ----------------------------------------------------------------------------


def _read(text: str, problems: Problems) -> tuple[Stamp | None, list[_Token]]:
    """The page date from the banner, and the classified lines after it."""
    page: Stamp | None = None
    tokens: list[_Token] = []
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


def _token(number: int, line: str, previous: _Token | None, problems: Problems) -> _Token:
    """The line classified: ``text`` unless it is one of the known short lines."""
    submitter = previous is not None and previous.text.casefold() == _SUBMITTED
    if not submitter and not _SPECIAL_START.match(line):
        return _Token(number, "text", line, end=number, tail=len(line))  # most lines, quickly
    if match := _AUTHORS_LINE.fullmatch(line):
        when = DATE_LINE.fullmatch(match["rest"] or "")
        if match["rest"] and when is None:
            problems.append((number, f"unreadable date {_quote(match['rest'])}, left unknown"))
        votes = int(when["votes"]) if when and when["votes"] else None
        written = stamp(when, number) if when else None
        return _Token(number, "authors", line, int(match["count"]), written, votes)
    if match := DATE_LINE.fullmatch(line):
        votes = int(match["votes"]) if match["votes"] else None
        return _Token(number, "date", line, stamp=stamp(match, number), votes=votes)
    if _DOT_LINE.fullmatch(line):
        return _Token(number, "dot", line)
    if _NUMBER_LINE.fullmatch(line):
        return _Token(number, "number", line, votes=int(line))
    if _NOISE_LINE.fullmatch(line) or (submitter and len(line.split()) <= 3):
        return _Token(number, "noise", line)
    return _Token(number, "text", line, end=number, tail=len(line))


# Hard-wrapped captures --------------------------------------------------------------------


def _unwrap(tokens: list[_Token]) -> list[_Token]:
    """Join back the lines of paragraphs that were hard-wrapped at a fixed width.

    A line too full for the next line's first word goes on in the next line, unless fields
    are not set apart by blank lines and the two read like the end of one field and the
    start of another: the next line is then ``cut`` from it.
    """
    width = _wrap_width(tokens)
    if width is None:
        return tokens
    by_blank_lines = _blank_separated(tokens, width)
    bare = not any(token.kind in ("authors", "date") for token in tokens)
    loose = bare or _titles_under_abstracts(tokens, width)
    out: list[_Token] = []
    for index, token in enumerate(tokens):
        last = out[-1] if out else None
        after = tokens[index + 1 : index + 2]
        if last is None or not _continues(last, token, width):
            out.append(token)
        elif not by_blank_lines and (
            _title_ends(last, token, after)
            or _abstract_ends(last, token, after, loose=loose, bare=bare)
        ):
            out.append(replace(token, cut=True))
        else:
            text = _join(last.text, token.text)
            out[-1] = _Token(last.line, "text", text, end=token.line, tail=token.tail, cut=last.cut)
    return out


def _wrap_width(tokens: list[_Token]) -> int | None:
    """The width text lines were wrapped at, or None if they were not.

    Hardly any line may go beyond it, and many lines must come close to it, or most lines
    with text under them be too full for its first word.
    """
    lengths = [token.tail for token in tokens if token.kind == "text"]
    if sum(length > _WRAP_MAX for length in lengths) > len(lengths) // 20:
        return None
    width = _longest_line(tokens, len(lengths))
    beyond = sum(length > width for length in lengths)
    near = sum(width - _NEAR_FULL <= length <= width for length in lengths)
    fulls = [_full(a, b, width) for a, b in pairwise(tokens) if _continues(a, b, None)]
    if not 0 < width <= _WRAP_MAX or beyond > len(lengths) // 20 or not any(fulls):
        return None
    return width if near >= len(lengths) / 10 or 2 * sum(fulls) >= len(fulls) else None


def _longest_line(tokens: list[_Token], count: int) -> int:
    """The longest text line's length, but for lines holding an unbreakable URL and, in a
    long capture, a few lines standing well out of the rest."""
    texts = sorted((t for t in tokens if t.kind == "text"), key=lambda t: t.tail, reverse=True)
    lengths = [t.tail for t in texts[: count // 20 + 2] if not _LONG_WORD.search(t.text)]
    top = 0
    while top < min(count // 40, len(lengths) - 1) and lengths[top] > lengths[top + 1] + 2:
        top += 1
    return lengths[top] if lengths else 0


def _continues(last: _Token, token: _Token, width: int | None) -> bool:
    """Two text lines, one right under the other, the first too full for the next word."""
    adjacent = last.kind == token.kind == "text" and token.line == last.end + 1
    return adjacent and (width is None or _full(last, token, width))


def _full(last: _Token, token: _Token, width: int) -> bool:
    space = token.text.find(" ")
    return last.tail + 1 + (len(token.text) if space < 0 else space) > width


def _blank_separated(tokens: list[_Token], width: int) -> bool:
    """Whether a title and its abstract are set apart by a blank line, not just by width."""
    adjacent = separated = 0
    for last, token in pairwise(tokens):
        both = last.kind == token.kind == "text"
        if both and not _full(last, token, width) and _title_like(last.text):
            adjacent += token.line == last.end + 1
            separated += token.line != last.end + 1
    return separated > adjacent


def _titles_under_abstracts(tokens: list[_Token], width: int) -> bool:
    """Whether some entries lack author/date lines, so that a title may come right under an
    abstract: a few lines end a sentence short of the width with a title-like line under."""
    seen = 0
    for last, token in pairwise(tokens):
        if _continues(last, token, None) and last.text.endswith((".", "?", "!")):
            seen += not _full(last, token, width) and _title_like(token.text, whole=False)
    return seen >= 2


def _title_ends(paragraph: _Token, token: _Token, after: list[_Token]) -> bool:
    """A title above an abstract: the line under a title-like one does not read like a title
    (nor like a title's middle line, with its last line under it)."""
    if not _title_like(paragraph.text) or _title_like(token.text) or _hyphenated(paragraph.text):
        return False
    middle = _more_text(token, after) and _title_like(token.text, whole=False)
    return not (middle and _title_like(after[0].text))


def _abstract_ends(
    paragraph: _Token, token: _Token, after: list[_Token], *, loose: bool, bare: bool
) -> bool:
    """An abstract above a title-like line: a stray one (an organisation's name), or where
    entries may lack author/date lines (``loose``), a title of three words or more with
    more text under it. The abstract ends a sentence, or (with no author/date lines at all,
    ``bare``) is a short one."""
    sentence = paragraph.text.endswith((".", "?", "!"))
    short = bare and paragraph.end - paragraph.line < 2 and _last_word(paragraph.text) not in _MINOR
    if not (sentence or short) or _hyphenated(paragraph.text) or _title_like(paragraph.text):
        return False
    if not _more_text(token, after):
        return sentence and _title_like(token.text)
    first = token.text[:1]
    starts = first.isalnum() and not (first.isascii() and first.islower())  # not "(1B…"
    long = len(token.text.split(" ", 2)) == 3
    return loose and starts and long and _title_like(token.text, whole=False)


def _more_text(token: _Token, after: list[_Token]) -> bool:
    return bool(after) and after[0].kind == "text" and after[0].line == token.line + 1


def _last_word(text: str) -> str:
    return text.rsplit(" ", 1)[-1].casefold()


def _hyphenated(text: str) -> bool:
    """Whether a line ends inside a word broken after a hyphen (``Vision-``, ``this--``)."""
    return text.endswith("-") and text.rstrip("-")[-1:].isalnum()


def _join(text: str, more: str) -> str:
    """``Vision-Language-`` + ``Action`` is one word (so is ``this--`` + ``that``), but
    ``pre-`` + ``and post-`` is two."""
    if _hyphenated(text) and more[:1].isalnum() and not more.startswith(("and ", "or ")):
        return text + more
    return f"{text} {more}"


# Entries ----------------------------------------------------------------------------------


def _runs(tokens: list[_Token]) -> Iterator[tuple[list[_Token], _Token | None]]:
    """Runs of lines, each with the author/date group that closes it (if any)."""
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
    when: Stamp | None = None
    votes: int | None = None
    while index < len(tokens):
        token = tokens[index]
        rank = _META_STAGES.get(token.kind)
        if rank is None or rank <= stage or (token.kind == "number" and stage != 2):
            break
        authors = token.authors if token.authors is not None else authors
        when, votes = token.stamp or when, token.votes if token.votes is not None else votes
        stage = 3 if token.votes is not None else 2 if token.stamp else rank
        index += 1
    return _Token(line, "meta", "", authors=authors, stamp=when, votes=votes), index


def _shows_abstracts(runs: list[tuple[list[_Token], _Token | None]]) -> bool:
    """Whether the page shows abstracts: most entries closed by an author/date group have a
    paragraph under the title that is not title-like (day pages may show titles only)."""
    closed = [texts for texts, meta in runs if meta is not None]
    shown = 0
    for texts in closed:
        last = [token.kind == "text" for token in texts[-2:]]
        shown += last == [True, True] and not _title_like(texts[-1].text)
    return 2 * shown >= len(closed)


def _entries(
    texts: list[_Token], meta: _Token | None, problems: Problems, *, abstracts: bool
) -> Iterator[tuple[_Entry, _Token | None]]:
    """The entries in a run of lines; the last one owns the author/date group."""
    entries, dangling = _split(texts, problems, abstracts=abstracts)
    if meta is not None and (dangling or not entries):
        problems.append((meta.line, "author/date line without a title before it, skipped"))
        meta = None
    for position, entry in enumerate(entries, start=1):
        owned = meta if position == len(entries) else None
        if owned is None and entry.abstract is None:
            _stray(entry.title, problems)
        else:
            yield entry, owned


def _split(
    texts: list[_Token], problems: Problems, *, abstracts: bool
) -> tuple[list[_Entry], bool]:
    """Group lines into title + abstract entries; stray lines become problems.

    Nothing comes between a title and its abstract: after a skipped line (``Submitted by``,
    a count) the next line starts an entry. Also tells whether the last line was stray (an
    author/date group under it has no title).
    """
    entries: list[_Entry] = []
    interrupted = dangling = False
    for index, token in enumerate(texts):
        if token.kind != "text":
            interrupted = True
            continue
        current = entries[-1] if entries else None
        awaiting = current is not None and current.abstract is None and not interrupted
        following = [text for text in texts[index + 1 : index + 2] if text.kind == "text"]
        role = _role(token, following, awaiting=awaiting, abstracts=abstracts)
        dangling = False
        if role == "noise":
            problems.append((token.line, f"line without words, skipped: {_quote(token.text)}"))
        elif role == "title":
            entries.append(_Entry(token))
        elif current is not None and awaiting:
            current.abstract = token
        elif current is not None and current.abstract is not None and not interrupted:
            entries[-1] = _second_abstract(current, current.abstract, token, problems)
            dangling = entries[-1] is current
        else:
            _orphan(token, problems)
            dangling = True
        interrupted = False
    return entries, dangling


def _role(token: _Token, following: list[_Token], *, awaiting: bool, abstracts: bool) -> str:
    """``title``, ``abstract`` or ``noise``, by the line's shape and place.

    A title-shaped line under a title is its abstract if it does not read like a title
    (``We show…``) or if the page shows abstracts; one that reads like a sentence, with a
    title under it, is an abstract whose title went missing.
    """
    shape = _shape(token.text)
    if shape == "title" and awaiting and (abstracts or not _title_like(token.text)):
        return "abstract"
    if shape == "title" and not awaiting and not _title_like(token.text):
        return "abstract" if following and _title_like(following[0].text) else "title"
    if shape == "abstract" and not awaiting and _title_by_contrast(token, following):
        return "title"
    return shape


def _second_abstract(entry: _Entry, first: _Token, token: _Token, problems: Problems) -> _Entry:
    """An abstract right under an entry's abstract: one of the guesses was wrong.

    The second was the rest of the first (``cut`` from it as if the first were a title), or
    the first was a wrapped title's last line (``cut`` from it), or the title itself under a
    stray line such as an organisation's name; otherwise the second abstract has no title.
    """
    if token.cut:
        return _Entry(entry.title, replace(first, text=_join(first.text, token.text)))
    if first.cut:
        return _Entry(replace(entry.title, text=f"{entry.title.text} {first.text}"), token)
    if _shape(first.text) == "title":
        _stray(entry.title, problems)
        return _Entry(first, token)
    _orphan(token, problems)
    return entry


def _stray(token: _Token, problems: Problems) -> None:
    text = _quote(token.text)
    problems.append((token.line, f"no abstract and no author/date line, skipped: {text}"))


def _orphan(token: _Token, problems: Problems) -> None:
    text = _quote(token.text)
    problems.append((token.line, f"text without a title before it, skipped: {text}"))


# The shape of a line ----------------------------------------------------------------------


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


def _title_like(text: str, *, whole: bool = True) -> bool:
    """Title Case, no sentence, no ``We…``: a title, or (not ``whole``) a title's first line.

    A whole title also ends on a capitalised word (not ``…for``, ``…models``).
    """
    if len(text) > _TITLE_MAX or _shape(text) != "title":
        return False
    words = _WORD.findall(text)
    if not words or words[0].casefold() in _PROSE_OPENERS:
        return False
    last = not whole or not words[-1].islower() or text.endswith(("?", "!", ")"))
    return last and _capitalised(words) >= 0.75


def _capitalised(words: list[str]) -> float:
    """The share of words (minor words and caseless scripts aside) holding a capital."""
    cased = [w for w in words if w.lower() not in _MINOR and w.lower() != w.upper()]
    return sum(w.lower() != w for w in cased) / len(cased) if cased else 1.0


# Papers -----------------------------------------------------------------------------------


def _paper(
    entry: _Entry, meta: _Token | None, reference: date, source: str, problems: Problems
) -> Paper:
    title = collapse_whitespace(entry.title.text)
    when = meta.stamp if meta else None
    return Paper(
        id=title_id(title),
        title=title,
        abstract=collapse_whitespace(entry.abstract.text) if entry.abstract else None,
        author_count=meta.authors if meta else None,
        published=_resolve(when, reference, problems) if when else None,
        upvotes=meta.votes if meta else None,
        sources=(source,),
    )


def _resolve(written: Stamp, reference: date, problems: Problems) -> date | None:
    day = resolve(written, reference)
    if day is None:
        problems.append((written.line, f"no such date {_quote(written.text)}, left unknown"))
    return day
