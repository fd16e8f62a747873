"""Render: one edition for one subscriber becomes one MIME message (PRODUCT §7).

Pure: ``now``, the papers and the links come in as arguments; the only files read are
templates, through the Jinja environment. :func:`render_email` in four steps:

1. the edition and ranked papers become an :class:`EmailView` (:mod:`digest.render_view`);
2. the HTML template is rendered and its CSS inlined; papers are dropped from the end
   until it fits ``max_html_bytes`` (Gmail clips messages at ~102 KB);
3. the text template is rendered from the same papers;
4. both go into one multipart/alternative message carrying the list headers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import SMTP, Policy
from email.utils import format_datetime, parseaddr
from pathlib import Path

import css_inline
import jinja2

from digest.errors import ConfigError, RenderError
from digest.models import Edition, Email, Links, RankedPaper, Subscriber
from digest.render_view import EmailView, has_control, is_absolute, make_email_view

# templates/ sits at the top of the repository; a wheel carries it as the digest.templates package.
_HERE = Path(__file__).resolve().parent
SHIPPED_TEMPLATES = next(
    (d for d in (_HERE.parent / "templates", _HERE / "templates") if d.is_dir()),
    _HERE.parent / "templates",
)
HTML_TEMPLATE = "email.html.j2"
TEXT_TEMPLATE = "email.txt.j2"
_PHRASE_SPECIALS = re.compile(r'[<>"\\]')
_LIST_ID = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_INLINER = css_inline.CSSInliner(
    keep_at_rules=True,  # @media (max-width) and (prefers-color-scheme) stay in <style>
    load_remote_stylesheets=False,  # never fetch at render time (SSRF, hangs)
    minify_css=True,
)


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

    @property
    def domain(self) -> str:
        """The From address's domain: Message-IDs are minted on it."""
        return parseaddr(self.from_address)[1].rpartition("@")[2].lower()


class _UriListHeader(UnstructuredHeader, BaseHeader):
    """List-Unsubscribe holds URIs (RFC 2369): fold between them, never into encoded words."""

    def fold(self, *, policy: Policy) -> str:
        return f"{self.name}: " + f",{policy.linesep} ".join(self.split(", ")) + policy.linesep


def _make_policy() -> Policy:
    registry = HeaderRegistry()
    registry.map_to_type("list-unsubscribe", _UriListHeader)
    return SMTP.clone(header_factory=registry)


_POLICY = _make_policy()


def make_environment(template_dirs: Sequence[Path]) -> jinja2.Environment:
    """A Jinja environment over ``template_dirs``, the first (an operator's) winning."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in template_dirs]),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2"), default_for_string=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


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
    view, text, html = _render_parts(edition, subscriber, ranked, links, settings, now, env)
    message_id = make_message_id(edition, subscriber, settings)
    msg = _make_message(view, text, html, settings, now, message_id)
    return Email(
        recipient=subscriber.email,
        envelope_from=settings.envelope_from,
        subject=view.subject,
        message_id=message_id,
        raw=msg.as_bytes(),
        html_size=len(html.encode()),
        text_size=len(text.encode()),
        paper_ids=tuple(p.id for p in view.papers),
    )


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
    return _render_parts(edition, subscriber, ranked, links, settings, now, env)[2]


def make_message_id(edition: Edition, subscriber: Subscriber, settings: RenderSettings) -> str:
    """The same id for the same (edition, subscriber), so a retried send is recognisable."""
    digest = re.sub(r"[^A-Za-z0-9-]+", "-", edition.digest) or "digest"
    who = hashlib.sha256(subscriber.email.encode()).hexdigest()[:16]
    return f"<{digest}.{edition.date.isoformat()}.{who}@{settings.domain}>"


def _render_parts(
    edition: Edition,
    subscriber: Subscriber,
    ranked: Sequence[RankedPaper],
    links: Links,
    settings: RenderSettings,
    now: datetime,
    env: jinja2.Environment,
) -> tuple[EmailView, str, str]:
    """The view actually shown (after the size budget), its text part and its HTML part."""
    if now.tzinfo is None:
        raise RenderError(f"now must be timezone-aware, got {now.isoformat()}")
    view = make_email_view(
        edition,
        subscriber,
        ranked,
        links,
        home_url=settings.base_url,
        postal_address=settings.postal_address,
        abstract_chars=settings.abstract_chars,
    )
    view, html = _fit_html(env, view, settings.max_html_bytes)
    return view, _render(env, TEXT_TEMPLATE, view), html


def _fit_html(env: jinja2.Environment, view: EmailView, budget: int) -> tuple[EmailView, str]:
    """The inlined HTML with as many papers as fit in ``budget`` bytes, dropping from the end."""
    for count in range(len(view.papers), 0, -1):
        kept = view.keeping(count)
        html = _inline(_render(env, HTML_TEMPLATE, kept))
        if len(html.encode()) <= budget:
            return kept, html
    raise RenderError(
        f"not even one paper fits in max_html_bytes={budget}",
        hint="raise max_html_bytes or lower abstract_chars",
    )


def _render(env: jinja2.Environment, name: str, view: EmailView) -> str:
    try:
        template = env.get_template(name)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template {name} not found in {_search_path(env)}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"template {exc.filename}:{exc.lineno}: {exc.message}") from exc
    try:
        return template.render(view.context())
    except (jinja2.TemplateError, TypeError, ValueError) as exc:  # an operator's template
        raise RenderError(
            f"template {template.filename} failed: {exc}",
            hint=f"the variables it may use are: {', '.join(view.context())}",
        ) from exc


def _search_path(env: jinja2.Environment) -> str:
    loader = env.loader
    dirs = loader.searchpath if isinstance(loader, jinja2.FileSystemLoader) else []
    return ", ".join(dirs) or "(no template directories)"


def _inline(html: str) -> str:
    try:
        inlined = _INLINER.inline(html)
    except css_inline.InlineError as exc:
        raise RenderError(f"could not inline the email's CSS: {exc}") from exc
    return inlined if inlined.endswith("\n") else inlined + "\n"  # as MIME will send it


def _make_message(
    view: EmailView, text: str, html: str, settings: RenderSettings, now: datetime, message_id: str
) -> EmailMessage:
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = settings.from_address
    msg["To"] = view.recipient
    if settings.reply_to:
        msg["Reply-To"] = settings.reply_to
    msg["Subject"] = view.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg["List-Id"] = f"{_PHRASE_SPECIALS.sub('', view.digest_title)} <{settings.list_id}>"
    unsubscribe = (view.links.unsubscribe_url, view.links.unsubscribe_mailto)
    msg["List-Unsubscribe"] = ", ".join(f"<{uri}>" for uri in unsubscribe if uri)
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg["Precedence"] = "bulk"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    for part in msg.iter_parts():
        del part["MIME-Version"]  # add_alternative repeats it on the part; once at the top
    # A boundary from the content keeps the bytes reproducible; "=_" never occurs in
    # quoted-printable text, so it cannot collide with a body line.
    msg.set_boundary("=_" + hashlib.sha256(f"{text}\0{html}".encode()).hexdigest()[:32])
    return msg
