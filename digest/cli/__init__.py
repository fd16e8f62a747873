"""The ``digest`` command line: parse options, call the library, print the result.

Domain errors become one ``Error:`` line on stderr here and nowhere else; ``-v`` adds the
traceback. Exit codes: 0 all good, 1 something failed, 2 usage error.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from digest.cli.context import AppContext, edition_options, print_sources
from digest.cli.inbound import bounces_cmd, inbound_cmd
from digest.cli.init import init_cmd
from digest.cli.ops import check_cmd, history_cmd
from digest.cli.papers import fetch_cmd, parse_cmd, rank_cmd
from digest.cli.report import (
    deliveries_table,
    dry_run_table,
    due_line,
    make_console,
    send_progress,
    summary_line,
)
from digest.cli.stats import stats_cmd
from digest.cli.store import store
from digest.cli.subscribers import subscribers
from digest.config import Config, find_config_path
from digest.config.load import MAX_WORKERS
from digest.errors import ConfigError, DigestError
from digest.fetch import make_client
from digest.links import DEV_SECRET, require_secret
from digest.pipeline import SendRequest, SendResult, send_edition
from digest.pipeline.collect import collect_edition
from digest.pipeline.readers import preview_html, subscriber_named
from digest.schedule.due import send_due
from digest.schedule.scheduler import Scheduler
from digest.store import make_store
from digest.subscribers import normalise_address

F = TypeVar("F", bound=Callable[..., Any])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="Config file (default: $DIGEST_CONFIG, else ./schedules.yaml).",
)
@click.option("-v", "--verbose", is_flag=True, help="More logging, and tracebacks on errors.")
@click.version_option(package_name="papers-digest")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """digest: a self-hosted daily research-papers newsletter."""
    ctx.obj = AppContext.start(config_path, verbose)  # logs to stderr from here on


cli.add_command(subscribers)
cli.add_command(store)
cli.add_command(check_cmd)
cli.add_command(history_cmd)
cli.add_command(parse_cmd)
cli.add_command(fetch_cmd)
cli.add_command(rank_cmd)
cli.add_command(stats_cmd)
cli.add_command(init_cmd)
cli.add_command(inbound_cmd)
cli.add_command(bounces_cmd)


@cli.command("send")
@edition_options
@click.option("--dry-run", is_flag=True, help="Write .eml files and check them; send nothing.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write .eml files to this folder instead of sending by SMTP.",
)
@click.option("--to", "to", multiple=True, help="Test send to only this address (no ledger).")
@click.option(
    "--retry-unknown",
    is_flag=True,
    help="Also resend deliveries an interrupted run left unknown (they may arrive twice).",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Also send again the deliveries that failed (say, a relay that refused every message, "
    "now fixed); suppressed addresses stay suppressed.",
)
@click.option(
    "--due",
    is_flag=True,
    help="Only what the schedule says is due now (for a timer or cron; safe to repeat).",
)
@click.pass_obj
def send_cmd(
    app: AppContext,
    digest_name: str | None,
    edition_date: date | None,
    sources: tuple[str, ...],
    dry_run: bool,
    out_dir: Path | None,
    to: tuple[str, ...],
    retry_unknown: bool,
    retry_failed: bool,
    due: bool,
) -> None:
    """Build the edition and mail it to every confirmed subscriber, once.

    With --due, do what the schedule says is due now, for every digest (or --digest): make
    an edition whose scheduled run has come, and deliver it to the readers whose local
    time has come. Run it every 15 minutes from a timer or cron."""
    if due:
        manual = {
            "--date": edition_date,
            "--source": sources,
            "--dry-run": dry_run,
            "--out": out_dir,
            "--to": to,
            "--retry-unknown": retry_unknown,
            "--retry-failed": retry_failed,
        }
        for option, given in manual.items():
            if given:
                raise click.UsageError(f"--due chooses the edition and the readers: drop {option}")
        _send_due(app, digest_name)
        return
    config, target = app.target(digest_name, edition_date, sources)
    addresses = tuple(normalise_address(a) for a in to)
    store = make_store(config)
    with stop_on_sigterm() as stop, make_client() as client, send_progress() as progress:
        request = SendRequest(
            target,
            dry_run=dry_run,
            out_dir=out_dir,
            to=addresses,
            retry_unknown=retry_unknown,
            retry_failed=retry_failed,
            stop=stop,
        )
        result = send_edition(config, store, request, client, progress)
    _print_send(config, result)
    if not result.report.ok or stop.is_set():
        sys.exit(1)


def _send_due(app: AppContext, digest_name: str | None) -> None:
    config = app.config(service=True)
    digests = (config.digest(digest_name),) if digest_name else config.digests
    store, now, ok = make_store(config), datetime.now(UTC), True
    with stop_on_sigterm() as stop, make_client() as client:
        for digest in digests:
            if stop.is_set():
                break
            result = send_due(config, store, digest, now, client, stop)
            if result.sent is not None:
                _print_send(config, result.sent)
            else:
                click.echo(due_line(result))
            ok = ok and result.ok
    if not ok or stop.is_set():
        sys.exit(1)


@contextmanager
def stop_on_sigterm() -> Iterator[threading.Event]:
    """An event set by SIGTERM (``systemctl stop``, a timer's timeout, ``kill``): a send
    then finishes the messages in flight, records them, and leaves the rest unclaimed for the
    next run, instead of dying mid-transaction and leaving deliveries ``unknown``."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_send(config: Config, result: SendResult) -> None:
    print_sources(result.report.sources)
    checks = result.checks
    table = dry_run_table(checks) if result.report.dry_run else deliveries_table(result.report)
    if table.row_count:  # a big run that went well has nothing to list: the summary says it
        make_console().print(table)
    for address in result.suppressed:
        click.echo(f"suppressed {address}: too many hard bounces", err=True)
    if not config.secret and result.report.counts:
        click.echo(
            f"warning: DIGEST_SECRET is not set; links are signed with {DEV_SECRET!r}", err=True
        )
    click.echo(summary_line(result.report, result.transport))
    if result.relay_refusal is not None:
        click.echo(
            f"Error: the relay refused every message the same way: {result.relay_refusal} "
            "(no reader counted a bounce: fix the relay or smtp settings, then run "
            "digest send --retry-failed)",
            err=True,
        )


@cli.command("preview")
@edition_options
@click.option("--subscriber", help="Preview as this subscriber sees it.")
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="HTML file to write (default: <outbox>/preview-<digest>.html).",
)
@click.pass_obj
def preview_cmd(
    app: AppContext,
    digest_name: str | None,
    edition_date: date | None,
    sources: tuple[str, ...],
    subscriber: str | None,
    out_file: Path | None,
) -> None:
    """Write the HTML of one email to a file and print its path."""
    config, target = app.target(digest_name, edition_date, sources)
    store = make_store(config)
    if subscriber is not None:
        subscriber_named(store, subscriber)  # before fetching: a stranger is an error
    with make_client() as client:
        collected = collect_edition(target, client)
    address = subscriber or "reader@example.org"
    html = preview_html(config, store, target, collected.papers, address, datetime.now(UTC))
    path = out_file or config.outbox / f"preview-{target.digest.name}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    click.echo(str(path))


