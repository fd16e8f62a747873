"""What a source is, as written in schedules.yaml or given with ``--source`` (PRODUCT §4).

``hf-daily`` (the API), a path or URL (``auto``: the content is sniffed), ``kind:path-or-url``
(``text:capture.txt``), a shorthand (``arxiv-rss:cs.LG+cs.AI`` for that arXiv feed,
``hf-search:diffusion models`` for that search), or a mapping with ``kind:`` and its options
(``query:`` for hf-search and arxiv-api, ``announce:`` for arxiv-rss).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from digest.errors import ConfigError
from digest.models import ANNOUNCE_TYPES, PARSE_KINDS, ParseOptions

SOURCE_KINDS = ("auto", *PARSE_KINDS)


class Period(StrEnum):
    """How many days of papers an edition covers."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


PERIODS = tuple(period.value for period in Period)
HF_DAILY_API = "https://huggingface.co/api/daily_papers"
ARXIV_RSS = "https://rss.arxiv.org/rss/"
QUERY_KINDS = ("hf-search", "arxiv-api")
_SOURCE_KEYS = ("kind", "url", "path", "name", "period", "query", "announce")
_FILE_SUFFIXES = (".xml", ".rss", ".atom", ".json", ".html", ".htm", ".txt", ".gz")
_CATEGORY = r"[A-Za-z][A-Za-z-]*(?:\.[A-Za-z][A-Za-z-]*)?"
_CATEGORIES = re.compile(rf"{_CATEGORY}(?:\+{_CATEGORY})*")


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One source to pull: its kind and where (a URL, a path, or None for the kind's API)."""

    name: str
    kind: str
    location: str | None = None
    period: str | None = None
    query: str | None = None  # hf-search / arxiv-api without a URL: what to search for
    announce: tuple[str, ...] = ()  # arxiv-rss: the announce types kept (empty: the default)

    @property
    def options(self) -> ParseOptions:
        """What the parser of this source needs to know beyond the bytes."""
        return ParseOptions(announce=self.announce)

    @property
    def label(self) -> str:
        """How reports name the source: its URL, its file name, its query, or its kind."""
        if self.location is None:
            return f'{self.name} "{self.query}"' if self.query else self.name
        return self.location if "://" in self.location else Path(self.location).name


def relative_to(spec: SourceSpec, base: Path) -> SourceSpec:
    """A relative path in the config file is relative to the file, not to the working dir."""
    loc = spec.location
    if loc is None or "://" in loc or Path(loc).expanduser().is_absolute():
        return spec
    return replace(spec, location=str(base / loc))


def parse_source_spec(value: Any, at: str = "--source") -> SourceSpec:
    """A source as written: ``hf-daily``, a URL or path, ``kind:arg``, or a mapping."""
    if isinstance(value, dict):
        return _source_mapping(value, at)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{at}: a source must be a string or a mapping, got {value!r}")
    text = value.strip()
    if text in SOURCE_KINDS:
        _require_where(text, None, None, at)
        return SourceSpec(name=text, kind=text)
    kind, sep, arg = text.partition(":")
    if sep and kind in SOURCE_KINDS and arg.strip():
        return _shorthand(kind, arg.strip())
    if sep and re.fullmatch(r"[a-z][a-z0-9-]*", kind) and not arg.startswith("//"):
        raise ConfigError(
            f"{at}: unknown source kind {kind!r}", hint=f"known: {', '.join(SOURCE_KINDS)}"
        )
    return SourceSpec(name="auto", kind="auto", location=text)


def _shorthand(kind: str, arg: str) -> SourceSpec:
    """``kind:arg``: a path or URL, or (when it is neither) an arXiv category list for
    arxiv-rss and a search for hf-search and arxiv-api."""
    if "://" in arg or _is_path(arg):
        return SourceSpec(name=kind, kind=kind, location=arg)
    if kind == "arxiv-rss" and _CATEGORIES.fullmatch(arg):
        return SourceSpec(name=kind, kind=kind, location=ARXIV_RSS + arg)
    if kind in QUERY_KINDS:
        return SourceSpec(name=kind, kind=kind, query=" ".join(arg.split()))
    return SourceSpec(name=kind, kind=kind, location=arg)


def _is_path(value: str) -> bool:
    """A saved file as written: a folder in it, or a file suffix (``day.json``)."""
    return "/" in value or "\\" in value or value.lower().endswith(_FILE_SUFFIXES)


def _source_mapping(raw: dict[str, Any], at: str) -> SourceSpec:
    unknown = [key for key in raw if key not in _SOURCE_KEYS]
    if unknown:
        raise ConfigError(
            f"{at}: unknown key {unknown[0]!r}", hint=f"expected one of: {', '.join(_SOURCE_KEYS)}"
        )
    kind = str(raw.get("kind", "auto"))
    if kind not in SOURCE_KINDS:
        raise ConfigError(
            f"{at}: unknown source kind {kind!r}", hint=f"known: {', '.join(SOURCE_KINDS)}"
        )
    period = raw.get("period")
    if period is not None and period not in PERIODS:
        raise ConfigError(f"{at}: source period {period!r}", hint=f"use {', '.join(PERIODS)}")
    location = raw.get("url") or raw.get("path")
    query = _query(raw.get("query"), kind, at)
    if kind == "auto" and not location:
        raise ConfigError(f"{at}: a source of kind 'auto' needs a url or a path")
    _require_where(kind, location, query, at)
    return SourceSpec(
        name=str(raw.get("name") or kind),
        kind=kind,
        location=str(location) if location else None,
        period=str(period) if period else None,
        query=query,
        announce=_announce(raw.get("announce"), kind, at),
    )


def _require_where(kind: str, location: object, query: str | None, at: str) -> None:
    """The feed and search kinds have no default address: say so now, not at fetch time."""
    if location or query:
        return
    if kind in QUERY_KINDS:
        raise ConfigError(
            f"{at}: a source of kind {kind!r} needs a query, a url or a path",
            hint=f"for example {kind}:diffusion models, or a mapping with query:",
        )
    if kind in ("arxiv-rss", "feed"):
        example = "arxiv-rss:cs.LG+cs.AI" if kind == "arxiv-rss" else "feed:https://…/feed.xml"
        raise ConfigError(
            f"{at}: a source of kind {kind!r} needs a url or a path",
            hint=f"for example {example}",
        )


def _query(value: Any, kind: str, at: str) -> str | None:
    """What an hf-search or arxiv-api source searches for (None: not given)."""
    if value is None:
        return None
    if kind not in QUERY_KINDS:
        raise ConfigError(
            f"{at}: query is for sources of kind {' or '.join(QUERY_KINDS)}, not {kind!r}",
            hint="set kind: hf-search or kind: arxiv-api, or drop the query",
        )
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{at}: query must be a non-empty string, got {value!r}")
    return " ".join(value.split())


def _announce(value: Any, kind: str, at: str) -> tuple[str, ...]:
    """The arXiv announce types an arxiv-rss source keeps: a list or ``"new, cross"``."""
    if value is None:
        return ()
    if kind != "arxiv-rss":
        raise ConfigError(
            f"{at}: announce is for sources of kind arxiv-rss, not {kind!r}",
            hint="set kind: arxiv-rss, or drop announce",
        )
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ConfigError(
            f"{at}: announce must be a list of announce types, got {value!r}",
            hint=f"for example announce: [new, cross]; known: {', '.join(ANNOUNCE_TYPES)}",
        )
    types = [item.strip().lower() for item in items if item.strip()]
    for name in types:
        if name not in ANNOUNCE_TYPES:
            raise ConfigError(
                f"{at}: unknown announce type {name!r}", hint=f"use {', '.join(ANNOUNCE_TYPES)}"
            )
    if not types:
        raise ConfigError(f"{at}: announce is empty", hint=f"use {', '.join(ANNOUNCE_TYPES)}")
    return tuple(dict.fromkeys(types))
