"""Cases in the console: search them, open one, mint or revoke its customer's link, link it to
a problem or unlink it, with the functions the admin API and the command line use."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from tracker import linking
from tracker.console.audit import record
from tracker.console.csrf import checked_form
from tracker.console.pages import tenant_of
from tracker.console.refusals import Refused
from tracker.console.responses import render, see_other
from tracker.console.sessions import Session, signed_in
from tracker.errors import BadRequest
from tracker.helpdesks.base import problem_link
from tracker.signing import case_url
from tracker.storage.base import Appended, ConsoleAccount, StoredCase, Tenant
from tracker.web.admin_api import expires_days_value
from tracker.web.state import AppState, state_of

FOUND_CASES = 100
MAX_QUERY_CHARS = 200


def matches(stored: StoredCase, query: str) -> bool:
    """The query in the case's name (SOURCE:ID), title or requester's address, any case."""
    case = stored.case
    return any(query in text.lower() for text in (f"{stored.source}:{case.case_id}", case.title,
                                                   case.requester_email or "", case.requester_name or ""))


async def cases_page(request: Request) -> Response:
    """GET /admin/cases?q=...: the tenant's cases, newest first, or those matching the search."""
    who = await signed_in(request)
    if who is None:
        return see_other("/admin")
    session, account = who
    tenant = await tenant_of(request, account)
    query = request.query_params.get("q", "").strip()[:MAX_QUERY_CHARS]
    found = await state_of(request).store.list_cases(tenant.slug)
    if query:
        found = [stored for stored in found if matches(stored, query.lower())]
    return render(request, "cases.html", session=session, tenant=tenant, account=account, query=query,
                  cases=found[:FOUND_CASES], more=len(found) > FOUND_CASES)


async def case_page(request: Request) -> Response:
    """GET /admin/cases/{source}/{case_id}: the case; POST mints or revokes its customer's link,
    or links it to a problem or unlinks it."""
    who = await signed_in(request)
    if who is None:
        return see_other("/admin")
    session, account = who
    tenant = await tenant_of(request, account)
    stored = await _case(request, tenant)
    if request.method == "POST":
        form_session, form = await checked_form(request)
        if form_session != session:
            raise Refused(403, "form_expired")
        return await _act(request, session, account, tenant, stored, form)
    return _show(request, session, account, tenant, stored)


async def _case(request: Request, tenant: Tenant) -> StoredCase:
    stored = await state_of(request).store.get_case(tenant.slug, request.path_params["source"],
                                                     request.path_params["case_id"])
    if stored is None:
        raise Refused(404, "not_found")
    return stored


def _show(request: Request, session: Session, account: ConsoleAccount, tenant: Tenant, stored: StoredCase,
          link: str = "", problem: str = "", done: str = "", status: int = 200) -> Response:
    return render(request, "case.html", session=session, tenant=tenant, account=account, stored=stored,
                  case=stored.case, link=link, problem=problem, done=done, status=status)


async def _act(request: Request, session: Session, account: ConsoleAccount, tenant: Tenant, stored: StoredCase,
               form: dict[str, str]) -> Response:
    state = state_of(request)
    name = f"{stored.source}:{stored.case.case_id}"
    action = form.get("action", "")
    if action == "mint":
        days_text = form.get("expires_days", "").strip()
        try:
            days = expires_days_value(int(days_text)) if days_text else None
        except (ValueError, BadRequest):
            return _show(request, session, account, tenant, stored, problem="expires_days", status=400)
        expires_at = None if days is None else state.clock.now() + timedelta(days=days)
        link = case_url(state.settings.base_url, state.signer, stored, expires_at)
        await record(state.store, state.clock, account, "link_minted",
                     name if days is None else f"{name}, {days} d")
        return _show(request, session, account, tenant, stored, link=link)
    if action == "revoke":
        await state.store.bump_link_version(stored.key)
        await record(state.store, state.clock, account, "links_revoked", name)
        return _show(request, session, account, tenant, await _case(request, tenant), done="revoked")
    if action in ("link", "unlink"):
        problem = None
        if action == "link":
            source, _, case_id = form.get("problem", "").strip().partition(":")
            try:
                problem = problem_link({"source": source, "id": case_id}, "problem")
            except BadRequest:
                return _show(request, session, account, tenant, stored, problem="problem", status=400)
            if problem == name:
                return _show(request, session, account, tenant, stored, problem="itself", status=400)
        await _announce(state, await linking.link_problem(state.store, state.clock, stored, problem))
        await record(state.store, state.clock, account, "problem_linked" if problem else "problem_unlinked",
                     f"{name} → {problem}" if problem else name)
        return see_other(request.url.path)
    raise Refused(400, "form_expired")


async def _announce(state: AppState, appended: list[Appended]) -> None:
    """Tell the open pages of the cases that moved, and wake the worker when the move queued work
    (as the admin API does)."""
    for item in appended:
        await state.hub.publish(item.case_key, item.seq)
    if any(item.wake for item in appended):
        state.deliverer.wake()
