"""The store: subscribers, editions and their papers, deliveries (the ledger) and runs.

:mod:`digest.store.protocol` says what a store does; :mod:`digest.store.tinydb` is the
embedded backend (one TinyDB file, a ledger folder per edition), :mod:`digest.store.postgresql`
the server one (a ``postgresql://`` URL). Everything else opens a store with
:func:`make_store` and uses only the :class:`Store` protocol.
"""

from __future__ import annotations

from pathlib import Path

from digest.config import Config, is_store_url
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
    return open_store(config.store_url or config.store_path)


def open_store(location: Path | str) -> Store:
    """The store at ``location``: a ``postgresql://`` (or ``postgres://``) URL is a
    PostgreSQL database, anything else the path of a TinyDB file."""
    if isinstance(location, str) and is_store_url(location):
        from digest.store.postgresql import PgStore  # psycopg only for those who use it

        return PgStore(location)
    return TinyStore(Path(location))
