"""Signed tokens for the links in every email (itsdangerous, a salt per purpose).

Tokens carry the subscriber's id and the digest name, never the address. Unsubscribe and
preferences tokens never expire (RFC 8058, CAN-SPAM): they are checked by signature only.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from digest.errors import InputError

UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"


def make_token(secret: str, purpose: str, subscriber_id: str, digest: str) -> str:
    return URLSafeSerializer(secret, salt=purpose).dumps({"s": subscriber_id, "d": digest})


def read_token(secret: str, purpose: str, token: str) -> tuple[str, str]:
    """``(subscriber_id, digest)`` from a token; a forged or altered token is an InputError."""
    try:
        data: Any = URLSafeSerializer(secret, salt=purpose).loads(token)
    except BadSignature:
        raise InputError(f"the {purpose} link is not valid (altered or forged)") from None
    if not isinstance(data, dict) or not {"s", "d"} <= data.keys():
        raise InputError(f"the {purpose} link is not valid (unexpected content)")
    return str(data["s"]), str(data["d"])
