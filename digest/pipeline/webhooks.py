"""Provider events → the deliveries they are about → recorded (``digest serve``'s webhooks).

A :class:`~digest.inbound.providers.ProviderEvent` counts only when it names a message we
sent: the original Message-ID the payload carries, found in a ledger
(``store.delivery_by_message_id``), or the VERP return path we gave that message, whose
signed token names the reader and the edition. The address the provider reports is never
enough on its own, so a forged or stray event changes nothing; it is reported as unknown.
Matched events go through :func:`digest.pipeline.inbound.apply_events`, which records each
once (``event_id``) and applies it to the reader.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from digest.config import Config
from digest.errors import InputError
from digest.inbound.providers import ProviderEvent
from digest.links import VERP, address_token, read_mail_token
from digest.models import MailEvent
from digest.pipeline.inbound import apply_events, event_for_message_id
from digest.store import Store

log = logging.getLogger("digest.webhooks")


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """What one call did: counts by outcome (recorded, duplicate, auto-reply, unknown)."""

    provider: str
    counts: dict[str, int]

    def as_json(self) -> dict[str, object]:
        return {"provider": self.provider, **self.counts}


def record_provider_events(
    store: Store, config: Config, secret: str, provider: str, events: Sequence[ProviderEvent]
) -> WebhookResult:
    """Matches each event to a delivery of ours and records the ones that match."""
    matched, unknown = [], 0
    for event in events:
        found = match_event(store, config, secret, provider, event)
        if found is None:
            unknown += 1
            log.warning(
                "webhook.unknown",
                extra={
                    "fields": {"provider": provider, "event": event.event_id, "kind": event.kind}
                },
            )
        else:
            matched.append(found)
    counts = Counter(report.outcome.value for report in apply_events(store, config, matched))
    if unknown:
        counts["unknown"] += unknown
    result = WebhookResult(provider, dict(sorted(counts.items())))
    log.info("webhook.handled", extra={"fields": {"provider": provider, **result.counts}})
    return result


def match_event(
    store: Store, config: Config, secret: str, provider: str, event: ProviderEvent
) -> MailEvent | None:
    """The MailEvent for the delivery ``event`` is about, or None when it names none of ours."""
    for message_id in event.message_ids:
        found = event_for_message_id(
            store,
            event.kind,
            message_id,
            event_id=event.event_id,
            at=event.at,
            source=provider,
            diagnostic=event.diagnostic,
            status=event.status,
        )
        if found is not None:
            return found
    for edition, email in _verp_deliveries(store, config, secret, event.senders):
        return MailEvent(
            kind=event.kind,
            email=email,
            edition=edition,
            event_id=event.event_id,
            at=event.at,
            source=provider,
            diagnostic=event.diagnostic,
            status=event.status,
        )
    return None


def _verp_deliveries(
    store: Store, config: Config, secret: str, senders: Iterable[str]
) -> Iterable[tuple[str, str]]:
    """(edition, email) for each envelope sender that carries a valid VERP token of ours."""
    digests = [d.name for d in config.digests]
    for sender in senders:
        token = address_token(sender)
        if token is None:
            continue
        try:
            sub_id, edition = read_mail_token(secret, VERP, token, digests)
        except InputError:
            log.warning("webhook.forged_token", extra={"fields": {"sender_token": token[:12]}})
            continue
        subscriber = store.get_subscriber_by_id(sub_id)
        if subscriber is not None:
            yield edition, subscriber.email
