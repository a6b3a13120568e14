"""The signed-in pages of the console: the overview of the tenant and the audit log.

Every page reads the tenant from the signed-in account, never from the address: an id of
another tenant's case in a URL finds nothing there and answers 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tracker.console.refusals import Refused
from tracker.console.responses import render, see_other
from tracker.console.sessions import Session, signed_in
from tracker.storage.base import ConsoleAccount, Tenant
from tracker.web.state import state_of

LISTED_CASES = 50
LISTED_AUDIT = 200


async def tenant_of(request: Request, account: ConsoleAccount) -> Tenant:
    tenant = await state_of(request).store.get_tenant(account.tenant)
    if tenant is None:  # the tenant went away under a signed-in account
        raise Refused(404, "not_found")
    return tenant


async def overview(request: Request, session: Session, account: ConsoleAccount) -> Response:
    store = state_of(request).store
    tenant = await tenant_of(request, account)
    every_case = await store.list_cases(tenant.slug)
    sources = await store.list_sources(tenant.slug)
    problems = ({stored.case.problem for stored in every_case if stored.case.problem}
                | {notes.ref for notes in await store.listed_problems(tenant.slug)})
    keys = [key for key in await store.list_api_keys(tenant.slug) if key.revoked_at is None]
    return render(request, "overview.html", session=session, tenant=tenant, account=account,
                  cases=every_case[:LISTED_CASES], sources=sources, problem_count=len(problems), key_count=len(keys),
                  base_url=state_of(request).settings.base_url)


async def audit_page(request: Request) -> Response:
    who = await signed_in(request)
    if who is None:
        return see_other("/admin")
    session, account = who
    tenant = await tenant_of(request, account)
    entries = await state_of(request).store.list_audit(tenant.slug, LISTED_AUDIT)
    return render(request, "audit.html", session=session, tenant=tenant, account=account, entries=entries)
