"""``digest store``: the store itself: ``copy`` a whole store into another (TinyDB and
PostgreSQL, either way)."""

from __future__ import annotations

import click

from digest.cli.copy import copy_cmd


@click.group("store")
def store() -> None:
    """The store itself: its schema, and copies between backends."""


store.add_command(copy_cmd)
