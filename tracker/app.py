"""create_app(settings): the route table, the lifespan (store, hub, signer) and error handling."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tracker import console
from tracker.clock import Clock
from tracker.config import Settings
from tracker.console.attempts import SignInAttempts
from tracker.errors import BearerRequired, ServiceUnavailable, TooManyRequests, TrackerError, error_body
from tracker.estimate import Estimator
from tracker.i18n import choose_language
from tracker.logs import RequestLog
from tracker.metrics import Metrics
from tracker.notifier import Notifier
from tracker.nudges import Nudger
from tracker.outbound import Deliverer
from tracker.problems import Problems
from tracker.pubsub import open_hub
from tracker.push import load_vapid, vapid_subject
from tracker.quiet import QuietWatch
from tracker.retention import Retention
from tracker.sealing import Sealer
from tracker.signing import LinkGone, Signer, load_keys
from tracker.storage import open_store, unavailable_errors
from tracker.themes import theme_folder, theme_names
from tracker.web.admin_api import (
    create_link,
    get_case,
    insights_report,
    link_problem,
    list_cases,
    openapi_json,
    problem_notes,
    received,
    revoke_links,
)
from tracker.web.badge import badge_json, badge_svg
from tracker.web.brand import brand_css
from tracker.web.case_data import case_events, case_json, problem_frame, public_events, public_json
from tracker.web.cors import Preflight
from tracker.web.embed import oembed, push_worker_js, widget_js
from tracker.web.follow import case_calendar, case_feed, public_calendar, public_feed
from tracker.web.forms import wants_json
from tracker.web.lookup import Lookup, RateLimiter, lookup_case
from tracker.web.metrics_page import metrics
from tracker.web.my_cases import (
    email_me_links,
    my_cases_events,
    my_cases_json,
    my_cases_page,
    requester_links,
    revoke_requester_links,
)
from tracker.web.page_stream import live
from tracker.web.pages import PageCache, case_page, public_page
from tracker.web.robots import NoIndex
from tracker.web.share import make_private, make_public
from tracker.web.state import AppState, state_of
from tracker.web.status_page import follow_problem, status_events, status_feed, status_json, status_page
from tracker.web.stream import Streams
from tracker.web.subscriptions import SubscriptionLimits, subscribe_by_link, subscribe_publicly, subscription_page
from tracker.web.templates import Templates
from tracker.web.verdict import give_verdict
from tracker.web.webhooks import receive_webhook
from tracker.web.widget_text import widget_text
from tracker.writeback import authenticators

log = logging.getLogger("tracker.app")
RETRY_AFTER_SECONDS = 5

async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def readyz(request: Request) -> Response:
    """Ready for traffic: storage answers and pub/sub listens (a load balancer's probe; /healthz
    only says the process is up)."""
    state = state_of(request)
    try:
        await state.store.ready()
        storage = "ok"
    except Exception as exc:  # whatever the driver raises, the answer is "not ready", and why
        storage = f"unreachable ({type(exc).__name__})"
    pubsub = "ok" if state.hub.ready() else "not listening"
    if storage == pubsub == "ok":
        return JSONResponse({"ok": True, "storage": storage, "pubsub": pubsub})
    problem = f"storage: {storage}" if storage != "ok" else f"pubsub: {pubsub}"
    return JSONResponse({"ok": False, "status": 503, "error": problem, "storage": storage, "pubsub": pubsub},
                        status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def create_app(settings: Settings, clock: Clock | None = None) -> Starlette:
    """The app; `clock` defaults to the wall clock shifted by `TRACKER_CLOCK_OFFSET_DAYS` (tests pass their own)."""
    clock = clock or settings.clock()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await open_store(settings.database_url, clock)
        hub = await open_hub(settings.database_url)
        app.state.store = store
        app.state.hub = hub
        keys = await load_keys(settings.secret_keys, store)
        app.state.signer = signer = Signer(keys, clock)
        app.state.sealer = sealer = Sealer(keys)
        subject = vapid_subject(settings.mail_from, settings.base_url)
        app.state.vapid = vapid = await load_vapid(settings.vapid_private_key, store, subject)
        app.state.streams = streams = Streams(store, hub, settings.ping_seconds,
                                              problem_data=functools.partial(problem_frame, store))
        app.state.metrics.count_streams(lambda: streams.open_count)
        notifier = Notifier(settings, store, signer, app.state.templates.render, clock, vapid)
        app.state.nudger = nudger = Nudger(store, signer, settings.base_url, clock)
        app.state.deliverer = deliverer = Deliverer(store, clock, authenticators=authenticators(sealer),
                                                      allow_private_hosts=settings.allow_private_hosts,
                                                      senders={"mail": notifier.send,
                                                               "problem": Problems(store, hub, clock, nudger).send},
                                                      on_outcome=app.state.metrics.delivery_outcome)
        app.state.estimator = Estimator(store)
        app.state.quiet_watch = quiet_watch = QuietWatch(store, deliverer, clock, nudger=nudger)
        retention = Retention(store, clock)
        streams.start()
        deliverer.start()
        quiet_watch.start()
        retention.start()
        try:
            yield
        finally:
            await retention.stop()
            await quiet_watch.stop()
            await deliverer.stop()
            await notifier.close()
            await streams.stop()
            await hub.close()
            await store.close()

    routes = [
        Route("/healthz", healthz, name="healthz"),
        Route("/readyz", readyz, name="readyz"),
        Route("/metrics", metrics, name="metrics"),
        Route("/hooks/{tenant}/{source}", receive_webhook, methods=["POST"], name="webhook"),
        Route("/c/{token}", case_page, name="case_page"),
        Route("/c/{token}/case.json", case_json, name="case_json"),
        Route("/c/{token}/events", case_events, name="case_events"),
        Route("/c/{token}/public", make_public, methods=["POST"], name="make_public"),
        Route("/c/{token}/private", make_private, methods=["POST"], name="make_private"),
        Route("/c/{token}/verdict", give_verdict, methods=["POST"], name="verdict"),
        Route("/c/{token}/subscriptions", subscribe_by_link, methods=["POST"], name="subscribe"),
        Route("/c/{token}/feed.atom", case_feed, name="case_feed"),
        Route("/c/{token}/case.ics", case_calendar, name="case_calendar"),
        Route("/p/{public_id}", public_page, name="public_page"),
        Route("/p/{public_id}/case.json", public_json, name="public_json"),
        Route("/p/{public_id}/events", public_events, name="public_events"),
        Route("/p/{public_id}/badge.svg", badge_svg, name="badge_svg"),
        Route("/p/{public_id}/badge.json", badge_json, name="badge_json"),
        Route("/p/{public_id}/feed.atom", public_feed, name="public_feed"),
        Route("/p/{public_id}/case.ics", public_calendar, name="public_calendar"),
        Route("/p/{public_id}/subscriptions", subscribe_publicly, methods=["POST"], name="subscribe_public"),
        Route("/n/{token}", subscription_page, methods=["GET", "POST"], name="subscription"),
        Route("/api/lookup/{tenant}", lookup_case, methods=["POST"], name="lookup"),
        Route("/live", live, name="live"),
        Route("/r/{token}", my_cases_page, name="my_cases"),
        Route("/r/{token}/cases.json", my_cases_json, name="my_cases_json"),
        Route("/r/{token}/events", my_cases_events, name="my_cases_events"),
        Route("/s/{tenant}", status_page, name="status_page"),
        Route("/s/{tenant}/problems.json", status_json, name="status_json"),
        Route("/s/{tenant}/feed.atom", status_feed, name="status_feed"),
        Route("/s/{tenant}/events", status_events, name="status_events"),
        Route("/s/{tenant}/my-cases", email_me_links, methods=["POST"], name="email_me_links"),
        Route("/s/{tenant}/follow", follow_problem, methods=["POST"], name="follow_problem"),
        Route("/widget.js", widget_js, name="widget"),
        Route("/push-worker.js", push_worker_js, name="push_worker"),
        Route("/oembed", oembed, name="oembed"),
        Route("/brand/{tenant}.css", brand_css, name="brand_css"),
        Route("/widget/text.json", widget_text, name="widget_text"),
        Route("/api/v1/openapi.json", openapi_json, name="openapi"),
        Route("/api/v1/cases", list_cases, name="api_cases"),
        Route("/api/v1/cases/{source}/{case_id:path}/links", create_link, methods=["POST"], name="api_link"),
        Route("/api/v1/cases/{source}/{case_id:path}/revoke", revoke_links, methods=["POST"], name="api_revoke"),
        Route("/api/v1/cases/{source}/{case_id:path}/problem", link_problem, methods=["PUT", "DELETE"],
              name="api_problem_link"),
        Route("/api/v1/cases/{source}/{case_id:path}", get_case, name="api_case"),
        Route("/api/v1/problems/{source}/{case_id:path}", problem_notes, methods=["GET", "PATCH"],
              name="api_problem"),
        Route("/api/v1/requesters/links", requester_links, methods=["POST"], name="api_requester_links"),
        Route("/api/v1/requesters/revoke", revoke_requester_links, methods=["POST"], name="api_requester_revoke"),
        Route("/api/v1/received", received, name="api_received"),
        Route("/api/v1/insights", insights_report, name="api_insights"),
        *console.routes(),
        *theme_mounts(settings.themes_dir),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        # RequestLog inside Preflight: the streams' frames go out beneath it (stream.raw_send).
        middleware=[Middleware(NoIndex), Middleware(Preflight), Middleware(RequestLog)],
        exception_handlers={
            TrackerError: handle_error, HTTPException: handle_error,
            **dict.fromkeys(unavailable_errors(), handle_unavailable),
            Exception: handle_crash,
        },
    )
    app.state = AppState()  # the same attribute bag, typed for state_of()
    app.state.settings = settings
    app.state.clock = clock
    app.state.templates = Templates(clock, settings.themes_dir)
    app.state.page_cache = PageCache()
    app.state.lookup = Lookup()
    app.state.subscription_limits = SubscriptionLimits()
    app.state.metrics = Metrics()
    app.state.receipts_limit = RateLimiter(1, window_seconds=1.0)
    app.state.problem_counts = {}
    app.state.openings = {}
    app.state.sign_in_attempts = SignInAttempts(clock)
    return app


def theme_mounts(themes_dir: str) -> list[Mount]:
    """/themes/NAME serves each theme's static folder, the company's own themes included."""
    mounts = []
    for name in theme_names(themes_dir):
        folder = theme_folder(name, themes_dir)
        if folder is not None and (folder / "static").is_dir():
            mounts.append(Mount(f"/themes/{name}", StaticFiles(directory=folder / "static"), name=f"theme-{name}"))
    return mounts


async def handle_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, TrackerError):
        status, message = exc.status, exc.message
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, str(exc.detail)
    else:
        status, message = 500, "Internal Server Error"
    if wants_json(request):
        # Readable by the widget on other sites: an error says nothing about any case.
        headers = {"Access-Control-Allow-Origin": "*"}
        if isinstance(exc, TooManyRequests | ServiceUnavailable):
            headers["Retry-After"] = str(exc.retry_after_seconds)
        if isinstance(exc, BearerRequired):
            headers["WWW-Authenticate"] = 'Bearer realm="tracker"'
        if isinstance(exc, HTTPException) and exc.headers:
            headers.update(exc.headers)  # a 405's Allow
        return JSONResponse(error_body(status, message), status_code=status, headers=headers)
    templates: Templates = request.app.state.templates
    gone = exc if isinstance(exc, LinkGone) else None
    language = choose_language(request.query_params.get("lang"), request.headers.get("accept-language"), None)
    html = templates.render("default", "error.html", language, status=status, message=message,
                            signed_at=gone.link.signed_at if gone else None, gone_reason=gone.reason if gone else None)
    return HTMLResponse(html, status_code=status, headers=exc.headers if isinstance(exc, HTTPException) else None)


async def handle_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("%s %s: the database is unavailable (%s: %s); answered 503", request.method, request.url.path,
                type(exc).__name__, exc)
    retry = ServiceUnavailable("The database is not reachable right now and nothing was stored. "
                               f"Retry in {RETRY_AFTER_SECONDS} seconds.", RETRY_AFTER_SECONDS)
    return await handle_error(request, retry)


async def handle_crash(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer, so the server logs the traceback once; users see none.
    return await handle_error(request, exc)
