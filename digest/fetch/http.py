"""One URL over HTTP, politely and robustly: the part of fetching that faces the internet.

- Retries with exponential backoff and full jitter on connection errors, timeouts, 429 and
  5xx, honouring ``Retry-After`` (seconds or an HTTP date); no wait is longer than the cap.
- A time budget per source (:class:`Session`) covers every attempt, wait and page: a source
  that keeps failing gives up in bounded time instead of holding the edition back.
- A size cap, checked early from ``Content-Length`` and again while the body streams in, so a
  runaway answer is cut off instead of loaded whole.
- Conditional GET: the validators and body of a URL's last 200 come from a :class:`PageCache`;
  the request asks "changed since?", and a 304 reuses the saved body.

- Bodies decoded by us (:mod:`digest.fetch.encoding`), a bounded piece at a time, so the cap
  holds for what a compressed answer becomes, not only for what it weighs on the wire.

Redirects are followed here (a redirect's body is never read), within the client's limit
(``fetch.make_client`` sets it from the policy). How long to wait and how often to try is
:mod:`digest.fetch.policy`'s.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

from digest.errors import FetchError
from digest.fetch.encoding import ACCEPT_ENCODING, BodyDecoder, EncodingRefused
from digest.fetch.policy import (
    DEFAULT_POLICY,
    RETRY_STATUSES,
    FetchPolicy,
    backoff,
    retry_after,
)

VALIDATORS = ("etag", "last-modified")

log = logging.getLogger("digest.fetch")


class CachedPage(Protocol):
    """What a cache remembers of a URL: its validators and the body of its last 200."""

    @property
    def etag(self) -> str | None: ...

    @property
    def last_modified(self) -> str | None: ...

    @property
    def body(self) -> bytes: ...


class PageCache(Protocol):
    """Where conditional GET keeps what it needs (``digest.store.http_cache`` is one)."""

    def load(self, url: str) -> CachedPage | None: ...

    def save(self, url: str, headers: Mapping[str, str], body: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class _Retry:
    reason: str  # "HTTP 503 Service Unavailable", "connection refused"...
    asked: float | None = None  # the wait the server asked for (Retry-After), in seconds


class Session:
    """The fetching of one source: its client, policy and cache, and its time budget, which
    starts when the session is made."""

    def __init__(
        self,
        client: httpx.Client,
        policy: FetchPolicy = DEFAULT_POLICY,
        cache: PageCache | None = None,
    ) -> None:
        self.client, self.policy, self.cache = client, policy, cache
        self.started = policy.clock()

    def elapsed(self) -> float:
        return self.policy.clock() - self.started

    def remaining(self) -> float:
        return self.policy.budget - self.elapsed()

    def out_of_time(self, url: str, last: str) -> FetchError:
        return FetchError(
            f"cannot fetch {url}: gave up after {self.elapsed():.1f} s "
            f"(time budget of {self.policy.budget:g} s; last: {last})",
            hint="the server is slow or failing; try again later",
        )

    def pause(self, seconds: float, url: str, last: str) -> None:
        """Wait ``seconds`` before the next call, unless the budget would run out first."""
        if seconds >= self.remaining():
            raise self.out_of_time(url, last)
        if seconds > 0:
            self.policy.sleep(seconds)

    def get(self, url: str, params: Mapping[str, str] | None = None) -> bytes:
        """GET ``url`` with ``params`` merged into its query: the body, or the cached body when
        the server says it has not changed. Raises :class:`FetchError` naming the URL."""
        target = _with_params(url, params)
        cached = self.cache.load(target) if self.cache is not None else None
        headers = {"Accept-Encoding": ACCEPT_ENCODING, **_conditional(cached)}
        last = _Retry("no answer yet")
        for attempt in range(1, self.policy.attempts + 1):
            if self.remaining() <= 0:
                raise self.out_of_time(target, last.reason)
            outcome = self._attempt(target, headers)
            if isinstance(outcome, _Answer):
                return self._settle(target, outcome, cached)
            last = outcome
            if attempt < self.policy.attempts:
                wait = backoff(self.policy, attempt, outcome.asked)
                log.info("retrying %s in %.1f s: %s", target, wait, outcome.reason)
                self.pause(wait, target, outcome.reason)
        raise FetchError(
            f"cannot fetch {target}: {last.reason} ({self.policy.attempts} attempts)",
            hint="check the URL and your network, or try again later",
        )

    def _attempt(self, url: str, headers: Mapping[str, str]) -> _Answer | _Retry:
        seconds = max(0.001, min(self.policy.timeout, self.remaining()))
        timeout = httpx.Timeout(seconds, connect=min(seconds, 10.0))
        try:
            return self._follow(url, headers, timeout)
        except httpx.TimeoutException as exc:
            return _Retry(f"timed out ({type(exc).__name__})")
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise FetchError(f"cannot fetch {url}: {_describe(exc)}", hint="check the URL") from exc
        except httpx.TransportError as exc:
            return _Retry(_describe(exc))
        except httpx.HTTPError as exc:
            raise FetchError(f"cannot fetch {url}: {_describe(exc)}") from exc

    def _follow(
        self, url: str, headers: Mapping[str, str], timeout: httpx.Timeout
    ) -> _Answer | _Retry:
        """GET ``url``, following redirects ourselves: httpx would read (and decode, without
        a bound) the body of every redirect; here a redirect's body is never read."""
        target = httpx.URL(url)
        for _hop in range(self.client.max_redirects + 1):
            with self.client.stream(
                "GET", target, headers=headers, timeout=timeout, follow_redirects=False
            ) as response:
                if not response.has_redirect_location:
                    return self._answer(url, response)
                target = _redirect_target(response)
        raise FetchError(
            f"cannot fetch {url}: too many redirects (more than {self.client.max_redirects})",
            hint="the server redirects in a loop; give the final URL",
        )

    def _answer(self, url: str, response: httpx.Response) -> _Answer | _Retry:
        status = response.status_code
        if status in RETRY_STATUSES:
            return _Retry(_status_line(response), retry_after(response.headers))
        if status == 304 or 200 <= status < 300:
            body = b"" if status == 304 else self._read(url, response)
            return _Answer(status, response.headers, body)
        raise FetchError(f"cannot fetch {url}: {_status_line(response)}", hint=_status_hint(status))

    def _read(self, url: str, response: httpx.Response) -> bytes:
        """The body, decoded by us a bounded piece at a time (:mod:`digest.fetch.encoding`),
        read no further than the size cap, nor past the budget."""
        cap = self.policy.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _too_big(url, f"it announces {int(declared)} bytes", cap)
        coding = "" if response.is_stream_consumed else response.headers.get("content-encoding", "")
        try:
            decoder = BodyDecoder(coding)
        except EncodingRefused as exc:
            raise FetchError(
                f"cannot fetch {url}: {exc}",
                hint="the server compresses in a way we do not decode; ask its operator",
            ) from exc
        body = bytearray()
        try:
            for chunk in _raw(response):
                for piece in decoder.decode(chunk):
                    body += piece
                    if len(body) > cap:
                        raise _too_big(url, f"reading stopped at {len(body)} bytes", cap)
                if self.remaining() <= 0:
                    raise self.out_of_time(url, f"reading the body, {len(body)} bytes in")
        except zlib.error as exc:
            raise FetchError(
                f"cannot fetch {url}: the body is not valid {decoder.coding} ({exc})",
                hint="the server sent a corrupt answer; try again later",
            ) from exc
        return bytes(body)

    def _settle(self, url: str, answer: _Answer, cached: CachedPage | None) -> bytes:
        """The body to use, and what the cache learns from this answer."""
        if answer.status != 304:
            if self.cache is not None:
                self.cache.save(url, answer.headers, answer.body)
            return answer.body
        if cached is None:
            raise FetchError(
                f"cannot fetch {url}: HTTP 304 Not Modified, but nothing is cached for it",
                hint="the server answered a question we did not ask; try again",
            )
        if self.cache is not None:  # a 304 may carry fresh validators; keep the old otherwise
            kept = {"etag": cached.etag or "", "last-modified": cached.last_modified or ""}
            fresh = {k: answer.headers[k] for k in VALIDATORS if answer.headers.get(k)}
            self.cache.save(url, {**kept, **fresh}, cached.body)
        return cached.body


