"""Reading the subscribe and preferences forms: every field checked, every error kept with
the field it belongs to, and what the reader typed kept, so the form comes back filled in.

Topics and followed authors are capped in number and length, so that a form cannot make a
reader's record (and the ranking's work for it) grow without bound."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from starlette.datastructures import FormData

from digest.config import DigestConfig
from digest.errors import InputError
from digest.models import TOPIC_MODES, Choices
from digest.subscribers import normalise_address, parse_cadence, parse_timezone, split_authors

MAX_TOPICS = 20
MAX_TOPIC_CHARS = 80
MAX_AUTHORS = 20
MAX_AUTHOR_CHARS = 80
MAX_FIELD_CHARS = 2000
HONEYPOT = "website"  # hidden from people; a bot that fills every field fills it
WEEKLY_ONLY_FROM_WEEKLY_DIGESTS = (
    "Weekly readers get the weekly digests: tick one, or choose every day."
)
ALL_DIGESTS = "*"  # the form's "all of them" choice


@dataclass(frozen=True, slots=True)
class FormResult:
    """What a form said: the address (subscribe only), the choices, and the field errors."""

    email: str = ""
    choices: Choices = field(default_factory=Choices)
    errors: dict[str, str] = field(default_factory=dict)
    typed: dict[str, object] = field(default_factory=dict)  # to fill the form in again

    @property
    def ok(self) -> bool:
        return not self.errors


def read_subscribe(form: FormData, known_digests: Sequence[DigestConfig]) -> FormResult:
    email_text = _text(form, "email")
    errors: dict[str, str] = {}
    email = ""
    if not email_text:
        errors["email"] = "Enter your email address."
    else:
        try:
            email = normalise_address(email_text)
        except InputError:
            errors["email"] = "This is not a valid email address, e.g. name@example.org."
    choices, choice_errors, typed = _read_choices(form, known_digests)
    errors.update(choice_errors)
    return FormResult(email, choices, errors, {"email": email_text, **typed})


def read_preferences(form: FormData, known_digests: Sequence[DigestConfig]) -> FormResult:
    choices, errors, typed = _read_choices(form, known_digests)
    return FormResult("", choices, errors, typed)


def is_bot(form: FormData) -> bool:
    return bool(_text(form, HONEYPOT))


def _read_choices(
    form: FormData, known_digests: Sequence[DigestConfig]
) -> tuple[Choices, dict[str, str], dict[str, object]]:
    errors: dict[str, str] = {}
    known = {d.name: d for d in known_digests}
    texts = {name: _text(form, name) for name in ("topics", "authors", "topic_mode", "timezone")}
    digests = _digests(form, known, errors)
    cadence_text = _text(form, "cadence") or _cadence_of(digests, known)
    topics = _topics(texts["topics"], errors)
    authors = _authors(texts["authors"], errors)
    topic_mode = _topic_mode(texts["topic_mode"], bool(topics or authors), errors)
    cadence = _cadence(cadence_text, digests, known, errors)
    timezone = _timezone(texts["timezone"], errors)
    everything = set(digests) == set(known)  # "all": future digests too
    choices = Choices(() if everything else digests, topics, cadence, timezone, authors, topic_mode)
    typed: dict[str, object] = {"digests": digests, "cadence": cadence_text, **texts}
    return choices, errors, typed


def _digests(
    form: FormData, known: Mapping[str, DigestConfig], errors: dict[str, str]
) -> tuple[str, ...]:
    digests = tuple(dict.fromkeys(str(d) for d in form.getlist("digests") if isinstance(d, str)))
    if ALL_DIGESTS in digests:
        digests = tuple(known)
    if not digests:
        errors["digests"] = "Choose at least one digest."
    elif any(d not in known for d in digests):
        errors["digests"] = "Choose digests from the list."
    return digests


def _cadence_of(digests: Sequence[str], known: Mapping[str, DigestConfig]) -> str:
    """The cadence the chosen digests make: weekly when none of them is a daily one (the
    form asks for one choice, what to receive; how often follows from it)."""
    chosen = [known[d] for d in digests if d in known]
    return "weekly" if chosen and all(d.period != "day" for d in chosen) else "daily"


def _cadence(
    text: str,
    digests: Sequence[str],
    known: Mapping[str, DigestConfig],
    errors: dict[str, str],
) -> str:
    try:
        cadence = parse_cadence(text)
    except InputError:
        errors["cadence"] = "Choose daily or weekly."
        return "daily"
    daily_only = all(known[d].period == "day" for d in digests if d in known)
    if cadence == "weekly" and daily_only and "digests" not in errors:
        # a weekly reader skips daily digests (compose.recipients): they would get nothing
        errors["cadence"] = WEEKLY_ONLY_FROM_WEEKLY_DIGESTS
    return cadence


def _timezone(text: str, errors: dict[str, str]) -> str | None:
    try:
        return parse_timezone(text)
    except InputError:
        errors["timezone"] = "Choose a timezone from the list, e.g. Europe/Paris."
        return None


def _topics(text: str, errors: dict[str, str]) -> tuple[str, ...]:
    parts = (" ".join(p.split()) for p in text.replace("\n", ",").replace(";", ",").split(","))
    topics = tuple(dict.fromkeys(p for p in parts if p))
    if len(topics) > MAX_TOPICS:
        errors["topics"] = f"At most {MAX_TOPICS} topics, separated by commas."
    elif any(len(t) > MAX_TOPIC_CHARS for t in topics):
        errors["topics"] = f"Each topic must be at most {MAX_TOPIC_CHARS} characters."
    return topics[:MAX_TOPICS]


def _authors(text: str, errors: dict[str, str]) -> tuple[str, ...]:
    """Names one per line, or separated by commas (``;`` when a name holds a comma)."""
    authors = split_authors(text)
    if len(authors) > MAX_AUTHORS:
        errors["authors"] = f"At most {MAX_AUTHORS} authors, one per line or separated by commas."
    elif any(len(a) > MAX_AUTHOR_CHARS for a in authors):
        errors["authors"] = f"Each name must be at most {MAX_AUTHOR_CHARS} characters."
    elif not all(any(c.isalpha() for c in a) for a in authors):
        errors["authors"] = "Each name needs letters, e.g. Ada Lovelace."
    return authors[:MAX_AUTHORS]


def _topic_mode(text: str, anything_to_match: bool, errors: dict[str, str]) -> str | None:
    """``boost``, ``filter``, or None when the reader chose neither (the digest decides)."""
    if not text:
        return None
    if text not in TOPIC_MODES:  # only a forged form sends another value
        errors["topic_mode"] = "Choose one of the two ways to use your topics."
        return None
    if text == "filter" and not anything_to_match:
        errors["topic_mode"] = (
            "To get only the papers that match, enter at least one topic or author."
        )
    return text


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip()[:MAX_FIELD_CHARS] if isinstance(value, str) else ""
