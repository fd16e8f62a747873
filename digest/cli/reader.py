"""``digest subscribers show|update|pause|resume|unsuppress ADDRESS``: one reader at a time.

Everything goes through the store's protocol (``digest.store.protocol``), so the commands
work on every backend. What the operator may not do is refused in one line that says who
can: an unsubscribed or complained address comes back only by the reader's own hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import click
from click.core import ParameterSource

from digest.cli.context import AppContext
from digest.config import Config
from digest.errors import InputError
from digest.models import (
    SUPPRESSED,
    TOPIC_MODES,
    Choices,
    MailEvent,
    MailEventKind,
    Status,
    Subscriber,
)
from digest.pipeline.readers import subscriber_named
from digest.store import LedgerEntry, Store, make_store
from digest.subscribers import address_key, join_authors, make_subscriber, normalise_address, rules

#: Editions per digest whose delivery ``show`` looks up (each reads that edition's ledger).
RECENT_EDITIONS = 3


def _reader(app: AppContext, email: str) -> tuple[Config, Store, Subscriber]:
    config = app.config()
    store = make_store(config)
    return config, store, subscriber_named(store, normalise_address(email))


# show ----------------------------------------------------------------------------------------


@click.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_obj
def show_cmd(app: AppContext, email: str, as_json: bool) -> None:
    """Everything about the subscriber EMAIL: state, choices, consent, bounces, what was sent."""
    config, store, sub = _reader(app, email)
    facts = Facts(
        hard_bounces(store, sub.email),
        tuple(e for e in store.mail_events() if address_key(e.email) == address_key(sub.email)),
        recent_deliveries(config, store, sub),
    )
    if as_json:
        click.echo(json.dumps(reader_json(sub, facts), ensure_ascii=False, indent=2))
    else:
        click.echo("\n".join(reader_lines(sub, facts)))


@dataclass(frozen=True, slots=True)
class Facts:
    """What the store knows about a reader besides their record."""

    bounces: int | None  # hard bounces in a row (None: the store does not say)
    events: tuple[MailEvent, ...]  # mail that came back about them
    deliveries: tuple[tuple[str, LedgerEntry], ...]  # (edition key, delivery), newest first


def hard_bounces(store: Store, email: str) -> int | None:
    """The reader's hard bounces in a row, as the store counts them toward
    ``smtp.bounce_limit``; None if the store's rows do not say. The protocol has no read of
    it but the dump, whose subscriber rows come first: read until the reader's row."""
    key, rows = address_key(email), store.dump()
    try:
        for table, row in rows:
            if table != "subscribers":
                break
            if row.get("key") == key:
                count = row.get("hard_bounces")
                return int(count) if count is not None else 0
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()  # a server backend's cursor is let go now, not at garbage collection
    return None


def recent_deliveries(
    config: Config, store: Store, sub: Subscriber
) -> tuple[tuple[str, LedgerEntry], ...]:
    """The reader's delivery of each of the last :data:`RECENT_EDITIONS` editions of the
    digests they get, newest first (sent, failed, or left unknown by a killed run)."""
    names = sub.digests or tuple(d.name for d in config.digests)
    found: list[tuple[str, LedgerEntry]] = []
    for name in names:
        for edition, _ in store.latest_editions(name, limit=RECENT_EDITIONS):
            history = store.history(edition.key, (), readers=[address_key(sub.email)])
            entry = history.earlier_delivery(sub.email)
            if entry is not None:
                found.append((edition.key, entry))
    return tuple(sorted(found, key=lambda pair: pair[1].updated_at, reverse=True))


