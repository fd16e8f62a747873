"""Operator input about subscribers: addresses, topic and author lists, ranking preferences
(CSV import and export are in :mod:`digest.subscribers.csvfile`).

Addresses are checked with email-validator (syntax only: no DNS, so it works offline) and
stored in their normalised form.

Author names can hold a comma ("Smith, J."), so a list of authors is split on ``;`` (or new
lines) when it has any, else on commas; the export writes ``;`` between names.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from digest.errors import InputError
from digest.models import TOPIC_MODES, Status, Subscriber

CADENCES = ("daily", "weekly")
_NAME_SEPARATORS = re.compile(r"[;\n]")


def address_key(email: str) -> str:
    """What makes two addresses one reader: the store's key for a subscriber.

    The domain is lower-cased; of the local part only ASCII letters are (mailbox names are
    the receiving server's to compare, and ``straße`` is not ``strasse``). For an ASCII
    address this is what ``casefold()`` gave, so existing keys stay as they were."""
    local, at, domain = email.strip().rpartition("@")
    if not at:
        return _ascii_lower(domain)
    return f"{_ascii_lower(local)}@{domain.lower()}"


def _ascii_lower(text: str) -> str:
    if text.isascii():  # nearly every address: str.lower() lowers only ASCII letters then
        return text.lower()
    return "".join(c.lower() if c.isascii() else c for c in text)


def ascii_address(email: str) -> str | None:
    """``email`` with its domain in IDNA form (``xn--…``), for mail servers and headers
    without SMTPUTF8; None when the local part is not ASCII (only SMTPUTF8 can carry it)."""
    if email.isascii():
        return email
    try:
        return validate_email(email, check_deliverability=False).ascii_email
    except EmailNotValidError:
        return None


def normalise_address(text: str) -> str:
    """The normalised address, or an InputError saying what is wrong with it."""
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InputError(f"{text.strip()!r} is not a valid email address: {exc}") from None


def split_list(text: str | None) -> tuple[str, ...]:
    """``"a, b;c"`` → ``("a", "b", "c")``: commas or semicolons, blanks dropped."""
    if not text:
        return ()
    parts = (p.strip() for p in text.replace(";", ",").split(","))
    return tuple(dict.fromkeys(p for p in parts if p))


def split_authors(text: str | None) -> tuple[str, ...]:
    """``"Smith, J.; Ada Lovelace"`` → ``("Smith, J.", "Ada Lovelace")``; with no ``;`` nor
    new line, commas separate: ``"Ada Lovelace, Alan Turing"``. Spaces are collapsed and a
    name given twice (in any case) is kept once."""
    if not text:
        return ()
    parts = _NAME_SEPARATORS.split(text) if _NAME_SEPARATORS.search(text) else text.split(",")
    names: dict[str, str] = {}
    for part in parts:
        name = " ".join(part.split())
        if name:
            names.setdefault(name.casefold(), name)
    return tuple(names.values())


def join_authors(authors: Iterable[str]) -> str:
    """The text :func:`split_authors` reads back as ``authors``: ``;`` between names, and
    after a lone name that holds a comma (else it would be read as two names)."""
    names = tuple(authors)
    text = "; ".join(names)
    return text + ";" if len(names) == 1 and "," in names[0] else text


def make_subscriber(
    email: str,
    *,
    topics: str | None = None,
    digests: str | None = None,
    cadence: str | None = None,
    timezone: str | None = None,
    status: str | None = None,
    authors: str | None = None,
    topic_mode: str | None = None,
    min_relevance: str | float | None = None,
    known_digests: Iterable[str] = (),
) -> Subscriber:
    """A validated Subscriber (id assigned by the store). Raises InputError naming the field."""
    names = split_list(digests)
    known = set(known_digests)
    unknown = [n for n in names if known and n not in known]
    if unknown:
        raise InputError(
            f"unknown digest {unknown[0]!r}", hint=f"known: {', '.join(sorted(known))}"
        )
    topic_list, author_list = split_list(topics), split_authors(authors)
    mode = parse_topic_mode(topic_mode)
    if mode == "filter" and not (topic_list or author_list):
        raise InputError(
            "topic mode 'filter' keeps only papers matching the reader's topics or authors, "
            "and none are given",
            hint="add topics or authors, or use topic mode 'boost'",
        )
    return Subscriber(
        email=normalise_address(email),
        id="",
        status=parse_status(status),
        digests=names,
        topics=topic_list,
        cadence=parse_cadence(cadence),
        timezone=parse_timezone(timezone),
        authors=author_list,
        topic_mode=mode,
        min_relevance=parse_min_relevance(min_relevance),
    )


def parse_status(value: str | None) -> Status:
    if not value:
        return Status.CONFIRMED
    try:
        return Status(value.strip().lower())
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise InputError(f"status {value!r} is not one of {allowed}") from None


def parse_cadence(value: str | None) -> str:
    cadence = (value or "daily").strip().lower()
    if cadence not in CADENCES:
        raise InputError(f"cadence {value!r} is not one of {', '.join(CADENCES)}")
    return cadence


def parse_topic_mode(value: str | None) -> str | None:
    """``boost`` or ``filter``; blank is None (the digest's ranking setting decides)."""
    if not value or not value.strip():
        return None
    mode = value.strip().lower()
    if mode not in TOPIC_MODES:
        raise InputError(f"topic mode {value!r} is not one of {', '.join(TOPIC_MODES)}")
    return mode


def parse_min_relevance(value: str | float | None) -> float | None:
    """A number from 0 to 1; blank is None (the digest's ranking setting decides)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0.0 <= number <= 1.0:  # NaN fails this too
        raise InputError(
            f"min relevance {value!r} is not a number from 0 to 1",
            hint="e.g. 0.3; leave it empty for the digest's setting",
        )
    return number


def parse_timezone(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    name = value.strip()
    if not _is_zone(name):
        raise InputError(f"timezone {value!r} is not an IANA timezone (e.g. Europe/Paris)")
    return name


@functools.lru_cache(maxsize=1024)
def _is_zone(name: str) -> bool:
    """Whether ``name`` is a zone this machine knows. Cached: ``ZoneInfo`` keeps a zone only
    while something holds it, so an import of a million rows would read the file a million
    times."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe", a long name
        return False
    return True
