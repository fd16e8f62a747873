"""Fetching that survives the real internet, against real HTTP servers on 127.0.0.1
(tests/http_feed.py): retries and backoff, Retry-After, the time budget, timeouts, the size
cap, redirects, conditional GET, paging, and one failing source never sinking the others.

Waiting is injected through FetchPolicy (``sleep``, ``random``), so the tests assert the
waits that would have happened without spending them."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from conftest import FIXTURES, free_port, run_cli
from http_feed import FeedServer, Reply, Route, Seen, serve
from rich.console import Console

from digest import USER_AGENT
from digest.cli.report import sources_table
from digest.config import load_config
from digest.config.sources import SourceSpec
from digest.errors import FetchError
from digest.fetch import EMPTY_DAY, fetch_source, make_client
from digest.fetch.http import Session, fetch_url
from digest.fetch.policy import FetchPolicy
from digest.models import Subscriber
from digest.pipeline import SendRequest, SendResult, send_edition
from digest.pipeline.collect import Collected, collect_papers
from digest.pipeline.compose import EditionRequest
from digest.store import TinyStore
from digest.store.http_cache import HttpCache

NOW = datetime(2025, 11, 26, 7, 0, tzinfo=UTC)
BIG = 64 * 1024 * 1024  # what a runaway server tries to send
MONDAY = datetime(2025, 11, 24, 7, 0, tzinfo=UTC)  # the last complete HF day is Sunday
SLICE = (FIXTURES / "hf-daily-2025-11-slice.json").read_bytes()  # 6 papers


class Waits(list[float]):
    """An injected ``sleep`` that records what it was asked to wait, and returns at once."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def policy(waits: Waits | None = None, **changes: object) -> FetchPolicy:
    """A policy whose jitter is always half the ceiling and whose sleeps are recorded."""
    sleep = waits if waits is not None else Waits()
    options: dict[str, object] = {"sleep": sleep, "random": lambda: 0.5}
    return FetchPolicy(**{**options, **changes})  # type: ignore[arg-type]


@pytest.fixture
def start() -> Iterator[Callable[..., FeedServer]]:
    """Starts http_feed servers on 127.0.0.1 (``start(route, port=0)``); all stop at the end."""
    with ExitStack() as stack:
        yield lambda route, port=0: stack.enter_context(serve(route, port))


def script(*replies: Reply) -> Route:
    """Answers the replies in order, then the last one for ever."""
    queue = list(replies)
    return lambda _seen: queue.pop(0) if len(queue) > 1 else queue[0]


def get(url: str, rules: FetchPolicy, cache: HttpCache | None = None) -> bytes:
    with make_client(rules) as client:
        return fetch_url(client, url, policy=rules, cache=cache)


# retries ------------------------------------------------------------------------------------


def test_503_twice_then_200_with_full_jitter_backoff(start: Callable[..., FeedServer]) -> None:
    server = start(script(Reply(503), Reply(503), Reply(200, body=b"[1]")))
    waits = Waits()
    assert get(server.url + "/x", policy(waits)) == b"[1]"
    assert waits == [0.5, 1.0]  # half of a ceiling of 1 s, then of 2 s
    assert len(server.requests) == 3
    assert {r.headers["user-agent"] for r in server.requests} == {USER_AGENT}


def test_a_connection_closed_without_an_answer_is_retried(
    start: Callable[..., FeedServer],
) -> None:
    server = start(script(Reply(drop=True), Reply(200, body=b"ok")))
    waits = Waits()
    assert get(server.url + "/x", policy(waits)) == b"ok"
    assert (len(server.requests), len(waits)) == (2, 1)


def test_connection_refused_then_the_server_comes_up(start: Callable[..., FeedServer]) -> None:
    port = free_port()  # nothing listens there yet
    started: list[FeedServer] = []

    def sleep(seconds: float) -> None:  # the wait before the retry brings the server up
        started.append(start(lambda _seen: Reply(200, body=b"up"), port))

    assert get(f"http://127.0.0.1:{port}/x", policy(sleep=sleep)) == b"up"
    assert len(started) == 1 and started[0].paths == ["/x"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        # an HTTP date is taken relative to the answer's own Date: 12 s later
        (
            {
                "Date": "Wed, 26 Nov 2025 07:00:00 GMT",
                "Retry-After": "Wed, 26 Nov 2025 07:00:12 GMT",
            },
            12.0,
        ),
        ({"Retry-After": "600"}, 60.0),  # capped at max_delay
        ({"Retry-After": "soon"}, 0.5),  # unreadable: our own backoff
    ],
)
def test_429_honours_retry_after(
    start: Callable[..., FeedServer], headers: dict[str, str], expected: float
) -> None:
    server = start(script(Reply(429, headers), Reply(200, body=b"[]")))
    waits = Waits()
    assert get(server.url + "/x", policy(waits, max_delay=60.0)) == b"[]"
    assert waits == [expected]


