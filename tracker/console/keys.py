"""API keys in the console: the tenant's keys by name, a new one shown once, revoking one;
with the functions `tracker apikey` uses."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tracker import apikeys
from tracker.console.audit import record
from tracker.console.csrf import checked_form
from tracker.console.pages import tenant_of
from tracker.console.refusals import Refused
from tracker.console.responses import render, see_other
from tracker.console.sessions import signed_in
from tracker.errors import ConfigError
from tracker.web.state import state_of


async def keys_page(request: Request) -> Response:
    """GET /admin/keys: the keys; POST makes one (shown on the answer, never again) or revokes one."""
    who = await signed_in(request)
    if who is None:
        return see_other("/admin")
    session, account = who
    tenant = await tenant_of(request, account)
    state = state_of(request)
    new_key, name, problem = "", "", ""
    if request.method == "POST":
        form_session, form = await checked_form(request)
        if form_session != session:
            raise Refused(403, "form_expired")
        name = form.get("name", "").strip()
        try:
            if form.get("action") == "revoke":
                await apikeys.revoke_key(state.store, tenant.slug, name, state.clock.now())
                await record(state.store, state.clock, account, "key_revoked", name)
            else:
                new_key = await apikeys.add_key(state.store, tenant.slug, name)
                await record(state.store, state.clock, account, "key_added", name)
        except ConfigError as exc:
            problem = exc.message
    keys = await state.store.list_api_keys(tenant.slug)
    return render(request, "keys.html", session=session, tenant=tenant, account=account, keys=keys, new_key=new_key,
                  key_name=name, problem=problem, status=400 if problem else 200,
                  api_url=f"{state.settings.base_url}/api/v1/")
