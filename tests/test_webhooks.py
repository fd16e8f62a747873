"""The provider webhooks of ``digest serve`` through Starlette's TestClient, on a store
that holds a real send: documented payloads, signed by test keys, about messages we sent.
A forged or unauthenticated call is a 4xx and changes nothing; the same event twice counts
once; an event naming no message of ours (the address alone) changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from returned_mail import READERS, SECRET
from starlette.testclient import TestClient
from webhook_keys import (
    MAILGUN_KEY,
    SUBSCRIBE_URL,
    TOPIC,
    SendGrid,
    Sns,
    basic_auth,
    fixture,
    mailgun_signed,
)

from digest.config import Config, load_config
from digest.models import MailEvent, Status
from digest.store import Store, open_store
from digest.web import create_app
from digest.web.webhooks import WebhookState

WEBHOOKS = """\
inbound:
  webhooks:
    ses: {{topic_arns: ['{topic}']}}
    postmark: {{user: digest, password_env: DIGEST_POSTMARK_PASSWORD}}
    mailgun: {{signing_key_env: DIGEST_MAILGUN_KEY}}
    sendgrid: {{public_key: '{sendgrid_key}'}}
"""
POSTMARK_PASSWORD = "postmark basic auth password"


@pytest.fixture(scope="module")
def test_sns() -> Sns:
    """The module's SNS signing key (an RSA key takes a moment to make)."""
    return Sns()


@pytest.fixture(scope="module")
def sendgrid() -> SendGrid:
    """The module's SendGrid signing key."""
    return SendGrid()


class Hooks:
    """The app on a store with one edition sent to READERS, and how to call its webhooks."""

    def __init__(self, config: Config, client: TestClient, sns: Sns, sendgrid: SendGrid) -> None:
        self.config, self.client, self.sns, self.sendgrid = config, client, sns, sendgrid
        self.store: Store = open_store(config.store_path)

    def events(self) -> tuple[MailEvent, ...]:
        return self.store.mail_events()

    def status(self, reader: str) -> Status:
        subscriber = self.store.get_subscriber(reader)
        assert subscriber is not None
        return subscriber.status

    def ses(self, message: dict[str, Any]) -> Any:
        return self.client.post("/webhooks/ses", content=json.dumps(message))

    def postmark(self, payload: dict[str, Any], password: str = POSTMARK_PASSWORD) -> Any:
        headers = {"Authorization": basic_auth("digest", password)}
        return self.client.post("/webhooks/postmark", content=json.dumps(payload), headers=headers)

    def mailgun(self, payload: dict[str, Any], token: str, age: int = 0) -> Any:
        stamp = int(datetime.now(UTC).timestamp()) - age
        return self.client.post("/webhooks/mailgun", content=mailgun_signed(payload, stamp, token))

    def sendgrid_post(self, events: list[dict[str, Any]], *, tamper: bool = False) -> Any:
        body = json.dumps(events).encode()
        headers = self.sendgrid.headers(body, int(datetime.now(UTC).timestamp()))
        if tamper:
            body = body.replace(b"spamreport", b"bounce")
        return self.client.post("/webhooks/sendgrid", content=body, headers=headers)


@pytest.fixture
def hooks(
    sent: dict[str, tuple[str, str]], tmp_path: Path, test_sns: Sns, sendgrid: SendGrid
) -> Iterator[Hooks]:
    """The web app with every provider's webhook configured, on the store of ``sent``."""
    path = tmp_path / "schedules.yaml"
    path.write_text(
        path.read_text() + WEBHOOKS.format(topic=TOPIC, sendgrid_key=sendgrid.public_key)
    )
    env = {
        "DIGEST_SECRET": SECRET,
        "DIGEST_POSTMARK_PASSWORD": POSTMARK_PASSWORD,
        "DIGEST_MAILGUN_KEY": MAILGUN_KEY,
    }
    config = load_config(path, env)
    app = create_app(config, store=open_store(config.store_path))
    app.state.webhooks = WebhookState(fetch=test_sns.fetch)
    with TestClient(app) as client:
        yield Hooks(config, client, test_sns, sendgrid)


