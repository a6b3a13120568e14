"""Connecting a helpdesk from the console: its webhook URL and secret to copy, its setup steps
(the module's own text, which `tracker source add` prints too), its write-back credentials,
checked as the command line checks them, its latest deliveries with why any was refused, and
for the generic source a test delivery sent as the helpdesk would send one."""

from __future__ import annotations

import inspect
import json
import secrets

import httpx
from starlette.requests import Request
from starlette.responses import Response

from tracker import admin, helpdesks
from tracker.console.audit import record
from tracker.console.csrf import checked_form
from tracker.console.pages import tenant_of
from tracker.console.refusals import Refused
from tracker.console.responses import render, see_other
from tracker.console.sessions import Session, signed_in
from tracker.errors import ConfigError, NotFound
from tracker.helpdesks.base import Helpdesk
from tracker.received import latest_received
from tracker.sealing import SECRET_OPTIONS
from tracker.standard_webhooks import sign
from tracker.storage.base import ConsoleAccount, SourceConfig, Tenant
from tracker.web.state import state_of

LISTED_DELIVERIES = 20
# Helpdesks tracker can sign a delivery for as they do (Standard Webhooks): the test button's.
TESTABLE = ("generic",)
TEST_CASE_ID = "console-test"
TEST_TIMEOUT_SECONDS = 10.0
MAX_OPTION_CHARS = 2000


async def sources_page(request: Request) -> Response:
    """GET /admin/sources: every helpdesk tracker speaks, the tenant's connected ones first."""
    who = await signed_in(request)
    if who is None:
        return see_other("/admin")
    session, account = who
    tenant = await tenant_of(request, account)
    connected = set(await state_of(request).store.list_sources(tenant.slug))
    known = sorted(helpdesks.HELPDESKS, key=lambda h: (h.NAME not in connected, h.TITLE.lower()))
    return render(request, "sources.html", session=session, tenant=tenant, account=account, helpdesks=known,
                  connected=connected)


def helpdesk_named(request: Request) -> Helpdesk:
    try:
        return helpdesks.get(request.path_params["source"])
    except NotFound:
        raise Refused(404, "not_found") from None


async def source_page(request: Request) -> Response:
    """GET /admin/sources/{source}: connect it, or see how it is connected and what it sent;
    POST connects it, or saves its secret and options."""
    who = await signed_in(request)
    if who is None:
        return see_other("/admin")
    helpdesk = helpdesk_named(request)
    if request.method == "POST":
        return await _change_source(request, helpdesk)
    session, account = who
    return await _show(request, session, account, await tenant_of(request, account), helpdesk)


async def _show(request: Request, session: Session, account: ConsoleAccount, tenant: Tenant, helpdesk: Helpdesk,
                problem: str = "", saved: bool = False, tested: bool = False, status: int = 200) -> Response:
    state = state_of(request)
    stored = await state.store.get_source(tenant.slug, helpdesk.NAME)
    config = state.sealer.open_source(stored) if stored is not None else None
    received = await latest_received(state.store, tenant.slug, helpdesk.NAME, LISTED_DELIVERIES) if config else []
    return render(request, "source.html", session=session, tenant=tenant, account=account, helpdesk=helpdesk,
                  config=config, received=received, steps=inspect.getdoc(helpdesk) or "", problem=problem,
                  saved=saved, tested=tested, testable=helpdesk.NAME in TESTABLE, secret_options=SECRET_OPTIONS,
                  status=status,
                  webhook_url=f"{state.settings.base_url}/hooks/{tenant.slug}/{helpdesk.NAME}")


async def _change_source(request: Request, helpdesk: Helpdesk) -> Response:
    state = state_of(request)
    session, form = await checked_form(request)
    who = await signed_in(request)
    if who is None or who[0] != session:
        return see_other("/admin")
    account = who[1]
    tenant = await tenant_of(request, account)
    stored = await state.store.get_source(tenant.slug, helpdesk.NAME)
    current = state.sealer.open_source(stored) if stored is not None else None
    if form.get("action") == "test" and current is not None and helpdesk.NAME in TESTABLE:
        problem = await _send_test(request, tenant, current)
        await record(state.store, state.clock, account, "test_sent", helpdesk.NAME)
        return await _show(request, session, account, tenant, helpdesk, problem=problem, tested=not problem,
                           status=502 if problem else 200)
    if form.get("action") == "connect" or current is None:
        config = await admin.add_source(state.store, tenant.slug, helpdesk.NAME, None,
                                        current.options if current else {}, state.sealer)
        await record(state.store, state.clock, account, "source_connected", helpdesk.NAME)
        return see_other(f"/admin/sources/{config.source}")
    secret = form.get("secret", "").strip() or current.secret
    options = _options(helpdesk, form, current)
    try:
        await admin.add_source(state.store, tenant.slug, helpdesk.NAME, secret, options, state.sealer)
    except ConfigError as exc:
        return await _show(request, session, account, tenant, helpdesk, problem=exc.message, status=400)
    changed = sorted({name for name in {*options, *current.options} if options.get(name) != current.options.get(name)}
                     | ({"secret"} if secret != current.secret else set()))
    await record(state.store, state.clock, account, "source_changed", f"{helpdesk.NAME}: {', '.join(changed) or '-'}")
    return await _show(request, session, account, tenant, helpdesk, saved=True)


def _options(helpdesk: Helpdesk, form: dict[str, str], current: SourceConfig) -> dict[str, str]:
    """The options as the form gives them: a secret one left blank keeps its value (it is never
    shown back), any other left blank is removed."""
    options = {}
    for name in helpdesk.OPTIONS:
        value = form.get(f"option_{name}", "").strip()[:MAX_OPTION_CHARS]
        if not value and name in SECRET_OPTIONS:
            value = current.options.get(name, "")
        if value:
            options[name] = value
    return options


async def _send_test(request: Request, tenant: Tenant, config: SourceConfig) -> str:
    """POST a signed delivery to the webhook URL, over the network as the helpdesk would: it tests
    TRACKER_BASE_URL, the route to this tracker and the secret. It updates the closed case
    TEST_CASE_ID. Returns what went wrong, or ""."""
    state = state_of(request)
    payload = {"type": "case.updated", "occurred_at": state.clock.now().isoformat(),
               "case": {"id": TEST_CASE_ID, "title": "A test delivery from the console", "stage": "closed"}}
    body = json.dumps(payload).encode()
    msg_id, timestamp = f"msg_console_{secrets.token_hex(8)}", int(state.clock.timestamp())
    headers = {"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
               "webhook-signature": sign(config.secret, msg_id, timestamp, body)}
    url = f"{state.settings.base_url}/hooks/{tenant.slug}/{config.source}"
    try:
        async with httpx.AsyncClient(timeout=TEST_TIMEOUT_SECONDS, follow_redirects=False) as client:
            answer = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{url} could not be reached ({type(exc).__name__}). Check TRACKER_BASE_URL and the way to this tracker."
    if answer.status_code >= 300:
        return f"{url} answered {answer.status_code}: {answer.text[:200]}"
    return ""
