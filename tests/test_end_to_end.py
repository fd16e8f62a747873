"""The real pipeline, twice, through a real SMTP server: the second run sends nothing new."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from conftest import SAMPLE

READERS = ("ada@example.org", "grace@example.org", "alan@example.org")


def digest(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs the installed command line as an operator would."""
    full_env = {**os.environ, "DIGEST_SECRET": "test-secret-0123456789abcdefghijkl", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


def parse_message(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_send_twice_to_three_subscribers(
    smtp_server: Any, config_file: Callable[..., Path]
) -> None:
    config = config_file(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    for reader in READERS:
        assert digest(config, "subscribers", "add", reader).returncode == 0

    first = digest(config, "send", "--date", "2025-11-26", "--source", str(SAMPLE))
    assert first.returncode == 0, first.stderr
    assert "sent 3 via SMTP" in first.stdout
    received = smtp_server.script.messages
    assert sorted(rcpt[0] for _, rcpt, _ in received) == sorted(READERS)

    for sender, rcpts, raw in received:
        msg = parse_message(raw)
        assert sender == "papers@example.org"
        assert msg["To"] == rcpts[0]
        assert msg.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in msg.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        assert msg["Subject"].startswith("Daily Papers — Wed 26 Nov: ")
        assert msg["Message-ID"].endswith("@example.org>")
        assert msg["Date"] and msg["List-Id"] and msg["Auto-Submitted"] == "auto-generated"
        assert "<https://papers.example.org/unsubscribe/" in msg["List-Unsubscribe"]
        assert re.search(  # the reader's own mailto address (issue 17)
            r"<mailto:unsubscribe\+[a-z2-7]{39}@example.org\?subject=unsubscribe>",
            msg["List-Unsubscribe"],
        )
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert "https://papers.example.org/unsubscribe/" in text
        assert "https://huggingface.co/papers/" in html and "<table" in html

    second = digest(config, "send", "--date", "2025-11-26", "--source", str(SAMPLE))
    assert second.returncode == 0, second.stderr
    assert "sent 0 via SMTP" in second.stdout and "3 skipped" in second.stdout
    assert len(smtp_server.script.messages) == 3

    runs = json.loads(digest(config, "history", "--json").stdout)
    assert [r["edition_date"] for r in runs] == ["2025-11-26", "2025-11-26"]


def test_next_edition_does_not_repeat_papers(
    smtp_server: Any, config_file: Callable[..., Path]
) -> None:
    config = config_file(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    digest(config, "subscribers", "add", "ada@example.org")
    digest(config, "send", "--date", "2025-11-26", "--source", str(SAMPLE))
    digest(config, "send", "--date", "2025-11-27", "--source", str(SAMPLE))
    first, second = (parse_message(raw) for _, _, raw in smtp_server.script.messages)
    first_links = _paper_links(first)
    second_links = _paper_links(second)
    assert len(first_links) == 5 and len(second_links) == 5
    assert not first_links & second_links


def _paper_links(msg: EmailMessage) -> set[str]:
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return {w for w in text.split() if w.startswith("https://huggingface.co/papers/")}


def test_dry_run_writes_eml_and_changes_nothing(
    smtp_server: Any, config_file: Callable[..., Path], tmp_path: Path
) -> None:
    config = config_file(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    for reader in READERS:
        digest(config, "subscribers", "add", reader)
    store = tmp_path / "store.json"
    before = store.read_bytes()
    out = tmp_path / "dry"
    run = digest(
        config,
        "send",
        "--dry-run",
        "--out",
        str(out),
        "--date",
        "2025-11-26",
        "--source",
        str(SAMPLE),
    )
    assert run.returncode == 0, run.stderr
    assert "would send 3 (dry run: messages in" in run.stdout
    assert sorted(p.name for p in out.glob("*.eml")) == sorted(f"{r}.eml" for r in READERS)
    assert store.read_bytes() == before
    assert not (tmp_path / "store.ledger").exists()  # no delivery recorded anywhere
    assert smtp_server.script.messages == []
    rows = [line for line in run.stdout.splitlines() if "@example.org" in line]
    assert len(rows) == 3
    assert all(re.search(r"│\s+5 │ .* KB │ ok\s+│ Daily Papers", row) for row in rows), rows


def test_dry_run_after_a_send_skips_who_already_got_it(
    smtp_server: Any, config_file: Callable[..., Path], tmp_path: Path
) -> None:
    config = config_file(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    digest(config, "subscribers", "add", "ada@example.org")
    digest(config, "send", "--date", "2025-11-26", "--source", str(SAMPLE))
    digest(config, "subscribers", "add", "bob@example.org")
    run = digest(config, "send", "--dry-run", "--date", "2025-11-26", "--source", str(SAMPLE))
    assert "would send 1 (dry run" in run.stdout and "(1 skipped)" in run.stdout
    assert len(smtp_server.script.messages) == 1


def test_test_send_touches_no_ledger(
    smtp_server: Any, config_file: Callable[..., Path], tmp_path: Path
) -> None:
    config = config_file(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    digest(config, "subscribers", "add", "ada@example.org")
    before = (tmp_path / "store.json").read_bytes()
    run = digest(
        config, "send", "--to", "me@example.org", "--date", "2025-11-26", "--source", str(SAMPLE)
    )
    assert run.returncode == 0, run.stderr
    assert [m[1] for m in smtp_server.script.messages] == [["me@example.org"]]
    assert (tmp_path / "store.json").read_bytes() == before
    assert not (tmp_path / "store.ledger").exists()


def test_real_send_without_secret_is_refused(
    smtp_server: Any, config_file: Callable[..., Path]
) -> None:
    config = config_file(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    digest(config, "subscribers", "add", "ada@example.org")
    run = digest(config, "send", "--source", str(SAMPLE), env={"DIGEST_SECRET": ""})
    assert run.returncode == 1
    assert run.stderr.startswith("Error: DIGEST_SECRET is not set")
    assert smtp_server.script.messages == []


def test_broken_source_is_reported_and_the_rest_goes_on(
    smtp_server: Any, config_file: Callable[..., Path], tmp_path: Path
) -> None:
    config = config_file(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    digest(config, "subscribers", "add", "ada@example.org")
    broken = tmp_path / "broken.json"
    broken.write_text('[{"paper": ')
    run = digest(
        config,
        "send",
        "--date",
        "2025-11-26",
        "--source",
        str(SAMPLE),
        "--source",
        f"hf-daily:{broken}",
    )
    assert run.returncode == 1
    assert "broken.json" in run.stderr
    assert len(smtp_server.script.messages) == 1


def test_daily_digest_from_a_local_api_mirror(
    smtp_server: Any, config_file: Callable[..., Path], http_server: Any
) -> None:
    """The default source path: the API asked for the last complete day, paged, then mailed."""
    items = json.loads(SAMPLE.read_bytes())

    def api(req: Any) -> tuple[int, dict[str, str], bytes]:
        query = parse_qs(urlparse(req.path).query)
        page, limit = int(query["p"][0]), int(query["limit"][0])
        body = items[page * limit : (page + 1) * limit] if query["date"] == ["2025-11-25"] else []
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    server = http_server(api)
    config = config_file(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    text = config.read_text().replace(
        "sources: [hf-daily]",
        f"sources: [{{kind: hf-daily, url: '{server.url}/api/daily_papers'}}]",
    )
    config.write_text(text)
    digest(config, "subscribers", "add", "ada@example.org")
    run = digest(config, "send", "--date", "2025-11-26")
    assert run.returncode == 0, run.stderr
    assert [parse_qs(urlparse(p).query)["date"] for p in server.requests] == [["2025-11-25"]]
    (message,) = smtp_server.script.messages
    assert "General Agentic Memory" in parse_message(message[2])["Subject"]


def test_monday_edition_takes_the_days_since_friday(
    config_file: Callable[..., Path], http_server: Any
) -> None:
    """A Monday-to-Friday digest's Monday edition has Friday's, Saturday's and Sunday's papers:
    Friday's list completes after Friday's run, and no day falls between two editions."""

    def api(req: Any) -> tuple[int, dict[str, str], bytes]:
        day = parse_qs(urlparse(req.path).query)["date"][0]
        item = {"paper": {"id": f"2511.{day[-2:]}123", "title": f"Paper of {day}"}}
        return 200, {"Content-Type": "application/json"}, json.dumps([item]).encode()

    server = http_server(api)
    config = config_file()
    text = config.read_text().replace(
        "sources: [hf-daily]",
        f"sources: [{{kind: hf-daily, url: '{server.url}/api/daily_papers'}}]",
    )
    config.write_text(text)
    run = digest(config, "fetch", "--date", "2025-11-24", "--json")
    assert run.returncode == 0, run.stderr
    days = [parse_qs(urlparse(p).query)["date"][0] for p in server.requests]
    assert days == ["2025-11-21", "2025-11-22", "2025-11-23"]
    titles = sorted(p["title"] for p in json.loads(run.stdout))
    assert titles == ["Paper of 2025-11-21", "Paper of 2025-11-22", "Paper of 2025-11-23"]


def test_weekly_readers_get_no_daily_digest(
    smtp_server: Any, config_file: Callable[..., Path]
) -> None:
    config = config_file(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    digest(config, "subscribers", "add", "daily@example.org")
    digest(config, "subscribers", "add", "weekly@example.org", "--cadence", "weekly")
    run = digest(config, "send", "--date", "2025-11-26", "--source", str(SAMPLE))
    assert run.returncode == 0, run.stderr
    assert [m[1] for m in smtp_server.script.messages] == [["daily@example.org"]]
