"""Parse any feed of papers: RSS 2.0, RSS 1.0, Atom (feedparser) or JSON Feed 1 / 1.1 (json).

Seen in the wild (formats.md §4.1): takara's Hugging Face feed (links to HF paper pages, the
abstract as description), jamesg's JSON Feed (``id``/``url``, ``content_text``,
``date_published``), RSSHub (links to arXiv, ``author`` = every name joined with ", ") and lab
blogs (no arXiv id: the paper is named by a hash of its title). The arXiv id is taken from any
arXiv abs/pdf or HF paper URL among an item's links and ids; HTML becomes plain text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from html import unescape

from bs4 import BeautifulSoup
from bs4.builder import ParserRejectedMarkup
from bs4.element import CData, NavigableString, Tag

from digest.errors import ParseError
from digest.models import (
    NO_OPTIONS,
    Paper,
    ParseOptions,
    ParseResult,
    collapse_whitespace,
    title_id,
)
from digest.parse import syndication as feeds
from digest.parse.clean import clean_tree

_JSON_FEED_VERSION = re.compile(r"https?://jsonfeed\.org/version/1(?:\.\d+)?/?")
_BLOCKS = ("p", "div", "li", "tr", "br", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre")
MAX_HTML = 200_000  # characters of an item's HTML read; the rest is not an abstract
FEED_HTML = 1_000_000  # characters of a feed's HTML read with the HTML parser (about 1 s)
_TAG = re.compile(r"<[^<>]*>")
_HINT = "expected an RSS 2.0, Atom or JSON Feed (https://jsonfeed.org) document"


@dataclass(frozen=True, slots=True)
class _Item:
    """One feed item, whatever the format, before it becomes a Paper."""

    title: str | None
    abstract: str | None
    links: tuple[str, ...]  # the item's own link first
    ids: tuple[str, ...]
    authors: tuple[str, ...] | None  # None: the feed says nothing about authors
    published: date | None
    tags: tuple[str, ...]


def looks_like(text: str) -> bool:
    """RSS/Atom/RDF XML, or a JSON object whose ``version`` is a jsonfeed.org version."""
    if feeds.xml_root(text) is not None:
        return True
    body = text.lstrip("\ufeff \t\r\n")
    if not body.startswith("{") or "jsonfeed.org" not in body:
        return False
    try:
        return _json_feed_version(json.loads(body)) is not None
    except (ValueError, RecursionError):
        return False


def parse(
    text: str,
    *,
    source: str,
    origin: str = "",
    today: date,
    options: ParseOptions = NO_OPTIONS,
) -> ParseResult:
    """The papers of a feed, in feed order; items that cannot be papers go to ``problems``."""
    del today, options  # every date in a feed carries its year; no settings
    problems: tuple[str, ...] = ()
    markup = _Markup()
    if feeds.xml_root(text) is None and text.lstrip("\ufeff \t\r\n").startswith(("{", "[")):
        items = _json_items(text, origin, markup)
    else:
        parsed, problems = feeds.load_feed(text, origin, hint=_HINT)
        atom = str(parsed.get("version") or "").startswith("atom")
        items = [_xml_item(entry, atom, markup) for entry in parsed.get("entries") or ()]
    found: list[str] = [*problems, *markup.notes()]
    papers = (_paper(item, f"item [{i}]", source, found) for i, item in enumerate(items))
    kept = tuple(paper for paper in papers if paper is not None)
    return ParseResult(papers=kept, problems=tuple(found))


def _paper(item: _Item | None, where: str, source: str, problems: list[str]) -> Paper | None:
    if item is None:  # a JSON Feed item that is not an object
        problems.append(f"{where}: not a JSON object, skipped")
        return None
    arxiv_id = next(filter(None, map(feeds.arxiv_id_in, (*item.links, *item.ids))), None)
    if item.title is None:
        problems.append(f"{where}{f' ({arxiv_id})' if arxiv_id else ''}: no title, skipped")
        return None
    link = item.links[0] if item.links else None
    return Paper(
        id=arxiv_id or title_id(item.title),
        title=item.title,
        abstract=item.abstract,
        authors=item.authors or (),
        author_count=None if item.authors is None else len(item.authors),
        published=item.published,
        url=link or (feeds.abs_url(arxiv_id) if arxiv_id else None),
        pdf_url=feeds.pdf_url(arxiv_id) if arxiv_id else None,
        # A paper's feed categories are arXiv classes (cs.LG), not topics; a blog's are topics.
        keywords=() if arxiv_id else item.tags,
        sources=(source,),
    )


def _xml_item(entry: feeds.Entry, atom: bool, markup: _Markup) -> _Item:
    links = feeds.link_hrefs(entry)
    names = [a.get("name") for a in entry.get("authors") or () if isinstance(a, Mapping)]
    authors = tuple(n for name in names if isinstance(name, str) for n in feeds.split_names(name))
    return _Item(
        title=_text(entry.get("title"), entry.get("title_detail"), markup),
        abstract=_abstract(entry, markup),
        links=links,
        ids=tuple(filter(None, [entry.get("id")])),
        authors=authors or None,
        published=_published(entry, links, atom),
        tags=_strings(tag.get("term") for tag in entry.get("tags") or ()),
    )


def _abstract(entry: feeds.Entry, markup: _Markup) -> str | None:
    """The summary (description), else the first content, as plain text."""
    for detail in (entry.get("summary_detail"), *(entry.get("content") or ())):
        if isinstance(detail, Mapping) and (text := _text(detail.get("value"), detail, markup)):
            return text
    return None


def _published(entry: feeds.Entry, links: tuple[str, ...], atom: bool) -> date | None:
    """The item's date, except on items linking to an HF paper page: those feeds (takara)
    stamp each item with the time they scraped the page, which is neither the paper's
    publication nor its Daily Papers day, so the date is unknown."""
    if links and feeds.is_hf_paper_url(links[0]):
        return None
    day = feeds.feed_date(entry.get("published"))
    # RSS 1.0 dates its items with dc:date, which feedparser files as "updated"; Atom's
    # "updated" is the last edit, not the publication. Read the key itself: feedparser's own
    # get() falls back from "updated" to "published" (deprecated, with a warning).
    updated = dict.get(entry, "updated") if isinstance(entry, dict) else entry.get("updated")
    return day or (None if atom else feeds.feed_date(updated))


def _text(value: object, detail: object, markup: _Markup | None = None) -> str | None:
    """Plain text of a feed field, read as HTML when the feed says it is HTML."""
    if not isinstance(value, str):
        return None
    kind = detail.get("type", "") if isinstance(detail, Mapping) else ""
    html = "html" in str(kind)
    plain = (markup or _Markup()).text(value) if html else collapse_whitespace(value)
    return plain or None


class _Markup:
    """Reads a feed's HTML fields as text: with the HTML parser until ``FEED_HTML`` characters
    of them were read, then by dropping anything tag-shaped, which is rough but many times
    faster: a 20 MB feed of HTML then takes a second or two, not a minute."""

    def __init__(self, allowance: int = FEED_HTML) -> None:
        self.left, self.rough = allowance, 0

    def text(self, html: str) -> str:
        if self.left <= 0:
            self.rough += 1
            return strip_tags(html)
        self.left -= min(len(html), MAX_HTML)
        return html_to_text(html)

    def notes(self) -> list[str]:
        if not self.rough:
            return []
        return [f"over {FEED_HTML} characters of HTML: {self.rough} fields read without a parser"]


def strip_tags(html: str) -> str:
    """Rough text of HTML: anything tag-shaped dropped, entities read (linear: a ``<`` that is
    never closed costs no rescan, as ``<[^>]*>`` would)."""
    return collapse_whitespace(unescape(_TAG.sub(" ", html[:MAX_HTML])))


def html_to_text(html: str) -> str:
    """The text of an HTML fragment, one space between words, a space after each block
    element; scripts and styles dropped. Linear in the markup, however deep its nesting, and
    read no further than ``MAX_HTML`` characters (no abstract is that long)."""
    html = html[:MAX_HTML]
    try:
        soup = BeautifulSoup(html, "html.parser")
    except ParserRejectedMarkup:  # markup html.parser gives up on: drop anything tag-shaped
        return strip_tags(html)
    for tag in soup.find_all(["script", "style"]):
        tag.decompose()
    return collapse_whitespace("".join(_strings_and_breaks(soup)))


def _strings_and_breaks(soup: BeautifulSoup) -> Iterator[str]:
    """The text ``soup.get_text()`` gives, with a space after the end of each block element.

    One walk in document order, keeping the elements still open: an element ends where the
    walk reaches a node that is not inside it (inserting a space after each block instead
    walks the nesting every time: quadratic)."""
    open_tags: list[Tag] = []
    for node in soup.descendants:
        while open_tags and node.parent is not open_tags[-1]:
            if open_tags.pop().name in _BLOCKS:
                yield " "
        if isinstance(node, Tag):
            open_tags.append(node)
        elif type(node) in (NavigableString, CData):
            yield str(node)
    yield " " * sum(tag.name in _BLOCKS for tag in open_tags)


def _json_items(text: str, origin: str, markup: _Markup) -> list[_Item | None]:
    try:
        document = clean_tree(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc.msg}", source=origin, line=exc.lineno) from exc
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"not JSON: {exc}", source=origin) from exc
    if not isinstance(document, dict) or _json_feed_version(document) is None:
        raise ParseError("not a JSON Feed: no jsonfeed.org version", source=origin, hint=_HINT)
    items = document.get("items")
    if not isinstance(items, list):
        raise ParseError("JSON Feed without an items list", source=origin, hint=_HINT)
    return [_json_item(item, markup) if isinstance(item, dict) else None for item in items]


def _json_feed_version(document: object) -> str | None:
    version = document.get("version") if isinstance(document, dict) else None
    return version if isinstance(version, str) and _JSON_FEED_VERSION.fullmatch(version) else None


def _json_item(item: Mapping[str, object], markup: _Markup) -> _Item:
    """A JSON Feed item; jamesg's ``date_published`` is the paper page's own date, so kept."""
    links = _strings(item.get(key) for key in ("url", "external_url"))
    html = item.get("content_html")
    abstract = _text(item.get("content_text"), None) or (
        markup.text(html) if isinstance(html, str) else None
    )
    return _Item(
        title=_text(item.get("title"), None),
        abstract=abstract or _text(item.get("summary"), None),
        links=links,
        ids=_strings([item.get("id")]),
        authors=_json_authors(item),
        published=feeds.feed_date(item.get("date_published")),
        tags=_strings(tags if isinstance(tags := item.get("tags"), list) else ()),
    )


def _json_authors(item: Mapping[str, object]) -> tuple[str, ...] | None:
    """Version 1.1 ``authors`` (a list), else version 1 ``author`` (one object)."""
    listed = item.get("authors")
    people = listed if isinstance(listed, list) else [item.get("author")]
    names = [p.get("name") for p in people if isinstance(p, dict)]
    authors = tuple(n for name in names if isinstance(name, str) for n in feeds.split_names(name))
    return authors or None


def _strings(values: Iterable[object]) -> tuple[str, ...]:
    """The non-blank strings among ``values``, whitespace collapsed, without repeats."""
    found = (collapse_whitespace(v) for v in values if isinstance(v, str))
    return tuple(dict.fromkeys(v for v in found if v))
