"""What every command gets from the ``digest`` group: where the config is, the ``-v`` flag,
and the edition the common options point at."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from digest import logs
from digest.compose import EditionRequest
from digest.config import Config, find_config_path, load_config
from digest.sources import parse_source_spec


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
