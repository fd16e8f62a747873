"""What a run's composed items become: the emails to deliver (with readers settled without
one tallied aside), and the note that says why a run sent nothing or stopped early."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from digest.models import Delivery, DeliveryStatus, Email
from digest.pipeline.collect import Collected
from digest.pipeline.compose import ALREADY_DELIVERED
from digest.send import Outcome
from digest.send.preflight import preflight
from digest.send.tally import Tally
from digest.store.protocol import NO_NEW_PAPERS

if TYPE_CHECKING:
    from digest.pipeline import SendRequest

STOPPED = "left for the next run: shutting down"


class Progress(Protocol):
    """Hears how a send advances (the CLI's progress bar)."""

    def start(self, total: int | None) -> None: ...  # None: not known before the end

    def update(self, delivery: Delivery) -> None: ...


@dataclass(frozen=True, slots=True)
class DryRunRow:
    """What a dry run shows of one message: the pre-flight checks that failed, if any."""

    recipient: str
    subject: str
    papers: int
    size: int
    failed: tuple[str, ...]

    @classmethod
    def of(cls, email: Email) -> DryRunRow:
        return cls(
            email.recipient, email.subject, len(email.paper_ids), len(email.raw), preflight(email)
        )


class Stream:
    """The composed items of a run as the emails to deliver: readers settled without an
    email (already sent, nothing new) are tallied aside, and a dry run checks each message."""

    def __init__(
        self, items: Iterable[Email | Delivery], progress: Progress | None, request: SendRequest
    ) -> None:
        self.items, self.progress, self.check = items, progress, request.dry_run
        self.stop = request.stop
        self.settled = Tally()
        self.already = 0  # of the settled, those this edition reached in an earlier run
        self.checks: list[DryRunRow] = []
        self.stopped = False  # the stop came before every reader was composed

    def __iter__(self) -> Iterator[Email]:
        for item in self.items:
            if self.stop is not None and self.stop.is_set():
                self.stopped = True
                return
            if isinstance(item, Email):
                if self.check:
                    self.checks.append(DryRunRow.of(item))
                yield item
                continue
            self.settled.add(item)
            self.already += item.reason == ALREADY_DELIVERED
            if self.progress is not None:
                self.progress.update(item)


def run_note(
    collected: Collected,
    due: int,
    stream: Stream,
    delivered: Outcome,
    *,
    waiting: bool = False,
) -> str:
    """Why a run sent nothing or stopped early (empty when it sent to everyone it could)."""
    if stream.stopped or delivered.skipped[STOPPED]:
        done = delivered.tally.counts[DeliveryStatus.SENT]
        return f"stopped by shutdown after {done} sent: the rest go out on the next run"
    settled = stream.settled
    if not collected.papers:
        failed = [s.name for s in collected.sources if not s.ok]
        return f"no papers: sources failed ({', '.join(failed)})" if failed else NO_NEW_PAPERS
    if not due and waiting:  # a scheduled run: readers elsewhere get it at their own hour
        return "made; no reader's local time has come yet"
    if not due:
        return "no confirmed subscribers for this digest"
    if delivered.tally.total:
        return ""
    unknown = settled.counts[DeliveryStatus.UNKNOWN]
    if stream.already + unknown == settled.total:
        maybe = f" ({unknown} maybe: see --retry-unknown)" if unknown else ""
        return "every subscriber already got this edition" + maybe
    return "nothing new for any subscriber"
