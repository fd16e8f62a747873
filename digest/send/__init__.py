"""Deliver: hand each composed email to a transport exactly once, through the ledger.

Emails arrive lazily (each is ranked and rendered as it is taken), so memory stays flat at
any number of subscribers: a bounded queue feeds ``transport.concurrency`` workers, and the
producer waits whenever the senders are behind. Per delivery:

1. check the address is not suppressed *now* (an unsubscribe during the run counts);
2. record ``sending`` durably (ledger journal), then run the SMTP transaction;
3. record the outcome durably: ``sent``, ``failed`` (5xx: a hard bounce unless it was a
   policy refusal), ``unknown`` (the connection dropped during DATA: maybe delivered, never
   resent automatically) or ``deferred`` (a temporary failure: retried here with
   exponential backoff and jitter, the same Message-ID each time, and by the next run).
   When the worker has another delivery waiting, the outcome is written in one go with that
   delivery's ``sending`` (step 2 of the next): one durable write per delivery, not two.

A killed run leaves ``sending`` records that the next run reports as ``unknown``. What the
run did is tallied (:mod:`digest.send.tally`), not kept delivery by delivery.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from digest.errors import StoreError
from digest.models import Delivery, DeliveryStatus, Email, Ledger
from digest.send.tally import Tally
from digest.send.transport import AmbiguousFailure, PermanentFailure, TemporaryFailure, Transport


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 3  # attempts after the first
    backoff_seconds: float = 2.0  # before the first retry; doubled for each next one
    jitter: float = 0.5  # each wait is scaled by a random factor in [1 - jitter, 1 + jitter]

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0 = the first)."""
        scale = 1 + self.jitter * (2 * random.random() - 1)
        return self.backoff_seconds * 2.0**attempt * scale


@dataclass(slots=True)
class Outcome:
    """What a delivery run did, in memory that does not grow with the list (unless asked to
    keep the addresses sent): its deliveries tallied, in the order they finished."""

    tally: Tally = field(default_factory=Tally)
    skipped: Counter[str] = field(default_factory=Counter)  # by reason (``skip_reason``'s few)
    bounced: list[str] = field(default_factory=list)  # addresses that hard-bounced
    sent: list[str] = field(default_factory=list)  # addresses sent, when ``keep_sent``
    keep_sent: bool = True

    def add(self, delivery: Delivery) -> None:
        self.tally.add(delivery)
        if delivery.status == DeliveryStatus.SKIPPED:
            self.skipped[delivery.reason] += 1
        elif delivery.status == DeliveryStatus.SENT and self.keep_sent:
            self.sent.append(delivery.email)


@dataclass(frozen=True, slots=True)
class _Job:
    email: Email
    attempt: int = 0

    def claim(self) -> tuple[str, str, tuple[str, ...]]:
        """What :meth:`Ledger.claim` records for it."""
        return self.email.recipient, self.email.message_id, self.email.paper_ids


@dataclass(frozen=True, slots=True)
class _Finished:
    """What became of a job's attempt; ``wait``: seconds before it is retried (if it is)."""

    job: _Job
    status: DeliveryStatus
    reason: str
    bounce: bool
    wait: float = 0.0

    def outcome(self) -> tuple[str, DeliveryStatus, str]:
        """What :meth:`Ledger.finish` records for it (with ``bounce``)."""
        return self.job.email.recipient, self.status, self.reason


#: Seconds that deliveries in flight get to finish after a stop (SIGTERM) or a failure.
STOP_GRACE_SECONDS = 5.0

NoSkip: Callable[[str], str | None] = lambda address: None  # noqa: E731


