"""Clean text at the parser's door: what no paper may carry past parsing.

A source's text can hold what cannot be written as UTF-8 (a lone UTF-16 surrogate such as
``\\ud83d``, from a JSON escape or an XML character reference) or should not be written at
all (NUL and other control characters; the Unicode noncharacters, which the renderer keeps
for its own markers). One such character used to sink a whole edition with a
``UnicodeEncodeError`` while the store was written; here each becomes U+FFFD, wherever it
is: in the decoded text (:func:`clean_text`), in what ``json`` or feedparser made of it
(:func:`clean_tree`), and in every text field of every paper (:func:`clean_result`), which
also cuts a field that is far longer than any real one, keeping the paper.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from digest.models import Paper, ParseResult

REPLACEMENT = "\ufffd"
_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17)
)
_UNWRITABLE = "\ud800-\udfff" + _NONCHARACTERS
# In a whole document line breaks stay; in a field only tab and newline do (CR becomes a space).
_BAD_IN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_UNWRITABLE}]")
_BAD_IN_FIELD = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_UNWRITABLE}]")
_REFERENCE = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")
# The longest a field may be, in characters; anything longer is cut (a problem line says so).
LIMITS = {"title": 1_000, "abstract": 20_000, "ai_summary": 5_000}
DEFAULT_LIMIT = 2_000  # ids, URLs
ITEM_LIMIT = 500  # each author name, keyword or source name


def clean_text(text: str) -> str:
    """A whole decoded document with its unwritable and control characters replaced."""
    return _BAD_IN_TEXT.sub(REPLACEMENT, text) if _BAD_IN_TEXT.search(text) else text


def clean_field(text: str) -> str:
    """One text field: the same, and a carriage return becomes a space."""
    if not _BAD_IN_FIELD.search(text):
        return text
    return _BAD_IN_FIELD.sub(lambda m: " " if m.group() == "\r" else REPLACEMENT, text)


def clean_references(markup: str) -> str:
    """XML or HTML with each numeric character reference to such a character (``&#xD83D;``,
    ``&#0;``) turned into one to U+FFFD: feedparser would otherwise fail on the whole feed."""
    return _REFERENCE.sub(_reference, markup) if "&#" in markup else markup


def _reference(match: re.Match[str]) -> str:
    hexadecimal, decimal = match.groups()
    code = int(hexadecimal, 16) if hexadecimal else int(decimal)
    good = code <= 0x10FFFF and not _BAD_IN_TEXT.match(chr(code))
    return match.group() if good else "&#xFFFD;"


def clean_tree(tree: Any) -> Any:
    """``tree`` (what ``json.loads`` or feedparser returns) with every string in it, keys
    too, cleaned in place; without recursion, so any depth is fine."""
    if isinstance(tree, str):
        return clean_field(tree)
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in [k for k in node if isinstance(k, str) and _BAD_IN_FIELD.search(k)]:
                node[clean_field(key)] = node.pop(key)
            pairs: list[tuple[Any, Any]] = list(node.items())
        elif isinstance(node, list):
            pairs = list(enumerate(node))
        else:
            continue
        for key, value in pairs:
            if isinstance(value, str):
                node[key] = clean_field(value)
            elif isinstance(value, (dict, list)):
                stack.append(value)
    return tree


def clean_result(result: ParseResult) -> ParseResult:
    """Every paper's text fields cleaned and cut to their limits; a problem line for each cut."""
    problems = [clean_field(line) for line in result.problems]
    papers = tuple(_clean_paper(paper, problems) for paper in result.papers)
    return ParseResult(papers=papers, problems=tuple(problems))


def _clean_paper(paper: Paper, problems: list[str]) -> Paper:
    changes: dict[str, Any] = {}
    cuts: list[str] = []
    for field in dataclasses.fields(paper):
        value = getattr(paper, field.name)
        cleaned: str | tuple[str, ...]
        if isinstance(value, str):
            cleaned = _cut(clean_field(value), LIMITS.get(field.name, DEFAULT_LIMIT))
            if len(cleaned) < len(value):
                cuts.append(f"{field.name} cut to {len(cleaned)} characters (it had {len(value)})")
        elif isinstance(value, tuple) and all(isinstance(v, str) for v in value):
            cleaned = tuple(_cut(clean_field(v), ITEM_LIMIT) for v in value)
            if any(len(c) < len(v) for c, v in zip(cleaned, value, strict=True)):
                cuts.append(f"{field.name}: an entry cut to {ITEM_LIMIT} characters")
        else:
            continue
        if cleaned != value:
            changes[field.name] = cleaned
    result = dataclasses.replace(paper, **changes) if changes else paper
    problems.extend(f"{result.id}: {cut}, the paper kept" for cut in cuts)
    return result


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
