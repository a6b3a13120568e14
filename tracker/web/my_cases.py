"""My cases: every case of one customer (the requester's address, as the helpdesks report it) in
a tenant, from every source, on one signed link that the company's backend asks for:
`POST /api/v1/requesters/links`. Its token has a purpose of its own, so it opens no case page
and no case link opens it. `/r/{token}` (page), `/r/{token}/cases.json`, `/r/{token}/events`
(live: each case's changes as `/live` frames them, and `added` when a new case of theirs
arrives). Each entry opens its case through a case link signed when the list is shown.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from tracker.cases import OPEN_STAGES
from tracker.errors import BadRequest, NotFound
from tracker.i18n import N_
from tracker.notifier import LINKS, mail_offered
from tracker.policy import policy_of
from tracker.public import customer_event_view
from tracker.pubsub.base import Hub
from tracker.requester_links import read_list_link, revoke_list_links, sign_list_link
from tracker.signing import case_url
from tracker.storage.base import Appended, Store, StoredCase, Tenant
from tracker.web.admin_api import NO_STORE, api_tenant, expires_days_value, json_body
from tracker.web.case_data import LiveCase, customer_case
from tracker.web.cors import cors_headers
from tracker.web.forms import wants_json
from tracker.web.live import Follow, Group, MultiplexStream
from tracker.web.pages import page_policy, reader_language
from tracker.web.state import state_of
from tracker.web.subscriptions import ADDRESS, MAX_ADDRESS_CHARS, client_of, email_of, fields_of

MAX_CASES = 500
SUMMARY = ("case_id", "title", "stage", "waiting_on", "status_label", "progress", "expected_by", "updated_at",
           "revision")
ADDED = b"event: added\r\ndata: {}\r\n\r\n"


def requester_channel(tenant: str, email: str) -> int:
    """The pub/sub key a requester's new cases are announced on: negative, apart from case keys."""
    digest = hashlib.sha256(f"{tenant}\n{email.strip().lower()}".encode()).digest()
    return -1 - int.from_bytes(digest[:7], "big")


async def announce_new_cases(store: Store, hub: Hub, appended: list[Appended]) -> None:
    """A case's first event: tell the open lists of its requester (the only time a list grows)."""
    for item in appended:
        if item.seq == 1:
            stored = await store.get_case_by_key(item.case_key)
            if stored is not None and stored.case.requester_email:
                await hub.publish(requester_channel(stored.tenant, stored.case.requester_email), item.seq)


async def requester_links(request: Request) -> Response:
    """POST /api/v1/requesters/links {"email": ..., "expires_days": N}: the signed list link."""
    state = state_of(request)
    tenant = await api_tenant(request)
    data = json_body(await request.body())
    if not isinstance(data, dict) or set(data) - {"email", "expires_days"}:
        raise BadRequest('The body must be {"email": "ann@example.com", "expires_days": 30} (expires_days optional).')
    email = requester_address(data.get("email"))
    days = expires_days_value(data.get("expires_days"))
    expires_at = None if days is None else state.clock.now() + timedelta(days=days)
    token = await sign_list_link(state.signer, state.store, tenant, email, expires_at)
    return JSONResponse({"url": f"{state.settings.base_url}/r/{token}",
                         "expires_at": expires_at.isoformat() if expires_at else None},
                        status_code=201, headers=NO_STORE)


async def revoke_requester_links(request: Request) -> Response:
    """POST /api/v1/requesters/revoke {"email": ...}: every list link issued so far for this
    requester stops working (open lists end at their next connection)."""
    state = state_of(request)
    tenant = await api_tenant(request)
    data = json_body(await request.body())
    if not isinstance(data, dict) or set(data) != {"email"}:
        raise BadRequest('The body must be {"email": "ann@example.com"}.')
    version = await revoke_list_links(state.store, tenant, requester_address(data["email"]))
    return JSONResponse({"links_version": version}, headers=NO_STORE)


def requester_address(email: Any) -> str:
    if not isinstance(email, str) or len(email.strip()) > MAX_ADDRESS_CHARS or not ADDRESS.match(email.strip()):
        raise BadRequest("email: give the requester's e-mail address, as the helpdesk reports it.")
    return email


async def open_list(request: Request, token: str) -> tuple[Tenant, str, datetime | None, list[StoredCase]]:
    state = state_of(request)
    tenant_slug, email, expires_at = await read_list_link(state.signer, state.store, token)
    tenant = await state.store.get_tenant(tenant_slug)
    if tenant is None:
        raise NotFound("No such list of cases.")
    return tenant, email, expires_at, await state.store.requester_cases(tenant_slug, email, MAX_CASES)


