"""The case page and the public page (HTML), rendered once per revision, 304 when unchanged."""

from __future__ import annotations

import zlib
from typing import Any
from urllib.parse import quote

from markupsafe import escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from tracker.i18n import choose_language
from tracker.notifier import mail_offered, push_offered
from tracker.problems import split_ref
from tracker.storage.base import Store, StoredCase, Tenant
from tracker.web.case_data import customer_case, open_public_case, public_case, tenant_of
from tracker.web.case_link import open_case_head, open_case_link
from tracker.web.cors import frame_ancestors, origin_of
from tracker.web.state import state_of
from tracker.web.templates import Templates

MAX_CACHED_PAGES = 2048
# Pages name our own scripts and styles only (and the tenant's logo); no inline script or style.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:{logo}; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors {frame_ancestors}"
)


def page_policy(tenant: Tenant | None, frame_ancestors: str) -> str:
    logo = tenant.options.get("logo_url", "") if tenant else ""
    return POLICY.format(logo=" " + origin_of(logo) if logo else "", frame_ancestors=frame_ancestors)


def tenant_look(tenant: Tenant | None) -> int:
    """Changes when the tenant's theme, name or branding does, so pages show it at once."""
    if tenant is None:
        return 0
    return zlib.crc32(repr((tenant.name, tenant.theme, sorted(tenant.options.items()))).encode())


def reader_language(request: Request, tenant: Tenant | None) -> str:
    return choose_language(request.query_params.get("lang"), request.headers.get("accept-language"),
                           tenant.options.get("language") if tenant else None)


class PageCache:
    """Rendered pages by (case, revision, public id, language, look, minute): relative times in
    the HTML age by the minute."""

    def __init__(self) -> None:
        self._pages: dict[tuple[Any, ...], str] = {}

    def get(self, key: tuple[Any, ...]) -> str | None:
        return self._pages.get(key)

    def put(self, key: tuple[Any, ...], html: str) -> None:
        if len(self._pages) >= MAX_CACHED_PAGES:
            self._pages.clear()
        self._pages[key] = html


async def problem_revision(store: Store, tenant: str, problem: str | None) -> int:
    """The revision of the problem a case is linked to (0: none): the page shows its moves."""
    head = await store.get_case_head(tenant, *split_ref(problem)) if problem else None
    return head.seq if head else 0


