"""``digest inbound --imap``: the inbound.imap folder, read once (pipeline/inbound_imap.py)."""

from __future__ import annotations

import click

from digest.config import Config
from digest.errors import InputError
from digest.pipeline.inbound import InboundReport, Outcome
from digest.pipeline.inbound_imap import read_imap
from digest.store import Store

IMAP_HELP = (
    "Also read the IMAP folder of inbound.imap in schedules.yaml (its password in "
    "DIGEST_IMAP_PASSWORD): processed messages move to its processed_folder."
)


def read_imap_folder(store: Store, config: Config) -> tuple[list[InboundReport], bool]:
    """The folder's new messages, each said in a line; (reports, whether it failed)."""
    try:
        run = read_imap(config, store)
    except InputError as exc:  # the server: unreachable, TLS, login (a ConfigError goes up)
        click.echo(f"Error: {exc}", err=True)
        return [], True
    click.echo(run.headline())
    for report in run.reports:
        event = report.event
        if report.outcome == Outcome.RECORDED and event is not None:
            said = f" {event.status}" if event.status else ""
            click.echo(
                f"{event.kind.value}{said}: {event.email} ({event.edition}) from {report.source}"
            )
        elif report.outcome in (Outcome.FORGED, Outcome.UNKNOWN):
            click.echo(f"{report.outcome.value}: {report.source}: {report.reason}")
    for note in run.notes():
        click.echo(note)
    return list(run.reports), False
