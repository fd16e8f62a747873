"""Where returned mail comes from: ``inbound.imap`` and ``inbound.webhooks`` in schedules.yaml.

``inbound.imap`` names the IMAP folder ``digest inbound --imap`` and ``digest serve`` read
bounces from; its password is DIGEST_IMAP_PASSWORD, never a YAML key, never shown.
``inbound.webhooks`` turns on a provider's webhook in ``digest serve``; a secret is never
written in the file either: the file names the environment variable that holds it. A secret
that is unset leaves its webhook refusing every call (checked when the call comes, so that
commands that need no webhook run without it). Pure: the loader hands the environment in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from digest.config import values as v
from digest.errors import ConfigError

IMAP_PASSWORD_ENV = "DIGEST_IMAP_PASSWORD"
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}")


class ImapTls(StrEnum):
    """How the IMAP connection is protected: ``ssl`` implicit (993), ``starttls`` (143)."""

    SSL = "ssl"
    STARTTLS = "starttls"
    NONE = "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapConfig:
    """The IMAP folder returned mail is read from (``digest inbound --imap``, serve's poll)."""

    host: str
    user: str
    port: int = 993  # 143 unless tls is ssl
    tls: ImapTls = ImapTls.SSL
    folder: str = "INBOX"
    processed_folder: str = "digest-processed"  # where classified messages are moved
    poll_minutes: float = 5.0  # digest serve reads the folder this often
    batch: int = 50  # messages fetched at a time
    timeout: float = 30.0  # seconds, per network operation
    ca_file: Path | None = None  # PEM bundle to trust instead of the system's
    password: str | None = field(default=None, repr=False)  # DIGEST_IMAP_PASSWORD


IMAP_KEYS = (
    "host",
    "user",
    "port",
    "tls",
    "folder",
    "processed_folder",
    "poll_minutes",
    "batch",
    "timeout",
    "ca_file",
)


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret from the environment: the variable's name (shown) and its value (never)."""

    env: str
    value: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class SesWebhook:
    """Amazon SES notifications through SNS: only these topics are believed."""

    topic_arns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PostmarkWebhook:
    """Postmark signs nothing: it sends the HTTP basic auth credentials set on the webhook."""

    user: str
    password: Secret


@dataclass(frozen=True, slots=True)
class MailgunWebhook:
    """Mailgun's HMAC-SHA256 of timestamp + token with the webhook signing key."""

    signing_key: Secret
    max_age_seconds: float = 300.0  # an older timestamp is refused (a replay)


@dataclass(frozen=True, slots=True)
class SendgridWebhook:
    """SendGrid's signed event webhook: ECDSA P-256, the public key from its settings page."""

    public_key: str  # base64 DER (as SendGrid shows it) or PEM
    max_age_seconds: float = 600.0


@dataclass(frozen=True, slots=True)
class WebhooksConfig:
    """The provider webhooks ``digest serve`` answers (none unless configured)."""

    ses: SesWebhook | None = None
    postmark: PostmarkWebhook | None = None
    mailgun: MailgunWebhook | None = None
    sendgrid: SendgridWebhook | None = None


def load_imap(raw: Any, env: Mapping[str, str], where: str, base: Path) -> ImapConfig | None:
    """``inbound.imap`` (None when absent), with the password from the environment."""
    if raw is None:
        return None
    at = f"{where}: inbound.imap"
    raw = v.section(raw, "inbound.imap", where)
    v.check_keys(raw, IMAP_KEYS, at)
    for key in ("host", "user"):
        if not raw.get(key):
            raise ConfigError(f"{at}: missing key {key!r}", hint="imap: {host: …, user: …}")
    tls = v.choice(str(raw.get("tls", ImapTls.SSL.value)), "tls", at, ImapTls)
    port = raw.get("port", 993 if tls is ImapTls.SSL else 143)
    folder = _folder(raw.get("folder", "INBOX"), "folder", at)
    processed = _folder(raw.get("processed_folder", "digest-processed"), "processed_folder", at)
    if processed == folder:
        raise ConfigError(
            f"{at}: processed_folder is the folder itself ({folder!r})",
            hint="classified messages are moved out of the folder: name another one",
        )
    return ImapConfig(
        host=v.text(raw["host"], "host", at, one_line=True),
        user=v.text(raw["user"], "user", at, one_line=True),
        port=v.whole(port, "port", at, minimum=1, maximum=65535),
        tls=tls,
        folder=folder,
        processed_folder=processed,
        poll_minutes=v.number(raw.get("poll_minutes", 5.0), "poll_minutes", at, above=True),
        batch=v.whole(raw.get("batch", 50), "batch", at, minimum=1, maximum=1000),
        timeout=v.number(raw.get("timeout", 30.0), "timeout", at, minimum=0.1),
        ca_file=v.path(raw["ca_file"], "inbound.imap.ca_file", where, base)
        if raw.get("ca_file")
        else None,
        password=env.get(IMAP_PASSWORD_ENV) or None,
    )


def load_webhooks(raw: Any, env: Mapping[str, str], where: str) -> WebhooksConfig:
    at = f"{where}: inbound.webhooks"
    raw = v.section(raw, "inbound.webhooks", where)
    v.check_keys(raw, ("ses", "postmark", "mailgun", "sendgrid"), at)
    return WebhooksConfig(
        ses=_ses(raw["ses"], f"{at}.ses") if "ses" in raw else None,
        postmark=_postmark(raw["postmark"], env, f"{at}.postmark") if "postmark" in raw else None,
        mailgun=_mailgun(raw["mailgun"], env, f"{at}.mailgun") if "mailgun" in raw else None,
        sendgrid=_sendgrid(raw["sendgrid"], env, f"{at}.sendgrid") if "sendgrid" in raw else None,
    )


def _ses(raw: Any, at: str) -> SesWebhook:
    raw = _mapping(raw, at, ("topic_arns",))
    arns = raw.get("topic_arns")
    if isinstance(arns, str):
        arns = [arns]
    if not isinstance(arns, list) or not arns:
        raise ConfigError(
            f"{at}: topic_arns must list the SNS topics SES notifies",
            hint="any AWS account can make a topic and subscribe this URL to it; only the "
            "topics named here are believed, e.g. arn:aws:sns:eu-west-1:123456789012:bounces",
        )
    for arn in arns:
        if not isinstance(arn, str) or not _TOPIC_ARN.fullmatch(arn):
            raise ConfigError(f"{at}: {v.shown(arn)} is not an SNS topic ARN")
    return SesWebhook(tuple(arns))


def _postmark(raw: Any, env: Mapping[str, str], at: str) -> PostmarkWebhook:
    raw = _mapping(raw, at, ("user", "password_env"))
    if not raw.get("user"):
        raise ConfigError(f"{at}: missing key 'user'", hint="the basic auth user set in Postmark")
    return PostmarkWebhook(
        user=v.text(raw["user"], "user", at, one_line=True),
        password=_secret(raw, "password_env", env, at),
    )


def _mailgun(raw: Any, env: Mapping[str, str], at: str) -> MailgunWebhook:
    raw = _mapping(raw, at, ("signing_key_env", "max_age_seconds"))
    return MailgunWebhook(
        signing_key=_secret(raw, "signing_key_env", env, at),
        max_age_seconds=v.number(raw.get("max_age_seconds", 300.0), "max_age_seconds", at, 1),
    )


def _sendgrid(raw: Any, env: Mapping[str, str], at: str) -> SendgridWebhook:
    raw = _mapping(raw, at, ("public_key", "public_key_env", "max_age_seconds"))
    if raw.get("public_key"):
        key = v.text(raw["public_key"], "public_key", at)
    elif raw.get("public_key_env"):
        key = _secret(raw, "public_key_env", env, at).value or ""
    else:
        raise ConfigError(
            f"{at}: missing key 'public_key'",
            hint="the verification key of SendGrid's signed event webhook (or public_key_env)",
        )
    return SendgridWebhook(
        public_key=key.strip(),
        max_age_seconds=v.number(raw.get("max_age_seconds", 600.0), "max_age_seconds", at, 1),
    )


def _mapping(raw: Any, at: str, keys: tuple[str, ...]) -> dict[Any, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{at} must be a mapping", hint=f"keys: {', '.join(keys)}")
    v.check_keys(raw, keys, at)
    return raw


def _secret(raw: dict[Any, Any], key: str, env: Mapping[str, str], at: str) -> Secret:
    name = raw.get(key)
    if not name:
        raise ConfigError(
            f"{at}: missing key {key!r}",
            hint="name the environment variable that holds the secret, e.g. MAILGUN_SIGNING_KEY",
        )
    if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
        raise ConfigError(
            f"{at}: {key} {v.shown(name)} is not an environment variable's name",
            hint="the secret itself never goes in the file: name the variable that holds it",
        )
    return Secret(name, env.get(name) or None)


def _folder(value: Any, key: str, at: str) -> str:
    name = v.text(value, key, at, one_line=True).strip()
    if not name:
        raise ConfigError(f"{at}: {key} is empty")
    return name
