"""What the cases teach, in the console: the same report as `tracker insights` and
GET /api/v1/insights (tracker/insights.py), with its figures drawn as SVG bars on the server, so
the browser runs no chart library (and no script at all)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tracker.console.pages import tenant_of
from tracker.console.responses import render, see_other
from tracker.console.sessions import signed_in
from tracker.errors import BadRequest
from tracker.insights import DEFAULT_SINCE, report
from tracker.web.state import state_of

PERIODS = ("7d", "30d", "90d", "365d")  # the form's choices; the API takes any period
BAR_WIDTH = 300  # the longest bar, in the SVG's units


def bars(groups: list[dict[str, Any]], value: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
    """One bar a group (source, and priority where known): its label, value and length."""
    found = [(group, value(group)) for group in groups]
    largest = max((v for _, v in found if v is not None), default=0) or 1
    return [{"label": group["source"] + (f" · {group['priority']}" if group["priority"] else ""),
             "value": v, "width": 0 if v is None else max(1, round(BAR_WIDTH * v / largest))}
            for group, v in found]


async def insights_page(request: Request) -> Response:
    """GET /admin/insights?since=30d&source=: the report, its charts and its table."""
    who = await signed_in(request)
    if who is None:
        return see_other("/admin")
    session, account = who
    tenant = await tenant_of(request, account)
    since = request.query_params.get("since") or DEFAULT_SINCE
    source = request.query_params.get("source") or None
    state = state_of(request)
    found, error, charts = None, None, []
    try:
        found = await report(state.store, tenant, since, source, state.clock.now())
    except BadRequest as refused:  # a hand-edited address: the form again, with what was wrong
        error = refused.message
    if found and (groups := found["groups"]):
        charts = [
            ("opened", bars(groups, lambda g: g["opened"])),
            ("resolved", bars(groups, lambda g: g["resolved"])),
            ("first_update", bars(groups, lambda g: g["hours"]["first_update"]["median"])),
            ("resolution", bars(groups, lambda g: g["hours"]["resolution"]["median"])),
            ("gone_quiet", bars(groups, lambda g: g["gone_quiet"])),
        ]
    return render(request, "insights.html", session=session, tenant=tenant, account=account,
                  status=400 if error else 200, error=error, report=found, charts=charts, since=since,
                  periods=PERIODS, source=source, sources=await state.store.list_sources(tenant.slug))
