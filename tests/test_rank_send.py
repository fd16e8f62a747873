"""Personal ranking through the real command line: each reader's email follows their topics,
a reader with nothing worth sending gets nothing and the run says why, and ``digest rank
--explain`` shows one subscriber's table with the score parts."""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from conftest import SAMPLE

DAY = ("--date", "2025-11-26", "--source", str(SAMPLE))


def digest(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs the command line as an operator would."""
    return subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "DIGEST_SECRET": "test-secret-0123456789abcdefghijkl"},
        timeout=120,
        check=False,
    )


def add(config: Path, address: str, *options: str) -> None:
    result = digest(config, "subscribers", "add", address, *options)
    assert result.returncode == 0, result.stderr


def plain_text(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_each_reader_gets_their_topics_and_an_unmatched_reader_gets_nothing(
    smtp_server: Any, config_file: Callable[..., Path]
) -> None:
    config = config_file(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    add(config, "video@example.org", "--topics", "video generation", "--topic-mode", "filter")
    add(config, "zebra@example.org", "--topics", "zebra migration", "--topic-mode", "filter")
    add(config, "rl@example.org", "--topics", "reinforcement learning")
    add(config, "all@example.org")

    run = digest(config, "send", *DAY)
    assert run.returncode == 0, run.stderr
    assert "sent 3 via SMTP" in run.stdout
    assert "zebra@example.org" in run.stdout
    assert "none of the 31 new papers matches the reader's topics (zebra migration)" in run.stdout

    texts = {rcpts[0]: plain_text(raw) for _, rcpts, raw in smtp_server.script.messages}
    assert set(texts) == {"video@example.org", "rl@example.org", "all@example.org"}
    video = texts["video@example.org"]
    assert 'matches "video generation"' in video
    assert "Plan-X: Instruct Video Generation via Semantic Planning" in video
    assert "General Agentic Memory" not in video  # the day's top paper is not about video
    rl = texts["rl@example.org"]
    assert 'matches "reinforcement learning"' in rl
    assert rl.index("DR Tulu: Reinforcement Learning") < rl.index("General Agentic Memory")
    assert "matches" not in texts["all@example.org"]  # no topics: trending, as before

    # after the send, rank and preview still show this edition's email, not what is left
    ranked = json.loads(
        digest(config, "rank", *DAY, "--subscriber", "video@example.org", "--json").stdout
    )
    assert len(ranked) == 5
    assert all(f"https://huggingface.co/papers/{r['id']}" in video for r in ranked)
    preview = digest(config, "preview", *DAY, "--subscriber", "video@example.org")
    assert preview.returncode == 0, preview.stderr
    html = Path(preview.stdout.strip()).read_text()
    assert "matches &#34;video generation&#34;" in html or 'matches "video generation"' in html

    who = digest(config, "history", "--edition", "daily/2025-11-26")
    assert who.returncode == 0, who.stderr
    line = next(x for x in who.stdout.splitlines() if "zebra@example.org" in x)
    assert "matches the reader's topics" in line


def test_rank_explain_for_one_subscriber(config_file: Callable[..., Path]) -> None:
    config = config_file()
    add(config, "ada@example.org", "--topics", "video generation, diffusion")
    run = digest(config, "rank", *DAY, "--subscriber", "ada@example.org", "--explain")
    assert run.returncode == 0, run.stderr
    first = run.stdout.splitlines()[0]
    assert first == (
        'For "video generation", "diffusion": boost mode, relevance counts from 0.15;'
        " 0 papers already shown left out."
    )
    for column in ("score", "trending", "relevance", "reason"):
        assert column in run.stdout
    assert 'matches "video generation"' in run.stdout

    as_json = json.loads(
        digest(config, "rank", *DAY, "--subscriber", "ada@example.org", "--json").stdout
    )
    assert len(as_json) == 5
    top = as_json[0]
    assert {"score", "trending", "relevance", "reason", "id", "title"} <= set(top)
    assert top["score"] >= as_json[-1]["score"]
    assert top["relevance"] > 0 and top["reason"].startswith("matches ")


def test_rank_with_topics_given_and_nothing_matching(config_file: Callable[..., Path]) -> None:
    config = config_file()
    add(config, "ada@example.org", "--topics", "zebra migration", "--topic-mode", "filter")
    run = digest(config, "rank", *DAY, "--subscriber", "ada@example.org")
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    assert run.stderr.startswith("Nothing to send: none of the 31 new papers matches")

    topics = digest(config, "rank", *DAY, "--topics", "world models, robot planning")
    assert topics.returncode == 0
    assert (
        "Target-Bench: Can World Models Achieve Mapless Path Planning"
        in topics.stdout.split("\n")[0]
    )


def test_rank_for_an_unknown_subscriber_is_one_clear_line(config_file: Callable[..., Path]) -> None:
    config = config_file()
    run = digest(config, "rank", *DAY, "--subscriber", "nobody@example.org")
    assert run.returncode == 1
    assert run.stderr.startswith("Error: no subscriber nobody@example.org in ")
    assert len(run.stderr.strip().splitlines()) <= 2  # the error and its hint
