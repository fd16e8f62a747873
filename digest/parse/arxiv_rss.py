"""Parse arXiv announcement feeds: ``rss.arxiv.org/rss/<cats>`` and ``/atom/<cats>`` (§4.2).

A feed holds one announcement day. Each item says how it is announced (``new``, ``cross``,
``replace``, ``replace-cross``, ``absonly``); a digest wants the fresh papers, so only the types
in the source's ``announce`` setting are kept (default: new and cross) and the others are
counted in one summary line. The description reads
``arXiv:<id>vN Announce Type: <type> \\nAbstract: <abstract>``; every author is in one
``dc:creator``, comma-separated, affiliations in parentheses. Categories are arXiv classes, not
topics, so they do not become keywords. A weekend or holiday feed has no items: no papers, no
error.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date

from digest.models import (
    ANNOUNCE_TYPES,
    NO_OPTIONS,
    Paper,
    ParseOptions,
    ParseResult,
    collapse_whitespace,
    title_id,
)
from digest.parse import syndication as feeds

DEFAULT_ANNOUNCE = ("new", "cross")

_PREAMBLE = re.compile(
    r"\s*(?:(?:arXiv:\S+\s+)?Announce\s+Type:\s*(?P<type>[\w-]+)\s*)?(?:Abstract:\s*)?",
    re.IGNORECASE,
)
_ARXIV_HEAD = re.compile(r"<(?:link|id|title)\b[^>]*>[^<]*arxiv\.org", re.IGNORECASE)
_HINT = "expected an arXiv announcement feed such as https://rss.arxiv.org/rss/cs.LG"


def looks_like(text: str) -> bool:
    """RSS or Atom whose head points at arXiv and that carries arXiv announce types."""
    if feeds.xml_root(text) not in ("rss", "feed"):
        return False
    head = feeds.head_of(text)
    announced = "announce_type" in text[:20_000] or "updates on arxiv.org" in head.lower()
    return announced and bool(_ARXIV_HEAD.search(head))


def parse(
    text: str,
    *,
    source: str,
    origin: str = "",
    today: date,
    options: ParseOptions = NO_OPTIONS,
) -> ParseResult:
    """The papers announced with a kept type; one summary line counts the others."""
    del today  # every date in the feed carries its year
    parsed, problems = feeds.load_feed(text, origin, hint=_HINT)
    keep = options.announce or DEFAULT_ANNOUNCE
    channel_day = feeds.feed_date(parsed.get("feed", {}).get("published"))
    found: list[str] = list(problems)
    papers: list[Paper] = []
    skipped: Counter[str] = Counter()
    for index, entry in enumerate(parsed.get("entries") or ()):
        announce = announce_type(entry)
        if announce is not None and announce not in keep:
            skipped[announce] += 1
            continue
        paper = _paper(entry, f"item [{index}]", source, channel_day, found)
        if paper is not None:
            papers.append(paper)
    if skipped:
        found.append(_skipped_line(skipped, keep))
    return ParseResult(papers=tuple(papers), problems=tuple(found))


@dataclass(frozen=True, slots=True)
class _Description:
    """An item's description: ``arXiv:<id>vN Announce Type: <type> \\nAbstract: <abstract>``."""

    announce: str | None
    arxiv_id: str | None
    abstract: str | None


def announce_type(entry: feeds.Entry) -> str | None:
    """``arxiv:announce_type``, else the ``Announce Type:`` in the description (lower case)."""
    value = feeds.text_of(entry, "arxiv_announce_type") or _description(entry).announce
    return value.lower() if value else None


def _description(entry: feeds.Entry) -> _Description:
    text = entry.get("summary")
    if not isinstance(text, str):
        return _Description(None, None, None)
    preamble = _PREAMBLE.match(text)
    if preamble is None:  # the pattern matches any text; this keeps mypy informed
        return _Description(None, None, collapse_whitespace(text) or None)
    return _Description(
        announce=preamble.group("type"),
        arxiv_id=feeds.arxiv_id_in(preamble.group(0)),
        abstract=collapse_whitespace(text[preamble.end() :]) or None,
    )


def _paper(
    entry: feeds.Entry, where: str, source: str, channel_day: date | None, problems: list[str]
) -> Paper | None:
    description = _description(entry)
    links = feeds.link_hrefs(entry)
    arxiv_id = next(filter(None, map(feeds.arxiv_id_in, (entry.get("id"), *links))), None)
    arxiv_id = arxiv_id or description.arxiv_id
    title = feeds.text_of(entry, "title")
    abstract = description.abstract
    label = f" ({arxiv_id or repr(title)})" if arxiv_id or title else ""
    if title is None or feeds.is_withdrawn(abstract):
        problems.append(f"{where}{label}: {'no title' if title is None else 'withdrawn'}, skipped")
        return None
    if arxiv_id is None:
        problems.append(f"{where}{label}: no arXiv id in its link or guid, using a title hash")
    creators = " , ".join(filter(None, (a.get("name") for a in entry.get("authors") or ())))
    authors = feeds.split_names(creators)
    return Paper(
        id=arxiv_id or title_id(title),
        title=title,
        abstract=abstract,
        authors=authors,
        author_count=len(authors) if authors else None,
        published=feeds.feed_date(entry.get("published")) or channel_day,
        url=feeds.abs_url(arxiv_id) if arxiv_id else _first(links),
        pdf_url=feeds.pdf_url(arxiv_id) if arxiv_id else None,
        sources=(source,),
    )


def _first(values: tuple[str, ...]) -> str | None:
    return values[0] if values else None


def _skipped_line(skipped: Counter[str], keep: tuple[str, ...]) -> str:
    order = {name: position for position, name in enumerate(ANNOUNCE_TYPES)}
    types = sorted(skipped, key=lambda name: (order.get(name, len(order)), name))
    total = sum(skipped.values())
    wanted = ", ".join([*keep, *(name for name in types if name not in keep)])
    return (
        f"skipped {total} item{'s' if total != 1 else ''} announced as {', '.join(types)}"
        f" (keep them with announce: [{wanted}])"
    )
