"""``schedules.yaml`` and the ``DIGEST_*`` environment → :class:`Config` (PRODUCT §10, §11).

The only module that reads the environment (and, through :mod:`digest.config.yaml_file`,
the file). Everything is checked at the door: an unknown key, a bad cron expression or
timezone, a missing sender all raise a ConfigError naming the file, the digest and the key.
Defaults, YAML keys and environment variables come from the records in
:mod:`digest.config.settings`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from email.policy import SMTP
from pathlib import Path
from typing import Any

from digest.config import values as v
from digest.config.mail_sources import load_imap, load_webhooks
from digest.config.settings import (
    Config,
    DigestConfig,
    DkimConfig,
    InboundConfig,
    LogConfig,
    LogFormat,
    LogLevel,
    SchedulerConfig,
    Security,
    SenderConfig,
    SmtpConfig,
    WebConfig,
    bare_address,
    defaults,
    env_names,
    is_local_url,
    is_store_url,
    yaml_keys,
    yaml_names,
)
from digest.config.sources import Period, parse_source_spec, relative_to
from digest.config.yaml_file import read_yaml
from digest.errors import ConfigError
from digest.models import TopicMode

DEFAULT_CONFIG_NAME = "schedules.yaml"
MIN_SECRET_LENGTH = 32
# Distinct characters: 10, not 16, because a quarter of `openssl rand -hex 32` outputs miss
# one of the 16 hex digits; fewer than 10 in 32 random hex digits happens once in 20,000.
MIN_SECRET_CHARACTERS = 10
MAX_HOURS = 24 * 366  # confirmation links and catch-up: a year at most
MAX_WORKERS = 64  # web processes of one digest serve
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_DIGEST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")


def find_config_path(explicit: str | None, env: Mapping[str, str]) -> Path:
    """``--config``, else ``DIGEST_CONFIG``, else ``./schedules.yaml``; a ConfigError that
    says where it looked when none of them is there."""
    chosen = explicit or env.get("DIGEST_CONFIG")
    if chosen:
        return Path(chosen)
    default = Path(DEFAULT_CONFIG_NAME)
    if not default.exists():
        raise ConfigError(
            f"no config found: no --config given, DIGEST_CONFIG is not set, and there is no "
            f"{DEFAULT_CONFIG_NAME} in {Path.cwd()}",
            hint=f"run digest in the folder that holds {DEFAULT_CONFIG_NAME}, or pass --config "
            "FILE: the project's schedules.yaml is a commented example to copy and edit"
            "; see the README, 'Use it for real'",
        )
    return default


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file (or the built-in defaults when ``path`` is None)."""
    env = os.environ if env is None else env
    raw: Any = {} if path is None else read_yaml(path)
    where = str(path) if path else "built-in defaults"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping of settings")
    v.check_keys(raw, yaml_keys(Config), where)
    base = path.parent if path else Path.cwd()
    given = _given(raw, Config, env)
    base_url = _base_url(given["base_url"], *_source(Config, env, "base_url", "base_url", where))
    return Config(
        path=path,
        store_path=_store_path(given["store"], env, where, base),
        store_url=given["store"] if _is_url(given["store"]) else None,
        base_url=base_url,
        outbox=v.path(given["outbox"], "outbox", where, base),
        templates=v.path(given["templates"], "templates", where, base)
        if given["templates"]
        else None,
        secret=_secret(env.get("DIGEST_SECRET") or None, base_url, where),
        sender=_sender(raw.get("sender"), where, base),
        smtp=_smtp(v.section(raw.get("smtp"), "smtp", where), env, where, base),
        digests=_digests(raw.get("digests"), where, base),
        web=_web(v.section(raw.get("web"), "web", where), where),
        scheduler=_scheduler(v.section(raw.get("scheduler"), "scheduler", where), where),
        log=_log(v.section(raw.get("log"), "log", where), env, where),
        inbound=_inbound(v.section(raw.get("inbound"), "inbound", where), env, where, base),
    )


