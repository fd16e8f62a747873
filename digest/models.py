"""The records passed between stages: inert, frozen, no I/O.

Dates are ``datetime.date``; instants are UTC-aware ``datetime``. Unknown values are
``None``, never a made-up value.

Over 300 lines by design: every record that passes between stages is here, in one place,
so that no stage imports another's types.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol

_NON_WORD = re.compile(r"[\W_]+")


def collapse_whitespace(text: str) -> str:
    """One space between words: HF titles hold ``"\\n  "`` and abstracts are hard-wrapped."""
    return " ".join(text.split())


def title_key(title: str) -> str:
    """The normalised form of a title used to recognise the same paper across sources."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(_NON_WORD.sub(" ", folded).split())


#: An arXiv id without its version: new style ``2511.07321``, old style ``math-ph/0309136`` or
#: ``math.AG/0309136``. Parsers and merge build their patterns on it.
ARXIV_ID = (
    r"(?P<id>\d{4}\.\d{4,5}|(?P<archive>[a-zA-Z][a-zA-Z-]*)(?P<subject>\.[a-zA-Z]{2})?/\d{7})"
)
ARXIV_VERSION = r"(?:[vV]\d+)?"
_BARE_ARXIV_ID = re.compile(rf"(?i:arxiv:)?{ARXIV_ID}{ARXIV_VERSION}")


def arxiv_id(text: str | None) -> str | None:
    """The versionless arXiv id ``text`` is (``2511.07321v2``, ``arXiv:math-ph/0309136v1``);
    None for anything else, including a ``title-…`` hash."""
    return arxiv_id_of(_BARE_ARXIV_ID.fullmatch((text or "").strip()))


def arxiv_id_of(match: re.Match[str] | None) -> str | None:
    """The normalised id a pattern built on :data:`ARXIV_ID` matched (archive in lower case,
    subject class in upper case: ``math.AG/0309136``)."""
    if match is None:
        return None
    if match["archive"] is None:
        return match["id"]
    number = match["id"].rpartition("/")[2]
    return f"{match['archive'].lower()}{(match['subject'] or '').upper()}/{number}"


