"""The readers' own actions on their record: the rules, then the store transactions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.models import Choices, Status, Subscriber
from digest.store import TinyStore
from digest.subscribers import rules
from digest.subscribers.rules import Request

NOW = datetime(2025, 11, 27, 9, 0, tzinfo=UTC)
ASKED = Choices(("daily",), ("diffusion models",), "weekly", "Europe/Paris")
KNOWN = ("daily", "weekly")


def reader(status: Status, **kw: object) -> Subscriber:
    return Subscriber("ann@example.org", "id-ann", status, topics=("old",), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "outcome", "keeps_choices"),
    [
        (None, Request.NEW, False),
        (Status.PENDING, Request.PENDING, False),
        (Status.CONFIRMED, Request.KNOWN, True),
        (Status.UNSUBSCRIBED, Request.RETURNING, True),
        (Status.BOUNCED, Request.RETURNING, True),
        (Status.COMPLAINED, Request.REFUSED, True),
    ],
)
def test_a_request_never_changes_what_a_reader_gets_before_confirmation(
    status: Status | None, outcome: Request, keeps_choices: bool
) -> None:
    current = reader(status) if status else None
    sub, found = rules.request(current, "ann@example.org", ASKED, now=NOW, consent="web")
    assert found == outcome
    if current is not None:
        assert sub.status == current.status and sub.id == current.id
        assert sub.topics == ("old",)  # applied only by the confirmation
    else:
        assert sub.status == Status.PENDING and sub.id and sub.created_at == NOW
    if outcome in (Request.NEW, Request.PENDING, Request.RETURNING):
        assert sub.requested == ASKED and sub.requested_at == NOW
    else:
        assert sub.requested is None


@pytest.mark.parametrize("status", [Status.PENDING, Status.UNSUBSCRIBED, Status.BOUNCED])
def test_confirming_applies_the_request(status: Status) -> None:
    current = reader(status, requested=ASKED, requested_at=NOW, paused=True)
    done = rules.confirm(current, now=NOW)
    assert done is not None
    assert (done.status, done.digests, done.topics, done.cadence, done.timezone) == (
        Status.CONFIRMED,
        ("daily",),
        ("diffusion models",),
        "weekly",
        "Europe/Paris",
    )
    assert done.confirmed_at == NOW and done.requested is None and not done.paused


@pytest.mark.parametrize(
    "current",
    [
        reader(Status.CONFIRMED),  # a second click
        reader(Status.UNSUBSCRIBED),  # an old link, after leaving
        reader(Status.COMPLAINED, requested=ASKED),
    ],
)
def test_confirming_without_a_request_changes_nothing(current: Subscriber) -> None:
    assert rules.confirm(current, now=NOW) is None


@pytest.mark.parametrize(
    ("digests", "leave", "status", "left"),
    [
        ((), "daily", Status.CONFIRMED, ("weekly",)),  # "all" becomes all but this one
        (("daily", "weekly"), "weekly", Status.CONFIRMED, ("daily",)),
        (("daily",), "daily", Status.UNSUBSCRIBED, ("daily",)),  # nothing left: suppressed
        (("daily", "weekly"), None, Status.UNSUBSCRIBED, ("daily", "weekly")),
        (("weekly",), "daily", Status.CONFIRMED, ("weekly",)),  # not on that list anyway
    ],
)
def test_unsubscribe_leaves_the_list_of_the_link(
    digests: tuple[str, ...], leave: str | None, status: Status, left: tuple[str, ...]
) -> None:
    done = rules.unsubscribe(reader(Status.CONFIRMED, digests=digests), leave, KNOWN)
    assert done.status == status and done.digests == left
    assert rules.unsubscribe(done, leave, KNOWN).status == status  # idempotent


def test_preferences_of_a_suppressed_reader_cannot_resubscribe_them() -> None:
    gone = reader(Status.UNSUBSCRIBED)
    assert rules.update_preferences(gone, ASKED, paused=False) == gone
    changed = rules.update_preferences(reader(Status.CONFIRMED), ASKED, paused=True)
    assert changed.topics == ASKED.topics and changed.paused


def test_only_pending_addresses_past_their_window_expire() -> None:
    old = NOW - timedelta(hours=49)
    assert rules.expired(reader(Status.PENDING, created_at=old), NOW - timedelta(hours=48))
    fresh = reader(Status.PENDING, created_at=old, requested_at=NOW)
    assert not rules.expired(fresh, NOW - timedelta(hours=48))
    assert not rules.expired(reader(Status.CONFIRMED, created_at=old), NOW)


# the store transactions ----------------------------------------------------------------------


def test_subscribe_confirm_unsubscribe_round_trip_in_the_store(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "store.json")
    sub, found = store.request_subscription("ann@example.org", ASKED, now=NOW, consent="web 1.2")
    assert found == Request.NEW
    again, found = store.request_subscription("ANN@example.org", ASKED, now=NOW, consent="web")
    assert found == Request.PENDING and again.id == sub.id
    assert len(store.list_subscribers()) == 1

    confirmed = store.confirm_subscription(sub.id, now=NOW)
    assert confirmed is not None and confirmed[1]
    stored = store.get_subscriber("ann@example.org")
    assert stored is not None and stored.status == Status.CONFIRMED
    assert stored.topics == ("diffusion models",) and stored.confirmed_at == NOW
    assert stored.consent == "web"  # the latest request's
    assert store.confirm_subscription(sub.id, now=NOW) == (stored, False)

    left = store.unsubscribe(sub.id, "daily", KNOWN)
    assert left is not None and left[0].status == Status.UNSUBSCRIBED
    assert store.unsubscribe("no-such-id", None, KNOWN) is None


def test_expire_pending_forgets_only_stale_requests(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "store.json")
    store.request_subscription("old@example.org", ASKED, now=NOW - timedelta(days=3), consent="")
    store.request_subscription("new@example.org", ASKED, now=NOW, consent="")
    store.save_subscriber(Subscriber("kept@example.org", ""))
    assert store.expire_pending(NOW - timedelta(hours=48)) == 1
    assert [s.email for s in store.list_subscribers()] == ["kept@example.org", "new@example.org"]


def test_operator_update_keeps_consent_and_pause(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "store.json")
    stored, _ = store.save_subscriber(
        Subscriber("ann@example.org", "", consent="web form", confirmed_at=NOW)
    )
    store.update_preferences(stored.id, ASKED, paused=True)
    updated, outcome = store.save_subscriber(replace(stored, topics=("new",), consent=""))
    assert outcome == "updated"
    assert (updated.consent, updated.confirmed_at, updated.paused) == ("web form", NOW, True)