def _given(raw: Mapping[str, Any], cls: type, env: Mapping[str, str]) -> dict[str, Any]:
    """YAML key → value: the environment's, else the file's, else the field's default."""
    given = {**defaults(cls), **raw}
    names = yaml_names(cls)
    for name, var in env_names(cls).items():
        if env.get(var):
            given[names.get(name, name)] = env[var]
    return given


def _source(cls: type, env: Mapping[str, str], field: str, key: str, where: str) -> tuple[str, str]:
    """``(key, where)`` for a setting's error message, in the validators' argument order: its
    environment variable when that set it (a bad ``DIGEST_SMTP_PORT`` is not the file's
    fault), else the file's key."""
    var = env_names(cls).get(field)
    if var and env.get(var):
        return var, "environment"
    return key, where


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and is_store_url(value)


def _store_path(value: Any, env: Mapping[str, str], where: str, base: Path) -> Path:
    """The TinyDB file ``store:`` names (the default one when it is a PostgreSQL URL)."""
    return (
        Path("digest-store.json") if _is_url(value) else v.path(value, _store_key(env), where, base)
    )


def _store_key(env: Mapping[str, str]) -> str:
    """How a message names the store setting: by the environment variable when that set it."""
    return "DIGEST_STORE" if env.get("DIGEST_STORE") else "store"


def _base_url(value: Any, key: str, where: str) -> str:
    url = v.text(value, key, where).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(f"{where}: {key} {url!r} must be an absolute http(s) URL")
    return url


def _secret(secret: str | None, base_url: str, where: str) -> str | None:
    """``DIGEST_SECRET``; outside local development it must be long and varied."""
    if secret is None or is_local_url(base_url):
        return secret
    distinct = len(set(secret))
    if len(secret) < MIN_SECRET_LENGTH or distinct < MIN_SECRET_CHARACTERS:
        raise ConfigError(
            f"DIGEST_SECRET is too weak: {len(secret)} characters, {distinct} different "
            f"(base_url {base_url} in {where} is not local)",
            hint=f"use at least {MIN_SECRET_LENGTH} characters, {MIN_SECRET_CHARACTERS} "
            "different, e.g. the output of: openssl rand -hex 32",
        )
    return secret


def _sender(raw: Any, where: str, base: Path) -> SenderConfig:
    if not isinstance(raw, dict) or not raw.get("from"):
        raise ConfigError(
            f"{where}: missing key 'sender.from'",
            hint="add sender: {from: 'Daily Papers <papers@your-domain>', postal_address: …}",
        )
    v.check_keys(raw, yaml_keys(SenderConfig), f"{where}: sender")
    from_address = v.text(raw["from"], "sender.from", where, one_line=True)
    if not _ADDRESS.match(bare_address(from_address)):
        raise ConfigError(f"{where}: sender.from {from_address!r} is not an email address")
    _check_writable("From", "from", from_address, where)
    if not raw.get("postal_address"):
        raise ConfigError(
            f"{where}: missing key 'sender.postal_address'",
            hint="bulk mail must carry a postal address (CAN-SPAM)",
        )
    headers = {
        key: v.optional_text(raw.get(key), f"sender.{key}", where, one_line=True)
        for key in ("envelope_from", "reply_to", "unsubscribe_mailto")
    }
    if headers["reply_to"]:
        _check_writable("Reply-To", "reply_to", headers["reply_to"], where)
    return SenderConfig(
        from_address=from_address,
        postal_address=v.text(raw["postal_address"], "sender.postal_address", where),
        dkim=_dkim(raw.get("dkim"), from_address, where, base),
        **headers,
    )


