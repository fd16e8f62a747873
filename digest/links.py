"""Signed tokens for the links in emails (itsdangerous, a salt per purpose).

Tokens carry the subscriber's id and the digest name, never the address. Unsubscribe and
preferences tokens never expire (RFC 8058, CAN-SPAM): they are checked by signature only.
Confirmation tokens carry their time and expire (``web.confirm_hours``).

They are signed with ``DIGEST_SECRET``; without it, only emails that go no further than this
machine (an outbox folder, a local web app) are signed with the public :data:`DEV_SECRET`.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from digest.config import Config
from digest.errors import ConfigError, InputError

UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
CONFIRM = "confirm"
DEV_SECRET = "insecure-development-secret"


def require_secret(config: Config, why: str) -> str:
    """``DIGEST_SECRET``, or a ConfigError saying ``why`` it is needed and how to make one."""
    if not config.secret:
        raise ConfigError(
            f"DIGEST_SECRET is not set: {why}",
            hint="set it to a long random string, e.g. the output of: openssl rand -hex 32",
        )
    return config.secret


def signing_secret(config: Config, *, real: bool) -> str:
    """The secret for links in emails; ``real`` emails (through SMTP) must not use the public
    development one."""
    if config.secret or real:
        return require_secret(config, "unsubscribe links in real emails must be signed")
    return DEV_SECRET


class ExpiredLink(InputError):
    """A confirmation link older than its time to live: the reader must subscribe again."""


def make_token(secret: str, purpose: str, subscriber_id: str, digest: str) -> str:
    return URLSafeSerializer(secret, salt=purpose).dumps({"s": subscriber_id, "d": digest})


def read_token(secret: str, purpose: str, token: str) -> tuple[str, str]:
    """``(subscriber_id, digest)`` from a token; a forged or altered token is an InputError."""
    try:
        data: Any = URLSafeSerializer(secret, salt=purpose).loads(token)
    except BadSignature:
        raise InputError(f"the {purpose} link is not valid (altered or forged)") from None
    return _fields(data, purpose)


def make_confirm_token(secret: str, subscriber_id: str) -> str:
    return URLSafeTimedSerializer(secret, salt=CONFIRM).dumps({"s": subscriber_id, "d": ""})


def read_confirm_token(secret: str, token: str, max_age_seconds: float) -> str:
    """The subscriber id of a confirmation token younger than ``max_age_seconds``."""
    try:
        data: Any = URLSafeTimedSerializer(secret, salt=CONFIRM).loads(
            token, max_age=int(max_age_seconds)
        )
    except SignatureExpired:
        raise ExpiredLink("the confirmation link has expired") from None
    except BadSignature:
        raise InputError("the confirm link is not valid (altered or forged)") from None
    return _fields(data, CONFIRM)[0]


def _fields(data: Any, purpose: str) -> tuple[str, str]:
    if not isinstance(data, dict) or not {"s", "d"} <= data.keys():
        raise InputError(f"the {purpose} link is not valid (unexpected content)")
    return str(data["s"]), str(data["d"])
