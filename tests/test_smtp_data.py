"""The DATA fast path: what goes on the wire is what aiosmtplib's own code would send."""

from __future__ import annotations

import re

import hypothesis.strategies as st
from aiosmtplib import protocol
from hypothesis import given

from digest.send import smtp_data

ORIGINAL_NORMALIZE = getattr(
    protocol.normalize_message_line_endings,
    "__wrapped__",
    protocol.normalize_message_line_endings,
)
_PERIODS = protocol.PERIOD_REGEX
ORIGINAL_PERIODS: re.Pattern[bytes] = (
    _PERIODS.pattern if isinstance(_PERIODS, smtp_data.PeriodQuoting) else _PERIODS
)

# Messages made of the bytes that matter (CR, LF, the dot) and a filler.
messages = st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"x", b"\r\n."])).map(b"".join)


def wire(message: bytes, normalize, periods) -> bytes:  # type: ignore[no-untyped-def]
    """What ``execute_data_command`` sends for ``message`` (before the final dot)."""
    return periods.sub(b"..", normalize(message))


@given(messages)
def test_any_message_goes_out_as_aiosmtplib_would_send_it(message: bytes) -> None:
    fast = smtp_data.make_normalize(ORIGINAL_NORMALIZE)
    quoting = smtp_data.PeriodQuoting(ORIGINAL_PERIODS)
    assert wire(message, fast, quoting) == wire(message, ORIGINAL_NORMALIZE, ORIGINAL_PERIODS)


def test_a_clean_message_is_not_copied_and_a_dirty_one_is_fixed() -> None:
    fast = smtp_data.make_normalize(ORIGINAL_NORMALIZE)
    clean = b"Subject: hi\r\n\r\nbody\r\n"
    assert fast(clean) is clean
    assert fast(b"a\nb\rc") == b"a\r\nb\r\nc\r\n"
    assert fast(b"a") == b"a\r\n"  # the final CRLF is added
    quoting = smtp_data.PeriodQuoting(ORIGINAL_PERIODS)
    assert quoting.sub(b"..", clean) is clean
    assert quoting.sub(b"..", b".a\r\nb\r\n.c\r\n") == b"..a\r\nb\r\n..c\r\n"
    assert quoting.sub(b"..", b"a\r.b") == b"a\r.b"  # a dot after a lone CR starts no line


def test_installed_once_when_the_smtp_pool_is_imported() -> None:
    import digest.send.smtp  # noqa: F401  (installs it)

    assert protocol.normalize_message_line_endings.__wrapped__ is ORIGINAL_NORMALIZE  # type: ignore[attr-defined]
    assert isinstance(protocol.PERIOD_REGEX, smtp_data.PeriodQuoting)
    smtp_data.install()  # a second time changes nothing
    assert protocol.normalize_message_line_endings.__wrapped__ is ORIGINAL_NORMALIZE  # type: ignore[attr-defined]
    assert isinstance(protocol.PERIOD_REGEX.pattern, re.Pattern)  # not wrapped twice
