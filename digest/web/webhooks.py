"""The provider webhooks of ``digest serve`` (``inbound.webhooks`` in schedules.yaml).

POST /webhooks/ses        Amazon SES through SNS (the SNS message signature; the
                          subscription confirmation is visited, checked the same way)
POST /webhooks/postmark   Postmark (HTTP basic auth credentials set on the webhook)
POST /webhooks/mailgun    Mailgun (HMAC-SHA256 of timestamp + token; old or replayed refused)
POST /webhooks/sendgrid   SendGrid's signed event webhook (ECDSA P-256)

A provider that is not configured is a 404. A call that does not prove where it comes from
is refused with 401 or 403 before its events are read, and changes nothing; one that cannot
be read is a 400. A believed call answers 200 with what it did, events about no message of
ours included (counted as unknown, and logged): the provider must not send them again.
The checks are in :mod:`digest.inbound.providers` and :mod:`digest.inbound.sns`; matching
and recording in :mod:`digest.pipeline.webhooks`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from digest.fetch import make_client
from digest.inbound import sns
from digest.inbound.providers import (
    MAX_BODY,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ProviderEvent,
    Refused,
    mailgun_events,
    postmark_events,
    read_json,
    sendgrid_events,
)
from digest.pipeline.webhooks import record_provider_events
from digest.web.site import Site, site_of

log = logging.getLogger("digest.webhooks")

MAX_CERTIFICATE = 64 * 1024  # bytes: an SNS signing certificate is about 2 KB


def fetch_https(url: str) -> bytes:
    """GET ``url`` (already checked to be an SNS host), no redirects, the body (≤ 64 KB)."""
    with make_client() as client:
        response = client.get(url, follow_redirects=False)
        response.raise_for_status()
        if len(response.content) > MAX_CERTIFICATE:
            raise httpx.HTTPError(f"{len(response.content)} bytes: too large")
        return response.content


@dataclass
class WebhookState:
    """What the webhooks keep between calls: how to fetch SNS URLs (tests hand in their own),
    the SNS certificates already fetched, and the Mailgun tokens already accepted."""

    fetch: Callable[[str], bytes] = fetch_https
    certificates: dict[str, bytes] = field(default_factory=dict)
    mailgun_tokens: dict[str, float] = field(default_factory=dict)

    def cached_fetch(self, url: str) -> bytes:
        if url not in self.certificates:
            if len(self.certificates) >= 16:
                self.certificates.clear()
            self.certificates[url] = self.fetch(url)
        return self.certificates[url]


def routes() -> list[Route]:
    return [
        Route("/webhooks/ses", ses, methods=["POST"]),
        Route("/webhooks/postmark", postmark, methods=["POST"]),
        Route("/webhooks/mailgun", mailgun, methods=["POST"]),
        Route("/webhooks/sendgrid", sendgrid, methods=["POST"]),
    ]


def state_of(request: Request) -> WebhookState:
    state = getattr(request.app.state, "webhooks", None)
    if not isinstance(state, WebhookState):
        state = request.app.state.webhooks = WebhookState()
    return state


async def ses(request: Request) -> Response:
    site, state = site_of(request), state_of(request)
    settings = site.config.inbound.webhooks.ses
    if settings is None:
        return _not_configured("ses")
    try:
        message = read_json(await _body(request))
        if not isinstance(message, dict):
            raise Refused("an SNS message is one JSON object", 400)
        now = site.clock()
        await run_in_threadpool(sns.verify_sns, message, settings, state.cached_fetch, now)
        if message["Type"] == "SubscriptionConfirmation":
            return await _confirm(state, message)
        if message["Type"] == "UnsubscribeConfirmation":
            log.warning(
                "webhook.ses.unsubscribed", extra={"fields": {"topic": message["TopicArn"]}}
            )
            return JSONResponse({"provider": "ses", "unsubscribed": True})
        events = sns.ses_events(message)
    except Refused as exc:
        return _refused("ses", exc)
    return await _record(site, "ses", events)


async def _confirm(state: WebhookState, message: dict[str, object]) -> Response:
    url = sns.subscribe_url(message)
    try:
        await run_in_threadpool(state.fetch, url)
    except Exception as exc:  # SNS sends the confirmation again: say so, change nothing
        log.error("webhook.ses.confirm_failed", extra={"fields": {"error": str(exc)[:200]}})
        return JSONResponse({"provider": "ses", "error": "could not confirm"}, status_code=502)
    log.info("webhook.ses.subscribed", extra={"fields": {"topic": message["TopicArn"]}})
    return JSONResponse({"provider": "ses", "subscribed": True})


async def postmark(request: Request) -> Response:
    site = site_of(request)
    settings = site.config.inbound.webhooks.postmark
    if settings is None:
        return _not_configured("postmark")
    try:
        body = await _body(request)
        events = postmark_events(settings, request.headers.get("authorization"), body)
    except Refused as exc:
        return _refused("postmark", exc)
    return await _record(site, "postmark", events)


async def mailgun(request: Request) -> Response:
    site, state = site_of(request), state_of(request)
    settings = site.config.inbound.webhooks.mailgun
    if settings is None:
        return _not_configured("mailgun")
    try:
        body = await _body(request)
        now = site.clock()
        events, token = mailgun_events(settings, body, now, state.mailgun_tokens)
    except Refused as exc:
        return _refused("mailgun", exc)
    response = await _record(site, "mailgun", events)
    state.mailgun_tokens[token] = now.timestamp()  # recorded: the same call again is a replay
    return response


async def sendgrid(request: Request) -> Response:
    site = site_of(request)
    settings = site.config.inbound.webhooks.sendgrid
    if settings is None:
        return _not_configured("sendgrid")
    headers = request.headers
    try:
        body = await _body(request)
        events = sendgrid_events(
            settings,
            headers.get(SIGNATURE_HEADER),
            headers.get(TIMESTAMP_HEADER),
            body,
            site.clock(),
        )
    except Refused as exc:
        return _refused("sendgrid", exc)
    return await _record(site, "sendgrid", events)


async def _record(site: Site, provider: str, events: list[ProviderEvent]) -> Response:
    """Matched and recorded; a store that fails raises DigestError: the app answers 503."""
    result = await site.db(
        record_provider_events, site.store, site.config, site.secret, provider, events
    )
    return JSONResponse(result.as_json())


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise Refused(f"the body is larger than {MAX_BODY} bytes", 413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Refused(f"the body is larger than {MAX_BODY} bytes", 413)
    return body


def _refused(provider: str, exc: Refused) -> Response:
    log.warning(
        "webhook.refused",
        extra={"fields": {"provider": provider, "status": exc.status, "reason": str(exc)}},
    )
    return JSONResponse({"provider": provider, "error": str(exc)}, status_code=exc.status)


def _not_configured(provider: str) -> Response:
    return JSONResponse(
        {"provider": provider, "error": f"inbound.webhooks.{provider} is not configured"},
        status_code=404,
    )
