"""The web app's defences: CSRF tokens on forms, rate limits, and response headers.

CSRF is the signed double-submit pattern: a random value in an HttpOnly, SameSite=Lax
cookie, and the same value signed with ``DIGEST_SECRET`` in each form. Another site can
make a browser post a form, but cannot read the cookie to forge the field. The one-click
unsubscribe POST is exempt by design (RFC 8058: mailbox providers post it cross-site with
no cookies); the signed token in its URL is what authorises it.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from itsdangerous import BadSignature, Signer
from starlette.datastructures import FormData, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "digest_csrf"
CSRF_FIELD = "csrf_token"

#: Sent with every response. Pages load their CSS and script from this site only (no
#: inline code), and never send a Referer: page URLs carry the readers' signed tokens.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}


class Csrf:
    """Issues and checks the form tokens."""

    def __init__(self, secret: str, *, secure_cookie: bool) -> None:
        self._signer = Signer(secret, salt="csrf")
        self._secure = secure_cookie

    def form_token(self, request: Request) -> tuple[str, str | None]:
        """The value for the form's hidden field, and a cookie value to set when the browser
        has none yet."""
        current = request.cookies.get(CSRF_COOKIE)
        value = current if current and len(current) == 32 else secrets.token_hex(16)
        return self._signer.sign(value).decode(), None if value == current else value

    def check(self, request: Request, form: FormData) -> bool:
        cookie = request.cookies.get(CSRF_COOKIE)
        field = form.get(CSRF_FIELD)
        if not cookie or not isinstance(field, str):
            return False
        try:
            return self._signer.unsign(field).decode() == cookie
        except BadSignature:
            return False

    def set_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(
            CSRF_COOKIE, value, httponly=True, samesite="lax", secure=self._secure, path="/"
        )


class SlidingWindow:
    """At most ``limit`` events per key in any ``window`` seconds. Memory is bounded: past
    ``max_keys`` keys, the least recently seen key is forgotten."""

    def __init__(
        self,
        limit: int,
        window: float = 3600.0,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str) -> bool:
        """Count one event for ``key``; False (and not counted) when over the limit."""
        now = self._clock()
        events = self._events.pop(key, None) or deque()
        while events and events[0] <= now - self.window:
            events.popleft()
        allowed = len(events) < self.limit
        if allowed:
            events.append(now)
        self._events[key] = events
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)
        return allowed


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def client_address(request: Request) -> str:
    """The client's address (uvicorn has already applied a trusted proxy's X-Forwarded-For)."""
    return request.client.host if request.client else "unknown"


class RedactTokens(logging.Filter):
    """Hides the signed tokens in logged paths (``/unsubscribe/<token>`` → ``/unsubscribe/…``):
    anyone reading the access log could otherwise change those readers' subscriptions."""

    _TOKEN = re.compile(r"/(confirm|unsubscribe|preferences)/[^/?\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._TOKEN.sub(r"/\1/…", a) if isinstance(a, str) else a for a in record.args
            )
        record.msg = self._TOKEN.sub(r"/\1/…", str(record.msg))
        return True
