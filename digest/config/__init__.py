"""Load and validate ``schedules.yaml`` and the ``DIGEST_*`` environment (PRODUCT §10, §11).

This is the only module that reads YAML or the environment. Everything is checked at the
door: an unknown key, a bad cron expression or timezone, a missing sender all raise a
:class:`ConfigError` naming the file, the digest and the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from apscheduler.triggers.cron import CronTrigger

from digest.config.sources import PERIODS, SourceSpec, parse_source_spec, relative_to
from digest.errors import ConfigError
from digest.models import TOPIC_MODES

SECURITY = ("none", "starttls", "tls")
DEFAULT_CONFIG_NAME = "schedules.yaml"

_TOP_KEYS = (
    "store",
    "base_url",
    "outbox",
    "templates",
    "sender",
    "smtp",
    "web",
    "scheduler",
    "log",
    "digests",
)
_SCHEDULER_KEYS = ("catch_up_hours",)
_LOG_KEYS = ("format", "level")
LOG_FORMATS = ("keyvalue", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
_WEB_KEYS = (
    "host",
    "port",
    "confirm_hours",
    "per_client_per_hour",
    "per_address_per_hour",
    "proxies",
)
_SENDER_KEYS = (
    "from",
    "envelope_from",
    "reply_to",
    "postal_address",
    "unsubscribe_mailto",
    "dkim",
)
_DKIM_KEYS = ("selector", "key_file", "domain")
_SMTP_KEYS = (
    "host",
    "port",
    "security",
    "timeout",
    "retries",
    "retry_backoff",
    "connections",
    "rate",
    "messages_per_connection",
    "bounce_limit",
    "ca_file",
)
_DIGEST_KEYS = (
    "title",
    "sources",
    "schedule",
    "timezone",
    "size",
    "period",
    "half_life_days",
    "local_time",
    "topic_mode",
    "min_relevance",
)
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


@dataclass(frozen=True, slots=True)
class DigestConfig:
    name: str
    title: str
    sources: tuple[SourceSpec, ...]
    schedule: str
    timezone: str
    size: int = 10
    period: str = "day"
    half_life_days: float = 3.0
    local_time: bool = True  # each reader gets it at the schedule's hour in their timezone
    topic_mode: str = "boost"  # how readers' topics act unless they chose: boost or filter
    min_relevance: float = 0.15  # a paper matches a topic from this relevance (0..1) up

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class DkimConfig:
    """DKIM signing (optional): ``selector._domainkey.<domain>`` publishes the public key."""

    selector: str
    key_file: Path  # PEM private key, RSA 2048 bits recommended
    domain: str  # the d= domain: the From address's domain unless set


@dataclass(frozen=True, slots=True)
class SenderConfig:
    from_address: str
    postal_address: str
    envelope_from: str | None = None
    reply_to: str | None = None
    unsubscribe_mailto: str | None = None
    dkim: DkimConfig | None = None

    @property
    def domain(self) -> str:
        """The From address's domain (lists and Message-IDs are named on it)."""
        return _bare_address(self.from_address).rpartition("@")[2].lower()


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where to send. With no host, messages are written to the outbox folder instead."""

    host: str | None = None
    port: int = 587
    security: str = "starttls"
    user: str | None = None
    password: str | None = None
    timeout: float = 30.0
    retries: int = 3  # attempts after the first, for temporary failures
    retry_backoff: float = 2.0  # seconds before the first retry; doubled each time, with jitter
    connections: int = 4  # SMTP connections used at once
    rate: float = 0.0  # messages per second at most; 0: no limit
    messages_per_connection: int = 100  # a connection is closed and reopened after this many
    bounce_limit: int = 2  # hard bounces before an address is suppressed
    ca_file: Path | None = None  # PEM bundle to trust instead of the system's (a private CA)


@dataclass(frozen=True, slots=True)
class WebConfig:
    """``digest serve``: where it listens, and the subscribe form's limits."""

    host: str = "127.0.0.1"
    port: int = 8000
    confirm_hours: float = 48.0  # a confirmation link, and a pending address, live this long
    per_client_per_hour: int = 10  # subscribe requests from one client address
    per_address_per_hour: int = 3  # confirmation emails to one address
    proxies: str | None = None  # reverse proxies whose X-Forwarded-For is believed


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """``digest serve``'s scheduler (and ``digest send --due``)."""

    catch_up_hours: float = 6.0  # a run missed by at most this long is made up, once


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Log lines on stderr: one event a line, ``key=value`` or JSON."""

    format: str = "keyvalue"
    level: str = "info"


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None
    store_path: Path
    base_url: str
    outbox: Path
    templates: Path | None
    secret: str | None
    sender: SenderConfig
    smtp: SmtpConfig
    digests: tuple[DigestConfig, ...]
    web: WebConfig = WebConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    log: LogConfig = LogConfig()

    def digest(self, name: str | None) -> DigestConfig:
        """The digest called ``name``, or the first one when ``name`` is None."""
        if name is None:
            return self.digests[0]
        for d in self.digests:
            if d.name == name:
                return d
        known = ", ".join(d.name for d in self.digests)
        raise ConfigError(f"no digest named {name!r} in {self.where}", hint=f"known: {known}")

    @property
    def where(self) -> str:
        return str(self.path) if self.path else "the built-in defaults"


def find_config_path(explicit: str | None, env: Mapping[str, str]) -> Path | None:
    """``--config``, else ``DIGEST_CONFIG``, else ``./schedules.yaml`` if it exists."""
    chosen = explicit or env.get("DIGEST_CONFIG")
    if chosen:
        return Path(chosen)
    default = Path(DEFAULT_CONFIG_NAME)
    return default if default.exists() else None


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file (or the built-in defaults when ``path`` is None)."""
    env = os.environ if env is None else env
    raw: Any = {} if path is None else _read_yaml(path)
    where = str(path) if path else "built-in defaults"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping of settings")
    _check_keys(raw, _TOP_KEYS, where)
    base = path.parent if path else Path.cwd()
    return Config(
        path=path,
        store_path=_path(env.get("DIGEST_STORE") or raw.get("store", "digest-store.json"), base),
        base_url=_base_url(env.get("DIGEST_BASE_URL") or raw.get("base_url"), where),
        outbox=_path(raw.get("outbox", "outbox"), base),
        templates=_path(raw["templates"], base) if raw.get("templates") else None,
        secret=env.get("DIGEST_SECRET") or None,
        sender=_sender(raw.get("sender"), where, base),
        smtp=_smtp(raw.get("smtp") or {}, env, where, base),
        digests=_digests(raw.get("digests"), where, base),
        web=_web(raw.get("web") or {}, where),
        scheduler=_scheduler(raw.get("scheduler") or {}, where),
        log=_log(raw.get("log") or {}, env, where),
    )


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc


