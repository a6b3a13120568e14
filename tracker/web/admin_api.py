"""The admin API under /api/v1: a tenant's automation mints and revokes case links and reads cases.

Every route but the OpenAPI document needs `Authorization: Bearer trk_...`, a key made with
`tracker apikey add TENANT`. A key reaches its own tenant's cases only: another tenant's case
answers the same 404 as a case that does not exist, so a key cannot probe for cases.

A case is named as on the command line, by source and the helpdesk's own id, percent-encoded
in the path (GitHub's `octo/app#12` is `/api/v1/cases/github/octo%2Fapp%2312`). The case
data is the customer's view (`public.case_view`) plus the link state: `link_version` and
`public`, whether the customer has made the case public. The public id itself is not given
out: where the public page is shared is the customer's choice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tracker import apikeys, helpdesks, insights, linking, openapi
from tracker.errors import BadRequest, BearerRequired, NotFound
from tracker.helpdesks.base import problem_link
from tracker.received import latest_received
from tracker.signing import case_url
from tracker.storage.base import ProblemNotes, Receipt, StoredCase
from tracker.web.case_data import customer_case, tenant_of
from tracker.web.numbers import whole_number
from tracker.web.state import state_of

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_EXPIRES_DAYS = 3650
SUMMARY_FIELDS = ("case_id", "title", "stage", "status_label", "waiting_on", "progress", "expected_by",
                  "updated_at", "revision")
NO_STORE = {"Cache-Control": "no-store"}


async def api_tenant(request: Request) -> str:
    """The tenant whose key the request carries, or 401."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise BearerRequired("Send an API key as `Authorization: Bearer trk_...`; make one with "
                             "`tracker apikey add TENANT`.")
    store = state_of(request).store
    found = await apikeys.find_key(store, key)
    if found is None:
        raise BearerRequired("This API key is unknown or revoked. See the tenant's keys with "
                             "`tracker apikey list TENANT`, or make a new one with `tracker apikey add TENANT`.")
    return found.tenant


async def open_case(request: Request, tenant: str) -> StoredCase:
    store = state_of(request).store
    source, case_id = request.path_params["source"], request.path_params["case_id"]
    helpdesks.get(source)  # an unknown source: the error names the known ones
    stored = await store.get_case(tenant, source, case_id)
    if stored is None:
        raise NotFound(f"No case {source}:{case_id} for this key's tenant. List the cases with GET /api/v1/cases "
                       f"(percent-encode / and # in a case id: octo%2Fapp%2312).")
    return stored


def link_state(stored: StoredCase) -> dict[str, Any]:
    return {"source": stored.source, "link_version": stored.link_version, "public": stored.public_id is not None}


async def create_link(request: Request) -> Response:
    """POST /api/v1/cases/{source}/{case_id}/links {"expires_days": N}: a signed case URL."""
    stored = await open_case(request, await api_tenant(request))
    days = expires_days(await request.body())
    expires_at = None if days is None else state_of(request).clock.now() + timedelta(days=days)
    signer = state_of(request).signer
    url = case_url(state_of(request).settings.base_url, signer, stored, expires_at)
    return JSONResponse({"url": url, "link_version": stored.link_version,
                         "expires_at": None if expires_at is None else expires_at.isoformat()},
                        status_code=201, headers=NO_STORE)


def expires_days(body: bytes) -> int | None:
    if not body.strip():
        return None
    try:
        data = orjson.loads(body)  # orjson: nesting is bounded (a deep body is a 400, not a RecursionError)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}. Send {{}} or {{\"expires_days\": 30}}.") from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object, e.g. {\"expires_days\": 30}.")
    unknown = sorted(set(data) - {"expires_days"})
    if unknown:
        raise BadRequest(f"Unknown field {', '.join(unknown)}; the only field is expires_days.")
    return expires_days_value(data.get("expires_days"))


def expires_days_value(days: Any) -> int | None:
    """A link's `expires_days`: a whole number of days in range, or None for a lasting link."""
    if days is None:
        return None
    if isinstance(days, float) and days.is_integer():
        days = int(days)  # 30.0 is a whole number, as JSON Schema's "integer" (and the OpenAPI document) says
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_EXPIRES_DAYS:
        raise BadRequest(f"expires_days must be a whole number from 1 to {MAX_EXPIRES_DAYS}, or null for a link "
                         "that does not expire.")
    return days


async def revoke_links(request: Request) -> Response:
    """POST /api/v1/cases/{source}/{case_id}/revoke: every link issued so far stops working."""
    stored = await open_case(request, await api_tenant(request))
    store = state_of(request).store
    version = await store.bump_link_version(stored.key)
    return JSONResponse({"link_version": version}, headers=NO_STORE)


