"""The operator's commands about readers and numbers, through the real command line:
``subscribers show|update|pause|resume|unsuppress``, ``stats``, ``history --csv``, ``init``.

The store behind them is made by real sends to an SMTP server on loopback that refuses one
address with 550, so the bounces, the ledger and the run records are the real thing."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLE, SmtpServer, run_digest
from conftest import run_cli as run

from digest.config import load_config
from digest.models import MailEvent, MailEventKind
from digest.store import TinyStore

Cli = Callable[..., tuple[int, str, str]]

READERS = """\
email,topics,digests,cadence,timezone,status
ada@example.org,"diffusion, agents",daily,daily,Asia/Tokyo,
gone@example.org,,,daily,,
left@example.org,,,daily,,unsubscribed
"""


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``digest ARGS`` in-process, links signed with a test secret."""
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-0123456789abcdefghijkl")
    return lambda *args: run(list(args), capsys)


@pytest.fixture
def sent(
    cli: Cli, smtp_server: SmtpServer, config_file: Callable[..., Path], tmp_path: Path
) -> Path:
    """Two editions sent by SMTP (2025-11-26 and 27): gone@ is refused with 550 both times,
    so it is bounced (bounce_limit 2); left@ unsubscribed; ada@ got both."""
    smtp_server.script.rcpt["gone@example.org"] = "550 5.1.1 no such user"
    config = config_file("127.0.0.1", smtp_server.port)
    (tmp_path / "readers.csv").write_text(READERS)
    assert (
        cli("--config", str(config), "subscribers", "import", str(tmp_path / "readers.csv"))[0] == 0
    )
    source = tmp_path / "day.json"
    papers = json.loads(SAMPLE.read_text())
    for day, chunk in (("2025-11-26", papers[:3]), ("2025-11-27", papers[3:6])):
        source.write_text(json.dumps(chunk))
        code, _, err = cli(
            "--config", str(config), "send", "--source", f"hf-daily:{source}", "--date", day
        )
        assert code == 1, err  # gone@'s failure fails the run
    del smtp_server.script.rcpt["gone@example.org"]  # the address is fixed now
    return config


def only_error(err: str) -> str:
    """The one Error: line of stderr (the test relay's own log lines left out)."""
    lines = [line for line in err.splitlines() if line and "mail.log" not in line]
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    return lines[0]


def shown(cli: Cli, config: Path, email: str) -> dict[str, Any]:
    code, out, err = cli("--config", str(config), "subscribers", "show", email, "--json")
    assert code == 0, err
    found: dict[str, Any] = json.loads(out)
    return found


# show ----------------------------------------------------------------------------------------


def test_show_tells_everything_about_one_reader(cli: Cli, sent: Path) -> None:
    code, out, _ = cli("--config", str(sent), "subscribers", "show", "ADA@example.org")
    assert code == 0
    assert "ada@example.org (id " in out
    assert "  status: confirmed\n" in out
    assert "  topics: diffusion, agents\n" in out and "  timezone: Asia/Tokyo\n" in out
    assert "  digests: daily\n" in out and "  cadence: daily\n" in out
    assert "  hard bounces in a row: 0\n" in out
    assert "  last deliveries: 2\n" in out
    lines = out.splitlines()
    newest = lines.index("  last deliveries: 2") + 1
    assert (
        "daily/2025-11-27  sent" in lines[newest] and "daily/2025-11-26  sent" in lines[newest + 1]
    )
    found = shown(cli, sent, "ada@example.org")
    assert [d["edition"] for d in found["deliveries"]] == ["daily/2025-11-27", "daily/2025-11-26"]
    assert found["status"] == "confirmed" and found["timezone"] == "Asia/Tokyo"


def test_show_a_bounced_reader_gives_the_count_and_the_replies(cli: Cli, sent: Path) -> None:
    found = shown(cli, sent, "gone@example.org")
    assert found["status"] == "bounced"
    assert found["hard_bounces"] == 2
    assert {d["status"] for d in found["deliveries"]} == {"failed"}
    assert all("550" in d["reason"] for d in found["deliveries"])


def test_show_lists_the_mail_that_came_back(cli: Cli, sent: Path, tmp_path: Path) -> None:
    complain(tmp_path, "ada@example.org")
    code, out, _ = cli("--config", str(sent), "subscribers", "show", "ada@example.org")
    assert code == 0
    assert "  status: complained\n" in out
    assert "  mail that came back: 1\n" in out
    assert "complaint  daily/2025-11-26  abuse (test arf)" in out


