"""The scripts tracker serves (the widget other sites embed, the service worker of browser
notifications) and oEmbed answers for pasted case links."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from urllib.parse import urlsplit

from calmjs.parse import es5
from calmjs.parse.unparsers.es5 import minify_print
from markupsafe import escape
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tracker.errors import BadRequest, NotFound, TrackerError
from tracker.storage.base import StoredCase
from tracker.web.case_data import customer_case, public_case, tenant_of
from tracker.web.case_link import check_version
from tracker.web.cors import cors_headers
from tracker.web.numbers import whole_number
from tracker.web.state import state_of

_PACKAGED = Path(__file__).resolve().parent.parent / "_widget"  # inside a built wheel
_SOURCE = Path(__file__).resolve().parent.parent.parent / "widget"  # a checkout
WIDGET_CACHE_SECONDS = 300
OEMBED_WIDTH = 480
OEMBED_HEIGHT = 320


def widget_path(name: str = "widget.js") -> Path:
    """A script of widget/: the widget, or the service worker of browser notifications."""
    return (_PACKAGED if _PACKAGED.is_dir() else _SOURCE) / name


def minified(source: str) -> bytes:
    """A script as served: its local names shortened, comments and spaces gone (calmjs.parse,
    which reads ES5: the syntax the widget keeps to), a fifth less to send once gzipped."""
    return str(minify_print(es5(source), obfuscate=True, obfuscate_globals=False)).encode()


@functools.lru_cache(maxsize=2)
def served_widget(path: Path, modified_ns: int) -> tuple[bytes, str]:
    """Minified once per version of the file (its modification time)."""
    body = minified(path.read_text(encoding="utf-8"))
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


async def widget_js(request: Request) -> Response:
    path = widget_path()
    body, etag = served_widget(path, path.stat().st_mtime_ns)
    headers = {"Cache-Control": f"public, max-age={WIDGET_CACHE_SECONDS}", "Access-Control-Allow-Origin": "*",
               "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


async def push_worker_js(request: Request) -> Response:
    """The service worker of "Notify me on this device", from the site's root so that it may
    serve every page of tracker's origin."""
    path = widget_path("push-worker.js")
    body, etag = served_widget(path, path.stat().st_mtime_ns)
    headers = {"Cache-Control": "no-cache", "ETag": etag}  # a new worker reaches browsers at once
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


class NotImplementedFormat(TrackerError):
    status = 501  # what the oEmbed spec asks for a format we do not serve


async def oembed(request: Request) -> Response:
    """oEmbed (https://oembed.com) for a case page or public page link: the widget embed."""
    if request.query_params.get("format", "json") != "json":
        raise NotImplementedFormat("Only format=json is served.")
    url = request.query_params.get("url")
    if not url:
        raise BadRequest("Give the case link as ?url=...")
    base_url = state_of(request).settings.base_url
    stored, view = await case_of(request, url, base_url)
    width = min(OEMBED_WIDTH, int_param(request, "maxwidth") or OEMBED_WIDTH)
    height = min(OEMBED_HEIGHT, int_param(request, "maxheight") or OEMBED_HEIGHT)
    title = view["title"] or f"Case {view['case_id']}"
    tenant = await state_of(request).store.get_tenant(stored.tenant)
    html = (f'<a class="tracker-case" href="{escape(url)}">{escape(title)}</a>'
            f'<script async src="{escape(base_url)}/widget.js"></script>')
    return JSONResponse({
        "version": "1.0", "type": "rich", "title": title, "html": html, "width": width, "height": height,
        "provider_name": tenant.name if tenant else "tracker", "provider_url": base_url, "cache_age": 300,
    }, headers=cors_headers(request, tenant))  # the tenant's embed_origins, as for its case data


async def case_of(request: Request, url: str, base_url: str) -> tuple[StoredCase, dict[str, object]]:
    """The case a tracker link names, in the view its audience may see."""
    store = state_of(request).store
    signer = state_of(request).signer
    parts = urlsplit(url)
    base = urlsplit(base_url)
    segments = parts.path.removeprefix(base.path).strip("/").split("/")
    if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or len(segments) != 2:
        raise NotFound(f"Not a case link of this service: give a link that starts with {base_url}/c/ or /p/.")
    kind, token = segments
    if kind == "p":
        public = await store.get_public_case(token)
        if public is not None:
            return public, await public_case(request, public, await tenant_of(request, public), with_estimate=False)
    elif kind == "c":
        link = signer.read_case_link(token)
        stored = await store.get_case(link.tenant, link.source, link.case_id)
        check_version(link, stored)
        assert stored is not None
        return stored, await customer_case(request, stored, await tenant_of(request, stored), with_estimate=False)
    raise NotFound("No such case link.")


def int_param(request: Request, name: str) -> int | None:
    """A positive whole number in ASCII digits (str.isdigit() also takes '²' and '①'), else None."""
    raw = request.query_params.get(name, "")
    return int(raw) if whole_number(raw) and int(raw) > 0 else None
