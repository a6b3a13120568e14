"""The case as JSON and as a live stream, for the customer's link and for a public case.

The page's data and nothing more, readable from other sites (the widget) as `cors` allows.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tracker.errors import NotFound
from tracker.estimate import Estimator
from tracker.policy import policy_of
from tracker.public import case_view, customer_event_view, public_case_view, public_event_view
from tracker.storage.base import Store, StoredCase, Tenant
from tracker.web.case_link import open_case_link
from tracker.web.cors import cors_headers
from tracker.web.numbers import whole_number
from tracker.web.stream import Streams, encode


async def open_public_case(request: Request) -> StoredCase:
    store: Store = request.app.state.store
    stored = await store.get_public_case(request.path_params["public_id"])
    if stored is None:
        raise NotFound("No such public case. Its owner may have made it private again.")
    return stored


async def tenant_of(request: Request, stored: StoredCase) -> Tenant | None:
    store: Store = request.app.state.store
    return await store.get_tenant(stored.tenant)


async def customer_case(request: Request, stored: StoredCase, tenant: Tenant | None,
                        with_estimate: bool = True) -> dict[str, Any]:
    """The customer's view of a stored case, with the tenant's policy and tracker's estimate
    (surfaces that never show the estimate skip it: it may scan the tenant's cases)."""
    estimator: Estimator = request.app.state.estimator
    now = request.app.state.clock.now()
    estimate = await estimator.estimate(stored, now) if with_estimate else None
    return case_view(stored.case, stored.seq, policy_of(tenant.options if tenant else None), now, estimate)


async def public_case(request: Request, stored: StoredCase, tenant: Tenant | None,
                      with_estimate: bool = True) -> dict[str, Any]:
    estimator: Estimator = request.app.state.estimator
    now = request.app.state.clock.now()
    estimate = await estimator.estimate(stored, now) if with_estimate else None
    return public_case_view(stored.case, stored.seq, stored.public_title, policy_of(tenant.options if tenant else None),
                            now, estimate)


def document(request: Request, view: dict[str, Any], tenant: Tenant | None, page_path: str) -> dict[str, Any]:
    """A case view as served to JSON readers: with the page to link to and the tenant's look."""
    base_url: str = request.app.state.settings.base_url
    branded = tenant is not None and bool(tenant.options.get("accent_colour"))
    return {
        **view,
        "page_url": base_url + page_path,
        "tenant": {
            "name": tenant.name if tenant else "",
            "theme": tenant.theme if tenant else "default",
            "brand_css": f"{base_url}/brand/{tenant.slug}.css" if tenant and branded else None,
        },
    }


async def case_json(request: Request) -> Response:
    stored, _ = await open_case_link(request)
    tenant = await tenant_of(request, stored)
    headers = {"Cache-Control": "private, no-cache", **cors_headers(request, tenant)}
    body = document(request, await customer_case(request, stored, tenant), tenant,
                    f"/c/{request.path_params['token']}")
    return JSONResponse(body, headers=headers)


async def case_events(request: Request) -> Response:
    streams: Streams = request.app.state.streams
    stored, _ = await open_case_link(request)
    tenant = await tenant_of(request, stored)
    headers = cors_headers(request, tenant)
    view = await customer_case(request, stored, tenant)
    return streams.response(
        stored, last_event_id(request), "customer", customer_event_view(policy_of(tenant.options if tenant else None),
                                                                     request.app.state.clock),
        case_frame=encode("case", stored.seq, {"seq": stored.seq, "case": view}), headers=headers,
    )


async def public_json(request: Request) -> Response:
    stored = await open_public_case(request)
    tenant = await tenant_of(request, stored)
    headers = {"Cache-Control": "no-cache", **cors_headers(request, tenant)}
    view = await public_case(request, stored, tenant)
    return JSONResponse(document(request, view, tenant, f"/p/{stored.public_id}"), headers=headers)


async def public_events(request: Request) -> Response:
    streams: Streams = request.app.state.streams
    store: Store = request.app.state.store
    stored = await open_public_case(request)
    public_id = stored.public_id
    tenant = await tenant_of(request, stored)
    headers = cors_headers(request, tenant)
    view = await public_case(request, stored, tenant)

    async def still_public() -> bool:
        return await store.get_public_case(str(public_id)) is not None

    return streams.response(
        stored, last_event_id(request), f"public:{public_id}",
        public_event_view(stored.public_title, policy_of(tenant.options if tenant else None), request.app.state.clock),
        case_frame=encode("case", stored.seq, {"seq": stored.seq, "case": view}), headers=headers,
        guard=still_public,
    )


def last_event_id(request: Request) -> int | None:
    """The header on a reconnect, or the query parameter: a browser cannot set the header
    on its first connection."""
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if raw is None or not whole_number(raw.strip()):
        return None
    return int(raw)
