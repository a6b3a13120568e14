"""The case page and the public page (HTML), rendered once per revision, 304 when unchanged."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from markupsafe import escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from tracker.public import case_view, public_case_view
from tracker.signing import Signer
from tracker.storage.base import StoredCase, Tenant
from tracker.web.api import open_public_case, tenant_of
from tracker.web.case_link import open_case_head, open_case_link
from tracker.web.cors import frame_ancestors
from tracker.web.templates import Templates

MAX_CACHED_PAGES = 2048
# Pages name our own scripts and styles only; the page has no inline script or style.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors {frame_ancestors}"
)
# The customer's page holds the share buttons: no other site may frame it (clickjacking).
PAGE_POLICY = POLICY.format(frame_ancestors="'none'")


class PageCache:
    """Rendered pages by (case, revision, public id, minute): relative times in the HTML age by
    the minute. A tenant's new theme shows from the case's next revision or minute on."""

    def __init__(self) -> None:
        self._pages: dict[tuple[Any, ...], str] = {}

    def get(self, key: tuple[Any, ...]) -> str | None:
        return self._pages.get(key)

    def put(self, key: tuple[Any, ...], html: str) -> None:
        if len(self._pages) >= MAX_CACHED_PAGES:
            self._pages.clear()
        self._pages[key] = html


async def case_page(request: Request) -> Response:
    cache: PageCache = request.app.state.page_cache
    head, _ = await open_case_head(request)
    minute = int(time.time() // 60)
    etag = f'"{head.key}.{head.seq}.{head.link_version}.{head.public_id}.{minute}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Content-Security-Policy": PAGE_POLICY,
               "Referrer-Policy": "no-referrer"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    key = ("c", head.key, head.seq, head.public_id, minute)
    html = cache.get(key)
    if html is None:
        stored, _ = await open_case_link(request)
        page_path = f"/c/{request.path_params['token']}"
        tenant = await tenant_of(request, stored)
        view = case_view(stored.case, stored.seq)
        html = render(request, tenant, view, page_path, share=share_context(request, stored, page_path))
        cache.put(("c", stored.key, stored.seq, stored.public_id, minute), html)
    return HTMLResponse(html, headers=headers)


async def public_page(request: Request) -> Response:
    cache: PageCache = request.app.state.page_cache
    stored = await open_public_case(request)
    tenant = await tenant_of(request, stored)
    minute = int(time.time() // 60)
    etag = f'"p.{stored.key}.{stored.seq}.{stored.public_id}.{minute}"'
    headers = {"ETag": etag, "Cache-Control": "public, no-cache", "Referrer-Policy": "no-referrer",
               "Content-Security-Policy": POLICY.format(frame_ancestors=frame_ancestors(tenant))}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    key = ("p", stored.key, stored.seq, stored.public_id, minute)
    html = cache.get(key)
    if html is None:
        view = public_case_view(stored.case, stored.seq, stored.public_title)
        html = render(request, tenant, view, f"/p/{stored.public_id}", share=None)
        cache.put(key, html)
    return HTMLResponse(html, headers=headers)


def render(request: Request, tenant: Tenant | None, view: dict[str, Any], page_path: str,
           share: dict[str, Any] | None) -> str:
    templates: Templates = request.app.state.templates
    base_url: str = request.app.state.settings.base_url
    page_url = base_url + page_path
    return templates.render(
        tenant.theme if tenant else "default", "case.html",
        case=view, tenant_name=tenant.name if tenant else "", page_url=page_url, public=share is None,
        events_path=page_path + "/events", share=share,
        oembed_url=f"{base_url}/oembed?url={quote(page_url, safe='')}&format=json",
    )


def share_context(request: Request, stored: StoredCase, page_path: str) -> dict[str, Any]:
    """The customer's share controls: the signed form tokens, and the snippets once public."""
    signer: Signer = request.app.state.signer
    base_url: str = request.app.state.settings.base_url
    context: dict[str, Any] = {
        "make_public": page_path + "/public",
        "make_private": page_path + "/private",
        "public_token": signer.sign_action(stored.key, stored.link_version, "public"),
        "private_token": signer.sign_action(stored.key, stored.link_version, "private"),
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
