"""Provider webhooks: who is calling (each provider's own proof), and what its events say.

Each ``*_events`` function checks the call's authenticity first and raises :class:`Refused`
(with the HTTP status to answer) when it does not hold: Postmark's basic auth credentials,
compared in constant time; Mailgun's HMAC-SHA256 of timestamp and token with the webhook
signing key, a timestamp not older than the configured age and a token never seen before;
SendGrid's ECDSA P-256 signature over the timestamp header and the raw body. Amazon SES
(through SNS) is in :mod:`digest.inbound.sns`. Only then is the payload read, into
:class:`ProviderEvent` records that say which messages of ours they may be about (the
Message-IDs and envelope senders the payload carries): the caller matches them to a delivery
we made and never believes the recipient's address alone. Pure, apart from the clock and
the set of seen Mailgun tokens handed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from digest.config.mail_sources import MailgunWebhook, PostmarkWebhook, SendgridWebhook
from digest.errors import InputError
from digest.models import MailEventKind

MAX_BODY = 1_000_000  # bytes: a webhook call larger than this is refused unread
_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_MESSAGE_ID_HEADER = re.compile(r"^message-id:[ \t]*(<[^>\r\n]{1,250}>)", re.I | re.M)


class Refused(InputError):
    """A webhook call that is not believed (or cannot be read): answered with ``status``."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One provider event, before it is matched to a delivery of ours."""

    kind: MailEventKind
    event_id: str  # "<provider>:<the provider's id>"
    recipient: str  # the address as the provider reports it (never trusted alone)
    at: datetime
    message_ids: tuple[str, ...] = ()  # the original Message-ID(s) the payload carries
    senders: tuple[str, ...] = ()  # envelope senders (our VERP return path), if carried
    diagnostic: str = ""
    status: str = ""


def read_json(body: bytes) -> Any:
    if len(body) > MAX_BODY:
        raise Refused(f"the body is larger than {MAX_BODY} bytes", 413)
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused("the body is not JSON", 400) from None


# Postmark ---------------------------------------------------------------------------------

#: Postmark's bounce TypeCode → our kind; the types not named here are not about the reader.
POSTMARK_KINDS = {
    1: MailEventKind.HARD_BOUNCE,  # HardBounce
    100000: MailEventKind.HARD_BOUNCE,  # BadEmailAddress
    2: MailEventKind.SOFT_BOUNCE,  # Transient
    256: MailEventKind.SOFT_BOUNCE,  # DnsError
    4096: MailEventKind.SOFT_BOUNCE,  # SoftBounce
    100006: MailEventKind.SOFT_BOUNCE,  # Blocked (by the ISP: may pass later)
    16: MailEventKind.UNSUBSCRIBE,  # Unsubscribe (a request by mail)
    64: MailEventKind.AUTO_REPLY,  # AutoResponder
    16384: MailEventKind.AUTO_REPLY,  # ChallengeVerification
    100001: MailEventKind.COMPLAINT,  # SpamComplaint (SpamNotification, 512, is a filter's
}  # verdict on the message, not the reader's complaint: not counted)


def postmark_events(
    settings: PostmarkWebhook, authorization: str | None, body: bytes
) -> list[ProviderEvent]:
    """A Postmark bounce or spam complaint webhook, authenticated by HTTP basic auth."""
    _check_basic_auth(settings, authorization)
    data = read_json(body)
    if not isinstance(data, dict):
        raise Refused("a Postmark webhook body is one JSON object", 400)
    record = str(data.get("RecordType", ""))
    if record == "SpamComplaint":
        kind: MailEventKind | None = MailEventKind.COMPLAINT
    elif record == "Bounce":
        kind = POSTMARK_KINDS.get(_int(data.get("TypeCode")))
    else:
        kind = None  # Delivery, Open, Click…: nothing about the reader's address
    if kind is None or not data.get("ID") or not data.get("Email"):
        return []
    content = str(data.get("Content") or "")
    metadata = _dict(data.get("Metadata"))
    ids = [str(metadata.get(k)) for k in ("message-id", "message_id") if metadata.get(k)]
    details = str(data.get("Details") or data.get("Description") or "")
    return [
        ProviderEvent(
            kind=kind,
            event_id=f"postmark:{data['ID']}",
            recipient=str(data["Email"]),
            at=iso_time(data.get("BouncedAt")),
            message_ids=(*ids, *_MESSAGE_ID_HEADER.findall(content)),
            diagnostic=details[:500],
            status=status_in(details),
        )
    ]


