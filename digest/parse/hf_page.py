"""Parse a Hugging Face Daily Papers HTML page (formats.md §3).

Day, week, month and trending pages (``/papers/date/D``, ``/papers/week/W``,
``/papers/month/M``, ``/papers/trending``) and the search page (``/papers?q=``) embed their
list as JSON in a hydration island, ``<div data-target="DailyPapers" data-props="{...}">``:
``dailyPapers`` items, or ``searchResults`` on the search page, of exactly the API's item shape.
They go through hf_daily's item parsing, so a saved page gives the same papers as the API.

When the island is missing or unreadable, the ``<article>`` cards are read instead (§3.3). A
card carries only the paper's id, title, upvotes, author count and comment count: the abstract,
author names, dates and links stay unknown (None), never guessed. A page with neither an island
nor cards is a ParseError.
"""

from __future__ import annotations

import json
import re
import warnings
from datetime import date
from urllib.parse import urlsplit

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, Tag, XMLParsedAsHTMLWarning
from bs4.exceptions import ParserRejectedMarkup

from digest.errors import ParseError
from digest.models import (
    NO_OPTIONS,
    Paper,
    ParseOptions,
    ParseResult,
    arxiv_id,
    collapse_whitespace,
    title_id,
)
from digest.parse import hf_daily
from digest.parse.clean import clean_tree

HF_PAPERS = "https://huggingface.co/papers/"
_ISLAND = 'div[data-target="DailyPapers"]'
_HTML_START = re.compile(r"\s*<(?:!doctype\s+html|html)", re.IGNORECASE)
_ISLAND_MARK = re.compile(r"""data-target\s*=\s*["']?DailyPapers""")
_AUTHORS = re.compile(r"(?<![\w.])(\d+)\s+authors?\b")
_NUMBER = re.compile(r"[0-9][0-9,]*")
_HINT = (
    "expected a saved huggingface.co/papers page (/papers/date/D, /papers/week/W, "
    "/papers/month/M, /papers/trending or /papers?q=)"
)


def looks_like(text: str) -> bool:
    """True for any HTML document: a page without a Daily Papers list then gets this kind's
    clear error, instead of the text kind reading its markup as made-up papers."""
    return bool(_HTML_START.match(text))


def parse(
    text: str,
    *,
    source: str,
    origin: str = "",
    today: date,
    options: ParseOptions = NO_OPTIONS,
) -> ParseResult:
    """Papers from the page's island, else from its cards (with a problem line saying so)."""
    del today, options  # the island's dates carry their year; cards carry no dates
    soup = _soup(text, origin)
    items, broken = _island_items(soup)
    if items is not None:
        return hf_daily.parse_items(items, source=source)
    cards = _cards(soup)
    if not cards:
        raise _no_list_error(text, broken, origin)
    papers, problems = _papers_from_cards(cards, source)
    if broken:
        problems.insert(
            0,
            f"the DailyPapers island is unreadable ({broken}); read the {len(cards)} "
            "<article> cards instead, which carry no abstracts, authors or dates",
        )
    return ParseResult(papers=tuple(papers), problems=tuple(problems))


def _soup(text: str, origin: str) -> BeautifulSoup:
    with warnings.catch_warnings():
        # A short input that looks like a file name or URL is still parsed as markup, and an
        # XML file given as hf-page gets this kind's "no list" error, not bs4's advice.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        try:
            return BeautifulSoup(text, "html.parser")
        except ParserRejectedMarkup as exc:
            # bs4's message is a paragraph; its last line names what the HTML parser choked on.
            lines = str(exc).strip().splitlines()
            reason = collapse_whitespace(lines[-1])[:120] if lines else "rejected by the parser"
            raise ParseError(f"not readable HTML: {reason}", source=origin, hint=_HINT) from exc


def _island_items(soup: BeautifulSoup) -> tuple[list[object] | None, str | None]:
    """The island's item list, or (None, why it is unreadable), or (None, None) if absent."""
    island = soup.select_one(_ISLAND)
    if island is None:
        return None, None
    props = island.get("data-props")  # the HTML parser has already unescaped &quot; etc.
    if not isinstance(props, str):
        return None, "it has no data-props attribute"
    try:
        document = clean_tree(json.loads(props))
    except (ValueError, RecursionError) as exc:
        return None, f"data-props is not JSON: {exc}"
    items = hf_daily.wrapped_items(document)
    if items is None:
        return None, "data-props holds no dailyPapers or searchResults list"
    return items, None