async def deliver_all(
    emails: Iterable[Email],
    transport: Transport,
    *,
    edition: str,
    ledger: Ledger | None,
    policy: RetryPolicy = RetryPolicy(),
    skip_reason: Callable[[str], str | None] = NoSkip,
    progress: Callable[[Delivery], None] | None = None,
    stop: threading.Event | None = None,
    grace: float = STOP_GRACE_SECONDS,
    keep_sent: bool = True,
) -> Outcome:
    """Send every email once. Without a ledger (a dry run or ``--to``) nothing is recorded.

    ``skip_reason(address)`` is asked just before each send: a reason means "do not send"
    (e.g. the reader unsubscribed a moment ago). Once ``stop`` is set (SIGTERM) no email
    is taken any more and what is in flight has ``grace`` seconds to finish; one still in
    flight then is abandoned (its ``sending`` record makes it ``unknown``). An error from
    the ledger (a full disk) stops the run the same way and is raised: nothing may be sent
    that cannot be recorded. ``keep_sent=False``: the addresses sent are only counted (a
    ledger that resets a reader's hard bounces itself when it records them sent)."""
    run = _Run(transport, edition, ledger, policy, skip_reason, progress)
    run.outcome.keep_sent = keep_sent
    await transport.open()
    workers = [asyncio.create_task(run.work()) for _ in range(max(1, transport.concurrency))]
    watcher = asyncio.create_task(run.watch(stop)) if stop is not None else None
    try:
        try:
            for email in emails:
                if not await run.put(_Job(email)):
                    break
        finally:
            await run.settle(grace)  # what is in flight finishes (and is recorded) if it can
    finally:
        for task in [*workers, *run.retrying, *([watcher] if watcher else [])]:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        try:
            if ledger is not None:
                await ledger.settled()  # its connections belong to this loop
        finally:
            await transport.close()
    if run.failure is not None:
        raise run.failure
    return run.outcome


