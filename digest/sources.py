"""What a source is, as written in schedules.yaml or given with ``--source`` (PRODUCT §4).

``hf-daily`` (the API), a path or URL (``auto``: the content is sniffed), ``kind:path-or-url``
(``text:capture.txt``), or a mapping with ``kind:`` and its options.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from digest.errors import ConfigError
from digest.parse import KINDS
from digest.parse.options import ParseOptions

SOURCE_KINDS = ("auto", *KINDS)
PERIODS = ("day", "week", "month")
HF_DAILY_API = "https://huggingface.co/api/daily_papers"
_SOURCE_KEYS = ("kind", "url", "path", "name", "period")


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
        """How reports name the source: its URL, its file name, or its kind."""
        if self.location is None:
            return self.name
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
        return SourceSpec(name=text, kind=text)
    kind, sep, arg = text.partition(":")
    if sep and kind in SOURCE_KINDS and arg:
        return SourceSpec(name=kind, kind=kind, location=arg)
    if sep and re.fullmatch(r"[a-z][a-z0-9-]*", kind) and not arg.startswith("//"):
        raise ConfigError(
            f"{at}: unknown source kind {kind!r}", hint=f"known: {', '.join(SOURCE_KINDS)}"
        )
    return SourceSpec(name="auto", kind="auto", location=text)


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
    if kind == "auto" and not location:
        raise ConfigError(f"{at}: a source of kind 'auto' needs a url or a path")
    return SourceSpec(
        name=str(raw.get("name") or kind),
        kind=kind,
        location=str(location) if location else None,
        period=str(period) if period else None,
    )
