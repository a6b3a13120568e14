"""A tenant's accent colour as a stylesheet, so pages and the widget can use it under a strict
Content-Security-Policy (no inline styles)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tracker.errors import NotFound
from tracker.storage.base import Tenant
from tracker.web.state import state_of

CACHE_SECONDS = 300


def contrast_on_white(colour: str) -> float:
    """WCAG contrast ratio of white text on `colour` (#rrggbb)."""
    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i:i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 1.05 / (luminance + 0.05)


def accent(tenant: Tenant | None) -> str | None:
    return tenant.options.get("accent_colour") if tenant else None


async def brand_css(request: Request) -> Response:
    store = state_of(request).store
    tenant = await store.get_tenant(request.path_params["tenant"])
    colour = accent(tenant)
    if colour is None:
        raise NotFound("This tenant has no brand colour.")
    # The colour was checked to be #rrggbb when it was set, so it is safe to write out as is.
    css = f":root, :host {{ --tracker-accent: {colour}; }}\n"
    return Response(css, media_type="text/css", headers={
        "Cache-Control": f"public, max-age={CACHE_SECONDS}", "Access-Control-Allow-Origin": "*"})
