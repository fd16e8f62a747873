"""What aiosmtplib does to a message before DATA, without scanning a clean one twice by regex.

``SMTPProtocol.execute_data_command`` first turns every lone CR or LF into CRLF
(``normalize_message_line_endings``, a regex substitution over the whole message), then
doubles each dot that starts a line (``PERIOD_REGEX``, ``(?m)^\\.``: a pattern Python tries at
every offset). On a digest (40-60 KB, over a thousand lines) the two took a third of the
sender's own CPU a message, for nothing: the messages the renderer writes have CRLF line
ends already and almost never a line that starts with a dot.

:func:`install` puts in front of each a check that leaves such a message as it is and hands
every other one to aiosmtplib's own code, so the bytes on the wire are the same for every
input (tests/test_smtp_data.py compares them with aiosmtplib's on hostile ones). The checks
are byte counts and one substring search, a few times faster than the substitutions.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from aiosmtplib import protocol


def lines_already_crlf(message: bytes) -> bool:
    """True if ``message`` has no lone CR or LF and ends with CRLF (then normalising it
    changes nothing): every CR and every LF is part of a CRLF."""
    pairs = message.count(b"\r\n")
    return (
        message.endswith(b"\r\n")
        and message.count(b"\r") == pairs
        and message.count(b"\n") == pairs
    )


def make_normalize(original: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """aiosmtplib's line-ending normalisation, skipped where it would change nothing."""

    def normalize_message_line_endings(message: bytes) -> bytes:
        return message if lines_already_crlf(message) else original(message)

    return normalize_message_line_endings


class PeriodQuoting:
    """Stands in for aiosmtplib's ``PERIOD_REGEX`` (``sub`` is all it is used for): a
    message with no line that starts with a dot is returned as it is."""

    def __init__(self, pattern: re.Pattern[bytes]) -> None:
        self.pattern = pattern

    def sub(self, replacement: bytes, message: bytes) -> bytes:
        if not message.startswith(b".") and b"\n." not in message:
            return message
        return self.pattern.sub(replacement, message)


def install() -> None:
    """Put the checks in front of aiosmtplib's two steps (once; a version of aiosmtplib
    without them is left alone)."""
    normalize = getattr(protocol, "normalize_message_line_endings", None)
    periods = getattr(protocol, "PERIOD_REGEX", None)
    if callable(normalize) and not hasattr(normalize, "__wrapped__"):
        fast = make_normalize(normalize)
        fast.__wrapped__ = normalize  # type: ignore[attr-defined]
        protocol.normalize_message_line_endings = fast  # type: ignore[assignment]
    if isinstance(periods, re.Pattern):
        protocol.PERIOD_REGEX = PeriodQuoting(periods)  # type: ignore[assignment]
