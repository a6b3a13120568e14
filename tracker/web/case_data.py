"""The case as JSON and as a live stream, for the customer's link and for a public case.

The page's data and nothing more, readable from other sites (the widget) as `cors` allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tracker.errors import NotFound
from tracker.notifier import mail_offered, push_offered
from tracker.policy import policy_of
from tracker.problems import problem_ref, problem_view, snapshot_of, split_ref, with_current_problem
from tracker.public import PUBLIC_FIELDS, View, case_view, customer_event_view, public_case_view, public_event_view
from tracker.storage.base import CaseHead, Store, StoredCase, Tenant
from tracker.web.case_link import open_case_head, open_case_link
from tracker.web.cors import cors_headers
from tracker.web.numbers import whole_number
from tracker.web.state import state_of
from tracker.web.stream import Guard, ProblemFollow, encode


async def open_public_case(request: Request, public_id: str | None = None) -> StoredCase:
    """The public case of the request's path, or of the given id."""
    store = state_of(request).store
    stored = await store.get_public_case(request.path_params["public_id"] if public_id is None else public_id)
    if stored is None:
        raise NotFound("No such public case. Its owner may have made it private again.")
    return stored


async def tenant_of(request: Request, stored: StoredCase) -> Tenant | None:
    store = state_of(request).store
    return await store.get_tenant(stored.tenant)


async def customer_case(request: Request, stored: StoredCase, tenant: Tenant | None,
                        with_estimate: bool = True) -> dict[str, Any]:
    """The customer's view of a stored case, with the tenant's policy and tracker's estimate
    (surfaces that never show the estimate skip it: it may scan the tenant's cases)."""
    estimator = state_of(request).estimator
    now = state_of(request).clock.now()
    estimate = await estimator.estimate(stored, now) if with_estimate else None
    stored = await with_current_problem(state_of(request).store, stored)
    return case_view(stored.case, stored.seq, policy_of(tenant.options if tenant else None), now, estimate)


async def public_case(request: Request, stored: StoredCase, tenant: Tenant | None,
                      with_estimate: bool = True) -> dict[str, Any]:
    estimator = state_of(request).estimator
    now = state_of(request).clock.now()
    estimate = await estimator.estimate(stored, now) if with_estimate else None
    stored = await with_current_problem(state_of(request).store, stored)
    return public_case_view(stored.case, stored.seq, stored.public_title, policy_of(tenant.options if tenant else None),
                            now, estimate)


