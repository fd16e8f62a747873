"""Checks for one value of the config file: each returns it typed or raises one ConfigError
line naming where (``at``: the file, and the digest or section) and the key."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from digest.errors import ConfigError

E = TypeVar("E", bound=StrEnum)
MAX_PATH_BYTES = 4095  # PATH_MAX less its NUL
MAX_NAME_BYTES = 255  # one file or folder name (NAME_MAX)


def shown(value: Any) -> str:
    """``repr(value)``, cut short: a hostile value must not make a hostile message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_keys(mapping: Mapping[Any, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown key {shown(key)}",
                hint=f"expected one of: {', '.join(allowed)}",
            )


def section(raw: Any, name: str, where: str) -> dict[Any, Any]:
    """A mapping section of the file (absent or empty: {})."""
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: {name} must be a mapping")
    return raw


def whole(value: Any, key: str, where: str, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: .inf
        raise ConfigError(f"{where}: {key} must be a whole number, got {shown(value)}") from None
    if number < minimum:
        raise ConfigError(f"{where}: {key} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{where}: {key} must be at most {maximum}, got {number}")
    return number


def number(
    value: Any,
    key: str,
    where: str,
    minimum: float = 0.0,
    *,
    maximum: float | None = None,
    above: bool = False,
) -> float:
    """A finite number from ``minimum`` (or ``above`` it) up to ``maximum``."""
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a 400-digit integer
        raise ConfigError(f"{where}: {key} must be a number, got {shown(value)}") from None
    low_ok = result > minimum if above else result >= minimum
    if not (low_ok and (maximum is None or result <= maximum)):  # also refuses NaN
        if maximum is not None:
            limits = f"between {minimum:g} and {maximum:g}"
        else:
            limits = f"{'above' if above else 'at least'} {minimum:g}"
        raise ConfigError(f"{where}: {key} must be {limits}, got {shown(value)}")
    if not math.isfinite(result):
        raise ConfigError(f"{where}: {key} must be a finite number, got {shown(value)}")
    return result


def flag(value: Any, key: str, at: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{at}: {key} must be true or false, got {shown(value)}")
    return value


def choice(value: Any, key: str, at: str, kind: type[E], joined: str = ", ") -> E:
    """The member of ``kind`` whose value is ``value``."""
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(
            f"{at}: {key} {shown(value)}", hint=f"use {joined.join(m.value for m in kind)}"
        ) from None


def text(value: Any, key: str, at: str, *, one_line: bool = False) -> str:
    """A scalar as text; ``one_line`` for what goes into a mail header."""
    if isinstance(value, (dict, list)):
        raise ConfigError(f"{at}: {key} must be text, got {shown(value)}")
    result = str(value)
    if one_line and re.search(r"[\r\n\0]", result):
        raise ConfigError(
            f"{at}: {key} holds a line break: {shown(result)}",
            hint="a mail header value is one line",
        )
    return result


def optional_text(value: Any, key: str, at: str, *, one_line: bool = False) -> str | None:
    return text(value, key, at, one_line=one_line) if value else None


def path(value: Any, key: str, where: str, base: Path) -> Path:
    """A path relative to ``base`` (the config file's folder) unless absolute."""
    raw = text(value, key, where)
    if "\0" in raw:
        raise ConfigError(f"{where}: {key} holds a NUL character: {shown(raw)}")
    try:
        p = Path(raw).expanduser()
    except RuntimeError:  # ~someone unknown, or no home directory
        raise ConfigError(f"{where}: {key} {shown(raw)}: no such home directory") from None
    p = p if p.is_absolute() else base / p
    encoded = os.fsencode(p)
    if len(encoded) > MAX_PATH_BYTES or any(len(n) > MAX_NAME_BYTES for n in encoded.split(b"/")):
        raise ConfigError(
            f"{where}: {key} path is too long: {shown(raw)}",
            hint=f"at most {MAX_PATH_BYTES} bytes, {MAX_NAME_BYTES} for one name",
        )
    return p


def timezone(value: Any, at: str) -> str:
    name = text(value, "timezone", at)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, a long name
        raise ConfigError(
            f"{at}: timezone {shown(value)} is not an IANA timezone",
            hint="e.g. Europe/Paris, UTC",
        ) from None
    return name


def schedule(expr: str, zone: str, at: str) -> str:
    fields = expr.split()
    if len(fields) == 5 and re.search(r"\d", fields[4]):
        raise ConfigError(
            f"{at}: schedule {shown(expr)} numbers the day of week",
            hint="use day names (mon-fri, sun): cron and APScheduler number days differently",
        )
    try:
        CronTrigger.from_crontab(expr, timezone=zone)
    except ValueError as exc:
        raise ConfigError(
            f"{at}: schedule {shown(expr)} is not a cron expression ({exc})"
        ) from None
    return expr