async def case_page(request: Request) -> Response:
    cache = state_of(request).page_cache
    store = state_of(request).store
    head, link = await open_case_head(request)
    tenant = await store.get_tenant(link.tenant)  # the customer's page holds the share buttons: no framing
    language = reader_language(request, tenant)
    minute = int(state_of(request).clock.timestamp() // 60)
    look = tenant_look(tenant)
    problem = await problem_revision(store, link.tenant, head.problem)
    etag = f'"{head.key}.{head.seq}.{problem}.{head.link_version}.{head.public_id}.{language}.{look:x}.{minute}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Referrer-Policy": "no-referrer",
               "Content-Security-Policy": page_policy(tenant, "'none'"), "Vary": "Accept-Language"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    # The page holds the link's own path and form tokens: one link's page is never another's.
    key = ("c", head.key, head.seq, problem, head.public_id, language, look, minute, request.path_params["token"])
    html = cache.get(key)
    if html is None:
        stored, _ = await open_case_link(request)
        page_path = f"/c/{request.path_params['token']}"
        view = await customer_case(request, stored, tenant)
        html = render(request, tenant, language, view, page_path, share=share_context(request, stored, page_path))
        cache.put(key, html)
    return HTMLResponse(html, headers=headers)


async def public_page(request: Request) -> Response:
    cache = state_of(request).page_cache
    stored = await open_public_case(request)
    tenant = await tenant_of(request, stored)
    language = reader_language(request, tenant)
    minute = int(state_of(request).clock.timestamp() // 60)
    look = tenant_look(tenant)
    problem = await problem_revision(state_of(request).store, stored.tenant, stored.case.problem)
    etag = f'"p.{stored.key}.{stored.seq}.{problem}.{stored.public_id}.{language}.{look:x}.{minute}"'
    headers = {"ETag": etag, "Cache-Control": "public, no-cache", "Referrer-Policy": "no-referrer",
               "Content-Security-Policy": page_policy(tenant, frame_ancestors(tenant)), "Vary": "Accept-Language"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    key = ("p", stored.key, stored.seq, problem, stored.public_id, language, look, minute)
    html = cache.get(key)
    if html is None:
        view = await public_case(request, stored, tenant)
        html = render(request, tenant, language, view, f"/p/{stored.public_id}", share=None)
        cache.put(key, html)
    if not indexable(tenant):
        headers["X-Robots-Tag"] = "noindex, nofollow"
    return HTMLResponse(html, headers=headers)


def indexable(tenant: Tenant | None) -> bool:
    """A public page may be indexed unless its company said no (`public_indexing=no`)."""
    return (tenant.options.get("public_indexing", "yes") if tenant else "yes") != "no"


def render(request: Request, tenant: Tenant | None, language: str, view: dict[str, Any], page_path: str,
           share: dict[str, Any] | None) -> str:
    state = state_of(request)
    return page_html(state.templates, state.settings.base_url, tenant, language, view, page_path, share,
                     mail_offered(state.settings, tenant), state.vapid.public_key if push_offered(tenant) else None)


def page_html(templates: Templates, base_url: str, tenant: Tenant | None, language: str, view: dict[str, Any],
              page_path: str, share: dict[str, Any] | None, mail: bool = False, push_key: str | None = None,
              brand_css: str | None = None) -> str:
    """The case page (or the public page, without `share`) for one reader's language; `mail`:
    it offers "Keep me updated" by e-mail; `push_key`: on this device too (the VAPID public key);
    `brand_css`: another stylesheet for the accent colour (the console's preview of an unsaved one)."""
    page_url = base_url + page_path
    return templates.render(
        tenant.theme if tenant else "default", "case.html", language,
        case=view, tenant_name=tenant.name if tenant else "",
        brand={**brand(tenant), **({"css": brand_css} if brand_css is not None else {})}, page_url=page_url,
        page_path=page_path, public=share is None, indexable=share is None and indexable(tenant),
        follow={"feed": page_path + "/feed.atom", "calendar": page_path + "/case.ics",
                "subscribe": page_path + "/subscriptions" if mail else None,
                "push": {"key": push_key, "action": page_path + "/subscriptions"} if push_key else None},
        share=share,
        oembed_url=f"{base_url}/oembed?url={quote(page_url, safe='')}&format=json",
    )


def brand(tenant: Tenant | None) -> dict[str, str]:
    """The tenant's branding for templates; the values were validated when they were set."""
    options = tenant.options if tenant else {}
    return {
        "logo_url": options.get("logo_url", ""),
        "support_url": options.get("support_url", ""),
        "css": f"/brand/{tenant.slug}.css" if tenant and options.get("accent_colour") else "",
    }


def share_context(request: Request, stored: StoredCase, page_path: str) -> dict[str, Any]:
    """The customer's share controls: the signed form tokens, and the snippets once public."""
    signer = state_of(request).signer
    base_url = state_of(request).settings.base_url
    context: dict[str, Any] = {
        "make_public": page_path + "/public",
        "make_private": page_path + "/private",
        "public_token": signer.sign_action(stored.key, stored.link_version, "public"),
        "private_token": signer.sign_action(stored.key, stored.link_version, "private"),
        "verdict": page_path + "/verdict",
        "verdict_token": signer.sign_action(stored.key, stored.link_version, "verdict"),

        "public_url": None,
    }
    if stored.public_id is not None:
        public_url = f"{base_url}/p/{stored.public_id}"
        badge = f"{public_url}/badge.svg"
        # The snippets go into other sites' pages: every value in them is escaped for its place.
        label = escape(f"Case {stored.case.case_id}")
        markdown_label = "".join(c for c in f"Case {stored.case.case_id}" if c not in "[]()\\")
        context.update(
            public_url=public_url,
            badge_html=f'<a href="{public_url}"><img src="{badge}" alt="{label} status"></a>',
            badge_markdown=f"[![{markdown_label} status]({badge})]({public_url})",
            widget_html=(f'<a class="tracker-case" href="{public_url}">{label}</a>\n'
                         f'<script async src="{escape(base_url)}/widget.js"></script>'),
        )
    return context