class _Run:
    """The state of one ``deliver_all``: the queue, the retries waiting, the outcome."""

    def __init__(
        self,
        transport: Transport,
        edition: str,
        ledger: Ledger | None,
        policy: RetryPolicy,
        skip_reason: Callable[[str], str | None],
        progress: Callable[[Delivery], None] | None,
    ) -> None:
        self.transport, self.edition, self.ledger, self.policy = transport, edition, ledger, policy
        self.skip_reason, self.progress = skip_reason, progress
        self.queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=2 * max(1, transport.concurrency))
        self.retrying: set[asyncio.Task[None]] = set()
        self.outcome = Outcome()
        self.failure: Exception | None = None  # the first error that stopped the run
        self.halt = asyncio.Event()  # set on stop or failure: take no more emails

    async def watch(self, stop: threading.Event) -> None:
        """Turn the (signal handler's) thread event into :attr:`halt`."""
        while not stop.is_set():
            await asyncio.sleep(0.1)
        self.halt.set()

    async def put(self, job: _Job) -> bool:
        """Queue ``job`` once a worker has room; False (not queued) if the run halts first."""
        if self.halt.is_set():
            self.leave(job)
            return False
        if not self.queue.full():
            self.queue.put_nowait(job)
            return True
        put = asyncio.create_task(self.queue.put(job))
        halted = asyncio.create_task(self.halt.wait())
        await asyncio.wait({put, halted}, return_when=asyncio.FIRST_COMPLETED)
        halted.cancel()
        if put.done():
            return True
        put.cancel()
        self.leave(job)
        return False

    def leave(self, job: _Job) -> None:
        """A job not queued because of a stop: reported as left (if ``skip_reason`` says
        why), so the run says it stopped early."""
        reason = self.skip_reason(job.email.recipient) if job.attempt == 0 else None
        if reason and self.failure is None:
            self.done(job.email, DeliveryStatus.SKIPPED, reason)

    async def settle(self, grace: float) -> None:
        """:meth:`drain`; once the run halts, for ``grace`` seconds more at most."""
        drained = asyncio.create_task(self.drain())
        halted = asyncio.create_task(self.halt.wait())
        await asyncio.wait({drained, halted}, return_when=asyncio.FIRST_COMPLETED)
        halted.cancel()
        if not drained.done():
            await asyncio.wait({drained}, timeout=grace)
            drained.cancel()

    def fail(self, exc: Exception) -> None:
        if self.failure is None:
            self.failure = exc
        self.halt.set()

    async def drain(self) -> None:
        """Wait for the queue and for every retry scheduled meanwhile."""
        await self.queue.join()
        while self.retrying:
            await asyncio.gather(*self.retrying)
            await self.queue.join()

    async def work(self) -> None:
        """Handle jobs until cancelled; after a failure, take the rest off the queue unsent
        (a worker that died would leave the producer waiting for room forever).

        A delivery's outcome is written with the claim of the worker's next delivery when a
        job is waiting (one write per delivery instead of two: both or neither, so a killed
        run still leaves at most one delivery per connection unsettled), and alone at once
        when none is: an outcome never waits for a job."""
        last: _Finished | None = None
        while True:
            if last is not None and (self.queue.empty() or self.failure is not None):
                await self.conclude(last, None)
                last = None
            job = await self.queue.get()
            try:
                if self.failure is not None or self.skipped(job):
                    self.queue.task_done()
                    continue
            except Exception as exc:  # the store cannot say who unsubscribed: no more sends
                self.queue.task_done()
                self.fail(exc)
                continue
            try:
                last = await self.handle(job, last)
            except Exception as exc:  # a bug: stop, do not hang
                last = None
                self.fail(exc)

    def skipped(self, job: _Job) -> bool:
        """True (and tallied) if ``job`` is not to be sent: the reader left meanwhile."""
        email = job.email
        if job.attempt == 0 and (reason := self.skip_reason(email.recipient)):
            self.done(email, DeliveryStatus.SKIPPED, reason)
            return True
        return False

    async def handle(self, job: _Job, last: _Finished | None) -> _Finished | None:
        """Deliver ``job``, its claim written with ``last`` (the worker's unwritten outcome);
        returns the job's outcome, unwritten (None if it could not be claimed: the run
        fails). A job is marked done on the queue once its outcome is written."""
        if self.ledger is not None:
            try:
                await self.conclude(last, job)
            except Exception as exc:  # the ledger cannot record: no more sends
                self.queue.task_done()
                self.fail(exc)
                return None
        status, reason, bounce = await self.attempt(job)
        wait = 0.0
        if status == DeliveryStatus.DEFERRED and job.attempt < self.policy.retries:
            wait = self.policy.delay(job.attempt)
            reason = f"{reason}; retrying in {wait:.1f}s"
        elif status == DeliveryStatus.DEFERRED and job.attempt:
            reason = f"{reason} (after {job.attempt + 1} attempts)"
        finished = _Finished(job, status, reason, bounce, wait)
        if self.ledger is None:
            await self.conclude(finished, None)
            return None
        return finished

    async def conclude(self, last: _Finished | None, then: _Job | None) -> None:
        """Record ``last``'s outcome and act on it (a retry, the tally), and claim ``then``:
        both asked for before either is awaited, so the ledger writes them together. Raises
        unless ``then`` was claimed; an outcome the ledger cannot record fails the run."""
        ledger = self.ledger
        claimed: Awaitable[None] | None = None
        if last is not None:
            try:
                written = ledger.finish(*last.outcome(), bounce=last.bounce) if ledger else None
                if ledger is not None and then is not None:
                    claimed = ledger.claim(*then.claim())
                if written is not None:
                    await written
                self.after(last)
            except Exception as exc:
                self.fail(exc)
            finally:
                self.queue.task_done()
        elif ledger is not None and then is not None:
            claimed = ledger.claim(*then.claim())
        if then is None:
            return
        if claimed is None:  # not even asked for: the ledger failed first
            raise self.failure or StoreError("the delivery could not be claimed")
        await claimed

    def after(self, finished: _Finished) -> None:
        """What a recorded outcome leads to: a retry later, or the delivery done."""
        job, status, reason = finished.job, finished.status, finished.reason
        if status == DeliveryStatus.DEFERRED and job.attempt < self.policy.retries:
            self.retry_later(_Job(job.email, job.attempt + 1), finished.wait)
            return
        if finished.bounce:
            self.outcome.bounced.append(job.email.recipient)
        self.done(job.email, status, reason)

    async def attempt(self, job: _Job) -> tuple[DeliveryStatus, str, bool]:
        """One SMTP transaction, classified; never raises for a single bad delivery."""
        try:
            return DeliveryStatus.SENT, await self.transport.deliver(job.email), False
        except PermanentFailure as exc:
            return DeliveryStatus.FAILED, str(exc), exc.bounce
        except AmbiguousFailure as exc:
            return DeliveryStatus.UNKNOWN, str(exc), False
        except TemporaryFailure as exc:
            return DeliveryStatus.DEFERRED, str(exc), False
        except Exception as exc:  # a bug must not take everyone else's delivery down
            return DeliveryStatus.UNKNOWN, f"unexpected error: {exc!r}", False

    def retry_later(self, job: _Job, wait: float) -> None:
        async def requeue() -> None:
            await asyncio.sleep(wait)
            await self.put(job)

        task = asyncio.create_task(requeue())
        self.retrying.add(task)
        task.add_done_callback(self.retrying.discard)

    def done(self, email: Email, status: DeliveryStatus, reason: str) -> None:
        delivery = Delivery(
            self.edition, email.recipient, status, email.message_id, reason, datetime.now(UTC)
        )
        self.outcome.add(delivery)
        if self.progress is not None:
            self.progress(delivery)
