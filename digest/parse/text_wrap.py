"""Joining back paragraphs that a capture hard-wrapped at a fixed width (``lynx -dump`` and
the like), and telling where a wrapped title ends and its abstract begins."""

from __future__ import annotations

import re
from dataclasses import replace
from itertools import pairwise

from digest.parse.text_lines import Token
from digest.parse.text_shape import MINOR, hyphenated, join_lines, last_word, title_like

_LONG_WORD = re.compile(r"\S{30}")  # a URL, which a wrapper cannot break


_WRAP_MAX = 200  # a capture whose lines are longer than this was not hard-wrapped


_NEAR_FULL = 15  # most lines of a wrapped capture are at most this much shorter than its width


def unwrap(tokens: list[Token]) -> list[Token]:
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
    out: list[Token] = []
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
            text = join_lines(last.text, token.text)
            out[-1] = Token(last.line, "text", text, end=token.line, tail=token.tail, cut=last.cut)
    return out


def _wrap_width(tokens: list[Token]) -> int | None:
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


def _longest_line(tokens: list[Token], count: int) -> int:
    """The longest text line's length, but for lines holding an unbreakable URL and, in a
    long capture, a few lines standing well out of the rest."""
    texts = sorted((t for t in tokens if t.kind == "text"), key=lambda t: t.tail, reverse=True)
    lengths = [t.tail for t in texts[: count // 20 + 2] if not _LONG_WORD.search(t.text)]
    top = 0
    while top < min(count // 40, len(lengths) - 1) and lengths[top] > lengths[top + 1] + 2:
        top += 1
    return lengths[top] if lengths else 0


def _continues(last: Token, token: Token, width: int | None) -> bool:
    """Two text lines, one right under the other, the first too full for the next word."""
    adjacent = last.kind == token.kind == "text" and token.line == last.end + 1
    return adjacent and (width is None or _full(last, token, width))


def _full(last: Token, token: Token, width: int) -> bool:
    space = token.text.find(" ")
    return last.tail + 1 + (len(token.text) if space < 0 else space) > width


def _blank_separated(tokens: list[Token], width: int) -> bool:
    """Whether a title and its abstract are set apart by a blank line, not just by width."""
    adjacent = separated = 0
    for last, token in pairwise(tokens):
        both = last.kind == token.kind == "text"
        if both and not _full(last, token, width) and title_like(last.text):
            adjacent += token.line == last.end + 1
            separated += token.line != last.end + 1
    return separated > adjacent


def _titles_under_abstracts(tokens: list[Token], width: int) -> bool:
    """Whether some entries lack author/date lines, so that a title may come right under an
    abstract: a few lines end a sentence short of the width with a title-like line under."""
    seen = 0
    for last, token in pairwise(tokens):
        if _continues(last, token, None) and last.text.endswith((".", "?", "!")):
            seen += not _full(last, token, width) and title_like(token.text, whole=False)
    return seen >= 2


def _title_ends(paragraph: Token, token: Token, after: list[Token]) -> bool:
    """A title above an abstract: the line under a title-like one does not read like a title
    (nor like a title's middle line, with its last line under it)."""
    if not title_like(paragraph.text) or title_like(token.text) or hyphenated(paragraph.text):
        return False
    middle = _more_text(token, after) and title_like(token.text, whole=False)
    return not (middle and title_like(after[0].text))


def _abstract_ends(
    paragraph: Token, token: Token, after: list[Token], *, loose: bool, bare: bool
) -> bool:
    """An abstract above a title-like line: a stray one (an organisation's name), or where
    entries may lack author/date lines (``loose``), a title of three words or more with
    more text under it. The abstract ends a sentence, or (with no author/date lines at all,
    ``bare``) is a short one."""
    sentence = paragraph.text.endswith((".", "?", "!"))
    short = bare and paragraph.end - paragraph.line < 2 and last_word(paragraph.text) not in MINOR
    if not (sentence or short) or hyphenated(paragraph.text) or title_like(paragraph.text):
        return False
    if not _more_text(token, after):
        return sentence and title_like(token.text)
    first = token.text[:1]
    starts = first.isalnum() and not (first.isascii() and first.islower())  # not "(1B…"
    long = len(token.text.split(" ", 2)) == 3
    return loose and starts and long and title_like(token.text, whole=False)


def _more_text(token: Token, after: list[Token]) -> bool:
    return bool(after) and after[0].kind == "text" and after[0].line == token.line + 1
