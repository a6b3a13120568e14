"""Who may read a tenant's customer-facing data from another site, and who may frame it.

Case data is readable cross-origin so that the widget works on any site, without cookies or
credentials (a case is opened by the token in its URL, nothing else). A company that wants its
cases embedded only on its own sites lists them in the tenant option `embed_origins`; other
origins then get a 403 and no CORS headers.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tracker.errors import Forbidden
from tracker.storage.base import Tenant
from tracker.web.state import state_of
from tracker.web.stream import raw_send

EMBED_ORIGINS = "embed_origins"
PREFLIGHT_MAX_AGE_SECONDS = 86400


def embed_origins(tenant: Tenant | None) -> list[str] | None:
    """The origins a tenant allows, or None for any."""
    raw = tenant.options.get(EMBED_ORIGINS, "") if tenant else ""
    return raw.replace(",", " ").split() or None


def cors_headers(request: Request, tenant: Tenant | None) -> dict[str, str]:
    """CORS headers for a read of this tenant's data; Forbidden for an origin it does not allow."""
    allowed = embed_origins(tenant)
    if allowed is None:
        return {"Access-Control-Allow-Origin": "*"}
    origin = request.headers.get("origin")
    if origin is None or origin == origin_of(state_of(request).settings.base_url):
        return {"Vary": "Origin"}
    if origin not in allowed:
        raise Forbidden(f"This company's cases can be embedded only on: {', '.join(allowed)}.")
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def frame_ancestors(tenant: Tenant | None) -> str:
    """The CSP `frame-ancestors` of a public page: anywhere, or the tenant's embed origins."""
    allowed = embed_origins(tenant)
    return "*" if allowed is None else " ".join(["'self'", *allowed])


class Preflight:
    """Answers CORS preflights (an EventSource reconnect may send Last-Event-ID); the request
    that follows is checked by its own route. The outermost of tracker's own layers, it also
    hands the live streams the send beneath the routing layers (stream.raw_send)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = dict(scope["headers"])
            if b"access-control-request-method" in headers:
                origin = headers.get(b"origin", b"*").decode("latin-1")
                response = Response(status_code=204, headers={
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": "GET, POST",
                    "Access-Control-Allow-Headers": "Last-Event-ID, Content-Type",
                    "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
                    "Vary": "Origin",
                })
                await response(scope, receive, send)
                return
        raw_send.set(send)
        await self.app(scope, receive, send)
