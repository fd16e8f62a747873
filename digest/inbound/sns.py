"""Amazon SES notifications through SNS: the message signature, and what SES says in it.

:func:`verify_sns` checks an SNS message as AWS documents it: SignatureVersion 1 (RSA with
SHA1) or 2 (RSA with SHA256) over the message's fields in their fixed order, with the
certificate from ``SigningCertURL``, which must be https on an ``sns.<region>.amazonaws.com``
host (fetched through the caller's ``fetch``, which tests replace with one that serves a
test certificate), and within its validity dates. The topic must be one the operator named.
:func:`subscribe_url` is the confirmation link of a SubscriptionConfirmation, held to the
same host rule before the caller visits it. :func:`ses_events` reads the Bounce and
Complaint notifications inside (``notificationType``, or ``eventType`` for event publishing).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from digest.config.mail_sources import SesWebhook
from digest.inbound.providers import ProviderEvent, Refused, iso_time, status_in
from digest.models import MailEventKind

Fetch = Callable[[str], bytes]  # GET an https URL, the body (raises on failure)

_SNS_HOST = re.compile(r"sns\.[a-z0-9-]{1,30}\.amazonaws\.com(\.cn)?")
_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_SUBSCRIPTION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")


def check_sns_url(url: Any, what: str) -> str:
    """``url`` when it is https on an SNS host (no user, no other port); else Refused."""
    if not isinstance(url, str):
        raise Refused(f"the SNS message has no {what}", 400)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused(f"the SNS {what} is not a URL", 400) from None
    host = parts.hostname or ""
    if parts.scheme != "https" or parts.username or port not in (None, 443):
        raise Refused(f"the SNS {what} is not a plain https URL: {url[:100]!r}", 403)
    if not _SNS_HOST.fullmatch(host):
        raise Refused(f"the SNS {what} is not on an sns.<region>.amazonaws.com host", 403)
    return url


def verify_sns(
    message: Mapping[str, Any], settings: SesWebhook, fetch: Fetch, now: datetime
) -> None:
    """Raises Refused unless ``message`` is signed by SNS and from one of our topics."""
    kind = message.get("Type")
    if kind not in TYPES:
        raise Refused(f"not an SNS message (Type {str(kind)[:40]!r})", 400)
    if message.get("TopicArn") not in settings.topic_arns:
        raise Refused("the SNS topic is not one of inbound.webhooks.ses.topic_arns", 403)
    version = str(message.get("SignatureVersion", ""))
    algorithm: hashes.HashAlgorithm
    if version == "1":
        algorithm = hashes.SHA1()  # SNS SignatureVersion 1 is SHA1 by definition
    elif version == "2":
        algorithm = hashes.SHA256()
    else:
        raise Refused(f"unknown SNS SignatureVersion {version[:10]!r}", 403)
    certificate = _certificate(
        fetch, check_sns_url(message.get("SigningCertURL"), "SigningCertURL")
    )
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise Refused("the SNS signing certificate is not valid now", 403)
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Refused("the SNS signing certificate holds no RSA key", 403)
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
    except (InvalidSignature, binascii.Error, ValueError):
        raise Refused("the SNS signature does not verify", 403) from None


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """ "Name\\nvalue\\n" for each signed field present, in AWS's order."""
    names = _NOTIFICATION_FIELDS if message.get("Type") == "Notification" else _SUBSCRIPTION_FIELDS
    lines = []
    for name in names:
        value = message.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise Refused(f"the SNS message has no {name}", 400)
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode()


def subscribe_url(message: Mapping[str, Any]) -> str:
    return check_sns_url(message.get("SubscribeURL"), "SubscribeURL")


def _certificate(fetch: Fetch, url: str) -> x509.Certificate:
    try:
        pem = fetch(url)
    except Exception as exc:  # the fetcher's own failure: one line, the call refused
        raise Refused(f"could not fetch the SNS signing certificate: {exc}", 503) from None
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise Refused("the SNS signing certificate is not a PEM certificate", 403) from None


def ses_events(message: Mapping[str, Any]) -> list[ProviderEvent]:
    """The bounces and complaints in a verified Notification's ``Message`` (JSON text)."""
    try:
        body = json.loads(str(message.get("Message", "")))
    except ValueError:
        raise Refused("the SNS Message is not SES's JSON", 400) from None
    if not isinstance(body, dict):
        raise Refused("the SNS Message is not SES's JSON", 400)
    kind = body.get("notificationType") or body.get("eventType")
    mail: Mapping[str, Any] = body["mail"] if isinstance(body.get("mail"), dict) else {}
    ids = _message_ids(mail)
    senders = tuple(s for s in [mail.get("source")] if isinstance(s, str) and s)
    if kind == "Bounce" and isinstance(body.get("bounce"), dict):
        return _bounces(body["bounce"], ids, senders)
    if kind == "Complaint" and isinstance(body.get("complaint"), dict):
        return _complaints(body["complaint"], ids, senders)
    return []  # Delivery, Send, Open…: nothing to record


def _bounces(
    bounce: Mapping[str, Any], ids: tuple[str, ...], senders: tuple[str, ...]
) -> list[ProviderEvent]:
    permanent = bounce.get("bounceType") == "Permanent"  # else Transient or Undetermined
    kind = MailEventKind.HARD_BOUNCE if permanent else MailEventKind.SOFT_BOUNCE
    feedback = str(bounce.get("feedbackId") or "")
    events = []
    for recipient in _list(bounce.get("bouncedRecipients")):
        address = recipient.get("emailAddress")
        if not feedback or not isinstance(address, str):
            continue
        diagnostic = str(recipient.get("diagnosticCode") or bounce.get("bounceSubType") or "")
        events.append(
            ProviderEvent(
                kind=kind,
                event_id=f"ses:{feedback}:{address.lower()}",
                recipient=address,
                at=iso_time(bounce.get("timestamp")),
                message_ids=ids,
                senders=senders,
                diagnostic=diagnostic[:500],
                status=status_in(str(recipient.get("status") or "")) or status_in(diagnostic),
            )
        )
    return events


def _complaints(
    complaint: Mapping[str, Any], ids: tuple[str, ...], senders: tuple[str, ...]
) -> list[ProviderEvent]:
    if complaint.get("complaintFeedbackType") == "not-spam":
        return []  # the reader said it is *not* spam
    feedback = str(complaint.get("feedbackId") or "")
    return [
        ProviderEvent(
            kind=MailEventKind.COMPLAINT,
            event_id=f"ses:{feedback}:{address.lower()}",
            recipient=address,
            at=iso_time(complaint.get("timestamp")),
            message_ids=ids,
            senders=senders,
            diagnostic=str(complaint.get("complaintFeedbackType") or "abuse"),
        )
        for recipient in _list(complaint.get("complainedRecipients"))
        if feedback and isinstance(address := recipient.get("emailAddress"), str)
    ]


def _message_ids(mail: Mapping[str, Any]) -> tuple[str, ...]:
    """Our Message-ID: in ``commonHeaders`` and ``headers`` (when SES includes them)."""
    found = []
    common = mail.get("commonHeaders")
    if isinstance(common, dict) and isinstance(common.get("messageId"), str):
        found.append(common["messageId"])
    for header in _list(mail.get("headers")):
        if str(header.get("name", "")).lower() == "message-id" and isinstance(
            header.get("value"), str
        ):
            found.append(header["value"])
    return tuple(dict.fromkeys(found))


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
