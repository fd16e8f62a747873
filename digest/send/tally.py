"""What a run's deliveries came to, in memory that does not grow with the list.

A send to a million readers must not hold a million :class:`~digest.models.Delivery`
records to print one summary line. A :class:`Tally` counts every delivery by status and
keeps only what a report lists: every delivery of a short run (:data:`SHORT_RUN`, the run
report's table shows them all), and of a longer one those not sent, at most :data:`KEPT` of
each status (the failed, deferred and unknown that the table lists, the skipped whose reasons
the run record keeps); the rest are counted, and the report says how many it left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from digest.models import Delivery, DeliveryStatus

#: A run of at most this many deliveries keeps (and its report lists) every one of them.
SHORT_RUN = 20
#: A longer run keeps at most this many deliveries of each status but ``sent``.
KEPT = 1000


class Tally:
    """Deliveries counted by status, a bounded sample kept (see the module's docstring), and
    the replies of the failed ones (two distinct replies at most: enough to tell whether the
    relay refused every message alike)."""

    def __init__(self, keep: int = KEPT) -> None:
        self.counts: Counter[DeliveryStatus] = Counter()
        self.kept: list[Delivery] = []
        self.keep = keep
        self.replies: set[str] = set()  # failed deliveries' replies, the address made <reader>

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def left_out(self) -> int:
        """Deliveries counted but not kept."""
        return self.total - len(self.kept)

    def add(self, delivery: Delivery) -> None:
        status = delivery.status
        self.counts[status] += 1
        if status == DeliveryStatus.FAILED and len(self.replies) < 2:
            # relays quote the recipient ("554 5.7.1 <ada@…>: Relay access denied")
            self.replies.add(delivery.reason.replace(delivery.email, "<reader>"))
        total = self.total
        if total <= SHORT_RUN:
            self.kept.append(delivery)
            return
        if total == SHORT_RUN + 1:  # no longer a short run: the sent are only counted
            self.kept = [d for d in self.kept if d.status != DeliveryStatus.SENT]
        if status != DeliveryStatus.SENT and self.counts[status] <= self.keep:
            self.kept.append(delivery)

    def extend(self, deliveries: Iterable[Delivery]) -> None:
        for delivery in deliveries:
            self.add(delivery)

    def __add__(self, other: Tally) -> Tally:
        """Both tallies as one (``self``'s kept deliveries first), kept as if counted
        together."""
        both = Tally(max(self.keep, other.keep))
        both.counts = self.counts + other.counts
        both.replies = set(sorted(self.replies | other.replies)[:2])
        kept = [*self.kept, *other.kept]
        if both.total > SHORT_RUN:
            seen: Counter[DeliveryStatus] = Counter()
            kept = [d for d in kept if d.status != DeliveryStatus.SENT]
            kept = [d for d in kept if _within(seen, d.status, both.keep)]
        both.kept = kept
        return both

    def refusal(self) -> str | None:
        """The one reply with which the relay refused every message (two at least, none
        skipped aside): a misconfigured relay, not readers whose addresses bounced."""
        attempted = self.total - self.counts[DeliveryStatus.SKIPPED]
        failed = self.counts[DeliveryStatus.FAILED]
        if attempted < 2 or failed != attempted or len(self.replies) != 1:
            return None
        return next(iter(self.replies))


def _within(seen: Counter[DeliveryStatus], status: DeliveryStatus, keep: int) -> bool:
    seen[status] += 1
    return seen[status] <= keep