def title_id(title: str) -> str:
    """A stable id for a paper without an arXiv id: a hash of its normalised title."""
    return "title-" + hashlib.sha256(title_key(title).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Paper:
    """One normalised paper, the same whichever source it came from (PRODUCT §5.1)."""

    id: str
    title: str
    abstract: str | None = None
    authors: tuple[str, ...] = ()
    author_count: int | None = None
    published: date | None = None
    daily_date: date | None = None
    upvotes: int | None = None
    comments: int | None = None
    github_url: str | None = None
    github_stars: int | None = None
    ai_summary: str | None = None
    keywords: tuple[str, ...] = ()
    url: str | None = None
    pdf_url: str | None = None
    sources: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Paper:
        """The inverse of :meth:`to_json` (unknown keys are ignored)."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in doc:
                continue
            value = doc[f.name]
            if f.name in ("published", "daily_date") and value:
                value = date.fromisoformat(value)
            elif isinstance(value, list):
                value = tuple(value)
            values[f.name] = value
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The §5.1 fields as JSON-ready values (dates as ISO strings, tuples as lists)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


@dataclass(frozen=True, slots=True)
class ParseResult:
    """What a parser made of one source: the papers, and what it had to skip and why."""

    papers: tuple[Paper, ...]
    problems: tuple[str, ...] = ()


class Status(StrEnum):
    """A subscriber's state. Only confirmed subscribers get digests."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


SUPPRESSED = frozenset({Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED})


class TopicMode(StrEnum):
    """How a reader's topics act: ``filter`` keeps only the papers that match them, ``boost``
    keeps the whole edition and moves the matching papers up."""

    BOOST = "boost"
    FILTER = "filter"


TOPIC_MODES = tuple(mode.value for mode in TopicMode)  # ("boost", "filter")


class Cadence(StrEnum):
    """How often a reader gets a digest: every edition, or only the weekly digests."""

    DAILY = "daily"
    WEEKLY = "weekly"


@dataclass(frozen=True, slots=True)
class Choices:
    """What a reader asks for on the subscribe or preferences form. Empty ``digests``: all.

    ``topic_mode`` None leaves the choice to the digest. The minimum relevance is not here:
    only the operator sets it, so saving the form never touches it."""

    digests: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    cadence: str = Cadence.DAILY
    timezone: str | None = None
    authors: tuple[str, ...] = ()
    topic_mode: str | None = None


@dataclass(frozen=True, slots=True)
class Subscriber:
    """An address with its state and preferences. Empty ``digests`` means every digest.

    ``requested`` holds the choices of a subscribe request waiting for its confirmation
    (a new address, or one that unsubscribed and asked again); they apply when the reader
    confirms. ``consent`` says how the address got on the list, for an audit."""

    email: str
    id: str
    status: Status = Status.CONFIRMED
    digests: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    cadence: str = Cadence.DAILY
    timezone: str | None = None
    created_at: datetime | None = None
    paused: bool = False
    confirmed_at: datetime | None = None
    consent: str = ""
    requested: Choices | None = None
    requested_at: datetime | None = None
    authors: tuple[str, ...] = ()  # followed authors: their papers count as relevant
    topic_mode: str | None = None  # "filter" or "boost"; None: the digest's ranking setting
    min_relevance: float | None = None  # 0..1; None: the digest's ranking setting

    def wants(self, digest: str) -> bool:
        return not self.digests or digest in self.digests

    @property
    def choices(self) -> Choices:
        return Choices(
            self.digests, self.topics, self.cadence, self.timezone, self.authors, self.topic_mode
        )


@dataclass(frozen=True, slots=True)
class Edition:
    """One issue of a digest: (digest name, edition date in the digest's timezone)."""

    digest: str
    date: date
    title: str

    @property
    def key(self) -> str:
        return f"{self.digest}/{self.date.isoformat()}"


@dataclass(frozen=True, slots=True)
class RankedPaper:
    """A paper chosen for an email, with its score and the one-line reason shown to the reader."""

    paper: Paper
    score: float
    reason: str
    trending: float = 0.0  # the score's parts, for ``digest rank --explain``
    relevance: float = 0.0
    match: str = ""  # what the reader's interests matched: "on <topic>", "by <author>", or ""


@dataclass(frozen=True, slots=True)
class Links:
    """The per-subscriber absolute links an email carries, and its return path."""

    unsubscribe_url: str
    unsubscribe_mailto: str | None
    preferences_url: str
    archive_url: str
    return_path: str | None = None  # the VERP envelope sender; None: the edition's own


@dataclass(frozen=True, slots=True)
class Email:
    """One rendered message, ready for the wire."""

    recipient: str
    envelope_from: str
    subject: str
    message_id: str
    raw: bytes
    html_size: int
    text_size: int
    paper_ids: tuple[str, ...]


class DeliveryStatus(StrEnum):
    """``sending`` is written before the SMTP transaction and replaced after it; a run that
    finds one left over reports it ``unknown``. ``failed`` is permanent (a 5xx), ``deferred``
    a temporary failure that the next run retries."""

    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEFERRED = "deferred"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One (edition, subscriber) message and what became of it."""

    edition: str
    email: str
    status: DeliveryStatus
    message_id: str = ""
    reason: str = ""
    updated_at: datetime | None = None


class Ledger(Protocol):
    """One edition's deliveries while a run writes them: what :mod:`digest.send` writes
    through and :meth:`digest.store.protocol.Store.sending` hands out.

    A record is queued when asked for, and durable once what it returns is done (awaited).
    Records asked for with no ``await`` between them are written together, in order: the
    outcome of a connection's delivery and the claim of its next share one write, and a
    process killed meanwhile leaves both, neither, or (a journal's torn tail) the outcome
    alone, never the claim alone."""

    def claim(self, email: str, message_id: str, paper_ids: tuple[str, ...]) -> Awaitable[None]:
        """Durably record ``sending``: written before the SMTP transaction starts."""
        ...

    def finish(
        self, email: str, status: DeliveryStatus, reason: str = "", *, bounce: bool = False
    ) -> Awaitable[None]:
        """Durably record what became of the delivery."""
        ...

    async def settled(self) -> None:
        """Wait for every record asked for, and let go of what writing them held (a server's
        connections, made on the run's event loop): called once, before that loop ends."""
        ...


class MailEventKind(StrEnum):
    """What a message that came back (or a provider's webhook) says about one delivery."""

    HARD_BOUNCE = "hard bounce"  # permanent (5.x.x): the address does not take mail
    SOFT_BOUNCE = "soft bounce"  # temporary (4.x.x): full mailbox, greylisting…
    COMPLAINT = "complaint"  # the reader marked it as spam (ARF, a provider's event)
    UNSUBSCRIBE = "unsubscribe"  # a mail to the List-Unsubscribe mailto address
    AUTO_REPLY = "auto-reply"  # vacation, out of office, challenge-response: ignored, counted


@dataclass(frozen=True, slots=True)
class MailEvent:
    """One event about one delivery we made, found in returned mail or a provider webhook.

    It names a message we sent (``edition`` and ``email`` come from a signed token or the
    original Message-ID, never from the report's own say-so). ``event_id`` makes recording
    it idempotent: the same report or webhook event twice counts once."""

    kind: MailEventKind
    email: str  # the reader's address, as we sent to it
    edition: str  # the edition key of the message it is about
    event_id: str  # e.g. the report's Message-ID, or the provider's event id
    at: datetime
    source: str = ""  # where it came from: "imap INBOX", "file x.eml", "ses", "postmark"…
    diagnostic: str = ""  # e.g. "5.1.1 <ada@example.org>: user unknown"
    status: str = ""  # the RFC 3463 status code, when the report gives one ("5.1.1")


@dataclass(frozen=True, slots=True)
class SourceReport:
    """How one source fared in a run."""

    name: str
    kind: str
    ok: bool
    papers: int = 0
    seconds: float = 0.0
    error: str | None = None
    problems: tuple[str, ...] = ()
    note: str | None = None  # worth a word though ok, e.g. "empty (weekend or holiday?)"


@dataclass(frozen=True, slots=True)
class RunReport:
    """What one run did: per source, and per delivery."""

    digest: str
    edition_date: date
    started_at: datetime
    finished_at: datetime
    dry_run: bool
    sources: tuple[SourceReport, ...] = ()
    deliveries: tuple[Delivery, ...] = ()  # all; or those a long run kept (see ``counted``)
    note: str = ""
    scheduled_at: datetime | None = None  # the scheduled run it was for (None: by hand)
    missed: bool = False  # the scheduled run came too late to be made up: nothing was sent
    round: str = ""  # the send round it took part in: several senders' runs make one round
    sender: str = ""  # which sender made it ("host pid N"), when several may share a round
    # every delivery by status (value), those not kept in ``deliveries`` too; None: count those
    counted: Mapping[str, int] | None = None

    @property
    def counts(self) -> dict[str, int]:
        """Deliveries by status (its value), in the order the statuses first came."""
        if self.counted is not None:
            return dict(self.counted)
        return dict(Counter(d.status.value for d in self.deliveries))

    @property
    def left_out(self) -> int:
        """Deliveries counted but not kept in ``deliveries`` (a long run keeps a sample)."""
        return sum(self.counts.values()) - len(self.deliveries)

    @property
    def ok(self) -> bool:
        if self.missed:
            return False
        sources_ok = all(s.ok for s in self.sources)
        return sources_ok and not self.counts.get(DeliveryStatus.FAILED.value)


# Sources and their parsers ------------------------------------------------------------------

#: The kinds of source a parser reads, in sniffing order (digest.parse holds one module each).
PARSE_KINDS = ("arxiv-rss", "arxiv-api", "feed", "hf-daily", "hf-page", "hf-search", "text")
#: arXiv RSS announce types, in the order a feed lists them.
ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross", "absonly")


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """A source's settings that change what its parser keeps."""

    announce: tuple[str, ...] = ()  # arxiv-rss: announce types kept; empty means new + cross


NO_OPTIONS = ParseOptions()
