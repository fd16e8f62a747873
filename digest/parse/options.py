"""What a source's settings tell its parser beyond the bytes (most kinds need nothing)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """A source's settings that change what its parser keeps."""

    announce: tuple[str, ...] = ()  # arxiv-rss: announce types kept; empty means new + cross


NO_OPTIONS = ParseOptions()
