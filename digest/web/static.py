"""The pages' CSS and script, read through the template search path (an operator's
``templates/web/site.css`` wins over the shipped one) and kept in memory."""

from __future__ import annotations

import jinja2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from digest.web.site import site_of

TYPES = {
    "site.css": "text/css; charset=utf-8",
    "subscribe.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


async def static_file(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in TYPES:
        raise HTTPException(404)  # the app's not-found page
    env = site_of(request).templates
    assert env.loader is not None
    try:
        body, _, _ = env.loader.get_source(env, f"web/{name}")
    except jinja2.TemplateNotFound:
        return Response("", status_code=404)
    headers = {"cache-control": "public, max-age=3600"}
    return Response(body, media_type=TYPES[name], headers=headers)
