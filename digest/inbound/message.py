"""Reading a returned message: its headers, its parts, the message it returns, as plain text.

Returned mail is written by every MTA there is, and some of it by hand: a header may be
undecodable, a part may lie about its type, a "message/rfc822" part may hold three lines of
headers. Everything here reads the stdlib's parse (``compat32``, the policy flufl.bounce
expects) defensively and gives back ``str``, never a Header object or None.
"""

from __future__ import annotations

import contextlib
import email
import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

MAX_TEXT = 256 * 1024  # characters of a body scanned for status codes and addresses
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}@[^<>\s]{1,250}>")
#: Headers a message sent to one of our addresses may name it in (the envelope recipient).
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "Cc")
#: Headers of the returned original (or a report) that carry our envelope sender.
RETURNED_HEADERS = ("Return-Path", "Original-Mail-From", "X-Original-Return-Path")


def parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=compat32)


def header(msg: Message, name: str) -> str:
    """A header's value as text (RFC 2047 decoded where it can be), "" when absent."""
    value = msg.get(name)
    if value is None:
        return ""
    text = str(value)
    with contextlib.suppress(ValueError, LookupError, UnicodeError, AssertionError):
        text = str(make_header(decode_header(text)))
    return " ".join(text.split())


def headers(msg: Message, name: str) -> list[str]:
    return [" ".join(str(v).split()) for v in msg.get_all(name) or ()]


def addresses(msg: Message, names: tuple[str, ...]) -> list[str]:
    """The addresses in those headers (every occurrence), as written."""
    values = [v for name in names for v in headers(msg, name)]
    return [addr for _, addr in getaddresses(values) if "@" in addr]


def message_id(msg: Message) -> str:
    found = _MESSAGE_ID.search(header(msg, "Message-ID"))
    return found.group() if found else ""


def event_id(msg: Message, raw: bytes) -> str:
    """The report's own Message-ID, or a hash of its bytes when it has none."""
    return message_id(msg) or "sha256:" + hashlib.sha256(raw).hexdigest()[:32]


def sent_at(msg: Message) -> datetime | None:
    """The Date header as a UTC instant; None when absent or not a date."""
    try:
        when = parsedate_to_datetime(header(msg, "Date"))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def walk(msg: Message, *, into_messages: bool = True) -> Iterator[Message]:
    """Every part, depth first; with ``into_messages`` False, not the parts of an attached
    message (the original a bounce returns, whose text says nothing about the failure)."""
    yield msg
    if not into_messages and msg.get_content_type() == "message/rfc822":
        return
    payload = msg.get_payload()
    if isinstance(payload, list):
        for part in payload:
            if isinstance(part, Message):
                yield from walk(part, into_messages=into_messages)


def returned_headers(msg: Message) -> list[Message]:
    """The headers of the original message(s) a report returns: each message/rfc822 part
    (its first message) and each text/rfc822-headers part, parsed as headers."""
    found: list[Message] = []
    for part in walk(msg):
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                found.append(inner[0])
        elif kind in ("text/rfc822-headers", "text/rfc822-header"):
            found.append(HeaderParser(policy=compat32).parsestr(text_of(part)))
    return found


def original_ids(msg: Message) -> list[str]:
    """Message-IDs of the original message a report or reply names: the returned headers'
    Message-ID, the reply's In-Reply-To and References, and ids quoted in text parts."""
    ids = [message_id(h) for h in returned_headers(msg)]
    for name in ("In-Reply-To", "References"):
        ids += _MESSAGE_ID.findall(header(msg, name))
    for part in walk(msg):
        if part.get_content_maintype() == "text" and not part.is_multipart():
            for line in text_of(part).splitlines():
                if line.lower().lstrip("> ").startswith("message-id:"):
                    ids += _MESSAGE_ID.findall(line)
    return _unique(i for i in ids if i and i != message_id(msg))


def text_of(part: Message) -> str:
    """A leaf part's text, transfer-decoded, in its charset where it names one we know."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw[:MAX_TEXT] if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload[:MAX_TEXT].decode(charset, errors="replace")
    except LookupError:
        return payload[:MAX_TEXT].decode("utf-8", errors="replace")


def all_text(msg: Message) -> str:
    """The text parts together (text/plain before others), at most MAX_TEXT characters."""
    parts = walk(msg, into_messages=False)
    leaves = [p for p in parts if not p.is_multipart() and p.get_content_maintype() == "text"]
    leaves.sort(key=lambda p: p.get_content_subtype() != "plain")
    if not leaves and not msg.is_multipart():
        leaves = [msg]
    return "\n".join(text_of(p) for p in leaves)[:MAX_TEXT]


def _unique(items: Iterator[str]) -> list[str]:
    return list(dict.fromkeys(items))
