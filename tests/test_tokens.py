"""Signed link tokens: they read back, and a forged or misused one is refused."""

from __future__ import annotations

import pytest

from digest.errors import InputError
from digest.links import PREFERENCES, UNSUBSCRIBE, make_token, read_token


def test_token_reads_back_without_carrying_the_address() -> None:
    token = make_token("s3cret", UNSUBSCRIBE, "ab12", "daily")
    assert read_token("s3cret", UNSUBSCRIBE, token) == ("ab12", "daily")
    assert "@" not in token


@pytest.mark.parametrize(
    ("secret", "purpose", "alter"),
    [
        ("other", UNSUBSCRIBE, lambda t: t),  # signed with another secret
        ("s3cret", PREFERENCES, lambda t: t),  # minted for another purpose
        ("s3cret", UNSUBSCRIBE, lambda t: t[:-1] + ("A" if t[-1] != "A" else "B")),
    ],
)
def test_forged_or_misused_token_is_refused(secret: str, purpose: str, alter: object) -> None:
    token = alter(make_token("s3cret", UNSUBSCRIBE, "ab12", "daily"))  # type: ignore[operator]
    with pytest.raises(InputError, match="link is not valid"):
        read_token(secret, purpose, token)
