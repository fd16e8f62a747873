"""Parse Hugging Face paper search results: ``/api/papers/search?q=`` or the ``/papers?q=`` page.

The API answers with a JSON array of items in the Daily Papers shape (formats.md §2), parsed by
hf_daily; a paper that never reached Daily Papers has no ``submittedOnDailyAt``, so its
``daily_date`` is None. The search page is a Daily Papers HTML page whose island holds
``searchResults`` (§3.5), parsed by hf_page. So this kind adds nothing of its own: it exists so
that ``kind: hf-search`` names a topic source in schedules.yaml.

``looks_like`` is always False: search JSON cannot be told from Daily Papers JSON, so ``auto``
sniffs it as ``hf-daily``, which parses it the same way, and a search page as ``hf-page``.
"""

from __future__ import annotations

from datetime import date

from digest.models import NO_OPTIONS, ParseOptions, ParseResult
from digest.parse import hf_daily, hf_page


def looks_like(text: str) -> bool:
    """Never: ``hf-daily`` and ``hf-page`` recognise (and parse) the same content."""
    del text
    return False


def parse(
    text: str,
    *,
    source: str,
    origin: str = "",
    today: date,
    options: ParseOptions = NO_OPTIONS,
) -> ParseResult:
    """Search results as papers: an HTML page goes to hf_page, anything else to hf_daily."""
    if text.lstrip().startswith("<"):
        return hf_page.parse(text, source=source, origin=origin, today=today, options=options)
    return hf_daily.parse(text, source=source, origin=origin, today=today, options=options)
