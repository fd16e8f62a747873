"""The provider webhooks' checks and payloads (digest.inbound.providers and .sns), with the
providers' documented payloads and signatures made by test keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from webhook_keys import (
    CERT_URL,
    MAILGUN_KEY,
    SUBSCRIBE_URL,
    TOPIC,
    SendGrid,
    Sns,
    basic_auth,
    fixture,
    mailgun_signed,
)

from digest.config.mail_sources import (
    MailgunWebhook,
    PostmarkWebhook,
    Secret,
    SendgridWebhook,
    SesWebhook,
)
from digest.inbound import sns
from digest.inbound.providers import (
    Refused,
    mailgun_events,
    postmark_events,
    sendgrid_events,
)
from digest.models import MailEventKind

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SES = SesWebhook((TOPIC,))


@pytest.fixture(scope="module")
def test_sns() -> Sns:
    """One RSA key for the module: making a 2048-bit key takes a while."""
    return Sns()


def _now() -> datetime:
    return datetime.now(UTC)


# SNS --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_sns_notification_verifies_and_its_bounce_is_read(
    test_sns: Sns, version: str
) -> None:
    message = test_sns.notification(fixture("ses-bounce.json"), version)
    sns.verify_sns(message, SES, test_sns.fetch, _now())
    (event,) = sns.ses_events(message)
    assert event.kind is MailEventKind.HARD_BOUNCE
    assert event.recipient == "jane@example.com"
    assert event.status == "5.1.1"
    assert "User" in event.diagnostic
    assert event.message_ids == ("custom-message-ID",)
    assert event.senders == ("john@example.com",)
    assert (
        event.event_id
        == "ses:00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000:jane@example.com"
    )
    assert test_sns.fetched[-1] == CERT_URL


def test_a_transient_ses_bounce_is_soft_and_a_complaint_is_a_complaint(test_sns: Sns) -> None:
    bounce = fixture("ses-bounce.json")
    bounce["bounce"]["bounceType"] = "Transient"
    (soft,) = sns.ses_events(test_sns.notification(bounce))
    assert soft.kind is MailEventKind.SOFT_BOUNCE
    (complaint,) = sns.ses_events(test_sns.notification(fixture("ses-complaint.json")))
    assert complaint.kind is MailEventKind.COMPLAINT
    assert complaint.recipient == "richard@example.com"
    not_spam = fixture("ses-complaint.json")
    not_spam["complaint"]["complaintFeedbackType"] = "not-spam"
    assert sns.ses_events(test_sns.notification(not_spam)) == []


def _altered(message: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**message, **changes}


@pytest.mark.parametrize(
    "change",
    [
        {"Message": json.dumps({"notificationType": "Complaint"})},  # the body changed
        {"Timestamp": "2026-12-01T12:00:01.000Z"},
        {"Signature": "bm90IGEgc2lnbmF0dXJl"},
        {"Signature": "%%%"},
        {"SignatureVersion": "3"},
        {"TopicArn": "arn:aws:sns:eu-west-1:999999999999:someone-elses"},
        {"Type": "Whatever"},
    ],
)
def test_a_forged_or_altered_sns_message_is_refused(test_sns: Sns, change: dict[str, Any]) -> None:
    message = _altered(test_sns.notification(fixture("ses-bounce.json")), **change)
    with pytest.raises(Refused) as refused:
        sns.verify_sns(message, SES, test_sns.fetch, _now())
    assert 400 <= refused.value.status < 500


def test_a_message_signed_by_another_key_is_refused(test_sns: Sns) -> None:
    forger = Sns()
    message = forger.notification(fixture("ses-bounce.json"))  # names the real cert URL
    with pytest.raises(Refused, match="does not verify"):
        sns.verify_sns(message, SES, test_sns.fetch, _now())


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.eu-west-1.amazonaws.com/cert.pem",
        "https://user@sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/cert.pem",
        "https://s3.amazonaws.com/cert.pem",
        "https://[::1/cert.pem",
        None,
    ],
)
def test_a_signing_certificate_off_an_sns_host_is_never_fetched(test_sns: Sns, url: Any) -> None:
    message = _altered(test_sns.notification(fixture("ses-bounce.json")), SigningCertURL=url)
    fetched = len(test_sns.fetched)
    with pytest.raises(Refused):
        sns.verify_sns(message, SES, test_sns.fetch, _now())
    assert len(test_sns.fetched) == fetched


def test_an_expired_signing_certificate_is_refused() -> None:
    expired = Sns(valid_days=(-30, -1))
    message = expired.notification(fixture("ses-bounce.json"))
    with pytest.raises(Refused, match="not valid now"):
        sns.verify_sns(message, SES, expired.fetch, _now())


def test_a_subscription_confirmation_verifies_and_names_its_url(test_sns: Sns) -> None:
    message = test_sns.confirmation()
    sns.verify_sns(message, SES, test_sns.fetch, _now())
    assert sns.subscribe_url(message) == SUBSCRIBE_URL
    with pytest.raises(Refused):
        sns.subscribe_url({**message, "SubscribeURL": "https://evil.example/?Action=Confirm"})


# Postmark ---------------------------------------------------------------------------------

POSTMARK = PostmarkWebhook("digest", Secret("DIGEST_POSTMARK_PASSWORD", "s3cret pass"))


def test_postmark_with_the_right_credentials_gives_its_events() -> None:
    body = (fixture_bytes := json.dumps(fixture("postmark-bounce.json")).encode())
    (event,) = postmark_events(POSTMARK, basic_auth("digest", "s3cret pass"), fixture_bytes)
    assert body
    assert event.kind is MailEventKind.HARD_BOUNCE
    assert event.event_id == "postmark:4323372036854775807"
    assert event.recipient == "john@example.com"
    assert event.at == datetime(2019, 11, 5, 16, 33, 54, 907025, tzinfo=UTC)
    complaint = json.dumps(fixture("postmark-spam-complaint.json")).encode()
    (spam,) = postmark_events(POSTMARK, basic_auth("digest", "s3cret pass"), complaint)
    assert spam.kind is MailEventKind.COMPLAINT


def test_postmark_finds_our_message_id_in_the_bounce_content() -> None:
    bounce = fixture("postmark-bounce.json")
    bounce["Content"] = (
        "Return-Path: <>\r\nMessage-ID: <daily.2026-12-01.abc@papers.example.org>\r\n"
    )
    (event,) = postmark_events(
        POSTMARK, basic_auth("digest", "s3cret pass"), json.dumps(bounce).encode()
    )
    assert event.message_ids == ("<daily.2026-12-01.abc@papers.example.org>",)


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer abc", 401),
        ("Basic !!!", 401),
        (basic_auth("digest", "wrong"), 401),
        (basic_auth("someone", "s3cret pass"), 401),
        (basic_auth("digest", "s3cret pass "), 401),
    ],
)
def test_postmark_without_the_right_credentials_is_refused(
    authorization: str | None, status: int
) -> None:
    body = json.dumps(fixture("postmark-bounce.json")).encode()
    with pytest.raises(Refused) as refused:
        postmark_events(POSTMARK, authorization, body)
    assert refused.value.status == status


def test_postmark_with_its_password_unset_refuses_everyone() -> None:
    unset = PostmarkWebhook("digest", Secret("DIGEST_POSTMARK_PASSWORD", None))
    with pytest.raises(Refused, match="DIGEST_POSTMARK_PASSWORD") as refused:
        postmark_events(unset, basic_auth("digest", ""), b"{}")
    assert refused.value.status == 503


# Mailgun ----------------------------------------------------------------------------------

MAILGUN = MailgunWebhook(Secret("DIGEST_MAILGUN_KEY", MAILGUN_KEY), max_age_seconds=300)


def test_a_signed_mailgun_call_gives_its_event_once() -> None:
    now = _now()
    body = mailgun_signed(fixture("mailgun-failed-permanent.json"), int(now.timestamp()), "t" * 50)
    seen: dict[str, float] = {}
    (event,), token = mailgun_events(MAILGUN, body, now, seen)
    assert event.kind is MailEventKind.HARD_BOUNCE
    assert event.event_id == "mailgun:CPgfbmQMTCKtHW6uIWtuVe"
    assert event.message_ids == ("20130503182626.18666.16540@sandbox.mailgun.org",)
    assert event.senders == ("bob@sandbox.mailgun.org",)
    assert "previously bounced" in event.diagnostic
    seen[token] = now.timestamp()  # as the web layer does once the events are recorded
    with pytest.raises(Refused, match="replay"):
        mailgun_events(MAILGUN, body, now, seen)


def test_mailgun_temporary_failures_are_soft_and_complaints_complaints() -> None:
    now = _now()
    temporary = fixture("mailgun-failed-permanent.json")
    temporary["event-data"]["severity"] = "temporary"
    body = mailgun_signed(temporary, int(now.timestamp()), "a" * 50)
    assert mailgun_events(MAILGUN, body, now, {})[0][0].kind is MailEventKind.SOFT_BOUNCE
    body = mailgun_signed(fixture("mailgun-complained.json"), int(now.timestamp()), "b" * 50)
    assert mailgun_events(MAILGUN, body, now, {})[0][0].kind is MailEventKind.COMPLAINT


def test_a_mailgun_call_with_the_documented_example_signature_is_refused() -> None:
    """The documentation's signature was made with Mailgun's key, not ours."""
    body = json.dumps(fixture("mailgun-failed-permanent.json")).encode()
    with pytest.raises(Refused, match="does not verify"):
        mailgun_events(MAILGUN, body, datetime.fromtimestamp(1529006854, UTC), {})


@pytest.mark.parametrize("age", [301, 3600, -3600])
def test_a_mailgun_call_with_an_old_or_future_timestamp_is_refused(age: int) -> None:
    now = _now()
    body = mailgun_signed(fixture("mailgun-complained.json"), int(now.timestamp()) - age, "c" * 50)
    with pytest.raises(Refused, match="timestamp"):
        mailgun_events(MAILGUN, body, now, {})


def test_a_mailgun_call_whose_event_was_changed_is_refused_only_by_its_replay_check() -> None:
    """Mailgun signs timestamp + token, not the event: a changed event with a fresh, valid
    signature is indistinguishable, so the token check is what stops a copied call."""
    now = _now()
    body = mailgun_signed(fixture("mailgun-complained.json"), int(now.timestamp()), "d" * 50)
    data = json.loads(body)
    data["signature"]["signature"] = "0" * 64
    with pytest.raises(Refused, match="does not verify"):
        mailgun_events(MAILGUN, json.dumps(data).encode(), now, {})


# SendGrid ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sendgrid() -> SendGrid:
    """A test ECDSA P-256 key, standing for the one SendGrid signs with."""
    return SendGrid()


def test_a_signed_sendgrid_batch_gives_its_bounces_complaints_and_unsubscribes(
    sendgrid: SendGrid,
) -> None:
    settings = SendgridWebhook(sendgrid.public_key)
    body = json.dumps(fixture("sendgrid-events.json")).encode()
    now = _now()
    headers = sendgrid.headers(body, int(now.timestamp()))
    events = sendgrid_events(
        settings,
        headers["X-Twilio-Email-Event-Webhook-Signature"],
        headers["X-Twilio-Email-Event-Webhook-Timestamp"],
        body,
        now,
    )
    assert [e.kind for e in events] == [
        MailEventKind.HARD_BOUNCE,
        MailEventKind.SOFT_BOUNCE,
        MailEventKind.COMPLAINT,
        MailEventKind.UNSUBSCRIBE,
    ]
    assert events[0].event_id == "sendgrid:6g4ZI7SA-xmRDv57GoPIPw=="
    assert events[0].status == "5.0.0"
    assert events[0].message_ids == ("<14c5d75ce93.dfd.64b469@ismtpd-555>",)


@pytest.mark.parametrize("tamper", ["body", "timestamp", "signature", "key", "old"])
def test_a_sendgrid_call_that_does_not_verify_is_refused(sendgrid: SendGrid, tamper: str) -> None:
    body = json.dumps(fixture("sendgrid-events.json")).encode()
    now = _now()
    stamp = int(now.timestamp()) - (3600 if tamper == "old" else 0)
    headers = sendgrid.headers(body, stamp)
    signature = headers["X-Twilio-Email-Event-Webhook-Signature"]
    timestamp = headers["X-Twilio-Email-Event-Webhook-Timestamp"]
    key = SendGrid().public_key if tamper == "key" else sendgrid.public_key
    if tamper == "body":
        body = body.replace(b"example@test.com", b"victim@test.com", 1)
    elif tamper == "timestamp":
        timestamp = str(stamp + 1)
    elif tamper == "signature":
        signature = SendGrid().headers(body, stamp)["X-Twilio-Email-Event-Webhook-Signature"]
    with pytest.raises(Refused) as refused:
        sendgrid_events(SendgridWebhook(key), signature, timestamp, body, now)
    assert refused.value.status == 403


def test_a_sendgrid_call_without_its_headers_is_unauthenticated(sendgrid: SendGrid) -> None:
    with pytest.raises(Refused) as refused:
        sendgrid_events(SendgridWebhook(sendgrid.public_key), None, None, b"[]", _now())
    assert refused.value.status == 401