def document(request: Request, view: dict[str, Any], tenant: Tenant | None, page_path: str) -> dict[str, Any]:
    """A case view as served to JSON readers: with the page to link to and the tenant's look."""
    settings = state_of(request).settings
    base_url = settings.base_url
    branded = tenant is not None and bool(tenant.options.get("accent_colour"))
    return {
        **view,
        "page_url": base_url + page_path,
        # Where a reader asks to be kept updated (the page's form), when the case offers it.
        "keep_me_updated": (f"{base_url}{page_path}#follow-heading"
                            if mail_offered(settings, tenant) or push_offered(tenant) else None),
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
    case = await live_customer_case(request)
    return await single_stream(request, case, cors_headers(request, case.tenant))


async def public_json(request: Request) -> Response:
    stored = await open_public_case(request)
    tenant = await tenant_of(request, stored)
    headers = {"Cache-Control": "no-cache", **cors_headers(request, tenant)}
    view = await public_case(request, stored, tenant)
    return JSONResponse(document(request, view, tenant, f"/p/{stored.public_id}"), headers=headers)


async def public_events(request: Request) -> Response:
    case = await live_public_case(request)
    return await single_stream(request, case, cors_headers(request, case.tenant))


@dataclass
class LiveCase:
    """What a live stream of one case needs: its channel (the case's head and a view), how it
    views each event, the case as the stream opens (`snapshot`), the `guard` that may end it,
    and the problem it is linked to, whose moves come as `problem` frames."""

    head: CaseHead
    tenant: Tenant | None
    view_name: str
    view: View
    snapshot: Callable[[], Awaitable[dict[str, Any]]]
    guard: Guard | None = None
    problem: ProblemFollow | None = None

    @classmethod
    def of(cls, stored: StoredCase, tenant: Tenant | None, view_name: str, view: View,
           snapshot: Callable[[], Awaitable[dict[str, Any]]], guard: Guard | None = None,
           problem: ProblemFollow | None = None) -> LiveCase:
        head = CaseHead(stored.key, stored.seq, stored.link_version, stored.public_id, stored.case.problem)
        return cls(head, tenant, view_name, view, snapshot, guard, problem)


async def problem_follow(store: Store, tenant: str, problem: str | None, audience: str) -> ProblemFollow | None:
    """The channel of a case's problem, for an audience (None when the case has none)."""
    if problem is None:
        return None
    head = await store.get_case_head(tenant, *split_ref(problem))
    return None if head is None else (head.key, audience)


async def problem_frame(store: Store, problem_key: int, audience: str) -> dict[str, Any] | None:
    """The data of a `problem` frame: the problem as an open linked case shows it (the widget
    counts one more other affected customer for a closed case), whether its fix resolves the
    cases (problem_fix_resolves) and whether the reader is asked for their word on it. Masked
    for the public as the public page masks it."""
    problem = await store.get_case_by_key(problem_key)
    if problem is None:
        return None
    state = await snapshot_of(store, problem.tenant, problem_ref(problem.source, problem.case.case_id), problem)
    view = problem_view(state, case_open=True)
    tenant = await store.get_tenant(problem.tenant)
    public = audience == "public"
    return {"problem": PUBLIC_FIELDS["problem"](view) if public else view,
            "resolves": policy_of(tenant.options if tenant else None).fix_resolves,
            "asks": not public}  # only the customer is asked whether the fix solved it


MAX_OPENINGS = 2_000  # views of a few KB: a storm needs its hot cases of this minute only


async def live_customer_case(request: Request, token: str | None = None) -> LiveCase:
    """From the case's head alone: streams opening together (a reconnect storm, a page of
    cards) share one read and one rendering of the case per revision, tenant look and minute
    (relative times and the customer's stage age by the minute, as on the page)."""
    state = state_of(request)
    head, link = await open_case_head(request, token)
    tenant = await state.store.get_tenant(link.tenant)
    policy = policy_of(tenant.options if tenant else None)
    key = ("customer", head.key, head.seq, int(state.clock.timestamp() // 60),
           tuple(sorted(tenant.options.items())) if tenant else ())

    async def read_and_view() -> dict[str, Any]:
        stored, _ = await open_case_link(request, token)
        return await customer_case(request, stored, tenant)

    async def snapshot() -> dict[str, Any]:
        opening = state.openings.get(key)
        if opening is None:  # the first of them; the others await the same
            if len(state.openings) >= MAX_OPENINGS:
                state.openings.clear()
            opening = state.openings[key] = asyncio.ensure_future(read_and_view())
            opening.add_done_callback(forget_failed)
        return await asyncio.shield(opening)  # one stream going away does not cancel the others' reading

    def forget_failed(done: asyncio.Future[dict[str, Any]]) -> None:
        if done.cancelled() or done.exception() is not None:
            state.openings.pop(key, None)  # the next stream tries again

    problem = await problem_follow(state.store, link.tenant, head.problem, "customer")
    return LiveCase(head, tenant, "customer", customer_event_view(policy, state.clock), snapshot, problem=problem)


async def live_public_case(request: Request, public_id: str | None = None) -> LiveCase:
    store = state_of(request).store
    stored = await open_public_case(request, public_id)
    tenant = await tenant_of(request, stored)
    policy = policy_of(tenant.options if tenant else None)

    async def still_public() -> bool:
        return await store.get_public_case(str(stored.public_id)) is not None

    return LiveCase.of(stored, tenant, f"public:{stored.public_id}",
                       public_event_view(stored.public_title, policy, state_of(request).clock),
                       lambda: public_case(request, stored, tenant), still_public,
                       await problem_follow(store, stored.tenant, stored.case.problem, "public"))


async def single_stream(request: Request, case: LiveCase, headers: dict[str, str]) -> Response:
    streams = state_of(request).streams
    seq = case.head.seq
    return streams.response(
        case.head, last_event_id(request), case.view_name, case.view,
        case_frame=encode("case", seq, {"seq": seq, "case": await case.snapshot()}), headers=headers,
        guard=case.guard, problem=case.problem,
    )


def last_event_id(request: Request) -> int | None:
    """The header on a reconnect, or the query parameter: a browser cannot set the header
    on its first connection."""
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if raw is None or not whole_number(raw.strip()):
        return None
    return int(raw)