async def entries(request: Request, tenant: Tenant, expires_at: datetime | None,
                  cases: list[StoredCase]) -> list[tuple[dict[str, Any], StoredCase]]:
    """Each case as its customer sees it, in short, with a freshly signed link to its page;
    open ones first (the customer's move first of all), then the latest change first."""
    base_url, signer = state_of(request).settings.base_url, state_of(request).signer
    listed = []
    for stored in cases:
        view = await customer_case(request, stored, tenant, with_estimate=False)
        entry = {**{name: view[name] for name in SUMMARY}, "url": case_url(base_url, signer, stored, expires_at)}
        listed.append((entry, stored))
    listed.sort(key=lambda pair: pair[0]["updated_at"] or "", reverse=True)
    listed.sort(key=lambda pair: (pair[0]["stage"] not in OPEN_STAGES, pair[0]["waiting_on"] != "customer"))
    return listed


async def requester_group(request: Request, token: str) -> Group:
    """The list as `/live?r=TOKEN` follows it: its entries, each case from what they show, and
    the requester's channel of new cases."""
    tenant, email, expires_at, cases = await open_list(request, token)
    listed = await entries(request, tenant, expires_at, cases)
    members = list(enumerate(followed(request, tenant, [stored for _, stored in listed])))
    return Group(tenant, [entry for entry, _ in listed], members, requester_channel(tenant.slug, email))


def followed(request: Request, tenant: Tenant, cases: list[StoredCase]) -> list[LiveCase]:
    """The cases as a list's stream follows them: from the revision the list showed."""
    view = customer_event_view(policy_of(tenant.options), state_of(request).clock)
    return [LiveCase.of(stored, tenant, "customer", view, no_opening) for stored in cases]


async def my_cases_json(request: Request) -> Response:
    tenant, _, expires_at, cases = await open_list(request, request.path_params["token"])
    headers = {"Cache-Control": "private, no-cache", **cors_headers(request, tenant)}
    listed = [entry for entry, _ in await entries(request, tenant, expires_at, cases)]
    return JSONResponse({"tenant": tenant.name, "cases": listed}, headers=headers)


async def my_cases_page(request: Request) -> Response:
    tenant, _, expires_at, cases = await open_list(request, request.path_params["token"])
    listed = [entry for entry, _ in await entries(request, tenant, expires_at, cases)]
    html = state_of(request).templates.render(
        tenant.theme, "my_cases.html", reader_language(request, tenant), tenant_name=tenant.name,
        events=f"/r/{request.path_params['token']}/events",
        open_cases=[e for e in listed if e["stage"] in OPEN_STAGES],
        closed_cases=[e for e in listed if e["stage"] not in OPEN_STAGES])
    return HTMLResponse(html, headers={"Cache-Control": "private, no-cache", "Referrer-Policy": "no-referrer",
                                       "Vary": "Accept-Language",
                                       "Content-Security-Policy": page_policy(tenant, "'none'")})


async def my_cases_events(request: Request) -> Response:
    """The page's stream: its cases' changes from what the page shows, `added` for a new one."""
    state = state_of(request)
    tenant, email, _, cases = await open_list(request, request.path_params["token"])
    follows = [await Follow.of(index, case, case.head.seq)
               for index, case in enumerate(followed(request, tenant, cases))]
    return MultiplexStream(state.streams, follows, [], cors_headers(request, tenant),
                           channels=[(requester_channel(tenant.slug, email), ADDED)], hub=state.hub)


async def no_opening() -> dict[str, Any]:
    return {}  # never asked for: each case is followed from the revision the list showed


LINKS_SENT = N_("If we have cases for this address, a mail with the link to them is on its way.")


async def email_me_links(request: Request) -> Response:
    """POST /s/{tenant}/my-cases (form or JSON `email`): "e-mail me links to all my cases". The
    same 202 whatever the address; the mail goes only where there are cases (Notifier._links)."""
    state = state_of(request)
    tenant = await state.store.get_tenant(request.path_params["tenant"])
    if tenant is None or not mail_offered(state.settings, tenant):
        raise NotFound("Links by e-mail are not offered here.")
    address = email_of(await fields_of(request))
    state.subscription_limits.check(client_of(request), address.lower())  # lists are by the address in any case
    language = reader_language(request, tenant)
    await state.store.add_delivery(tenant.slug, "mail", LINKS, None, {"requester": address, "language": language})
    state.deliverer.wake()
    if wants_json(request):  # the lookup widget's offer, from the company's site
        return JSONResponse({"ok": True, "message": LINKS_SENT}, status_code=202, headers=cors_headers(request, tenant))
    html = state.templates.render(tenant.theme, "subscription.html", language, state="links", case=None)
    return HTMLResponse(html, status_code=202)
