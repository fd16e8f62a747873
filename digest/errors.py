"""Errors that digest raises, each speaking to the operator.

Every error carries a message naming what failed and the value involved, and an
optional hint saying what to do next. The CLI turns them into one ``Error:`` line.

    DigestError
     ├── ConfigError     schedules.yaml, environment variables, command-line values
     ├── FetchError      a source could not be downloaded or read from disk
     ├── ParseError      a source's bytes could not be turned into papers
     ├── StoreError      the TinyDB file is unreadable or unwritable
     ├── RenderError     a template is missing or refers to an unknown value
     ├── SendError       the SMTP server refused us or could not be reached
     └── InputError      a bad address, CSV row or other operator input
"""

from __future__ import annotations


class DigestError(Exception):
    """Base of every error digest raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class ConfigError(DigestError):
    """The configuration file, an environment variable or an option is wrong."""


class FetchError(DigestError):
    """A source could not be fetched (network, HTTP status, missing file)."""


class ParseError(DigestError):
    """A source's content could not be parsed.

    ``source`` names the file or URL, ``line`` the 1-based line number where known.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = source
        if line is not None:
            where = f"{source}:{line}" if source else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.source = source
        self.line = line


class StoreError(DigestError):
    """The store file cannot be read or written."""


class RenderError(DigestError):
    """An email could not be rendered (template missing or broken)."""


class SendError(DigestError):
    """The mail server could not be reached or refused the connection."""


class InputError(DigestError):
    """Operator input (an address, a CSV row, a date) is malformed."""
