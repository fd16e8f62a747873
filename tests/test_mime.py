"""MIME: hand-built messages that the stdlib parser reads back exactly, and no header injection."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.render import mime
from digest.render.mime import (
    EditionHeaders,
    address_header,
    encode_html,
    encode_text,
    fold_html,
    join_lines,
    make_boundary,
    make_edition_headers,
    make_message,
)

NOW = datetime(2024, 6, 11, 7, 30, tzinfo=UTC)
TEXT = "Daily Papers — Tuesday\n\n1.  A paper · 3 upvotes\n-- \nUnsubscribe: https://x.org/u\n"
HTML = b'<!DOCTYPE html><html><body><p class="a">Caf&#233; &amp; more</p>\n</body></html>\n'


def headers(**changes: str | None) -> EditionHeaders:
    values: dict[str, str | None] = {
        "from_address": "Daily Papers <papers@example.org>",
        "reply_to": None,
        "list_name": "Daily Papers",
        "list_id": "daily.example.org",
    }
    values.update(changes)
    return make_edition_headers(date=NOW, **values)  # type: ignore[arg-type]


def message(
    *,
    subject: str = "Daily Papers — Tue 11 Jun: A paper",
    to: str = "reader@example.com",
    text: str = TEXT,
    html: bytes = HTML,
    edition: EditionHeaders | None = None,
) -> bytes:
    return make_message(
        edition or headers(),
        to=to,
        subject=subject,
        message_id="<daily.2024-06-11.abc@example.org>",
        unsubscribe=("https://x.org/u/tok", "mailto:u@example.org?subject=unsubscribe"),
        text=text,
        html=html,
    )


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=default)
    assert isinstance(msg, EmailMessage)
    return msg


def contents(raw: bytes) -> list[str]:
    return [part.get_content().replace("\r\n", "\n") for part in parse(raw).iter_parts()]


def test_the_parser_reads_back_headers_parts_and_bodies() -> None:
    raw = message(edition=headers(reply_to="Editors <editors@example.org>"))
    msg = parse(raw)
    assert msg["From"] == "Daily Papers <papers@example.org>"
    assert msg["To"] == "reader@example.com"
    assert msg["Reply-To"] == "Editors <editors@example.org>"
    assert msg["Subject"] == "Daily Papers — Tue 11 Jun: A paper"
    assert msg["Date"] == "Tue, 11 Jun 2024 07:30:00 +0000"
    assert msg["Message-ID"] == "<daily.2024-06-11.abc@example.org>"
    assert msg["List-Id"] == "Daily Papers <daily.example.org>"
    assert msg["List-Unsubscribe"] == (
        "<https://x.org/u/tok>, <mailto:u@example.org?subject=unsubscribe>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Precedence"] == "bulk"
    assert msg.get_all("MIME-Version") == ["1.0"]
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" and "MIME-Version" not in p for p in parts)
    assert contents(raw) == [TEXT, join_lines(HTML).decode()]
    assert not msg.defects and all(not p.defects for p in parts)


def test_every_line_ends_in_crlf_and_headers_are_ascii() -> None:
    raw = message()
    assert re.search(rb"(?<!\r)\n", raw) is None
    assert b"\r\r" not in raw
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert max(map(len, raw.split(b"\r\n"))) <= 998


def test_the_html_part_goes_as_7bit_and_the_text_as_quoted_printable() -> None:
    parts = list(parse(message()).iter_parts())
    assert parts[0]["Content-Transfer-Encoding"] == "quoted-printable"  # "—" and "·"
    assert parts[1]["Content-Transfer-Encoding"] == "7bit"
    text_part = next(parse(message(text="plain words\n")).iter_parts())
    assert text_part["Content-Transfer-Encoding"] == "7bit"


@pytest.mark.parametrize(
    "text",
    [
        "-- \nsignature with trailing space\n",
        "a=b and =?utf-8?q?x?= and = at the end=\n",
        "é" * 300 + "\n\n\n" + "x" * 200 + "\n",
        "no final newline · ",
        ". a line with a dot\n.\nFrom the start\n",
        "windows\r\nline\rends\n",
    ],
)
def test_the_text_part_decodes_to_what_was_written(text: str) -> None:
    decoded = contents(message(text=text))[0]
    assert decoded == text.replace("\r\n", "\n").replace("\r", "\n")
    assert max(map(len, message(text=text).split(b"\r\n"))) <= 998


def test_a_subject_with_a_line_break_stays_one_header() -> None:
    raw = message(subject="Hello\r\nBcc: x@y.example\r\n\r\n<b>body</b>")
    msg = parse(raw)
    assert "Bcc" not in msg
    assert msg.get_all("Subject") == ["Hello Bcc: x@y.example <b>body</b>"]
    assert contents(raw) == [TEXT, join_lines(HTML).decode()]


def test_a_long_non_ascii_subject_is_encoded_and_folded() -> None:
    subject = "Daily Papers — " + "überlange Betreffzeile mit Umlauten " * 6
    raw = message(subject=subject)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"=?utf-8?" in head
    assert max(map(len, head.split(b"\r\n"))) <= 78
    assert parse(raw)["Subject"] == " ".join(subject.split())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to", "reader@example.com\r\nBcc: x@y.example"),
        ("to", "reader@example.com\x00"),
    ],
)
def test_an_address_holding_a_control_character_is_refused(field: str, value: str) -> None:
    with pytest.raises(ValueError, match="control character"):
        message(**{field: value})  # type: ignore[arg-type]


def test_edition_headers_refuse_control_characters() -> None:
    with pytest.raises(ValueError, match="control character"):
        headers(from_address="Papers <papers@example.org>\r\nBcc: x@y.example")
    with pytest.raises(ValueError, match="control character"):
        headers(list_id="daily.example.org>\r\nBcc: x@y.example")


def test_an_address_is_never_rfc2047_encoded() -> None:
    """RFC 2047 §5: an IDN domain goes in IDNA form, a non-ASCII local part as UTF-8."""
    head = message(to="zoë@example.org").split(b"\r\n\r\n", 1)[0]
    assert head.split(b"\r\n")[1] == "To: zoë@example.org".encode()
    head = message(to="ada@bücher.example").split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"\r\nTo: ada@xn--bcher-kva.example\r\n" in head
    sender = headers(from_address="Zoë Papers <papers@bücher.example>").from_
    assert sender == b"From: =?utf-8?q?Zo=C3=AB_Papers?= <papers@xn--bcher-kva.example>\r\n"


def test_the_boundary_is_reproducible_and_never_in_a_body() -> None:
    assert message() == message()
    first = make_boundary("seed", [])
    assert first.startswith(b"=_") and make_boundary("seed", []) == first
    clash = b"<p>\n--" + first + b"\n</p>\n"
    assert make_boundary("seed", [clash]) != first
    raw = message(html=clash)
    boundary = parse(raw).get_boundary()
    assert boundary is not None and boundary.encode() != first
    assert contents(raw)[1] == clash.decode()


def test_long_html_lines_are_broken_where_a_space_was() -> None:
    words = " ".join(f"word{n}" for n in range(400))
    html = f'<p class="x" title="a value with spaces inside">{words}</p>\n'.encode()
    cte, body = encode_html(html)
    assert cte == b"7bit"
    lines = body.split(b"\r\n")
    assert max(map(len, lines)) <= 990
    assert body.replace(b"\r\n", b" ").rstrip() == html.rstrip()  # only spaces became breaks


def test_folding_never_breaks_a_quoted_value_a_comment_or_a_style() -> None:
    value = " ".join(["v"] * 600)
    html = f'<a title="{value}" href="x">y</a>\n'.encode()
    assert fold_html(html) is None  # the only spaces are inside the quotes
    assert fold_html(f"<!-- {value} -->\n".encode()) is None
    assert fold_html(f"<style>{value}</style>\n".encode()) is None
    between = "<td " + " ".join(f'a{n}="1"' for n in range(200)) + ">x</td>\n"
    folded = fold_html(between.encode())
    assert folded is not None
    assert max(map(len, folded.split(b"\n"))) <= 990
    assert folded.replace(b"\n", b" ") == between.encode().replace(b"\n", b" ")


def test_html_that_cannot_be_folded_goes_quoted_printable_and_decodes_back() -> None:
    html = b'<a href="https://x.org/' + b"a" * 2_000 + b'">link</a>\n'
    cte, _ = encode_html(html)
    assert cte == b"quoted-printable"
    assert contents(message(html=html))[1] == html.decode()


def test_non_ascii_html_is_never_sent_as_7bit() -> None:
    cte, _ = encode_html("<p>café</p>\n".encode())
    assert cte == b"quoted-printable"
    assert encode_text("ascii only\n")[0] == b"7bit"


def test_short_lines_between_tags_are_joined_and_nothing_else_changes() -> None:
    html = b"<table>\n<tr><td>a</td></tr>\n<tr><td>b\nc</td></tr>\n</table>\n"
    assert join_lines(html) == b"<table> <tr><td>a</td></tr> <tr><td>b\nc</td></tr> </table>\n"
    assert join_lines(html, limit=30) == (
        b"<table> <tr><td>a</td></tr>\n<tr><td>b\nc</td></tr> </table>\n"
    )
    pre = b"<pre>\n<b>x</b>\n</pre>\n"
    assert join_lines(pre) == pre  # whitespace there is content


def test_a_rendered_html_part_goes_out_in_few_long_lines() -> None:
    rows = b"".join(b"<tr><td>row %d</td></tr>\n" % n for n in range(300))
    _, body = encode_html(b"<table>\n" + rows + b"</table>\n")
    lines = body.split(b"\r\n")
    assert len(lines) < 15 and max(map(len, lines)) <= 990


_atoms = st.text(alphabet="abcXYZ019_+-", min_size=1, max_size=20)


@given(st.lists(_atoms, min_size=1, max_size=3), st.lists(_atoms, min_size=2, max_size=4))
def test_a_plain_address_header_is_what_the_stdlib_folds(
    local: list[str], domain: list[str]
) -> None:
    value = ".".join(local) + "@" + ".".join(domain)
    assert address_header("To", value) == mime._folded("To", value)