def _no_list_error(text: str, broken: str | None, origin: str) -> ParseError:
    if broken:
        message = (
            f"the DailyPapers island is unreadable ({broken}) and there are no <article> cards"
        )
        hint = "save the whole page again, or use the hf-daily API source"
    else:
        message = (
            'no Daily Papers list in this HTML page: no data-target="DailyPapers" island '
            "and no <article> cards"
        )
        looks_json = hf_daily.looks_like(text)
        hint = "this looks like JSON: use kind hf-daily" if looks_json else _HINT
    return ParseError(message, source=origin, hint=hint)


def _cards(soup: BeautifulSoup) -> list[tuple[Tag, str]]:
    """Each ``<article>`` that links to a paper, with the paper id its first such link names."""
    cards: list[tuple[Tag, str]] = []
    for article in soup.find_all("article"):
        if not isinstance(article, Tag):
            continue
        ids = (_href_id(link.get("href")) for link in article.find_all("a"))
        raw_id = next((found for found in ids if found), None)
        if raw_id:
            cards.append((article, raw_id))
    return cards


def _href_id(href: object) -> str | None:
    """The paper id in a ``/papers/{id}`` link (relative or on huggingface.co), else None."""
    if not isinstance(href, str):
        return None
    try:
        parts = urlsplit(href.strip())
    except ValueError:
        return None
    if parts.netloc not in ("", "huggingface.co") or not parts.path.startswith("/papers/"):
        return None
    rest = parts.path.removeprefix("/papers/").strip("/")
    return rest if rest and "/" not in rest else None  # not /papers/date/D and the like


def _papers_from_cards(cards: list[tuple[Tag, str]], source: str) -> tuple[list[Paper], list[str]]:
    """One paper per card, the first card of each id kept (a page may show a paper twice)."""
    papers: list[Paper] = []
    problems: list[str] = []
    seen: set[str] = set()
    for index, (article, raw_id) in enumerate(cards):
        paper = _card_paper(article, raw_id, f"card [{index}]", source, problems)
        if paper is not None and paper.id not in seen:
            seen.add(paper.id)
            papers.append(paper)
    return papers, problems


def _card_paper(
    article: Tag, link_id: str, where: str, source: str, problems: list[str]
) -> Paper | None:
    title_link = _title_link(article)
    if title_link is None:
        problems.append(f"{where} ({link_id}): no title link (h3 > a), skipped")
        return None
    title, raw_id = title_link
    paper_id = arxiv_id(raw_id)
    if paper_id is None:
        problems.append(f"{where}: id {raw_id!r} is not an arXiv id, using a title hash")
    return Paper(
        id=paper_id or title_id(title),
        title=title,
        author_count=_author_count(article),
        upvotes=_number(article.select_one("label div.leading-none")),
        comments=_number(article.select_one('a[href$="#community"]')),
        url=HF_PAPERS + (paper_id or raw_id),
        pdf_url=f"https://arxiv.org/pdf/{paper_id}" if paper_id else None,
        sources=(source,),
    )


def _title_link(article: Tag) -> tuple[str, str] | None:
    """The title and paper id of the card's ``h3 > a`` link (the image link has no text)."""
    for link in article.select("h3 > a"):
        raw_id = _href_id(link.get("href"))
        title = collapse_whitespace(link.get_text())
        if raw_id and title:
            return title, raw_id
    return None


def _author_count(article: Tag) -> int | None:
    """The ``N authors`` count, read outside the title so a title's words cannot pose as it."""
    for string in article.find_all(string=_AUTHORS):
        if string.find_parent("h3") is None:
            match = _AUTHORS.search(string)
            return int(match.group(1)) if match else None
    return None


def _number(tag: Tag | None) -> int | None:
    """A count shown as digits (``37``, ``1,204``); anything else is unknown."""
    text = tag.get_text().strip() if tag is not None else ""
    return int(text.replace(",", "")) if _NUMBER.fullmatch(text) else None
