"""What a line of a text capture looks like: a title (Title Case, one short line) or prose."""

from __future__ import annotations

import re

from digest.parse.text_lines import Token

_LETTER = re.compile(r"[^\W\d_]")


_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")


_SENTENCE_BREAK = re.compile(r"(?:[a-z]{3,}|[0-9%)\]])\.\s+[A-Z]")


TITLE_MAX = 250


MINOR = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be by can do does for from how in into is it its of on or over than "
        "the their to under via vs what when where which who why with within without",
    )
)


_PROSE_OPENERS = frozenset(("we", "this", "these", "our", "while", "although", "despite"))


def line_shape(text: str) -> str:
    """``title`` (one short sentence-free line), ``abstract``, or ``noise`` (no letters)."""
    if not _LETTER.search(text):
        return "noise"
    if len(text) <= TITLE_MAX and not text.endswith(".") and not _SENTENCE_BREAK.search(text):
        return "title"
    return "abstract"


def title_by_contrast(token: Token, following: list[Token]) -> bool:
    """A short one-sentence line ending in a period is a title if a long abstract follows."""
    if not following or len(token.text) > TITLE_MAX or _SENTENCE_BREAK.search(token.text):
        return False
    after = following[0].text
    return line_shape(after) == "abstract" and len(after) >= 2 * len(token.text)


def title_like(text: str, *, whole: bool = True) -> bool:
    """Title Case, no sentence, no ``We…``: a title, or (not ``whole``) a title's first line.

    A whole title also ends on a capitalised word (not ``…for``, ``…models``).
    """
    if len(text) > TITLE_MAX or line_shape(text) != "title":
        return False
    words = _WORD.findall(text)
    if not words or words[0].casefold() in _PROSE_OPENERS:
        return False
    last = not whole or not words[-1].islower() or text.endswith(("?", "!", ")"))
    return last and _capitalised(words) >= 0.75


def _capitalised(words: list[str]) -> float:
    """The share of words (minor words and caseless scripts aside) holding a capital."""
    cased = [w for w in words if w.lower() not in MINOR and w.lower() != w.upper()]
    return sum(w.lower() != w for w in cased) / len(cased) if cased else 1.0


def last_word(text: str) -> str:
    return text.rsplit(" ", 1)[-1].casefold()


def hyphenated(text: str) -> bool:
    """Whether a line ends inside a word broken after a hyphen (``Vision-``, ``this--``)."""
    return text.endswith("-") and text.rstrip("-")[-1:].isalnum()


def join_lines(text: str, more: str) -> str:
    """``Vision-Language-`` + ``Action`` is one word (so is ``this--`` + ``that``), but
    ``pre-`` + ``and post-`` is two."""
    if hyphenated(text) and more[:1].isalnum() and not more.startswith(("and ", "or ")):
        return text + more
    return f"{text} {more}"
