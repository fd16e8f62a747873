"""What every command gets from the ``digest`` group: where the config is, the ``-v`` flag,
the edition the common options (``edition_options``) point at, and the printing of JSON and of
the per-source table that several commands share."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import click

from digest import logs
from digest.cli.report import make_console, source_failures, sources_table
from digest.config import Config, find_config_path, load_config
from digest.config.sources import parse_source_spec
from digest.models import SourceReport
from digest.pipeline.compose import EditionRequest


@dataclass
class AppContext:
    config_path: str | None
    verbose: bool = False

    @classmethod
    def start(cls, config_path: str | None, verbose: bool) -> AppContext:
        """The context for one command line; logs go to stderr from now on (warnings only,
        or everything with ``-v``, until the config is loaded)."""
        logs.setup(None, verbose)
        return cls(config_path, verbose)

    def config(self, *, service: bool = False) -> Config:
        """The loaded config; logs switch to its format. A ``service`` (``serve``, ``send
        --due``) also logs at the config's level; other commands keep to warnings so that
        their own output stays readable."""
        config = load_config(find_config_path(self.config_path, os.environ))
        logs.setup(config.log, self.verbose, service=service)
        return config

    def target(
        self,
        digest_name: str | None,
        edition_date: date | None,
        sources: Sequence[str],
        *,
        service: bool = False,
    ) -> tuple[Config, EditionRequest]:
        """The config and the edition the options point at (today's, by default)."""
        config = self.config(service=service)
        digest = config.digest(digest_name)
        now = datetime.now(UTC)
        day = edition_date or now.astimezone(digest.zone).date()
        specs = tuple(parse_source_spec(s) for s in sources) or digest.sources
        return config, EditionRequest(digest, day, now, specs)


F = TypeVar("F", bound=Callable[..., Any])


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2025-11-24") from None


def edition_options(command: F) -> F:
    """--digest, --date and --source, shared by every command that builds an edition."""
    for option in reversed(
        [
            click.option("--digest", "digest_name", help="Digest name (default: the first one)."),
            click.option(
                "--date", "edition_date", callback=_date, help="Edition date (default: today)."
            ),
            click.option(
                "--source", "sources", multiple=True, help="Replace the digest's sources."
            ),
        ]
    ):
        command = option(command)
    return command


def echo_json(items: Sequence[dict[str, Any]]) -> None:
    click.echo(json.dumps(list(items), ensure_ascii=False, indent=2))


def print_sources(reports: Sequence[SourceReport]) -> None:
    make_console(stderr=True).print(sources_table(reports))
    for line in source_failures(reports):
        click.echo(line, err=True)
