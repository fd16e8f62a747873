"""``digest inbound SOURCE...``: read returned mail (bounces, complaints, mailto unsubscribes,
auto-replies) and record what it says; ``digest bounces``: list what was recorded."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import click
from rich.table import Table

from digest.cli.context import AppContext
from digest.cli.inbound_imap import IMAP_HELP, read_imap_folder
from digest.cli.mailfiles import read_source
from digest.cli.report import make_console
from digest.config import Config
from digest.errors import InputError
from digest.models import MailEvent
from digest.pipeline.inbound import (
    InboundReport,
    Outcome,
    process_message,
    reader_index,
    summary_lines,
)
from digest.store import Store, make_store

_DAYS = re.compile(r"(\d{1,4})d")
_SAID = {Outcome.FORGED, Outcome.UNKNOWN, Outcome.UNCLASSIFIED}


@click.command("inbound")
@click.argument("sources", nargs=-1, metavar="SOURCE...")
@click.option(
    "--recipient",
    metavar="ADDRESS",
    help="The envelope recipient, when a pipe knows it (Postfix: ${original_recipient}).",
)
@click.option("--imap", "from_imap", is_flag=True, help=IMAP_HELP)
@click.pass_obj
def inbound_cmd(
    app: AppContext, sources: Sequence[str], recipient: str | None, from_imap: bool
) -> None:
    """Read returned mail: each SOURCE is an .eml file, an mbox, a Maildir or - (standard
    input, for an MTA's pipe). Processed Maildir messages move to its .Processed folder;
    what cannot be classified stays and is listed. --imap reads the IMAP folder too."""
    if not sources and not from_imap:
        raise click.UsageError("give a SOURCE: an .eml file, an mbox, a Maildir, or -; or --imap")
    config = app.config()
    store = make_store(config)
    reports: list[InboundReport] = []
    readers = reader_index(store)  # TinyDB: one read of the list for the whole batch
    failed = 0
    for source in sources:
        try:
            reports += _read(store, config, source, recipient, readers)
        except InputError as exc:
            click.echo(f"Error: {exc}", err=True)
            failed += 1
    if from_imap:
        read, imap_failed = read_imap_folder(store, config)
        reports, failed = reports + read, failed + imap_failed
    for line in summary_lines(reports):
        click.echo(line)
    if failed:
        raise SystemExit(1)


def _read(
    store: Store,
    config: Config,
    source: str,
    recipient: str | None,
    readers: dict[str, str] | None,
) -> list[InboundReport]:
    reports = []
    for message in read_source(source):
        report = process_message(
            store, config, message.raw, message.where, envelope_to=recipient, readers=readers
        )
        reports.append(report)
        if report.processed and message.move is not None:
            message.move()
        if report.outcome in _SAID:
            click.echo(f"{report.outcome.value}: {message.where}: {report.reason}")
        elif report.event is not None and report.outcome == Outcome.RECORDED:
            event = report.event
            said = f" {event.status}" if event.status else ""
            click.echo(
                f"{event.kind.value}{said}: {event.email} ({event.edition}) from {message.where}"
            )
    return reports


@click.command("bounces")
@click.option(
    "--since",
    metavar="D",
    help="Since a date (2026-11-20), a time (2026-11-20T07:00), or N days ago (7d). Default: 30d.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def bounces_cmd(app: AppContext, since: str | None, as_json: bool) -> None:
    """Recent bounces, complaints, mailto unsubscribes and auto-replies, oldest first."""
    start = parse_since(since or "30d", datetime.now(UTC))
    config = app.config()
    events = make_store(config).mail_events(since=start)
    if as_json:
        click.echo(json.dumps([event_json(e) for e in events], ensure_ascii=False, indent=2))
    elif not events:
        click.echo(f"no returned mail recorded since {start:%Y-%m-%d %H:%M} UTC")
    else:
        make_console().print(events_table(events))


def parse_since(value: str, now: datetime) -> datetime:
    days = _DAYS.fullmatch(value.strip())
    if days:
        return now - timedelta(days=int(days[1]))
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date, a time or a number of days like 7d", param_hint="'--since'"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def event_json(event: MailEvent) -> dict[str, str]:
    return {
        "at": event.at.isoformat(),
        "reader": event.email,
        "kind": event.kind.value,
        "edition": event.edition,
        "status": event.status,
        "diagnostic": event.diagnostic,
        "source": event.source,
        "event_id": event.event_id,
    }


def events_table(events: Sequence[MailEvent], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("when (UTC)", "reader", "kind", "edition", "source", "diagnostic"):
        table.add_column(column, overflow="fold")
    for e in events:
        said = " ".join(part for part in (e.status, e.diagnostic) if part)
        when = e.at.astimezone(UTC)
        table.add_row(f"{when:%Y-%m-%d %H:%M}", e.email, e.kind.value, e.edition, e.source, said)
    return table
