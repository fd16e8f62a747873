"""Send: hand rendered emails to an SMTP server (or write them to an outbox folder).

This is the only module that speaks SMTP. Each message goes through the ledger: the delivery
is recorded as ``sending`` before the SMTP transaction and as ``sent``/``failed``/``deferred``/
``unknown`` after it, so a rerun of the same edition sends only what was not sent.

Failures are classified by what they mean for a resend:

    temporary   4xx replies, connection errors before DATA    retried with backoff, then deferred
    permanent   5xx replies for the recipient                 failed (a hard bounce)
    ambiguous   connection lost during DATA                   unknown: never resent automatically
"""

from __future__ import annotations

import aiosmtplib

from digest.config import SmtpConfig
from digest.errors import SendError
from digest.models import Email
from digest.transport import (
    AmbiguousFailure,
    OutboxTransport,
    PermanentFailure,
    TemporaryFailure,
    outbox_path,
)

__all__ = ["OutboxTransport", "outbox_path"]


class SmtpTransport:
    """One reused aiosmtplib connection, opened lazily and reopened after any error."""

    def __init__(self, config: SmtpConfig) -> None:
        if not config.host:
            raise SendError("no SMTP host configured", hint="set DIGEST_SMTP_HOST or smtp.host")
        self.config = config
        self.description = f"SMTP {config.host}:{config.port} ({config.security})"
        self._client: aiosmtplib.SMTP | None = None
        self.concurrency = 1

    async def open(self) -> None:
        cfg = self.config
        client = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            timeout=cfg.timeout,
            use_tls=cfg.security == "tls",
            start_tls=cfg.security == "starttls",
        )
        try:
            await client.connect()
            if cfg.user:
                await client.login(cfg.user, cfg.password or "")
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise SendError(
                f"{self.description} refused the login for {cfg.user!r}: {exc.code} {exc.message}",
                hint="check DIGEST_SMTP_USER/PASSWORD",
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SendError(
                f"cannot connect to {self.description}: {exc}",
                hint="check smtp.host, smtp.port and smtp.security",
            ) from exc
        self._client = client

    async def deliver(self, email: Email) -> str:
        if self._client is None or not self._client.is_connected:
            try:
                await self.open()
            except SendError as exc:
                raise TemporaryFailure(str(exc)) from exc
        assert self._client is not None
        try:
            return await _transaction(self._client, email)
        except (TemporaryFailure, AmbiguousFailure):
            await self.close()
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


async def _transaction(client: aiosmtplib.SMTP, email: Email) -> str:
    """MAIL, RCPT, DATA, each step classified on its own."""
    try:
        await client.mail(email.envelope_from)
        await client.rcpt(email.recipient)
    except aiosmtplib.SMTPResponseException as exc:
        await _reset(client)
        raise _classify(exc.code, exc.message) from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise TemporaryFailure(f"connection failed before DATA: {exc}") from exc
    try:
        response = await client.data(email.raw)
    except aiosmtplib.SMTPResponseException as exc:
        raise _classify(exc.code, exc.message) from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise AmbiguousFailure(f"connection lost during DATA: {exc}") from exc
    return f"{response.code} {response.message}"


async def _reset(client: aiosmtplib.SMTP) -> None:
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


def _classify(code: int, message: str) -> Exception:
    text = f"{code} {message}".strip()
    return PermanentFailure(text) if 500 <= code < 600 else TemporaryFailure(text)
