"""Reading the subscribe and preferences forms: every field checked, every error kept with
the field it belongs to, and what the reader typed kept, so the form comes back filled in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.datastructures import FormData

from digest.config import DigestConfig
from digest.errors import InputError
from digest.models import Choices
from digest.subscribers import normalise_address, parse_cadence, parse_timezone

MAX_TOPICS = 20
MAX_TOPIC_CHARS = 80
MAX_FIELD_CHARS = 2000
HONEYPOT = "website"  # hidden from people; a bot that fills every field fills it
WEEKLY_ONLY_FROM_WEEKLY_DIGESTS = (
    "Weekly readers get the weekly digests: tick one, or choose every day."
)


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
    digests = tuple(dict.fromkeys(str(d) for d in form.getlist("digests") if isinstance(d, str)))
    if not digests:
        errors["digests"] = "Choose at least one digest."
    elif any(d not in known for d in digests):
        errors["digests"] = "Choose digests from the list."
    topics_text = _text(form, "topics")
    topics = _topics(topics_text, errors)
    cadence_text = _text(form, "cadence") or "daily"
    try:
        cadence = parse_cadence(cadence_text)
    except InputError:
        errors["cadence"] = "Choose daily or weekly."
        cadence = "daily"
    daily_only = all(known[d].period == "day" for d in digests if d in known)
    if cadence == "weekly" and daily_only and "digests" not in errors:
        # a weekly reader skips daily digests (compose.recipients): they would get nothing
        errors["cadence"] = WEEKLY_ONLY_FROM_WEEKLY_DIGESTS
    tz_text = _text(form, "timezone")
    try:
        timezone = parse_timezone(tz_text)
    except InputError:
        errors["timezone"] = "Choose a timezone from the list, e.g. Europe/Paris."
        timezone = None
    everything = set(digests) == set(known)  # "all": future digests too
    choices = Choices(() if everything else digests, topics, cadence, timezone)
    typed: dict[str, object] = {
        "digests": digests,
        "topics": topics_text,
        "cadence": cadence_text,
        "timezone": tz_text,
    }
    return choices, errors, typed


def _topics(text: str, errors: dict[str, str]) -> tuple[str, ...]:
    parts = (" ".join(p.split()) for p in text.replace("\n", ",").replace(";", ",").split(","))
    topics = tuple(dict.fromkeys(p for p in parts if p))
    if len(topics) > MAX_TOPICS:
        errors["topics"] = f"At most {MAX_TOPICS} topics, separated by commas."
    elif any(len(t) > MAX_TOPIC_CHARS for t in topics):
        errors["topics"] = f"Each topic must be at most {MAX_TOPIC_CHARS} characters."
    return topics[:MAX_TOPICS]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip()[:MAX_FIELD_CHARS] if isinstance(value, str) else ""
