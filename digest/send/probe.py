"""Probing the relay for ``digest check --smtp``: one connection opened as a send would open
it (EHLO, STARTTLS when configured, AUTH when a user is set), then QUIT. Never MAIL."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

from digest.config import SmtpConfig
from digest.errors import SendError
from digest.send.smtp import SmtpPool


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What :func:`probe` found: the relay answered and, when a user is set, accepted them."""

    where: str  # host:port
    security: str
    user: str | None  # logged in as; None when no user is configured
    greeting: str  # the first line of the server's (last) EHLO reply
    auth_methods: tuple[str, ...]  # what the server offers, e.g. ("plain", "login")


async def probe(config: SmtpConfig, *, tls_context: ssl.SSLContext | None = None) -> ProbeResult:
    """Open one connection as a send would (EHLO, STARTTLS when configured, AUTH when a user
    is set), then QUIT. Never MAIL: nothing is sent. A failure is a SendError saying what
    failed: the name (DNS), the connection, TLS, or the login."""
    pool = SmtpPool(config, tls_context=tls_context)
    try:
        await pool.open()
    except SendError as exc:
        raise _probe_error(pool.where, config, exc) from exc
    client = pool.idle_client()
    try:
        ehlo = client.last_ehlo_response
        greeting = ehlo.message.splitlines()[0] if ehlo and ehlo.message else ""
        methods = tuple(sorted(client.server_auth_methods))
    finally:
        await pool.close()
    where = pool.where.removeprefix("SMTP ")
    return ProbeResult(where, config.security, config.user, greeting, methods)


def _probe_error(where: str, config: SmtpConfig, exc: SendError) -> SendError:
    """Say plainly when the name did not resolve or nothing listens on the port; other
    failures (TLS, login, timeouts) are already said well by :func:`_connect_error`."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, (socket.gaierror, ConnectionRefusedError)):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, socket.gaierror):
        return SendError(
            f"cannot look up the SMTP host {config.host!r} (DNS): {cause.strerror or cause}",
            hint="check smtp.host or DIGEST_SMTP_HOST",
        )
    if isinstance(cause, ConnectionRefusedError):
        return SendError(
            f"{where} refused the connection: nothing listens on port {config.port}",
            hint="check smtp.port (587 for starttls, 465 for tls) and that the relay is running",
        )
    return exc
