"""Signed tokens for the links in emails (itsdangerous, a salt per purpose).

Tokens carry the subscriber's id and the digest name, never the address. Unsubscribe and
preferences tokens never expire (RFC 8058, CAN-SPAM): they are checked by signature only.
Confirmation tokens carry their time and expire (``web.confirm_hours``).

They are signed with ``DIGEST_SECRET``; without it, only emails that go no further than this
machine (an outbox folder, a local web app) are signed with the public :data:`DEV_SECRET`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from digest.config import Config
from digest.errors import ConfigError, InputError

UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
CONFIRM = "confirm"
WEB_VERSION = "web-version"  # a reader's own email of an edition, on the web
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
    return _serializer(secret, purpose).dumps({"s": subscriber_id, "d": digest})


@functools.lru_cache(maxsize=64)
def _serializer(secret: str, purpose: str) -> URLSafeSerializer:
    """One serializer per (secret, purpose): a send makes three tokens per reader, and
    building the serializer (its signer and key derivation) costs more than a token."""
    return URLSafeSerializer(secret, salt=purpose)


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


# Tokens in addresses: the return path (VERP) and the mailto unsubscribe address -------------
#
# A token in an address's local part must survive MTAs that fold its case, and keep the local
# part within 64 octets (RFC 5321 §4.5.3.1.1): lowercase base32 of a short binary payload,
#
#     mac (10 bytes) | days since 2000-01-01 (2) | digest name hash (3) | kind (1) | subscriber id
#
# where the mac is HMAC-SHA256 over the purpose and the rest, and the subscriber id is packed
# as bytes when it is hex (the ids digest mints: 16 hex digits, 8 bytes), else as UTF-8. For
# an id of 16 hex digits that is 39 characters. The digest is named by a hash of its name, so
# reading a token needs the configured digest names.

VERP = "verp"
UNSUBSCRIBE_MAILTO = "unsubscribe-mailto"
MAX_LOCAL_PART = 64
_MAC_BYTES = 10
_EPOCH = date(2000, 1, 1)
_HEX_ID = re.compile(r"(?:[0-9a-f]{2})+")
_TOKEN = re.compile(r"[a-z2-7]{24,}")


def make_mail_token(secret: str, purpose: str, subscriber_id: str, edition: str) -> str:
    """The token naming (``subscriber_id``, ``edition`` key) in a return or mailto address."""
    digest, _, day = edition.rpartition("/")
    days = (date.fromisoformat(day) - _EPOCH).days
    if not digest or not 0 <= days < 1 << 16:
        raise InputError(f"not an edition key a token can name: {edition!r}")
    if _HEX_ID.fullmatch(subscriber_id):
        who = b"\x00" + bytes.fromhex(subscriber_id)
    else:
        who = b"\x01" + subscriber_id.encode()
    body = days.to_bytes(2, "big") + _digest_hash(digest) + who
    raw = _mac(secret, purpose, body) + body
    return base64.b32encode(raw).decode().rstrip("=").lower()


def read_mail_token(
    secret: str, purpose: str, token: str, digests: Iterable[str]
) -> tuple[str, str]:
    """``(subscriber_id, edition key)`` from a token; InputError if it is forged, altered,
    or names a digest that is not among ``digests``."""
    raw = _b32(token)
    if raw is None or len(raw) < _MAC_BYTES + 7:
        raise InputError(f"the {purpose} token is not valid (not one of ours)")
    mac, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(secret, purpose, body)):
        raise InputError(f"the {purpose} token is not valid (altered or forged)")
    day = _EPOCH + timedelta(days=int.from_bytes(body[:2], "big"))
    digest = next((d for d in digests if _digest_hash(d) == body[2:5]), None)
    if digest is None:
        raise InputError(f"the {purpose} token names a digest that is no longer configured")
    kind, who = body[5], body[6:]
    try:
        sub_id = who.hex() if kind == 0 else who.decode()
    except UnicodeDecodeError:  # pragma: no cover - the mac vouches for what we wrote
        raise InputError(f"the {purpose} token is not valid (unexpected content)") from None
    return sub_id, f"{digest}/{day.isoformat()}"


def tagged_address(address: str, token: str) -> str | None:
    """``bounces@example.org`` with ``token``: ``bounces+<token>@example.org``; None when
    the local part would pass 64 octets (the plain address is used then)."""
    local, at, domain = address.rpartition("@")
    tagged = f"{local}+{token}"
    if not at or len(tagged.encode()) > MAX_LOCAL_PART:
        return None
    return f"{tagged}@{domain}"


def address_token(address: str) -> str | None:
    """The token a tagged address carries (after the last ``+`` of its local part,
    lowercased), or None if it carries nothing that looks like one."""
    local = address.strip().strip("<>").rpartition("@")[0]
    if "+" not in local:
        return None
    token = local.rpartition("+")[2].lower()
    return token if _TOKEN.fullmatch(token) else None


def _mac(secret: str, purpose: str, body: bytes) -> bytes:
    key = secret.encode()
    return hmac.new(key, purpose.encode() + b"\0" + body, hashlib.sha256).digest()[:_MAC_BYTES]


def _digest_hash(digest: str) -> bytes:
    return hashlib.sha256(digest.encode()).digest()[:3]


def _b32(token: str) -> bytes | None:
    text = token.strip().upper()
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except (ValueError, binascii.Error):
        return None
