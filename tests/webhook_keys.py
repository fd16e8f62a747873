"""Test keys and signers for the provider webhooks: an SNS signing certificate (RSA),
Mailgun's HMAC, SendGrid's ECDSA P-256 key; payloads signed as each provider signs them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from digest.inbound.sns import string_to_sign

WEBHOOK_FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:digest-bounces"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"
SUBSCRIBE_URL = (
    "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + TOPIC + "&Token=t"
)
MAILGUN_KEY = "key-test-mailgun-signing-0123456789"


def fixture(name: str) -> Any:
    return json.loads((WEBHOOK_FIXTURES / name).read_text())


def _certificate(key: rsa.RSAPrivateKey, days: tuple[int, int]) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + timedelta(days=days[0]))
        .not_valid_after(now + timedelta(days=days[1]))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Sns:
    """A test SNS: its key and certificate, and a fetcher that serves them (and records
    every URL it was asked for, the SubscribeURL visits included)."""

    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    fetched: list[str] = field(default_factory=list)
    valid_days: tuple[int, int] = (-1, 30)

    @property
    def pem(self) -> bytes:
        return _certificate(self.key, self.valid_days)

    def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.pem if url == CERT_URL else b"<ConfirmSubscriptionResponse/>"

    def sign(self, message: dict[str, Any], version: str = "2") -> dict[str, Any]:
        message = {**message, "SignatureVersion": version, "SigningCertURL": CERT_URL}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(string_to_sign(message), padding.PKCS1v15(), algorithm)
        return {**message, "Signature": base64.b64encode(signature).decode()}

    def notification(self, ses_message: dict[str, Any], version: str = "2") -> dict[str, Any]:
        return self.sign(
            {
                "Type": "Notification",
                "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
                "TopicArn": TOPIC,
                "Message": json.dumps(ses_message),
                "Timestamp": "2026-12-01T12:00:00.000Z",
                "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
            },
            version,
        )

    def confirmation(self) -> dict[str, Any]:
        return self.sign(
            {
                "Type": "SubscriptionConfirmation",
                "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
                "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d9",
                "TopicArn": TOPIC,
                "Message": "You have chosen to subscribe to the topic " + TOPIC,
                "SubscribeURL": SUBSCRIBE_URL,
                "Timestamp": "2026-12-01T12:00:00.000Z",
            }
        )


def mailgun_signed(payload: dict[str, Any], timestamp: int, token: str) -> bytes:
    digest = hmac.new(MAILGUN_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256)
    signature = {"timestamp": str(timestamp), "token": token, "signature": digest.hexdigest()}
    return json.dumps({**payload, "signature": signature}).encode()


@dataclass
class SendGrid:
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def public_key(self) -> str:
        """As SendGrid's settings page shows it: base64 of the DER SubjectPublicKeyInfo."""
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: int) -> dict[str, str]:
        signature = self.key.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": str(timestamp),
        }


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