def _check_keys(mapping: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown key {key!r}", hint=f"expected one of: {', '.join(allowed)}"
            )


def _path(value: Any, base: Path) -> Path:
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() else base / p


def _base_url(value: Any, where: str) -> str:
    url = str(value or "http://localhost:8000").rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(f"{where}: base_url {url!r} must be an absolute http(s) URL")
    return url


def _sender(raw: Any, where: str, base: Path) -> SenderConfig:
    if not isinstance(raw, dict) or not raw.get("from"):
        raise ConfigError(
            f"{where}: missing key 'sender.from'",
            hint="add sender: {from: 'Daily Papers <papers@your-domain>', postal_address: …}",
        )
    _check_keys(raw, _SENDER_KEYS, f"{where}: sender")
    from_address = str(raw["from"])
    if not _ADDRESS.match(_bare_address(from_address)):
        raise ConfigError(f"{where}: sender.from {from_address!r} is not an email address")
    if not raw.get("postal_address"):
        raise ConfigError(
            f"{where}: missing key 'sender.postal_address'",
            hint="bulk mail must carry a postal address (CAN-SPAM)",
        )
    return SenderConfig(
        from_address=from_address,
        postal_address=str(raw["postal_address"]),
        envelope_from=_optional(raw.get("envelope_from")),
        reply_to=_optional(raw.get("reply_to")),
        unsubscribe_mailto=_optional(raw.get("unsubscribe_mailto")),
        dkim=_dkim(raw.get("dkim"), from_address, where, base),
    )