def fetch_url(
    client: httpx.Client,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    policy: FetchPolicy = DEFAULT_POLICY,
    cache: PageCache | None = None,
) -> bytes:
    """GET one URL in a session of its own (its own time budget)."""
    return Session(client, policy, cache).get(url, params)


def _with_params(url: str, params: Mapping[str, str] | None) -> str:
    """``url`` with ``params`` merged into its query (they replace a parameter it has)."""
    if not params:
        return url
    try:
        return str(httpx.URL(url).copy_merge_params(dict(params)))
    except httpx.InvalidURL as exc:
        raise FetchError(f"cannot fetch {url}: {_describe(exc)}", hint="check the URL") from exc


def _conditional(cached: CachedPage | None) -> dict[str, str]:
    """The headers that ask the server whether the cached body is still current."""
    if cached is None:
        return {}
    headers = {"If-None-Match": cached.etag, "If-Modified-Since": cached.last_modified}
    return {name: value for name, value in headers.items() if value}


def _raw(response: httpx.Response) -> Iterator[bytes]:
    """The body as it came, in pieces; an answer made in memory (``httpx.MockTransport``) was
    read, and decoded, when it was made."""
    if response.is_stream_consumed:
        yield response.content
    else:
        yield from response.iter_raw()


def _redirect_target(response: httpx.Response) -> httpx.URL:
    """Where a redirect points, relative to the URL that answered it."""
    try:
        return response.url.join(response.headers["location"])
    except httpx.InvalidURL as exc:
        raise httpx.RemoteProtocolError(f"invalid redirect location: {exc}") from exc


def _too_big(url: str, what: str, cap: int) -> FetchError:
    return FetchError(
        f"cannot fetch {url}: the answer is over the {cap}-byte size cap ({what})",
        hint="check that the URL is a feed or an API, not a download",
    )


def _status_line(response: httpx.Response) -> str:
    return f"HTTP {response.status_code} {response.reason_phrase}".rstrip()


def _status_hint(status: int) -> str:
    if status in (401, 403):
        return "the server refuses us: check the URL and whether it needs access"
    if status in (400, 422):
        return "the server rejected the request: check the source's query or the date"
    return "check the URL"


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]
