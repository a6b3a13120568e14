"""The case page (HTML), rendered once per case revision and answered with 304 when unchanged."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from tracker.public import case_view
from tracker.storage.base import Store
from tracker.web.case_link import open_case_head, open_case_link
from tracker.web.templates import Templates

MAX_CACHED_PAGES = 2048
# Pages name our own scripts and styles only; the page has no inline script or style.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class PageCache:
    """Rendered pages by (case, revision, minute): relative times in the HTML age by the minute.
    A tenant's new theme shows from the case's next revision or minute on."""

    def __init__(self) -> None:
        self._pages: dict[tuple[Any, ...], str] = {}

    def get(self, key: tuple[Any, ...]) -> str | None:
        return self._pages.get(key)

    def put(self, key: tuple[Any, ...], html: str) -> None:
        if len(self._pages) >= MAX_CACHED_PAGES:
            self._pages.clear()
        self._pages[key] = html


async def case_page(request: Request) -> Response:
    store: Store = request.app.state.store
    templates: Templates = request.app.state.templates
    cache: PageCache = request.app.state.page_cache
    head, _ = await open_case_head(request)
    minute = int(time.time() // 60)
    etag = f'"{head.key}.{head.seq}.{head.link_version}.{minute}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Content-Security-Policy": PAGE_POLICY,
               "Referrer-Policy": "no-referrer"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    key = (head.key, head.seq, minute)
    html = cache.get(key)
    if html is None:
        stored, _ = await open_case_link(request)
        tenant = await store.get_tenant(stored.tenant)
        html = templates.render(
            tenant.theme if tenant else "default", "case.html",
            case=case_view(stored.case, stored.seq),
            tenant_name=tenant.name if tenant else stored.tenant,
        )
        cache.put((stored.key, stored.seq, minute), html)
    return HTMLResponse(html, headers=headers)
