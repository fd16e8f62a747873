"""Subscribing: the form, its answer, and the confirmation link's page (double opt-in).

The answer to the form is the same page whatever the address is (new, pending, already
subscribed, unsubscribed, complained): only the email that follows differs, so the form
cannot be used to learn who subscribes. It also takes the same time: the page is answered
once the form is read, and the store's record (a write for a new address, none for a known
one) and the email are done after it, off the request path.

Confirming takes a POST from the page the email's link opens; the GET only shows the
button, since mail scanners open links.
"""

from __future__ import annotations

import logging

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from digest.errors import InputError
from digest.links import ExpiredLink, read_confirm_token
from digest.models import Email, Status, Subscriber
from digest.subscribers import address_key
from digest.subscribers.rules import Request as Found
from digest.web.forms import FormResult, is_bot, read_subscribe
from digest.web.notices import build_notice, notice_for
from digest.web.security import client_address
from digest.web.site import BAD_LINK, PageError, Site, expired_form, site_of

log = logging.getLogger(__name__)

CHECK_INBOX = "Check your inbox"


async def subscribe_page(request: Request) -> Response:
    site = site_of(request)
    return _form(site, request, FormResult(typed={"digests": site.digest_names}))


async def subscribe(request: Request) -> Response:
    site = site_of(request)
    form = await request.form(max_files=0, max_fields=50, max_part_size=16_384)
    if not site.csrf.check(request, form):
        return expired_form(site, request)
    if is_bot(form):
        log.info("subscribe from %s: honeypot filled, ignored", client_address(request))
        return _check_inbox(site, request)
    if not site.per_client.allow(client_address(request)):
        return site.message(
            request,
            "Too many attempts",
            "Too many subscribe requests came from your network. Please try again in an hour.",
            status=429,
        )
    result = read_subscribe(form, site.config.digests)
    if not result.ok:
        return _form(site, request, result, status=400)
    consent = f"web form from {client_address(request)}"
    return _check_inbox(site, request, BackgroundTask(_request, site, result, consent))


async def confirm_page(request: Request) -> Response:
    site = site_of(request)
    sub = await _pending(site, request)
    if sub.requested is None:
        return _already_confirmed(site, request, sub)
    return site.page(request, "confirm", {"subscriber": sub, "choices": sub.requested})


async def confirm(request: Request) -> Response:
    site = site_of(request)
    form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
    if not site.csrf.check(request, form):
        return expired_form(site, request)
    done = await site.db(
        site.store.confirm_subscription, _confirm_id(site, request), now=site.clock()
    )
    if done is None:  # a pending address forgotten when its window closed
        raise _link_expired()
    sub, changed = done
    if not changed:
        return _already_confirmed(site, request, sub)
    log.info("subscriber %s confirmed", sub.id)
    return site.message(
        request,
        "You are subscribed",
        f"{sub.email} will receive {site.name}. You can change your topics, authors, "
        "cadence and digests, pause or unsubscribe at any time from your preferences, "
        "linked at the bottom of every email.",
        link=("Open my preferences", site.preferences_url(sub.id)),
    )


def _confirm_id(site: Site, request: Request) -> str:
    """The subscriber id the confirmation link names; a bad or expired link is a page."""
    try:
        return read_confirm_token(
            site.secret, request.path_params["token"], site.confirm_window.total_seconds()
        )
    except ExpiredLink:
        raise _link_expired() from None
    except InputError:
        raise PageError("This link is not valid", BAD_LINK, status=400) from None


async def _pending(site: Site, request: Request) -> Subscriber:
    """The subscriber the confirmation link names (for the page with the button)."""
    sub = await site.db(site.store.get_subscriber_by_id, _confirm_id(site, request))
    if sub is None:  # a pending address forgotten when its window closed
        raise _link_expired()
    return sub


async def _request(site: Site, result: FormResult, consent: str) -> None:
    """Record the request and send its email, after the page is answered. A failure is
    logged: the reader was told to subscribe again if no email comes."""
    try:
        sub, found = await site.db(
            site.store.request_subscription,
            result.email,
            result.choices,
            now=site.clock(),
            consent=consent,
        )
        email = _notice(site, sub, found)
    except Exception:
        log.exception("subscribe request (%s) not recorded", consent)
        return
    if email is not None:
        await site.notices.send(email, sub.id)


def _notice(site: Site, sub: Subscriber, found: Found) -> Email | None:
    """The email a subscribe request sends (None: no email)."""
    notice = notice_for(site.config, site.secret, sub, found)
    if notice is None:
        log.info("subscribe request for %s: complained earlier, nothing sent", sub.id)
        return None
    if not site.per_address.allow(address_key(sub.email)):
        log.info("subscribe request for %s: per-address limit reached, nothing sent", sub.id)
        return None
    return build_notice(site.config, notice, site.clock(), site.templates)


def _form(site: Site, request: Request, result: FormResult, *, status: int = 200) -> Response:
    context = {"errors": result.errors, "typed": result.typed}
    return site.page(request, "subscribe", context, status=status)


def _check_inbox(
    site: Site, request: Request, background: BackgroundTask | None = None
) -> Response:
    return site.message(
        request,
        CHECK_INBOX,
        "If the address can receive our emails, a message is on its way to it. Open the "
        "link in it to confirm your subscription; nothing is sent until you do. No email? "
        "Look in your spam folder, or subscribe again in a few minutes.",
        background=background,
    )


def _already_confirmed(site: Site, request: Request, sub: Subscriber) -> Response:
    if sub.status == Status.CONFIRMED:
        return site.message(
            request,
            "Already confirmed",
            f"{sub.email} is subscribed to {site.name}.",
            link=("Open my preferences", site.preferences_url(sub.id)),
        )
    raise _link_expired()


def _link_expired() -> PageError:
    return PageError(
        "This link has expired",
        "Confirmation links work for a limited time. Subscribe again to get a new one.",
        status=410,
        link=("Subscribe again", "/subscribe"),
    )
