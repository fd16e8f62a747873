"""Patterns: a template rendered once with stand-ins for what differs per reader, then cut up.

Every reader of an edition gets the same HTML apart from a few values: the subject and
preheader, the intro line, each paper's number and reason, the "did not fit" notice, the
address and the links. So :mod:`digest.render.edition` renders the templates once with a
*slot* in place of each of those values (:func:`pattern_context`), inlines the CSS once, and
cuts the result at the template's markers into a :class:`Layout` of :class:`Segment` s. A
reader's email is then those segments joined with their slots filled in.

A slot is ``U+E000 name <" U+E001``. The ``<"`` tells where a slot landed, because the HTML
serialiser escapes it differently in text (``&lt;"``) and in an attribute (``<&quot;``), and
the two contexts escape a value differently (:func:`escape_html`); the text template writes
it as is. A slot in any other shape (in a comment, a <style>, a filter's output) means the
template does something with the value that a pattern cannot replay: :class:`PatternError`,
and the caller renders the slow way.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from digest.render.template import (
    MARKER_PATTERN,
    NOTICE_END,
    NOTICE_START,
    PAPER_END,
    PAPER_START,
    ascii_html,
)
from digest.render.view import PaperView

TEXT, ATTRIBUTE, PLAIN = "text", "attr", "plain"  # where a slot landed
CONTEXTS = frozenset({TEXT, ATTRIBUTE, PLAIN})
_FORMS = {'&lt;"': TEXT, "<&quot;": ATTRIBUTE, '<"': PLAIN}
_SLOT = re.compile("\ue000([a-z_]+)(" + "|".join(map(re.escape, _FORMS)) + ")\ue001")
_MARK = re.compile("[\ue000\ue001]")
#: The reader slots whose values are this reader's own (the address and the signed links):
#: escaped afresh each time, since caching them would only push out the values that recur.
PERSONAL_SLOTS = frozenset(
    {
        "recipient",
        "unsubscribe_url",
        "unsubscribe_mailto",
        "preferences_url",
        "archive_url",
        "return_path",
    }
)
READER_SLOTS = PERSONAL_SLOTS | {
    "subject",
    "preheader",
    "intro",
    "text_intro",
    "dropped",
    "notice",
}
PAPER_SLOTS = frozenset({"number", "text_number", "reason", "text_reason"})


class PatternError(Exception):
    """A template's output cannot be cut into reusable pieces; render it per reader instead."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of output with slots: ``literals[0] value literals[1] value ...``."""

    literals: tuple[str, ...]
    keys: tuple[str, ...]  # "name/context" of each slot, in order
    fixed: int = field(init=False, compare=False)  # the length of the literals together
    _pieces: list[str] = field(init=False, compare=False, repr=False)  # literals, gaps between

    def __post_init__(self) -> None:
        object.__setattr__(self, "fixed", sum(map(len, self.literals)))
        pieces: list[str] = []
        for literal in self.literals:
            pieces += [literal, ""]
        object.__setattr__(self, "_pieces", pieces[:-1])

    def fill(self, values: Mapping[str, str]) -> str:
        """The segment with each slot replaced by ``values[key]``."""
        if not self.keys:
            return self.literals[0]
        pieces = self._pieces.copy()
        for i, key in enumerate(self.keys):
            pieces[2 * i + 1] = values[key]
        return "".join(pieces)

    def size(self, values: Mapping[str, str]) -> int:
        """``len`` of the filled segment, without filling it."""
        return self.fixed + sum([len(values[key]) for key in self.keys])

    @property
    def names(self) -> frozenset[str]:
        return frozenset(key.partition("/")[0] for key in self.keys)


@dataclass(frozen=True, slots=True)
class Frame:
    """The segments around the papers; the same for every reader and every pattern."""

    head: Segment  # up to the first paper
    separator: Segment  # between two papers
    middle: Segment  # after the last paper, up to the notice
    notice: Segment  # shown when papers were dropped
    tail: Segment


@dataclass(frozen=True, slots=True)
class Layout:
    """A rendered pattern cut up: its frame and the segment of each paper it was given."""

    frame: Frame
    papers: tuple[Segment, ...]


def slot(name: str) -> str:
    return f'\ue000{name}<"\ue001'


def pattern_context(
    constants: Mapping[str, Any],
    papers: Sequence[tuple[PaperView, bool, str]],
    mailto: bool,
    return_path: bool = False,
) -> dict[str, Any]:
    """The template variables of a pattern: ``constants`` plus slots for the rest.

    ``papers`` are the views to render (with or without a reason, opening a section or not:
    the section's heading is the same for every reader, so it is no slot) between two copies of the
    first one, which are rendered and discarded: no real paper is then first or last, so a
    template whose paper block depends on its position fails the renderer's self-check
    instead of passing it by luck.
    """
    views = [papers[0], *papers, papers[0]]
    return {
        **constants,
        **{
            name: slot(name)
            for name in ("subject", "preheader", "intro", "text_intro", "recipient")
        },
        "links": SimpleNamespace(
            unsubscribe_url=slot("unsubscribe_url"),
            unsubscribe_mailto=slot("unsubscribe_mailto") if mailto else None,
            preferences_url=slot("preferences_url"),
            archive_url=slot("archive_url"),
            return_path=slot("return_path") if return_path else None,
        ),
        "papers": [_paper_pattern(view, reason, section) for view, reason, section in views],
        "dropped": slot("dropped"),
        "notice": slot("notice"),
    }


