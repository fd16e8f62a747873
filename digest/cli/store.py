"""``digest store``: the store itself: ``migrate`` creates or upgrades a PostgreSQL store's
schema, ``copy`` copies a whole store into another (TinyDB and PostgreSQL, either way)."""

from __future__ import annotations

import os

import click

from digest.cli.copy import copy_cmd
from digest.config import find_config_path, load_config
from digest.store import make_store


@click.group("store")
def store() -> None:
    """The store itself: its schema, and copies between backends."""


store.add_command(copy_cmd)


@store.command("migrate")
@click.pass_context
def migrate_cmd(ctx: click.Context) -> None:
    """Create or upgrade the store's schema (each step once; safe to run again)."""
    config = load_config(find_config_path(ctx.obj.config_path, os.environ))
    target = make_store(config)
    ran = target.migrate()
    for name in ran:
        click.echo(f"applied: {name}")
    total = len(target.migrations())
    state = f"{len(ran)} migration(s) applied now" if ran else "already up to date"
    click.echo(f"store {target.location}: {state}, schema {total}")
