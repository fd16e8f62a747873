"""Transactional mail (confirmation, "already subscribed"): the message, and its delivery
through a real SMTP server on loopback, retried on a temporary refusal."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import SmtpServer
from test_cli import run

from digest.config import load_config
from digest.models import Status, Subscriber
from digest.send import RetryPolicy
from digest.store import TinyStore
from digest.web.notices import CONFIRM, KNOWN, Notice, NoticeSender, build_notice

NOW = datetime(2025, 11, 27, 9, 30, tzinfo=UTC)
READER = Subscriber("zoë@example.org", "id-1")


@pytest.mark.parametrize(("kind", "subject"), [(CONFIRM, "Confirm"), (KNOWN, "already")])
def test_a_notice_is_a_plain_transactional_message(
    config_file: Callable[..., Path], kind: str, subject: str
) -> None:
    config = load_config(config_file())
    link = "https://papers.example.org/confirm/abc.def"
    built = build_notice(config, Notice(kind, READER, link, 48), NOW)
    msg = email.message_from_bytes(built.raw, policy=email.policy.default)
    assert subject in msg["Subject"] and msg["To"] == "zoë@example.org"
    assert msg["From"] == "Daily Papers <papers@example.org>"
    assert msg["Message-ID"].endswith("@example.org>") and msg["Auto-Submitted"]
    assert "List-Unsubscribe" not in msg and "Precedence" not in msg  # not list mail
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    assert link in text.get_content() and f'href="{link}"' in html.get_content()
    assert "1 Research Way" in text.get_content()
    if kind == CONFIRM:
        assert "48 hours" in text.get_content()


def test_a_notice_goes_through_the_relay_after_a_temporary_refusal(
    config_file: Callable[..., Path], smtp_server: SmtpServer
) -> None:
    config = load_config(config_file(smtp_host=smtp_server.host, smtp_port=smtp_server.port))
    built = build_notice(config, Notice(CONFIRM, READER, "https://x.example/c/1"), NOW)
    smtp_server.script.data["zoë@example.org"] = "451 4.3.0 try again"

    async def heal_then_send() -> bool:
        sender = NoticeSender(config, policy=RetryPolicy(retries=3, backoff_seconds=0.05))
        task = asyncio.create_task(sender.send(built))
        await asyncio.sleep(0.02)
        del smtp_server.script.data["zoë@example.org"]
        return await task

    assert asyncio.run(heal_then_send())
    assert smtp_server.script.recipients == ["zoë@example.org"]


def test_a_refused_notice_is_logged_not_raised(
    config_file: Callable[..., Path], smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(config_file(smtp_host=smtp_server.host, smtp_port=smtp_server.port))
    built = build_notice(config, Notice(CONFIRM, READER, "https://x.example/c/1"), NOW)
    smtp_server.script.data["zoë@example.org"] = "550 5.1.1 no such user"
    assert not asyncio.run(NoticeSender(config).send(built))
    assert "not sent" in caplog.text and smtp_server.script.messages == []


def test_notice_logs_name_the_reader_by_id_never_by_address(
    config_file: Callable[..., Path], smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 15, bug 11: "notice to eve@example.org sent" put addresses in the logs."""
    caplog.set_level(logging.INFO)
    config = load_config(config_file(smtp_host=smtp_server.host, smtp_port=smtp_server.port))
    built = build_notice(config, Notice(CONFIRM, READER, "https://x.example/c/1"), NOW)
    assert asyncio.run(NoticeSender(config).send(built, READER.id))
    smtp_server.script.data["zoë@example.org"] = "550 5.1.1 <zoë@example.org> no such user"
    assert not asyncio.run(NoticeSender(config).send(built, READER.id))
    said = [r.getMessage() for r in caplog.records if r.name == "digest.web.notices"]
    assert said[0].startswith(f"notice to subscriber {READER.id} sent")
    assert said[1].startswith(f"notice to subscriber {READER.id} not sent")
    assert not [line for line in said if "zoë" in line]


def test_subscribers_add_pending_sends_the_confirmation(
    config_file: Callable[..., Path],
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = config_file(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-0123456789abcdefghijkl")
    code, out, err = run(
        ["--config", str(path), "subscribers", "add", "ann@example.org", "--pending"], capsys
    )
    assert code == 0, err
    assert "confirmation sent (pending)" in out
    sub = TinyStore(load_config(path).store_path).get_subscriber("ann@example.org")
    assert sub is not None and sub.status == Status.PENDING
    (_, rcpts, content) = smtp_server.script.messages[0]
    assert rcpts == ["ann@example.org"] and b"/confirm/" in content


def test_subscribers_add_pending_needs_the_secret_for_a_real_relay(
    config_file: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DIGEST_SECRET", raising=False)
    path = config_file(smtp_host="127.0.0.1", smtp_port=1)
    code, _, err = run(
        ["--config", str(path), "subscribers", "add", "a@b.org", "--pending"], capsys
    )
    assert code == 1 and "DIGEST_SECRET is not set" in err
