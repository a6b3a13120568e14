"""Previews of the look, framed by /admin/look: the newest case's page as its customer sees it,
the widget's card of it, and the news mail its subscribers get, each rendered by the very code
that renders the real one (web/pages.page_html, widget.js, the mail templates).

The look shown is the saved one, changed by what the query string gives (the form's unsaved
values: PREVIEWED); a value that would not pass the checks of saving is left out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from tracker.console.pages import tenant_of
from tracker.console.refusals import Refused
from tracker.console.responses import HEADERS, console_language, render
from tracker.console.sessions import signed_in
from tracker.errors import ConfigError
from tracker.policy import policy_of
from tracker.public import case_view, update_view
from tracker.signing import case_url
from tracker.storage.base import StoredCase, Tenant
from tracker.tenant_options import check_tenant_options
from tracker.themes import theme_names
from tracker.web.case_data import customer_case
from tracker.web.pages import page_html, page_policy
from tracker.web.state import state_of

PREVIEW_PATH = "/admin/look/preview"
WIDGET_LINK_MINUTES = 60  # the widget's card needs a working link: a short one
MAIL_UPDATES = 2
PREVIEWED = ("logo_url", "accent_colour", "support_url", "language")  # options the frames show unsaved
MAX_NAME_CHARS = 200
BRAND_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# The mail is HTML for mail readers: inline styles, no script, shown only inside the console.
MAIL_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'self'"


def previewed(request: Request, tenant: Tenant) -> Tenant:
    """The tenant as it would look with the unsaved values of the query string."""
    query = request.query_params
    options = dict(tenant.options)
    for name in PREVIEWED:
        value = query.get(name)
        if value is None:
            continue
        try:
            check_tenant_options({name: value.strip()})
        except ConfigError:
            continue
        options[name] = value.strip()
    theme = query.get("theme", tenant.theme)
    name = query.get("name", "").strip()[:MAX_NAME_CHARS] or tenant.name
    return replace(tenant, name=name, theme=theme if theme in theme_names(state_of(request).settings.themes_dir)
                   else tenant.theme, options={key: value for key, value in options.items() if value})


def preview_query(values: Mapping[str, str]) -> str:
    """The query string that previews these values (the look page's frames)."""
    given = {name: values[name] for name in ("name", "theme", *PREVIEWED) if name in values}
    return "?" + urlencode(given) if given else ""


async def brand_preview(request: Request) -> Response:
    """GET /admin/look/brand.css?accent_colour=#rrggbb: the stylesheet /brand/TENANT.css would be."""
    colour = request.query_params.get("accent_colour", "")
    if not BRAND_COLOUR.match(colour):
        raise Refused(404, "not_found")
    return Response(f":root, :host {{ --tracker-accent: {colour}; }}\n", media_type="text/css",
                    headers={"Cache-Control": "no-store"})


async def newest_case(request: Request, tenant: Tenant) -> StoredCase | None:
    cases = await state_of(request).store.list_cases(tenant.slug)
    return cases[0] if cases else None


async def _preview_of(request: Request) -> tuple[Tenant, StoredCase]:
    who = await signed_in(request)
    if who is None:
        raise Refused(404, "not_found")
    tenant = await tenant_of(request, who[1])
    stored = await newest_case(request, tenant)
    if stored is None:
        raise Refused(404, "not_found")
    return previewed(request, tenant), stored


def framed(html: str, policy: str) -> HTMLResponse:
    return HTMLResponse(html, headers={**HEADERS, "Content-Security-Policy": policy})


async def case_preview(request: Request) -> Response:
    """GET /admin/look/preview: the newest case's page, as its customer sees it (without its
    share controls, which act on the real case)."""
    state = state_of(request)
    tenant, stored = await _preview_of(request)
    view = await customer_case(request, stored, tenant, with_estimate=False)
    colour = tenant.options.get("accent_colour")
    html = page_html(state.templates, state.settings.base_url, tenant, console_language(request, tenant), view,
                     PREVIEW_PATH, share=None,
                     brand_css=f"/admin/look/brand.css?{urlencode({'accent_colour': colour})}" if colour else None)
    return framed(html, page_policy(tenant, "'self'"))


async def widget_preview(request: Request) -> Response:
    """GET /admin/look/widget: the widget's card of the newest case, by a link valid for an hour."""
    state = state_of(request)
    tenant, stored = await _preview_of(request)
    link = case_url(state.settings.base_url, state.signer, stored,
                    state.clock.now() + timedelta(minutes=WIDGET_LINK_MINUTES))
    response = render(request, "widget_preview.html", tenant=tenant, link=link, case_id=stored.case.case_id,
                      card_language=console_language(request, tenant))
    response.headers["Content-Security-Policy"] = page_policy(tenant, "'self'")
    return response


def mail_context(request: Request, tenant: Tenant, stored: StoredCase) -> dict[str, object]:
    """What a news mail of this case holds, as the notifier builds it (links lead back here)."""
    state = state_of(request)
    view = case_view(stored.case, stored.seq, policy_of(tenant.options), state.clock.now())
    updates = [update_view(update) for update in stored.case.updates[-MAIL_UPDATES:]]
    here = f"{state.settings.base_url}/admin/look"
    return {"case": view, "tenant_name": tenant.name, "page_url": here, "manage_url": here, "updates": updates}


async def mail_preview(request: Request) -> Response:
    """GET /admin/look/mail: the news mail of the newest case (its HTML part)."""
    tenant, stored = await _preview_of(request)
    html = state_of(request).templates.render(tenant.theme, "mail_news.html", console_language(request, tenant),
                                              **mail_context(request, tenant, stored))
    return framed(html, MAIL_POLICY)


async def mail_subject(request: Request, tenant: Tenant, stored: StoredCase) -> str:
    text = state_of(request).templates.render(tenant.theme, "mail_news.subject", console_language(request, tenant),
                                              **mail_context(request, tenant, stored))
    return " ".join(text.split())


async def previews(request: Request, tenant: Tenant, unsaved: Mapping[str, str]) -> dict[str, str] | None:
    """What the look page frames (with the unsaved values), or None before the tenant's first case."""
    stored = await newest_case(request, tenant)
    if stored is None:
        return None
    query = preview_query(unsaved)
    return {"case": PREVIEW_PATH + query, "widget": "/admin/look/widget" + query, "mail": "/admin/look/mail" + query,
            "subject": await mail_subject(request, tenant, stored)}
