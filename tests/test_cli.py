"""The command line: help everywhere, one ``Error:`` line for bad input, exit codes 0/1/2."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import click
import pytest
from conftest import FIXTURES, SAMPLE
from conftest import run_cli as run

from digest.cli import cli
from digest.errors import ParseError
from digest.parse import parse_bytes


def walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command under ``command``, groups included, through nested groups."""
    yield path
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, (*path, name))


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


COMMANDS = list(walk(cli))


def test_the_walk_finds_nested_commands() -> None:
    assert ("subscribers", "import") in COMMANDS and ("send",) in COMMANDS
    assert len(COMMANDS) == len(set(COMMANDS)) >= 15


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "digest")
def test_every_command_has_help(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*path, "--help"], capsys)
    assert code == 0
    assert out.startswith(f"Usage: digest {' '.join(path)}".rstrip())
    command = command_at(path)
    summary = (command.help or "").strip()
    assert summary and (summary[0].isupper() or not path)  # the root's starts with digest:
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help and param.help.strip(), f"{param.opts[0]} has no help"
        elif isinstance(param, click.Argument):  # click gives arguments no help of their own
            name = param.human_readable_name
            assert re.search(rf"\b{name}\b", summary), f"the help never mentions {name}"


def test_parse_json_prints_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["parse", str(SAMPLE), "--json"], capsys)
    assert code == 0
    papers = json.loads(out)
    assert len(papers) == 31
    assert set(papers[0]) == {
        "id",
        "title",
        "abstract",
        "authors",
        "author_count",
        "published",
        "daily_date",
        "upvotes",
        "comments",
        "github_url",
        "github_stars",
        "ai_summary",
        "keywords",
        "url",
        "pdf_url",
        "sources",
    }
    assert all(p["daily_date"] == "2025-11-25" for p in papers)


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("[1,2,3]", "no papers in it: 3 problems, the first: item [0]: not a JSON object"),
        ("[]", "no papers in it (an empty list?)"),
        ("[{}]", "no papers in it: item [0]: no title"),
        ('[{"paper": {"id": "1"', "not valid JSON: Expecting ',' delimiter at line 1, column 22"),
        ("", "the file is empty: no papers in it"),
        ("   \n", "the file is empty: no papers in it"),
    ],
)
def test_a_file_that_holds_no_papers_is_an_error(
    content: str, error: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 15, bug 6: these passed as success (exit 0, an empty table), truncated JSON
    was called a text capture, an empty file a text-capture problem."""
    path = tmp_path / "l.json"
    path.write_text(content)
    code, _, err = run(["parse", str(path)], capsys)
    assert code == 1
    [line] = [e for e in err.splitlines() if e.startswith("Error:")]
    assert line.startswith(f"Error: {path}") and error in line, line


def test_one_problem_is_said_in_the_singular() -> None:
    with pytest.raises(ParseError) as found:
        parse_bytes(b"Just one line of text", source="", today=date(2025, 11, 26))
    assert "1 problem," in str(found.value) and "1 problems" not in str(found.value)


def test_parse_capture_counts(capsys: pytest.CaptureFixture[str]) -> None:
    files = [
        FIXTURES / "capture-hf-search-regularization.txt",
        FIXTURES / "capture-hf-search-random-features.txt",
    ]
    code, out, _ = run(["parse", *map(str, files), "--json"], capsys)
    assert code == 0
    papers = json.loads(out)
    assert len(papers) == 59 + 37
    assert papers[0]["author_count"] == 7 and papers[0]["published"] == "2024-06-11"


def test_garbage_file_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run(["parse", "--kind", "hf-daily", str(bad)], capsys)
    assert code == 1
    assert err.startswith("Error: ") and "bad.json" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_date_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["send", "--date", "26/11/2025"], capsys)
    assert code == 2 and "not a date like" in err


def test_bad_config_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("digests: {daily: {sources: [hf-daily], schedule: x, timezone: UTC}}\n")
    code, _, err = run(["--config", str(config), "check"], capsys)
    assert code == 1
    assert err.startswith(f"Error: {config}: missing key 'sender.from'")


def test_check_prints_next_runs(
    config_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["--config", str(config_file()), "check"], capsys)
    assert code == 0
    assert "digest daily: '0 7 * * mon-fri' Europe/London, next run" in out


def test_subscribers_add_list_remove(
    config_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = ["--config", str(config_file())]
    assert run([*cfg, "subscribers", "add", "Ada@Example.org", "--topics", "a, b"], capsys)[0] == 0
    code, _, err = run([*cfg, "subscribers", "add", "not-an-address"], capsys)
    assert code == 1 and err.startswith("Error: 'not-an-address' is not a valid email address")
    code, _, err = run([*cfg, "subscribers", "add", "x@example.org", "--digest", "nope"], capsys)
    assert code == 1 and "unknown digest 'nope'" in err
    assert run([*cfg, "subscribers", "remove", "ada@example.org"], capsys)[0] == 0
    code, _, err = run([*cfg, "subscribers", "add", "ada@example.org"], capsys)
    assert code == 1 and "is unsubscribed; not resubscribed" in err
    code, out, _ = run([*cfg, "subscribers", "list", "--json"], capsys)
    listed = json.loads(out)
    assert re.fullmatch(r"[0-9a-f]{16}", listed[0].pop("id"))  # what logs name the reader by
    assert listed == [
        {
            "email": "Ada@example.org",
            "status": "unsubscribed",
            "paused": False,
            "digests": [],
            "topics": ["a", "b"],
            "cadence": "daily",
            "timezone": None,
            "authors": [],
            "topic_mode": None,
            "min_relevance": None,
        }
    ]


def test_import_reports_bad_rows_and_keeps_good_ones(
    config_file: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = ["--config", str(config_file())]
    csv_file = tmp_path / "list.csv"
    csv_file.write_text("email,topics\nada@example.org,diffusion\nbroken,\ngrace@example.org,\n")
    code, out, err = run([*cfg, "subscribers", "import", str(csv_file)], capsys)
    assert code == 1
    assert f"{csv_file}:3: 'broken' is not a valid email address" in err
    assert "2 added, 0 updated, 0 left suppressed, 1 bad rows skipped" in out
    code, out, _ = run([*cfg, "subscribers", "export"], capsys)
    assert out.splitlines()[1:] == [
        "ada@example.org,diffusion,,daily,,confirmed,,,",
        "grace@example.org,,,daily,,confirmed,,,",
    ]


def test_import_says_what_happens_to_pending_rows(
    config_file: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 15, bug 4: rows with status=pending were imported without a word."""
    cfg = ["--config", str(config_file())]
    csv_file = tmp_path / "list.csv"
    csv_file.write_text("email,status\nada@example.org,confirmed\np@example.org,pending\n")
    code, out, err = run([*cfg, "subscribers", "import", str(csv_file)], capsys)
    assert code == 0 and "2 added" in out
    assert "1 imported as pending: no confirmation email was sent" in err
    assert "subscribers add EMAIL --pending" in err


def test_preview_writes_one_html_file(
    config_file: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = ["--config", str(config_file())]
    code, out, _ = run([*cfg, "preview", "--date", "2025-11-26", "--source", str(SAMPLE)], capsys)
    assert code == 0
    path = Path(out.strip())
    assert path.parent == tmp_path / "outbox"
    assert path.read_text().lstrip().lower().startswith("<!doctype html")


def test_preview_of_an_address_that_is_no_subscriber_is_refused(
    config_file: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 15, bug 5: it rendered an email for nobody@ and exited 0, as rank refuses."""
    cfg = ["--config", str(config_file())]
    day = ["--date", "2025-11-26", "--source", str(SAMPLE)]
    code, _, err = run([*cfg, "preview", *day, "--subscriber", "nobody@example.org"], capsys)
    assert code == 1
    assert err.splitlines()[0].startswith("Error: no subscriber nobody@example.org in ")
    assert not (tmp_path / "outbox").exists()
    code, _, err = run([*cfg, "rank", *day, "--subscriber", "nobody@example.org"], capsys)
    assert code == 1 and "Error: no subscriber nobody@example.org in " in err


def test_test_send_address_is_checked(
    config_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = ["--config", str(config_file())]
    code, _, err = run([*cfg, "send", "--to", "me@", "--source", str(SAMPLE)], capsys)
    assert code == 1 and err.startswith("Error: 'me@' is not a valid email address")


def test_export_goes_page_by_page_and_writes_the_whole_list_once(
    each_store: str,
    config_file: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A million readers are not held at once: export writes a page at a time (keyset pages
    on PostgreSQL), one header, every reader once, in key order."""
    cfg = ["--config", str(config_file())]
    code, empty, _ = run([*cfg, "subscribers", "export"], capsys)
    assert code == 0 and empty.splitlines() == [empty.splitlines()[0]]  # the header alone
    csv_file = tmp_path / "list.csv"
    rows = [f"r{n:02}@example.org,topic{n}" for n in range(7)]
    csv_file.write_text("email,topics\n" + "\n".join(rows) + "\n")
    assert run([*cfg, "subscribers", "import", str(csv_file)], capsys)[0] == 0
    monkeypatch.setattr(sys.modules["digest.cli.subscribers"], "EXPORT_PAGE", 3)
    code, out, _ = run([*cfg, "subscribers", "export"], capsys)
    lines = out.splitlines()
    assert lines[0] == empty.splitlines()[0] and len(lines) == 8
    assert [line.split(",")[0] for line in lines[1:]] == [f"r{n:02}@example.org" for n in range(7)]
