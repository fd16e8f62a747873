"""A sender's pages read one ahead in a thread (digest.pipeline.readers.read_ahead)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing

import pytest

from digest.errors import StoreError
from digest.pipeline.readers import read_ahead


class Pages:
    """A source that notes how many items were read, and in which thread."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.read = 0
        self.threads: set[str] = set()
        self.gate = threading.Event()  # the read of item ``hold`` waits for it
        self.hold: int | None = None

    def __iter__(self) -> Iterator[int]:
        for n in range(self.count):
            if n == self.hold:
                assert self.gate.wait(5)
            if n == self.fail_at:
                raise StoreError(f"page {n}: the server went away")
            self.threads.add(threading.current_thread().name)
            self.read += 1
            yield n


def test_every_item_in_order_read_in_another_thread() -> None:
    pages = Pages(5)
    assert list(read_ahead(pages)) == [0, 1, 2, 3, 4]
    assert pages.threads and threading.current_thread().name not in pages.threads


def test_exactly_one_item_ahead_of_the_caller() -> None:
    pages = Pages(10)
    seen = []
    with closing(read_ahead(pages)) as items:
        for item in items:
            seen.append(item)
            # item n taken: n + 1 may be read meanwhile, never n + 2
            assert pages.read in (len(seen), len(seen) + 1)
            if len(seen) == 4:
                break
    assert pages.read == 5  # closed after the fourth: the fifth was in flight, no more


def test_a_read_that_fails_is_raised_at_its_own_item() -> None:
    pages = Pages(5, fail_at=3)
    seen = []
    with pytest.raises(StoreError, match="page 3"):
        for item in read_ahead(pages):
            seen.append(item)
    assert seen == [0, 1, 2]  # every item before it was handed out first


def test_closing_waits_for_the_read_in_flight() -> None:
    pages = Pages(5)
    pages.hold = 2  # the read of item 2 blocks until the gate opens
    items = read_ahead(pages)
    assert next(items) == 0
    assert next(items) == 1  # item 2 is now being read, held at the gate
    closer = threading.Thread(target=items.close)
    closer.start()
    closer.join(0.3)
    assert closer.is_alive()  # close() waits: that read could claim a block
    pages.gate.set()
    closer.join(5)
    assert not closer.is_alive()
    assert pages.read == 3  # the read in flight finished; nothing was read after it
