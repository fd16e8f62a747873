"""The operator's view: ``digest check`` (is it set up right, when does it run next, does the
relay let us in) and ``digest history`` (what past runs did, and who an edition missed)."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from digest.cli import checks
from digest.cli.audience import EditionAccount, account, grouped, problem_addresses
from digest.cli.context import AppContext
from digest.cli.inbound import event_json, events_table
from digest.cli.report import OK, make_console, runs_csv
from digest.config import Config, DigestConfig
from digest.errors import InputError
from digest.send.probe import ProbeResult, probe
from digest.store import RunRecord, Store, make_store
from digest.store.counts import ReaderSample
from digest.store.migrations import run_json
from digest.windows import next_runs

#: Beyond this many readers, ``history --edition`` groups them by reason.
LONG_LIST = 50
_EDITION = re.compile(r"(?:(?P<digest>.+)[-/])?(?P<date>\d{4}-\d{2}-\d{2})")
_COUNTED = ("sent", "skipped", "failed", "deferred", "unknown")


@click.command("check")
@click.option(
    "--smtp", "try_smtp", is_flag=True, help="Also log in to the SMTP relay (sends nothing)."
)
@click.pass_obj
def check_cmd(app: AppContext, try_smtp: bool) -> None:
    """Validate the config and print the next run of each digest."""
    config = app.config()
    click.echo(f"config: {config.where} — ok")
    click.echo(checks.store_line(config))
    smtp = config.smtp
    click.echo(
        f"smtp: {smtp.host}:{smtp.port} ({smtp.security})"
        if smtp.host
        else f"smtp: not set, messages go to {config.outbox}"
    )
    store = make_store(config)
    exists = checks.store_exists(config)
    stranded = checks.stranded_weekly(config, store) if exists else ReaderSample()
    runs = store.runs() if exists else ()
    week = datetime.now(UTC) - timedelta(days=7)
    events = store.mail_events(since=week) if exists else ()
    click.echo(_scheduler_line(config))
    for warning in checks.warnings(config, stranded, runs, events=events):
        click.echo(f"warning: {warning}", err=True)
    for digest, when in next_runs(config, datetime.now(UTC)):
        click.echo(next_run_line(digest, when))
    if try_smtp:
        click.echo(_try_smtp(config))


def _scheduler_line(config: Config) -> str:
    holder = make_store(config).holder("scheduler")
    if holder is None:
        return (
            "scheduler: none runs this store's schedule (start digest serve, or a timer "
            "running digest send --due)"
        )
    return f"scheduler: digest serve{holder} runs this store's schedule"


def next_run_line(digest: DigestConfig, when: datetime) -> str:
    """``digest daily: '0 7 * * mon-fri' Europe/London, next run Wed 2025-11-26 07:00 GMT
    [2025-11-26 07:00 UTC], each reader gets it at 07:00 their time``."""
    line = (
        f"digest {digest.name}: '{digest.schedule}' {digest.timezone}, "
        f"next run {when:%a %Y-%m-%d %H:%M %Z} [{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC]"
    )
    if digest.local_time:
        line += f", each reader gets it at {when:%H:%M} their time"
    return line


def _try_smtp(config: Config) -> str:
    """One line on what the relay said; a failure raises SendError (one ``Error:`` line)."""
    if not config.smtp.host:
        return f"smtp: no relay set (smtp.host, DIGEST_SMTP_HOST): messages go to {config.outbox}"
    return probe_line(asyncio.run(probe(config.smtp)))


def probe_line(result: ProbeResult) -> str:
    if result.user:
        login = f"authenticated as {result.user}"
    else:
        offered = " ".join(m.upper() for m in result.auth_methods)
        login = "no login (DIGEST_SMTP_USER not set" + (
            f"; the server offers AUTH {offered})" if offered else ")"
        )
    return (
        f"smtp: connected to {result.where} ({result.security}), {login}, "
        f"server says: {result.greeting}"
    )


@click.command("history")
@click.option("--digest", "digest_name", help="Only this digest.")
@click.option(
    "--edition",
    help="One edition (daily-2025-11-26, or a date with --digest): who did not get it, and why.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many of the newest runs to show.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the runs as CSV (a spreadsheet's).")
@click.pass_obj
def history_cmd(
    app: AppContext,
    digest_name: str | None,
    edition: str | None,
    limit: int,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Past runs, newest last, with per-source and per-delivery counts."""
    if as_csv and (as_json or edition is not None):
        raise click.UsageError("--csv lists runs: it goes with neither --json nor --edition")
    config = app.config()
    store = make_store(config)
    if edition is not None:
        name, day = parse_edition(edition, digest_name)
        _show_edition(config, store, name, day, as_json)
        return
    if digest_name is not None:
        config.digest(digest_name)  # an unknown name is an error, not an empty history
    runs = rounds(sorted(store.runs(digest_name), key=lambda r: r.started_at))[-limit:]
    if as_json:
        click.echo(json.dumps([run_json(r) for r in runs], ensure_ascii=False, indent=2))
    elif as_csv:
        click.echo(runs_csv(runs), nl=False)
    elif not runs:
        click.echo("no runs yet")
    else:
        make_console().print(runs_table(runs))


