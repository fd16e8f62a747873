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

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import aiosmtplib

from digest.config import SmtpConfig
from digest.errors import SendError
from digest.models import Delivery, DeliveryStatus, Email
from digest.transport import (
    AmbiguousFailure,
    OutboxTransport,
    PermanentFailure,
    TemporaryFailure,
    Transport,
    outbox_path,
)

__all__ = ["OutboxTransport", "outbox_path"]


class Ledger(Protocol):
    def claim_delivery(
        self, edition: str, email: str, message_id: str, paper_ids: tuple[str, ...]
    ) -> Delivery | None: ...

    def finish_delivery(
        self, edition: str, email: str, status: DeliveryStatus, reason: str = ""
    ) -> None: ...


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


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 3
    backoff_seconds: float = 1.0


async def deliver_all(
    edition: str,
    emails: Sequence[Email],
    transport: Transport,
    ledger: Ledger | None,
    policy: RetryPolicy = RetryPolicy(),
) -> tuple[Delivery, ...]:
    """Send each email once. Without a ledger (a ``--to`` test send) nothing is recorded."""
    results: list[Delivery] = []
    await transport.open()
    try:
        for email in emails:
            results.append(await _deliver_one(edition, email, transport, ledger, policy))
    finally:
        await transport.close()
    return tuple(results)


async def _deliver_one(
    edition: str, email: Email, transport: Transport, ledger: Ledger | None, policy: RetryPolicy
) -> Delivery:
    if ledger is not None:
        earlier = ledger.claim_delivery(edition, email.recipient, email.message_id, email.paper_ids)
        if earlier is not None:
            return _settle_earlier(earlier, ledger)
    status, reason = await _attempt(email, transport, policy)
    if ledger is not None:
        ledger.finish_delivery(edition, email.recipient, status, reason)
    return Delivery(edition, email.recipient, status, email.message_id, reason, datetime.now(UTC))


def _settle_earlier(earlier: Delivery, ledger: Ledger) -> Delivery:
    """What to report for a delivery an earlier run already made (or left in flight)."""
    if earlier.status == DeliveryStatus.SENDING:
        reason = "an earlier run stopped during this delivery; not resent (see --retry-unknown)"
        ledger.finish_delivery(earlier.edition, earlier.email, DeliveryStatus.UNKNOWN, reason)
        return Delivery(
            earlier.edition, earlier.email, DeliveryStatus.UNKNOWN, earlier.message_id, reason
        )
    reason = f"already {earlier.status.value} in an earlier run"
    if earlier.reason and earlier.status != DeliveryStatus.SENT:
        reason += f": {earlier.reason}"
    return Delivery(
        earlier.edition, earlier.email, DeliveryStatus.SKIPPED, earlier.message_id, reason
    )


async def _attempt(
    email: Email, transport: Transport, policy: RetryPolicy
) -> tuple[DeliveryStatus, str]:
    for attempt in range(policy.retries + 1):
        try:
            return DeliveryStatus.SENT, await transport.deliver(email)
        except PermanentFailure as exc:
            return DeliveryStatus.FAILED, str(exc)
        except AmbiguousFailure as exc:
            return DeliveryStatus.UNKNOWN, str(exc)
        except TemporaryFailure as exc:
            if attempt == policy.retries:
                return DeliveryStatus.DEFERRED, f"{exc} (after {attempt + 1} attempts)"
            await asyncio.sleep(policy.backoff_seconds * 2**attempt)
    raise AssertionError("unreachable")