def ses_bounce(
    message_id: str, source: str = "papers@example.org", kind: str = "Permanent"
) -> dict[str, Any]:
    bounce = fixture("ses-bounce.json")
    bounce["bounce"]["bounceType"] = kind
    bounce["bounce"]["bouncedRecipients"][0]["emailAddress"] = READERS[0]
    bounce["mail"]["commonHeaders"]["messageId"] = message_id
    bounce["mail"]["headers"] = []
    bounce["mail"]["source"] = source
    return bounce


# SES ----------------------------------------------------------------------------------------


def test_an_ses_bounce_about_our_message_is_recorded_once(
    hooks: Hooks, sent: dict[str, tuple[str, str]]
) -> None:
    message = hooks.sns.notification(ses_bounce(sent[READERS[0]][1]))
    answer = hooks.ses(message)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"provider": "ses", "recorded": 1}
    (event,) = hooks.events()
    assert (event.email, event.kind.value, event.status, event.source) == (
        READERS[0],
        "hard bounce",
        "5.1.1",
        "ses",
    )
    assert event.edition == "daily/2025-11-26"
    again = hooks.ses(message)  # SNS delivers at least once
    assert again.json() == {"provider": "ses", "duplicate": 1}
    assert len(hooks.events()) == 1


def test_an_ses_bounce_found_by_our_verp_return_path_is_recorded(
    hooks: Hooks, sent: dict[str, tuple[str, str]]
) -> None:
    verp = sent[READERS[0]][0]
    message = hooks.sns.notification(
        ses_bounce("<not-ours@elsewhere>", source=verp, kind="Transient")
    )
    assert hooks.ses(message).json() == {"provider": "ses", "recorded": 1}
    assert [e.kind.value for e in hooks.events()] == ["soft bounce"]


def test_an_ses_event_naming_no_message_of_ours_changes_nothing(hooks: Hooks) -> None:
    """The reader's address is in it, but neither our Message-ID nor our return path."""
    message = hooks.sns.notification(ses_bounce("<someone-elses@example.net>"))
    answer = hooks.ses(message)
    assert answer.status_code == 200
    assert answer.json() == {"provider": "ses", "unknown": 1}
    assert hooks.events() == ()


def test_a_forged_ses_notification_is_refused_and_changes_nothing(
    hooks: Hooks, sent: dict[str, tuple[str, str]]
) -> None:
    forger = Sns()  # another key, naming the real certificate URL
    forged = forger.notification(ses_bounce(sent[READERS[0]][1]))
    assert hooks.ses(forged).status_code == 403
    real = hooks.sns.notification(ses_bounce(sent[READERS[0]][1]))
    altered = {**real, "TopicArn": "arn:aws:sns:eu-west-1:999999999999:not-ours"}
    assert hooks.ses(altered).status_code == 403
    assert hooks.client.post("/webhooks/ses", content=b"not json").status_code == 400
    assert hooks.events() == ()
    assert hooks.status(READERS[0]) is Status.CONFIRMED


def test_an_ses_subscription_is_confirmed_by_visiting_its_url(hooks: Hooks) -> None:
    answer = hooks.ses(hooks.sns.confirmation())
    assert answer.status_code == 200
    assert answer.json() == {"provider": "ses", "subscribed": True}
    assert hooks.sns.fetched[-1] == SUBSCRIBE_URL


def test_a_confirmation_pointing_off_sns_is_never_visited(hooks: Hooks) -> None:
    message = hooks.sns.sign({**hooks.sns.confirmation(), "SubscribeURL": "https://evil.example/x"})
    answer = hooks.ses(message)
    assert answer.status_code == 403
    assert "https://evil.example/x" not in hooks.sns.fetched


# Postmark -------------------------------------------------------------------------------


def test_a_postmark_complaint_about_our_message_makes_the_reader_complained(
    hooks: Hooks, sent: dict[str, tuple[str, str]]
) -> None:
    complaint = fixture("postmark-spam-complaint.json")
    complaint["Email"] = READERS[1]
    complaint["Content"] = f"Message-ID: {sent[READERS[1]][1]}\r\nSubject: Daily Papers\r\n"
    answer = hooks.postmark(complaint)
    assert answer.json() == {"provider": "postmark", "recorded": 1}
    assert hooks.status(READERS[1]) is Status.COMPLAINED