def _dkim(raw: Any, from_address: str, where: str, base: Path) -> DkimConfig | None:
    if raw is None:
        return None
    at = f"{where}: sender.dkim"
    if not isinstance(raw, dict):
        raise ConfigError(f"{at} must be a mapping", hint="dkim: {selector: s1, key_file: k.pem}")
    _check_keys(raw, _DKIM_KEYS, at)
    for key in ("selector", "key_file"):
        if not raw.get(key):
            raise ConfigError(f"{at}: missing key {key!r}")
    selector = str(raw["selector"])
    if not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*", selector):
        raise ConfigError(f"{at}: selector {selector!r} is not a DNS label")
    domain = str(raw.get("domain") or _bare_address(from_address).rpartition("@")[2]).lower()
    return DkimConfig(selector=selector, key_file=_path(raw["key_file"], base), domain=domain)


def _bare_address(value: str) -> str:
    match = re.search(r"<([^>]*)>", value)
    return (match.group(1) if match else value).strip()


def _optional(value: Any) -> str | None:
    return str(value) if value else None


def _smtp(raw: Any, env: Mapping[str, str], where: str, base: Path) -> SmtpConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: smtp must be a mapping")
    _check_keys(raw, _SMTP_KEYS, f"{where}: smtp")
    security = str(env.get("DIGEST_SMTP_SECURITY") or raw.get("security", "starttls"))
    if security not in SECURITY:
        raise ConfigError(f"{where}: smtp.security {security!r}", hint=f"use {', '.join(SECURITY)}")
    port_default = 465 if security == "tls" else 587
    return SmtpConfig(
        host=env.get("DIGEST_SMTP_HOST") or _optional(raw.get("host")),
        port=_int(env.get("DIGEST_SMTP_PORT") or raw.get("port", port_default), "smtp.port", where),
        security=security,
        user=env.get("DIGEST_SMTP_USER") or None,
        password=env.get("DIGEST_SMTP_PASSWORD") or None,
        timeout=_number(raw.get("timeout", 30), "smtp.timeout", where, minimum=0.1),
        retries=_int(raw.get("retries", 3), "smtp.retries", where),
        retry_backoff=_number(raw.get("retry_backoff", 2.0), "smtp.retry_backoff", where),
        connections=_int(raw.get("connections", 4), "smtp.connections", where, minimum=1),
        rate=_number(raw.get("rate", 0), "smtp.rate", where),
        messages_per_connection=_int(
            raw.get("messages_per_connection", 100), "smtp.messages_per_connection", where, 1
        ),
        bounce_limit=_int(raw.get("bounce_limit", 2), "smtp.bounce_limit", where, minimum=1),
        ca_file=_path(raw["ca_file"], base) if raw.get("ca_file") else None,
    )


def _web(raw: Any, where: str) -> WebConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: web must be a mapping")
    _check_keys(raw, _WEB_KEYS, f"{where}: web")
    return WebConfig(
        host=str(raw.get("host") or "127.0.0.1"),
        port=_int(raw.get("port", 8000), "web.port", where, minimum=1),
        confirm_hours=_number(raw.get("confirm_hours", 48), "web.confirm_hours", where, 0.1),
        per_client_per_hour=_int(
            raw.get("per_client_per_hour", 10), "web.per_client_per_hour", where, 1
        ),
        per_address_per_hour=_int(
            raw.get("per_address_per_hour", 3), "web.per_address_per_hour", where, 1
        ),
        proxies=_optional(raw.get("proxies")),
    )


def _scheduler(raw: Any, where: str) -> SchedulerConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: scheduler must be a mapping")
    _check_keys(raw, _SCHEDULER_KEYS, f"{where}: scheduler")
    hours = _number(raw.get("catch_up_hours", 6), "scheduler.catch_up_hours", where)
    return SchedulerConfig(catch_up_hours=hours)


def _log(raw: Any, env: Mapping[str, str], where: str) -> LogConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: log must be a mapping")
    _check_keys(raw, _LOG_KEYS, f"{where}: log")
    chosen = {
        "format": str(env.get("DIGEST_LOG_FORMAT") or raw.get("format", "keyvalue")),
        "level": str(env.get("DIGEST_LOG_LEVEL") or raw.get("level", "info")).lower(),
    }
    for key, allowed in (("format", LOG_FORMATS), ("level", LOG_LEVELS)):
        if chosen[key] not in allowed:
            raise ConfigError(
                f"{where}: log.{key} {chosen[key]!r}", hint=f"use {', '.join(allowed)}"
            )
    return LogConfig(**chosen)


