"""Fetch a source's bytes: over HTTP, or from a local path / ``file://`` URL.

This is the only module (with :mod:`digest.fetch.http`, which gets one URL politely, and
:mod:`digest.fetch.policy`, how hard it tries) that speaks HTTP. It knows which URL each
source kind asks, which day, week or month an edition takes from HF Daily Papers, and how
each API pages; it does not know what the bytes mean beyond counting a page's items:

- ``hf-daily``: ``/api/daily_papers`` with ``p``/``limit``, until a short or empty page;
- ``hf-search`` with a query: ``/api/papers/search?q=…&limit=120``, one page;
- ``arxiv-api``: ``start``/``max_results``, until a short page, an empty one or
  ``opensearch:totalResults``, with the pause arXiv asks for between calls;
- anything else: its one URL, or its file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import httpx

from digest import USER_AGENT
from digest.config.sources import HF_DAILY_API, SourceSpec
from digest.errors import FetchError
from digest.fetch.http import PageCache, Session
from digest.fetch.policy import DEFAULT_POLICY, FetchPolicy

HF_PAGE_LIMIT = 100
HF_MAX_PAGES = 50
HF_SEARCH_API = "https://huggingface.co/api/papers/search"
HF_SEARCH_LIMIT = 120  # the most the search API gives in one call
HF_QUERY_MAX = 250  # the longest query it takes
HF_ZONE = ZoneInfo("America/New_York")
HF_MAX_DAYS = 7  # the most HF days one daily edition takes (after a long pause)
HF_ROLLOVER = time(21, 30)  # HF's "latest" day moves on at 21:30 US Eastern
ARXIV_API = "http://export.arxiv.org/api/query"
ARXIV_PAGE_SIZE = 100
ARXIV_MAX_PAGES = 5  # the newest 500 results: more than any category announces in a day
EMPTY_DAY = "empty (weekend or holiday?)"
_ATOM = "{http://www.w3.org/2005/Atom}"
_OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"


@dataclass(frozen=True, slots=True)
class Fetched:
    """The raw pages of one source, in order, and where they came from."""

    origin: str
    pages: tuple[bytes, ...]
    empty_note: str = "empty"  # what an answer without papers most likely means


def make_client(policy: FetchPolicy = DEFAULT_POLICY) -> httpx.Client:
    """An HTTP client with our User-Agent, the policy's timeout and redirect limit. Retries
    are :mod:`digest.fetch.http`'s (none at the transport: they would count twice)."""
    return httpx.Client(
        headers={
            "User-Agent": USER_AGENT,
            "Accept": "application/json, application/atom+xml, text/html;q=0.9, */*;q=0.5",
        },
        timeout=httpx.Timeout(policy.timeout, connect=min(policy.timeout, 10.0)),
        follow_redirects=True,
        max_redirects=policy.max_redirects,
    )


def last_complete_day(now: datetime) -> date:
    """The last complete Daily Papers day at ``now``.

    ``?date=D`` lists the papers whose ``submittedOnDailyAt`` falls on D (formats.md §1.5). The
    list HF shows as the latest moves on to the next day at 21:30 US Eastern, so day D is
    still filling until 21:30 ET on D and complete after it."""
    local = now.astimezone(HF_ZONE)
    return local.date() - timedelta(days=0 if local.time() >= HF_ROLLOVER else 1)


def hf_period_param(period: str, now: datetime) -> dict[str, str]:
    """The day, week or month an edition made at ``now`` takes from HF Daily Papers: the last
    complete day (and the ISO week or month containing that day)."""
    day = last_complete_day(now)
    if period == "week":
        year, week, _ = day.isocalendar()
        return {"week": f"{year}-W{week:02d}"}
    if period == "month":
        return {"month": f"{day.year}-{day.month:02d}"}
    return {"date": day.isoformat()}


def hf_days(now: datetime, since: datetime | None) -> list[date]:
    """The HF days a daily edition made at ``now`` takes: every day completed since the
    digest's previous scheduled run (``since``), at least the last complete one, at most
    HF_MAX_DAYS. So Monday's edition of a Monday-to-Friday digest has Friday's, Saturday's
    and Sunday's papers, and no day falls between two editions."""
    last = last_complete_day(now)
    first = last if since is None else last_complete_day(since) + timedelta(days=1)
    first = min(max(first, last - timedelta(days=HF_MAX_DAYS - 1)), last)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def fetch_source(
    spec: SourceSpec,
    *,
    client: httpx.Client,
    period: str,
    now: datetime,
    cache: PageCache | None = None,
    policy: FetchPolicy = DEFAULT_POLICY,
    since: datetime | None = None,
) -> Fetched:
    """Fetch every page of ``spec`` within the policy's time budget. ``since``: the digest's
    previous scheduled run, so a daily edition takes every HF day completed since (see
    :func:`hf_days`). Raises :class:`FetchError` naming the URL or path on failure."""
    location = spec.location
    if location is not None and _is_local(location):
        return Fetched(location, (read_local(location),))
    session = Session(client, policy, cache)
    if spec.kind == "hf-daily" and (location is None or _is_hf_api(location)):
        api = location or HF_DAILY_API
        return _fetch_hf_daily(session, api, spec.period or period, now, since)
    if spec.kind == "arxiv-api":
        url = location or arxiv_query_url(_query(spec))
        return Fetched(url, fetch_arxiv_pages(session, url))
    if spec.kind == "hf-search" and location is None:
        url = hf_search_url(_query(spec))
        return Fetched(url, (session.get(url),))
    if location is None:
        raise FetchError(
            f"source {spec.name!r} ({spec.kind}) has no URL or path",
            hint="give it a url: or a path: in schedules.yaml",
        )
    return Fetched(location, (session.get(location),), _empty_note(spec))


