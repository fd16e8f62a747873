"""What an operator gets wrong that the config loader cannot refuse (``digest check``).

Each check returns one warning line, or None. They read files but change nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from digest.config import Config
from digest.errors import ConfigError
from digest.models import Status, Subscriber
from digest.signing import DkimSigner


def secret(config: Config) -> str | None:
    if config.smtp.host and not config.secret:
        return (
            "DIGEST_SECRET is not set: a send by SMTP refuses to start without it (the "
            "unsubscribe links must be signed); set it to the output of: openssl rand -hex 32"
        )
    return None


def base_url(config: Config) -> str | None:
    if not config.base_url.startswith("https://"):
        return (
            f"base_url {config.base_url} is not https: mailbox providers require "
            "an https one-click unsubscribe link (RFC 8058)"
        )
    return None


def dkim_key(config: Config) -> str | None:
    """The DKIM key file is there, readable and an RSA private key (a send would fail)."""
    dkim = config.sender.dkim
    if dkim is None:
        return None
    try:
        DkimSigner.from_config(dkim)
    except ConfigError as exc:
        return f"sender.dkim: {exc}"
    return None


def store_writable(config: Config) -> str | None:
    """The store's folder (or the nearest one that exists, which the store would create
    folders in) must take new files: every write replaces the file with a new one."""
    path = config.store_path
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"store {path} cannot be read and written by this user"
    folder = _nearest_existing(path.parent)
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        return f"store {path} is not writable: cannot create files in {folder}"
    return None


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def weekly_readers(config: Config, subscribers: Sequence[Subscriber]) -> str | None:
    """Confirmed weekly readers whom no digest reaches: weekly readers skip the daily
    digests, so without a digest of a longer period they get nothing."""
    stranded = [
        s
        for s in subscribers
        if s.status == Status.CONFIRMED
        and s.cadence == "weekly"
        and not any(d.period != "day" and s.wants(d.name) for d in config.digests)
    ]
    if not stranded:
        return None
    sample = ", ".join(s.email for s in stranded[:3]) + (", …" if len(stranded) > 3 else "")
    return (
        f"{len(stranded)} weekly reader(s) get nothing ({sample}): none of their digests has "
        "period: week; add a weekly digest, or make them daily"
    )


#: The checks that need only the config, in the order they are printed.
CONFIG_CHECKS: tuple[Callable[[Config], str | None], ...] = (
    secret,
    base_url,
    dkim_key,
    store_writable,
)


def warnings(config: Config, subscribers: Sequence[Subscriber]) -> list[str]:
    found = [check(config) for check in CONFIG_CHECKS]
    found.append(weekly_readers(config, subscribers))
    return [w for w in found if w]
