"""The operator's view: ``digest check`` (is it set up right, when does it run next) and
``digest history`` (what past runs did)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from digest.cli_context import AppContext
from digest.schedule import next_runs
from digest.store import Store


@click.command("check")
@click.pass_obj
def check_cmd(app: AppContext) -> None:
    """Validate the config and print the next run of each digest."""
    config = app.config()
    click.echo(f"config: {config.where} — ok")
    click.echo(f"store: {config.store_path}")
    smtp = config.smtp
    click.echo(
        f"smtp: {smtp.host}:{smtp.port} ({smtp.security})"
        if smtp.host
        else f"smtp: not set, messages go to {config.outbox}"
    )
    if not config.base_url.startswith("https://"):
        click.echo(
            f"warning: base_url {config.base_url} is not https: mailbox providers require "
            "an https one-click unsubscribe link (RFC 8058)",
            err=True,
        )
    for digest, when in next_runs(config, datetime.now(UTC)):
        click.echo(
            f"digest {digest.name}: '{digest.schedule}' {digest.timezone}, "
            f"next run {when:%a %Y-%m-%d %H:%M %Z}"
        )


@click.command("history")
@click.option("--digest", "digest_name", help="Only this digest.")
@click.pass_obj
def history_cmd(app: AppContext, digest_name: str | None) -> None:
    """Past runs, newest last, with their counts."""
    for run in Store(app.config().store_path).runs(digest_name):
        counts = ", ".join(f"{n} {s}" for s, n in sorted(run["counts"].items())) or "nothing sent"
        flag = "ok" if run["ok"] else "FAILED"
        note = f" — {run['note']}" if run.get("note") else ""
        click.echo(
            f"{run['started_at'][:19]} {run['digest']} {run['edition_date']}: "
            f"{flag}, {counts}{note}"
        )
