"""``digest init [DIR]``: a commented ``schedules.yaml`` and a sample ``subscribers.csv`` to
start from, for someone who installed the package and has no clone to copy them from."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from digest.config import DEFAULT_CONFIG_NAME
from digest.errors import InputError

SAMPLE_READERS = "subscribers.csv"

#: The starter config: the shipped example's settings, with what to edit first said at the
#: top and next to each value a newcomer must change.
STARTER = """\
# digest configuration, written by `digest init`. Paths are relative to this file.
#
# Edit first (marked EDIT below): sender.from, sender.postal_address, base_url. Then:
#   digest check                               # validates this file, shows the next runs
#   digest subscribers import subscribers.csv  # three sample readers (edit or replace them)
#   digest send --dry-run                      # writes each email to outbox/, sends nothing
#
# Secrets never go here: DIGEST_SMTP_USER, DIGEST_SMTP_PASSWORD and DIGEST_SECRET come from
# the environment, which also overrides store (DIGEST_STORE), smtp.host/port/security
# (DIGEST_SMTP_HOST, DIGEST_SMTP_PORT, DIGEST_SMTP_SECURITY) and base_url (DIGEST_BASE_URL).

store: digest-store.json          # the TinyDB file: subscribers, editions, deliveries, runs
outbox: outbox                    # .eml files go here for --dry-run, or when smtp.host is unset
base_url: http://localhost:8000   # EDIT: where `digest serve` is reachable (https for real use)

sender:
  from: "Daily Papers <papers@example.org>"   # EDIT: an address on your own domain
  reply_to: null
  postal_address: "Example Lab, 1 Research Way, Cambridge CB1 2AB, United Kingdom"  # EDIT
  unsubscribe_mailto: unsubscribe@example.org  # EDIT: a mailbox on your domain, or null
  # dkim:                         # optional DKIM signing in process (about 1 ms a message);
  #                               # skip it if your relay signs
  #   selector: s1                # publish the public key at s1._domainkey.<domain>
  #   key_file: dkim-private.pem  # RSA, 2048 bits: openssl genrsa -out dkim-private.pem 2048

smtp:
  host: null                      # EDIT: unset, messages are written to the outbox folder
  port: 587
  security: starttls              # none | starttls | tls
  timeout: 30
  retries: 3                      # temporary failures (4xx, dropped connections) are retried
  retry_backoff: 2                # seconds before the first retry, doubled each time
  connections: 4                  # SMTP connections used at once
  rate: 0                         # messages per second at most (0: as fast as the relay takes)
  messages_per_connection: 100    # reconnect after this many messages
  bounce_limit: 2                 # hard bounces (5xx) before an address is suppressed
  ca_file: null                   # PEM file of a private CA your relay uses (default: system)

web:                              # `digest serve`: subscribe, confirm, preferences, archive
  host: 127.0.0.1                 # behind a reverse proxy (nginx, caddy) that terminates TLS
  port: 8000
  workers: 1                      # web processes: one per core on PostgreSQL (TinyDB: 1)
  confirm_hours: 48               # a confirmation link (and an unconfirmed address) lives this long
  per_client_per_hour: 10         # subscribe requests from one client address
  per_address_per_hour: 3         # confirmation emails to one address (no mail-bombing)
  proxies: null                   # proxy address(es) whose X-Forwarded-For to believe

scheduler:                        # `digest serve` (and `digest send --due` from a timer)
  catch_up_hours: 6               # a run missed while the machine slept is made up once, if at
                                  # most this late; older misses are logged and skipped

log:                              # one line per event on stderr (journald keeps them)
  format: keyvalue                # keyvalue | json   (env: DIGEST_LOG_FORMAT)
  level: info                     # debug | info | warning | error   (env: DIGEST_LOG_LEVEL)

digests:                          # EDIT: one entry per newsletter
  daily:
    title: Daily Papers
    sources:
      - hf-daily                  # Hugging Face Daily Papers: the last complete day
      # - arxiv-rss:cs.LG+cs.CL   # arXiv's announcements of the day (new and cross-lists)
      # - hf-search:world models  # what HF's paper search finds for a topic
      # - kind: feed              # any RSS / Atom / JSON Feed of papers
      #   url: https://papers.takara.ai/api/feed
    schedule: "0 7 * * mon-fri"   # cron; use day names, not numbers
    timezone: Europe/London       # the edition is made at 07:00 here...
    local_time: true              # ...and each reader gets it at 07:00 in their own timezone
    size: 10                      # papers per email
    period: day
    half_life_days: 3             # trending: upvotes count half after this many days
    topic_mode: boost             # readers' topics: boost (matching papers first) | filter
                                  # (only matching papers); a reader may choose
    min_relevance: 0.15           # 0..1: how well a paper must match a topic to count

  weekly:
    title: Weekly Papers
    sources:
      - kind: hf-daily
        period: week              # the whole ISO week before the send
    schedule: "0 8 * * mon"
    timezone: Europe/London
    size: 15
    period: week
"""


@click.command("init")
@click.argument(
    "directory", default=".", type=click.Path(file_okay=False, path_type=Path), required=False
)
def init_cmd(directory: Path) -> None:
    """Write a commented schedules.yaml and a sample subscribers.csv into DIRECTORY (default:
    here), to edit and start from. Existing files are never overwritten."""
    files = {
        directory / DEFAULT_CONFIG_NAME: STARTER,
        directory / SAMPLE_READERS: resources.files("digest.samples")
        .joinpath(SAMPLE_READERS)
        .read_text(encoding="utf-8"),
    }
    there = [path for path in files if path.exists()]
    if there:
        raise InputError(
            f"{there[0]} already exists; nothing was written",
            hint="digest init writes only new files: choose another folder, or move it away",
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            with path.open("x", encoding="utf-8") as out:  # "x": never over a file
                out.write(text)
    except OSError as exc:
        raise InputError(f"cannot write {exc.filename or directory}: {exc.strerror}") from exc
    config = directory / DEFAULT_CONFIG_NAME
    option = "" if directory == Path(".") else f" --config {config}"
    click.echo(f"wrote {config} and {directory / SAMPLE_READERS}")
    click.echo("next:")
    click.echo(f"  1. edit {config}: sender.from, sender.postal_address, base_url (marked EDIT)")
    click.echo(f"  2. digest{option} check")
    click.echo(f"  3. digest{option} subscribers import {directory / SAMPLE_READERS}")
    click.echo(
        f"  4. digest{option} send --dry-run   (writes the emails to outbox/, sends nothing)"
    )