def test_a_retry_after_past_the_budget_gives_up_without_waiting(
    start: Callable[..., FeedServer],
) -> None:
    server = start(lambda _seen: Reply(429, {"Retry-After": "30"}))
    waits = Waits()
    with pytest.raises(
        FetchError, match=r"gave up after .* s \(time budget of 5 s; last: HTTP 429"
    ):
        get(server.url + "/x", policy(waits, budget=5.0))
    assert waits == [] and len(server.requests) == 1


def test_a_server_that_always_fails_is_given_up_on_within_the_budget(
    start: Callable[..., FeedServer],
) -> None:
    server = start(lambda _seen: Reply(503))
    rules = FetchPolicy(attempts=50, base_delay=0.05, budget=0.5, random=lambda: 1.0)
    began = time.monotonic()
    with pytest.raises(FetchError, match=r"/x: gave up after 0\.\d s \(time budget of 0\.5 s"):
        get(server.url + "/x", rules)
    assert time.monotonic() - began < 2.0
    assert 2 <= len(server.requests) <= 6  # waits 0.05, 0.1, 0.2; the next (0.4) would overrun


def test_retries_stop_after_the_attempts(start: Callable[..., FeedServer]) -> None:
    server = start(lambda _seen: Reply(500))
    waits = Waits()
    with pytest.raises(FetchError, match=r"/x: HTTP 500 Internal Server Error \(3 attempts\)"):
        get(server.url + "/x", policy(waits, attempts=3))
    assert len(server.requests) == 3 and len(waits) == 2


@pytest.mark.parametrize(
    ("status", "message"), [(404, "HTTP 404 Not Found"), (400, "HTTP 400 Bad Request")]
)
def test_client_errors_are_not_retried(
    start: Callable[..., FeedServer], status: int, message: str
) -> None:
    server = start(lambda _seen: Reply(status, body=b"no"))
    waits = Waits()
    with pytest.raises(FetchError, match=re.escape(f"{server.url}/x: {message}")):
        get(server.url + "/x", policy(waits))
    assert len(server.requests) == 1 and waits == []


def test_a_slow_answer_times_out_per_request(start: Callable[..., FeedServer]) -> None:
    server = start(lambda _seen: Reply(200, body=b"late", delay=1.5))
    began = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out \(ReadTimeout\) \(2 attempts\)"):
        get(server.url + "/slow", policy(attempts=2, timeout=0.2))
    assert time.monotonic() - began < 1.2  # two 0.2 s timeouts, not the server's 1.5 s
    assert len(server.requests) == 2


# size cap -----------------------------------------------------------------------------------


def test_a_declared_length_over_the_cap_is_refused_before_reading(
    start: Callable[..., FeedServer],
) -> None:
    server = start(lambda _seen: Reply(200, flood=BIG))
    message = rf"/big: the answer is over the 1000-byte size cap \(it announces {BIG} bytes\)"
    with pytest.raises(FetchError, match=message):
        get(server.url + "/big", policy(max_bytes=1000))
    server.wait_answers(1)
    assert server.hung_up == [True] and server.written[0] < BIG // 4


def test_a_chunked_answer_is_cut_off_at_the_cap_while_streaming(
    start: Callable[..., FeedServer],
) -> None:
    server = start(lambda _seen: Reply(200, chunked=True, flood=BIG))
    with pytest.raises(FetchError, match=r"100000-byte size cap") as caught:
        get(server.url + "/stream", policy(max_bytes=100_000))
    stopped = re.search(r"reading stopped at (\d+) bytes", str(caught.value))
    assert stopped and 100_000 < int(stopped.group(1)) <= 100_000 + 64 * 1024
    server.wait_answers(1)
    assert server.hung_up == [True] and server.written[0] < BIG // 4


