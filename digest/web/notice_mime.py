"""The bytes of a transactional message: what the standard library's ``email`` package writes
for it (``EmailMessage`` with ``set_content`` and ``add_alternative``, ``as_bytes`` under
the SMTP policy), byte for byte, for a tenth of the CPU.

The stdlib parses every header into an object and folds it back, then walks the message
tree: 2.5 ms a confirmation, most of a subscribe's cost in the web process. Here the headers
that do not change (From, Reply-To, the subject) are folded by the stdlib once per process,
the per-message ones (To, Date, Message-ID) are written as they are when nothing in them
would be folded or encoded, and each part's body is encoded by the stdlib's own choice of
transfer encoding (``email.contentmanager``'s heuristic). Anything else (an address that is
not plain ASCII, a header too long for one line) goes through the stdlib itself.
tests/test_web_notices.py checks that both ways give the same bytes.
"""

from __future__ import annotations

import functools
import random
import re
import sys
from dataclasses import dataclass

# private, but the stdlib's own choice of transfer encoding (unchanged since 3.6); the test
# of these bytes against the stdlib's fails if it changes
from email.contentmanager import _encode_text  # type: ignore[attr-defined]
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8

from digest.render.mime import is_plain_address
from digest.subscribers import ascii_address

MAX_LINE = 78  # the SMTP policy's max_line_length: a longer header line would be folded
_PLAIN_MESSAGE_ID = re.compile(r"<[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+>\Z")
_NEWLINE = re.compile(r"\r\n|\r|\n")  # the stdlib generator's line-ending rule
_SAMPLE_BOUNDARY = "=" * 15 + "0" * 19 + "=="  # the shape of Generator._make_boundary's


@dataclass(frozen=True, slots=True)
class Headers:
    """A notice's headers, in the order they are written."""

    from_address: str
    to: str
    reply_to: str
    subject: str
    date: str
    message_id: str


def message_bytes(headers: Headers, text: str, html: str, boundary: str = "") -> bytes:
    """The message: text and HTML alternatives (``boundary``: a fixed one, for tests)."""
    return _written(headers, text, html, boundary) or stdlib_bytes(headers, text, html, boundary)


def stdlib_bytes(headers: Headers, text: str, html: str, boundary: str = "") -> bytes:
    """The same message written by the ``email`` package (the reference, and the way for
    anything :func:`message_bytes` does not write itself)."""
    # The address in its IDNA form (the stdlib RFC 2047-encodes an IDN domain and folds it
    # badly); a local part that is not ASCII goes as raw UTF-8, for SMTPUTF8 relays only.
    to = ascii_address(headers.to)
    msg = EmailMessage(policy=SMTP if to else SMTPUTF8)
    msg["From"] = headers.from_address
    msg["To"] = to or headers.to
    if headers.reply_to:
        msg["Reply-To"] = headers.reply_to
    msg["Subject"] = headers.subject
    msg["Date"] = headers.date
    msg["Message-ID"] = headers.message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    if boundary:
        msg.set_boundary(boundary)
    return msg.as_bytes()


def _written(headers: Headers, text: str, html: str, boundary: str) -> bytes | None:
    """The message written here, or None when the stdlib must write it."""
    to = ascii_address(headers.to)
    if not (to and is_plain_address(to) and _PLAIN_MESSAGE_ID.match(headers.message_id)):
        return None
    lines = [f"To: {to}", f"Date: {headers.date}", f"Message-ID: {headers.message_id}"]
    if any(len(line) > MAX_LINE for line in lines):
        return None
    plain, rich = _part("plain", text, False), _part("html", html, True)
    boundary = boundary or _boundary(f"{plain}\r\n{rich}")
    if not boundary:
        return None
    top = (
        _folded("From", headers.from_address)
        + lines[0]
        + "\r\n"
        + (_folded("Reply-To", headers.reply_to) if headers.reply_to else "")
        + _folded("Subject", headers.subject)
        + "".join(line + "\r\n" for line in lines[1:])
        + "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
        + _multipart_type().replace(_SAMPLE_BOUNDARY, boundary)
    )
    body = f"\r\n--{boundary}\r\n{plain}\r\n--{boundary}\r\n{rich}\r\n--{boundary}--\r\n"
    return (top + body).encode("ascii", "surrogateescape")


def _part(subtype: str, content: str, mime_version: bool) -> str:
    """One alternative, headers and encoded body, as ``set_content`` and the generator
    write it (the part added by ``add_alternative`` carries its own MIME-Version)."""
    cte, data = _encode_text(content, "utf-8", None, SMTP)
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'
    if mime_version:
        head += "MIME-Version: 1.0\r\n"
    lines = _NEWLINE.split(data)
    return head + "\r\n" + "\r\n".join(lines[:-1]) + ("\r\n" if len(lines) > 1 else "") + lines[-1]


def _boundary(text: str) -> str:
    """A random boundary as ``Generator._make_boundary`` makes them, or "" when ``text``
    holds it (then the stdlib writes the message, with one made unique). The stdlib compiles
    a regular expression for each boundary to look for it at a line's start; a boundary
    found nowhere is found at no line's start."""
    boundary = "=" * 15 + f"{random.randrange(sys.maxsize):0{len(repr(sys.maxsize - 1))}d}=="
    return "" if f"--{boundary}" in text else boundary


@functools.lru_cache(maxsize=64)
def _folded(name: str, value: str) -> str:
    """One header as the stdlib parses and folds it, with its line break."""
    folded = SMTP.fold_binary(name, SMTP.header_store_parse(name, value)[1])
    return folded.decode("ascii", "surrogateescape")


@functools.cache
def _multipart_type() -> str:
    return _folded("Content-Type", f'multipart/alternative; boundary="{_SAMPLE_BOUNDARY}"')


@functools.lru_cache(maxsize=64)
def parsed(name: str, value: str) -> str:
    """A header's value as the stdlib reads it back (``str(msg[name])``): a plain message
    id as it is (each is new, so a cache would not help)."""
    return str(SMTP.header_store_parse(name, value)[1])


def parsed_message_id(value: str) -> str:
    return value if _PLAIN_MESSAGE_ID.match(value) else parsed("Message-ID", value)
