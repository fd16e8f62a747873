"""Property tests: no webhook payload, however malformed, makes the providers' readers raise
anything but Refused, even once its signature or credentials check out."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webhook_keys import MAILGUN_KEY, SendGrid, basic_auth, fixture, mailgun_signed

from digest.config.mail_sources import (
    MailgunWebhook,
    PostmarkWebhook,
    Secret,
    SendgridWebhook,
    SesWebhook,
)
from digest.inbound import sns
from digest.inbound.providers import (
    ProviderEvent,
    Refused,
    mailgun_events,
    postmark_events,
    sendgrid_events,
)

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "RecordType", "TypeCode", "ID", "Email", "Content", "Metadata", "BouncedAt",
        "event", "severity", "id", "recipient", "message", "headers", "delivery-status",
        "envelope", "timestamp", "sg_event_id", "email", "smtp-id", "type", "status",
        "notificationType", "bounce", "complaint", "mail", "bouncedRecipients",
        "complainedRecipients", "feedbackId", "bounceType", "commonHeaders",
    ]
)  # fmt: skip


def _mutated(base: Any, data: st.DataObject) -> Any:
    """``base`` with a few of its values (at any depth) replaced by arbitrary JSON."""
    if isinstance(base, dict):
        out = dict(base)
        for key in data.draw(st.lists(st.sampled_from(sorted(out) or ["x"]) | KEYS, max_size=3)):
            out[key] = data.draw(JSON) if data.draw(st.booleans()) else _mutated(out.get(key), data)
        return out
    if isinstance(base, list):
        return [_mutated(item, data) for item in base]
    return data.draw(JSON)


def _only_events(events: list[ProviderEvent]) -> None:
    for event in events:
        assert event.event_id and event.recipient and event.at.tzinfo is not None


NOW = datetime.now(UTC)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.data())
def test_postmark_payloads(data: st.DataObject) -> None:
    base = fixture(
        data.draw(st.sampled_from(["postmark-bounce.json", "postmark-spam-complaint.json"]))
    )
    body = json.dumps(_mutated(base, data)).encode()
    settings_ = PostmarkWebhook("u", Secret("P", "p"))
    with contextlib.suppress(Refused):
        _only_events(postmark_events(settings_, basic_auth("u", "p"), body))


@FAST
@given(st.data())
def test_mailgun_payloads(data: st.DataObject) -> None:
    base = fixture(
        data.draw(st.sampled_from(["mailgun-failed-permanent.json", "mailgun-complained.json"]))
    )
    body = mailgun_signed(_mutated(base, data), int(NOW.timestamp()), "t" * 50)
    with contextlib.suppress(Refused):
        _only_events(mailgun_events(MailgunWebhook(Secret("K", MAILGUN_KEY)), body, NOW, {})[0])


SENDGRID = SendGrid()


@FAST
@given(st.data())
def test_sendgrid_payloads(data: st.DataObject) -> None:
    body = json.dumps(_mutated(fixture("sendgrid-events.json"), data)).encode()
    headers = SENDGRID.headers(body, int(NOW.timestamp()))
    with contextlib.suppress(Refused):
        _only_events(
            sendgrid_events(
                SendgridWebhook(SENDGRID.public_key),
                headers["X-Twilio-Email-Event-Webhook-Signature"],
                headers["X-Twilio-Email-Event-Webhook-Timestamp"],
                body,
                NOW,
            )
        )


@FAST
@given(st.data())
def test_ses_messages_inside_a_verified_notification(data: st.DataObject) -> None:
    base = fixture(data.draw(st.sampled_from(["ses-bounce.json", "ses-complaint.json"])))
    message = {"Type": "Notification", "Message": json.dumps(_mutated(base, data))}
    with contextlib.suppress(Refused):
        _only_events(sns.ses_events(message))


@FAST
@given(JSON)
def test_any_sns_envelope_is_refused_or_verified(message: Any) -> None:
    if not isinstance(message, dict):
        message = {"Type": "Notification", "Message": message}
    try:
        sns.verify_sns(message, sns_settings(), _no_fetch, NOW)
    except Refused:
        return
    raise AssertionError("an unsigned SNS message was believed")


def sns_settings() -> SesWebhook:
    return SesWebhook(("arn:aws:sns:eu-west-1:123456789012:t",))


def _no_fetch(url: str) -> bytes:
    raise OSError("no network in tests")