@pytest.mark.parametrize("chunked", [True, False])
def test_an_answer_within_the_cap_is_read_whole(
    start: Callable[..., FeedServer], chunked: bool
) -> None:
    body = json.dumps([{"paper": {"id": f"2511.{n:05d}"}} for n in range(500)]).encode()
    server = start(lambda _seen: Reply(200, body=body, chunked=chunked))
    assert get(server.url + "/ok", policy(max_bytes=len(body))) == body


# redirects ----------------------------------------------------------------------------------


def test_a_redirect_chain_within_the_limit_is_followed(start: Callable[..., FeedServer]) -> None:
    hops = {"/a": Reply(302, {"Location": "/b"}), "/b": Reply(301, {"Location": "/c"})}
    server = start(lambda seen: hops.get(seen.path, Reply(200, body=b"here")))
    assert get(server.url + "/a", policy(max_redirects=3)) == b"here"
    assert server.paths == ["/a", "/b", "/c"]


def test_a_redirect_loop_is_a_clear_error(start: Callable[..., FeedServer]) -> None:
    server = start(lambda _seen: Reply(302, {"Location": "/loop"}))
    with pytest.raises(FetchError, match=r"/loop: too many redirects \(more than 3\)"):
        get(server.url + "/loop", policy(max_redirects=3))
    assert server.paths == ["/loop"] * 4  # the first request and three redirects, no retry


# conditional GET ----------------------------------------------------------------------------


def validating(header: str, request_header: str, value: str, body: bytes) -> Route:
    """A server whose page carries ``header: value`` and answers 304 when asked with it."""

    def route(seen: Seen) -> Reply:
        if seen.headers.get(request_header) == value:
            return Reply(304, {header: value}, length=False)
        return Reply(200, {header: value, "Content-Type": "application/json"}, body)

    return route


@pytest.mark.parametrize(
    ("header", "request_header", "value"),
    [
        ("ETag", "if-none-match", '"v1"'),
        ("Last-Modified", "if-modified-since", "Tue, 25 Nov 2025 20:00:00 GMT"),
    ],
)
def test_a_304_reuses_the_saved_body(
    start: Callable[..., FeedServer],
    tmp_path: Path,
    header: str,
    request_header: str,
    value: str,
) -> None:
    body = (FIXTURES / "hf-daily-2025-11-slice.json").read_bytes()
    server = start(validating(header, request_header, value, body))
    url = server.url + "/api/daily_papers?date=2025-11-25"
    assert get(url, policy(), HttpCache(tmp_path / "cache")) == body
    again = get(url, policy(), HttpCache(tmp_path / "cache"))  # a later run, a new process
    assert again == body
    assert request_header not in server.requests[0].headers
    assert server.requests[1].headers[request_header] == value
    assert len(server.requests) == 2


def test_a_changed_page_replaces_the_saved_one(
    start: Callable[..., FeedServer], tmp_path: Path
) -> None:
    page = {"etag": '"v1"', "body": "[1]"}  # changed halfway

    def route(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == page["etag"]:
            return Reply(304, length=False)
        return Reply(200, {"ETag": page["etag"]}, page["body"].encode())

    server = start(route)
    cache = HttpCache(tmp_path / "cache")
    assert get(server.url + "/p", policy(), cache) == b"[1]"
    page.update(etag='"v2"', body="[2]")
    assert get(server.url + "/p", policy(), cache) == b"[2]"  # asked with v1: a new 200
    assert get(server.url + "/p", policy(), cache) == b"[2]"  # asked with v2: 304
    tags = [r.headers.get("if-none-match") for r in server.requests]
    assert tags == [None, '"v1"', '"v2"']


def test_a_read_only_cache_reads_but_never_writes(
    start: Callable[..., FeedServer], tmp_path: Path
) -> None:
    server = start(validating("ETag", "if-none-match", '"v1"', b"[42]"))
    folder = tmp_path / "cache"
    assert get(server.url + "/p", policy(), HttpCache(folder, read_only=True)) == b"[42]"
    assert not folder.exists()  # nothing written, not even the folder

    get(server.url + "/p", policy(), HttpCache(folder))  # a send saves it
    (entry,) = folder.iterdir()
    before = (entry.read_bytes(), entry.stat().st_mtime_ns)
    assert get(server.url + "/p", policy(), HttpCache(folder, read_only=True)) == b"[42]"
    assert server.requests[-1].headers["if-none-match"] == '"v1"'
    assert (entry.read_bytes(), entry.stat().st_mtime_ns) == before
    assert list(folder.iterdir()) == [entry]


# paging and query URLs ------------------------------------------------------------------------


def atom_page(first: int, count: int, total: int | None) -> bytes:
    entries = "".join(
        f"<entry><id>http://arxiv.org/abs/2511.{first + n:05d}v1</id><title>Paper {first + n}"
        "</title></entry>"
        for n in range(count)
    )
    head = "" if total is None else f"<opensearch:totalResults>{total}</opensearch:totalResults>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
        f'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{head}{entries}</feed>'
    ).encode()


