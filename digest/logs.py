"""Log lines on stderr: one event a line, ``key=value`` or JSON, fit for journald (PRODUCT §10).

Code logs an event as a short dotted name with its fields::

    log = logging.getLogger("digest.scheduler")
    logs.event(log, "run.finished", digest="daily", edition="daily/2025-11-26", sent=3)

which prints ``ts=… level=info logger=digest.scheduler event=run.finished digest=daily …``.
A plain message (a library's, uvicorn's, ``log.warning("x %s", y)``) becomes ``msg="…"``;
an exception becomes ``error=…``, plus ``traceback=…`` at debug level (``-v``). Whatever the
values hold, an event is one line: newlines and quotes are escaped.

Under systemd, journald stamps each line itself, so ``ts=`` is left out there, and each line
starts with its syslog priority (``<4>`` for a warning, see sd-daemon(3)), which journald
strips and stores, so ``journalctl -p warning`` works.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from digest.config import LogConfig

#: Keys every line starts with, in this order; fields may not take them.
BASE_KEYS = ("ts", "level", "logger", "event", "msg")

_EVENT_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")  # run.finished, http.request
_BARE = re.compile(r"[^\s\"=\\\x00-\x1f\x7f\u0085\u2028\u2029]+")  # needs no quotes
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r"[\"\\\x00-\x1f\x7f\u0085\u2028\u2029]")
_JSON_LINE_BREAKS = {c: f"\\u{c:04x}" for c in (0x85, 0x2028, 0x2029)}
_KEY_CHARS = re.compile(r"[^A-Za-z0-9_.-]")
_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}
#: Libraries that log every lock taken or socket event at debug level, or every job run at
#: info (APScheduler: our own run.* events say what a job did): they say at most this much.
QUIET_LIBRARIES = {
    "filelock": logging.INFO,
    "httpcore": logging.INFO,
    "hpack": logging.WARNING,
    "apscheduler": logging.WARNING,
}
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def event(
    logger: logging.Logger,
    name: str,
    /,
    *,
    level: int = logging.INFO,
    exc_info: bool | BaseException = False,
    **fields: Any,
) -> None:
    """Log event ``name`` with ``fields`` (the same as ``logger.log(level, name,
    extra={"fields": fields})``)."""
    logger.log(level, name, exc_info=exc_info, extra={"fields": fields}, stacklevel=2)


@dataclass(frozen=True, slots=True)
class Settings:
    """What :func:`setup` chose: the level, the format and what each line carries."""

    level: int
    json: bool = False
    timestamps: bool = True  # False under journald, which stamps lines itself
    priority_prefix: bool = False  # <N> per line, for journald
    tracebacks: bool = False


def choose(
    config_log: LogConfig | None,
    verbose: bool,
    *,
    service: bool = False,
    journald: bool = False,
) -> Settings:
    """The settings for a command: ``-v`` is debug; a service (``serve``, ``send --due``)
    logs at the config's level; a one-shot command shows warnings only, so that its own
    output stays clean."""
    if verbose:
        level = logging.DEBUG
    elif service and config_log is not None:
        level = _LEVELS[config_log.level]
    else:
        level = logging.WARNING
    return Settings(
        level=level,
        json=config_log is not None and config_log.format == "json",
        timestamps=not journald,
        priority_prefix=journald,
        tracebacks=level <= logging.DEBUG,
    )


def setup(config_log: LogConfig | None, verbose: bool, *, service: bool = False) -> Settings:
    """Send every log record to stderr through one handler on the root logger, formatted
    per :func:`choose`. Calling it again changes that handler; it never adds a second."""
    settings = choose(config_log, verbose, service=service, journald=stderr_is_journal())
    handler = _stderr_handler()
    handler.setFormatter(LineFormatter(settings))
    handler.setLevel(settings.level)
    logging.getLogger().setLevel(settings.level)
    for name, floor in QUIET_LIBRARIES.items():
        logging.getLogger(name).setLevel(max(floor, settings.level))
    return settings


def redact(hide: logging.Filter) -> None:
    """Pass every record bound for stderr through ``hide`` as well, whichever logger it
    came from (``digest serve``: readers' link tokens are in request paths, which the web
    app's own error lines print too, not only uvicorn's access log). Once per filter type.
    A filter sees the message and its arguments, not an event's fields: keep secrets out of
    fields."""
    handler = _stderr_handler()
    if not any(type(f) is type(hide) for f in handler.filters):
        handler.addFilter(hide)


def _stderr_handler() -> StderrHandler:
    """The root logger's one :class:`StderrHandler`, added on first use."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, StderrHandler)), None)
    if handler is None:
        handler = StderrHandler()
        root.addHandler(handler)
    return handler


