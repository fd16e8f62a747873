"""Sending through a real aiosmtpd server: classification, retries and the ledger."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from digest.config import SmtpConfig
from digest.errors import SendError
from digest.models import DeliveryStatus, Email
from digest.send import OutboxTransport, RetryPolicy, SmtpTransport, deliver_all
from digest.store import Store

EDITION = "daily/2025-11-26"
NO_WAIT = RetryPolicy(retries=2, backoff_seconds=0)


def email(to: str) -> Email:
    headers = f"From: p@example.org\r\nTo: {to}\r\nSubject: hi\r\nMessage-ID: <x@example.org>"
    raw = headers + "\r\n\r\nbody\r\n"
    return Email(to, "bounce@example.org", "hi", "<x@example.org>", raw.encode(), 0, 4, ("p1",))


def smtp(server: Any) -> SmtpTransport:
    return SmtpTransport(SmtpConfig(host=server.host, port=server.port, security="none", timeout=5))


def test_sends_each_email_once_over_one_connection(smtp_server: Any, tmp_path: Path) -> None:
    store = Store(tmp_path / "s.json")
    emails = [email(f"r{n}@example.org") for n in range(3)]
    results = asyncio.run(deliver_all(EDITION, emails, smtp(smtp_server), store, NO_WAIT))
    assert [r.status for r in results] == [DeliveryStatus.SENT] * 3
    assert [m[1] for m in smtp_server.received.messages] == [[e.recipient] for e in emails]
    assert smtp_server.received.messages[0][0] == "bounce@example.org"
    again = asyncio.run(deliver_all(EDITION, emails, smtp(smtp_server), store, NO_WAIT))
    assert [r.status for r in again] == [DeliveryStatus.SKIPPED] * 3
    assert len(smtp_server.received.messages) == 3


def test_permanent_refusal_fails_only_that_delivery(smtp_server: Any, tmp_path: Path) -> None:
    smtp_server.received.reject_rcpt["bad@example.org"] = "550 5.1.1 no such user"
    store = Store(tmp_path / "s.json")
    emails = [email("bad@example.org"), email("good@example.org")]
    results = asyncio.run(deliver_all(EDITION, emails, smtp(smtp_server), store, NO_WAIT))
    assert [r.status for r in results] == [DeliveryStatus.FAILED, DeliveryStatus.SENT]
    assert "550" in results[0].reason
    stored = {d.email: d.status for d in store.deliveries(EDITION)}
    assert stored == {
        "bad@example.org": DeliveryStatus.FAILED,
        "good@example.org": DeliveryStatus.SENT,
    }


def test_temporary_refusal_is_retried_then_deferred(smtp_server: Any, tmp_path: Path) -> None:
    smtp_server.received.reject_rcpt["busy@example.org"] = "451 4.3.0 try later"
    store = Store(tmp_path / "s.json")
    (result,) = asyncio.run(
        deliver_all(EDITION, [email("busy@example.org")], smtp(smtp_server), store, NO_WAIT)
    )
    assert result.status == DeliveryStatus.DEFERRED
    assert "after 3 attempts" in result.reason
    del smtp_server.received.reject_rcpt["busy@example.org"]
    (retry,) = asyncio.run(
        deliver_all(EDITION, [email("busy@example.org")], smtp(smtp_server), store, NO_WAIT)
    )
    assert retry.status == DeliveryStatus.SENT


def test_unreachable_server_is_one_clear_error_and_claims_nothing(tmp_path: Path) -> None:
    transport = SmtpTransport(SmtpConfig(host="127.0.0.1", port=9, security="none", timeout=2))
    store = Store(tmp_path / "s.json")
    with pytest.raises(SendError, match=r"cannot connect to SMTP 127\.0\.0\.1:9"):
        asyncio.run(deliver_all(EDITION, [email("a@example.org")], transport, store, NO_WAIT))
    assert store.deliveries(EDITION) == ()


def test_interrupted_delivery_is_reported_unknown_not_resent(
    smtp_server: Any, tmp_path: Path
) -> None:
    store = Store(tmp_path / "s.json")
    store.claim_delivery(EDITION, "a@example.org", "<x@example.org>", ("p1",))  # a crash left it
    (result,) = asyncio.run(
        deliver_all(EDITION, [email("a@example.org")], smtp(smtp_server), store, NO_WAIT)
    )
    assert result.status == DeliveryStatus.UNKNOWN
    assert smtp_server.received.messages == []
    assert store.deliveries(EDITION)[0].status == DeliveryStatus.UNKNOWN


def test_outbox_writes_eml_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    results = asyncio.run(
        deliver_all(EDITION, [email("a+b@example.org")], OutboxTransport(out), None)
    )
    assert results[0].status == DeliveryStatus.SENT
    assert (out / "a+b@example.org.eml").read_bytes().startswith(b"From: p@example.org")


def test_unwritable_outbox_defers_instead_of_crashing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a@example.org.eml").mkdir()  # a folder where the file should go
    store = Store(tmp_path / "s.json")
    (result,) = asyncio.run(
        deliver_all(EDITION, [email("a@example.org")], OutboxTransport(out), store, NO_WAIT)
    )
    assert result.status == DeliveryStatus.DEFERRED
    assert "cannot write" in result.reason
    assert store.deliveries(EDITION)[0].status == DeliveryStatus.DEFERRED