def _check_writable(header: str, key: str, value: str, where: str) -> None:
    """A ConfigError unless the ``email`` package can write ``value`` (``sender.<key>``) as
    ``header``: its parser fails on some display names (``. <a@b>`` raises AttributeError),
    and would then fail on every message sent."""
    try:
        SMTP.fold_binary(header, SMTP.header_store_parse(header, value)[1])
    except Exception as exc:  # the stdlib's header parser raises what it happens to raise
        raise ConfigError(
            f"{where}: sender.{key} {value!r} cannot be written as a {header} header "
            f"({type(exc).__name__} in the email package)",
            hint="put the name in double quotes: '\"Daily Papers\" <papers@example.org>'",
        ) from None


def _dkim(raw: Any, from_address: str, where: str, base: Path) -> DkimConfig | None:
    if raw is None:
        return None
    at = f"{where}: sender.dkim"
    if not isinstance(raw, dict):
        raise ConfigError(f"{at} must be a mapping", hint="dkim: {selector: s1, key_file: k.pem}")
    v.check_keys(raw, yaml_keys(DkimConfig), at)
    for key in ("selector", "key_file"):
        if not raw.get(key):
            raise ConfigError(f"{at}: missing key {key!r}")
    selector = v.text(raw["selector"], "selector", at)
    if not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*", selector):
        raise ConfigError(f"{at}: selector {v.shown(selector)} is not a DNS label")
    domain = raw.get("domain") or bare_address(from_address).rpartition("@")[2]
    return DkimConfig(
        selector=selector,
        key_file=v.path(raw["key_file"], "sender.dkim.key_file", where, base),
        domain=v.text(domain, "domain", at, one_line=True).lower(),
    )


def _smtp(raw: dict[Any, Any], env: Mapping[str, str], where: str, base: Path) -> SmtpConfig:
    v.check_keys(raw, yaml_keys(SmtpConfig), f"{where}: smtp")
    given = _given(raw, SmtpConfig, env)
    security = v.choice(
        str(given["security"]),
        *_source(SmtpConfig, env, "security", "smtp.security", where),
        Security,
    )
    port = given["port"]
    if "port" not in raw and not env.get("DIGEST_SMTP_PORT") and security is Security.TLS:
        port = 465  # implicit TLS has its own port
    return SmtpConfig(
        host=v.optional_text(
            given["host"], *_source(SmtpConfig, env, "host", "smtp.host", where), one_line=True
        ),
        port=v.whole(port, *_source(SmtpConfig, env, "port", "smtp.port", where), maximum=65535),
        security=security,
        user=env.get("DIGEST_SMTP_USER") or None,
        password=env.get("DIGEST_SMTP_PASSWORD") or None,
        timeout=v.number(given["timeout"], "smtp.timeout", where, minimum=0.1),
        retries=v.whole(given["retries"], "smtp.retries", where),
        retry_backoff=v.number(given["retry_backoff"], "smtp.retry_backoff", where),
        connections=v.whole(given["connections"], "smtp.connections", where, minimum=1),
        rate=v.number(given["rate"], "smtp.rate", where),
        messages_per_connection=v.whole(
            given["messages_per_connection"], "smtp.messages_per_connection", where, 1
        ),
        bounce_limit=v.whole(given["bounce_limit"], "smtp.bounce_limit", where, minimum=1),
        ca_file=v.path(given["ca_file"], "smtp.ca_file", where, base) if given["ca_file"] else None,
    )


def _web(raw: dict[Any, Any], where: str) -> WebConfig:
    v.check_keys(raw, yaml_keys(WebConfig), f"{where}: web")
    given = _given(raw, WebConfig, {})
    return WebConfig(
        host=v.text(given["host"] or defaults(WebConfig)["host"], "web.host", where),
        port=v.whole(given["port"], "web.port", where, minimum=1, maximum=65535),
        workers=v.whole(given["workers"], "web.workers", where, minimum=1, maximum=MAX_WORKERS),
        confirm_hours=v.number(
            given["confirm_hours"], "web.confirm_hours", where, 0.1, maximum=MAX_HOURS
        ),
        per_client_per_hour=v.whole(
            given["per_client_per_hour"], "web.per_client_per_hour", where, 1
        ),
        per_address_per_hour=v.whole(
            given["per_address_per_hour"], "web.per_address_per_hour", where, 1
        ),
        proxies=v.optional_text(given["proxies"], "web.proxies", where),
    )


