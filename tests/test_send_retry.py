"""A relay that refuses every message (issue 15, bug 2): the edition is not lost. The run says
it was the relay, in one line, exit 1, and counts no bounce against the readers; once the
relay is fixed, ``digest send --retry-failed`` sends to them, never to a suppressed address."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SAMPLE, SmtpServer, run_digest

from digest.models import Status
from digest.store import TinyStore

READERS = ("ada@example.org", "grace@example.org", "kurt@example.org")
SEND = ("send", "--date", "2025-11-26", "--source", str(SAMPLE))


def one_bounce_suppresses(path: Path) -> Path:
    """The config with smtp.bounce_limit 1: a counted bounce would suppress at once."""
    path.write_text(path.read_text().replace("  retries: 2\n", "  retries: 2\n  bounce_limit: 1\n"))
    return path


def refusing(smtp_server: SmtpServer) -> None:
    for reader in READERS:  # as Postfix says it, quoting each recipient
        smtp_server.script.rcpt[reader] = f"550 5.1.1 <{reader}>: Recipient address rejected"


@pytest.fixture
def config(config_file: Callable[..., Path], smtp_server: SmtpServer, tmp_path: Path) -> Path:
    """A config for the loopback relay with smtp.bounce_limit 1, and READERS imported."""
    path = one_bounce_suppresses(config_file(smtp_host="127.0.0.1", smtp_port=smtp_server.port))
    csv = tmp_path / "readers.csv"
    csv.write_text("email\n" + "\n".join(READERS) + "\n")
    assert run_digest(path, "subscribers", "import", str(csv)).returncode == 0
    return path


def test_a_relay_that_refuses_everyone_loses_nothing(
    config: Path, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    refusing(smtp_server)

    first = run_digest(config, *SEND)
    assert first.returncode == 1
    [error] = [line for line in first.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith(
        "Error: the relay refused every message the same way: "
        "550 5.1.1 <<reader>>: Recipient address rejected"
    )
    store = TinyStore(tmp_path / "store.json")
    assert [s.status for s in store.list_subscribers()] == [Status.CONFIRMED] * 3
    (run,) = store.runs()
    assert run.note.startswith("the relay refused every message")

    smtp_server.script.rcpt.clear()  # the operator fixes the relay
    again = run_digest(config, *SEND)
    assert again.returncode == 0 and smtp_server.script.recipients == []  # failed stays failed
    store.set_status("kurt@example.org", Status.UNSUBSCRIBED)  # left in the meantime
    retried = run_digest(config, *SEND, "--retry-failed")
    assert retried.returncode == 0, retried.stderr
    assert sorted(smtp_server.script.recipients) == ["ada@example.org", "grace@example.org"]


def test_readers_whose_addresses_bounce_still_count_as_bounces(
    config: Path, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """One refusal among deliveries that went through is the reader's address, as before."""
    smtp_server.script.rcpt["kurt@example.org"] = "550 5.1.1 <kurt@example.org>: no such user"
    sent = run_digest(config, *SEND)
    assert sent.returncode == 1
    assert "the relay refused every message" not in sent.stderr
    kurt = TinyStore(tmp_path / "store.json").get_subscriber("kurt@example.org")
    assert kurt is not None and kurt.status is Status.BOUNCED  # counted: bounce_limit 1
