"""parse: the bytes of one source → papers, one module per source kind.

Each kind module offers ``looks_like(text)`` (used by ``kind="auto"``) and
``parse(text, *, source, origin, today, options)``. Adding a kind is one module plus one line in
``_KINDS``; the order there is the sniffing order, and ``text`` (which takes anything)
stays last. ``ParseError`` is the only exception a parser raises.
"""

from __future__ import annotations

import codecs
import json
from datetime import date
from typing import Protocol

from digest.errors import ParseError
from digest.models import NO_OPTIONS, ParseOptions, ParseResult
from digest.parse import arxiv_api, arxiv_rss, feed, hf_daily, hf_page, hf_search
from digest.parse import text as text_capture
from digest.parse.clean import clean_result, clean_text


class _Kind(Protocol):
    def looks_like(self, text: str) -> bool: ...

    def parse(
        self, text: str, *, source: str, origin: str, today: date, options: ParseOptions
    ) -> ParseResult: ...


_KINDS: dict[str, _Kind] = {
    # The feed kinds come before hf-daily, whose looks_like takes any JSON object: feed's
    # takes only a JSON Feed (and RSS/Atom XML, after the two arXiv kinds have had theirs).
    "arxiv-rss": arxiv_rss,
    "arxiv-api": arxiv_api,
    "feed": feed,
    "hf-daily": hf_daily,
    "hf-page": hf_page,
    "hf-search": hf_search,
    "text": text_capture,
}
KINDS: tuple[str, ...] = tuple(_KINDS)


_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def parse_bytes(
    data: bytes,
    *,
    kind: str = "auto",
    source: str,
    origin: str = "",
    today: date,
    options: ParseOptions = NO_OPTIONS,
) -> ParseResult:
    """Parse one source's bytes as ``kind`` (sniffed when ``"auto"``).

    ``source`` goes into each paper's ``sources`` (empty: the kind's name); ``origin`` (a
    path or URL) names the input in errors; ``today`` resolves dates written without a year.
    Problems name the item (``item [3]``) or line (``line 12``), not the origin: the caller
    knows which input it was.
    Raises ParseError, and nothing else, for any bytes. The papers' text is clean
    (:mod:`digest.parse.clean`): no character that cannot be written as UTF-8, no control
    character but tab and newline, no field longer than its limit.
    """
    if kind != "auto" and kind not in _KINDS:
        raise ParseError(
            f"unknown kind {kind!r}", source=origin, hint=f"known kinds: auto, {', '.join(KINDS)}"
        )
    content = clean_text(decode(data, origin))
    chosen = _sniff(content) if kind == "auto" else kind
    if kind == "auto":
        _refuse_what_no_kind_reads(content, chosen, origin)
    try:
        result = _KINDS[chosen].parse(
            content, source=source or chosen, origin=origin, today=today, options=options
        )
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        # A parser bug must not sink the edition: report it as this source's parse error.
        raise ParseError(
            f"unexpected {type(exc).__name__} while parsing as {chosen}: {exc}",
            source=origin,
            hint="please report this input",
        ) from exc
    return clean_result(result)  # whatever a parser let through, no paper carries past here


def sniff_kind(data: bytes) -> str:
    """The kind these bytes look like: the first in ``_KINDS`` whose ``looks_like`` accepts
    them (``text``, last, takes anything)."""
    return _sniff(decode(data, ""))


def decode(data: bytes, origin: str) -> str:
    """UTF-8 text (a BOM is dropped; UTF-16 with a BOM is accepted); else ParseError."""
    encoding = "utf-16" if data.startswith(_UTF16_BOMS) else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"not {encoding.upper().removesuffix('-SIG')} text: bad byte at offset {exc.start}",
            source=origin,
            hint="save the file as UTF-8",
        ) from exc


def _refuse_what_no_kind_reads(content: str, chosen: str, origin: str) -> None:
    """An empty file, or JSON that does not parse, is said as such: the text kind, which
    takes anything, would call it a capture with no abstract."""
    stripped = content.strip()
    if not stripped:
        raise ParseError("the file is empty: no papers in it", source=origin)
    if chosen == "text" and stripped[0] in "[{":
        try:
            json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ParseError(
                f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                source=origin,
                line=exc.lineno,
                hint="a truncated download? fetch it again",
            ) from None


def _sniff(content: str) -> str:
    return next((name for name, module in _KINDS.items() if module.looks_like(content)), "text")