def _scheduler(raw: dict[Any, Any], where: str) -> SchedulerConfig:
    v.check_keys(raw, yaml_keys(SchedulerConfig), f"{where}: scheduler")
    hours = _given(raw, SchedulerConfig, {})["catch_up_hours"]
    return SchedulerConfig(
        catch_up_hours=v.number(hours, "scheduler.catch_up_hours", where, maximum=MAX_HOURS)
    )


def _inbound(raw: dict[Any, Any], env: Mapping[str, str], where: str, base: Path) -> InboundConfig:
    """The ``inbound`` section (``env`` and ``base`` for the mail sources' settings)."""
    v.check_keys(raw, yaml_keys(InboundConfig), f"{where}: inbound")
    given = _given(raw, InboundConfig, {})
    return InboundConfig(
        soft_bounce_limit=v.whole(
            given["soft_bounce_limit"], "inbound.soft_bounce_limit", where, minimum=1
        ),
        imap=load_imap(raw.get("imap"), env, where, base),
        webhooks=load_webhooks(raw.get("webhooks"), env, where),
    )


def _log(raw: dict[Any, Any], env: Mapping[str, str], where: str) -> LogConfig:
    v.check_keys(raw, yaml_keys(LogConfig), f"{where}: log")
    given = _given(raw, LogConfig, env)
    return LogConfig(
        format=v.choice(
            str(given["format"]), *_source(LogConfig, env, "format", "log.format", where), LogFormat
        ),
        level=v.choice(
            str(given["level"]).lower(),
            *_source(LogConfig, env, "level", "log.level", where),
            LogLevel,
        ),
    )


def _digests(raw: Any, where: str, base: Path) -> tuple[DigestConfig, ...]:
    if raw is None:
        default: tuple[DigestConfig, ...] = defaults(Config)["digests"]
        return default
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where}: digests must be a mapping of name → settings")
    return tuple(_digest(str(name), body, where, base) for name, body in raw.items())


def _digest(name: str, raw: Any, where: str, base: Path) -> DigestConfig:
    at = f"{where}: digest {v.shown(name)}"
    if not _DIGEST_NAME.fullmatch(name):
        raise ConfigError(
            f"{at}: the name must be letters, digits, '-' or '_'",
            hint="it appears in links and file names, e.g. daily, weekly-nlp",
        )
    if not isinstance(raw, dict):
        raise ConfigError(f"{at}: settings must be a mapping")
    v.check_keys(raw, yaml_keys(DigestConfig), at)
    for key in ("sources", "schedule", "timezone"):
        if key not in raw:
            raise ConfigError(f"{at}: missing key {key!r}")
    given = _given(raw, DigestConfig, {})
    period = v.choice(str(given["period"]), "period", at, Period)
    sources = raw["sources"]
    if not isinstance(sources, list) or not sources:
        raise ConfigError(f"{at}: sources must be a non-empty list")
    zone = v.timezone(raw["timezone"], at)
    title = v.text(raw.get("title") or name.replace("-", " ").title(), "title", at)
    return DigestConfig(
        name=name,
        title=title,
        sources=tuple(relative_to(parse_source_spec(s, f"{at}: sources"), base) for s in sources),
        schedule=v.schedule(v.text(raw["schedule"], "schedule", at), zone, at),
        timezone=zone,
        size=v.whole(given["size"], "size", at, minimum=1),
        period=period,
        half_life_days=v.number(given["half_life_days"], "half_life_days", at, above=True),
        local_time=v.flag(given["local_time"], "local_time", at),
        topic_mode=v.choice(given["topic_mode"], "topic_mode", at, TopicMode, " or "),
        min_relevance=v.number(given["min_relevance"], "min_relevance", at, maximum=1.0),
        thumbnails=v.flag(given["thumbnails"], "thumbnails", at),
    )
