"""The archive (PRODUCT §7, §9): every published edition as a web page and in an Atom feed.

GET /archive                        each digest's latest editions, newest first
GET /archive/{digest}               one digest's editions (``?before=YYYY-MM-DD``: older ones)
GET /archive/{digest}/feed.xml      Atom 1.0: that digest's latest editions
GET /archive/{digest}/{YYYY-MM-DD}  one edition as it was sent: its trending top ``size``
GET /archive/{digest}/{YYYY-MM-DD}/for/{token}
                                    one reader's own email of that edition (a signed link)

An edition is what a real send recorded (the store's ``editions``), ranked for no one in
particular: nothing is hidden as already shown, so the first ``size`` papers are what the
email led with for a reader new to the digest. Only editions a run sent to someone are
listed. The emails' "Web version" link is the reader's own email
(:func:`digest.pipeline.compose.make_links`): the papers their delivery recorded, ranked
and rendered as the email was, from the store.

Index pages and feeds take a bounded number of editions, all in one read of the store: the
work beyond that read does not grow with the years of editions the store holds.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from functools import partial
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from digest.config import DigestConfig
from digest.errors import InputError
from digest.links import WEB_VERSION, read_token
from digest.models import DeliveryStatus, Edition, Paper, RankedPaper, Subscriber
from digest.pipeline.compose import EditionRequest, preview_email
from digest.rank import RankSettings, Reader, rank
from digest.render.template import render_template
from digest.render.view import PaperView, clean, long_date, make_paper_views
from digest.subscribers import address_key
from digest.web.site import BAD_LINK, Site, site_of
from digest.windows import next_run

PAGE_EDITIONS = 60  # editions of one digest on an index page; older ones are a link away
FEED_EDITIONS = 30  # entries in a feed
ABSTRACT_CHARS = 600  # a page has room for a little more of the summary than an email
ATOM_TYPE = "application/atom+xml; charset=utf-8"
#: The web version is the email's own HTML: its inline styles and remote pictures allowed,
#: nothing else (no script, no form, no frame).
EMAIL_PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
FEED_CACHE = "public, max-age=900"  # feed readers poll; an edition appears at most daily
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")  # date.fromisoformat also takes 20251127, 2025-W48
# Characters XML 1.0 forbids even escaped: one of them in a scraped title would break the feed.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def routes() -> list[Route]:
    """The archive's routes; the feed comes before the edition page, which would take it."""
    started = f"{time.time_ns():x}"  # a restart may bring another config or templates
    return [
        Route("/archive", index_page, methods=["GET"]),
        Route("/archive/{digest}", digest_page, methods=["GET"]),
        Route("/archive/{digest}/feed.xml", partial(feed, started=started), methods=["GET"]),
        Route("/archive/{digest}/{day}", edition_page, methods=["GET"]),
        Route("/archive/{digest}/{day}/for/{token}", reader_email_page, methods=["GET"]),
    ]


# what the templates show ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EditionLink:
    """One line of an index: ``Thursday 27 November 2025 — 31 papers``."""

    url: str
    day: str  # ISO, for <time datetime>
    label: str
    count: str


