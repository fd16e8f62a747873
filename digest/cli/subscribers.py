"""``digest subscribers …``: the operator's commands for the subscriber list."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from click.core import ParameterSource

from digest.cli.reader import pause_cmd, resume_cmd, show_cmd, unsuppress_cmd, update_cmd
from digest.cli.report import make_console, subscribers_table
from digest.config import find_config_path, load_config
from digest.errors import InputError
from digest.models import TOPIC_MODES, Status
from digest.store import Store, make_store
from digest.subscribers import make_subscriber, rules
from digest.subscribers.csvfile import decode_csv, read_csv, write_csv
from digest.web.notices import invite

#: Subscribers read at a time by ``export`` (keyset pages on PostgreSQL).
EXPORT_PAGE = 5000


def _store_and_digests(ctx: click.Context) -> tuple[Store, tuple[str, ...]]:
    config = load_config(find_config_path(ctx.obj.config_path, os.environ))
    return make_store(config), tuple(d.name for d in config.digests)


@click.group()
def subscribers() -> None:
    """Add, remove, list, import and export subscribers; show, update, pause, resume and
    unsuppress one."""


for _command in (show_cmd, update_cmd, pause_cmd, resume_cmd, unsuppress_cmd):
    subscribers.add_command(_command)


@subscribers.command("add")
@click.argument("email")
@click.option("--topics", help='Topics, comma-separated: "diffusion, rlhf".')
@click.option("--digest", "digests", multiple=True, help="Digest(s) to receive (default: all).")
@click.option(
    "--cadence",
    type=click.Choice(("daily", "weekly")),
    default="daily",
    show_default=True,
    help="How often the reader gets mail.",
)
@click.option("--timezone", help="IANA timezone of the reader, e.g. Europe/Paris.")
@click.option(
    "--authors",
    help='Authors to follow, separated by ";": "Ada Lovelace; Alan Turing" (commas work when '
    'no name holds one; a lone "Smith, J." is written "Smith, J.;").',
)
@click.option(
    "--topic-mode",
    type=click.Choice(TOPIC_MODES),
    help="filter: only papers matching the topics or authors; boost: the whole edition, "
    "matching papers first. Default: the digest's setting.",
)
@click.option(
    "--min-relevance",
    type=click.FloatRange(0.0, 1.0),
    help="How relevant (0 to 1) a paper must be to count as matching the topics or authors. "
    "Default: the digest's setting.",
)
@click.option(
    "--pending",
    is_flag=True,
    help="Send the confirmation email instead: the reader confirms, as on the web form.",
)
@click.pass_context
def add_cmd(
    ctx: click.Context,
    email: str,
    topics: str | None,
    digests: tuple[str, ...],
    cadence: str,
    timezone: str | None,
    authors: str | None,
    topic_mode: str | None,
    min_relevance: float | None,
    pending: bool,
) -> None:
    """Add EMAIL as a confirmed subscriber (the operator vouches for the address), or with
    --pending send them the confirmation email."""
    if pending and min_relevance is not None:
        raise click.UsageError(
            "--min-relevance cannot go with --pending: confirming applies only what a reader "
            "can choose; set it once they have confirmed"
        )
    config = load_config(find_config_path(ctx.obj.config_path, os.environ))
    store, known = make_store(config), tuple(d.name for d in config.digests)
    sub = make_subscriber(
        email,
        topics=topics,
        digests=",".join(digests),
        cadence=cadence,
        timezone=timezone,
        authors=authors,
        topic_mode=topic_mode,
        min_relevance=min_relevance,
        known_digests=known,
    )
    if pending:
        click.echo(invite(config, store, sub))
        return
    passed = frozenset(
        name
        for name in rules.OPERATOR_FIELDS
        if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT
    )
    sub = rules.operator_add(store.get_subscriber(sub.email), sub, passed, now=datetime.now(UTC))
    stored, outcome = store.save_subscriber(sub)
    if outcome == "suppressed":
        raise InputError(
            f"{stored.email} is {stored.status.value}; not resubscribed",
            hint="the reader must subscribe again themselves",
        )
    click.echo(f"{outcome} {stored.email} ({stored.status.value})")


@subscribers.command("remove")
@click.argument("email")
@click.pass_context
def remove_cmd(ctx: click.Context, email: str) -> None:
    """Unsubscribe EMAIL (kept as suppressed, so it is never mailed again)."""
    store, _ = _store_and_digests(ctx)
    if store.set_status(email, Status.UNSUBSCRIBED) is None:
        raise InputError(f"{email} is not a subscriber")
    click.echo(f"unsubscribed {email}")


@subscribers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as a JSON array.")
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """List every subscriber with their state."""
    store, _ = _store_and_digests(ctx)
    subs = store.list_subscribers()
    if as_json:
        rows = [
            {
                "email": s.email,
                "id": s.id,
                "status": s.status.value,
                "paused": s.paused,
                "digests": list(s.digests),
                "topics": list(s.topics),
                "cadence": s.cadence,
                "timezone": s.timezone,
                "authors": list(s.authors),
                "topic_mode": s.topic_mode,
                "min_relevance": s.min_relevance,
            }
            for s in subs
        ]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        make_console().print(subscribers_table(subs))


@subscribers.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_cmd(ctx: click.Context, csv_file: Path) -> None:
    """Import CSV_FILE, a CSV with a header row (email; optional topics, digests, cadence,
    timezone, status, authors, topic_mode, min_relevance). Bad rows are reported by line
    number and skipped; suppressed addresses stay suppressed."""
    store, known = _store_and_digests(ctx)
    text = decode_csv(csv_file.read_bytes(), str(csv_file))
    rows, errors = read_csv(text, known_digests=known)
    counts = {"added": 0, "updated": 0, "suppressed": 0}
    saved = store.save_subscribers(row.subscriber for row in rows)
    for row, (_, outcome) in zip(rows, saved, strict=True):
        counts[outcome] += 1
        if outcome == "suppressed":
            click.echo(
                f"{csv_file}:{row.line}: {row.subscriber.email} is suppressed; kept so", err=True
            )
    for error in errors:
        click.echo(f"{csv_file}:{error.removeprefix('line ')}", err=True)
    pending = [s for s, outcome in saved if outcome != "suppressed" and s.status == Status.PENDING]
    if pending:
        click.echo(
            f"{len(pending)} imported as pending: no confirmation email was sent, and they get "
            "no digest until they confirm (digest subscribers add EMAIL --pending sends one)",
            err=True,
        )
    click.echo(
        f"imported {csv_file}: {counts['added']} added, {counts['updated']} updated, "
        f"{counts['suppressed']} left suppressed, {len(errors)} bad rows skipped"
    )
    if errors:
        sys.exit(1)


@subscribers.command("export")
@click.pass_context
def export_cmd(ctx: click.Context) -> None:
    """Print every subscriber as CSV (the format import takes)."""
    store, _ = _store_and_digests(ctx)
    pages = store.subscriber_pages(EXPORT_PAGE)  # a million readers are not held at once
    click.echo(write_csv(next(pages, ())), nl=False)
    for page in pages:
        click.echo(write_csv(page, header=False), nl=False)
