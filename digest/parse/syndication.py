"""What the feed kinds (``arxiv-rss``, ``arxiv-api``, ``feed``) share: reading RSS/Atom with
feedparser, the dates and names written in it, and the arXiv ids in its links.

feedparser is asked for the text as written: its HTML sanitiser would read the ``<`` of an
abstract such as ``p<0.05`` as a tag and cut the sentence (arXiv descriptions are plain text
in an element RSS calls HTML), so each kind decides itself what is markup.
"""

from __future__ import annotations

import io
import re
import xml.sax
from collections.abc import Mapping
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import feedparser

from digest.errors import ParseError
from digest.models import ARXIV_ID, ARXIV_VERSION, arxiv_id_of, collapse_whitespace
from digest.parse.clean import clean_references, clean_tree

_ID = rf"{ARXIV_ID}{ARXIV_VERSION}(?!\d)"
_ARXIV_REF = re.compile(
    r"(?i:arxiv\.org/(?:abs|pdf|html)/|huggingface\.co/papers/|oai:arxiv\.org:|\barxiv:)" + _ID
)
_HF_PAPER = re.compile(r"(?i:huggingface\.co/papers/)" + _ID)
_ROOT = re.compile(r"<(rss|feed|rdf:RDF)[\s>/]")
_PROLOGUE = re.compile(r"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)", re.DOTALL)
_NAME_SEPARATOR = re.compile(r",|;|\s+and\s+|\s+&\s+")
_XML_DECLARATION = re.compile(r"<\?xml[^>]*?>")
_WITHDRAWN = re.compile(r"(?:this (?:paper|article|submission) (?:has been|is) withdrawn)", re.I)
_HEAD_CHARS = 5_000

Entry = Mapping[str, Any]


def arxiv_id_in(text: str | None) -> str | None:
    """The arXiv id (without version) of an arXiv abs/pdf URL, an HF paper URL, an OAI
    identifier or an ``arXiv:`` reference in ``text``; None when there is none."""
    return arxiv_id_of(_ARXIV_REF.search(text or ""))


def is_hf_paper_url(url: str | None) -> bool:
    """True for a Hugging Face paper page (``huggingface.co/papers/<arXiv id>``)."""
    return bool(_HF_PAPER.search(url or ""))


def is_withdrawn(text: str | None) -> bool:
    """True for arXiv's stand-in abstract (or comment) of a withdrawn paper."""
    return bool(_WITHDRAWN.match(text or ""))


def abs_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/abs/{arxiv_id}"


def pdf_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/pdf/{arxiv_id}"


def xml_root(text: str) -> str | None:
    """``rss``, ``feed`` or ``rdf:RDF`` when the document's root element is one of them, after
    an optional XML declaration, processing instructions, comments or a doctype."""
    position = 0
    head = text[:_HEAD_CHARS].lstrip("\ufeff")
    while match := _PROLOGUE.match(head, position):
        position = match.end()
    while head[position : position + 1].isspace():
        position += 1
    root = _ROOT.match(head, position)
    return root.group(1) if root else None


def head_of(text: str) -> str:
    """The channel or feed head: what comes before the first item or entry."""
    head = text[:_HEAD_CHARS]
    cut = min((i for i in (head.find("<item"), head.find("<entry")) if i >= 0), default=len(head))
    return head[:cut]


