"""The settings of ``schedules.yaml`` and the ``DIGEST_*`` environment, as frozen records.

Each field holds the one default of its setting. A field's YAML key is its name unless its
metadata says otherwise (``key``: another name, None for a field no YAML key sets), and
``env`` names the environment variable that overrides it. Pure: no file, no environment.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from digest.config.mail_sources import ImapConfig, WebhooksConfig
from digest.config.sources import Period, SourceSpec
from digest.errors import ConfigError
from digest.models import TopicMode

NOT_A_KEY: dict[str, Any] = {"key": None}  # set by the loader or the environment only


class Security(StrEnum):
    """How the SMTP connection is protected: ``tls`` implicit (465), ``starttls`` (587)."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class LogFormat(StrEnum):
    KEYVALUE = "keyvalue"
    JSON = "json"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class DigestConfig:
    name: str = field(metadata=NOT_A_KEY)  # the key under ``digests:``
    title: str
    sources: tuple[SourceSpec, ...]
    schedule: str
    timezone: str
    size: int = 10
    period: Period = Period.DAY
    half_life_days: float = 3.0
    local_time: bool = True  # each reader gets it at the schedule's hour in their timezone
    topic_mode: TopicMode = TopicMode.BOOST  # how readers' topics act unless they chose
    min_relevance: float = 0.15  # a paper matches a topic from this relevance (0..1) up
    thumbnails: bool = False  # show each paper's picture (Hugging Face's) in the emails

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


DEFAULT_DIGEST = DigestConfig(
    "daily", "Daily Papers", (SourceSpec("hf-daily", "hf-daily"),), "0 7 * * mon-fri", "UTC"
)


@dataclass(frozen=True, slots=True)
class DkimConfig:
    """DKIM signing (optional): ``selector._domainkey.<domain>`` publishes the public key."""

    selector: str
    key_file: Path  # PEM private key, RSA 2048 bits recommended
    domain: str  # the d= domain: the From address's domain unless set


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderConfig:
    from_address: str = field(metadata={"key": "from"})
    envelope_from: str | None = None
    reply_to: str | None = None
    postal_address: str
    unsubscribe_mailto: str | None = None
    dkim: DkimConfig | None = None

    @property
    def domain(self) -> str:
        """The From address's domain (lists and Message-IDs are named on it)."""
        return bare_address(self.from_address).rpartition("@")[2].lower()


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where to send. With no host, messages are written to the outbox folder instead."""

    host: str | None = field(default=None, metadata={"env": "DIGEST_SMTP_HOST"})
    port: int = field(default=587, metadata={"env": "DIGEST_SMTP_PORT"})  # 465 with tls
    security: Security = field(default=Security.STARTTLS, metadata={"env": "DIGEST_SMTP_SECURITY"})
    user: str | None = field(default=None, metadata={**NOT_A_KEY, "env": "DIGEST_SMTP_USER"})
    password: str | None = field(
        default=None, metadata={**NOT_A_KEY, "env": "DIGEST_SMTP_PASSWORD"}
    )
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
    workers: int = 1  # web processes (PostgreSQL only); each keeps 1/workers of the limits
    confirm_hours: float = 48.0  # a confirmation link, and a pending address, live this long
    per_client_per_hour: int = 10  # subscribe requests from one client address
    per_address_per_hour: int = 3  # confirmation emails to one address
    proxies: str | None = None  # reverse proxies whose X-Forwarded-For is believed


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """``digest serve``'s scheduler (and ``digest send --due``)."""

    catch_up_hours: float = 6.0  # a run missed by at most this long is made up, once


@dataclass(frozen=True, slots=True)
class InboundConfig:
    """Mail that comes back: ``digest inbound``, and the provider webhooks of ``digest serve``.

    Hard bounces count toward ``smtp.bounce_limit``; soft ones (a full mailbox, a server
    down) pause a reader who soft-bounces on ``soft_bounce_limit`` editions in a row."""

    soft_bounce_limit: int = 3
    imap: ImapConfig | None = None  # the IMAP folder bounces are read from (mail_sources.py)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)  # serve's provider webhooks


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Log lines on stderr: one event a line, ``key=value`` or JSON."""

    format: LogFormat = field(default=LogFormat.KEYVALUE, metadata={"env": "DIGEST_LOG_FORMAT"})
    level: LogLevel = field(default=LogLevel.INFO, metadata={"env": "DIGEST_LOG_LEVEL"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    path: Path | None = field(default=None, metadata=NOT_A_KEY)
    store_path: Path = field(
        default=Path("digest-store.json"), metadata={"key": "store", "env": "DIGEST_STORE"}
    )
    # ``store:`` given as a postgresql:// URL (then store_path is unused): see is_store_url
    store_url: str | None = field(default=None, metadata=NOT_A_KEY)
    base_url: str = field(default="http://localhost:8000", metadata={"env": "DIGEST_BASE_URL"})
    outbox: Path = Path("outbox")
    templates: Path | None = None
    secret: str | None = field(default=None, metadata={**NOT_A_KEY, "env": "DIGEST_SECRET"})
    sender: SenderConfig
    smtp: SmtpConfig = SmtpConfig()
    web: WebConfig = WebConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    log: LogConfig = LogConfig()
    inbound: InboundConfig = InboundConfig()
    digests: tuple[DigestConfig, ...] = (DEFAULT_DIGEST,)

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

    @property
    def store_location(self) -> str:
        """The store, for messages: its path, or its URL without the password."""
        if self.store_url is None:
            return str(self.store_path)
        return re.sub(r"//([^/@:]*):[^/@]*@", r"//\1@", self.store_url)

    @property
    def is_local(self) -> bool:
        """The links point at this machine: the development secret may sign them."""
        return is_local_url(self.base_url)


def is_store_url(value: str) -> bool:
    """A ``store:`` that names a PostgreSQL database rather than a TinyDB file."""
    return value.startswith(("postgresql://", "postgres://"))


def is_local_url(url: str) -> bool:
    """The URL's host (not its user name, path or port) is this machine: ``localhost``, an
    address in 127.0.0.0/8, or ``::1``."""
    try:
        host = urlsplit(url).hostname
    except ValueError:  # a malformed [IPv6] part
        return False
    if host is None:
        return False
    if host == "localhost":  # hostname is lower case
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bare_address(value: str) -> str:
    """``a@b.example`` out of ``Name <a@b.example>`` (or the value itself)."""
    match = re.search(r"<([^>]*)>", value)
    return (match.group(1) if match else value).strip()


def yaml_names(cls: type) -> dict[str, str]:
    """Field name → YAML key, for the fields the file may set."""
    names = {f.name: f.metadata.get("key", f.name) for f in dataclasses.fields(cls)}
    return {name: key for name, key in names.items() if key is not None}


def yaml_keys(cls: type) -> tuple[str, ...]:
    """The keys a section of the file may hold, in the record's order."""
    return tuple(yaml_names(cls).values())


def defaults(cls: type) -> dict[str, Any]:
    """YAML key → the field's default, for the fields the file may set that have one."""
    names = yaml_names(cls)
    return {
        names[f.name]: f.default
        for f in dataclasses.fields(cls)
        if f.name in names and f.default is not dataclasses.MISSING
    }


def env_names(cls: type) -> dict[str, str]:
    """Field name → the environment variable that overrides it."""
    return {f.name: f.metadata["env"] for f in dataclasses.fields(cls) if "env" in f.metadata}
