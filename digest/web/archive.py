"""Published editions as web pages and Atom feeds (being written)."""

from __future__ import annotations

from starlette.routing import Route


def routes() -> list[Route]:
    return []
