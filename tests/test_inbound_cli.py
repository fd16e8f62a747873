"""``digest inbound``, ``digest bounces``, ``digest history --edition`` and ``digest check``
over a real send: the relay (aiosmtpd) sees each reader's own VERP return path, a DSN made
for that message marks the reader, a forged one changes nothing."""

from __future__ import annotations

import json
import mailbox
import sys
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes
from io import BytesIO
from pathlib import Path

import pytest
from bounce_mail import arf, auto_reply, dsn, unsubscribe
from conftest import SAMPLE, SmtpServer, run_cli

from digest.models import Status
from digest.store import TinyStore

DAY = "2025-11-26"
READERS = ("ada@example.org", "bob@example.org", "cy@example.org")
BOUNCES = Path(__file__).parent / "fixtures" / "bounces"


@dataclass
class Sent:
    config: Path
    store: TinyStore
    messages: dict[str, tuple[str, bytes]]  # reader -> (MAIL FROM, message as received)

    def cli(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        return run_cli(["--config", str(self.config), *args], capsys)

    def status(self, reader: str) -> Status:
        sub = self.store.get_subscriber(reader)
        assert sub is not None
        return sub.status


@pytest.fixture
def sent(
    config_file: Callable[..., Path],
    smtp_server: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Sent:
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-0123456789abcdefghijkl")
    config = config_file(smtp_host="127.0.0.1", smtp_port=smtp_server.port)
    text = config.read_text().replace(
        "sender:\n", "sender:\n  envelope_from: bounces@example.org\n"
    )
    config.write_text(text)
    (tmp_path / "readers.csv").write_text("email\n" + "\n".join(READERS) + "\n")
    assert (
        run_cli(
            ["--config", str(config), "subscribers", "import", str(tmp_path / "readers.csv")],
            capsys,
        )[0]
        == 0
    )
    code, _, err = run_cli(
        ["--config", str(config), "send", "--source", str(SAMPLE), "--date", DAY], capsys
    )
    assert code == 0, err
    messages = {
        rcpts[0]: (mail_from, data) for mail_from, rcpts, data in smtp_server.script.messages
    }
    return Sent(config, TinyStore(tmp_path / "store.json"), messages)


def _maildir(root: Path, messages: dict[str, bytes]) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    for name, raw in messages.items():
        (root / "new" / name).write_bytes(raw)
    return root


def test_each_reader_gets_their_own_verp_return_path(sent: Sent) -> None:
    assert sorted(sent.messages) == sorted(READERS)
    paths = {mail_from for mail_from, _ in sent.messages.values()}
    assert len(paths) == 3
    assert all(p.startswith("bounces+") and p.endswith("@example.org") for p in paths)
    assert all(len(p.partition("@")[0]) <= 64 for p in paths)
    for reader, (_, raw) in sent.messages.items():
        header = message_from_bytes(raw)["List-Unsubscribe"] or ""
        assert "mailto:unsubscribe+" in header and "?subject=unsubscribe" in header, reader


def test_a_maildir_of_returned_mail_is_read_sorted_and_moved(
    sent: Sent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ada_from, ada_raw = sent.messages["ada@example.org"]
    _bob_from, bob_raw = sent.messages["bob@example.org"]
    cy_from, _cy_raw = sent.messages["cy@example.org"]
    forged = ada_from.replace("bounces+", "bounces+b", 1)
    box = _maildir(
        tmp_path / "Maildir",
        {
            "1.bounce": dsn(ada_raw, to=ada_from, recipient="ada@example.org"),
            "2.forged": dsn(bob_raw, to=forged, recipient="bob@example.org"),
            "3.complaint": arf(bob_raw, to="fbl@example.org", recipient="bob@example.org"),
            "4.vacation": auto_reply(to=cy_from, in_reply_to="<x@y>"),
            "5.other": (BOUNCES / "not-bounce-01.eml").read_bytes(),
        },
    )
    sent.config.write_text(sent.config.read_text().replace("smtp:\n", "smtp:\n  bounce_limit: 1\n"))
    code, out, err = sent.cli(capsys, "inbound", str(box))
    assert code == 0, err
    assert "hard bounce 5.1.1: ada@example.org (daily/2025-11-26)" in out
    assert "forged:" in out and "unclassified:" in out and "5.other" in out
    assert "2 recorded (1 complaint, 1 hard bounce)" in out
    assert "1 forged" in out and "1 auto-reply" in out and "1 unclassified" in out
    assert sorted(p.name for p in (box / "new").iterdir()) == ["5.other"]  # stays, never deleted
    moved = sorted(p.name for p in (box / ".Processed" / "cur").iterdir())
    assert moved == ["1.bounce:2,S", "2.forged:2,S", "3.complaint:2,S", "4.vacation:2,S"]
    assert sent.status("bob@example.org") == Status.COMPLAINED
    assert sent.status("cy@example.org") == Status.CONFIRMED  # the auto-reply changed nothing
    assert sent.status("ada@example.org") == Status.BOUNCED  # smtp.bounce_limit: 1
    assert sent.status("cy@example.org") == Status.CONFIRMED
    assert "readers: 1 bounced, 1 complained" in out
    code, out, _ = sent.cli(capsys, "inbound", str(box))  # again: the unclassified one only
    assert code == 0 and "1 unclassified" in out and "recorded" not in out


def test_stdin_an_mbox_and_an_eml_file(
    sent: Sent, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ada_from, ada_raw = sent.messages["ada@example.org"]
    _, bob_raw = sent.messages["bob@example.org"]
    token_mailto = (message_from_bytes(bob_raw)["List-Unsubscribe"] or "").split("mailto:")[1]
    mbox_path = tmp_path / "returned.mbox"
    box = mailbox.mbox(mbox_path)
    box.add(
        dsn(ada_raw, to=ada_from, recipient="ada@example.org", status="4.2.2", action="delayed")
    )
    box.add(unsubscribe(to=token_mailto.partition("?")[0]))
    box.close()
    eml = tmp_path / "one.eml"
    eml.write_bytes(dsn(ada_raw, to=ada_from, recipient="ada@example.org"))
    pipe = b"From MAILER-DAEMON Tue Nov 24 07:05:00 2026\n" + dsn(
        ada_raw, to="nobody@example.org", recipient="ada@example.org"
    )
    monkeypatch.setattr(sys, "stdin", type("In", (), {"buffer": BytesIO(pipe)})())
    code, out, err = sent.cli(capsys, "inbound", str(mbox_path), str(eml), "-", str(eml))
    assert code == 0, err
    assert "4 recorded (2 hard bounce, 1 soft bounce, 1 unsubscribe)" in out
    assert "hard bounce 5.1.1: ada@example.org (daily/2025-11-26) from stdin" in out  # Message-ID
    assert "1 duplicate" in out  # the same file twice counts once
    assert sent.status("bob@example.org") == Status.UNSUBSCRIBED  # the mailto token's reader
    assert sent.status("ada@example.org") == Status.CONFIRMED  # hard bounces of one edition
    assert mbox_path.read_bytes().count(b"\nFrom ") + 1 == 2  # the mbox is left as it was


def test_an_unreadable_source_is_one_error_and_the_others_are_read(
    sent: Sent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ada_from, ada_raw = sent.messages["ada@example.org"]
    eml = tmp_path / "one.eml"
    eml.write_bytes(dsn(ada_raw, to=ada_from, recipient="ada@example.org"))
    code, out, err = sent.cli(capsys, "inbound", str(tmp_path / "missing"), str(eml))
    assert code == 1
    assert err.strip().splitlines() == [f"Error: {tmp_path / 'missing'}: no such file or folder"]
    assert "1 recorded" in out
    assert sent.cli(capsys, "inbound")[0] == 2  # no SOURCE: a usage error


def test_bounces_and_history_show_what_came_back(
    sent: Sent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ada_from, ada_raw = sent.messages["ada@example.org"]
    eml = tmp_path / "one.eml"
    eml.write_bytes(dsn(ada_raw, to=ada_from, recipient="ada@example.org"))
    assert sent.cli(capsys, "inbound", str(eml))[0] == 0
    code, out, _ = sent.cli(capsys, "bounces", "--json")
    (event,) = json.loads(out)
    assert (event["reader"], event["kind"], event["edition"], event["status"]) == (
        "ada@example.org",
        "hard bounce",
        "daily/2025-11-26",
        "5.1.1",
    )
    assert event["source"] == f"file {eml}" and "User unknown" in event["diagnostic"]
    code, out, _ = sent.cli(capsys, "bounces")
    assert code == 0 and "ada@example.org" in out and "hard bounce" in out
    code, out, _ = sent.cli(capsys, "bounces", "--since", "2999-01-01")
    assert code == 0 and out.startswith("no returned mail recorded since 2999-01-01")
    assert sent.cli(capsys, "bounces", "--since", "last week")[0] == 2
    code, out, _ = sent.cli(capsys, "history", "--edition", f"daily-{DAY}")
    assert code == 0 and "Came back after the send" in out and "ada@example.org" in out
    code, out, _ = sent.cli(capsys, "history", "--edition", f"daily-{DAY}", "--json")
    assert [e["reader"] for e in json.loads(out)["returned"]] == ["ada@example.org"]


def test_check_warns_of_complaints_and_of_no_inbound_source(
    sent: Sent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, err = sent.cli(capsys, "check")[1:]
    assert "no inbound source is configured (inbound.imap)" in err
    assert "envelope_from is not set" not in err and "complaint rate" not in err
    _, bob_raw = sent.messages["bob@example.org"]
    eml = tmp_path / "fbl.eml"
    eml.write_bytes(arf(bob_raw, to="fbl@example.org", recipient="bob@example.org"))
    assert sent.cli(capsys, "inbound", str(eml))[0] == 0
    _, err = sent.cli(capsys, "check")[1:]
    assert "complaint rate is 33.33 % (1 complaint(s) for 3 message(s) sent)" in err
    sent.config.write_text(
        sent.config.read_text().replace("  envelope_from: bounces@example.org\n", "")
    )
    _, err = sent.cli(capsys, "check")[1:]
    assert "sender.envelope_from is not set" in err
