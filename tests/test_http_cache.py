"""The HTTP cache next to the store: validators and bodies by URL, written atomically, read
back only when whole, never written when read-only, and pruned of old entries."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from digest.store import TinyStore
from digest.store.http_cache import CachedPage, HttpCache

URL = "https://huggingface.co/api/daily_papers?date=2025-11-25&limit=100&p=0"
ETAG = {"ETag": 'W/"abc"', "Content-Type": "application/json"}


@pytest.mark.parametrize("body", [b"[]", b"", b"line one\nline two\n", bytes(range(256)) * 40])
def test_an_entry_comes_back_as_saved(tmp_path: Path, body: bytes) -> None:
    cache = HttpCache(tmp_path / "cache")
    cache.save(URL, {**ETAG, "Last-Modified": "Tue, 25 Nov 2025 20:00:00 GMT"}, body)
    assert HttpCache(tmp_path / "cache").load(URL) == CachedPage(
        URL, 'W/"abc"', "Tue, 25 Nov 2025 20:00:00 GMT", body
    )


@pytest.mark.parametrize(
    ("headers", "etag", "modified"),
    [
        ({"etag": '"x"'}, '"x"', None),  # names in any case
        ({"LAST-MODIFIED": "Mon, 24 Nov 2025 10:00:00 GMT"}, None, "Mon, 24 Nov 2025 10:00:00 GMT"),
    ],
)
def test_either_validator_is_enough(
    tmp_path: Path, headers: dict[str, str], etag: str | None, modified: str | None
) -> None:
    cache = HttpCache(tmp_path)
    cache.save(URL, headers, b"[1]")
    assert cache.load(URL) == CachedPage(URL, etag, modified, b"[1]")


def test_each_query_is_its_own_entry(tmp_path: Path) -> None:
    cache = HttpCache(tmp_path / "cache")
    second = URL.replace("p=0", "p=1")
    cache.save(URL, ETAG, b"[0]")
    cache.save(second, ETAG, b"[1]")
    assert (cache.load(URL), cache.load(second)) == (
        CachedPage(URL, 'W/"abc"', None, b"[0]"),
        CachedPage(second, 'W/"abc"', None, b"[1]"),
    )
    names = sorted(p.name for p in (tmp_path / "cache").iterdir())
    digests = sorted(hashlib.sha256(u.encode()).hexdigest() + ".http" for u in (URL, second))
    assert names == digests  # no temporary file left behind


def test_an_answer_without_validators_drops_the_old_entry(tmp_path: Path) -> None:
    cache = HttpCache(tmp_path)
    cache.save(URL, ETAG, b"[1]")
    cache.save(URL, {"Content-Type": "application/json"}, b"[2]")
    assert cache.load(URL) is None
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_url_is_absent(tmp_path: Path) -> None:
    assert HttpCache(tmp_path / "never-made").load(URL) is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-3],  # cut short (a crash on a filesystem without ordering)
        lambda data: b"not json\n" + data.partition(b"\n")[2],
        lambda data: data.replace(b"p=0", b"p=7", 1),  # another URL's entry (a hash clash)
        lambda data: b"",
    ],
)
def test_a_damaged_entry_counts_as_absent(tmp_path: Path, damage: Callable[[bytes], bytes]) -> None:
    cache = HttpCache(tmp_path)
    cache.save(URL, ETAG, b"[1, 2, 3]")
    path = cache.path(URL)
    path.write_bytes(damage(path.read_bytes()))
    assert cache.load(URL) is None


def test_a_read_only_cache_writes_and_deletes_nothing(tmp_path: Path) -> None:
    HttpCache(tmp_path).save(URL, ETAG, b"[1]")
    old = time.time() - 90 * 86400
    os.utime(HttpCache(tmp_path).path(URL), (old, old))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    reader = HttpCache(tmp_path, read_only=True)
    reader.save(URL, {"ETag": '"new"'}, b"[2]")
    reader.save("https://example.org/other", ETAG, b"[3]")
    assert reader.prune() == 0
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert reader.load(URL) == CachedPage(URL, 'W/"abc"', None, b"[1]")


def test_old_entries_are_pruned_when_the_cache_is_written(tmp_path: Path) -> None:
    cache = HttpCache(tmp_path, keep_days=30)
    stale, fresh = URL.replace("p=0", "p=5"), URL.replace("p=0", "p=6")
    cache.save(stale, ETAG, b"[5]")
    cache.save(fresh, ETAG, b"[6]")
    old = time.time() - 31 * 86400
    os.utime(cache.path(stale), (old, old))
    leftover = tmp_path / ".x.http.123.tmp"  # a killed writer's temporary file
    leftover.write_bytes(b"half")
    os.utime(leftover, (old, old))

    HttpCache(tmp_path, keep_days=30).save(URL, ETAG, b"[0]")  # the next run's first save
    assert cache.load(stale) is None and not leftover.exists()
    assert cache.load(fresh) == CachedPage(fresh, 'W/"abc"', None, b"[6]")
    assert cache.load(URL) == CachedPage(URL, 'W/"abc"', None, b"[0]")


def test_the_store_keeps_its_cache_next_to_its_file(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "digest.json")
    cache = store.http_cache()
    assert cache.folder == tmp_path / "digest.http-cache"
    assert (cache.read_only, store.http_cache(read_only=True).read_only) == (False, True)
    cache.save(URL, ETAG, b"[]")
    stored = json.loads(cache.path(URL).read_bytes().partition(b"\n")[0])
    assert stored == {"url": URL, "etag": 'W/"abc"', "last_modified": None, "length": 2}
    assert not (tmp_path / "digest.json").exists()  # the TinyDB file is not involved