@cli.command("serve")
@click.option("--host", help="Address to listen on (default: web.host, 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default: web.port, 8000).")
@click.option(
    "--workers",
    type=click.IntRange(1, MAX_WORKERS),
    help="Web processes (default: web.workers, 1); more than one needs the PostgreSQL store.",
)
@click.option(
    "--no-scheduler",
    is_flag=True,
    help="Web pages only; editions are sent by `digest send --due` from a timer or cron.",
)
@click.pass_obj
def serve_cmd(
    app: AppContext, host: str | None, port: int | None, workers: int | None, no_scheduler: bool
) -> None:
    """Run the web app (subscribe, confirm, preferences, unsubscribe, archive) and the
    scheduler that sends each digest on its schedule."""
    from digest.web.serve import Serve, serve

    config = app.config(service=True)
    local = config.is_local  # by the host alone (config.is_local_url)
    if not config.secret and local:
        click.echo(
            f"warning: DIGEST_SECRET is not set; links are signed with {DEV_SECRET!r}, "
            "which is only acceptable on this machine",
            err=True,
        )
    how = Serve(
        config=config,
        config_path=find_config_path(app.config_path, os.environ),
        host=host or config.web.host,
        port=port or config.web.port,
        workers=workers or config.web.workers,
        verbose=app.verbose,
        allow_dev_secret=local,
    )
    _check_can_listen(how.host, how.port)  # before the scheduler takes the store's lock
    serve(how, None if no_scheduler else lambda: _start_scheduling(config))


def _check_can_listen(host: str, port: int) -> None:
    """One ConfigError line when ``host:port`` cannot be listened on (uvicorn would log
    several lines and exit 3); it binds as uvicorn does, then lets go."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                hint="another digest serve or program may use that port: stop it, or choose "
                "another with --port or web.port",
            ) from None


def _start_scheduling(config: Config) -> Scheduler:
    """The scheduler for ``serve``, once this process holds the store's scheduler lock (held
    until the process exits)."""
    if config.smtp.host:
        require_secret(config, "the scheduler would send real emails, whose links must be signed")
    scheduler = Scheduler(config)
    scheduler.claim()
    return scheduler


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: runs the CLI and turns domain errors into one ``Error:`` line."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="digest", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DigestError as exc:
        if "-v" in args or "--verbose" in args:
            traceback.print_exc()
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
