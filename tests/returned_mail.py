"""A real edition sent through a relay (aiosmtpd) to four readers, with VERP return paths,
and the mail that comes back about it: Postfix DSNs, an ARF report, a message that is none.
Shared by the IMAP and the webhook tests (a plugin tests/conftest.py names)."""

from __future__ import annotations

from collections.abc import Callable
from email import message_from_bytes
from pathlib import Path

import pytest
from conftest import SAMPLE, SmtpServer, run_cli
from dovecot_server import PASSWORD

SECRET = "imap-test-secret-0123456789abcdefghijkl"
READERS = ("ada@example.org", "bob@example.org", "cy@example.org", "dee@example.org")


@pytest.fixture
def sent(
    config_file: Callable[..., Path],
    smtp_server: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, tuple[str, str]]:
    """One edition really sent to READERS through a relay: reader → (VERP return path,
    Message-ID), as the relay saw them."""
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    monkeypatch.setenv("DIGEST_IMAP_PASSWORD", PASSWORD)  # for digest inbound --imap
    path = config_file(smtp_host="127.0.0.1", smtp_port=smtp_server.port)
    text = path.read_text().replace(
        "sender:\n", "sender:\n  envelope_from: bounces@bounce.example.org\n"
    )
    path.write_text(text)
    for reader in READERS:
        code, _, err = run_cli(["--config", str(path), "subscribers", "add", reader], capsys)
        assert code == 0, err
    code, _, err = run_cli(
        ["--config", str(path), "send", "--date", "2025-11-26", "--source", str(SAMPLE)], capsys
    )
    assert code == 0, err
    found = {}
    for mail_from, rcpts, content in smtp_server.script.messages:
        found[rcpts[0]] = (mail_from, message_from_bytes(content)["Message-ID"])
    assert sorted(found) == sorted(READERS)
    return found


def dsn(verp: str, message_id: str, rcpt: str, status: str, diagnostic: str) -> bytes:
    """A delivery status notification as Postfix writes it (RFC 3464), to our VERP address."""
    action = "failed" if status.startswith("5") else "delayed"
    return f"""\
Return-Path: <>
Delivered-To: {verp}
Received: by relay.example.net (Postfix) id 4F1A23C0B2; Wed, 26 Nov 2025 07:01:02 +0000 (UTC)
Date: Wed, 26 Nov 2025 07:01:02 +0000 (UTC)
From: MAILER-DAEMON@relay.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {verp}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="4F1A23C0B2.1764140462/relay.example.net"
Message-Id: <20251126070102.4F1A23C0B2@relay.example.net>

This is a MIME-encapsulated message.

--4F1A23C0B2.1764140462/relay.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host relay.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{rcpt}>: host mx.example.org[192.0.2.25] said: {diagnostic}

--4F1A23C0B2.1764140462/relay.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.net
X-Postfix-Queue-ID: 4F1A23C0B2
X-Postfix-Sender: rfc822; {verp}
Arrival-Date: Wed, 26 Nov 2025 07:00:58 +0000 (UTC)

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.example.org
Diagnostic-Code: smtp; {diagnostic}

--4F1A23C0B2.1764140462/relay.example.net
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <{verp}>
From: Daily Papers <papers@example.org>
To: {rcpt}
Subject: Daily Papers
Message-ID: {message_id}

--4F1A23C0B2.1764140462/relay.example.net--
""".replace("\n", "\r\n").encode()


def arf(message_id: str, rcpt: str) -> bytes:
    """An RFC 5965 abuse report, as a mailbox provider's feedback loop sends it."""
    return f"""\
From: <staff@fbl.example.net>
Date: Thu, 27 Nov 2025 10:00:00 +0000
Subject: FW: Daily Papers
To: <abuse@example.org>
Message-ID: <fbl-8843@fbl.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
     boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
192.0.2.1 on Thu, 27 Nov 2025 09:55:00 +0000.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <bounces@bounce.example.org>
Original-Rcpt-To: <{rcpt}>
Arrival-Date: Thu, 27 Nov 2025 09:55:00 +0000
Source-IP: 192.0.2.1

--part1_13d.2e68ed54_boundary
Content-Type: text/rfc822-headers

From: Daily Papers <papers@example.org>
To: {rcpt}
Subject: Daily Papers
Date: Wed, 26 Nov 2025 07:00:00 +0000
Message-ID: {message_id}

--part1_13d.2e68ed54_boundary--
""".replace("\n", "\r\n").encode()


UNKNOWN = (
    b"From: a.friend@example.net\r\nTo: bounces@bounce.example.org\r\n"
    b"Subject: lunch?\r\nMessage-ID: <lunch-1@example.net>\r\n\r\nAre you free on Friday?\r\n"
)


def returned(sent: dict[str, tuple[str, str]]) -> list[bytes]:
    """Ada's hard bounce, Bob's complaint, Cy's soft bounce, and a message that is none."""
    ada, bob, cy = (sent[r] for r in READERS[:3])
    return [
        dsn(*ada, READERS[0], "5.1.1", "550 5.1.1 <ada@example.org>: Recipient address rejected"),
        arf(bob[1], READERS[1]),
        dsn(*cy, READERS[2], "4.2.2", "452 4.2.2 Mailbox full"),
        UNKNOWN,
    ]
