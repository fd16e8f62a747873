"""One raw message in, one :class:`~digest.inbound.verdict.Verdict` out; never an exception.

The order matters. A ``multipart/report`` says what it is (a delivery status notification
or an ARF feedback report), so it is read first. A message from a mail system (a
MAILER-DAEMON, an empty return path) is a bounce before it is an auto-reply, since bounces
carry ``Auto-Submitted`` too; a message from a person is an auto-reply before flufl.bounce's
heuristics, which would otherwise take a vacation message quoting an address for a bounce.
Anything else is unclassified (a mailto unsubscribe is recognised later, by its token).
"""

from __future__ import annotations

import dataclasses
from email.message import Message

from digest.inbound import message as m
from digest.inbound.heuristic import from_mta, read_bounce
from digest.inbound.replies import read_auto_reply
from digest.inbound.reports import read_arf, read_dsn, read_jmrp, report_fields, report_type
from digest.inbound.verdict import Verdict

MAX_BYTES = 20 * 1024 * 1024  # a returned message bigger than this is not read


def classify(raw: bytes, *, envelope_to: str | None = None) -> Verdict:
    """What ``raw`` (one RFC 5322 message) is, and where it names the message it is about."""
    if not isinstance(raw, bytes | bytearray):
        return Verdict(None, "not a message (no bytes)")
    if len(raw) > MAX_BYTES:
        return Verdict(None, f"too big to be a returned message ({len(raw)} bytes)")
    try:
        msg = m.parse(bytes(raw))
        verdict = _recognise(msg) or Verdict(None, _unrecognised(msg))
        return _with_references(verdict, msg, bytes(raw), envelope_to)
    except (RecursionError, MemoryError):
        return Verdict(None, "too deeply nested to be read")
    except Exception as exc:  # the stdlib parser meets what no one wrote: say so, do not crash
        return Verdict(None, f"cannot be read ({type(exc).__name__}: {exc})"[:300])


def _recognise(msg: Message) -> Verdict | None:
    kind = m.header(msg, "Content-Type") and report_type(msg)
    if kind == "delivery-status":
        found = read_dsn(msg) or read_bounce(msg)  # a report that fills its fields oddly
        return found or Verdict(None, "a delivery status notification of no failure")
    if kind == "feedback-report":
        return read_arf(msg)
    if from_mta(msg):
        return read_bounce(msg) or read_auto_reply(msg)
    if complaint := read_jmrp(msg):
        return complaint
    return read_auto_reply(msg) or read_bounce(msg)


def _unrecognised(msg: Message) -> str:
    subject = m.header(msg, "Subject")[:80]
    return f"not a bounce, complaint or auto-reply (subject {subject!r})"


def _with_references(
    verdict: Verdict, msg: Message, raw: bytes, envelope_to: str | None
) -> Verdict:
    """The verdict with every place the message may name our delivery in."""
    recipients = m.addresses(msg, m.RECIPIENT_HEADERS)
    if envelope_to:
        recipients.insert(0, envelope_to)
    returned = []
    for block in [*m.returned_headers(msg), *report_fields(msg)]:
        returned += m.addresses(block, m.RETURNED_HEADERS)
    return dataclasses.replace(
        verdict,
        recipients=tuple(dict.fromkeys(recipients)),
        returned=tuple(dict.fromkeys(returned)),
        message_ids=tuple(m.original_ids(msg)),
        event_id=m.event_id(msg, raw),
        at=m.sent_at(msg),
    )
