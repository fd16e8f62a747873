"""The confirmation's bytes written directly (digest.web.notice_mime) are the bytes the
standard library's email package writes for the same message, for any address, link, name
and text: the fast way changes nothing a reader receives."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from digest.web.notice_mime import Headers, message_bytes, parsed_message_id, stdlib_bytes

BOUNDARY = "===============1234567890123456789=="
NOW = datetime(2025, 11, 27, 9, 30, tzinfo=UTC)

local = st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,60}", fullmatch=True)
domain = st.sampled_from(["example.org", "mail.example.co.uk", "bücher.example", "x" * 50 + ".org"])
address = st.one_of(
    st.builds("{}@{}".format, local, domain),
    st.sampled_from(["zoë@example.org", "o'neil&co@example.org", "ann@[127.0.0.1]"]),
)
words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=60)
body = st.lists(
    st.one_of(words, st.text(st.sampled_from("ab= .\t<>é"), min_size=70, max_size=200)),
    max_size=30,
).map("\n".join)


def writable(from_address: str) -> bool:
    """Whether the email package can write this From at all (". <a@b>" crashes it)."""
    try:
        SMTP.fold_binary("From", SMTP.header_store_parse("From", from_address)[1])
    except Exception:
        return False
    return True


def headers(
    to: str, name: str = "Daily Papers", reply_to: str = "", domain: str = "example.org"
) -> Headers:
    return Headers(
        from_address=f"{name} <papers@example.org>",
        to=to,
        reply_to=reply_to,
        subject=f"Confirm your subscription to {name}",
        date=format_datetime(NOW),
        message_id=make_msgid(idstring="confirm", domain=domain),
    )


@settings(max_examples=300, deadline=None)
@given(
    to=address,
    name=st.one_of(st.just("Daily Papers"), words),
    reply_to=st.sampled_from(["", "help@example.org", "Ünïcode Desk <desk@example.org>"]),
    text=body,
    html=body,
)
def test_the_written_message_is_the_stdlib_message(
    to: str, name: str, reply_to: str, text: str, html: str
) -> None:
    head = headers(to, name.replace("\n", " "), reply_to)
    assume(writable(head.from_address))  # the config refuses the others (test_config)
    assert message_bytes(head, text, html, BOUNDARY) == stdlib_bytes(head, text, html, BOUNDARY)


def test_a_message_id_reads_as_the_stdlib_reads_it() -> None:
    for domain in ("example.org", "mail.example.co.uk", "bücher.example"):
        head = headers("ann@example.org", domain=domain)
        msg = EmailMessage(policy=email.policy.SMTP)
        msg["Message-ID"] = head.message_id
        assert parsed_message_id(head.message_id) == str(msg["Message-ID"])


def test_a_long_header_is_left_to_the_stdlib() -> None:
    """A To line past 78 characters goes to the stdlib (the fast way does not fold)."""
    head = headers("a" * 70 + "@example.org")
    raw = message_bytes(head, "hi", "<p>hi</p>", BOUNDARY)
    assert raw == stdlib_bytes(head, "hi", "<p>hi</p>", BOUNDARY)
    assert email.message_from_bytes(raw, policy=email.policy.default)["To"] == head.to


def test_a_boundary_is_shaped_as_the_stdlibs_and_never_one_the_parts_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from email.generator import Generator

    from digest.web import notice_mime

    theirs = Generator._make_boundary()  # type: ignore[attr-defined]
    ours = notice_mime._boundary("any text")
    assert re.fullmatch(r"={15}\d{19}==", ours) and re.fullmatch(r"={15}\d{19}==", theirs)
    monkeypatch.setattr(notice_mime.random, "randrange", lambda _: 42)
    held = f"text\n--{'=' * 15}{42:019d}==\nmore"
    assert notice_mime._boundary(held) == ""
    head = headers("ada@example.org")
    # the stdlib writes that message (drawing the same boundary), not this module
    assert message_bytes(head, held, "<p>hi</p>") == stdlib_bytes(head, held, "<p>hi</p>")
