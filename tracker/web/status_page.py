"""The company's status page, `/s/{tenant}`: the problems it lists, as it describes them to
customers, with their stage, expected time, progress, how many open cases they affect, and when
their stage moved. Fed by the real work (the problem cases' own webhooks), never by hand; the
problems' own text stays out as on linked cases."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from tracker.errors import NotFound
from tracker.storage.base import Tenant
from tracker.web.pages import page_policy, reader_language
from tracker.web.state import state_of

MAX_LISTED = 200


async def listed_problems(request: Request, tenant: Tenant) -> list[dict[str, Any]]:
    store = state_of(request).store
    problems = []
    for notes in (await store.listed_problems(tenant.slug))[:MAX_LISTED]:
        problem = await store.get_case(tenant.slug, notes.source, notes.case_id)
        case = problem.case if problem else None
        problems.append({
            "source": notes.source, "id": notes.case_id, "title": notes.public_title, "summary": notes.summary,
            "stage": case.stage if case else None,
            "expected_by": case.expected_by.isoformat() if case and case.expected_by else None,
            "progress": case.progress if case else None,
            "open_cases": await store.count_linked(tenant.slug, notes.ref),
            "history": [{"at": mark.at.isoformat(), "stage": mark.stage}
                        for mark in (case.stage_history if case else ())],
            "updated_at": notes.updated_at.isoformat() if notes.updated_at else None,
        })
    return problems


async def tenant_named(request: Request) -> Tenant:
    tenant = await state_of(request).store.get_tenant(request.path_params["tenant"])
    if tenant is None:
        raise NotFound("There is no status page at this address.")
    return tenant


async def status_json(request: Request) -> Response:
    tenant = await tenant_named(request)
    return JSONResponse({"tenant": tenant.name, "problems": await listed_problems(request, tenant)},
                        headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"})


async def status_page(request: Request) -> Response:
    state = state_of(request)
    tenant = await tenant_named(request)
    language = reader_language(request, tenant)
    html = state.templates.render(tenant.theme, "status.html", language, tenant_name=tenant.name,
                                  problems=await listed_problems(request, tenant))
    return HTMLResponse(html, headers={"Cache-Control": "no-cache", "Vary": "Accept-Language",
                                       "Content-Security-Policy": page_policy(tenant, "*")})
