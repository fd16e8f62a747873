"""MIME: a rendered email's text and HTML parts become the bytes of one message.

Built by hand because it runs once per reader, and the stdlib ``email`` package spends most
of a message's rendering time on quoted-printable in Python and on its header objects (see
bench/bench_render.py). The stdlib still folds the headers that need folding (addresses, a
non-ASCII Subject), but only once per edition or per distinct subject. The result is
multipart/alternative, text first, with CRLF line ends:

- the HTML part arrives as ASCII (non-ASCII as numeric character references) and goes out
  ``7bit``, its over-long lines broken between attributes or at spaces in text
  (:func:`fold_html`); quoted-printable only if that is impossible. Long lines, not QP's 76
  columns, because relays and SMTP servers spend their time per line;
- the text part goes out ``7bit`` when it is ASCII with short lines, else quoted-printable
  (``binascii.b2a_qp``, in C).

No value can start a header of its own: controls in a Subject become spaces, and addresses
or URIs holding them are refused with ValueError.

An address is never RFC 2047-encoded (RFC 2047 §5 allows encoded words in a display name,
not in an address): an IDN domain goes in its IDNA form (``xn--…``), which every relay
takes, and an address whose local part is not ASCII goes as raw UTF-8 (RFC 6532), which
only a relay offering SMTPUTF8 takes (:mod:`digest.send.smtp` fails that one delivery
otherwise). Either way each folded line starts with a space.

Just over 300 lines: the message's bytes, one concern, and the reasons for each choice
above are written beside the code that makes it.
"""

from __future__ import annotations

import binascii
import bisect
import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.header import Header
from email.headerregistry import BaseHeader
from email.policy import SMTP, default
from email.utils import format_datetime, formataddr, parseaddr

from digest.subscribers import ascii_address

MAX_LINE = 998  # octets a line may hold, CRLF aside (RFC 5322 §2.1.1)
FOLD_AT = 990  # where fold_html breaks a line, with room to spare
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_PHRASE_SPECIALS = re.compile(r'[<>"\\]')
# A start or end tag (its quoted values may hold ">"), a comment, or a run of text.
_HTML_TOKEN = re.compile(rb'<!--.*?-->|<[^>"]*(?:"[^"]*"[^>"]*)*>|[^<]+|<', re.S)
_KEEPS_WHITESPACE = re.compile(rb"<(pre|textarea|style|script)\b", re.I)
_SPACE = re.compile(rb" ")
_KEEPS_LINES = re.compile(rb"<(pre|textarea)\b", re.I)
_SPACE_OR_QUOTE = re.compile(rb'[ "]')
# A bare dot-atom address (most readers' To): one short line, nothing to fold or quote.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)


@dataclass(frozen=True, slots=True)
class EditionHeaders:
    """The header lines every message of an edition shares, folded once, each ending CRLF."""

    from_: bytes
    reply_to: bytes  # empty without a Reply-To
    date: bytes
    list_id: bytes
    tail: bytes  # List-Unsubscribe-Post, Auto-Submitted, Precedence, MIME-Version


def make_edition_headers(
    *, from_address: str, reply_to: str | None, date: datetime, list_name: str, list_id: str
) -> EditionHeaders:
    """The shared headers; ValueError if an address or the list id holds a control character."""
    return EditionHeaders(
        from_=address_header("From", from_address),
        reply_to=address_header("Reply-To", reply_to) if reply_to else b"",
        date=_folded("Date", format_datetime(date)),
        list_id=_folded("List-Id", f"{_PHRASE_SPECIALS.sub('', list_name)} <{list_id}>"),
        tail=(
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            b"Auto-Submitted: auto-generated\r\n"
            b"Precedence: bulk\r\n"
            b"MIME-Version: 1.0\r\n"
        ),
    )


def make_message(
    headers: EditionHeaders,
    *,
    to: str,
    subject: str,
    message_id: str,
    unsubscribe: Sequence[str],
    text: str,
    html: bytes,
    personal: Sequence[str] = (),
) -> bytes:
    """The message: ``text`` (any str) and ``html`` (ASCII with LF line ends) as alternatives.

    ``personal``: the reader's own values (address, signed links), which mark the paragraphs
    to encode afresh rather than through the cache of those that recur (:func:`encode_text`)."""
    marks = tuple(value.encode() for value in personal if value)
    text_cte, text_body = encode_text(text, marks)
    html_cte, html_body = encode_html(html, marks)
    plain = [body for cte, body in ((text_cte, text_body), (html_cte, html_body)) if cte == b"7bit"]
    boundary = make_boundary(message_id, plain)
    delimiter = b"\r\n--" + boundary + b"\r\n"
    return b"".join(
        (
            headers.from_,
            address_header("To", to),
            headers.reply_to,
            subject_header(subject),
            headers.date,
            b"Message-ID: " + _ascii_value(message_id) + b"\r\n",
            headers.list_id,
            unsubscribe_header(unsubscribe),
            headers.tail,
            b'Content-Type: multipart/alternative;\r\n boundary="' + boundary + b'"\r\n',
            b"\r\n--" + boundary + b"\r\n",
            _part_headers(b"plain", text_cte),
            text_body,
            delimiter,
            _part_headers(b"html", html_cte),
            html_body,
            b"\r\n--" + boundary + b"--\r\n",
        )
    )


