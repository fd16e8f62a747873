"""Parse Hugging Face Daily Papers JSON (``/api/daily_papers``, ``/api/papers/search``).

The items are described in formats.md §1: ``{"paper": {...}, "numComments": ..., ...}``.
Also accepted: a flat paper object (``/api/papers/{id}``, alone or as an item) and the
page hydration wrapper ``{"dailyPapers": [...]}`` / ``{"searchResults": [...]}``.
``parse_items`` and ``wrapped_items`` are shared with hf_page, whose island holds these items.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

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
from digest.parse.clean import clean_tree

_WRAPPER_KEYS = ("searchResults", "dailyPapers")

JsonObject = Mapping[str, object]


def looks_like(text: str) -> bool:
    """True when ``text`` is shaped like a JSON array or object."""
    body = text.strip()
    return body[:1] in ("[", "{") and body[-1:] in ("]", "}")


def parse(
    text: str,
    *,
    source: str,
    origin: str = "",
    today: date,
    options: ParseOptions = NO_OPTIONS,
) -> ParseResult:
    """Turn a Daily Papers / search JSON document into papers; withdrawn items are dropped."""
    del today, options  # every date in the JSON carries its year; no options
    return parse_items(_items(_load(text, origin), origin), source=source)


def parse_items(items: Sequence[object], *, source: str) -> ParseResult:
    """Papers from a list of Daily Papers items, wherever it came from (the API's array, a
    page's hydration island); each item that is not a paper is a problem naming ``item [i]``."""
    papers: list[Paper] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        paper = paper_from_item(item, where=f"item [{index}]", source=source, problems=problems)
        if paper is not None:
            papers.append(paper)
    return ParseResult(papers=tuple(papers), problems=tuple(problems))


def wrapped_items(document: object) -> list[object] | None:
    """The list in a ``{"searchResults": [...]}`` or ``{"dailyPapers": [...]}`` wrapper (the
    pages' hydration props; search pages may carry both), or None when there is none."""
    if isinstance(document, dict):
        for key in _WRAPPER_KEYS:
            if isinstance(document.get(key), list):
                return list(document[key])
    return None


def _load(text: str, origin: str) -> object:
    try:
        return clean_tree(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc.msg}", source=origin, line=exc.lineno) from exc
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"not JSON: {exc}", source=origin) from exc


def _items(document: object, origin: str) -> list[object]:
    if isinstance(document, list):
        return document
    wrapped = wrapped_items(document)
    if wrapped is not None:
        return wrapped
    if isinstance(document, dict) and ("id" in document or "paper" in document):
        return [document]
    raise ParseError(
        f"expected a JSON array of Daily Papers items, got {type(document).__name__}",
        source=origin,
        hint="use /api/daily_papers or /api/papers/search output",
    )


def paper_from_item(item: object, *, where: str, source: str, problems: list[str]) -> Paper | None:
    """One item (or flat paper object) as a Paper; None, with a line in ``problems`` naming
    ``where``, when it is not an object, has no title or was withdrawn."""
    if not isinstance(item, dict):
        problems.append(f"{where}: not a JSON object, skipped")
        return None
    inner = item.get("paper")
    paper: JsonObject = inner if isinstance(inner, dict) else item
    raw_id = _string(paper, "id")
    paper_id = arxiv_id(raw_id)
    title = _text(paper, "title") or _text(item, "title")
    label = paper_id or (repr(raw_id or title) if raw_id or title else "")
    withdrawn = paper.get("withdrawnAt") is not None or item.get("withdrawnAt") is not None
    if title is None or withdrawn:
        reason = "no title" if title is None else "withdrawn"
        problems.append(f"{where}{f' ({label})' if label else ''}: {reason}, skipped")
        return None
    if raw_id is not None and paper_id is None:
        problems.append(f"{where}: id {label} is not an arXiv id, using a title hash")
    return _build(item, paper, title, paper_id, source)


def _build(
    item: JsonObject, paper: JsonObject, title: str, paper_id: str | None, source: str
) -> Paper:
    authors = _authors(paper.get("authors"))
    return Paper(
        id=paper_id or title_id(title),
        title=title,
        abstract=_text(paper, "summary") or _text(item, "summary"),
        authors=authors or (),
        author_count=None if authors is None else len(authors),
        published=_utc_date(paper.get("publishedAt")),
        daily_date=_day(paper.get("submittedOnDailyAt")),
        upvotes=_count(paper, "upvotes"),
        comments=_count(item, "numComments"),
        github_url=_string(paper, "githubRepo"),
        github_stars=_count(paper, "githubStars"),
        ai_summary=_text(paper, "ai_summary"),
        keywords=_keywords(paper.get("ai_keywords")),
        url=f"https://huggingface.co/papers/{paper_id}" if paper_id else None,
        pdf_url=f"https://arxiv.org/pdf/{paper_id}" if paper_id else None,
        sources=(source,),
    )


def _string(obj: JsonObject, key: str) -> str | None:
    value = obj.get(key)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _text(obj: JsonObject, key: str) -> str | None:
    value = _string(obj, key)
    return collapse_whitespace(value) if value else None


def _count(obj: JsonObject, key: str) -> int | None:
    """A non-negative integer field; anything else (bool, text, NaN, negative) is unknown."""
    value = obj.get(key)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _authors(value: object) -> tuple[str, ...] | None:
    """Names of the non-hidden authors in order; None when the list itself is missing."""
    if not isinstance(value, list):
        return None
    names = (
        collapse_whitespace(author["name"])
        for author in value
        if isinstance(author, dict)
        and author.get("hidden") is not True
        and isinstance(author.get("name"), str)
    )
    return tuple(name for name in names if name)


def _keywords(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    words = (collapse_whitespace(word) for word in value if isinstance(word, str))
    return tuple(word for word in words if word)


def _utc_date(value: object) -> date | None:
    """The UTC calendar date of an ISO-8601 instant (``...Z``)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
        return moment.astimezone(UTC).date() if moment.tzinfo else moment.date()
    except (ValueError, OverflowError):
        return _day(value)


def _day(value: object) -> date | None:
    """The date written in the first ten characters of an ISO-8601 string."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None