async def list_cases(request: Request) -> Response:
    """GET /api/v1/cases?limit=N: the tenant's cases, newest first, as summaries."""
    tenant = await api_tenant(request)
    limit = query_limit(request.query_params.get("limit"))
    store = state_of(request).store
    found = (await store.list_cases(tenant))[:limit]
    cases = []
    for stored in found:
        view = await customer_case(request, stored, await tenant_of(request, stored), with_estimate=False)
        cases.append({**{name: view[name] for name in SUMMARY_FIELDS}, **link_state(stored)})
    return JSONResponse({"cases": cases, "limit": limit}, headers=NO_STORE)


def query_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not whole_number(text) or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {text[:20]!r}.")
    return int(text)


async def get_case(request: Request) -> Response:
    """GET /api/v1/cases/{source}/{case_id}: what the customer sees, and the link state."""
    stored = await open_case(request, await api_tenant(request))
    view = await customer_case(request, stored, await tenant_of(request, stored))
    return JSONResponse({**view, **link_state(stored)}, headers=NO_STORE)


async def openapi_json(request: Request) -> Response:
    """GET /api/v1/openapi.json: the admin API and the webhook endpoint, OpenAPI 3.1."""
    return JSONResponse(openapi.document(state_of(request).settings.base_url))


def json_body(body: bytes) -> Any:
    try:
        return orjson.loads(body)  # nesting is bounded: a deep body is a 400
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}.") from None


async def link_problem(request: Request) -> Response:
    """PUT /api/v1/cases/{source}/{case_id}/problem {"source": ..., "id": ...}: link the case to
    a problem; DELETE unlinks it. The customer sees the problem within seconds."""
    state = state_of(request)
    stored = await open_case(request, await api_tenant(request))
    problem = None
    if request.method == "PUT":
        problem = problem_link(json_body(await request.body()), "problem")
        if problem == f"{stored.source}:{stored.case.case_id}":
            raise BadRequest("problem: a case cannot be its own problem.")
    appended = await linking.link_problem(state.store, state.clock, stored, problem)
    for item in appended:
        await state.hub.publish(item.case_key, item.seq)
    if any(item.wake for item in appended):
        state.deliverer.wake()
    source, _, case_id = (problem or "").partition(":")
    return JSONResponse({"problem": {"source": source, "id": case_id} if problem else None}, headers=NO_STORE)


async def problem_notes(request: Request) -> Response:
    """GET /api/v1/problems/{source}/{case_id}: what customers are told of a problem and how many
    open cases it affects; PATCH {"public_title", "summary", "listed"} changes it, and every linked
    case's customer sees the change."""
    state = state_of(request)
    tenant = await api_tenant(request)
    source, case_id = request.path_params["source"], request.path_params["case_id"]
    helpdesks.get(source)
    notes = await state.store.get_problem_notes(tenant, source, case_id) or ProblemNotes(tenant, source, case_id)
    if request.method == "PATCH":
        notes = await state.store.set_problem_notes(linking.changed_notes(notes, json_body(await request.body())))
        problem = await state.store.get_case(tenant, source, case_id)
        if problem is not None:  # the linked cases are told by the worker, as when the problem moves
            await state.store.add_delivery(tenant, "problem", "problem.notes", problem.key, {"problem": problem.key})
            state.deliverer.wake()
    affected = await state.store.count_linked(tenant, notes.ref)
    return JSONResponse({"source": source, "id": case_id, "public_title": notes.public_title,
                         "summary": notes.summary, "listed": notes.listed, "open_linked_cases": affected},
                        headers=NO_STORE)


async def received(request: Request) -> Response:
    """GET /api/v1/received?source=NAME&limit=N: the latest inbound deliveries, newest first, each
    with its outcome and, when it stored nothing, why."""
    tenant = await api_tenant(request)
    source = request.query_params.get("source") or None
    if source is not None:
        helpdesks.get(source)
    limit = query_limit(request.query_params.get("limit"))
    return JSONResponse({"received": [receipt_json(r) for r in await latest_received(
        state_of(request).store, tenant, source, limit)], "limit": limit}, headers=NO_STORE)


def receipt_json(receipt: Receipt) -> dict[str, Any]:
    return {"at": receipt.received_at.isoformat(), "source": receipt.source, "outcome": receipt.outcome,
            "status": receipt.status, "detail": receipt.detail, "delivery_id": receipt.delivery_id}


async def insights_report(request: Request) -> Response:
    """GET /api/v1/insights?since=30d&source=NAME: what the cases teach (tracker/insights.py)."""
    state = state_of(request)
    tenant = await state.store.get_tenant(await api_tenant(request))
    if tenant is None:  # the key outlived its tenant
        raise NotFound("This API key's tenant is gone.")
    params = request.query_params
    found = await insights.report(state.store, tenant, params.get("since"), params.get("source") or None,
                                   state.clock.now())
    return JSONResponse(found, headers=NO_STORE)
