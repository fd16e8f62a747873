"""Pre-flight checks a dry run makes on every rendered message before anything is sent."""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import Message
from html.parser import HTMLParser
from typing import Any

from digest.models import Email

MAX_HTML_BYTES = 100_000  # Gmail clips a message at about 102 KB


def preflight(email: Email) -> tuple[str, ...]:
    """What a dry run checks in each message; returns the checks that failed."""
    msg = message_from_bytes(email.raw)
    parts = [p.get_content_type() for p in msg.walk() if not p.is_multipart()]
    failed = []
    if parts != ["text/plain", "text/html"]:
        failed.append(f"parts {parts}")
    if email.html_size > MAX_HTML_BYTES:
        failed.append(f"html {email.html_size} bytes")
    if not re.search(r"<https?://", str(msg.get("List-Unsubscribe", ""))):
        failed.append("no List-Unsubscribe URL")
    if msg.get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click":
        failed.append("no List-Unsubscribe-Post")
    relative = _relative_links(msg)
    if relative:
        failed.append(f"relative link {relative[0]}")
    return tuple(failed)


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs.extend(v for k, v in attrs if k in ("href", "src") and v)


def _relative_links(msg: Message) -> list[str]:
    parser = _Hrefs()
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            payload: Any = part.get_payload(decode=True)
            parser.feed(payload.decode(part.get_content_charset() or "utf-8"))
    absolute = ("https://", "http://", "mailto:")
    return [h for h in parser.hrefs if not h.startswith(absolute)]
