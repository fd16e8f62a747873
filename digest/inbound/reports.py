"""The standard reports: RFC 3464 delivery status notifications and RFC 5965 ARF feedback.

Both are ``multipart/report``. A DSN's ``message/delivery-status`` part holds one block of
fields about the message, then one per recipient: ``Action`` (failed, delayed, delivered,
relayed, expanded), ``Status`` (an RFC 3463 code), ``Final-Recipient`` and the
``Diagnostic-Code`` the remote server gave. An ARF report's ``message/feedback-report``
part says ``Feedback-Type`` (abuse, fraud, virus, not-spam, other…) and the
``Original-Mail-From`` / ``Original-Rcpt-To`` of the message complained about.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from digest.inbound.message import header, text_of, walk
from digest.inbound.verdict import STATUS, Verdict, kind_of_status, status_code
from digest.models import MailEventKind

_FAILED = ("failed", "delayed")
_JMRP = re.compile(r"\s*complaint about message from ", re.I)
COMPLAINTS = frozenset({"abuse", "fraud"})


def report_type(msg: Message) -> str:
    if msg.get_content_type() != "multipart/report":
        return ""
    return str(msg.get_param("report-type", "") or "").lower()


def read_dsn(msg: Message) -> Verdict | None:
    """The failure a delivery status notification reports; None when it reports none."""
    blocks = _blocks(msg, "message/delivery-status")
    for block in blocks[1:] or blocks:
        action = header(block, "Action").lower()
        status = status_code(header(block, "Status"))
        if action not in _FAILED and not (status and status[0] in "45" and not action):
            continue
        diagnostic = _value(header(block, "Diagnostic-Code"))
        status = remote_status(status, diagnostic)
        if action == "delayed":
            kind = MailEventKind.SOFT_BOUNCE
        else:
            kind = kind_of_status(status, permanent_default=True)
        named = header(block, "Original-Recipient") or header(block, "Final-Recipient")
        recipient = _value(named)  # the address as we sent to it, before any rewriting
        return Verdict(kind, "RFC 3464 delivery status", recipient, status, diagnostic or action)
    return None


def read_arf(msg: Message) -> Verdict | None:
    """The complaint an ARF feedback report makes; None for other feedback types."""
    blocks = _blocks(msg, "message/feedback-report")
    if not blocks:
        return None
    fields = blocks[0]
    feedback = header(fields, "Feedback-Type").lower()
    if feedback not in COMPLAINTS:
        return Verdict(None, f"an ARF feedback report of type {feedback or 'none'!r}: no complaint")
    recipient = _value(header(fields, "Original-Rcpt-To"))
    agent = header(fields, "User-Agent")
    diagnostic = f"{feedback} report" + (f" by {agent}" if agent else "")
    return Verdict(
        MailEventKind.COMPLAINT, "RFC 5965 ARF feedback report", recipient, "", diagnostic
    )


def read_jmrp(msg: Message) -> Verdict | None:
    """Microsoft's feedback loop (JMRP) before it spoke ARF: the complained-of message
    attached, under the subject "complaint about message from <ip>"."""
    if not _JMRP.match(header(msg, "Subject")):
        return None
    return Verdict(MailEventKind.COMPLAINT, "a Microsoft JMRP complaint", "", "", "abuse report")


def remote_status(status: str, diagnostic: str) -> str:
    """The code the remote server gave, when the diagnostic holds one of the same class as
    the reporting MTA's ``Status`` (its last: SES writes its own code before the remote's);
    else ``Status``, else the diagnostic's first."""
    codes = [".".join(c) for c in STATUS.findall(diagnostic)]
    same = [c for c in codes if not status or c[0] == status[0]]
    if same:
        return same[-1]
    return status or (codes[0] if codes else "")


def report_fields(msg: Message) -> list[Message]:
    """The header blocks of the machine-readable parts (for the envelope sender they name)."""
    return _blocks(msg, "message/feedback-report") + _blocks(msg, "message/delivery-status")


def _blocks(msg: Message, content_type: str) -> list[Message]:
    """The header blocks of the first part of that type: the stdlib parses a delivery-status
    part into blocks, other message/* types into one message; a part it took as text is
    parsed here, block by block."""
    for part in walk(msg):
        if part.get_content_type() != content_type:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            return [p for p in payload if isinstance(p, Message)]
        text = text_of(part).replace("\r\n", "\n")
        parser = HeaderParser(policy=compat32)
        return [parser.parsestr(chunk) for chunk in text.split("\n\n") if chunk.strip()]
    return []


def _value(field: str) -> str:
    """``rfc822; ada@example.org`` → ``ada@example.org``; ``smtp; 550 …`` → ``550 …``."""
    kind, sep, value = field.partition(";")
    return (value if sep else kind).strip().strip("<>")
