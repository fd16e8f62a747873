"""What an operator gets wrong that the config loader cannot refuse (``digest check``).

Each check returns one warning line, or None. They read files but change nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest.config import Config, DigestConfig
from digest.errors import ConfigError
from digest.models import MailEvent, MailEventKind, Status
from digest.render.dkim import DkimSigner
from digest.store import RunRecord, Store
from digest.store.counts import ReaderSample
from digest.store.postgresql import PgStore
from digest.windows import latest_run, next_run


def secret(config: Config) -> str | None:
    if config.smtp.host and not config.secret:
        return (
            "DIGEST_SECRET is not set: a send by SMTP refuses to start without it (the "
            "unsubscribe links must be signed); set it to the output of: openssl rand -hex 32"
        )
    return None


def base_url(config: Config) -> str | None:
    if not config.base_url.startswith("https://"):
        return (
            f"base_url {config.base_url} is not https: mailbox providers require "
            "an https one-click unsubscribe link (RFC 8058)"
        )
    return None


def dkim_key(config: Config) -> str | None:
    """The DKIM key file is there, readable and an RSA private key (a send would fail)."""
    dkim = config.sender.dkim
    if dkim is None:
        return None
    try:
        DkimSigner.from_config(dkim)
    except ConfigError as exc:
        return f"sender.dkim: {exc}"
    return None


def store_line(config: Config) -> str:
    """``store: <where>``; for a PostgreSQL store, with its schema version."""
    if config.store_url is None:
        return f"store: {config.store_path}"
    pg = PgStore(config.store_url)
    applied, known = pg.schema_version()
    if applied >= known:
        return f"store: {pg.location} (PostgreSQL, schema {applied} of {known})"
    return (
        f"store: {pg.location} (PostgreSQL, schema {applied} of {known}: run digest store migrate)"
    )


def store_exists(config: Config) -> bool:
    """There is a store to read readers and runs from (a file, or an up-to-date schema)."""
    if config.store_url is None:
        return config.store_path.exists()
    applied, known = PgStore(config.store_url).schema_version()
    return applied >= known


def store_writable(config: Config) -> str | None:
    """The store's folder (or the nearest one that exists, which the store would create
    folders in) must take new files: every write replaces the file with a new one."""
    if config.store_url is not None:
        return None  # a server's: store_line says whether it answers
    path = config.store_path
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"store {path} cannot be read and written by this user"
    folder = _nearest_existing(path.parent)
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        return f"store {path} is not writable: cannot create files in {folder}"
    return None


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


#: How many of the stranded weekly readers the warning names.
SAMPLE = 3


def stranded_weekly(config: Config, store: Store) -> ReaderSample:
    """The confirmed weekly readers whom no digest of a longer period than a day reaches,
    counted by the store (a million readers are one query, not a million rows), with the
    first :data:`SAMPLE` addresses."""
    longer = [d.name for d in config.digests if d.period != "day"]
    return store.readers_outside(longer, status=Status.CONFIRMED, cadence="weekly", sample=SAMPLE)


def weekly_readers(stranded: ReaderSample) -> str | None:
    """Confirmed weekly readers whom no digest reaches (:func:`stranded_weekly`): weekly
    readers skip the daily digests, so without a digest of a longer period they get nothing."""
    if not stranded.count:
        return None
    more = ", …" if stranded.count > len(stranded.sample) else ""
    sample = ", ".join(stranded.sample) + more
    return (
        f"{stranded.count} weekly reader(s) get nothing ({sample}): none of their digests has "
        "period: week; add a weekly digest, or make them daily"
    )


def stalled(config: Config, runs: Sequence[RunRecord], now: datetime) -> list[str]:
    """Digests whose last scheduled run left no record although they ran before: nothing is
    running the schedule ("it stopped running weeks ago")."""
    found = []
    for digest in config.digests:
        # only scheduled runs show that something runs the schedule (not sends by hand)
        mine = [r for r in runs if r.digest == digest.name and r.scheduled_at]
        run = latest_run(digest, now)
        if (
            not mine
            or run is None
            or now - run.at < timedelta(hours=config.scheduler.catch_up_hours)
        ):
            continue
        if any(r.edition_date == run.edition_date for r in mine):
            continue
        last = f"{max(r.started_at for r in mine).astimezone(UTC):%Y-%m-%d %H:%M}"
        found.append(
            f"digest {digest.name}: its run of {run.at:%a %d %b %H:%M %Z} left no record (the "
            f"last scheduled run started {last} UTC): is digest serve, or digest-send.timer, "
            "running?"
        )
    return found


def dst_hour(config: Config) -> list[str]:
    """Schedules that fire between 01:00 and 03:00 in a zone with daylight saving time: on the
    night the clocks change, that time is skipped or happens twice."""
    found = []
    for digest in config.digests:
        zone = digest.zone
        year = datetime.now(UTC).year
        winter, summer = (datetime(year, month, 15, tzinfo=zone) for month in (1, 7))
        if winter.utcoffset() == summer.utcoffset():
            continue
        start = datetime(year, 1, 1, tzinfo=UTC)
        hours = {_local_hour(digest, start + timedelta(days=d)) for d in range(0, 14, 1)}
        if hours & {1, 2}:
            found.append(
                f"digest {digest.name}: '{digest.schedule}' fires between 01:00 and 03:00 "
                f"{digest.timezone}, the hour daylight saving time skips or repeats: on those "
                "nights the run comes an hour late, or once for two (it is never sent twice); "
                "pick another hour to avoid it"
            )
    return found


def _local_hour(digest: DigestConfig, after: datetime) -> int:
    return next_run(digest, after).astimezone(digest.zone).hour


def envelope_from(config: Config) -> str | None:
    """Without a bounce address of its own, returned mail cannot be told apart per reader."""
    if config.smtp.host and not config.sender.envelope_from:
        return (
            "sender.envelope_from is not set: bounces go to the From address, untagged, so "
            "only their Message-ID can say whom they are about; set it to a mailbox of yours "
            f"(e.g. bounces@{config.sender.domain}) and read it with digest inbound"
        )
    return None


def inbound_source(config: Config) -> str | None:
    """Nothing here reads returned mail unless an IMAP folder is named (a pipe from the MTA
    is invisible from here: this is a hint)."""
    if config.smtp.host and config.inbound.imap is None:
        return (
            "no inbound source is configured (inbound.imap): unless your MTA pipes returned "
            "mail to `digest inbound -`, nothing reads bounces, complaints and mailto "
            "unsubscribes"
        )
    return None


COMPLAINT_RATE = 0.001  # 0.1 %: Gmail blocks above 0.3 %


def complaint_rate(
    runs: Sequence[RunRecord], events: Sequence[MailEvent], now: datetime
) -> str | None:
    """The last 7 days' complaints for the messages sent in them, over 0.1 %."""
    since = now - timedelta(days=7)
    sent = sum(r.counts.get("sent", 0) for r in runs if r.started_at >= since and not r.dry_run)
    complaints = sum(1 for e in events if e.kind == MailEventKind.COMPLAINT and e.at >= since)
    if not complaints or complaints <= COMPLAINT_RATE * sent:
        return None
    rate = f"{100 * complaints / sent:.2f} %" if sent else "no messages sent"
    return (
        f"the last 7 days' complaint rate is {rate} ({complaints} complaint(s) for {sent} "
        "message(s) sent), above 0.1 %: Gmail throttles and then blocks senders near 0.3 % "
        "(digest bounces lists them)"
    )


#: The checks that need only the config, in the order they are printed.
CONFIG_CHECKS: tuple[Callable[[Config], str | None], ...] = (
    secret,
    base_url,
    dkim_key,
    store_writable,
    envelope_from,
    inbound_source,
)


def warnings(
    config: Config,
    stranded: ReaderSample,
    runs: Sequence[RunRecord] = (),
    now: datetime | None = None,
    events: Sequence[MailEvent] = (),
) -> list[str]:
    found = [check(config) for check in CONFIG_CHECKS]
    found.append(complaint_rate(runs, events, now or datetime.now(UTC)))
    found.append(weekly_readers(stranded))
    found += dst_hour(config)
    found += stalled(config, runs, now or datetime.now(UTC))
    return [w for w in found if w]
