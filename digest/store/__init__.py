"""The store: one TinyDB JSON file with subscribers, papers, editions, deliveries and runs.

This package is the only code that touches the database file (``files`` writes it,
``documents`` maps records to table rows). Several processes (the web app, the
scheduler, a manual ``digest send``) may use it at once, so every operation holds a file lock
(``<store>.lock``) and every write replaces the file atomically (temp file, fsync, rename):
a process killed at any point leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from tinydb import Query, TinyDB

from digest.errors import StoreError
from digest.models import (
    SUPPRESSED,
    Delivery,
    DeliveryStatus,
    Edition,
    Paper,
    RunReport,
    Status,
    Subscriber,
)
from digest.store import documents as records
from digest.store.files import AtomicJSONStorage

#: Deliveries that must never be attempted again for the same edition.
FINAL = frozenset(
    {DeliveryStatus.SENT, DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN, DeliveryStatus.FAILED}
)


#: Deliveries whose papers count as shown to the reader (sent, or possibly sent).
_SHOWN = frozenset(
    {DeliveryStatus.SENT.value, DeliveryStatus.UNKNOWN.value, DeliveryStatus.SENDING.value}
)


@dataclass(frozen=True, slots=True)
class History:
    """What the ledger says at the start of a run; empty for a test send, which ignores it."""

    delivered: frozenset[str] = frozenset()  # store keys of who already got the edition
    shown: Mapping[str, frozenset[str]] = field(default_factory=dict)  # key -> paper ids

    def delivered_to(self, email: str) -> bool:
        return records.key(email) in self.delivered

    def shown_to(self, email: str) -> frozenset[str]:
        return self.shown.get(records.key(email), frozenset())


class Store:
    """Typed operations over the TinyDB file; each one is a locked transaction."""

    def __init__(self, path: Path, *, lock_timeout: float = 60.0) -> None:
        self.path = path
        self._lock = FileLock(f"{path}.lock", timeout=lock_timeout)

    @contextmanager
    def _db(self) -> Iterator[TinyDB]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                db = TinyDB(str(self.path), storage=AtomicJSONStorage)
                try:
                    yield db
                finally:
                    db.close()
        except Timeout as exc:
            raise StoreError(
                f"store {self.path} is locked by another process",
                hint=f"wait for it to finish, or remove {self.path}.lock if none is running",
            ) from exc
        except OSError as exc:
            raise StoreError(f"cannot use store {self.path}: {exc.strerror or exc}") from exc

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Held for a whole run (e.g. one ``digest send`` per digest at a time)."""
        lock = FileLock(f"{self.path}.{name}.lock", timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise StoreError(
                f"another process holds {name!r} on store {self.path}",
                hint="wait for the running send to finish",
            ) from None
        try:
            yield
        finally:
            lock.release()

    # subscribers ---------------------------------------------------------------------------

    def get_subscriber(self, email: str) -> Subscriber | None:
        with self._db() as db:
            doc = db.table("subscribers").get(Query().key == records.key(email))
        return records.subscriber(doc) if doc else None

    def list_subscribers(self) -> tuple[Subscriber, ...]:
        with self._db() as db:
            docs = db.table("subscribers").all()
        return tuple(records.subscriber(d) for d in sorted(docs, key=lambda d: d["key"]))

    def save_subscriber(
        self, sub: Subscriber, *, resubscribe: bool = False
    ) -> tuple[Subscriber, str]:
        """Add or update ``sub``; returns what is stored and ``added``, ``updated`` or
        ``suppressed`` (an unsubscribed/bounced address is left alone unless ``resubscribe``)."""
        with self._db() as db:
            table = db.table("subscribers")
            doc = table.get(Query().key == records.key(sub.email))
            if doc is None:
                stored = replace(sub, id=sub.id or secrets.token_hex(8), created_at=_now())
                table.insert(records.subscriber_doc(stored))
                return stored, "added"
            current = records.subscriber(doc)
            if current.status in SUPPRESSED and not resubscribe:
                return current, "suppressed"
            stored = replace(sub, id=current.id, created_at=current.created_at)
            table.update(records.subscriber_doc(stored), Query().key == records.key(sub.email))
            return stored, "updated"

    def set_status(self, email: str, status: Status) -> Subscriber | None:
        with self._db() as db:
            table = db.table("subscribers")
            if not table.update({"status": status.value}, Query().key == records.key(email)):
                return None
            doc = table.get(Query().key == records.key(email))
        return records.subscriber(doc) if doc else None

    # editions and papers ---------------------------------------------------------------------

    def save_edition(self, edition: Edition, papers: Iterable[Paper]) -> None:
        papers = tuple(papers)
        with self._db() as db:
            db.table("editions").upsert(
                {
                    "key": edition.key,
                    "digest": edition.digest,
                    "date": edition.date.isoformat(),
                    "title": edition.title,
                    "paper_ids": [p.id for p in papers],
                },
                Query().key == edition.key,
            )
            table = db.table("papers")
            for paper in papers:
                table.upsert(paper.to_json(), Query().id == paper.id)

    # deliveries (the ledger) -----------------------------------------------------------------

    def claim_delivery(
        self, edition: str, email: str, message_id: str, paper_ids: tuple[str, ...]
    ) -> Delivery | None:
        """Record ``sending`` before the SMTP transaction. Returns the earlier delivery that
        forbids sending (sent, in flight, unknown, permanently failed), or None once claimed."""
        with self._db() as db:
            table = db.table("deliveries")
            where = (Query().edition == edition) & (Query().key == records.key(email))
            doc = table.get(where)
            if doc is not None and DeliveryStatus(doc["status"]) in FINAL:
                return records.delivery(doc)
            table.upsert(
                {
                    "edition": edition,
                    "key": records.key(email),
                    "email": email,
                    "status": DeliveryStatus.SENDING.value,
                    "message_id": message_id,
                    "reason": "",
                    "paper_ids": list(paper_ids),
                    "updated_at": _now().isoformat(),
                },
                where,
            )
        return None

    def finish_delivery(
        self, edition: str, email: str, status: DeliveryStatus, reason: str = ""
    ) -> None:
        with self._db() as db:
            db.table("deliveries").update(
                {"status": status.value, "reason": reason, "updated_at": _now().isoformat()},
                (Query().edition == edition) & (Query().key == records.key(email)),
            )

    def deliveries(self, edition: str | None = None) -> tuple[Delivery, ...]:
        with self._db() as db:
            table = db.table("deliveries")
            docs = table.all() if edition is None else table.search(Query().edition == edition)
        return tuple(records.delivery(d) for d in docs)

    def history(self, edition: str) -> History:
        """The ledger read once: who got ``edition``, and what every reader was shown."""
        with self._db() as db:
            docs = db.table("deliveries").all()
        final = {s.value for s in FINAL}
        delivered = frozenset(
            d["key"] for d in docs if d["edition"] == edition and d["status"] in final
        )
        shown: dict[str, set[str]] = {}
        for d in docs:
            if d["status"] in _SHOWN:
                shown.setdefault(d["key"], set()).update(d["paper_ids"])
        return History(delivered, {k: frozenset(v) for k, v in shown.items()})

    def shown_papers(self, email: str) -> frozenset[str]:
        """Every paper id already shown to this address (sent, or possibly sent)."""
        with self._db() as db:
            docs = db.table("deliveries").search(Query().key == records.key(email))
        return frozenset(pid for d in docs if d["status"] in _SHOWN for pid in d["paper_ids"])

    # runs -------------------------------------------------------------------------------------

    def save_run(self, report: RunReport) -> None:
        with self._db() as db:
            db.table("runs").insert(records.run_doc(report))

    def runs(self, digest: str | None = None) -> tuple[dict[str, Any], ...]:
        with self._db() as db:
            docs = db.table("runs").all()
        return tuple(dict(d) for d in docs if digest is None or d["digest"] == digest)


def _now() -> datetime:
    return datetime.now(UTC)