def _fetch_hf_daily(
    session: Session, api: str, period: str, now: datetime, since: datetime | None
) -> Fetched:
    """The edition's days (or week, or month) from an ``/api/daily_papers`` endpoint; a URL
    that names its own period is taken as it is."""
    named = httpx.URL(api).params
    if _names_a_period(named):
        note = EMPTY_DAY if "date" in named else "empty"
        return Fetched(api, fetch_hf_pages(session, api, {}), note)
    if period != "day":
        return Fetched(api, fetch_hf_pages(session, api, hf_period_param(period, now)))
    pages = [
        page
        for day in hf_days(now, since)
        for page in fetch_hf_pages(session, api, {"date": day.isoformat()})
    ]
    return Fetched(api, tuple(pages), EMPTY_DAY)


def fetch_hf_pages(session: Session, url: str, params: dict[str, str]) -> tuple[bytes, ...]:
    """Page through the Daily Papers API until a short or empty page."""
    pages: list[bytes] = []
    for number in range(HF_MAX_PAGES):
        body = session.get(url, {**params, "limit": str(HF_PAGE_LIMIT), "p": str(number)})
        pages.append(body)
        if _json_count(body) < HF_PAGE_LIMIT:
            break
    return tuple(pages)


def fetch_arxiv_pages(session: Session, url: str) -> tuple[bytes, ...]:
    """Page through the arXiv API (``start``/``max_results``) until a short or empty page or
    the total is reached, pausing between calls as arXiv asks. A ``max_results`` in the URL
    is how many results the operator wants in all (at most ``ARXIV_MAX_PAGES`` pages)."""
    query = httpx.URL(url).params
    first = _int_param(query, "start", 0)
    wanted = min(
        _int_param(query, "max_results", ARXIV_PAGE_SIZE * ARXIV_MAX_PAGES),
        ARXIV_PAGE_SIZE * ARXIV_MAX_PAGES,
    )
    pages: list[bytes] = []
    got = 0
    while got < wanted:
        if pages:
            session.pause(session.policy.page_delay, url, "pausing between arXiv pages")
        size = min(ARXIV_PAGE_SIZE, wanted - got)
        body = session.get(url, {"start": str(first + got), "max_results": str(size)})
        pages.append(body)
        count, total = _atom_count(body)
        got += count
        if count < size or (total is not None and first + got >= total):
            break
    return tuple(pages)


def hf_search_url(query: str) -> str:
    """HF's paper search for ``query`` (one page of the most it gives)."""
    params = {"q": query, "limit": str(HF_SEARCH_LIMIT)}
    return str(httpx.URL(HF_SEARCH_API, params=params))


def arxiv_query_url(query: str) -> str:
    """The arXiv API's newest submissions matching ``query`` (``cat:cs.LG``, ``ti:diffusion``)."""
    params = {"search_query": query, "sortBy": "submittedDate", "sortOrder": "descending"}
    return str(httpx.URL(ARXIV_API, params=params))


def _query(spec: SourceSpec) -> str:
    query = (spec.query or "").strip()
    if not query:
        raise FetchError(
            f"source {spec.name!r} ({spec.kind}) has neither a URL nor a query",
            hint="give it a query: (what to search for) or a url:",
        )
    if spec.kind == "hf-search" and len(query) > HF_QUERY_MAX:
        raise FetchError(
            f"source {spec.name!r}: the query is {len(query)} characters long",
            hint=f"HF search takes at most {HF_QUERY_MAX}; shorten it",
        )
    return query


def _empty_note(spec: SourceSpec) -> str:
    """arXiv announces nothing on weekends and holidays; a feed has no such rhythm."""
    return EMPTY_DAY if spec.kind == "arxiv-rss" else "empty"


def _json_count(body: bytes) -> int:
    try:
        items = json.loads(body)
    except ValueError:
        return 0
    return len(items) if isinstance(items, list) else 0


def _atom_count(body: bytes) -> tuple[int, int | None]:
    """The entries of an Atom page, and ``opensearch:totalResults`` (None if absent); an
    unreadable page counts as empty (the parser reports it)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return 0, None
    total = (root.findtext(f"{_OPENSEARCH}totalResults") or "").strip()
    return len(root.findall(f"{_ATOM}entry")), int(total) if total.isdigit() else None


def _int_param(params: httpx.QueryParams, name: str, default: int) -> int:
    value = params.get(name, "")
    return int(value) if value.isdigit() else default


def _is_hf_api(location: str) -> bool:
    """An ``/api/daily_papers`` endpoint (HF's or a mirror's): paged, asked for one period."""
    url = urlparse(location)
    return url.scheme in ("http", "https") and url.path.rstrip("/").endswith("/api/daily_papers")


def _names_a_period(params: httpx.QueryParams) -> bool:
    """A URL that already says which day, week or month: the edition's is not added."""
    return any(name in params for name in ("date", "week", "month"))


def _is_local(location: str) -> bool:
    return location.startswith("file://") or "://" not in location


def read_local(location: str) -> bytes:
    """Read a path or a ``file://`` URL."""
    path = (
        Path(unquote(urlparse(location).path)) if location.startswith("file://") else Path(location)
    )
    try:
        return path.expanduser().read_bytes()
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from exc
