"""Parse plain-text captures of HF Daily Papers and search pages (PRODUCT §5.2).

A capture is a banner (``Subscribe``, ``Daily Papers``, a page date such as ``Oct 28``…),
possibly glued to the first title, then entries: a title, an abstract and an author/date
group (``• 7 authors``, ``·``, ``Jun 11, 2024 6``) that closes the entry. Day pages add
lines such as ``Submitted by akhaliq`` and bare upvote or comment counts, which are skipped,
and organisation names, which are reported.

The work goes in four steps: lines are classified (``text_lines.read_tokens``); paragraphs
hard-wrapped at a fixed width are joined back (``text_wrap.unwrap``); runs of text lines, each
closed by its author/date group, are split into titles and abstracts (``_split``), where the
shape of a line (``text_shape``: Title Case or prose, one sentence or several) decides what it
is; papers are made. Whatever cannot be made into a paper is reported with its line number,
never guessed at: an abstract is never given a title.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date

from digest.errors import ParseError
from digest.models import (
    NO_OPTIONS,
    Paper,
    ParseOptions,
    ParseResult,
    collapse_whitespace,
    title_id,
)
from digest.parse.dates import Stamp, resolve
from digest.parse.text_lines import Problems, Token, quote, read_tokens
from digest.parse.text_shape import join_lines, line_shape, title_by_contrast, title_like
from digest.parse.text_wrap import unwrap

_META_STAGES = {"authors": 0, "dot": 1, "date": 2, "number": 3}


_HINT = "expected a Daily Papers or search page capture: title, abstract, '• N authors · date'"


@dataclass(slots=True)
class _Entry:
    """A title and (once read) its abstract."""

    title: Token
    abstract: Token | None = None


def looks_like(text: str) -> bool:
    """Any text may be a capture: this kind is the fallback."""
    return True


def parse(
    text: str,
    *,
    source: str,
    origin: str = "",
    today: date,
    options: ParseOptions = NO_OPTIONS,
) -> ParseResult:
    """Turn a text capture into papers; blocks that are not papers go to ``problems``."""
    del options  # a capture has no settings
    problems: Problems = []
    page_stamp, tokens = read_tokens(text, problems)
    reference = _resolve(page_stamp, today, problems) if page_stamp else None
    runs = list(_runs(unwrap(tokens)))
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
    if len(problems) == 1:
        return f"no papers found in this text; 1 problem, at line {line}: {message}"
    return (
        f"no papers found in this text; {len(problems)} problems, first at line {line}: {message}"
    )


def _runs(tokens: list[Token]) -> Iterator[tuple[list[Token], Token | None]]:
    """Runs of lines, each with the author/date group that closes it (if any)."""
    texts: list[Token] = []
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


def _take_meta(tokens: list[Token], index: int) -> tuple[Token, int]:
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
    return Token(line, "meta", "", authors=authors, stamp=when, votes=votes), index


def _shows_abstracts(runs: list[tuple[list[Token], Token | None]]) -> bool:
    """Whether the page shows abstracts: most entries closed by an author/date group have a
    paragraph under the title that is not title-like (day pages may show titles only)."""
    closed = [texts for texts, meta in runs if meta is not None]
    shown = 0
    for texts in closed:
        last = [token.kind == "text" for token in texts[-2:]]
        shown += last == [True, True] and not title_like(texts[-1].text)
    return 2 * shown >= len(closed)


def _entries(
    texts: list[Token], meta: Token | None, problems: Problems, *, abstracts: bool
) -> Iterator[tuple[_Entry, Token | None]]:
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


def _split(texts: list[Token], problems: Problems, *, abstracts: bool) -> tuple[list[_Entry], bool]:
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
            problems.append((token.line, f"line without words, skipped: {quote(token.text)}"))
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


def _role(token: Token, following: list[Token], *, awaiting: bool, abstracts: bool) -> str:
    """``title``, ``abstract`` or ``noise``, by the line's shape and place.

    A title-shaped line under a title is its abstract if it does not read like a title
    (``We show…``) or if the page shows abstracts; one that reads like a sentence, with a
    title under it, is an abstract whose title went missing.
    """
    shape = line_shape(token.text)
    if shape == "title" and awaiting and (abstracts or not title_like(token.text)):
        return "abstract"
    if shape == "title" and not awaiting and not title_like(token.text):
        return "abstract" if following and title_like(following[0].text) else "title"
    if shape == "abstract" and not awaiting and title_by_contrast(token, following):
        return "title"
    return shape


def _second_abstract(entry: _Entry, first: Token, token: Token, problems: Problems) -> _Entry:
    """An abstract right under an entry's abstract: one of the guesses was wrong.

    The second was the rest of the first (``cut`` from it as if the first were a title), or
    the first was a wrapped title's last line (``cut`` from it), or the title itself under a
    stray line such as an organisation's name; otherwise the second abstract has no title.
    """
    if token.cut:
        return _Entry(entry.title, replace(first, text=join_lines(first.text, token.text)))
    if first.cut:
        return _Entry(replace(entry.title, text=f"{entry.title.text} {first.text}"), token)
    if line_shape(first.text) == "title":
        _stray(entry.title, problems)
        return _Entry(first, token)
    _orphan(token, problems)
    return entry


def _stray(token: Token, problems: Problems) -> None:
    text = quote(token.text)
    problems.append((token.line, f"no abstract and no author/date line, skipped: {text}"))


def _orphan(token: Token, problems: Problems) -> None:
    text = quote(token.text)
    problems.append((token.line, f"text without a title before it, skipped: {text}"))


def _paper(
    entry: _Entry, meta: Token | None, reference: date, source: str, problems: Problems
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
        problems.append((written.line, f"no such date {quote(written.text)}, left unknown"))
    return day
