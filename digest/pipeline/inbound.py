"""Mail that comes back, end to end: classify a message, find the delivery it is about,
record it, and say what each message was (``digest inbound``, the IMAP poll, the webhooks).

A message changes a reader only when it names a message we sent (a token that verifies, or
the original Message-ID found in the ledger): a forged report, or one about a message we
never sent, is reported and changes nothing. Recording is idempotent, so a message read
twice (a folder read again, a file passed twice) counts once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from digest.config import Config
from digest.inbound import Verdict, classify
from digest.links import signing_secret
from digest.models import MailEvent, MailEventKind
from digest.pipeline.inbound_match import (
    Match,
    Tokens,
    by_message_id,
    by_token,
    read_tokens,
    reader_index,
    to_plain_mailto,
)
from digest.store import Store
from digest.store.protocol import EventEffect
from digest.subscribers import address_key

__all__ = [
    "InboundReport",
    "Outcome",
    "apply_events",
    "event_for_message_id",
    "make_event",
    "process_message",
    "reader_index",
    "summary_lines",
]
_ABOUT_DELIVERY = frozenset(
    {MailEventKind.HARD_BOUNCE, MailEventKind.SOFT_BOUNCE, MailEventKind.COMPLAINT}
)


class Outcome(StrEnum):
    """What became of one returned message or event."""

    RECORDED = "recorded"  # a new event about a message we sent: recorded and applied
    DUPLICATE = "duplicate"  # its event id was recorded before: nothing changed
    AUTO_REPLY = "auto-reply"  # vacation, out of office, challenge-response: counted, ignored
    FORGED = "forged"  # a token on our mailbox that does not verify: nothing changed
    UNKNOWN = "unknown"  # names no message we sent (or its reader is gone): nothing changed
    UNCLASSIFIED = "unclassified"  # not recognised: left where it is


@dataclass(frozen=True, slots=True)
class InboundReport:
    """One message (or webhook event) and what it was."""

    source: str
    outcome: Outcome
    event: MailEvent | None = None
    effect: EventEffect | None = None
    reason: str = ""

    @property
    def processed(self) -> bool:
        """Whether it may move to the processed folder (everything but the unclassified)."""
        return self.outcome != Outcome.UNCLASSIFIED


def process_message(
    store: Store,
    config: Config,
    raw: bytes,
    source: str,
    *,
    envelope_to: str | None = None,
    readers: Mapping[str, str] | None = None,
) -> InboundReport:
    """Classify one raw message, find the delivery it is about, record it. For a batch, pass
    ``readers`` (:func:`reader_index`, read once) instead of a store read per message."""
    verdict = classify(raw, envelope_to=envelope_to)
    tokens = read_tokens(config, signing_secret(config, real=False), verdict)
    kind = verdict.kind
    if kind not in _ABOUT_DELIVERY and not tokens.mailto and to_plain_mailto(config, verdict):
        why = "an unsubscribe request without a token: unsubscribe its sender by hand"
        return InboundReport(source, Outcome.UNCLASSIFIED, reason=why)
    if tokens.mailto and kind not in _ABOUT_DELIVERY:
        kind = MailEventKind.UNSUBSCRIBE  # Apple Mail's unsubscribe says Auto-Submitted too
    if kind is None:
        if tokens.forged:
            return InboundReport(source, Outcome.FORGED, reason=tokens.forged)
        return InboundReport(source, Outcome.UNCLASSIFIED, reason=verdict.reason)
    if tokens.forged and not (tokens.verp or tokens.mailto):
        return InboundReport(source, Outcome.FORGED, reason=f"{kind.value}: {tokens.forged}")
    match = _match(store, kind, tokens, verdict, readers)
    if match is None:
        outcome = Outcome.AUTO_REPLY if kind == MailEventKind.AUTO_REPLY else Outcome.UNKNOWN
        return InboundReport(source, outcome, reason=f"{kind.value}: {_unmatched(verdict)}")
    event = make_event(kind, match, verdict, source)
    return apply_events(store, config, [event])[0]


def _match(
    store: Store,
    kind: MailEventKind,
    tokens: Tokens,
    verdict: Verdict,
    readers: Mapping[str, str] | None,
) -> Match | None:
    if kind == MailEventKind.UNSUBSCRIBE:
        return by_token(store, tokens.mailto, "mailto address", readers)
    found = by_token(store, tokens.verp, "return path", readers)
    return found or by_message_id(store, verdict.message_ids)


def _unmatched(verdict: Verdict) -> str:
    if verdict.message_ids:
        return f"names no message we sent (Message-ID {verdict.message_ids[0]})"
    return "names no message we sent (no token of ours, no original Message-ID)"


def make_event(kind: MailEventKind, match: Match, verdict: Verdict, source: str) -> MailEvent:
    """The event: its id is the report's own (Message-ID or hash) and the reader's address,
    its time the report's Date (now when it has none, or one in the future)."""
    now = datetime.now(UTC)
    at = verdict.at if verdict.at is not None and verdict.at <= now else now
    return MailEvent(
        kind=kind,
        email=match.email,
        edition=match.edition,
        event_id=f"{verdict.event_id} {address_key(match.email)}",
        at=at,
        source=source,
        diagnostic=verdict.diagnostic or verdict.reason,
        status=verdict.status,
    )