def parse_edition(value: str, digest_name: str | None) -> tuple[str | None, date]:
    """``daily-2025-11-26``, ``daily/2025-11-26`` or ``2025-11-26`` (the digest from
    ``--digest``, else the first one) → (digest name or None, date)."""
    match = _EDITION.fullmatch(value.strip())
    try:
        day = date.fromisoformat(match["date"]) if match else None
    except ValueError:
        day = None
    if match is None or day is None:
        raise click.BadParameter(
            f"{value!r} is not an edition like daily-2025-11-26", param_hint="'--edition'"
        )
    named = match["digest"]
    if named and digest_name and named != digest_name:
        raise click.BadParameter(
            f"{value!r} is an edition of {named!r}, not of --digest {digest_name!r}",
            param_hint="'--edition'",
        )
    return named or digest_name, day


def _show_edition(config: Config, store: Store, name: str | None, day: date, as_json: bool) -> None:
    digest = config.digest(name)
    key = f"{digest.name}/{day.isoformat()}"
    runs = store.runs(digest.name)
    # what a million readers' edition needs: counts, the deliveries not sent, the readers
    # with none, never the whole ledger or the whole list
    found = account(
        digest,
        day,
        runs=runs,
        ledger=store.unsent(key),
        counts=store.delivery_counts(key).by_status,
        settled=store.delivered(key, problem_addresses(runs, digest, day)),
        subscribers=store.unreached(key, digest.name),
        now=datetime.now(UTC),
    )
    if found is None:
        raise InputError(
            f"no run has worked on edition {key}",
            hint=f"digest history --digest {digest.name} lists the editions made",
        )
    returned = store.mail_events(edition=found.key)
    if as_json:
        doc = {**account_json(found), "returned": [event_json(e) for e in returned]}
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    click.echo(edition_header(found))
    if found.missed:
        make_console().print(missed_table(found))
    if returned:  # bounces, complaints and unsubscribes that came back after the send
        make_console().print(events_table(returned, "Came back after the send"))


def edition_header(found: EditionAccount) -> str:
    """``daily/2025-11-26 (Daily Papers): 2 runs (2025-11-26 07:00 ok, …); 3 sent, 1 failed;
    4 did not get it``."""
    if found.runs:
        started = ", ".join(
            f"{_local(r.started_at)} {'ok' if r.ok else 'FAILED'}" for r in found.runs[-5:]
        )
        runs = f"{len(found.runs)} run{'s' * (len(found.runs) != 1)} ({started})"
    elif found.scheduled is not None:
        runs = f"no run yet (scheduled {found.scheduled.at:%a %Y-%m-%d %H:%M %Z})"
    else:
        runs = "no run"
    counts = ", ".join(f"{n} {s}" for s, n in sorted(found.counts.items())) or "nothing sent"
    return (
        f"{found.key} ({found.digest.title}): {runs}; {counts}; {len(found.missed)} did not get it"
    )