@pytest.mark.parametrize(
    ("address", "said"),
    [("nobody@example.org", "no subscriber nobody@example.org"), ("not-an-address", "not a valid")],
)
@pytest.mark.parametrize("command", ["show", "update", "pause", "resume", "unsuppress"])
def test_an_unknown_or_malformed_address_is_one_error_line(
    cli: Cli, config_file: Callable[..., Path], command: str, address: str, said: str
) -> None:
    extra = ["--cadence", "weekly"] if command == "update" else []
    code, out, err = cli("--config", str(config_file()), "subscribers", command, address, *extra)
    assert code == 1
    assert said in only_error(err)
    assert out == ""


# update --------------------------------------------------------------------------------------


def test_update_changes_only_what_is_passed(cli: Cli, sent: Path) -> None:
    before = shown(cli, sent, "ada@example.org")
    code, out, _ = cli(
        "--config", str(sent), "subscribers", "update", "ada@example.org", "--topics", "robotics"
    )
    assert (code, out) == (0, "updated ada@example.org: topics\n")
    after = shown(cli, sent, "ada@example.org")
    assert after["topics"] == ["robotics"]
    assert {k: v for k, v in after.items() if k != "topics"} == {
        k: v for k, v in before.items() if k != "topics"
    }  # timezone, consent, confirmed_at, id, deliveries: as they were


def test_update_sets_several_and_clears_with_an_empty_value(cli: Cli, sent: Path) -> None:
    args = ["--cadence", "weekly", "--authors", "Ada Lovelace; Alan Turing", "--timezone", ""]
    code, out, _ = cli("--config", str(sent), "subscribers", "update", "ada@example.org", *args)
    assert (code, out) == (0, "updated ada@example.org: authors, cadence, timezone\n")
    after = shown(cli, sent, "ada@example.org")
    assert after["cadence"] == "weekly" and after["timezone"] is None
    assert after["authors"] == ["Ada Lovelace", "Alan Turing"]
    assert after["topics"] == ["diffusion", "agents"]


def test_update_checks_the_result_not_just_what_was_passed(cli: Cli, sent: Path) -> None:
    # filter mode needs topics or authors: ada's stored topics count
    update = ("--config", str(sent), "subscribers", "update")
    assert cli(*update, "ada@example.org", "--topic-mode", "filter")[0] == 0
    assert shown(cli, sent, "ada@example.org")["topic_mode"] == "filter"
    code, _, err = cli(*update, "ada@example.org", "--topics", "")
    assert code == 1 and "topic mode 'filter'" in only_error(err)
    assert shown(cli, sent, "ada@example.org")["topics"] == ["diffusion", "agents"]


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--timezone", "Mars/Olympus", "not an IANA timezone"),
        ("--digest", "hourly", "unknown digest 'hourly'"),
    ],
)
def test_update_refuses_a_bad_value_and_changes_nothing(
    cli: Cli, sent: Path, option: str, value: str, said: str
) -> None:
    before = shown(cli, sent, "ada@example.org")
    code, out, err = cli(
        "--config", str(sent), "subscribers", "update", "ada@example.org", option, value
    )
    assert (code, out) == (1, "")
    assert said in only_error(err)
    assert shown(cli, sent, "ada@example.org") == before


def test_update_with_nothing_to_change_is_a_usage_error(cli: Cli, sent: Path) -> None:
    code, _, err = cli("--config", str(sent), "subscribers", "update", "ada@example.org")
    assert code == 2 and "nothing to change" in err


def test_update_leaves_an_unsubscribed_reader_alone(cli: Cli, sent: Path) -> None:
    code, _, err = cli(
        "--config", str(sent), "subscribers", "update", "left@example.org", "--topics", "x"
    )
    assert code == 1
    assert "left@example.org is unsubscribed" in only_error(err)
    assert shown(cli, sent, "left@example.org")["topics"] == []


# pause and resume ----------------------------------------------------------------------------


def test_pause_and_resume_keep_every_choice(cli: Cli, sent: Path) -> None:
    before = shown(cli, sent, "ada@example.org")
    command = ("--config", str(sent), "subscribers")
    assert cli(*command, "pause", "ada@example.org")[1] == "paused ada@example.org\n"
    assert shown(cli, sent, "ada@example.org") == {**before, "paused": True}
    assert cli(*command, "pause", "ada@example.org")[1] == "ada@example.org is already paused\n"
    assert cli(*command, "resume", "ada@example.org")[1] == "resumed ada@example.org\n"
    assert shown(cli, sent, "ada@example.org") == before