def _check_basic_auth(settings: PostmarkWebhook, authorization: str | None) -> None:
    if settings.password.value is None:
        raise Refused(f"the Postmark webhook's password ({settings.password.env}) is not set", 503)
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        raise Refused("no HTTP basic auth credentials", 401)
    try:
        user, _, password = base64.b64decode(encoded, validate=True).partition(b":")
    except (binascii.Error, ValueError):
        raise Refused("malformed HTTP basic auth credentials", 401) from None
    user_ok = hmac.compare_digest(user, settings.user.encode())
    password_ok = hmac.compare_digest(password, settings.password.value.encode())
    if not (user_ok and password_ok):
        raise Refused("wrong HTTP basic auth credentials", 401)


# Mailgun ----------------------------------------------------------------------------------


def mailgun_events(
    settings: MailgunWebhook,
    body: bytes,
    now: datetime,
    seen_tokens: MutableMapping[str, float],
) -> tuple[list[ProviderEvent], str]:
    """A Mailgun webhook: ``signature`` (timestamp, token, HMAC) and ``event-data``; the
    events and the call's token.

    ``seen_tokens`` (token → timestamp) is the caller's memory of the tokens of calls it
    handled: a token seen before is a replay. The caller adds the token once the call's
    events are recorded (a call that failed on our side may come again). Tokens older than
    the allowed age are forgotten here, since their timestamps are refused anyway."""
    key = settings.signing_key
    if key.value is None:
        raise Refused(f"the Mailgun webhook's signing key ({key.env}) is not set", 503)
    data = read_json(body)
    signature = data.get("signature") if isinstance(data, dict) else None
    if not isinstance(signature, dict):
        raise Refused("no Mailgun signature in the body", 401)
    timestamp, token = str(signature.get("timestamp", "")), str(signature.get("token", ""))
    given = str(signature.get("signature", ""))
    expected = hmac.new(key.value.encode(), (timestamp + token).encode(), hashlib.sha256)
    if not token or not hmac.compare_digest(expected.hexdigest(), given.lower()):
        raise Refused("the Mailgun signature does not verify", 403)
    age = now.timestamp() - _float(timestamp)
    if not -60 <= age <= settings.max_age_seconds:
        raise Refused(f"the Mailgun signature's timestamp is {age:.0f} s old", 403)
    expired = now.timestamp() - settings.max_age_seconds
    for old in [t for t, at in seen_tokens.items() if at < expired]:
        del seen_tokens[old]
    if token in seen_tokens:
        raise Refused("this Mailgun token was used before (a replay)", 403)
    event = data.get("event-data")
    return (_mailgun_event(event) if isinstance(event, dict) else []), token