def missed_table(found: EditionAccount) -> Table:
    """Reader by reader; grouped by status when there are more than :data:`LONG_LIST`."""
    table = Table(title="Did not get it", title_justify="left")
    if len(found.missed) <= LONG_LIST:
        for col in ("email", "status", "why"):
            table.add_column(col)
        for miss in found.missed:
            table.add_row(miss.email, miss.status, miss.why)
        return table
    for col in ("status", "readers", "why", "first addresses"):
        table.add_column(col, justify="right" if col == "readers" else "left")
    for status, n, why, addresses in grouped(found.missed):
        table.add_row(status, str(n), why, addresses)
    return table


def rounds(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """The runs with each send round's runs (several senders sharing one edition) made one:
    counts added up, and the note says each sender's share."""
    merged: list[RunRecord] = []
    by_round: dict[str, list[RunRecord]] = {}
    for run in runs:
        if not run.round:
            merged.append(run)
        elif run.round not in by_round:
            by_round[run.round] = [run]
            merged.append(run)
        else:
            by_round[run.round].append(run)
    return [_one_round(by_round[r.round]) if r.round else r for r in merged]


def _one_round(runs: Sequence[RunRecord]) -> RunRecord:
    if len(runs) == 1:
        return runs[0]
    counts: Counter[str] = Counter()
    for run in runs:
        counts.update(run.counts)
    shares = "; ".join(f"{r.sender}: {r.counts.get('sent', 0)} sent" for r in runs)
    notes = dict.fromkeys(r.note for r in runs if r.note)
    note = "; ".join([f"{len(runs)} senders ({shares})", *notes])
    return replace(
        runs[0],
        finished_at=max(r.finished_at for r in runs),
        ok=all(r.ok for r in runs),
        note=note,
        counts=dict(counts),
        problems=tuple(p for r in runs for p in r.problems),
        sender=", ".join(r.sender for r in runs),
    )


def runs_table(runs: Sequence[RunRecord]) -> Table:
    table = Table(title="Runs, newest last", title_justify="left")
    for col in ("started", "digest", "edition", "sources", "papers", *_COUNTED, "result", "note"):
        table.add_column(col, justify="right" if col in ("papers", *_COUNTED) else "left")
    for run in runs:
        table.add_row(
            _local(run.started_at),
            run.digest,
            run.edition_date.isoformat(),
            _sources_cell(run.sources),
            str(run.papers),
            *(str(run.counts.get(status, 0)) for status in _COUNTED),
            OK if run.ok else Text("FAILED", style="red"),
            run.note,
        )
    return table


def _sources_cell(sources: Sequence[Mapping[str, Any]]) -> str:
    """``1/1`` or ``1/2, failed: arxiv``."""
    ok = sum(bool(s.get("ok")) for s in sources)
    failed = [str(s.get("name")) for s in sources if not s.get("ok")]
    cell = f"{ok}/{len(sources)}"
    return f"{cell}, failed: {', '.join(failed)}" if failed else cell


def account_json(found: EditionAccount) -> dict[str, Any]:
    return {
        "edition": found.key,
        "digest": found.digest.name,
        "date": found.edition_date.isoformat(),
        "scheduled_at": found.scheduled.at.isoformat() if found.scheduled else None,
        "runs": [run_json(r) for r in found.runs],
        "counts": dict(found.counts),
        "missed": [{"email": m.email, "status": m.status, "why": m.why} for m in found.missed],
    }


def _local(instant: datetime) -> str:
    """An instant as this machine's local time, to the minute."""
    return f"{instant.astimezone():%Y-%m-%d %H:%M}"
