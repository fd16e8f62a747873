"""The dry run's pre-flight checks catch what would hurt a real send."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from digest.models import Email
from digest.send.preflight import preflight


def message(
    html: str = '<a href="https://x.example/p">p</a>',
    unsubscribe: str | None = "<https://x.example/u/t>",
    post: str | None = "List-Unsubscribe=One-Click",
    with_text: bool = True,
    html_size: int = 1000,
) -> Email:
    msg = EmailMessage()
    msg["To"] = "a@example.org"
    if unsubscribe:
        msg["List-Unsubscribe"] = unsubscribe
    if post:
        msg["List-Unsubscribe-Post"] = post
    if with_text:
        msg.set_content("text")
        msg.add_alternative(html, subtype="html")
    else:
        msg.set_content(html, subtype="html")
    return Email("a@example.org", "b@example.org", "s", "<m@x>", msg.as_bytes(), html_size, 4, ())


def test_a_good_message_passes() -> None:
    assert preflight(message()) == ()


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        (message(with_text=False), "parts ['text/html']"),
        (message(html_size=150_000), "html 150000 bytes"),
        (message(unsubscribe="<mailto:u@x.example>"), "no List-Unsubscribe URL"),
        (message(unsubscribe=None), "no List-Unsubscribe URL"),
        (message(post=None), "no List-Unsubscribe-Post"),
        (message(html='<a href="/papers/1">p</a>'), "relative link /papers/1"),
    ],
)
def test_each_problem_is_named(email: Email, expected: str) -> None:
    assert expected in preflight(email)
