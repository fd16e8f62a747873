"""Subscribers as CSV: import (each bad row reported with its line number and skipped; every
good row kept) and export.

The export is opened in spreadsheets, and its values come partly from a public form: a cell
that starts with ``= + - @``, a tab or a CR is written with a ``'`` in front (OWASP's advice
against CSV formula injection), and the import takes that quote off again.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from digest.errors import InputError
from digest.models import Subscriber
from digest.subscribers import address_key, join_authors, make_subscriber

CSV_COLUMNS = (
    "email",
    "topics",
    "digests",
    "cadence",
    "timezone",
    "status",
    "authors",
    "topic_mode",
    "min_relevance",
)
# A cell a spreadsheet would run as a formula, after any quotes :func:`write_csv` put before it.
_FORMULA = re.compile(r"'*[=+\-@\t\r]")
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


@dataclass(frozen=True, slots=True)
class ImportRow:
    line: int
    subscriber: Subscriber


def decode_csv(data: bytes, source: str) -> str:
    """The text of a CSV file: UTF-8 (with or without a BOM), or UTF-16 with its BOM."""
    bom, encoding = next(((b, e) for b, e in _BOMS if data.startswith(b)), (b"", "utf-8"))
    try:
        return data[len(bom) :].decode(encoding)
    except UnicodeDecodeError as exc:
        at = len(bom) + exc.start
        raise InputError(
            f"{source} is not {encoding.upper()} text: byte {at} is {data[at : at + 1]!r}",
            hint="save the CSV as UTF-8 (or UTF-16 with a byte order mark)",
        ) from None


def read_csv(
    text: str, *, known_digests: Iterable[str] = ()
) -> tuple[tuple[ImportRow, ...], tuple[str, ...]]:
    """Rows of a subscriber CSV with a header row; bad rows come back as messages."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in header:
        raise InputError(
            "the CSV has no 'email' column in its header row",
            hint=f"columns: {', '.join(CSV_COLUMNS)}",
        )
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise InputError(
            f"unknown CSV column {unknown[0]!r}", hint=f"columns: {', '.join(CSV_COLUMNS)}"
        )
    reader.fieldnames = header
    rows: list[ImportRow] = []
    errors: list[str] = []
    first_line: dict[str, int] = {}  # address key -> the line that gave it first
    for line, record in _records(reader, errors):
        try:
            values = {k: _cell(v) for k, v in record.items() if k is not None}
            sub = make_subscriber(values.pop("email", ""), known_digests=known_digests, **values)
        except InputError as exc:
            errors.append(f"line {line}: {exc}")
            continue
        earlier = first_line.setdefault(address_key(sub.email), line)
        if earlier != line:
            errors.append(f"line {line}: {sub.email} again (first on line {earlier}), skipped")
            continue
        rows.append(ImportRow(line, sub))
    return tuple(rows), tuple(errors)


def _records(
    reader: csv.DictReader[str], errors: list[str]
) -> Iterable[tuple[int, dict[str | Any, str | Any]]]:
    """(line, row) for each row; a row the csv module refuses (a field over its size limit)
    is an error for that line, and reading goes on with the next one."""
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.append(f"line {start}: {exc}")
            continue
        yield reader.line_num, record


def _cell(value: str | None) -> str:
    """A cell as :func:`write_csv` meant it: the quote before a formula-like value taken off."""
    text = value or ""
    if _FORMULA.match(text):
        text = text[1:] if text.startswith("'") else text
    return text.strip()


def _safe_cell(value: str) -> str:
    """``value``, with a ``'`` in front when a spreadsheet would run it as a formula."""
    return "'" + value if _FORMULA.match(value) else value


def write_csv(subs: Iterable[Subscriber], *, header: bool = True) -> str:
    """Every subscriber as CSV with the same columns :func:`read_csv` takes (``header``:
    the column names first; a page after the first goes without)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for s in subs:
        writer.writerow(
            _safe_cell(cell)
            for cell in (
                s.email,
                ", ".join(s.topics),
                ", ".join(s.digests),
                s.cadence,
                s.timezone or "",
                s.status.value,
                join_authors(s.authors),
                s.topic_mode or "",
                "" if s.min_relevance is None else str(s.min_relevance),
            )
        )
    return out.getvalue()
