"""What every command gets from the ``digest`` group: where the config is, and the edition the
common options point at."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from digest.compose import EditionRequest
from digest.config import Config, find_config_path, load_config
from digest.sources import parse_source_spec


@dataclass
class AppContext:
    config_path: str | None

    def config(self) -> Config:
        return load_config(find_config_path(self.config_path, os.environ))

    def target(
        self, digest_name: str | None, edition_date: date | None, sources: Sequence[str]
    ) -> tuple[Config, EditionRequest]:
        """The config and the edition the options point at (today's, by default)."""
        config = self.config()
        digest = config.digest(digest_name)
        now = datetime.now(UTC)
        day = edition_date or now.astimezone(digest.zone).date()
        specs = tuple(parse_source_spec(s) for s in sources) or digest.sources
        return config, EditionRequest(digest, day, now, specs)