def _int(value: Any, key: str, where: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{where}: {key} must be at least {minimum}, got {number}")
    return number


def _number(
    value: Any,
    key: str,
    where: str,
    minimum: float = 0.0,
    *,
    maximum: float | None = None,
    above: bool = False,
) -> float:
    """A number from ``minimum`` (or ``above`` it) up to ``maximum``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key} must be a number, got {value!r}") from None
    low_ok = number > minimum if above else number >= minimum
    if not (low_ok and (maximum is None or number <= maximum)):  # also refuses NaN
        if maximum is not None:
            limits = f"between {minimum:g} and {maximum:g}"
        else:
            limits = f"{'above' if above else 'at least'} {minimum:g}"
        raise ConfigError(f"{where}: {key} must be {limits}, got {value!r}")
    return number


def _digests(raw: Any, where: str, base: Path) -> tuple[DigestConfig, ...]:
    if raw is None:
        return (_default_digest(),)
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where}: digests must be a mapping of name → settings")
    return tuple(_digest(str(name), body, where, base) for name, body in raw.items())


def _default_digest() -> DigestConfig:
    source = SourceSpec(name="hf-daily", kind="hf-daily")
    return DigestConfig("daily", "Daily Papers", (source,), "0 7 * * mon-fri", "UTC")


def _digest(name: str, raw: Any, where: str, base: Path) -> DigestConfig:
    at = f"{where}: digest {name!r}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}", name):
        raise ConfigError(
            f"{at}: the name must be letters, digits, '-' or '_'",
            hint="it appears in links and file names, e.g. daily, weekly-nlp",
        )
    if not isinstance(raw, dict):
        raise ConfigError(f"{at}: settings must be a mapping")
    _check_keys(raw, _DIGEST_KEYS, at)
    for key in ("sources", "schedule", "timezone"):
        if key not in raw:
            raise ConfigError(f"{at}: missing key {key!r}")
    period = str(raw.get("period", "day"))
    if period not in PERIODS:
        raise ConfigError(f"{at}: period {period!r}", hint=f"use {', '.join(PERIODS)}")
    sources = raw["sources"]
    if not isinstance(sources, list) or not sources:
        raise ConfigError(f"{at}: sources must be a non-empty list")
    return DigestConfig(
        name=name,
        title=str(raw.get("title") or name.replace("-", " ").title()),
        sources=tuple(relative_to(parse_source_spec(s, f"{at}: sources"), base) for s in sources),
        schedule=_schedule(str(raw["schedule"]), raw["timezone"], at),
        timezone=_timezone(raw["timezone"], at),
        size=_int(raw.get("size", 10), "size", at, minimum=1),
        period=period,
        half_life_days=_number(raw.get("half_life_days", 3.0), "half_life_days", at, above=True),
        local_time=_flag(raw.get("local_time", True), "local_time", at),
        topic_mode=_choice(raw.get("topic_mode", "boost"), "topic_mode", at, TOPIC_MODES),
        min_relevance=_number(raw.get("min_relevance", 0.15), "min_relevance", at, maximum=1.0),
    )


def _choice(value: Any, key: str, at: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{at}: {key} {value!r}", hint=f"use {' or '.join(choices)}")
    return str(value)


def _flag(value: Any, key: str, at: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{at}: {key} must be true or false, got {value!r}")
    return value


def _timezone(value: Any, at: str) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{at}: timezone {value!r} is not an IANA timezone", hint="e.g. Europe/Paris, UTC"
        ) from None
    return str(value)


def _schedule(expr: str, timezone: Any, at: str) -> str:
    fields = expr.split()
    if len(fields) == 5 and re.search(r"\d", fields[4]):
        raise ConfigError(
            f"{at}: schedule {expr!r} numbers the day of week",
            hint="use day names (mon-fri, sun): cron and APScheduler number days differently",
        )
    try:
        CronTrigger.from_crontab(expr, timezone=_timezone(timezone, at))
    except ValueError as exc:
        raise ConfigError(f"{at}: schedule {expr!r} is not a cron expression ({exc})") from None
    return expr
