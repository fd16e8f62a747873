"""A reader's own links from every email: one-click unsubscribe and the preferences page.

Both are reached by a signed token in the URL (no password). Unsubscribe follows RFC 8058:
a POST (form-urlencoded or multipart, ``List-Unsubscribe=One-Click``) unsubscribes and
answers 200 with no redirect, and repeating it changes nothing; the GET shows a page with
the button. The change is written to the store before the answer, so the next send, or the
one running now, sees it.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from digest.errors import InputError
from digest.links import PREFERENCES, UNSUBSCRIBE, make_token, read_token
from digest.models import SUPPRESSED, Status, Subscriber
from digest.web.forms import FormResult, read_preferences
from digest.web.site import BAD_LINK, PageError, Site, expired_form, site_of

log = logging.getLogger(__name__)


async def unsubscribe_page(request: Request) -> Response:
    site = site_of(request)
    sub, digest = await _reader(site, request, UNSUBSCRIBE)
    if sub is None or sub.status in SUPPRESSED:
        return _unsubscribed(site, request, sub, None)
    others = [d for d in site.config.digests if sub.wants(d.name) and d.name != digest]
    named = site.digest_named(digest)
    context = {"subscriber": sub, "digest": named, "others": others}
    return site.page(request, "unsubscribe", context)


async def unsubscribe(request: Request) -> Response:
    """The RFC 8058 endpoint, and the page's buttons ("everything" posts ``scope=all``)."""
    site = site_of(request)
    sub_id, digest = _token(site, request, UNSUBSCRIBE)
    form = await request.form(max_files=1, max_fields=10, max_part_size=4096)
    everything = form.get("scope") == "all" or site.digest_named(digest) is None
    leave = None if everything else digest
    done = await site.db(site.store.unsubscribe, sub_id, leave, site.digest_names)
    if done is None:  # a pending address that expired: it is on no list
        return _unsubscribed(site, request, None, None)
    sub, changed = done
    if changed:
        log.info("subscriber %s unsubscribed from %s", sub.id, leave or "all")
    return _unsubscribed(site, request, sub, leave)


async def preferences_page(request: Request) -> Response:
    site = site_of(request)
    sub, _ = await _reader(site, request, PREFERENCES)
    if sub is None or sub.status != Status.CONFIRMED:
        return _not_subscribed(site, request, sub)
    return _preferences(site, request, sub, FormResult(choices=sub.choices))


async def preferences(request: Request) -> Response:
    site = site_of(request)
    sub_id, _ = _token(site, request, PREFERENCES)
    form = await request.form(max_files=0, max_fields=50, max_part_size=16_384)
    if not site.csrf.check(request, form):
        return expired_form(site, request)
    leaving = form.get("action") == "unsubscribe"
    result = None if leaving else read_preferences(form, site.config.digests)  # None: leave
    paused = form.get("paused") == "on"
    sub, done = await site.db(_save, site, sub_id, result, paused=paused)
    if sub is None or sub.status != Status.CONFIRMED:
        return _not_subscribed(site, request, sub)
    if result is None:  # the page's unsubscribe button
        return _unsubscribed(site, request, done[0] if done else None, None)
    if not result.ok:
        return _preferences(site, request, sub, result, status=400)
    if done is None:
        return _not_subscribed(site, request, None)
    return _preferences(site, request, done[0], FormResult(choices=done[0].choices), saved=True)


def _save(
    site: Site, sub_id: str, result: FormResult | None, *, paused: bool
) -> tuple[Subscriber | None, tuple[Subscriber, bool] | None]:
    """In the store's thread (one trip there): the reader, and what saving the form (or
    unsubscribing, ``result`` None) did, if the reader is confirmed and the form good."""
    store = site.store
    sub = store.get_subscriber_by_id(sub_id)
    if sub is None or sub.status != Status.CONFIRMED:
        return sub, None
    if result is None:
        return sub, store.unsubscribe(sub.id, None, site.digest_names)
    if not result.ok:
        return sub, None
    return sub, store.update_preferences(sub.id, result.choices, paused=paused)


def _token(site: Site, request: Request, purpose: str) -> tuple[str, str]:
    """The subscriber id and digest a link's token names; a bad token is a 400 page."""
    try:
        return read_token(site.secret, purpose, request.path_params["token"])
    except InputError:
        raise PageError("This link is not valid", BAD_LINK, status=400) from None


async def _reader(site: Site, request: Request, purpose: str) -> tuple[Subscriber | None, str]:
    """The subscriber and digest a link's token names."""
    sub_id, digest = _token(site, request, purpose)
    return await site.db(site.store.get_subscriber_by_id, sub_id), digest


def _preferences(
    site: Site,
    request: Request,
    sub: Subscriber,
    result: FormResult,
    *,
    status: int = 200,
    saved: bool = False,
) -> Response:
    chosen = result.choices
    typed = result.typed or {
        "digests": chosen.digests or site.digest_names,
        "topics": ", ".join(chosen.topics),
        "authors": "\n".join(chosen.authors),  # one per line: a name may hold a comma
        "topic_mode": chosen.topic_mode or "",
        "cadence": chosen.cadence,
        "timezone": chosen.timezone or "",
    }
    unsubscribe = make_token(site.secret, UNSUBSCRIBE, sub.id, "")
    context = {
        "subscriber": sub,
        "errors": result.errors,
        "typed": typed,
        "saved": saved,
        "unsubscribe_url": f"/unsubscribe/{unsubscribe}",
    }
    return site.page(request, "preferences", context, status=status)


def _unsubscribed(
    site: Site, request: Request, sub: Subscriber | None, digest: str | None
) -> Response:
    named = site.digest_named(digest) if digest else None
    if named is not None and sub is not None and sub.status not in SUPPRESSED:
        text = f"{sub.email} will no longer receive {named.title}."
        link = ("Manage my other digests", site.preferences_url(sub.id))
        return site.message(request, "You are unsubscribed", text, link=link)
    who = sub.email if sub else "This address"
    text = f"{who} will receive no more emails from {site.name}. Changed your mind?"
    return site.message(
        request, "You are unsubscribed", text, link=("Subscribe again", "/subscribe")
    )


def _not_subscribed(site: Site, request: Request, sub: Subscriber | None) -> Response:
    if sub is not None and sub.status == Status.PENDING:
        text = f"{sub.email} is waiting for its confirmation: open the link in that email first."
    else:
        text = "This address is not subscribed any more, so there are no preferences to change."
    return site.message(
        request, "Not subscribed", text, status=404, link=("Subscribe", "/subscribe")
    )
