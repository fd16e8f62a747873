"""Hostile mail input (issue 18): international addresses make well-formed messages, in the
digests and in the confirmation notices, and reach relays with or without SMTPUTF8."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import SmtpServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_smtp import make_pool, send_in_turn

from digest.config import Config, load_config
from digest.models import Email, Subscriber
from digest.render.mime import make_edition_headers, make_message
from digest.send.transport import PermanentFailure
from digest.web.notices import CONFIRM, Notice, build_notice

NOW = datetime(2025, 11, 27, 9, 30, tzinfo=UTC)
HEADER_LINE = re.compile(rb"[!-9;-~]+:")  # a field name and its colon (RFC 5322 §2.2)
MUST_PARSE = ("Subject", "Date", "Message-ID", "List-Unsubscribe")

LETTERS = st.characters(categories=("Ll", "Lu", "Lo"), min_codepoint=0xA0, max_codepoint=0x2FFF)
ASCII_LOCAL = st.text("abcdefghijklmnopqrstuvwxyz0123456789.-_+", min_size=1, max_size=80)
IDN_LABELS = ("bücher", "münchen", "пример", "例え", "straße", "ελληνικά", "dömäin-name")


@st.composite
def addresses(draw: st.DrawFn) -> str:
    """An address with an IDN domain and a local part of 1..80 characters, ASCII or not."""
    local = draw(st.one_of(ASCII_LOCAL, st.text(LETTERS, min_size=1, max_size=80)))
    local = local.strip(".").replace("..", ".") or "a"
    label = draw(st.sampled_from(IDN_LABELS))
    return f"{local}@{label}.{draw(st.sampled_from(('example', 'org', 'de')))}"


def header_block(raw: bytes) -> list[bytes]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    return head.split(b"\r\n")


def assert_well_formed(raw: bytes, to: str, must: tuple[str, ...]) -> None:
    """Every header line starts a header or continues one; the parser finds them all."""
    for line in header_block(raw):
        assert line[:1] in (b" ", b"\t") or HEADER_LINE.match(line), (line, raw[:600])
    msg = email.message_from_bytes(raw, policy=email.policy.SMTPUTF8)
    for name in must:
        assert msg[name] is not None, (name, raw[:600])
    unfolded = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").replace(b"\r\n\t", b"\t")
    (to_line,) = [line for line in unfolded.split(b"\r\n") if line.startswith(b"To:")]
    assert b"=?" not in to_line  # an address is never RFC 2047-encoded (§5)
    local = to.rpartition("@")[0]
    if local.isascii():
        assert to_line.isascii() and b"@xn--" in to_line  # IDNA: any relay takes it
    else:
        assert local.encode() in to_line  # raw UTF-8 (RFC 6532), for SMTPUTF8 relays


def digest_message(to: str) -> bytes:
    headers = make_edition_headers(
        from_address="Daily Papers <papers@example.org>",
        reply_to=None,
        date=NOW,
        list_name="Daily Papers",
        list_id="daily.example.org",
    )
    return make_message(
        headers,
        to=to,
        subject="Daily Papers — Thu 27 Nov: a paper with a fairly long title, to fold",
        message_id="<daily.2025-11-27.abc@example.org>",
        unsubscribe=("https://x.org/u/tok", "mailto:u@example.org?subject=unsubscribe"),
        text="text\n",
        html=b"<p>html</p>\n",
    )


@settings(max_examples=300, deadline=None)
@given(addresses())
def test_a_digest_to_an_international_address_keeps_its_headers(to: str) -> None:
    assert_well_formed(digest_message(to), to, MUST_PARSE)


@pytest.fixture
def config(config_file: Callable[..., Path]) -> Config:
    """The test config (sender Daily Papers <papers@example.org>)."""
    return load_config(config_file())


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(addresses())
def test_a_notice_to_an_international_address_keeps_its_headers(config: Config, to: str) -> None:
    notice = Notice(CONFIRM, Subscriber(to, "id-1"), "https://papers.example.org/confirm/a.b")
    assert_well_formed(build_notice(config, notice, NOW).raw, to, MUST_PARSE[:3])


@pytest.mark.parametrize(
    ("to", "local"),
    [("ada@bücher.example", "ada"), ("a" * 60 + "@dömäin-name.example", "a" * 60)],
)
def test_the_stdlib_folded_these_into_the_body_before(to: str, local: str) -> None:
    """Two of the fuzzed addresses that broke the header block."""
    raw = digest_message(to)
    assert_well_formed(raw, to, MUST_PARSE)
    assert f"To: {local}@xn--".encode() in raw


# the relay: SMTPUTF8 when offered, IDNA otherwise ------------------------------------------


@pytest.mark.parametrize("smtputf8", [True, False])
def test_an_idn_domain_reaches_a_relay_with_or_without_smtputf8(
    smtp_server: SmtpServer, smtputf8: bool
) -> None:
    smtp_server.script.smtputf8 = smtputf8
    message = build_digest_email("ada@bücher.example")
    (reply,) = asyncio.run(send_in_turn(make_pool(smtp_server), [message]))
    assert isinstance(reply, str), reply
    expected = "ada@bücher.example" if smtputf8 else "ada@xn--bcher-kva.example"
    assert smtp_server.script.recipients == [expected]
    (_, _, content) = smtp_server.script.messages[0]
    assert b"To: ada@xn--bcher-kva.example\r\n" in content


def test_a_non_ascii_local_part_without_smtputf8_fails_that_delivery_only(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.script.smtputf8 = False
    messages = [build_digest_email("jörg@bücher.example"), build_digest_email("jo@example.org")]
    refused, ok = asyncio.run(send_in_turn(make_pool(smtp_server), messages))
    assert isinstance(refused, PermanentFailure) and "needs SMTPUTF8" in str(refused)
    assert isinstance(ok, str) and smtp_server.script.recipients == ["jo@example.org"]


def build_digest_email(to: str) -> Email:
    raw = digest_message(to)
    return Email(to, "bounce@example.org", "s", "<m@example.org>", raw, 0, 4, ("p1",))
