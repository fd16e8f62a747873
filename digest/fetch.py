"""Fetch a source's bytes: over HTTP with httpx, or from a local path / ``file://`` URL.

This is the only module that speaks HTTP. It knows how to page the HF Daily Papers API
(``p``/``limit`` until a short or empty page) and which day, week or month to ask for;
it does not know what the bytes mean beyond counting a page's items.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo

import httpx

from digest import USER_AGENT
from digest.errors import FetchError
from digest.sources import HF_DAILY_API, SourceSpec

HF_PAGE_LIMIT = 100
MAX_PAGES = 50
MAX_BYTES = 20 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
HF_ZONE = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True)
class Fetched:
    """The raw pages of one source, in order, and where they came from."""

    origin: str
    pages: tuple[bytes, ...]


def make_client(timeout: float = 20.0) -> httpx.Client:
    """An HTTP client with our User-Agent, timeouts, redirects and connect retries."""
    return httpx.Client(
        headers={
            "User-Agent": USER_AGENT,
            "Accept": "application/json, text/html;q=0.9, */*;q=0.5",
        },
        timeout=httpx.Timeout(timeout, connect=10.0),
        follow_redirects=True,
        max_redirects=5,
        transport=httpx.HTTPTransport(retries=2),
    )


def hf_period_param(period: str, now: datetime) -> dict[str, str]:
    """The day, week or month an edition sent at ``now`` takes from HF Daily Papers.

    HF's list for day D fills up during D, US Eastern, so the edition takes the last complete
    day before ``now`` (and the ISO week or month containing that day)."""
    day = now.astimezone(HF_ZONE).date() - timedelta(days=1)
    if period == "week":
        year, week, _ = day.isocalendar()
        return {"week": f"{year}-W{week:02d}"}
    if period == "month":
        return {"month": f"{day.year}-{day.month:02d}"}
    return {"date": day.isoformat()}


def fetch_source(spec: SourceSpec, *, client: httpx.Client, period: str, now: datetime) -> Fetched:
    """Fetch every page of ``spec``. Raises :class:`FetchError` naming the source on failure."""
    location = spec.location
    if spec.kind == "hf-daily" and (location is None or _is_hf_api(location)):
        api = location or HF_DAILY_API
        params = hf_period_param(spec.period or period, now)
        return Fetched(api, fetch_hf_pages(client, api, params))
    if location is None:
        raise FetchError(f"source {spec.name!r} has no URL or path")
    if _is_local(location):
        return Fetched(location, (read_local(location),))
    return Fetched(location, (fetch_url(client, location),))


def fetch_hf_pages(client: httpx.Client, url: str, params: dict[str, str]) -> tuple[bytes, ...]:
    """Page through the Daily Papers API until a short or empty page."""
    pages: list[bytes] = []
    for number in range(MAX_PAGES):
        page_params = {**params, "limit": str(HF_PAGE_LIMIT), "p": str(number)}
        body = fetch_url(client, url, params=page_params)
        pages.append(body)
        if _item_count(body) < HF_PAGE_LIMIT:
            break
    return tuple(pages)


def _item_count(body: bytes) -> int:
    try:
        items = json.loads(body)
    except ValueError:
        return 0
    return len(items) if isinstance(items, list) else 0


def fetch_url(
    client: httpx.Client,
    url: str,
    *,
    params: dict[str, str] | None = None,
    attempts: int = 3,
    backoff: float = 1.0,
) -> bytes:
    """GET ``url``; retries 429 and 5xx a few times, honouring ``Retry-After``."""
    for attempt in range(1, attempts + 1):
        try:
            response = client.get(url, params=params)
        except httpx.HTTPError as exc:
            if attempt == attempts:
                raise FetchError(
                    f"cannot fetch {url}: {_describe(exc)}", hint="check the URL and your network"
                ) from exc
            time.sleep(backoff * attempt)
            continue
        if response.status_code in RETRY_STATUSES and attempt < attempts:
            time.sleep(_retry_after(response, backoff * attempt))
            continue
        return _body(response, url)
    raise AssertionError("unreachable")


def _body(response: httpx.Response, url: str) -> bytes:
    if response.status_code >= 400:
        raise FetchError(
            f"cannot fetch {url}: HTTP {response.status_code} {response.reason_phrase}"
        )
    content = response.content
    if len(content) > MAX_BYTES:
        raise FetchError(f"{url} answered {len(content)} bytes, more than the {MAX_BYTES} cap")
    return content


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    return min(float(value), 60.0) if value.isdigit() else default


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def _is_hf_api(location: str) -> bool:
    """An ``/api/daily_papers`` endpoint (HF's or a mirror's): paged, asked for one period."""
    url = urlparse(location)
    return url.scheme in ("http", "https") and url.path.rstrip("/").endswith("/api/daily_papers")


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
