"""Transactional mail: the confirmation a subscribe request sends, and the note an already
confirmed address gets instead (the form answers the same either way: no enumeration).

These go through the digest's own transport (the SMTP relay, or the outbox folder under
``notices/`` when no relay is set), one message at a time, retried on temporary failures.
They carry no List-Unsubscribe headers: they are not list mail (RFC 8058 §3.1 is for
subscriptions), and are marked ``Auto-Submitted: auto-generated``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime, make_msgid, parseaddr

import jinja2

from digest.config import Config
from digest.errors import SendError
from digest.links import PREFERENCES, make_confirm_token, make_token, signing_secret
from digest.models import Email, Subscriber
from digest.render.template import inline_css, render_template, template_env
from digest.send import RetryPolicy
from digest.send.smtp import SmtpPool
from digest.send.transport import OutboxTransport, TemporaryFailure, Transport
from digest.store import Store
from digest.subscribers.rules import Request
from digest.web.notice_mime import Headers, message_bytes, parsed, parsed_message_id

log = logging.getLogger(__name__)

CONFIRM = "confirm"  # "please confirm": a new, pending or returning address
KNOWN = "known"  # "you are already subscribed": a confirmed address asked again
SUBJECTS = {
    CONFIRM: "Confirm your subscription to {site}",
    KNOWN: "You are already subscribed to {site}",
}


@dataclass(frozen=True, slots=True)
class Notice:
    """One transactional message to write: which kind, to whom, with which link."""

    kind: str  # CONFIRM or KNOWN
    subscriber: Subscriber
    link: str  # the confirm page (CONFIRM) or the preferences page (KNOWN)
    expires_hours: float = 48.0


def confirm_url(config: Config, secret: str, sub_id: str) -> str:
    return f"{config.base_url}/confirm/{make_confirm_token(secret, sub_id)}"


def preferences_url(config: Config, secret: str, sub_id: str, digest: str = "") -> str:
    return f"{config.base_url}/preferences/{make_token(secret, PREFERENCES, sub_id, digest)}"


def notice_for(config: Config, secret: str, sub: Subscriber, found: Request) -> Notice | None:
    """The email a subscribe request sends: a confirmation, a note to an address that is
    already subscribed, or nothing (an address that complained)."""
    if found == Request.REFUSED:
        return None
    if found == Request.KNOWN:
        return Notice(KNOWN, sub, preferences_url(config, secret, sub.id))
    link = confirm_url(config, secret, sub.id)
    return Notice(CONFIRM, sub, link, config.web.confirm_hours)


def invite(config: Config, store: Store, sub: Subscriber) -> str:
    """``digest subscribers add --pending``: record the request and send its email now.
    Returns what happened, for the operator."""
    secret = signing_secret(config, real=isinstance(notice_transport(config), SmtpPool))
    now = datetime.now(UTC)
    stored, found = store.request_subscription(
        sub.email, sub.choices, now=now, consent="invited by the operator"
    )
    notice = notice_for(config, secret, stored, found)
    if notice is None:
        return f"{stored.email} complained about our emails earlier; nothing sent"
    built = build_notice(config, notice, now)
    sent = asyncio.run(NoticeSender(config).send(built, stored.id))
    if not sent:
        raise SendError(f"the confirmation email to {stored.email} could not be sent (see above)")
    what = "already subscribed: sent a note" if found == Request.KNOWN else "confirmation sent"
    return f"{stored.email}: {what} ({stored.status.value})"


def site_name(config: Config) -> str:
    """What readers know the service as: the sender's display name, else the first digest."""
    name = parseaddr(config.sender.from_address)[0]
    return name or config.digests[0].title


def build_notice(
    config: Config, notice: Notice, now: datetime, env: jinja2.Environment | None = None
) -> Email:
    """The message for ``notice``: text and HTML alternatives from ``notice-<kind>.*.j2``
    (``env``: the templates, when the caller has them loaded already)."""
    site = site_name(config)
    context = {
        "site": site,
        "email": notice.subscriber.email,
        "link": notice.link,
        "expires_hours": round(notice.expires_hours),
        "postal_address": config.sender.postal_address,
        "base_url": config.base_url,
    }
    env = env or template_env(config)
    text = render_template(env, f"notice-{notice.kind}.txt.j2", context)
    html = inline_css(render_template(env, f"notice-{notice.kind}.html.j2", context))
    headers = Headers(
        from_address=config.sender.from_address,
        to=notice.subscriber.email,
        reply_to=config.sender.reply_to or "",
        subject=SUBJECTS[notice.kind].format(site=site),
        date=format_datetime(now),
        message_id=make_msgid(idstring=notice.kind, domain=config.sender.domain),
    )
    envelope = config.sender.envelope_from or parseaddr(config.sender.from_address)[1]
    return Email(
        recipient=notice.subscriber.email,
        envelope_from=envelope,
        subject=parsed("Subject", headers.subject),
        message_id=parsed_message_id(headers.message_id),
        raw=message_bytes(headers, text, html),
        html_size=len(html.encode()),
        text_size=len(text.encode()),
        paper_ids=(),
    )


def notice_transport(config: Config) -> Transport:
    """The relay with one connection, or ``<outbox>/notices`` when no relay is set."""
    if config.smtp.host:
        return SmtpPool(replace(config.smtp, connections=1))
    return OutboxTransport(config.outbox / "notices")


class NoticeSender:
    """Sends transactional messages; a failure is logged, never raised (the reader's page
    has already been answered, and the same answer is given whatever happens here)."""

    def __init__(
        self,
        config: Config,
        *,
        transport: Callable[[], Transport] | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.config = config
        self._transport = transport or (lambda: notice_transport(config))
        self._policy = policy or RetryPolicy(
            retries=config.smtp.retries, backoff_seconds=config.smtp.retry_backoff
        )

    async def send(self, email: Email, subscriber_id: str = "") -> bool:
        """Deliver ``email``; True when the relay (or the outbox) took it. Logs name the
        reader by ``subscriber_id``, never by address (docs/operations.md, "Logs")."""
        who = f"subscriber {subscriber_id}" if subscriber_id else f"message {email.message_id}"
        for attempt in range(self._policy.retries + 1):
            try:
                reply = await self._deliver_once(email)
            except TemporaryFailure as exc:
                log.warning("notice to %s deferred: %s", who, _without(exc, email.recipient))
                await asyncio.sleep(self._policy.delay(attempt))
                continue
            except Exception as exc:  # the relay refused it, or is not there at all
                log.error("notice to %s not sent: %s", who, _without(exc, email.recipient))
                return False
            log.info("notice to %s sent: %s", who, _without(reply, email.recipient))
            return True
        log.error("notice to %s not sent: still failing after retries", who)
        return False

    async def _deliver_once(self, email: Email) -> str:
        transport = self._transport()
        await transport.open()
        try:
            return await transport.deliver(email)
        finally:
            await transport.close()


def _without(said: object, address: str) -> str:
    """What a relay or the outbox said, with the reader's address taken out of it."""
    return str(said).replace(address, "<reader>")