@functools.lru_cache(maxsize=1024)
def subject_header(subject: str) -> bytes:
    """``Subject:`` folded, RFC 2047-encoded when not ASCII; controls become spaces.

    The stdlib policy's folder can drop the space before an encoded word that starts a
    folded line ("lait: 日本語" reads back "lait:日本語") or fold right after the colon; a
    subject it would change is written as encoded words, each line within 78 columns."""
    value = " ".join(_CONTROL.sub(" ", subject).split())
    folded = _folded("Subject", value)
    if _reads_back(folded) == value:
        return folded
    encoded = Header(value, "utf-8", header_name="Subject").encode(linesep="\r\n")
    return f"Subject: {encoded}\r\n".encode("ascii")


def _reads_back(header: bytes) -> str:
    """What a reader's client shows of a folded ``Subject:`` header."""
    return str(message_from_bytes(header + b"\r\n", policy=default)["Subject"])


def unsubscribe_header(uris: Sequence[str]) -> bytes:
    """List-Unsubscribe (RFC 2369): ``<uri>`` each, folded between them, never encoded."""
    if not uris:
        return b""
    folded = b",\r\n ".join(b"<" + _ascii_value(uri) + b">" for uri in uris)
    return b"List-Unsubscribe: " + folded + b"\r\n"


def encode_text(text: str, personal: Sequence[bytes] = ()) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, body with CRLF line ends) for the text part; a paragraph
    holding one of ``personal`` is this reader's alone (see :func:`_quoted_printable`)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    data = text.encode()
    if data.isascii() and _longest_line(data) <= MAX_LINE:
        return b"7bit", data.replace(b"\n", b"\r\n")
    return b"quoted-printable", _quoted_printable(data, personal)


