"""The web app of ``digest serve`` (PRODUCT §9): routes, error pages, and start-up.

GET  /                      → the subscribe page
GET  /subscribe             the form             POST: request a subscription
GET  /confirm/{token}       the Confirm button   POST: confirm (double opt-in)
GET  /unsubscribe/{token}   the button           POST: unsubscribe (RFC 8058 one-click)
GET  /preferences/{token}   the form             POST: save, or unsubscribe from all
GET  /archive …             published editions and their Atom feeds (archive.py)
POST /webhooks/{provider}   bounces, complaints: SES, Postmark, Mailgun, SendGrid (webhooks.py)
GET  /healthz               200 {"status": "ok"} when the store can be read, else 503

A path with a trailing slash is redirected to the one without, on ``base_url`` (never on
the request's Host header, which a client chooses).
GET  /static/{name}         the pages' CSS and script
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Match, Route

from digest.config import Config
from digest.errors import DigestError
from digest.links import DEV_SECRET, require_secret
from digest.store import Store, make_store
from digest.web import archive, manage, subscribe, webhooks
from digest.web.notices import NoticeSender
from digest.web.security import SecurityHeaders
from digest.web.site import PageError, Site, site_of
from digest.web.static import static_file

log = logging.getLogger(__name__)

SWEEP_SECONDS = 3600.0  # how often unconfirmed addresses past their window are forgotten


class Background(Protocol):
    """Work that lives as long as the app: ``digest serve``'s scheduler."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def create_app(
    config: Config,
    *,
    store: Store | None = None,
    notices: NoticeSender | None = None,
    clock: Callable[[], datetime] | None = None,
    allow_dev_secret: bool = False,
    background: Background | None = None,
    workers: int = 1,
) -> Starlette:
    """The app. Without ``DIGEST_SECRET`` it refuses to start, unless ``allow_dev_secret``
    (tests, and a first look on a laptop): links would be signed with a public value.
    ``background`` is started with the app and stopped (and waited for) when it stops.
    ``workers``: how many processes serve the store's readers, this one among them (each
    keeps its share of the rate limits)."""
    if config.secret or not allow_dev_secret:
        secret = require_secret(config, "the web app signs the readers' links with it")
    else:
        secret = DEV_SECRET
    site = Site(
        config=config,
        store=store or make_store(config),
        secret=secret,
        notices=notices or NoticeSender(config),
        workers=workers,
        **({"clock": clock} if clock else {}),
    )
    app = Starlette(
        routes=_routes(),
        exception_handlers={
            HTTPException: _http_error,
            PageError: _page_error,
            DigestError: _digest_error,
            Exception: _server_error,
        },
        lifespan=_lifespan,
    )
    app.router.redirect_slashes = False  # Starlette's redirect names the request's Host
    app.state.site = site
    app.state.background = background
    app.add_middleware(SecurityHeaders)
    return app


def _routes() -> list[Route]:
    return [
        Route("/", lambda _: RedirectResponse("/subscribe", status_code=303)),
        Route("/subscribe", subscribe.subscribe_page, methods=["GET"]),
        Route("/subscribe", subscribe.subscribe, methods=["POST"]),
        Route("/confirm/{token}", subscribe.confirm_page, methods=["GET"]),
        Route("/confirm/{token}", subscribe.confirm, methods=["POST"]),
        Route("/unsubscribe/{token}", manage.unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe/{token}", manage.unsubscribe, methods=["POST"]),
        Route("/preferences/{token}", manage.preferences_page, methods=["GET"]),
        Route("/preferences/{token}", manage.preferences, methods=["POST"]),
        *archive.routes(),
        *webhooks.routes(),
        Route("/healthz", _health, methods=["GET"]),
        Route("/static/{name}", static_file, methods=["GET"]),
    ]


async def _health(request: Request) -> Response:
    """503 with a short reason when the store cannot be read or holds what it cannot use."""
    site = site_of(request)
    try:
        await site.db(site.store.check)
    except DigestError as exc:
        return JSONResponse({"status": "error", "store": str(exc)}, status_code=503)
    except Exception as exc:  # a store that breaks another way: say so, not "ok"
        log.error("/healthz: the store failed: %r", exc)
        reason = f"the store cannot be read: {type(exc).__name__}"
        return JSONResponse({"status": "error", "store": reason}, status_code=503)
    return JSONResponse({"status": "ok"})


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    site: Site = app.state.site
    background: Background | None = app.state.background
    sweeper = asyncio.create_task(_sweep_pending(site))
    if background is not None:
        background.start()
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        if background is not None:  # a send in progress finishes its messages in flight
            await asyncio.to_thread(background.stop)


async def _sweep_pending(site: Site) -> None:
    """Forget unconfirmed addresses whose confirmation window has closed, now and hourly."""
    while True:
        try:
            gone = await site.db(site.store.expire_pending, site.clock() - site.confirm_window)
            if gone:
                log.info("forgot %d unconfirmed addresses past their window", gone)
        except DigestError as exc:
            log.error("could not forget expired unconfirmed addresses: %s", exc)
        except Exception:  # a bug must not end the hourly sweep for good: log it, go on
            log.exception("could not forget expired unconfirmed addresses")
        await asyncio.sleep(SWEEP_SECONDS)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    site = site_of(request)
    target = _without_slash(request) if exc.status_code == 404 else None
    if target is not None:
        return RedirectResponse(site.url(target), status_code=307)
    if exc.status_code == 404:
        return site.message(
            request, "Page not found", "There is no page at this address.", status=404
        )
    if exc.status_code == 405:
        return site.message(
            request, "Not allowed", "This page does not take that kind of request.", status=405
        )
    return site.message(request, "Bad request", str(exc.detail), status=exc.status_code)


def _without_slash(request: Request) -> str | None:
    """``/subscribe`` (and its query) for ``/subscribe/``, when that is a route."""
    path = request.url.path
    if path == "/" or not path.endswith("/"):
        return None
    target = path.rstrip("/") or "/"
    scope = {**request.scope, "path": target}
    if not any(route.matches(scope)[0] != Match.NONE for route in request.app.router.routes):
        return None
    query = request.url.query
    return target + (f"?{query}" if query else "")


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return site_of(request).message(request, exc.title, exc.text, status=exc.status, link=exc.link)


async def _digest_error(request: Request, exc: Exception) -> Response:
    """A store that is locked too long or unreadable: nothing was changed, try later."""
    log.error("%s %s: %s", request.method, request.url.path, exc)
    return site_of(request).message(
        request,
        "Please try again",
        "We could not handle this just now, and nothing was changed. Please try again in a minute.",
        status=503,
    )


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return site_of(request).message(
        request, "Something went wrong", "Something went wrong on our side.", status=500
    )