def reader_lines(sub: Subscriber, facts: Facts) -> list[str]:
    status = sub.status.value + (", paused" if sub.paused else "")
    lines = [
        f"{sub.email} (id {sub.id})",
        f"  status: {status}",
        f"  digests: {', '.join(sub.digests) or 'all'}",
        f"  topics: {', '.join(sub.topics) or 'none'}",
        f"  authors: {'; '.join(sub.authors) or 'none'}",
        f"  topic mode: {sub.topic_mode or 'the digest setting'}",
        "  min relevance: "
        + ("the digest setting" if sub.min_relevance is None else f"{sub.min_relevance:g}"),
        f"  cadence: {sub.cadence}",
        f"  timezone: {sub.timezone or 'the digest timezone'}",
        f"  consent: {sub.consent or 'not recorded'}",
        f"  added: {_when(sub.created_at)}; confirmed: {_when(sub.confirmed_at)}",
    ]
    if sub.requested is not None:
        lines.append(f"  asked for, not yet confirmed: {_choices(sub.requested)}")
        lines.append(f"    at {_when(sub.requested_at)}")
    bounces = "unknown" if facts.bounces is None else facts.bounces
    lines.append(f"  hard bounces in a row: {bounces}")
    lines.append(f"  mail that came back: {len(facts.events) or 'none'}")
    for e in sorted(facts.events, key=lambda e: e.at, reverse=True):
        detail = " ".join(x for x in (e.status, e.diagnostic) if x)
        lines.append(f"    {_when(e.at)}  {e.kind.value}  {e.edition}  {detail} ({e.source})")
    lines.append(f"  last deliveries: {len(facts.deliveries) or 'none'}")
    for key, entry in facts.deliveries:
        when = entry.updated_at[:16].replace("T", " ")
        reason = f"  {entry.reason}" if entry.reason else ""
        lines.append(f"    {when}  {key}  {entry.status}{reason}")
    return lines


def reader_json(sub: Subscriber, facts: Facts) -> dict[str, Any]:
    return {
        "email": sub.email,
        "id": sub.id,
        "status": sub.status.value,
        "paused": sub.paused,
        "digests": list(sub.digests),
        "topics": list(sub.topics),
        "authors": list(sub.authors),
        "topic_mode": sub.topic_mode,
        "min_relevance": sub.min_relevance,
        "cadence": sub.cadence,
        "timezone": sub.timezone,
        "consent": sub.consent,
        "created_at": _iso(sub.created_at),
        "confirmed_at": _iso(sub.confirmed_at),
        "requested": _choices(sub.requested) if sub.requested else None,
        "requested_at": _iso(sub.requested_at),
        "hard_bounces": facts.bounces,
        "events": [
            {
                "at": e.at.isoformat(),
                "kind": e.kind.value,
                "edition": e.edition,
                "status": e.status,
                "diagnostic": e.diagnostic,
                "source": e.source,
            }
            for e in facts.events
        ],
        "deliveries": [
            {"edition": key, "status": str(e.status), "reason": e.reason, "at": e.updated_at}
            for key, e in facts.deliveries
        ],
    }


def _choices(c: Choices) -> str:
    parts = [f"digests {', '.join(c.digests) or 'all'}", f"cadence {c.cadence}"]
    if c.topics:
        parts.append(f"topics {', '.join(c.topics)}")
    if c.authors:
        parts.append(f"authors {'; '.join(c.authors)}")
    if c.timezone:
        parts.append(f"timezone {c.timezone}")
    return "; ".join(parts)


def _when(instant: datetime | None) -> str:
    return f"{instant:%Y-%m-%d %H:%M %Z}".strip() if instant else "never"


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant else None


# update --------------------------------------------------------------------------------------


@click.command("update")
@click.argument("email")
@click.option("--topics", help='Topics, comma-separated: "diffusion, rlhf" ("" for none).')
@click.option("--digest", "--digests", "digests", multiple=True, help="Digest(s) to receive.")
@click.option("--cadence", type=click.Choice(("daily", "weekly")), help="How often.")
@click.option("--timezone", help='IANA timezone, e.g. Europe/Paris ("" for the digest\'s).')
@click.option("--authors", help='Authors to follow, separated by ";" ("" for none).')
@click.option("--topic-mode", type=click.Choice(TOPIC_MODES), help="filter or boost.")
@click.option("--min-relevance", type=click.FloatRange(0.0, 1.0), help="0 to 1.")
@click.pass_context
def update_cmd(ctx: click.Context, /, email: str, **given: Any) -> None:
    """Change what is passed for the subscriber EMAIL, and nothing else (status, consent
    and the rest stay as they are)."""
    passed = frozenset(
        name
        for name in rules.OPERATOR_FIELDS
        if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT
    )
    if not passed:
        raise click.UsageError("nothing to change: pass --topics, --digest, --cadence, …")
    config, store, sub = _reader(ctx.obj, email)
    merged = {
        name: given[name] if name in passed else _current(sub, name)
        for name in rules.OPERATOR_FIELDS
    }
    merged["digests"] = ",".join(merged["digests"])
    wanted = make_subscriber(sub.email, known_digests=[d.name for d in config.digests], **merged)
    changes = {rules.OPERATOR_FIELDS[n]: getattr(wanted, rules.OPERATOR_FIELDS[n]) for n in passed}
    updated = replace(sub, **changes)
    if updated == sub:
        click.echo(f"{sub.email}: nothing changed")
        return
    stored, outcome = store.save_subscriber(updated)
    if outcome == "suppressed":
        raise InputError(
            f"{stored.email} is {stored.status.value}; its choices are not changed",
            hint="only the reader can subscribe again",
        )
    click.echo(f"updated {stored.email}: " + ", ".join(sorted(changes)))