def _mailgun_event(event: Mapping[str, Any]) -> list[ProviderEvent]:
    name, severity = str(event.get("event", "")), str(event.get("severity", ""))
    if name == "failed":
        if severity not in ("permanent", "temporary"):
            return []
        kind = MailEventKind.HARD_BOUNCE if severity == "permanent" else MailEventKind.SOFT_BOUNCE
    elif name == "complained":
        kind = MailEventKind.COMPLAINT
    elif name == "unsubscribed":
        kind = MailEventKind.UNSUBSCRIBE
    else:
        return []
    if not event.get("id") or not event.get("recipient"):
        return []
    message = _dict(event.get("message"))
    status = _dict(event.get("delivery-status"))
    text = " ".join(str(status.get(k) or "") for k in ("code", "message", "description")).strip()
    return [
        ProviderEvent(
            kind=kind,
            event_id=f"mailgun:{event['id']}",
            recipient=str(event["recipient"]),
            at=_unix_time(event.get("timestamp")),
            message_ids=_texts([_dict(message.get("headers")).get("message-id")]),
            senders=_texts([_dict(event.get("envelope")).get("sender")]),
            diagnostic=text[:500],
            status=str(status.get("enhanced-code") or "") or status_in(text),
        )
    ]


# SendGrid ---------------------------------------------------------------------------------

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


def sendgrid_events(
    settings: SendgridWebhook,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    now: datetime,
) -> list[ProviderEvent]:
    """SendGrid's signed event webhook: a JSON array of events."""
    if not signature or not timestamp:
        raise Refused(f"no {SIGNATURE_HEADER} / {TIMESTAMP_HEADER} headers", 401)
    key = sendgrid_public_key(settings.public_key)
    try:
        der = base64.b64decode(signature, validate=True)
        key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise Refused("the SendGrid signature does not verify", 403) from None
    age = now.timestamp() - _float(timestamp)
    if not -60 <= age <= settings.max_age_seconds:
        raise Refused(f"the SendGrid signature's timestamp is {age:.0f} s old", 403)
    data = read_json(body)
    if not isinstance(data, list):
        raise Refused("a SendGrid webhook body is a JSON array of events", 400)
    return [e for item in data if isinstance(item, dict) for e in _sendgrid_event(item)]


def sendgrid_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 DER), or PEM."""
    try:
        if "BEGIN PUBLIC KEY" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, TypeError):
        raise Refused("inbound.webhooks.sendgrid.public_key is not a public key", 503) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise Refused("inbound.webhooks.sendgrid.public_key is not an ECDSA P-256 key", 503)
    return key


def _sendgrid_event(event: Mapping[str, Any]) -> list[ProviderEvent]:
    name = str(event.get("event", ""))
    if name == "bounce":  # "type": "bounce" (permanent) or "blocked" (temporary)
        blocked = str(event.get("type", "")) == "blocked"
        kind = MailEventKind.SOFT_BOUNCE if blocked else MailEventKind.HARD_BOUNCE
    elif name == "spamreport":
        kind = MailEventKind.COMPLAINT
    elif name in ("unsubscribe", "group_unsubscribe"):
        kind = MailEventKind.UNSUBSCRIBE
    else:  # processed, delivered, deferred (retried by SendGrid), dropped, open, click…
        return []
    if not event.get("sg_event_id") or not event.get("email"):
        return []
    reason = str(event.get("reason") or event.get("response") or "")
    return [
        ProviderEvent(
            kind=kind,
            event_id=f"sendgrid:{event['sg_event_id']}",
            recipient=str(event["email"]),
            at=_unix_time(event.get("timestamp")),
            message_ids=_texts([event.get("smtp-id")]),
            diagnostic=reason[:500],
            status=status_in(str(event.get("status") or "")) or status_in(reason),
        )
    ]


# shared -----------------------------------------------------------------------------------


def status_in(text: str) -> str:
    match = _STATUS.search(text)
    return match.group(1) if match else ""


def _texts(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(value) for value in values if isinstance(value, str) and value)


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return -1


def _float(value: Any) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return result if result == result and abs(result) < 1e12 else 0.0  # NaN, absurd: 1970


def _unix_time(value: Any) -> datetime:
    seconds = _float(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else datetime.now(UTC)


def iso_time(value: Any) -> datetime:
    """An ISO 8601 time as providers write it (7-digit fractions, ``Z``); now if absent."""
    text = str(value or "")
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return datetime.now(UTC)
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
