"""Render: one edition for one subscriber becomes one MIME message (PRODUCT §7).

Pure: ``now``, the papers and the links come in as arguments; the only files read are
templates, through the Jinja environment. This module is the straightforward renderer, in
four steps:

1. the edition and ranked papers become an :class:`EmailView` (:mod:`digest.render.view`);
2. the HTML template is rendered and its CSS inlined; papers are dropped from the end
   until it fits ``max_html_bytes`` (Gmail clips messages at ~102 KB);
3. the text template is rendered from the same papers;
4. both go into one multipart/alternative message carrying the list headers
   (:mod:`digest.render.mime`), signed when a :class:`~digest.render.dkim.DkimSigner` is given.

A run sending one edition to many readers uses
:class:`digest.render.edition.EditionRenderer` instead, which renders the templates once per
edition and produces the same bytes an order of magnitude faster; :func:`render_email` is for
one-off messages, and the reference the fast path is tested (and checks itself) against.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr

import jinja2

from digest.errors import ConfigError, RenderError
from digest.models import Edition, Email, Links, RankedPaper, Subscriber
from digest.render.dkim import DkimSigner
from digest.render.mime import EditionHeaders, join_lines, make_edition_headers, make_message
from digest.render.template import (
    HTML_TEMPLATE,
    SHIPPED_TEMPLATES,
    TEXT_TEMPLATE,
    ascii_html,
    inline_css,
    make_environment,
    render_template,
    strip_markers,
)
from digest.render.view import EmailView, clean, has_control, is_absolute, make_email_view

__all__ = [
    "HTML_TEMPLATE",
    "SHIPPED_TEMPLATES",
    "TEXT_TEMPLATE",
    "RenderSettings",
    "RenderedParts",
    "make_environment",
    "make_message_id",
    "render_email",
    "render_preview_html",
]

_LIST_ID = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderSettings:
    """Who a digest's emails come from and how big they may be; the same for every reader."""

    from_address: str
    envelope_from: str = ""  # the bounce address (SMTP MAIL FROM); empty: the From address
    reply_to: str | None = None
    postal_address: str
    list_id: str
    base_url: str
    max_html_bytes: int = 100_000
    abstract_chars: int = 400
    period: str = "day"  # the digest's: what the intro calls it ("today", "this week")
    thumbnails: bool = False  # show each paper's picture (Hugging Face's), when it has one
    domain: str = field(init=False, repr=False)  # the From address's; Message-IDs are minted on it

    def __post_init__(self) -> None:
        for name in ("from_address", "envelope_from", "reply_to"):
            value = getattr(self, name)
            if value and ("@" not in parseaddr(value)[1] or has_control(value)):
                raise ConfigError(f"{name} is not an email address: {value!r}")
        if not self.envelope_from:
            object.__setattr__(self, "envelope_from", parseaddr(self.from_address)[1])
        if not _LIST_ID.fullmatch(self.list_id):
            raise ConfigError(f"list_id must look like a domain name: {self.list_id!r}")
        if not is_absolute(self.base_url):
            raise ConfigError(f"base_url must be an absolute http(s) URL: {self.base_url!r}")
        domain = parseaddr(self.from_address)[1].rpartition("@")[2].lower()
        object.__setattr__(self, "domain", domain)


@dataclass(frozen=True, slots=True)
class RenderedParts:
    """What a reader is sent, before MIME: equal whichever renderer made it."""

    subject: str
    text: str
    html: bytes  # ASCII: anything else is a numeric character reference
    paper_ids: tuple[str, ...]  # the papers shown, after the size budget


def render_email(
    edition: Edition,
    subscriber: Subscriber,
    ranked: Sequence[RankedPaper],
    links: Links,
    settings: RenderSettings,
    now: datetime,
    env: jinja2.Environment,
) -> Email:
    """The message ``edition`` sends ``subscriber``: text and HTML of the same papers."""
    parts = render_parts(edition, subscriber, ranked, links, settings, now, env)
    headers = make_headers(edition, settings, now)
    return make_email(headers, edition, subscriber, links, settings, parts)


