"""How records are written into the store's tables and read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from digest.models import DeliveryStatus, RunReport, Status, Subscriber


def key(email: str) -> str:
    return email.strip().casefold()


def subscriber_doc(sub: Subscriber) -> dict[str, Any]:
    return {
        "key": key(sub.email),
        "email": sub.email,
        "id": sub.id,
        "status": sub.status.value,
        "digests": list(sub.digests),
        "topics": list(sub.topics),
        "cadence": sub.cadence,
        "timezone": sub.timezone,
        "created_at": sub.created_at.isoformat() if sub.created_at else None,
    }


def subscriber(doc: dict[str, Any]) -> Subscriber:
    created = doc.get("created_at")
    return Subscriber(
        email=doc["email"],
        id=doc["id"],
        status=Status(doc["status"]),
        digests=tuple(doc.get("digests", ())),
        topics=tuple(doc.get("topics", ())),
        cadence=doc.get("cadence", "daily"),
        timezone=doc.get("timezone"),
        created_at=datetime.fromisoformat(created) if created else None,
    )


def run_doc(report: RunReport) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for d in report.deliveries:
        counts[d.status.value] = counts.get(d.status.value, 0) + 1
    return {
        "digest": report.digest,
        "edition_date": report.edition_date.isoformat(),
        "started_at": report.started_at.isoformat(),
        "finished_at": report.finished_at.isoformat(),
        "dry_run": report.dry_run,
        "ok": report.ok,
        "note": report.note,
        "counts": counts,
        "sources": [
            {
                "name": s.name,
                "kind": s.kind,
                "ok": s.ok,
                "papers": s.papers,
                "seconds": round(s.seconds, 3),
                "error": s.error,
                "problems": list(s.problems),
            }
            for s in report.sources
        ],
        "problems": [
            {"email": d.email, "status": d.status.value, "reason": d.reason}
            for d in report.deliveries
            if d.status not in (DeliveryStatus.SENT,)
        ],
    }