@dataclass(frozen=True, slots=True)
class Shelf:
    """One digest's part of an index page."""

    name: str
    title: str
    url: str
    feed_url: str  # absolute: it is also the <link rel="alternate"> of the page
    editions: tuple[EditionLink, ...]
    older_url: str | None  # the next page of older editions, when there is one


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One edition as an Atom entry."""

    url: str
    title: str
    updated: str
    summary: str
    papers: tuple[PaperView, ...]  # those the email led with
    more: int  # the edition's other papers


# routes ----------------------------------------------------------------------------------


async def index_page(request: Request) -> Response:
    site = site_of(request)
    shelves = [await _shelf(site, digest) for digest in site.config.digests]
    context = {"title": "Archive", "shelves": shelves, "single": False, "before": ""}
    return site.page(request, "archive", context, public=True)


async def digest_page(request: Request) -> Response:
    site = site_of(request)
    digest = site.digest_named(request.path_params["digest"])
    raw_before = request.query_params.get("before")
    before = _parse_day(raw_before) if raw_before is not None else None
    if digest is None or (raw_before is not None and before is None):
        return _not_found(site, request)
    shelf = await _shelf(site, digest, before)
    context = {
        "title": f"{clean(digest.title)} archive",
        "shelves": [shelf],
        "single": True,
        "before": long_date(before) if before else "",
    }
    return site.page(request, "archive", context, public=True)


async def edition_page(request: Request) -> Response:
    site = site_of(request)
    digest = site.digest_named(request.path_params["digest"])
    day = _parse_day(request.path_params["day"])
    if digest is None or day is None:
        return _not_found(site, request)
    papers = await site.db(site.store.edition_papers, Edition(digest.name, day, digest.title))
    if not papers:  # never sent (None), or its papers are gone from the store
        return _not_found(site, request, digest)
    ranked = _ranked(digest, day, papers)
    views = make_paper_views(ranked[: digest.size], ABSTRACT_CHARS)
    context = {
        "title": f"{clean(digest.title)} — {long_date(day)}",
        "digest_title": clean(digest.title),
        "digest_url": _digest_path(digest),
        "feed_url": _feed_url(site, digest),
        "day": day.isoformat(),
        "date_long": long_date(day),
        "lead": views,
        "pool": len(ranked),
    }
    return site.page(request, "edition", context, public=True)


async def reader_email_page(request: Request) -> Response:
    """One reader's email of an edition, as it was sent: the papers their delivery
    recorded, ranked and rendered again from the store (a reader the edition did not reach
    sees what it would have sent them)."""
    site = site_of(request)
    digest = site.digest_named(request.path_params["digest"])
    day = _parse_day(request.path_params["day"])
    if digest is None or day is None:
        return _not_found(site, request)
    try:
        sub_id, digest_name = read_token(site.secret, WEB_VERSION, request.path_params["token"])
    except InputError:
        return site.message(request, "This link is not valid", BAD_LINK, status=400)
    sub = await site.db(site.store.get_subscriber_by_id, sub_id)
    edition = Edition(digest.name, day, digest.title)
    papers = await site.db(site.store.edition_papers, edition)
    if digest_name != digest.name or sub is None:
        return site.message(request, "This link is not valid", BAD_LINK, status=404)
    if not papers:
        return _not_found(site, request, digest)
    shown = await site.db(_shown_besides_sent, site, edition, papers, sub)
    target = EditionRequest(digest, day, site.clock(), ())
    try:
        html = preview_email(site.config, target, papers, sub, shown, site.clock())
    except InputError:
        return _not_found(site, request, digest)
    headers = {
        "cache-control": "private, no-store",  # the reader's own links are in it
        "content-security-policy": EMAIL_PAGE_POLICY,
    }
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)


def _shown_besides_sent(
    site: Site, edition: Edition, papers: tuple[Paper, ...], sub: Subscriber
) -> frozenset[str]:
    """The papers to leave out so that ranking picks what the reader's delivery carried:
    everything else, when the ledger recorded it; else what other editions showed them."""
    ids = [p.id for p in papers]
    key = address_key(sub.email)
    history = site.store.history(edition.key, ids, readers=[key])
    sent = history.earlier_delivery(sub.email)
    if sent is not None and sent.paper_ids:
        return frozenset(ids) - set(sent.paper_ids)
    return history.shown_to(sub.email)


async def feed(request: Request, started: str = "") -> Response:
    """The Atom feed. Its ETag changes with the store file and the app's start, so a feed
    reader's conditional GET costs a stat, not a read of the whole store."""
    site = site_of(request)
    digest = site.digest_named(request.path_params["digest"])
    if digest is None:
        return _not_found(site, request)
    version = _token_text(site.store.change_token())  # before the read: never ahead of it
    tag = f'W/"{started}-{version}"'
    if tag in (t.strip() for t in request.headers.get("if-none-match", "").split(",")):
        return Response(status_code=304, headers={"etag": tag, "cache-control": FEED_CACHE})
    found = await site.db(_sent_editions, site, digest, FEED_EDITIONS)
    entries = [_entry(site, digest, edition, papers) for edition, papers in found if papers]
    context = {
        "id": _feed_url(site, digest),
        "self_url": _feed_url(site, digest),
        "page_url": site.url(_digest_path(digest)),
        "title": clean(digest.title),
        "author": clean(site.name),
        "updated": entries[0].updated if entries else _atom_time(site.clock()),
        "entries": entries,
    }
    xml = render_template(site.templates, "web/feed.xml.j2", context)
    headers = {"cache-control": FEED_CACHE, "etag": tag}
    return Response(_NOT_XML.sub("", xml), media_type=ATOM_TYPE, headers=headers)


# helpers ----------------------------------------------------------------------------------