def apply_events(
    store: Store, config: Config, events: Iterable[MailEvent]
) -> tuple[InboundReport, ...]:
    """Record events already matched to a delivery of ours (by token or Message-ID)."""
    known = [d.name for d in config.digests]
    reports = []
    for event in events:
        effect = store.record_event(
            event,
            bounce_limit=config.smtp.bounce_limit,
            soft_limit=config.inbound.soft_bounce_limit,
            known_digests=known,
        )
        if effect is None:
            outcome = Outcome.DUPLICATE
        elif event.kind == MailEventKind.AUTO_REPLY:
            outcome = Outcome.AUTO_REPLY
        else:
            outcome = Outcome.RECORDED
        reports.append(InboundReport(event.source, outcome, event, effect, event.kind.value))
    return tuple(reports)


def event_for_message_id(
    store: Store,
    kind: MailEventKind,
    message_id: str,
    *,
    event_id: str,
    at: datetime,
    source: str,
    diagnostic: str = "",
    status: str = "",
) -> MailEvent | None:
    """The event about the delivery we sent with ``message_id`` (a provider's webhook names
    it); None when it is no message of ours."""
    found = store.delivery_by_message_id(message_id)
    if found is None:
        return None
    edition, email = found
    return MailEvent(kind, email, edition, event_id, at, source, diagnostic, status)


def summary_lines(reports: Iterable[InboundReport]) -> list[str]:
    """One line per outcome, the recorded ones by kind, then what happened to readers."""
    reports = list(reports)
    by_outcome = Counter(r.outcome for r in reports)
    lines = []
    for outcome in Outcome:
        count = by_outcome.get(outcome, 0)
        if not count:
            continue
        line = f"{count} {outcome.value}"
        if outcome == Outcome.RECORDED:
            kinds = Counter(r.event.kind.value for r in reports if r.event and r.outcome == outcome)
            line += " (" + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ")"
        lines.append(line)
    changes = _changes(r.effect for r in reports if r.effect is not None)
    if changes:
        lines.append("readers: " + ", ".join(f"{n} {what}" for what, n in changes.items()))
    return lines or ["nothing to read"]


def _changes(effects: Iterable[EventEffect]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for effect in effects:
        if effect.status is not None:
            counts[effect.status.value] += 1
        if effect.paused:
            counts["paused"] += 1
        if effect.unsubscribed and effect.status is None:
            counts["left a digest"] += 1
    return dict(sorted(counts.items()))
