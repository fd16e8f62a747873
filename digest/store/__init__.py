"""The store: subscribers, editions and their papers, deliveries (the ledger) and runs.

:mod:`digest.store.protocol` says what a store does; :mod:`digest.store.tinydb` is the
embedded backend (one TinyDB file, a ledger folder per edition). Everything else opens a
store with :func:`make_store` and uses only the :class:`Store` protocol.
"""

from __future__ import annotations

from pathlib import Path

from digest.config import Config
from digest.store.protocol import FINAL, History, LedgerEntry, RunRecord, SaveOutcome, Store
from digest.store.tinydb import TinyStore

__all__ = [
    "FINAL",
    "History",
    "LedgerEntry",
    "RunRecord",
    "SaveOutcome",
    "Store",
    "TinyStore",
    "make_store",
    "open_store",
]


def make_store(config: Config) -> Store:
    """The store the config names (``store:`` or ``DIGEST_STORE``)."""
    return open_store(config.store_path)


def open_store(location: Path) -> Store:
    """The store at ``location``: a path is a TinyDB file."""
    return TinyStore(location)