async def _shelf(site: Site, digest: DigestConfig, before: date | None = None) -> Shelf:
    """The digest's newest :data:`PAGE_EDITIONS` editions (before ``before``): one more is
    read to learn whether an older page exists."""
    found = await site.db(_sent_editions, site, digest, PAGE_EDITIONS + 1, before)
    shown = found[:PAGE_EDITIONS]
    older = None
    if len(found) > PAGE_EDITIONS:
        older = f"{_digest_path(digest)}?before={shown[-1][0].date.isoformat()}"
    return Shelf(
        name=digest.name,
        title=clean(digest.title),
        url=_digest_path(digest),
        feed_url=_feed_url(site, digest),
        editions=tuple(
            _edition_link(digest, e, min(digest.size, len(papers))) for e, papers in shown
        ),
        older_url=older,
    )


def _sent_editions(
    site: Site, digest: DigestConfig, limit: int, before: date | None = None
) -> list[tuple[Edition, tuple[Paper, ...]]]:
    """The digest's newest ``limit`` editions that a run sent to at least one reader (an
    edition saved by a run that then failed for everyone, or by a dry run, is not listed)."""
    sent = {
        run.edition_date
        for run in site.store.runs(digest.name)
        if not run.dry_run and run.counts.get(DeliveryStatus.SENT.value, 0) > 0
    }
    found = site.store.latest_editions(digest.name, limit=2 * limit + 8, before=before)
    return [(e, papers) for e, papers in found if e.date in sent][:limit]


def _edition_link(digest: DigestConfig, edition: Edition, count: int) -> EditionLink:
    return EditionLink(
        url=_edition_path(digest, edition.date),
        day=edition.date.isoformat(),
        label=long_date(edition.date),
        count=f"{count} paper{'' if count == 1 else 's'}",
    )


def _entry(
    site: Site, digest: DigestConfig, edition: Edition, papers: tuple[Paper, ...]
) -> FeedEntry:
    """The edition with the papers the email led with (views of those only: 30 editions
    of every paper would spend most of the feed's time wrapping text it never shows)."""
    ranked = _ranked(digest, edition.date, papers)
    lead = make_paper_views(ranked[: digest.size], ABSTRACT_CHARS)
    count = f"{len(ranked)} paper{'' if len(ranked) == 1 else 's'}"
    return FeedEntry(
        url=site.url(_edition_path(digest, edition.date)),
        title=f"{clean(digest.title)} — {long_date(edition.date)}",
        updated=_atom_time(send_time(digest, edition.date)),
        summary=f"{count}, led by: " + "; ".join(v.title for v in lead[:3]),
        papers=lead,
        more=len(ranked) - len(lead),
    )


def _ranked(digest: DigestConfig, day: date, papers: tuple[Paper, ...]) -> tuple[RankedPaper, ...]:
    """All of an edition's papers in the order the email ranked them (for no one reader)."""
    settings = RankSettings(size=len(papers), half_life_days=digest.half_life_days, similar=1.0)
    return rank(papers, Reader(), today=day, settings=settings).papers


def send_time(digest: DigestConfig, day: date) -> datetime:
    """When ``day``'s edition was due: the schedule's first run that day in the digest's
    timezone, else the day's start. Derived, not read from the runs, so an entry's
    ``updated`` never moves and feed readers do not show it as new again."""
    start = datetime.combine(day, clock(), digest.zone)
    fire = next_run(digest, start - timedelta(seconds=1))
    return (fire if fire.date() == day else start).astimezone(UTC)


def _atom_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_day(text: str) -> date | None:
    """``YYYY-MM-DD`` as a date; None for anything else (``2025-13-45``, ``yesterday``)."""
    if not _ISO_DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _digest_path(digest: DigestConfig) -> str:
    return f"/archive/{quote(digest.name, safe='')}"


def _edition_path(digest: DigestConfig, day: date) -> str:
    return f"{_digest_path(digest)}/{day.isoformat()}"


def _feed_url(site: Site, digest: DigestConfig) -> str:
    return site.url(f"{_digest_path(digest)}/feed.xml")


def _not_found(site: Site, request: Request, digest: DigestConfig | None = None) -> Response:
    """The 404 page; with ``digest``, for a date it has no edition of, linking to the rest."""
    if digest is None:
        return site.message(
            request,
            "Page not found",
            "There is no archive page at this address.",
            status=404,
            link=("See all editions", "/archive"),
        )
    return site.message(
        request,
        "No edition on this day",
        f"{clean(digest.title)} was not sent on this day.",
        status=404,
        link=(f"All editions of {clean(digest.title)}", _digest_path(digest)),
    )


def _token_text(token: object) -> str:
    """A change token as ETag text (TinyDB's is a tuple of numbers)."""
    return "-".join(map(str, token)) if isinstance(token, tuple) else str(token)
