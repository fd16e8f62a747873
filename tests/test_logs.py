"""Log lines: one event a line, key=value or JSON, journald detection, uvicorn's lines."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from conftest import free_port
from hypothesis import given
from hypothesis import strategies as st

from digest import logs
from digest.cli.context import AppContext
from digest.config import LogConfig
from digest.logs import LineFormatter, Settings

SAVED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", *logs.QUIET_LIBRARIES)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Puts the root and uvicorn loggers back as they were: setup() changes global state."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    others = {n: logging.getLogger(n) for n in SAVED_LOGGERS}
    kept = {n: (lg.handlers[:], lg.filters[:], lg.propagate, lg.level) for n, lg in others.items()}
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    for name, (handlers, filters, propagate, level) in kept.items():
        lg = others[name]
        lg.handlers[:], lg.filters[:], lg.propagate, lg.level = handlers, filters, propagate, level


def record(
    msg: str,
    *args: Any,
    fields: dict[str, Any] | None = None,
    name: str = "digest.scheduler",
    level: int = logging.INFO,
    exc: BaseException | None = None,
) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    rec = logging.LogRecord(name, level, __file__, 1, msg, args or None, exc_info)
    if fields is not None:
        rec.fields = fields
    return rec


PLAIN = Settings(level=logging.DEBUG, timestamps=False)


def line(rec: logging.LogRecord, settings: Settings = PLAIN) -> str:
    return LineFormatter(settings).format(rec)


def test_an_event_is_its_name_and_fields_in_order() -> None:
    fields = {"digest": "daily", "edition": "daily-2025-11-26", "sent": 3}
    assert line(record("run.finished", fields=fields)) == (
        "level=info logger=digest.scheduler event=run.finished "
        "digest=daily edition=daily-2025-11-26 sent=3"
    )


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("daily", "daily"),
        ("", '""'),
        (None, '""'),
        ("two words", '"two words"'),
        ('say "hi"', r'"say \"hi\""'),
        ("a=b", '"a=b"'),
        ("C:\\dir", r'"C:\\dir"'),
        ("line one\nline two", r'"line one\nline two"'),
        ("cr\rtab\t", r'"cr\rtab\t"'),
        ("bell\x07", r'"bell\x07"'),
        ("para\u2028graph", r'"para\u2028graph"'),
        ("naïve", "naïve"),
        (True, "true"),
        (2.5, "2.5"),
        (("a", "b"), "a,b"),
    ],
)
def test_values_are_quoted_and_escaped_only_when_needed(value: Any, written: str) -> None:
    assert logs.keyvalue(value) == written
    assert line(record("x.y", fields={"v": value})).endswith(f" v={written}")


def test_a_timestamp_comes_first_off_journald() -> None:
    rec = record("run.started")
    rec.created = 1795341600.1234  # 2026-11-22T10:00:00.123Z
    text = line(rec, Settings(level=logging.INFO))
    assert text.startswith("ts=2026-11-22T10:00:00.123Z level=info logger=digest.scheduler ")


def test_a_message_that_is_not_an_event_is_msg() -> None:
    assert line(record("forgot %d addresses", 3)).endswith(' msg="forgot 3 addresses"')
    assert line(record("run.started")).endswith(" event=run.started")


def test_fields_cannot_take_the_line_s_own_keys() -> None:
    text = line(record("x.y", fields={"level": "sneaky", "bad key": 1}))
    assert text.startswith("level=info ")
    assert "field.level=sneaky" in text and "bad_key=1" in text


def fail() -> ZeroDivisionError:
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError as exc:
        return exc
    raise AssertionError("unreachable")


def test_an_exception_is_one_error_field_and_a_traceback_only_at_debug() -> None:
    rec = record("run.failed", fields={"digest": "daily"}, level=logging.ERROR, exc=fail())
    quiet = line(rec, Settings(level=logging.INFO, timestamps=False))
    assert quiet.endswith('digest=daily error="ZeroDivisionError: division by zero"')
    loud = line(rec, Settings(level=logging.DEBUG, timestamps=False, tracebacks=True))
    assert "\n" not in loud
    assert r'traceback="Traceback (most recent call last):\n  File ' in loud
    assert r"in fail\n    1 / 0" in loud


def test_json_lines_have_the_same_keys() -> None:
    rec = record("run.failed", fields={"digest": "daily", "sent": 3}, exc=fail())
    text = line(rec, Settings(level=logging.INFO, json=True, timestamps=False))
    assert json.loads(text) == {
        "level": "info",
        "logger": "digest.scheduler",
        "event": "run.failed",
        "digest": "daily",
        "sent": 3,
        "error": "ZeroDivisionError: division by zero",
    }


@given(
    message=st.text(),
    value=st.one_of(st.text(), st.integers(), st.none(), st.lists(st.text(max_size=5))),
)
def test_any_event_is_exactly_one_line(message: str, value: Any) -> None:
    for settings in (PLAIN, Settings(level=logging.DEBUG, json=True, timestamps=False)):
        for rec in (record(message), record("x.y", fields={"value": value, "message": message})):
            text = line(rec, settings)
            assert "\n" not in text and "\r" not in text
            assert len(text.splitlines()) == 1  # also no \v, \f, \x1c.. \x1e, \x85, \u2028
            if settings.json:
                assert json.loads(text)["level"] == "info"


# --- setup: journald, one handler, levels --------------------------------------------------


def test_journal_stream_must_match_stderr_s_device_and_inode(tmp_path: Path) -> None:
    with (tmp_path / "stream").open("w") as f:
        st_ = os.fstat(f.fileno())
        fd = f.fileno()
        assert logs.stderr_is_journal({"JOURNAL_STREAM": f"{st_.st_dev}:{st_.st_ino}"}, fd)
        assert not logs.stderr_is_journal({"JOURNAL_STREAM": f"{st_.st_dev}:{st_.st_ino + 1}"}, fd)
        assert not logs.stderr_is_journal({"JOURNAL_STREAM": "garbage"}, fd)
        assert not logs.stderr_is_journal({}, fd)


def test_under_journald_lines_carry_a_priority_and_no_timestamp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tmp_path / "journal").open("w") as stream:
        st_ = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st_.st_dev}:{st_.st_ino}")
        monkeypatch.setattr(sys, "stderr", stream)
        logs.setup(LogConfig(), verbose=False, service=True)
        log = logging.getLogger("digest.test")
        logs.event(log, "run.started", digest="daily")
        log.warning("disk %s", "full")
    assert (tmp_path / "journal").read_text().splitlines() == [
        "<6>level=info logger=digest.test event=run.started digest=daily",
        '<4>level=warning logger=digest.test msg="disk full"',
    ]


def test_setup_twice_installs_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup(None, verbose=False)
    logs.setup(LogConfig(format="json"), verbose=False)
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logs.StderrHandler)]
    assert len(handlers) == 1
    logging.getLogger("digest.test").warning("once")
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert json.loads(err)["msg"] == "once"


def test_event_helper_logs_at_the_caller(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[logging.LogRecord] = []
    logs.setup(None, verbose=True)
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    logs.event(logging.getLogger("digest.test"), "run.skipped", level=logging.WARNING, why="x")
    (rec,) = seen
    assert (rec.levelno, rec.getMessage(), rec.fields) == (
        logging.WARNING,
        "run.skipped",
        {"why": "x"},
    )  # type: ignore[attr-defined]
    assert rec.funcName == "test_event_helper_logs_at_the_caller"
    assert "event=run.skipped why=x" in capsys.readouterr().err


def test_commands_keep_to_warnings_and_services_use_the_config_level(
    config_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_LOG_FORMAT", "json")
    root = logging.getLogger()
    app = AppContext.start(str(config_file()), verbose=False)
    assert root.level == logging.WARNING
    app.config()
    assert root.level == logging.WARNING  # a one-shot command's output stays clean
    handler = next(h for h in root.handlers if isinstance(h, logs.StderrHandler))
    assert isinstance(handler.formatter, LineFormatter) and handler.formatter.settings.json
    app.config(service=True)
    assert root.level == logging.INFO  # log.level's default
    AppContext.start(str(config_file()), verbose=True).config(service=True)
    assert root.level == logging.DEBUG
    assert not logging.getLogger("filelock").isEnabledFor(logging.DEBUG)  # a line per lock
    assert [h for h in root.handlers if isinstance(h, logs.StderrHandler)] == [handler]
    assert isinstance(handler.formatter, LineFormatter) and handler.formatter.settings.tracebacks


# --- uvicorn ----------------------------------------------------------------------------------


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest ASGI app: 200 for every path."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hi"})


def test_uvicorn_lines_go_through_our_formatter_with_tokens_hidden(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.setup(LogConfig(), verbose=False, service=True)
    port = free_port()
    config = uvicorn.Config(
        hello, host="127.0.0.1", port=port, lifespan="off", log_config=logs.uvicorn_log_config()
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/unsubscribe/SECRET.token-1?x=1").status_code == 200
        assert httpx.get(f"{base}/archive").status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    err = "\n".join(e for e in capsys.readouterr().err.splitlines() if "logger=uvicorn" in e)
    assert "SECRET" not in err  # (the test's own client, httpx, logs the URL it asked for)
    access = [entry for entry in err.splitlines() if "event=http.request" in entry]
    assert len(access) == 2
    assert " logger=uvicorn.access event=http.request client=127.0.0.1:" in access[0]
    assert access[0].endswith('method=GET path="/unsubscribe/…?x=1" status=200')  # = in it
    assert access[1].endswith("method=GET path=/archive status=200")
    assert f'logger=uvicorn.error msg="Started server process [{os.getpid()}]"' in err
    assert all(entry.startswith("ts=") for entry in err.splitlines())


def test_redact_hides_tokens_in_every_logger_s_lines(capsys: pytest.CaptureFixture[str]) -> None:
    from digest.web.security import RedactTokens

    logs.setup(LogConfig(), verbose=False, service=True)
    logs.redact(RedactTokens())
    logs.redact(RedactTokens())  # once is enough
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, logs.StderrHandler))
    assert len(handler.filters) == 1
    logging.getLogger("digest.web.app").error("%s %s: %s", "POST", "/unsubscribe/SECRET", "busy")
    logs.setup(LogConfig(format="json"), verbose=False, service=True)  # the filter stays
    logging.getLogger("digest.web.app").error("GET /confirm/SECRET failed")
    err = capsys.readouterr().err
    assert "SECRET" not in err
    assert 'msg="POST /unsubscribe/…: busy"' in err and '"msg": "GET /confirm/… failed"' in err