def _current(sub: Subscriber, option: str) -> Any:
    """The reader's value for ``option``, as that option would be typed."""
    if option == "topics":
        return ",".join(sub.topics)
    if option == "authors":
        return join_authors(sub.authors)
    return getattr(sub, rules.OPERATOR_FIELDS[option])


# pause, resume, unsuppress -------------------------------------------------------------------


@click.command("pause")
@click.argument("email")
@click.pass_obj
def pause_cmd(app: AppContext, email: str) -> None:
    """Stop sending to EMAIL for now, keeping every choice (resume undoes it)."""
    click.echo(_set_paused(app, email, paused=True))


@click.command("resume")
@click.argument("email")
@click.pass_obj
def resume_cmd(app: AppContext, email: str) -> None:
    """Send to EMAIL again after a pause."""
    click.echo(_set_paused(app, email, paused=False))


def _set_paused(app: AppContext, email: str, *, paused: bool) -> str:
    _, store, sub = _reader(app, email)
    verb = "paused" if paused else "resumed"
    if sub.status in SUPPRESSED:
        raise InputError(
            f"{sub.email} is {sub.status.value}, so it gets nothing: not {verb}",
            hint="only the reader can subscribe again",
        )
    if sub.paused == paused:
        return f"{sub.email} is already {'paused' if paused else 'not paused'}"
    choices = Choices(
        digests=sub.digests,
        topics=sub.topics,
        cadence=sub.cadence,
        timezone=sub.timezone,
        authors=sub.authors,
        topic_mode=sub.topic_mode,
    )
    if store.update_preferences(sub.id, choices, paused=paused) is None:
        raise InputError(f"no subscriber {sub.email} in {store.location}")
    return f"{verb} {sub.email}"


@click.command("unsuppress")
@click.argument("email")
@click.pass_obj
def unsuppress_cmd(app: AppContext, email: str) -> None:
    """Mail EMAIL again after it bounced (the address is fixed): confirmed again, its bounce
    count reset. An unsubscribed or complained address is refused: only the reader can
    subscribe again."""
    config, store, sub = _reader(app, email)
    if sub.status == Status.UNSUBSCRIBED:
        raise InputError(
            f"{sub.email} unsubscribed; only the reader can subscribe again",
            hint="the subscribe page sends them a confirmation",
        )
    if sub.status == Status.COMPLAINED:
        raise InputError(
            f"{sub.email} complained (reported a digest as spam); only the reader can subscribe "
            "again, and digest does not mail a complained address",
            hint="an operator cannot lift a complaint",
        )
    if sub.status != Status.BOUNCED:
        raise InputError(f"{sub.email} is {sub.status.value}, not suppressed; nothing to undo")
    click.echo(f"{sub.email} was suppressed: {bounce_reason(config, store, sub)}")
    store.record_bounces((), (sub.email,), config.smtp.bounce_limit)  # a delivery resets it
    store.set_status(sub.email, Status.CONFIRMED)
    click.echo(f"unsuppressed {sub.email}: confirmed again, hard bounces reset to 0")


def bounce_reason(config: Config, store: Store, sub: Subscriber) -> str:
    """Why the address was suppressed: its count, and the last bounce we know of (returned
    mail, else a 5xx reply in one of its recent deliveries)."""
    count = hard_bounces(store, sub.email)
    head = f"{count} hard bounces in a row" if count else "bounced"
    key = address_key(sub.email)
    events = [
        e
        for e in store.mail_events()
        if e.kind == MailEventKind.HARD_BOUNCE and address_key(e.email) == key
    ]
    if events:
        last = max(events, key=lambda e: e.at)
        detail = " ".join(x for x in (last.status, last.diagnostic) if x) or "no diagnostic"
        return f"{head}; the last: {detail} ({last.edition}, {last.source})"
    refused = [(k, e) for k, e in recent_deliveries(config, store, sub) if e.bounce]
    if refused:
        edition, entry = refused[0]
        return f"{head}; the last: {entry.reason or 'refused'} ({edition})"
    return head
