"""What every route shares: the config, the store, the page templates, the defences.

Store operations are blocking file I/O under a file lock; :meth:`Site.db` runs them in a
worker thread, one at a time in this process (other processes wait on the file lock).
"""

from __future__ import annotations

import functools
import importlib.resources
import threading
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property, partial
from typing import Any, ParamSpec, TypeVar

import jinja2
from markupsafe import Markup
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from digest.config import Config, DigestConfig
from digest.render.template import render_template, template_env
from digest.store import Store
from digest.web.notices import NoticeSender, preferences_url, site_name
from digest.web.security import CSRF_FIELD, Csrf, SlidingWindow

BAD_LINK = (
    "The link was altered, or cut short by an email program, so nothing was changed. "
    "Open it again from your latest email, or copy the whole address into your browser."
)

P = ParamSpec("P")
T = TypeVar("T")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Site:
    """One running web app's shared state (``request.app.state.site``)."""

    config: Config
    store: Store
    secret: str
    notices: NoticeSender
    clock: Callable[[], datetime] = _utcnow
    workers: int = 1  # web processes serving this store's readers (``digest serve --workers``)
    per_client: SlidingWindow = field(init=False)
    per_address: SlidingWindow = field(init=False)
    csrf: Csrf = field(init=False)
    _store_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        web = self.config.web
        # each process counts only what it serves: its share of a limit, so that all of them
        # together let through at most about the limit (rounded up: never less than one)
        self.per_client = SlidingWindow(-(-web.per_client_per_hour // self.workers))
        self.per_address = SlidingWindow(-(-web.per_address_per_hour // self.workers))
        self.csrf = Csrf(self.secret, secure_cookie=self.config.base_url.startswith("https://"))

    async def db(self, operation: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking store operation off the event loop (a thread lock, not an asyncio
        one: the app may be driven from more than one event loop, as test clients do)."""
        return await run_in_threadpool(self._locked, partial(operation, *args, **kwargs))

    def _locked(self, call: Callable[[], T]) -> T:
        if self.store.many_senders:  # a server's store: its own transactions, no file lock
            return call()
        with self._store_lock:
            return call()

    # links and names -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return site_name(self.config)

    @property
    def confirm_window(self) -> timedelta:
        return timedelta(hours=self.config.web.confirm_hours)

    def url(self, path: str) -> str:
        return self.config.base_url + path

    def preferences_url(self, sub_id: str, digest: str = "") -> str:
        return preferences_url(self.config, self.secret, sub_id, digest)

    def digest_named(self, name: str) -> DigestConfig | None:
        return next((d for d in self.config.digests if d.name == name), None)

    @property
    def digest_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.config.digests)

    # pages ---------------------------------------------------------------------------------

    @cached_property
    def templates(self) -> jinja2.Environment:
        env = template_env(self.config)
        env.globals["zone_regions"] = zone_regions()
        env.globals["zone_aliases"] = zone_aliases()
        env.globals["timezones"] = frozenset(z for _, zones in zone_regions() for z in zones)
        env.globals["zone_options"] = _zone_options(env)
        return env

    def page(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        background: BackgroundTask | None = None,
        public: bool = False,
    ) -> HTMLResponse:
        """Template ``web/<name>.html.j2`` as a page, with a CSRF token for its forms; a
        ``public`` page (no forms, nobody's data: the archive) may be cached and sets no
        cookie."""
        token, new_cookie = ("", None) if public else self.csrf.form_token(request)
        values = {
            "site_name": self.name,
            "digests": self.config.digests,
            "postal_address": self.config.sender.postal_address,
            "csrf_field": CSRF_FIELD,
            "csrf_token": token,
            **(context or {}),
        }
        html = render_template(self.templates, f"web/{name}.html.j2", values)
        response = HTMLResponse(html, status_code=status, background=background)
        # other pages carry tokens and addresses
        response.headers["cache-control"] = "public, max-age=300" if public else "no-store"
        if new_cookie:
            self.csrf.set_cookie(response, new_cookie)
        return response

    def message(
        self,
        request: Request,
        title: str,
        text: str,
        *,
        status: int = 200,
        link: tuple[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> HTMLResponse:
        """A page that only says something (done, expired, not found...), with one link."""
        context = {"title": title, "text": text, "link": link}
        return self.page(request, "message", context, status=status, background=background)


def _zone_options(env: jinja2.Environment) -> Callable[[str], Markup]:
    """The form's 400 timezone options with ``zone`` selected, rendered once per zone (most
    of a preferences page's rendering otherwise)."""

    @functools.lru_cache(maxsize=64)
    def options(zone: str) -> Markup:
        return Markup(env.get_template("web/_zone_options.html.j2").render(zone=zone))

    return options


@functools.cache
def zone_regions() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The timezones a form offers, by region (``("Europe", ("Europe/Amsterdam", ...))``):
    the current canonical zones that tzdata's zone.tab and zone1970.tab name for places,
    so neither old spellings (``Africa/Asmera``) nor aliases (``US/Eastern``, ``Etc/GMT+5``)."""
    names: set[str] = set()
    for table in ("zone.tab", "zone1970.tab"):
        names |= _zone_table(table)
    known = zoneinfo.available_timezones()
    regions: dict[str, list[str]] = {}
    for name in sorted(names & known):
        regions.setdefault(name.partition("/")[0], []).append(name)
    return tuple((region, tuple(zones)) for region, zones in sorted(regions.items()))


@functools.cache
def zone_aliases() -> Mapping[str, str]:
    """For each zone of :func:`zone_regions`, its other names, space-separated: what a
    browser may call it (``Asia/Kolkata``: ``Asia/Calcutta``, the name ICU still uses).
    tzdata ships a link as a copy of its target's file, so the names are found by content."""
    canonical = {z for _, zones in zone_regions() for z in zones}
    by_content: dict[bytes, str] = {}
    for name in sorted(canonical):
        data = _zone_bytes(name)
        if data is not None:
            by_content.setdefault(data, name)
    found: dict[str, list[str]] = {}
    for name in sorted(zoneinfo.available_timezones() - canonical):
        data = _zone_bytes(name)
        target = by_content.get(data) if data is not None else None
        if target is not None:
            found.setdefault(target, []).append(name)
    return {target: " ".join(names) for target, names in found.items()}


def _zone_bytes(name: str) -> bytes | None:
    try:
        return (
            importlib.resources.files("tzdata").joinpath("zoneinfo", *name.split("/")).read_bytes()
        )
    except (ModuleNotFoundError, FileNotFoundError, IsADirectoryError):
        return None


def _zone_table(name: str) -> set[str]:
    """The zone names (third column) of one of tzdata's tables."""
    try:
        text = importlib.resources.files("tzdata").joinpath("zoneinfo", name).read_text()
    except (ModuleNotFoundError, FileNotFoundError):
        return set()
    rows = (line.split("\t") for line in text.splitlines() if line and not line.startswith("#"))
    return {row[2] for row in rows if len(row) > 2}


def site_of(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


def expired_form(site: Site, request: Request) -> HTMLResponse:
    """The answer to a form whose CSRF token is missing or wrong: nothing was changed."""
    return site.message(
        request,
        "The form has expired",
        "The form was open too long or came from another site, so nothing was changed. "
        "Go back, reload the page and send it again.",
        status=400,
    )


class PageError(Exception):
    """Raised by a route to answer with a message page (a bad link, an expired one...):
    the app's handler renders it, so routes read straight through."""

    def __init__(
        self, title: str, text: str, *, status: int, link: tuple[str, str] | None = None
    ) -> None:
        super().__init__(f"{title}: {text}")
        self.title, self.text, self.status, self.link = title, text, status, link