def render_preview_html(
    edition: Edition,
    subscriber: Subscriber,
    ranked: Sequence[RankedPaper],
    links: Links,
    settings: RenderSettings,
    now: datetime,
    env: jinja2.Environment,
) -> str:
    """The inlined HTML part alone, exactly as :func:`render_email` would send it."""
    html = render_parts(edition, subscriber, ranked, links, settings, now, env).html
    return join_lines(html).decode()  # as the HTML part carries it


def make_message_id(edition: Edition, subscriber: Subscriber, settings: RenderSettings) -> str:
    """The same id for the same (edition, subscriber), so a retried send is recognisable."""
    digest = re.sub(r"[^A-Za-z0-9-]+", "-", edition.digest) or "digest"
    who = hashlib.sha256(subscriber.email.encode()).hexdigest()[:16]
    return f"<{digest}.{edition.date.isoformat()}.{who}@{settings.domain}>"


def render_parts(
    edition: Edition,
    subscriber: Subscriber,
    ranked: Sequence[RankedPaper],
    links: Links,
    settings: RenderSettings,
    now: datetime,
    env: jinja2.Environment,
) -> RenderedParts:
    """Both parts the straightforward way: the whole templates rendered for this reader."""
    check_now(now)
    view = make_email_view(
        edition,
        subscriber,
        ranked,
        links,
        home_url=settings.base_url,
        postal_address=settings.postal_address,
        abstract_chars=settings.abstract_chars,
        period=settings.period,
        thumbnails=settings.thumbnails,
    )
    view, html = _fit_html(env, view, settings.max_html_bytes)
    text = strip_markers(render_template(env, TEXT_TEMPLATE, view.context()))
    return RenderedParts(view.subject, text, html, tuple(p.id for p in view.papers))


def make_headers(edition: Edition, settings: RenderSettings, now: datetime) -> EditionHeaders:
    """The headers an edition's messages share."""
    return make_edition_headers(
        from_address=settings.from_address,
        reply_to=settings.reply_to,
        date=now,
        list_name=clean(edition.title),
        list_id=settings.list_id,
    )


def make_email(
    headers: EditionHeaders,
    edition: Edition,
    subscriber: Subscriber,
    links: Links,
    settings: RenderSettings,
    parts: RenderedParts,
    signer: DkimSigner | None = None,
) -> Email:
    """``parts`` as the message ``subscriber`` is sent, signed if there is a signer."""
    message_id = make_message_id(edition, subscriber, settings)
    unsubscribe = tuple(uri for uri in (links.unsubscribe_url, links.unsubscribe_mailto) if uri)
    try:
        raw = make_message(
            headers,
            to=subscriber.email,
            subject=parts.subject,
            message_id=message_id,
            unsubscribe=unsubscribe,
            text=parts.text,
            html=parts.html,
            personal=(subscriber.email, *unsubscribe, links.preferences_url, links.archive_url),
        )
    except ValueError as exc:
        raise RenderError(f"cannot write the message to {subscriber.email!r}: {exc}") from exc
    return Email(
        recipient=subscriber.email,
        envelope_from=links.return_path or settings.envelope_from,
        subject=parts.subject,
        message_id=message_id,
        raw=signer.sign(raw) if signer else raw,
        html_size=len(parts.html),
        text_size=len(parts.text.encode()),
        paper_ids=parts.paper_ids,
    )


def check_now(now: datetime) -> None:
    if now.tzinfo is None:
        raise RenderError(f"now must be timezone-aware, got {now.isoformat()}")


def _fit_html(env: jinja2.Environment, view: EmailView, budget: int) -> tuple[EmailView, bytes]:
    """The HTML with as many papers as fit in ``budget`` bytes, dropping from the end."""
    for count in range(len(view.papers), 0, -1):
        kept = view.keeping(count)
        rendered = render_template(env, HTML_TEMPLATE, kept.context())
        html = ascii_html(strip_markers(inline_css(rendered))).encode("ascii")
        if len(html) <= budget:
            return kept, html
    raise budget_error(budget)


def budget_error(budget: int) -> RenderError:
    return RenderError(
        f"not even one paper fits in max_html_bytes={budget}",
        hint="raise max_html_bytes or lower abstract_chars",
    )