def test_postmark_with_wrong_credentials_is_refused_and_changes_nothing(
    hooks: Hooks, sent: dict[str, tuple[str, str]]
) -> None:
    complaint = fixture("postmark-spam-complaint.json")
    complaint["Content"] = f"Message-ID: {sent[READERS[1]][1]}\r\n"
    assert hooks.postmark(complaint, password="guess").status_code == 401
    no_auth = hooks.client.post("/webhooks/postmark", content=json.dumps(complaint))
    assert no_auth.status_code == 401
    assert hooks.events() == ()
    assert hooks.status(READERS[1]) is Status.CONFIRMED


def test_a_postmark_bounce_with_only_the_address_changes_nothing(hooks: Hooks) -> None:
    bounce = fixture("postmark-bounce.json")  # its Content names no Message-ID of ours
    bounce["Email"] = READERS[0]
    assert hooks.postmark(bounce).json() == {"provider": "postmark", "unknown": 1}
    assert hooks.events() == ()


# Mailgun --------------------------------------------------------------------------------


def test_a_mailgun_failure_about_our_message_is_recorded_and_its_replay_refused(
    hooks: Hooks, sent: dict[str, tuple[str, str]]
) -> None:
    payload = fixture("mailgun-failed-permanent.json")
    payload["event-data"]["recipient"] = READERS[2]
    payload["event-data"]["message"]["headers"]["message-id"] = sent[READERS[2]][1].strip("<>")
    answer = hooks.mailgun(payload, "m" * 50)
    assert answer.json() == {"provider": "mailgun", "recorded": 1}
    replay = hooks.mailgun(payload, "m" * 50)
    assert replay.status_code == 403
    fresh = hooks.mailgun(payload, "n" * 50)  # the same event in a new call: counted once
    assert fresh.json() == {"provider": "mailgun", "duplicate": 1}
    assert [(e.email, e.kind.value) for e in hooks.events()] == [(READERS[2], "hard bounce")]


def test_an_old_or_badly_signed_mailgun_call_is_refused(
    hooks: Hooks, sent: dict[str, tuple[str, str]]
) -> None:
    payload = fixture("mailgun-complained.json")
    payload["event-data"]["message"]["headers"]["message-id"] = sent[READERS[2]][1]
    assert hooks.mailgun(payload, "o" * 50, age=3600).status_code == 403
    unsigned = hooks.client.post("/webhooks/mailgun", content=json.dumps(payload))
    assert unsigned.status_code == 403  # the documentation's signature, not made with our key
    assert hooks.events() == ()


# SendGrid -------------------------------------------------------------------------------


def test_a_signed_sendgrid_spam_report_makes_the_reader_complained(
    hooks: Hooks, sent: dict[str, tuple[str, str]]
) -> None:
    events = fixture("sendgrid-events.json")
    for event in events:
        event["email"], event["smtp-id"] = READERS[3], sent[READERS[3]][1]
    spam = [e for e in events if e["event"] in ("processed", "delivered", "spamreport")]
    assert hooks.sendgrid_post(spam, tamper=True).status_code == 403
    assert hooks.events() == ()
    answer = hooks.sendgrid_post(spam)
    assert answer.json() == {"provider": "sendgrid", "recorded": 1}
    assert hooks.status(READERS[3]) is Status.COMPLAINED
    unsigned = hooks.client.post("/webhooks/sendgrid", content=json.dumps(spam))
    assert unsigned.status_code == 401


def test_a_webhook_that_is_not_configured_is_not_found(
    sent: dict[str, tuple[str, str]], tmp_path: Path
) -> None:
    config = load_config(tmp_path / "schedules.yaml", {"DIGEST_SECRET": SECRET})
    with TestClient(create_app(config)) as client:
        for provider in ("ses", "postmark", "mailgun", "sendgrid"):
            assert client.post(f"/webhooks/{provider}", content=b"{}").status_code == 404