def test_a_paused_reader_gets_no_edition(
    cli: Cli, sent: Path, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    assert cli("--config", str(sent), "subscribers", "pause", "ada@example.org")[0] == 0
    assert cli("--config", str(sent), "subscribers", "add", "bob@example.org")[0] == 0
    source = tmp_path / "day.json"
    source.write_text(json.dumps(json.loads(SAMPLE.read_text())[6:9]))
    smtp_server.script.messages.clear()
    send = ("--config", str(sent), "send", "--source", f"hf-daily:{source}")
    code, _, err = cli(*send, "--date", "2025-11-28")
    assert code == 0, err
    assert smtp_server.script.recipients == ["bob@example.org"]


def test_pausing_a_suppressed_reader_is_refused(cli: Cli, sent: Path) -> None:
    code, _, err = cli("--config", str(sent), "subscribers", "pause", "gone@example.org")
    assert code == 1 and "gone@example.org is bounced" in only_error(err)


# unsuppress ----------------------------------------------------------------------------------


def test_unsuppress_a_bounced_address_says_why_then_mails_it_again(
    cli: Cli, sent: Path, smtp_server: SmtpServer
) -> None:
    code, out, _ = cli("--config", str(sent), "subscribers", "unsuppress", "gone@example.org")
    assert code == 0
    why, done = out.splitlines()
    assert why.startswith("gone@example.org was suppressed: 2 hard bounces in a row; the last: ")
    assert "550" in why and "daily/2025-11-2" in why
    assert done == "unsuppressed gone@example.org: confirmed again, hard bounces reset to 0"
    found = shown(cli, sent, "gone@example.org")
    assert (found["status"], found["hard_bounces"]) == ("confirmed", 0)
    # and the next send reaches it: the relay takes the address now
    smtp_server.script.messages.clear()
    send = ("--config", str(sent), "send", "--date", "2025-11-27", "--retry-failed")
    code, _, err = cli(*send, "--source", f"hf-daily:{SAMPLE}")
    assert code == 0, err
    assert smtp_server.script.recipients == ["gone@example.org"]


def test_unsuppress_refuses_an_unsubscribed_address(cli: Cli, sent: Path) -> None:
    code, out, err = cli("--config", str(sent), "subscribers", "unsuppress", "left@example.org")
    assert (code, out) == (1, "")
    assert "left@example.org unsubscribed; only the reader can subscribe again" in only_error(err)
    assert shown(cli, sent, "left@example.org")["status"] == "unsubscribed"


def test_unsuppress_refuses_a_complained_address(cli: Cli, sent: Path, tmp_path: Path) -> None:
    complain(tmp_path, "ada@example.org")
    code, _, err = cli("--config", str(sent), "subscribers", "unsuppress", "ada@example.org")
    assert code == 1
    assert "ada@example.org complained" in only_error(err)
    assert "only the reader" in only_error(err)
    assert shown(cli, sent, "ada@example.org")["status"] == "complained"


def test_unsuppress_a_confirmed_address_is_an_error(cli: Cli, sent: Path) -> None:
    code, _, err = cli("--config", str(sent), "subscribers", "unsuppress", "ada@example.org")
    assert code == 1 and "is confirmed, not suppressed" in only_error(err)


def complain(tmp_path: Path, email: str) -> None:
    """A spam complaint about ``email``'s 2025-11-26 email, as digest inbound records one."""
    event = MailEvent(
        MailEventKind.COMPLAINT,
        email,
        "daily/2025-11-26",
        "arf-1",
        datetime(2025, 11, 26, 12, 0, tzinfo=UTC),
        source="test arf",
        diagnostic="abuse",
    )
    effect = TinyStore(tmp_path / "store.json").record_event(event, bounce_limit=2, soft_limit=3)
    assert effect is not None


# stats ---------------------------------------------------------------------------------------


def test_stats_counts_readers_editions_and_returned_mail(
    cli: Cli, sent: Path, tmp_path: Path
) -> None:
    complain(tmp_path, "ada@example.org")
    code, out, _ = cli("--config", str(sent), "stats", "--json")
    assert code == 0
    found = json.loads(out)
    readers = found["subscribers"]
    assert readers["total"] == 3
    assert readers["by_status"] == {
        "pending": 0,
        "confirmed": 0,
        "unsubscribed": 1,
        "bounced": 1,
        "complained": 1,
    }
    assert found["editions_sent"] == {"daily": 2}
    newest, older = found["editions"]
    assert newest["edition"] == "daily/2025-11-27" and older["edition"] == "daily/2025-11-26"
    assert older["deliveries"] == {"failed": 1, "sent": 1}
    assert older["hard_bounces"] == 1  # gone@'s 550, in our own SMTP transaction
    assert older["returned"] == {"complaint": 1}
    assert (older["complaint_rate"], older["bounce_rate"]) == (1.0, 0.5)
    assert (newest["complaint_rate"], newest["bounce_rate"]) == (0.0, 0.5)


def test_stats_counts_recent_confirmations(cli: Cli, sent: Path) -> None:
    assert cli("--config", str(sent), "subscribers", "add", "new@example.org")[0] == 0
    code, out, _ = cli("--config", str(sent), "stats", "--json")
    assert code == 0
    readers = json.loads(out)["subscribers"]
    assert readers["by_status"]["confirmed"] == 2
    assert readers["confirmed_last_7_days"] >= 1 and readers["confirmed_last_30_days"] >= 1
    assert readers["confirmed_by_digest"] == {"daily": 2}


def test_stats_prints_tables(cli: Cli, sent: Path) -> None:
    code, out, _ = cli("--config", str(sent), "stats", "--editions", "1")
    assert code == 0
    assert "3 subscribers" in out and "Editions sent: daily 2" in out
    assert "daily/2025-11-27" in out and "daily/2025-11-26" not in out


def test_stats_of_an_unknown_digest_is_one_error_line(cli: Cli, sent: Path) -> None:
    code, _, err = cli("--config", str(sent), "stats", "--digest", "hourly")
    assert code == 1 and "hourly" in only_error(err)


# history --csv -------------------------------------------------------------------------------


def test_history_csv_has_a_row_per_run(cli: Cli, sent: Path) -> None:
    code, out, _ = cli("--config", str(sent), "history", "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["edition"] for r in rows] == ["2025-11-26", "2025-11-27"]
    assert {(r["digest"], r["ok"], r["sent"], r["failed"], r["papers"]) for r in rows} == {
        ("daily", "false", "1", "1", "3")
    }
    assert rows[0]["started_at"].endswith("+00:00")


@pytest.mark.parametrize("other", [["--json"], ["--edition", "daily-2025-11-26"]])
def test_history_csv_goes_with_runs_only(cli: Cli, sent: Path, other: list[str]) -> None:
    code, out, err = cli("--config", str(sent), "history", "--csv", *other)
    assert code == 2 and out == "" and "--csv" in err


# init ----------------------------------------------------------------------------------------


def test_init_writes_a_starter_a_newcomer_can_run(tmp_path: Path) -> None:
    folder = tmp_path / "newsletter"
    done = run_digest(tmp_path / "none.yaml", "init", str(folder))
    assert done.returncode == 0, done.stderr
    config = folder / "schedules.yaml"
    assert f"wrote {config} and {folder / 'subscribers.csv'}" in done.stdout
    assert "sender.from" in done.stdout
    text = config.read_text()
    assert "# EDIT" in text and text.count("\n#") > 5  # commented, and says what to edit
    loaded = load_config(config, env={})
    assert [d.name for d in loaded.digests] == ["daily", "weekly"]
    assert run_digest(config, "check").returncode == 0
    imported = run_digest(config, "subscribers", "import", str(folder / "subscribers.csv"))
    assert imported.returncode == 0, imported.stderr
    assert "3 added" in imported.stdout


def test_init_never_overwrites(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "subscribers.csv").write_text("email\nmine@example.org\n")
    code, out, err = cli("init", str(tmp_path))
    assert (code, out) == (1, "")
    assert "subscribers.csv already exists; nothing was written" in only_error(err)
    assert not (tmp_path / "schedules.yaml").exists()
    assert (tmp_path / "subscribers.csv").read_text() == "email\nmine@example.org\n"


def test_init_in_the_current_folder(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli("init")
    assert code == 0 and (tmp_path / "schedules.yaml").is_file()
    assert "  2. digest check" in out  # the default config: no --config to type