def arxiv_route(available: int, total: int | None) -> Route:
    def route(seen: Seen) -> Reply:
        query = parse_qs(urlparse(seen.path).query)
        first, size = int(query["start"][0]), int(query["max_results"][0])
        count = max(0, min(size, available - first))
        return Reply(200, {"Content-Type": "application/atom+xml"}, atom_page(first, count, total))

    return route


def queries(server: FeedServer) -> list[dict[str, list[str]]]:
    return [parse_qs(urlparse(path).query) for path in server.paths]


def fetch(spec: SourceSpec, rules: FetchPolicy, client: httpx.Client | None = None) -> list[bytes]:
    with client or make_client(rules) as http:
        return list(fetch_source(spec, client=http, period="day", now=NOW, policy=rules).pages)


def test_arxiv_api_pages_until_a_short_page(start: Callable[..., FeedServer]) -> None:
    server = start(arxiv_route(available=237, total=None))
    waits = Waits()
    spec = SourceSpec("arxiv", "arxiv-api", server.url + "/api/query?search_query=cat:cs.LG")
    pages = fetch(spec, policy(waits, page_delay=3.0))
    assert [page.count(b"<entry>") for page in pages] == [100, 100, 37]
    assert b"2511.00236v1" in pages[2]
    assert [(q["start"], q["max_results"]) for q in queries(server)] == [
        (["0"], ["100"]),
        (["100"], ["100"]),
        (["200"], ["100"]),
    ]
    assert all(q["search_query"] == ["cat:cs.LG"] for q in queries(server))
    assert waits == [3.0, 3.0]  # arXiv's politeness between calls


def test_arxiv_api_stops_when_the_total_is_reached(start: Callable[..., FeedServer]) -> None:
    server = start(arxiv_route(available=200, total=200))
    waits = Waits()
    pages = fetch(SourceSpec("arxiv", "arxiv-api", server.url + "/q"), policy(waits))
    assert [page.count(b"<entry>") for page in pages] == [100, 100]  # no third, empty call
    assert len(waits) == 1


def test_arxiv_api_takes_max_results_in_the_url_as_the_total(
    start: Callable[..., FeedServer],
) -> None:
    server = start(arxiv_route(available=1000, total=1000))
    fetch(SourceSpec("arxiv", "arxiv-api", server.url + "/q?max_results=150"), policy())
    assert [q["max_results"] for q in queries(server)] == [["100"], ["50"]]