def stderr_is_journal(environ: Mapping[str, str] | None = None, fd: int | None = None) -> bool:
    """Whether stderr is systemd's journal stream: ``JOURNAL_STREAM`` holds the device and
    inode of that stream (``dev:inode``, systemd.exec(5)). Being set is not enough, since a
    child process inherits the variable with its stderr redirected elsewhere."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        st = os.fstat(sys.stderr.fileno() if fd is None else fd)
    except (OSError, ValueError, AttributeError):  # no real file behind stderr (a test capture)
        return False
    return (st.st_dev, st.st_ino) == (int(device), int(inode))


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (tests and click swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class LineFormatter(logging.Formatter):
    """One record → one line, ``key=value`` or a JSON object, with the same keys."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def format(self, record: logging.LogRecord) -> str:
        pairs = self.pairs(record)
        if self.settings.json:
            text = json.dumps(pairs, ensure_ascii=False, default=_json_value)
            line = text.translate(_JSON_LINE_BREAKS)  # JSON leaves them raw; str.splitlines not
        else:
            line = keyvalue_line(pairs)
        if self.settings.priority_prefix:
            line = f"<{_PRIORITY.get(pairs['level'], 6)}>{line}"
        return line

    def pairs(self, record: logging.LogRecord) -> dict[str, Any]:
        """The line's keys and values, in order."""
        out: dict[str, Any] = {}
        if self.settings.timestamps:
            out["ts"] = timestamp(record.created)
        out["level"] = record.levelname.lower()
        out["logger"] = record.name
        out.update(_body(record))
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            out["exception" if "error" in out else "error"] = f"{type(exc).__name__}: {exc}"
            if self.settings.tracebacks:
                out["traceback"] = "".join(traceback.format_exception(exc)).rstrip()
        return out


def _body(record: logging.LogRecord) -> dict[str, Any]:
    """``event`` and its fields, or ``msg`` for a record that is not an event."""
    fields = getattr(record, "fields", None)
    if fields is not None and not isinstance(fields, Mapping):
        fields = {"fields": fields}
    if record.name == "uvicorn.access" and fields is None:
        access = access_fields(record.args)
        if access is not None:
            return {"event": "http.request", **access}
    message = record.getMessage()
    if fields is None and not _EVENT_NAME.fullmatch(message):
        return {"msg": message}
    body: dict[str, Any] = {"event": message}
    for key, value in (fields or {}).items():
        key = _KEY_CHARS.sub("_", str(key)) or "_"
        body[f"field.{key}" if key in BASE_KEYS else key] = value
    return body


def access_fields(args: Any) -> dict[str, Any] | None:
    """uvicorn's access record, ``'%s - "%s %s HTTP/%s" %d'`` with (client, method, path,
    http version, status), as fields. The path is as the logger's filters left it (the
    readers' tokens already hidden by :class:`digest.web.security.RedactTokens`)."""
    if not isinstance(args, tuple) or len(args) != 5:
        return None
    client, method, path, _version, status = args
    return {"client": client, "method": method, "path": path, "status": status}


def timestamp(created: float) -> str:
    """``2026-11-22T10:00:00.123Z``."""
    moment = datetime.fromtimestamp(created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def keyvalue_line(pairs: Mapping[str, Any]) -> str:
    return " ".join(f"{key}={keyvalue(value)}" for key, value in pairs.items())


def keyvalue(value: Any) -> str:
    """A value as written after ``key=``: bare when it can be, else quoted and escaped."""
    text = _text(value)
    if _BARE.fullmatch(text):
        return text
    return '"' + _NEEDS_ESCAPE.sub(_escape, text) + '"'


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _ESCAPES:
        return _ESCAPES[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(_text(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, default=_json_value)
    if isinstance(value, date):  # a datetime too
        return value.isoformat()
    return str(value)


def _json_value(value: Any) -> Any:
    """What JSON cannot encode itself: dates as ISO strings, sets as lists, the rest as str."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, Enum):
        return value.value
    return str(value)


def uvicorn_log_config() -> dict[str, Any]:
    """For ``uvicorn.run(log_config=...)``: uvicorn's loggers keep no handler of their own and
    pass their records up to the root handler :func:`setup` installed, so they are formatted
    like ours; access records first go through ``RedactTokens`` (readers' link tokens must
    never reach a log). Existing loggers stay enabled."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact_tokens": {"()": "digest.web.security.RedactTokens"}},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {
                "handlers": [],
                "propagate": True,
                "filters": ["redact_tokens"],
            },
        },
    }
