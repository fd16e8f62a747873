"""Returned mail made in a test, about a message we sent: an RFC 3464 DSN, an RFC 5965 ARF
report, an RFC 3834 auto-reply and a mailto unsubscribe, each as a remote MTA or mail client
writes it (the shapes of the real ones in tests/fixtures/bounces)."""

from __future__ import annotations

from email.utils import formatdate, make_msgid


def _headers_of(sent: bytes) -> str:
    return sent.partition(b"\r\n\r\n")[0].decode("utf-8", "replace").replace("\r\n", "\n")


def dsn(
    sent: bytes,
    *,
    to: str,
    recipient: str,
    status: str = "5.1.1",
    action: str = "failed",
    diagnostic: str = "550 5.1.1 <{r}>: Recipient address rejected: User unknown",
    message_id: str | None = None,
) -> bytes:
    """A Postfix-style DSN for ``sent`` (our message), delivered to ``to`` (its return path)."""
    mid = message_id or make_msgid(domain="mx.example.net")
    text = f"""\
Return-Path: <>
Delivered-To: {to}
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {to}
Auto-Submitted: auto-replied
Message-ID: {mid}
Date: {formatdate()}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Arrival-Date: Tue, 24 Nov 2026 07:04:58 +0000 (UTC)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diagnostic.format(r=recipient)}

--B1
Content-Type: text/rfc822-headers

{_headers_of(sent)}
--B1--
"""
    return text.replace("\n", "\r\n").encode()


def arf(sent: bytes, *, to: str, recipient: str) -> bytes:
    """A Yahoo-style ARF abuse report about ``sent``, sent to ``to``."""
    text = f"""\
From: staff@fbl.example.net
To: {to}
Subject: FW: Daily Papers
Message-ID: {make_msgid(domain="fbl.example.net")}
Date: {formatdate()}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="F1"

--F1
Content-Type: text/plain

This is an email abuse report for an email message received from IP 192.0.2.1.

--F1
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Yahoo!-Mail-Feedback/2.0
Version: 1
Original-Rcpt-To: {recipient}
Arrival-Date: Tue, 24 Nov 2026 07:05:00 +0000

--F1
Content-Type: message/rfc822

{_headers_of(sent)}

(body left out)
--F1--
"""
    return text.replace("\n", "\r\n").encode()


def auto_reply(*, to: str, in_reply_to: str) -> bytes:
    return (
        f"From: Ada <ada@example.org>\r\nTo: {to}\r\nSubject: Out of office: Daily Papers\r\n"
        f"Auto-Submitted: auto-replied\r\nIn-Reply-To: {in_reply_to}\r\n"
        f"Message-ID: {make_msgid(domain='example.org')}\r\n\r\nI am away until Monday.\r\n"
    ).encode()


def unsubscribe(*, to: str, sender: str = "ada@example.org") -> bytes:
    """What a mail client sends to a List-Unsubscribe mailto link (Apple Mail's shape)."""
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: unsubscribe\r\nAuto-Submitted: auto-replied\r\n"
        f"X-Apple-Unsubscribe: true\r\nMessage-ID: {make_msgid(domain='example.org')}\r\n\r\n"
        "Apple Mail sent this email to unsubscribe from the message.\r\n"
    ).encode()