def recording_client(answer: bytes, seen: list[httpx.URL]) -> httpx.Client:
    """A client whose every request is answered by ``answer`` without leaving the process."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, content=answer)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_arxiv_api_query_without_a_url(start: Callable[..., FeedServer]) -> None:
    seen: list[httpx.URL] = []
    spec = SourceSpec("lg", "arxiv-api", query="cat:cs.LG AND ti:diffusion")
    fetch(spec, policy(), recording_client(atom_page(0, 3, 3), seen))
    (url,) = seen
    assert (url.scheme, url.host, url.path) == ("http", "export.arxiv.org", "/api/query")
    assert dict(url.params) == {
        "search_query": "cat:cs.LG AND ti:diffusion",
        "sortBy": "submittedDate",
        "sortOrder": "descending",
        "start": "0",
        "max_results": "100",
    }


def test_hf_search_query_is_one_call_to_the_search_api() -> None:
    seen: list[httpx.URL] = []
    spec = SourceSpec("topic", "hf-search", query="diffusion guidance")
    pages = fetch(spec, policy(), recording_client(b"[]", seen))
    assert pages == [b"[]"]
    assert [str(u) for u in seen] == [
        "https://huggingface.co/api/papers/search?q=diffusion+guidance&limit=120"
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (SourceSpec("topic", "hf-search"), "neither a URL nor a query"),
        (SourceSpec("topic", "hf-search", query="x" * 251), "shorten it"),
        (SourceSpec("feed", "feed"), "has no URL or path"),
    ],
)
def test_a_source_without_url_or_query_is_a_clear_error(spec: SourceSpec, message: str) -> None:
    with pytest.raises(FetchError, match=message):
        fetch(spec, policy(), recording_client(b"[]", []))


def test_an_hf_api_url_that_names_its_day_keeps_it(start: Callable[..., FeedServer]) -> None:
    server = start(lambda _seen: Reply(200, body=b"[]"))
    url = server.url + "/api/daily_papers?date=2025-11-20"
    fetch(SourceSpec("hf", "hf-daily", url), policy())
    assert queries(server) == [{"date": ["2025-11-20"], "limit": ["100"], "p": ["0"]}]


def test_a_session_budget_covers_every_page(start: Callable[..., FeedServer]) -> None:
    server = start(arxiv_route(available=1000, total=1000))
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    rules = FetchPolicy(budget=10.0, page_delay=4.0, sleep=sleep, clock=lambda: clock[0])
    with pytest.raises(FetchError, match=r"gave up after 8\.0 s \(time budget of 10 s; last: "):
        fetch(SourceSpec("arxiv", "arxiv-api", server.url + "/q"), rules)
    assert len(server.requests) == 3  # pages at 0 s, 4 s and 8 s; a fourth would be at 12 s


def test_session_get_merges_params_into_the_url(start: Callable[..., FeedServer]) -> None:
    server = start(lambda _seen: Reply(200, body=b"x"))
    with make_client() as client:
        Session(client, policy()).get(server.url + "/q?a=1&p=9", {"p": "0", "limit": "100"})
    assert queries(server) == [{"a": ["1"], "p": ["0"], "limit": ["100"]}]


def test_weekend_note_is_for_the_daily_api(start: Callable[..., FeedServer]) -> None:
    server = start(lambda _seen: Reply(200, body=b"[]"))
    with make_client() as client:
        day = fetch_source(
            SourceSpec("hf", "hf-daily", server.url + "/api/daily_papers"),
            client=client,
            period="day",
            now=NOW,
        )
        week = fetch_source(
            SourceSpec("hf", "hf-daily", server.url + "/api/daily_papers", period="week"),
            client=client,
            period="day",
            now=NOW,
        )
    assert (day.empty_note, week.empty_note) == (EMPTY_DAY, "empty")


# through the pipeline and the command line ---------------------------------------------------


def collect(specs: tuple[SourceSpec, ...], cache: HttpCache | None = None) -> Collected:
    with make_client() as client:
        return collect_papers(
            specs, period="day", now=MONDAY, today=MONDAY.date(), client=client, cache=cache
        )


def test_a_weekend_empty_day_is_ok_with_a_note(start: Callable[..., FeedServer]) -> None:
    server = start(lambda _seen: Reply(200, {"Content-Type": "application/json"}, b"[]"))
    spec = SourceSpec("hf-daily", "hf-daily", server.url + "/api/daily_papers")
    collected = collect((spec,))
    (report,) = collected.sources
    assert collected.papers == ()
    assert (report.ok, report.papers, report.error, report.note) == (True, 0, None, EMPTY_DAY)
    assert queries(server) == [{"date": ["2025-11-23"], "limit": ["100"], "p": ["0"]}]
    console = Console(width=200, record=True)
    console.print(sources_table(collected.sources))
    row = next(line for line in console.export_text().splitlines() if "hf-daily" in line)
    assert re.search(r"│ ok\s+│\s+0 │ .* │ empty \(weekend or holiday\?\)", row), row


def test_one_failing_source_never_sinks_the_others(start: Callable[..., FeedServer]) -> None:
    answers = {
        "/missing.json": Reply(404, body=b"no"),
        "/api/daily_papers": Reply(200, body=b"<html>maintenance</html>"),
        "/big.json": Reply(200, flood=BIG),
        "/day.json": Reply(200, {"Content-Type": "application/json"}, SLICE),
    }
    server = start(lambda seen: answers[urlparse(seen.path).path])
    specs = (
        SourceSpec("auto", "auto", server.url + "/missing.json"),
        SourceSpec("hf-daily", "hf-daily", server.url + "/api/daily_papers"),
        SourceSpec("auto", "auto", server.url + "/big.json"),
        SourceSpec("auto", "auto", server.url + "/day.json"),
    )
    collected = collect(specs)
    missing, garbage, big, good = collected.sources
    assert not missing.ok and f"{server.url}/missing.json: HTTP 404 Not Found" in str(missing.error)
    assert not garbage.ok and "not JSON" in str(garbage.error)
    assert not big.ok and "size cap" in str(big.error) and str(BIG) in str(big.error)
    assert (good.ok, good.papers, good.error, good.note) == (True, 6, None, None)
    assert good.name == server.url + "/day.json"
    assert {p.id for p in collected.papers} >= {"2510.25616", "2511.16166", "2511.10258"}


def test_fetch_command_prints_the_source_table_and_exits_1_on_a_failure(
    start: Callable[..., FeedServer],
    config_file: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = start(lambda seen: Reply(200, body=SLICE) if seen.path == "/day.json" else Reply(404))
    config = config_file()
    args = ["--config", str(config), "fetch", "--date", "2025-11-25"]
    sources = ["--source", server.url + "/day.json", "--source", server.url + "/gone.json"]
    code, out, err = run_cli([*args, *sources], capsys)
    assert code == 1
    assert "6 papers" in out
    rows = [line for line in err.splitlines() if server.url in line and "│" in line]
    assert len(rows) == 2
    assert re.search(r"day\.json\s+│ auto\s+│ ok\s+│\s+6 │", rows[0]), rows
    assert re.search(r"gone\.json\s+│ auto\s+│ failed │\s+0 │", rows[1]), rows
    assert f"failed: cannot fetch {server.url}/gone.json: HTTP 404 Not Found" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schedules.yaml"]  # wrote nothing

    code, _, _ = run_cli([*args, "--source", server.url + "/day.json"], capsys)
    assert code == 0


def test_fetch_command_reads_the_cache_a_send_saved(
    start: Callable[..., FeedServer],
    config_file: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = start(validating("ETag", "if-none-match", '"day"', SLICE))
    config = config_file()
    cache = TinyStore(load_config(config, {}).store_path).http_cache()
    url = server.url + "/day.json"
    get(url, policy(), cache)  # as a send would have
    (entry,) = cache.folder.iterdir()
    saved = entry.stat().st_mtime_ns
    code, out, _ = run_cli(["--config", str(config), "fetch", "--source", url], capsys)
    assert code == 0 and "6 papers" in out
    assert server.requests[-1].headers["if-none-match"] == '"day"'  # answered 304
    assert entry.stat().st_mtime_ns == saved


def test_a_send_saves_validators_and_a_dry_run_does_not(
    start: Callable[..., FeedServer], config_file: Callable[..., Path], tmp_path: Path
) -> None:
    server = start(validating("ETag", "if-none-match", '"day"', SLICE))
    config = load_config(config_file(), {})
    store = TinyStore(config.store_path)
    store.save_subscriber(Subscriber(email="ada@example.org", id="ada"))
    spec = SourceSpec("auto", "auto", server.url + "/day.json")
    target = EditionRequest(config.digest(None), MONDAY.date(), MONDAY, (spec,))
    folder = store.http_cache().folder

    def send(**options: object) -> SendResult:
        request = SendRequest(target, out_dir=tmp_path / "out", **options)  # type: ignore[arg-type]
        with make_client() as client:
            return send_edition(config, store, request, client)

    assert send(dry_run=True).report.sources[0].papers == 6
    assert not folder.exists()
    assert send().report.sources[0].papers == 6
    assert len(list(folder.iterdir())) == 1
    assert send().report.sources[0].papers == 6  # the second run: 304, the saved body
    tags = [r.headers.get("if-none-match") for r in server.requests]
    assert tags == [None, None, '"day"']
