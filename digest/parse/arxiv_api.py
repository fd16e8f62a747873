"""Parse the arXiv search API's Atom (``export.arxiv.org/api/query``, formats.md §4.3).

Entries name the paper ``http://arxiv.org/abs/<id>vN``, one ``author/name`` per author (an
``arxiv:affiliation`` beside it is not part of the name) and ``published`` as the v1 time.
Both link styles are read: before November 2025 the PDF link had ``title="pdf"``; since then
links are plain ``<link href>``, so the PDF link is found by its ``/pdf/`` path. Before the
change titles and abstracts were hard-wrapped with an indent; whitespace is collapsed. A
failed query comes back as one entry whose id is ``http://arxiv.org/api/errors#…``: that is a
ParseError quoting arXiv's message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from digest.errors import ParseError
from digest.models import NO_OPTIONS, Paper, ParseOptions, ParseResult, title_id
from digest.parse import syndication as feeds

_QUERY_TITLE = re.compile(r"<title\b[^>]*>\s*arxiv query:", re.IGNORECASE)
_ERROR_ID = re.compile(r"^https?://(?:export\.)?arxiv\.org/api/errors", re.IGNORECASE)
_HINT = "expected arXiv API output from https://export.arxiv.org/api/query"


def looks_like(text: str) -> bool:
    """Atom with OpenSearch totals or an ``arXiv Query:`` title."""
    if feeds.xml_root(text) != "feed":
        return False
    head = feeds.head_of(text)
    return "opensearch:totalresults" in head.lower() or bool(_QUERY_TITLE.search(head))


def parse(
    text: str,
    *,
    source: str,
    origin: str = "",
    today: date,
    options: ParseOptions = NO_OPTIONS,
) -> ParseResult:
    """The papers of one page of API results; an arXiv error entry is a ParseError."""
    del today, options  # every date carries its year; no settings
    parsed, problems = feeds.load_feed(text, origin, hint=_HINT)
    entries = parsed.get("entries") or ()
    _raise_for_error(entries, origin)
    found: list[str] = list(problems)
    papers = (_paper(entry, f"entry [{i}]", source, found) for i, entry in enumerate(entries))
    kept = tuple(paper for paper in papers if paper is not None)
    return ParseResult(papers=kept, problems=tuple(found))


def _raise_for_error(entries: Sequence[feeds.Entry], origin: str) -> None:
    for entry in entries:
        if _ERROR_ID.match(entry.get("id") or ""):
            message = feeds.text_of(entry, "summary") or feeds.text_of(entry, "id") or "error"
            raise ParseError(
                f"the arXiv API answered with an error: {message}",
                source=origin,
                hint="check the source's query (search_query, id_list, start, max_results)",
            )


def _paper(entry: feeds.Entry, where: str, source: str, problems: list[str]) -> Paper | None:
    links = feeds.link_hrefs(entry)
    arxiv_id = feeds.arxiv_id_in(entry.get("id")) or next(
        filter(None, map(feeds.arxiv_id_in, links)), None
    )
    title = feeds.text_of(entry, "title")
    abstract = feeds.text_of(entry, "summary")
    comment = feeds.text_of(entry, "arxiv_comment") or ""
    label = f" ({arxiv_id or repr(title)})" if arxiv_id or title else ""
    withdrawn = feeds.is_withdrawn(abstract) or feeds.is_withdrawn(comment)
    if title is None or withdrawn:
        problems.append(f"{where}{label}: {'no title' if title is None else 'withdrawn'}, skipped")
        return None
    if arxiv_id is None:
        problems.append(f"{where}{label}: no arXiv id in its id or links, using a title hash")
    authors = _authors(entry)
    return Paper(
        id=arxiv_id or title_id(title),
        title=title,
        abstract=abstract,
        authors=authors,
        author_count=len(authors) if authors else None,
        published=feeds.feed_date(entry.get("published")),
        url=feeds.abs_url(arxiv_id) if arxiv_id else None,
        pdf_url=_pdf_url(links, arxiv_id),
        sources=(source,),
    )


def _authors(entry: feeds.Entry) -> tuple[str, ...]:
    names = (author.get("name") for author in entry.get("authors") or ())
    cleaned = (" ".join(name.split()) for name in names if isinstance(name, str))
    return tuple(name for name in cleaned if name)


def _pdf_url(links: tuple[str, ...], arxiv_id: str | None) -> str | None:
    """The PDF of the paper, unversioned like ``url``: only when the entry links to one."""
    has_pdf = any("/pdf/" in href.partition("?")[0] for href in links)
    return feeds.pdf_url(arxiv_id) if has_pdf and arxiv_id else None