def encode_html(html: bytes, personal: Sequence[bytes] = ()) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, body with CRLF line ends) for ASCII HTML with LF line ends
    (``personal``: as for :func:`encode_text`)."""
    if html.isascii() and b"\r" not in html:
        html = join_lines(html)
        folded = html if _longest_line(html) <= MAX_LINE else fold_html(html)
        if folded is not None:
            return b"7bit", folded.replace(b"\n", b"\r\n")
    return b"quoted-printable", _quoted_printable(html.replace(b"\r\n", b"\n"), personal)


def join_lines(html: bytes, limit: int = FOLD_AT) -> bytes:
    """``html`` with short lines joined (a space for the line break) up to ``limit`` octets.

    Every line is a unit of work for each relay on the way (aiosmtpd and many MTAs read
    line by line), so ~40 long lines cost far less than ~150 short ones. Only a break
    between two tags (``>`` newline ``<``) is joined: there a space and a line break are the
    same inter-element whitespace. Documents with whitespace-keeping elements are left alone.
    """
    if _KEEPS_LINES.search(html):
        return html
    lines = html.split(b"\n")
    joined: list[bytes] = []
    run: list[bytes] = [lines[0]]
    width = len(lines[0])
    for line in lines[1:]:
        if width + 1 + len(line) <= limit and run[-1].endswith(b">") and line.startswith(b"<"):
            run.append(line)
            width += 1 + len(line)
            continue
        joined.append(b" ".join(run))
        run, width = [line], len(line)
    joined.append(b" ".join(run))
    return b"\n".join(joined)


def fold_html(html: bytes, limit: int = FOLD_AT) -> bytes | None:
    """``html`` with every line at most ``limit`` octets, or None where no break is safe.

    A space becomes a line break only where the two mean the same: between a tag's
    attributes (outside quotes) or in text, never in a comment or in an element that keeps
    its whitespace or is not HTML (pre, textarea, style, script). Offsets do not move: one
    byte replaces another.
    """
    points = _break_points(html)
    out = bytearray(html)
    start = 0
    while start < len(html):
        newline = html.find(b"\n", start)
        end = len(html) if newline < 0 else newline
        while end - start > limit:
            at = bisect.bisect_right(points, start + limit) - 1
            if at < 0 or points[at] <= start:
                return None
            out[points[at]] = ord("\n")
            start = points[at] + 1
        start = end + 1
    return bytes(out)


def make_boundary(seed: str, bodies: Sequence[bytes]) -> bytes:
    """A boundary made from ``seed`` and found in none of ``bodies``; the same seed, the same one.

    It starts with "=_", which quoted-printable never writes, so only the bodies sent as they
    are need searching.
    """
    for attempt in range(1_000):
        mark = b"=_" + hashlib.sha256(f"{seed}\0{attempt}".encode()).hexdigest()[:32].encode()
        if not any(mark in body for body in bodies):
            return mark
    raise ValueError("no MIME boundary is absent from this message")  # pragma: no cover


def _break_points(html: bytes) -> list[int]:
    """Offsets, in order, of the spaces in ``html`` that may become line breaks."""
    points: list[int] = []
    keeping: bytes | None = None  # the element whose whitespace must stay as it is
    for token in _HTML_TOKEN.finditer(html):
        chunk, at = token.group(), token.start()
        if chunk.startswith(b"<!--"):
            continue
        if chunk.startswith(b"<"):
            keeping = _keeping_whitespace(chunk, keeping)
            points.extend(at + offset for offset in _tag_spaces(chunk))
        elif keeping is None:
            points.extend(at + m.start() for m in _SPACE.finditer(chunk))
    return points


def _keeping_whitespace(tag: bytes, keeping: bytes | None) -> bytes | None:
    """The whitespace-keeping element open after ``tag``, given the one open before it."""
    if keeping is None:
        opened = _KEEPS_WHITESPACE.match(tag)
        return opened.group(1).lower() if opened else None
    closes = tag[: len(keeping) + 2].lower() == b"</" + keeping
    return None if closes else keeping


def _tag_spaces(tag: bytes) -> list[int]:
    """Offsets of the spaces in a tag outside its quoted values."""
    quoted = False
    spaces = []
    for m in _SPACE_OR_QUOTE.finditer(tag):
        if m.group() == b'"':
            quoted = not quoted
        elif not quoted:
            spaces.append(m.start())
    return spaces


def _quoted_printable(data: bytes, personal: Sequence[bytes] = ()) -> bytes:
    """Quoted-printable with CRLF line ends and ``=`` CRLF soft breaks (``data`` has LF ends).

    Paragraph by paragraph: quoted-printable works line by line, most paragraphs of a digest
    recur in every reader's copy, and a cache of encoded ones beats encoding 7 KB each time.
    A paragraph holding one of ``personal`` (the reader's address or links) never recurs: it
    is encoded without the cache, which it would only churn."""
    return b"\r\n\r\n".join(
        _qp_lines(lines) if any(mark in lines for mark in personal) else _qp_cached(lines)
        for lines in data.split(b"\n\n")
    )


def _qp_lines(lines: bytes) -> bytes:
    return binascii.b2a_qp(lines, istext=True).replace(b"\n", b"\r\n")


_qp_cached = functools.lru_cache(maxsize=4096)(_qp_lines)


def _longest_line(data: bytes) -> int:
    return max(map(len, data.split(b"\n")))


def _part_headers(subtype: bytes, cte: bytes) -> bytes:
    return (
        b"Content-Type: text/" + subtype + b'; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: " + cte + b"\r\n\r\n"
    )


def is_plain_address(value: str) -> bool:
    """A short bare dot-atom address, which the stdlib writes on one line as it is (most
    readers'): nothing to fold, quote or encode."""
    return len(value) < 64 and _PLAIN_ADDRESS.fullmatch(value) is not None


def address_header(name: str, value: str) -> bytes:
    """An address header (``To: ada@example.org``, ``From: Name <a@b.example>``) ending CRLF.

    ASCII is folded by the stdlib as it always was; otherwise the display name (if any) is
    RFC 2047-encoded and the address is never: IDNA domain, or raw UTF-8 when the local part
    is not ASCII. The address goes on a line of its own when the first would be too long."""
    if is_plain_address(value):
        return f"{name}: {value}\r\n".encode("ascii")  # what the stdlib folds it to, faster
    if value.isascii():
        return _folded(name, value)
    if _CONTROL.search(value):
        raise ValueError(f"{name} holds a control character: {value!r}")
    display, address = parseaddr(value) if "<" in value else ("", value.strip())
    if not address:
        raise ValueError(f"{name} holds no address: {value!r}")
    address = ascii_address(address) or address
    if not display:
        return f"{name}: {address}\r\n".encode()
    phrase = formataddr((display, "x@x"), charset="utf-8").removesuffix(" <x@x>")
    line = f"{name}: {phrase} <{address}>"
    if len(line.encode()) > 78:
        line = f"{name}: {phrase}\r\n <{address}>"
    return f"{line}\r\n".encode()


def _ascii_value(value: str) -> bytes:
    if _CONTROL.search(value):
        raise ValueError(f"a header value holds a control character: {value!r}")
    return value.encode("ascii")


def _folded(name: str, value: str) -> bytes:
    if _CONTROL.search(value):
        raise ValueError(f"{name} holds a control character: {value!r}")
    header: BaseHeader = SMTP.header_factory(name, value)
    return header.fold(policy=SMTP).encode("ascii")
