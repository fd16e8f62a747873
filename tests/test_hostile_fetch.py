"""A hostile server on 127.0.0.1 (tests/http_feed.py): compressed bombs, stacked and unknown
encodings, and a bomb in a redirect's body. Whatever it sends, a fetch holds no more than a
small multiple of the size cap in memory (measured with tracemalloc), and fails with one
FetchError line naming the URL and what was wrong."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from http_feed import FeedServer, Reply, serve

from digest.errors import FetchError
from digest.fetch import make_client
from digest.fetch.http import fetch_url
from digest.fetch.policy import FetchPolicy

CAP = 1024 * 1024  # the size cap of these tests
BOMB = 64 * CAP  # what a bomb becomes, decoded
RULES = FetchPolicy(max_bytes=CAP, attempts=1, sleep=lambda _s: None)


def _gzip_of_zeros(size: int) -> bytes:
    """``size`` zero bytes gzipped, built a megabyte at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(CAP)
    parts = [packer.compress(block) for _ in range(size // CAP)]
    return b"".join([*parts, packer.flush()])


GZIP_BOMB = _gzip_of_zeros(BOMB)
DOUBLE_BOMB = gzip.compress(GZIP_BOMB, 9)


@pytest.fixture
def start() -> Iterator[Callable[..., FeedServer]]:
    """Starts http_feed servers on 127.0.0.1 (``start(route)``); all stop at the end."""
    with ExitStack() as stack:
        yield lambda route: stack.enter_context(serve(route))


def fetch_measured(url: str) -> tuple[bytes | FetchError, int]:
    """What fetching ``url`` gives (the body or the FetchError), and the peak memory it took."""
    tracemalloc.start()
    try:
        with make_client(RULES) as client:
            try:
                outcome: bytes | FetchError = fetch_url(client, url, policy=RULES)
            except FetchError as exc:
                outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_bombs_are_small_on_the_wire() -> None:
    assert len(DOUBLE_BOMB) < 20_000 < len(GZIP_BOMB) < BOMB // 100


def test_a_gzip_of_gzip_bomb_is_refused_within_a_few_caps_of_memory(
    start: Callable[..., FeedServer],
) -> None:
    server = start(lambda _seen: Reply(200, {"Content-Encoding": "gzip, gzip"}, DOUBLE_BOMB))
    outcome, peak = fetch_measured(server.url + "/bomb")
    assert isinstance(outcome, FetchError)
    assert "/bomb: stacked Content-Encoding 'gzip, gzip' is not accepted" in str(outcome)
    assert peak < 4 * CAP


@pytest.mark.parametrize("chunked", [True, False])
def test_a_gzip_bomb_stops_at_the_cap(start: Callable[..., FeedServer], chunked: bool) -> None:
    reply = Reply(200, {"Content-Encoding": "gzip"}, GZIP_BOMB, chunked=chunked)
    server = start(lambda _seen: reply)
    outcome, peak = fetch_measured(server.url + "/bomb")
    assert isinstance(outcome, FetchError)
    assert f"over the {CAP}-byte size cap (reading stopped at" in str(outcome)
    assert peak < 4 * CAP


def test_a_bomb_in_a_redirects_body_is_never_read(start: Callable[..., FeedServer]) -> None:
    bomb = Reply(302, {"Location": "/feed", "Content-Encoding": "gzip, gzip"}, DOUBLE_BOMB)
    server = start(lambda seen: bomb if seen.path == "/go" else Reply(200, body=b"the feed"))
    outcome, peak = fetch_measured(server.url + "/go")
    assert outcome == b"the feed"
    assert server.paths == ["/go", "/feed"]
    assert peak < 4 * CAP


@pytest.mark.parametrize(
    ("coding", "pack"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),  # zlib-wrapped, as the standard says
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw, as many servers send
        ("identity", lambda data: data),
        ("GZIP, identity", gzip.compress),
    ],
)
def test_one_encoding_is_decoded(
    start: Callable[..., FeedServer], coding: str, pack: Callable[[bytes], bytes]
) -> None:
    body = b"".join(b'{"paper": %d}\n' % n for n in range(50_000))  # 0.7 MB, within the cap
    server = start(lambda _seen: Reply(200, {"Content-Encoding": coding}, pack(body)))
    assert fetch_measured(server.url + "/ok")[0] == body
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize(
    ("coding", "message"),
    [
        ("br", "unsupported Content-Encoding 'br' (we ask for gzip or deflate)"),
        ("zstd", "unsupported Content-Encoding 'zstd'"),
        ("deflate, gzip", "stacked Content-Encoding 'deflate, gzip' is not accepted"),
    ],
)
def test_other_encodings_are_one_clear_error(
    start: Callable[..., FeedServer], coding: str, message: str
) -> None:
    server = start(lambda _seen: Reply(200, {"Content-Encoding": coding}, b"\x00" * 100))
    outcome, _peak = fetch_measured(server.url + "/odd")
    assert isinstance(outcome, FetchError)
    assert f"cannot fetch {server.url}/odd: {message}" in str(outcome)


def test_a_corrupt_gzip_body_is_one_clear_error(start: Callable[..., FeedServer]) -> None:
    server = start(lambda _seen: Reply(200, {"Content-Encoding": "gzip"}, b"plain, not gzip"))
    outcome, _peak = fetch_measured(server.url + "/bad")
    assert isinstance(outcome, FetchError)
    assert "/bad: the body is not valid gzip (Error -3" in str(outcome)