def cut_layout(
    rendered: str, contexts: frozenset[str], encode: Callable[[str], str], count: int
) -> Layout:
    """``rendered`` (a pattern of ``count`` papers) cut at its markers; PatternError if it
    does not have the expected shape or holds slots outside ``contexts``.

    ``encode`` turns its literal text into what is sent (for HTML: ASCII)."""
    pieces = MARKER_PATTERN.split(rendered)
    texts, markers = pieces[0::2], pieces[1::2]
    papers = count + 2  # with the two copies pattern_context adds
    if markers != [PAPER_START, PAPER_END] * papers + [NOTICE_START, NOTICE_END]:
        raise PatternError("the template's paper and notice markers are missing or out of order")
    gaps = set(texts[2 : 2 * papers - 1 : 2])
    if len(gaps) != 1:
        raise PatternError("the template writes different things between papers")
    segments = [_segment(text, contexts, encode) for text in texts]
    frame = Frame(
        head=segments[0],
        separator=segments[2],
        middle=segments[2 * papers],
        notice=segments[2 * papers + 1],
        tail=segments[2 * papers + 2],
    )
    for part in (frame.head, frame.separator, frame.middle, frame.notice, frame.tail):
        if not part.names <= READER_SLOTS:
            raise PatternError("a paper's number or reason appears outside its paper")
    kept = tuple(segments[3 : 2 * papers - 2 : 2])
    if not all(paper.names <= PAPER_SLOTS for paper in kept):
        raise PatternError("a paper's block shows a value of the reader's, not the paper's")
    return Layout(frame, kept)


def escape_html_once(value: str, context: str) -> str:
    """``value`` as the HTML serialiser (html5ever, in css-inline) writes it, in ASCII."""
    value = value.replace("&", "&amp;").replace("\xa0", "&nbsp;")
    if context == ATTRIBUTE:
        value = value.replace('"', "&quot;")
    elif context == TEXT:
        value = value.replace("<", "&lt;").replace(">", "&gt;")
    else:
        raise ValueError(f"no HTML context {context!r}")
    return ascii_html(value)


#: :func:`escape_html_once` of what recurs across readers (subjects, reasons, numbers).
escape_html = functools.lru_cache(maxsize=4096)(escape_html_once)


def slot_values(name: str, value: str, contexts: frozenset[str]) -> dict[str, str]:
    """``value`` for slot ``name`` in each of ``contexts``: HTML-escaped, or as it is."""
    return {
        f"{name}/{context}": value if context == PLAIN else escape_html(value, context)
        for context in contexts
    }


class SlotValues(dict[str, str]):
    """The values of slots by key ("name/context"), escaped for their context on first use
    (through the cache, unless the value is the reader's own: PERSONAL_SLOTS)."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        super().__init__()
        self.raw = raw

    def __missing__(self, key: str) -> str:
        name, _, context = key.partition("/")
        value = self.raw[name]
        if context != PLAIN:
            escape = escape_html_once if name in PERSONAL_SLOTS else escape_html
            value = escape(value, context)
        self[key] = value
        return value


def _paper_pattern(view: PaperView, reason: bool, section: str) -> SimpleNamespace:
    fields = {f.name: getattr(view, f.name) for f in dataclasses.fields(view)}
    fields.update(
        number=slot("number"),
        text_number=slot("text_number"),
        reason=slot("reason") if reason else "",
        text_reason=slot("text_reason") if reason else "",
        section=section,
    )
    return SimpleNamespace(**fields)


def _segment(text: str, contexts: frozenset[str], encode: Callable[[str], str]) -> Segment:
    parts = _SLOT.split(text)  # literal, name, form, literal, name, form, ...
    literals, names, forms = parts[0::3], parts[1::3], parts[2::3]
    keys = tuple(f"{name}/{_FORMS[form]}" for name, form in zip(names, forms, strict=True))
    if any(_MARK.search(literal) for literal in literals):
        raise PatternError("the template transforms a per-reader value")
    if not {k.partition("/")[2] for k in keys} <= contexts:
        raise PatternError("a per-reader value lands where it cannot be escaped")
    if not {k.partition("/")[0] for k in keys} <= READER_SLOTS | PAPER_SLOTS:
        raise PatternError("an unknown slot")  # pragma: no cover - names come from slot()
    return Segment(tuple(encode(literal) for literal in literals), keys)
