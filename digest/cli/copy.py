"""``digest store copy FROM TO``: a whole store into another, empty one (TinyDB to
PostgreSQL and back): subscribers with their consent and counters, editions and papers,
every delivery of every edition, runs and mail events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click

from digest.errors import StoreError
from digest.store import Store, open_store
from digest.store.protocol import DUMP_TABLES


class _Counting:
    """The source's rows as they pass, counted per table (to check the target took all)."""

    def __init__(self, source: Store) -> None:
        self.source = source
        self.counts: dict[str, int] = dict.fromkeys(DUMP_TABLES, 0)

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for table, row in self.source.dump():
            self.counts[table] = self.counts.get(table, 0) + 1
            yield table, row


@click.command("copy")
@click.argument("source_location", metavar="FROM")
@click.argument("target_location", metavar="TO")
def copy_cmd(source_location: str, target_location: str) -> None:
    """Copy the store FROM (a TinyDB path or a postgresql:// URL) into TO, which must be
    empty: a new TinyDB path, or a PostgreSQL database (its schema is created if missing)."""
    source, target = open_store(source_location), open_store(target_location)
    source.migrations()  # FROM must be readable (and its schema current) before TO is touched
    target.migrate()
    rows = _Counting(source)
    written = target.load(rows)
    if not any(rows.counts.values()):
        raise StoreError(f"store {source.location} is empty or missing: nothing was copied")
    short = {t: (n, written.get(t, 0)) for t, n in rows.counts.items() if written.get(t, 0) != n}
    if short:
        raise StoreError(f"the copy into {target.location} is incomplete (read, written): {short}")
    parts = ", ".join(_counted(rows.counts[t], t) for t in DUMP_TABLES)
    click.echo(f"Copied {source.location} to {target.location}: {parts}.")


def _counted(n: int, table: str) -> str:
    """``3 subscribers``, ``1 edition``, ``1 delivery``."""
    if n != 1:
        return f"{n} {table}"
    return f"1 {table.removesuffix('ies') + 'y' if table.endswith('ies') else table[:-1]}"
