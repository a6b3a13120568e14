"""create_app(settings): the route table, the lifespan (store, hub, signer) and error handling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tracker.config import Settings
from tracker.errors import TrackerError, error_body
from tracker.pubsub import open_hub
from tracker.signing import LinkGone, Signer, load_keys
from tracker.storage import open_store
from tracker.web.api import case_events, case_json
from tracker.web.pages import PageCache, case_page
from tracker.web.stream import Streams
from tracker.web.templates import Templates, theme_names, themes_dir
from tracker.web.webhooks import receive_webhook


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await open_store(settings.database_url)
        hub = await open_hub(settings.database_url)
        app.state.store = store
        app.state.hub = hub
        app.state.signer = Signer(await load_keys(settings.secret_keys, store))
        app.state.streams = streams = Streams(store, hub, settings.ping_seconds)
        streams.start()
        try:
            yield
        finally:
            await streams.stop()
            await hub.close()
            await store.close()

    routes = [
        Route("/healthz", healthz, name="healthz"),
        Route("/hooks/{tenant}/{source}", receive_webhook, methods=["POST"], name="webhook"),
        Route("/c/{token}", case_page, name="case_page"),
        Route("/c/{token}/case.json", case_json, name="case_json"),
        Route("/c/{token}/events", case_events, name="case_events"),
        *[Mount(f"/themes/{name}", StaticFiles(directory=themes_dir() / name / "static"), name=f"theme-{name}")
          for name in theme_names() if (themes_dir() / name / "static").is_dir()],
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={TrackerError: handle_error, HTTPException: handle_error, Exception: handle_crash},
    )
    app.state.settings = settings
    app.state.templates = Templates()
    app.state.page_cache = PageCache()
    return app


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/hooks/") or path.endswith((".json", "/events")) or path.startswith("/api/")


async def handle_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, TrackerError):
        status, message = exc.status, exc.message
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, str(exc.detail)
    else:
        status, message = 500, "Internal Server Error"
    if wants_json(request):
        return JSONResponse(error_body(status, message), status_code=status)
    templates: Templates = request.app.state.templates
    signed_at = exc.link.signed_at if isinstance(exc, LinkGone) else None
    html = templates.render("default", "error.html", status=status, message=message, signed_at=signed_at)
    return HTMLResponse(html, status_code=status)


async def handle_crash(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer, so the server logs the traceback once; users see none.
    return await handle_error(request, exc)
