"""The company's webhook in the console: where tracker sends the tenant's events and the secret
they are signed with (the tenant options webhook_url and webhook_secret, checked as `tracker
tenant add` checks them), and its delivery log with redelivery, as `tracker deliveries` has it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tracker import admin
from tracker.console.audit import record
from tracker.console.csrf import checked_form
from tracker.console.pages import tenant_of
from tracker.console.refusals import Refused
from tracker.console.responses import render, see_other
from tracker.console.sessions import signed_in
from tracker.errors import ConfigError
from tracker.outbound import redeliver
from tracker.web.state import state_of

LISTED_DELIVERIES = 50
KINDS = ("webhook",)  # the company's own webhook (write-backs show on their helpdesk's side)


async def hooks_page(request: Request) -> Response:
    """GET /admin/hooks: the webhook and its latest deliveries; POST sets the URL or sends one again."""
    who = await signed_in(request)
    if who is None:
        return see_other("/admin")
    session, account = who
    tenant = await tenant_of(request, account)
    state = state_of(request)
    problem, done = "", ""
    if request.method == "POST":
        form_session, form = await checked_form(request)
        if form_session != session:
            raise Refused(403, "form_expired")
        if form.get("action") == "redeliver":
            given = form.get("id", "")
            delivery = await state.store.get_delivery(int(given)) if given.isdigit() and len(given) <= 18 else None
            if delivery is None or delivery.tenant != tenant.slug or delivery.kind not in KINDS:
                raise Refused(404, "not_found")
            await redeliver(state.store, delivery, state.clock.now())
            state.deliverer.wake()
            await record(state.store, state.clock, account, "delivery_resent", f"{delivery.id} {delivery.event_type}")
            done = "resent"
        else:
            url = form.get("webhook_url", "").strip()
            try:
                tenant = await admin.add_tenant(state.store, tenant.slug, None, None, {"webhook_url": url},
                                                state.settings.themes_dir)
                await record(state.store, state.clock, account, "webhook_changed", url or "-")
                done = "saved"
            except ConfigError as exc:
                problem = exc.message
    deliveries = [d for d in await state.store.list_deliveries(tenant.slug, LISTED_DELIVERIES) if d.kind in KINDS]
    return render(request, "hooks.html", session=session, tenant=tenant, account=account, deliveries=deliveries,
                  problem=problem, done=done, status=400 if problem else 200)