def load_feed(text: str, origin: str, *, hint: str) -> tuple[Any, tuple[str, ...]]:
    """feedparser's reading of an RSS/Atom document, and a problem line when the XML was
    broken but items could still be read. Raises ParseError when nothing feed-like is found."""
    try:
        parsed = feedparser.parse(  # a stream: given a str, it would fetch URLs and open files
            io.BytesIO(clean_references(text).encode("utf-8")),
            response_headers={"content-type": "application/xml; charset=utf-8"},
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except (KeyError, AttributeError, IndexError, ValueError, TypeError) as exc:
        # feedparser's lenient parser trips over some broken markup (``<category</entry>``
        # leaves it a close tag with no open one): the document is unreadable, not our bug.
        detail = f"{type(exc).__name__} {exc}"
        raise ParseError(
            f"not an RSS or Atom feed: markup too broken to read leniently ({detail})",
            source=origin,
            hint=hint,
        ) from exc
    clean_tree(parsed)  # a character reference such as &#xD83D; is a lone surrogate
    entries = parsed.get("entries") or []
    broken = parsed.get("bozo_exception") if parsed.get("bozo") else None
    # feedparser puts an XML declaration on a line of its own before a document without one
    added = 0 if _XML_DECLARATION.match(text) else 1
    if entries and isinstance(broken, xml.sax.SAXException):
        where = _describe(broken, added)
        return parsed, (f"not well-formed XML ({where}); the items were read leniently",)
    if entries or (parsed.get("version") and broken is None):
        return parsed, ()
    reason = (
        f"not well-formed XML ({_describe(broken, added)})" if broken else "no RSS or Atom root"
    )
    raise ParseError(f"not an RSS or Atom feed: {reason}", source=origin, hint=hint)


def _describe(exc: object, added_lines: int) -> str:
    if isinstance(exc, xml.sax.SAXParseException):
        line = exc.getLineNumber()
        if line is None:
            return exc.getMessage()
        return f"line {max(line - added_lines, 1)}: {exc.getMessage()}"
    return collapse_whitespace(str(exc)) or type(exc).__name__


def text_of(entry: Entry, key: str) -> str | None:
    """A string field of a feedparser entry, whitespace collapsed; None when absent or blank."""
    value = entry.get(key)
    if isinstance(value, str):
        return collapse_whitespace(value) or None
    return None


def link_hrefs(entry: Entry) -> tuple[str, ...]:
    """Every link of an entry, the main one first."""
    hrefs = [entry.get("link")]
    hrefs += [link.get("href") for link in entry.get("links") or () if isinstance(link, Mapping)]
    return tuple(dict.fromkeys(href for href in hrefs if isinstance(href, str) and href))


def split_names(creators: str) -> tuple[str, ...]:
    """Author names from one string: ``A (Lab, City), B and C`` → ``(A, B, C)``.

    arXiv writes every author in one ``dc:creator``, comma-separated, sometimes with ``and``
    before the last, with affiliations in parentheses (which may hold commas themselves).
    """
    text = _without_parentheses(creators)
    names = (collapse_whitespace(part) for part in _NAME_SEPARATOR.split(text))
    cleaned = (re.sub(r"^(?:and|&)\s+", "", name, flags=re.IGNORECASE) for name in names)
    return tuple(name for name in cleaned if name and name.lower() not in ("and", "&"))


def _without_parentheses(text: str) -> str:
    """``text`` with each matched ``(...)``, nested ones and all, replaced by a space, and
    each unmatched parenthesis by a space too: one pass, however deep the nesting."""
    opened: list[int] = []
    closing: dict[int, int] = {}  # where each matched "(" is closed
    for i, char in enumerate(text):
        if char == "(":
            opened.append(i)
        elif char == ")" and opened:
            closing[opened.pop()] = i
    out: list[str] = []
    start = i = 0
    while i < len(text):
        end = closing.get(i)
        if end is not None:  # a whole group goes
            out += [text[start:i], " "]
            start = i = end + 1
        elif text[i] in "()":  # an unmatched one
            out += [text[start:i], " "]
            start = i = i + 1
        else:
            i += 1
    out.append(text[start:])
    return "".join(out)


def feed_date(value: object) -> date | None:
    """The calendar date of an RFC 822 (RSS) or RFC 3339 (Atom, JSON Feed) timestamp, in the
    offset it is written in: arXiv's ``00:00:00 -0500`` is that day, not the day before."""
    if not isinstance(value, str) or not value.strip():
        return None
    raw = value.strip()
    try:
        return datetime.fromisoformat(raw).date()
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(raw).date()
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None
