"""The public case badge: a shields-style SVG, and the same values in shields.io's endpoint schema.

Label "case 4711", message "in progress · waiting on you · open 3d" (in the reader's language),
coloured by stage and by whose move it is. Rendered through the autoescaping template environment, so every value is
escaped; `role="img"` and a `<title>` make it readable to screen readers.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from babel.dates import format_timedelta
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tracker import i18n
from tracker.i18n import N_
from tracker.storage.base import Tenant
from tracker.web.brand import accent, contrast_on_white
from tracker.web.case_data import open_public_case, public_case, tenant_of
from tracker.web.cors import cors_headers
from tracker.web.pages import reader_language
from tracker.web.state import state_of

# Dark enough for white text at WCAG AA (4.5:1), unlike shields' brighter defaults.
COLOURS = {
    "done": "#2f7d32",
    "customer": "#b3470b",
    "third_party": "#6e4fb0",
    "company": "#1d62b8",
    "received": "#5b6470",
    "quiet": "#b42318",
}
LABEL_COLOUR = "#444d56"
MIN_CONTRAST = 4.5  # WCAG AA for the badge's white text
CACHE_SECONDS = 60
SHIELDS_CACHE_SECONDS = 300  # shields honours nothing shorter
STAGE_WORDS = {"received": N_("received"), "in_progress": N_("in progress"), "resolved": N_("resolved"),
               "closed": N_("closed")}
TURN_WORDS = {"customer": N_("waiting on you"), "third_party": N_("waiting on a third party"),
              "company": N_("with the team")}


def badge_values(view: dict[str, Any], now: datetime,
                 language: str = i18n.SOURCE_LANGUAGE) -> tuple[str, str, str]:
    """(label, message, colour) of a public case view, in `language`."""
    _ = i18n.translations(language).gettext
    stage = view["stage"]
    parts = [_(STAGE_WORDS[stage]) if stage in STAGE_WORDS else stage]
    if stage in ("resolved", "closed"):
        colour = COLOURS["done"]
    else:
        waiting_on = view["waiting_on"]
        if waiting_on in TURN_WORDS:
            parts.append(_(TURN_WORDS[waiting_on]))
        colour = COLOURS.get(waiting_on or "", COLOURS["received"]) if stage != "received" else COLOURS["received"]
        if view["quiet"]:
            parts.append(_("no update %(age)s") % {"age": age(timedelta(hours=view["quiet"]["hours"]), language)})
            colour = COLOURS["quiet"]
        elif view["created_at"]:
            span = now - datetime.fromisoformat(view["created_at"])
            parts.append(_("open %(age)s") % {"age": age(span, language)})
    return _("case %(id)s") % {"id": view["case_id"]}, " · ".join(parts), colour


def label_colour_of(tenant: Tenant | None) -> str:
    """The tenant's accent colour when white text stays readable on it, else a neutral grey."""
    colour = accent(tenant)
    return colour if colour and contrast_on_white(colour) >= MIN_CONTRAST else LABEL_COLOUR


def age(span: timedelta, language: str = i18n.SOURCE_LANGUAGE) -> str:
    """'3d', '5h', '30m' in the language's own short units."""
    whole = max(span, timedelta(minutes=1))
    return str(format_timedelta(whole, format="narrow", threshold=1.0, locale=language))


def text_width(text: str) -> float:
    """Roughly the width of `text` in 11px Verdana, as badge-maker measures it."""
    width = 0.0
    for char in text:
        if char in "iljI.,:;!|'·":
            width += 3.5
        elif char in "mwMW@%":
            width += 10.5
        elif char.isupper() or char.isdigit():
            width += 7.5
        else:
            width += 6.6
    return width


async def badge_svg(request: Request) -> Response:
    stored = await open_public_case(request)
    tenant = await tenant_of(request, stored)
    label, message, colour = badge_values(await public_case(request, stored, tenant, with_estimate=False),
                                          state_of(request).clock.now(), reader_language(request, tenant))
    label_colour = label_colour_of(tenant)
    label_width = round(text_width(label) + 12)
    message_width = round(text_width(message) + 12)
    templates = state_of(request).templates
    svg = templates.render(
        "default", "badge.svg", label=label, message=message, colour=colour, label_colour=label_colour,
        label_width=label_width, message_width=message_width,
    )
    return cached(request, svg, "image/svg+xml", f"{stored.key}.{stored.seq}.{message}.{label_colour}")


async def badge_json(request: Request) -> Response:
    """shields.io's endpoint schema, for people who prefer their badges from shields."""
    stored = await open_public_case(request)
    tenant = await tenant_of(request, stored)
    label, message, colour = badge_values(await public_case(request, stored, tenant, with_estimate=False),
                                          state_of(request).clock.now(), reader_language(request, tenant))
    headers = {"Vary": "Accept-Language", "Cache-Control": f"public, max-age={CACHE_SECONDS}",
               **cors_headers(request, tenant)}
    body = {"schemaVersion": 1, "label": label, "message": message, "color": colour.lstrip("#"),
            "labelColor": label_colour_of(tenant).lstrip("#"), "cacheSeconds": SHIELDS_CACHE_SECONDS}
    return JSONResponse(body, headers=headers)


def cached(request: Request, body: str, media_type: str, version: str) -> Response:
    etag = f'"{hashlib.blake2b(version.encode(), digest_size=8).hexdigest()}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={CACHE_SECONDS}", "Vary": "Accept-Language",
               "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)
