"""A DSN written by a real Postfix (Debian's), for a message digest sent through it: the
reader the relay refused is marked, by the VERP token the DSN is addressed to."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SAMPLE, Script, free_port, run_cli, running
from postfix_server import postfix_relay, require_postfix

from digest.inbound import classify
from digest.models import MailEventKind, Status
from digest.store import TinyStore

pytestmark = pytest.mark.slow
REFUSED = "550 5.1.1 <ada@example.org>: Recipient address rejected: User unknown"


def test_a_real_postfix_dsn_bounces_the_reader_it_names(
    config_file: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    require_postfix()
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-0123456789abcdefghijkl")
    remote = Script(rcpt={"ada@example.org": REFUSED})  # the readers' mail server
    port = free_port()
    with running(remote) as remote_port, postfix_relay(port, remote_port):
        config = config_file(smtp_host="127.0.0.1", smtp_port=port)
        text = config.read_text().replace(
            "sender:\n", "sender:\n  envelope_from: bounces@example.org\n"
        )
        config.write_text(text.replace("smtp:\n", "smtp:\n  bounce_limit: 1\n"))
        (tmp_path / "r.csv").write_text("email\nada@example.org\nbob@example.org\n")
        cfg = ["--config", str(config)]
        assert run_cli([*cfg, "subscribers", "import", str(tmp_path / "r.csv")], capsys)[0] == 0
        code, _, err = run_cli(
            [*cfg, "send", "--source", str(SAMPLE), "--date", "2025-11-26"], capsys
        )
        assert code == 0, err  # Postfix took both: the refusal comes later, as a DSN
        deadline = time.monotonic() + 30
        while not any(m[0] in ("", "<>") for m in remote.messages) and time.monotonic() < deadline:
            time.sleep(0.1)
    (dsn,) = [(rcpts, data) for sender, rcpts, data in remote.messages if sender in ("", "<>")]
    assert dsn[0][0].startswith("bounces+") and dsn[0][0].endswith("@example.org")
    verdict = classify(dsn[1])
    assert (verdict.kind, verdict.status) == (MailEventKind.HARD_BOUNCE, "5.1.1")
    assert "User unknown" in verdict.diagnostic
    (tmp_path / "dsn.eml").write_bytes(dsn[1])
    code, out, err = run_cli([*cfg, "inbound", str(tmp_path / "dsn.eml")], capsys)
    assert code == 0, err
    assert "hard bounce 5.1.1: ada@example.org (daily/2025-11-26)" in out
    store = TinyStore(tmp_path / "store.json")
    assert store.get_subscriber("ada@example.org").status == Status.BOUNCED  # type: ignore[union-attr]
    assert store.get_subscriber("bob@example.org").status == Status.CONFIRMED  # type: ignore[union-attr]
