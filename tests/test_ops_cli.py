"""The operator's view: ``digest check`` (config warnings, next runs, ``--smtp`` against a real
relay on loopback) and ``digest history`` (runs, and who an edition missed and why)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from conftest import (
    SAMPLE,
    SMTP_PASSWORD,
    SMTP_USER,
    WEEKLY_DIGEST,
    Script,
    SmtpServer,
    TlsServer,
    authenticate,
    free_port,
)
from test_cli import run

from digest.cli import checks
from digest.cli.audience import account
from digest.cli.ops import rounds
from digest.config import Config, DigestConfig, load_config
from digest.config.sources import SourceSpec
from digest.models import Delivery, DeliveryStatus, Status, Subscriber
from digest.store import RunRecord, TinyStore
from digest.store.migrations import run_record

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """Runs ``digest ARGS`` in-process with a clean DIGEST_* environment and a secret set."""
    for name in ("DIGEST_SMTP_USER", "DIGEST_SMTP_PASSWORD", "DIGEST_STORE", "DIGEST_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-0123456789abcdefghijkl")

    def invoke(*args: str) -> tuple[int, str, str]:
        return run(list(args), capsys)

    return invoke


def error_lines(err: str) -> list[str]:
    """stderr holds one Error: line, and otherwise only warnings (and the log lines of the
    test's own SMTP server, which runs in this process)."""
    lines = [line for line in err.splitlines() if "logger=mail.log" not in line]
    assert all(line.startswith(("Error: ", "warning: ")) for line in lines), err
    return [line for line in lines if line.startswith("Error: ")]


# --- check --smtp ------------------------------------------------------------------------------


def with_security(config: Path, security: str, ca_file: Path | None = None) -> Path:
    extra = f"\n  ca_file: {ca_file}" if ca_file else ""
    config.write_text(config.read_text().replace("security: none", f"security: {security}{extra}"))
    return config


@pytest.fixture
def ca_file(tls_ca: trustme.CA, tmp_path: Path) -> Path:
    """The test CA's certificate as a PEM file, for smtp.ca_file."""
    path = tmp_path / "relay-ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return path


def nothing_sent(script: Script) -> None:
    assert script.connections == 0, "no MAIL FROM"
    assert script.messages == []


def test_smtp_login_over_starttls_with_the_private_ca(
    cli: Run,
    tls_smtp: Any,
    config_file: Callable[..., Path],
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server: TlsServer = tls_smtp("starttls")
    config = with_security(config_file("127.0.0.1", server.port), "starttls", ca_file)
    monkeypatch.setenv("DIGEST_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", SMTP_PASSWORD)
    code, out, err = cli("--config", str(config), "check", "--smtp")
    assert code == 0, err
    line = out.splitlines()[-1]
    assert line.startswith(
        f"smtp: connected to 127.0.0.1:{server.port} (starttls), authenticated as digest, "
        "server says: "
    )
    assert len(line) > len("server says: ") + line.index("server says: ")  # the EHLO line
    nothing_sent(server.script)
    assert server.script.quits == 1


def test_a_rejected_login_is_one_error_line(
    cli: Run,
    tls_smtp: Any,
    config_file: Callable[..., Path],
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server: TlsServer = tls_smtp("starttls")
    config = with_security(config_file("127.0.0.1", server.port), "starttls", ca_file)
    monkeypatch.setenv("DIGEST_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "wrong")
    code, _, err = cli("--config", str(config), "check", "--smtp")
    assert code == 1
    (line,) = error_lines(err)
    assert f"SMTP 127.0.0.1:{server.port} refused the login for 'digest': 535" in line
    assert "DIGEST_SMTP_PASSWORD" in line  # the hint
    nothing_sent(server.script)


def test_an_untrusted_certificate_is_named(
    cli: Run, tls_smtp: Any, config_file: Callable[..., Path]
) -> None:
    server: TlsServer = tls_smtp("starttls")
    config = with_security(config_file("127.0.0.1", server.port), "starttls")
    code, _, err = cli("--config", str(config), "check", "--smtp")
    assert code == 1
    (line,) = error_lines(err)
    assert f"TLS with SMTP 127.0.0.1:{server.port} failed at STARTTLS" in line
    assert "certificate" in line
    nothing_sent(server.script)


def test_login_without_tls_on_a_plain_relay(
    cli: Run, config_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    script = Script()
    controller = Controller(
        script,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticate,
        auth_require_tls=False,  # a local relay: AUTH in clear text
    )
    controller.start()
    try:
        monkeypatch.setenv("DIGEST_SMTP_USER", SMTP_USER)
        monkeypatch.setenv("DIGEST_SMTP_PASSWORD", SMTP_PASSWORD)
        code, out, err = cli(
            "--config", str(config_file("127.0.0.1", controller.port)), "check", "--smtp"
        )
    finally:
        controller.stop()
    assert code == 0, err
    assert f"smtp: connected to 127.0.0.1:{controller.port} (none), authenticated as digest" in out
    nothing_sent(script)
    assert script.quits == 1


def test_no_login_configured_says_what_the_server_offers(
    cli: Run, smtp_server: SmtpServer, config_file: Callable[..., Path]
) -> None:
    code, out, _ = cli(
        "--config", str(config_file("127.0.0.1", smtp_server.port)), "check", "--smtp"
    )
    assert code == 0
    assert f"smtp: connected to 127.0.0.1:{smtp_server.port} (none), no login" in out
    nothing_sent(smtp_server.script)


def test_a_refused_connection_names_the_port(cli: Run, config_file: Callable[..., Path]) -> None:
    port = free_port()  # nothing listens there
    code, _, err = cli("--config", str(config_file("127.0.0.1", port)), "check", "--smtp")
    assert code == 1
    (line,) = error_lines(err)
    assert f"SMTP 127.0.0.1:{port} refused the connection: nothing listens on port {port}" in line
    assert "check smtp.port" in line


def test_a_name_that_does_not_resolve_is_a_dns_error(
    cli: Run, config_file: Callable[..., Path]
) -> None:
    code, _, err = cli("--config", str(config_file("relay.invalid", 587)), "check", "--smtp")
    assert code == 1
    (line,) = error_lines(err)
    assert "cannot look up the SMTP host 'relay.invalid' (DNS)" in line


def test_without_a_relay_messages_go_to_the_outbox(
    cli: Run, config_file: Callable[..., Path], tmp_path: Path
) -> None:
    code, out, _ = cli("--config", str(config_file()), "check", "--smtp")
    assert code == 0
    assert (
        f"smtp: no relay set (smtp.host, DIGEST_SMTP_HOST): messages go to {tmp_path}/outbox" in out
    )


# --- check: warnings and next runs ------------------------------------------------------------


def test_next_runs_show_utc_and_the_readers_local_time(
    cli: Run, config_file: Callable[..., Path]
) -> None:
    extra = WEEKLY_DIGEST.replace("Europe/London", "America/New_York") + "    local_time: false\n"
    code, out, _ = cli("--config", str(config_file(extra=extra)), "check")
    assert code == 0
    daily, weekly = (line for line in out.splitlines() if line.startswith("digest "))
    assert daily.startswith("digest daily: '0 7 * * mon-fri' Europe/London, next run ")
    utc = daily.split("[")[1].split("]")[0]
    assert utc.endswith(("07:00 UTC", "06:00 UTC"))  # GMT, or BST
    assert daily.endswith(", each reader gets it at 07:00 their time")
    assert weekly.endswith("13:00 UTC]") or weekly.endswith("12:00 UTC]")  # 08:00 in New York
    assert "their time" not in weekly


def test_a_missing_secret_with_a_relay_is_a_warning(
    cli: Run, config_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIGEST_SECRET")
    code, _, err = cli("--config", str(config_file("relay.example.org", 587)), "check")
    assert code == 0
    assert "warning: DIGEST_SECRET is not set: a send by SMTP refuses to start" in err
    code, _, err = cli("--config", str(config_file()), "check")  # the outbox needs no secret
    assert "DIGEST_SECRET" not in err


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 2048-bit RSA private key (openssl), for the DKIM checks."""
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(path), "2048"], check=True, capture_output=True
    )
    return path


@pytest.mark.parametrize(
    ("key", "warning"),
    [
        ("missing", "warning: sender.dkim: cannot read the DKIM key file"),
        ("text", "does not hold an RSA private key in PEM"),
        ("rsa", None),
    ],
)
def test_dkim_key_file_is_checked(
    cli: Run,
    config_file: Callable[..., Path],
    tmp_path: Path,
    rsa_key: Path,
    key: str,
    warning: str | None,
) -> None:
    path = {"missing": tmp_path / "nope.pem", "text": tmp_path / "notes.txt", "rsa": rsa_key}[key]
    (tmp_path / "notes.txt").write_text("not a key\n")
    config = config_file()
    config.write_text(
        config.read_text().replace(
            "  unsubscribe_mailto: unsubscribe@example.org\n",
            "  unsubscribe_mailto: unsubscribe@example.org\n"
            f"  dkim: {{selector: s1, key_file: {path}}}\n",
        )
    )
    code, _, err = cli("--config", str(config), "check")
    assert code == 0
    if warning is None:
        assert "dkim" not in err
    else:
        (line,) = [e for e in err.splitlines() if "dkim" in e]
        assert warning in line and str(path) in line


def test_weekly_readers_without_a_weekly_digest_are_a_warning(
    cli: Run, config_file: Callable[..., Path]
) -> None:
    daily_only = config_file()
    assert (
        cli(
            "--config",
            str(daily_only),
            "subscribers",
            "add",
            "w@example.org",
            "--cadence",
            "weekly",
        )[0]
        == 0
    )
    err = cli("--config", str(daily_only), "check")[2]
    assert "warning: 1 weekly reader(s) get nothing (w@example.org)" in err
    err = cli("--config", str(config_file(extra=WEEKLY_DIGEST)), "check")[2]
    assert "weekly reader" not in err


def test_a_store_that_cannot_be_written_is_a_warning(
    cli: Run, config_file: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("DIGEST_STORE", str(tmp_path / "a-file" / "store.json"))
    code, _, err = cli("--config", str(config_file()), "check")
    assert code == 0
    assert f"warning: store {tmp_path}/a-file/store.json is not writable" in err
    monkeypatch.setenv("DIGEST_STORE", str(tmp_path / "new" / "store.json"))
    assert "store" not in cli("--config", str(config_file()), "check")[2]


# --- history -------------------------------------------------------------------------------


READERS = """\
email,cadence,status
ok@example.org,daily,
gone@example.org,daily,
paused@example.org,daily,
pending@example.org,daily,pending
weekly@example.org,weekly,
"""


@pytest.fixture
def sent_editions(
    cli: Run, smtp_server: SmtpServer, config_file: Callable[..., Path], tmp_path: Path
) -> Iterator[Path]:
    """Two real editions sent by SMTP from the same 3 papers: 2025-11-26 (one address refused
    with 550, a paused, a pending and a weekly reader; late@ subscribed after it) and
    2025-11-27 (nothing new for those who got the first)."""
    smtp_server.script.rcpt["gone@example.org"] = "550 5.1.1 no such user"
    config = config_file("127.0.0.1", smtp_server.port)
    source = tmp_path / "hf-daily-3.json"  # fewer papers than an email holds: one edition shows all
    source.write_text(json.dumps(json.loads(SAMPLE.read_text())[:3]))
    (tmp_path / "readers.csv").write_text(READERS)
    assert (
        cli("--config", str(config), "subscribers", "import", str(tmp_path / "readers.csv"))[0] == 0
    )
    store = TinyStore(tmp_path / "store.json")
    paused = store.get_subscriber("paused@example.org")
    assert paused is not None
    store.update_preferences(paused.id, paused.choices, paused=True)
    send = ("--config", str(config), "send", "--source", f"hf-daily:{source}", "--date")
    assert cli(*send, "2025-11-26")[0] == 1  # a failed delivery fails the run
    assert cli("--config", str(config), "subscribers", "add", "late@example.org")[0] == 0
    assert cli(*send, "2025-11-27")[0] == 1
    yield config


def missed(cli: Run, config: Path, *args: str) -> dict[str, tuple[str, str]]:
    code, out, err = cli("--config", str(config), "history", *args, "--json")
    assert code == 0, err
    return {m["email"]: (m["status"], m["why"]) for m in json.loads(out)["missed"]}


def test_an_edition_says_who_did_not_get_it_and_why(cli: Run, sent_editions: Path) -> None:
    found = missed(cli, sent_editions, "--edition", "daily-2025-11-26")
    late = found.pop("late@example.org")
    assert found == {
        "gone@example.org": ("failed", "550 5.1.1 no such user (at RCPT)"),
        "paused@example.org": ("paused", "paused their emails"),
        "pending@example.org": ("pending", "has not confirmed the address yet"),
        "weekly@example.org": (
            "weekly",
            "reads weekly: gets the weekly digest, not this daily one",
        ),
    }
    assert late[0] == "joined later"
    assert late[1].startswith("subscribed ") and ", after the edition was made at " in late[1]
    assert "ok@example.org" not in found
    slash = missed(cli, sent_editions, "--edition", "daily/2025-11-26")
    assert slash.pop("late@example.org") == late and slash == found


def test_the_ledger_and_the_runs_speak_before_the_subscriber_list(
    cli: Run, sent_editions: Path
) -> None:
    second = missed(cli, sent_editions, "--digest", "daily", "--edition", "2025-11-27")
    assert second["ok@example.org"] == (
        "skipped",
        "all 3 papers of this edition were in earlier emails",
    )
    assert "late@example.org" not in second  # the papers were new to them: sent
    # bounced twice, so suppressed now; the ledger's reply is what explains it
    assert second["gone@example.org"] == ("failed", "550 5.1.1 no such user (at RCPT)")
    first = missed(cli, sent_editions, "--edition", "daily-2025-11-26")
    assert first["gone@example.org"][0] == "failed"


def test_an_edition_as_a_table(cli: Run, sent_editions: Path) -> None:
    code, out, _ = cli("--config", str(sent_editions), "history", "--edition", "daily-2025-11-26")
    assert code == 0
    header, *rest = out.splitlines()
    assert header.startswith("daily/2025-11-26 (Daily Papers): 1 run (")
    assert header.endswith(" FAILED); 1 failed, 1 sent; 5 did not get it")
    table = "\n".join(rest)
    for email, status in [("gone@example.org", "failed"), ("pending@example.org", "pending")]:
        (row,) = [r for r in rest if email in r]
        assert status in row
    assert "Did not get it" in table and "ok@example.org" not in table


def test_an_unknown_edition_is_an_error(cli: Run, sent_editions: Path) -> None:
    code, _, err = cli("--config", str(sent_editions), "history", "--edition", "daily-2025-11-20")
    assert code == 1
    (line,) = error_lines(err)
    assert line.startswith("Error: no run has worked on edition daily/2025-11-20")


def test_edition_options_that_disagree_are_a_usage_error(cli: Run, sent_editions: Path) -> None:
    args = ("--config", str(sent_editions), "history", "--digest", "weekly")
    code, _, err = cli(*args, "--edition", "daily-2025-11-26")
    assert code == 2 and "is an edition of 'daily'" in err
    code, _, err = cli("--config", str(sent_editions), "history", "--edition", "yesterday")
    assert code == 2 and "not an edition like daily-2025-11-26" in err


def test_history_lists_runs_newest_last(cli: Run, sent_editions: Path) -> None:
    code, out, _ = cli("--config", str(sent_editions), "history")
    assert code == 0
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if "│" in line]
    assert [r[2] for r in rows] == ["2025-11-26", "2025-11-27"]
    # sources, papers, sent, skipped, failed, deferred, unknown, result
    assert rows[0][3:11] == ["1/1", "3", "1", "0", "1", "0", "0", "FAILED"]
    assert rows[1][3:11] == ["1/1", "3", "1", "1", "1", "0", "0", "FAILED"]
    code, out, _ = cli("--config", str(sent_editions), "history", "--limit", "1", "--json")
    (only,) = json.loads(out)
    assert only["edition_date"] == "2025-11-27"
    assert only["counts"] == {"failed": 1, "sent": 1, "skipped": 1}


def test_a_long_list_is_grouped_by_reason(
    cli: Run, config_file: Callable[..., Path], tmp_path: Path
) -> None:
    config = config_file()  # the outbox: no relay needed
    rows = [f"p{n:02}@example.org,pending" for n in range(60)]
    (tmp_path / "many.csv").write_text("email,status\nreader@example.org,\n" + "\n".join(rows))
    assert cli("--config", str(config), "subscribers", "import", str(tmp_path / "many.csv"))[0] == 0
    assert (
        cli("--config", str(config), "send", "--source", str(SAMPLE), "--date", "2025-11-26")[0]
        == 0
    )
    code, out, _ = cli("--config", str(config), "history", "--edition", "daily-2025-11-26")
    assert code == 0
    assert "60 did not get it" in out.splitlines()[0]
    (row,) = [line for line in out.splitlines() if "pending" in line]
    assert "60" in row and "p00@example.org, p01@example.org, p02@example.org, … 57 more" in row
    assert "p03@example.org" not in out


# --- the account itself, with a fixed clock -----------------------------------------------------

DAILY = DigestConfig(
    "daily", "Daily", (SourceSpec("hf-daily", "hf-daily"),), "0 7 * * mon-fri", "Europe/London"
)
DAY = date(2025, 11, 26)  # a Wednesday: the run is at 07:00 London (07:00 UTC)
AFTER_RUN = datetime(2025, 11, 26, 8, 0, tzinfo=UTC)


def reader(email: str, timezone: str | None = None, **kw: Any) -> Subscriber:
    joined = datetime(2025, 1, 1, tzinfo=UTC)
    return Subscriber(email, id=email, timezone=timezone, created_at=joined, **kw)


def scheduled_run(**kw: Any) -> RunRecord:
    """A run as a store written before runs said ``missed`` recorded it."""
    doc = {
        "digest": "daily",
        "edition_date": "2025-11-26",
        "started_at": "2025-11-26T07:00:05+00:00",
        "ok": True,
        "note": "",
        "scheduled_at": "2025-11-26T07:00:00+00:00",
        "problems": [],
    }
    return run_record(doc | kw)


def test_readers_whose_window_is_ahead_are_due_in_their_timezone() -> None:
    subs = [reader("london@example.org"), reader("ny@example.org", "America/New_York")]
    sent = Delivery("daily/2025-11-26", "london@example.org", DeliveryStatus.SENT)
    found = account(
        DAILY, DAY, runs=[scheduled_run()], ledger=[sent], subscribers=subs, now=AFTER_RUN
    )
    assert found is not None
    assert [(m.email, m.status, m.why) for m in found.missed] == [
        ("ny@example.org", "due", "due at 2025-11-26 07:00 (America/New_York)")
    ]
    by_hand = scheduled_run(scheduled_at=None)  # sent to everyone at once: nobody is due
    found = account(DAILY, DAY, runs=[by_hand], ledger=[sent], subscribers=subs, now=AFTER_RUN)
    assert found is not None and found.missed[0].status == "not sent"


def test_an_edition_not_made_yet_is_known_while_readers_are_due() -> None:
    subs = [reader("ny@example.org", "America/New_York")]
    early = datetime(2025, 11, 26, 6, 0, tzinfo=UTC)
    found = account(DAILY, DAY, runs=[], ledger=[], subscribers=subs, now=early)
    assert found is not None and found.missed[0].why == "due at 2025-11-26 07:00 (America/New_York)"
    late = datetime(2025, 11, 28, tzinfo=UTC)
    assert account(DAILY, DAY, runs=[], ledger=[], subscribers=subs, now=late) is None


@pytest.mark.parametrize(
    ("delivery", "status", "why"),
    [
        (DeliveryStatus.UNKNOWN, "unknown", "a run stopped while sending it: it may have arrived"),
        (DeliveryStatus.DEFERRED, "deferred", "451 try later; the next run tries again"),
        (DeliveryStatus.FAILED, "failed", "451 try later"),
    ],
)
def test_ledger_entries_say_what_became_of_the_delivery(
    delivery: DeliveryStatus, status: str, why: str
) -> None:
    entry = Delivery("daily/2025-11-26", "a@example.org", delivery, reason="451 try later")
    found = account(DAILY, DAY, runs=[], ledger=[entry], subscribers=[], now=AFTER_RUN)
    assert found is not None
    (miss,) = found.missed
    assert (miss.status, miss.why.startswith(why)) == (status, True)


def test_a_missed_run_and_suppressed_readers_are_explained() -> None:
    subs = [
        reader("r@example.org"),
        reader("u@example.org", status=Status.UNSUBSCRIBED),
        reader("b@example.org", status=Status.BOUNCED),
        reader("other@example.org", digests=("weekly",)),  # not a reader of this digest
    ]
    missed_run = scheduled_run(ok=False, note="missed: the machine was off until 19:00")
    found = account(DAILY, DAY, runs=[missed_run], ledger=[], subscribers=subs, now=AFTER_RUN)
    assert found is not None
    assert {m.email: (m.status, m.why) for m in found.missed} == {
        "r@example.org": ("missed", "missed: the machine was off until 19:00"),
        "u@example.org": ("unsubscribed", "unsubscribed"),
        "b@example.org": ("bounced", "suppressed: the address bounced too often"),
    }


def _config(tmp_path: Path, schedule: str, timezone: str) -> Config:
    path = tmp_path / "schedules.yaml"
    path.write_text(
        f"store: {tmp_path / 'store.json'}\n"
        'sender: {from: "P <p@example.org>", postal_address: "1 Way"}\n'
        "digests:\n"
        f"  daily: {{sources: [hf-daily], schedule: '{schedule}', timezone: {timezone}}}\n"
    )
    return load_config(path, {})


def _run(edition_date: str, started: str) -> RunRecord:
    doc = {
        "digest": "daily",
        "edition_date": edition_date,
        "started_at": started,
        "scheduled_at": started,
        "note": "",
    }
    return run_record(doc)


def test_a_schedule_nobody_runs_any_more_is_a_warning(tmp_path: Path) -> None:
    config = _config(tmp_path, "0 7 * * mon-fri", "Europe/London")
    now = datetime(2026, 11, 24, 15, tzinfo=UTC)  # Tuesday afternoon
    ran = [_run("2026-11-20", "2026-11-20T07:00:02+00:00")]  # last seen on Friday
    (warning,) = checks.stalled(config, ran, now)
    assert "run of Tue 24 Nov 07:00 GMT left no record" in warning
    assert "last scheduled run started 2026-11-20 07:00 UTC" in warning
    assert "digest serve" in warning and "digest-send.timer" in warning
    today = [*ran, _run("2026-11-24", "2026-11-24T07:00:01+00:00")]
    assert checks.stalled(config, today, now) == []
    assert checks.stalled(config, [], now) == []  # a digest that never ran: a new install
    early = datetime(2026, 11, 24, 9, tzinfo=UTC)  # within catch_up_hours: it may yet run
    assert checks.stalled(config, ran, early) == []


@pytest.mark.parametrize(
    ("schedule", "timezone", "warned"),
    [
        ("30 1 * * *", "America/New_York", True),
        ("0 2 * * mon", "Europe/Paris", True),
        ("30 1 * * *", "UTC", False),  # no daylight saving time
        ("30 1 * * *", "Asia/Tokyo", False),
        ("0 7 * * mon-fri", "Europe/London", False),
    ],
)
def test_a_schedule_in_the_dst_hour_is_a_warning(
    tmp_path: Path, schedule: str, timezone: str, warned: bool
) -> None:
    found = checks.dst_hour(_config(tmp_path, schedule, timezone))
    assert bool(found) == warned
    if warned:
        assert "daylight saving time" in found[0] and "never sent twice" in found[0]


def test_check_says_whether_a_scheduler_runs_this_store(
    cli: Run, config_file: Callable[..., Path], tmp_path: Path
) -> None:
    config = config_file()
    _, out, _ = cli("--config", str(config), "check")
    assert "scheduler: none runs this store's schedule" in out
    with TinyStore(tmp_path / "store.json").exclusive("scheduler"):
        held = subprocess.run(
            [sys.executable, "-m", "digest", "--config", str(config), "check"],
            capture_output=True,
            text=True,
            check=False,
        )
    assert f"scheduler: digest serve (pid {os.getpid()}) runs" in held.stdout


def test_history_shows_a_round_of_several_senders_as_one_run() -> None:
    def run(sender: str, sent: int, minute: int, round_: str = "r1") -> RunRecord:
        at = datetime(2026, 12, 1, 8, minute, tzinfo=UTC)
        return RunRecord(
            "daily",
            date(2026, 12, 1),
            at,
            at,
            True,
            counts={"sent": sent},
            round=round_,
            sender=sender,
        )

    alone = RunRecord(
        "daily",
        date(2026, 11, 30),
        datetime(2026, 11, 30, tzinfo=UTC),
        datetime(2026, 11, 30, tzinfo=UTC),
        True,
        counts={"sent": 5},
    )
    merged = rounds(
        [alone, run("a pid 1", 40, 1), run("b pid 2", 38, 2), run("c pid 3", 0, 3, "r2")]
    )
    assert [r.counts.get("sent") for r in merged] == [5, 78, 0]
    assert merged[1].note == "2 senders (a pid 1: 40 sent; b pid 2: 38 sent)"
    assert merged[1].finished_at.minute == 2
