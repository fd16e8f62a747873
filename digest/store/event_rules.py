"""What a recorded mail event does to its reader, the same on every backend: each store
says only whether the reader's last editions all bounced this way (``in_a_row``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from digest.models import SUPPRESSED, MailEvent, MailEventKind, Status, Subscriber
from digest.store.protocol import EventEffect
from digest.subscribers import rules


def apply_event(
    sub: Subscriber,
    event: MailEvent,
    in_a_row: Callable[[int], bool],
    limits: tuple[int, int],
    known_digests: Sequence[str],
) -> tuple[Subscriber, EventEffect]:
    """The reader after ``event``, and what changed. A complaint suppresses for good; a
    mailto unsubscribe leaves the digest as the one-click link does; a hard bounce on the
    reader's last ``bounce_limit`` editions sent to them bounces them, soft bounces on the
    last ``soft_limit`` pause them (``in_a_row(limit)`` tells); an auto-reply changes nothing."""
    kind = event.kind
    if kind == MailEventKind.COMPLAINT:
        if sub.status == Status.COMPLAINED:
            return sub, EventEffect()
        return replace(sub, status=Status.COMPLAINED), EventEffect(status=Status.COMPLAINED)
    if kind == MailEventKind.UNSUBSCRIBE:
        left = rules.unsubscribe(sub, event.edition.rpartition("/")[0], known_digests)
        if left == sub:
            return sub, EventEffect()
        status = left.status if left.status != sub.status else None
        return left, EventEffect(status=status, unsubscribed=True)
    if kind == MailEventKind.AUTO_REPLY or sub.status in SUPPRESSED:
        return sub, EventEffect()
    bounce_limit, soft_limit = limits
    if not in_a_row(bounce_limit if kind == MailEventKind.HARD_BOUNCE else soft_limit):
        return sub, EventEffect()
    if kind == MailEventKind.HARD_BOUNCE:
        return replace(sub, status=Status.BOUNCED), EventEffect(status=Status.BOUNCED)
    if sub.paused:
        return sub, EventEffect()
    return replace(sub, paused=True), EventEffect(paused=True)
