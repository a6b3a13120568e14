"""Keep me updated: subscribe to a case by e-mail or on a device, confirm, unsubscribe.

`POST /c/{token}/subscriptions` and `POST /p/{public_id}/subscriptions` take `email` (a form or
JSON) and always answer the same, whatever the address: nothing is sent but a confirmation
mail until its link is followed and the button on that page pressed (`/n/{token}`: mail
scanners follow links, people press buttons). The same page unsubscribes, and so does a POST
of `List-Unsubscribe=One-Click` to it (RFC 8058), which every news mail names in its headers.
JSON `{"push": <PushSubscription>}` subscribes a browser (201, at once: its permission prompt
was the opt-in), and names the same page, to stop.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from tracker.errors import BadRequest, NotFound, TooManyRequests
from tracker.notifier import CONFIRM, mail_offered, push_offered
from tracker.policy import policy_of
from tracker.problem_followers import PROBLEM, follower_view
from tracker.public import case_view, public_case_view
from tracker.push import PushSubscription
from tracker.storage.base import StoredCase, Subscriber, Tenant
from tracker.web.case_data import open_public_case, tenant_of
from tracker.web.case_link import open_case_link
from tracker.web.cors import cors_headers
from tracker.web.forms import MAX_FORM_BYTES, read_form, wants_json
from tracker.web.lookup import RateLimiter
from tracker.web.pages import reader_language
from tracker.web.state import state_of

# An address as people write one: something@domain.tld, nothing that could start another header.
ADDRESS = re.compile(r"^[^@\s<>,;:\"]{1,64}@[^@\s<>,;:\"]+\.[^@\s<>,;:\".]{2,63}$")
MAX_ADDRESS_CHARS = 254
DAY_SECONDS = 86400.0
MAILS_PER_ADDRESS_PER_DAY = 3
REQUESTS_PER_CLIENT_PER_DAY = 20
SENT = "If the address is right, a mail to confirm is on its way. Nothing else is sent until you confirm."


class SubscriptionLimits:
    """Confirmation mails per address, and subscription requests per client, in a day."""

    def __init__(self) -> None:
        self.by_address = RateLimiter(MAILS_PER_ADDRESS_PER_DAY, window_seconds=DAY_SECONDS)
        self.by_client = RateLimiter(REQUESTS_PER_CLIENT_PER_DAY, window_seconds=DAY_SECONDS)

    def check(self, client: str, address: str | None) -> None:
        """`address`: the one a confirmation mail goes to (None for a device)."""
        wait = self.by_client.retry_after(client) or (address is not None and self.by_address.retry_after(address))
        if wait:
            raise TooManyRequests("Too many requests for updates today. Try again tomorrow.", wait)


async def subscribe_by_link(request: Request) -> Response:
    stored, _ = await open_case_link(request)
    return await subscribe(request, stored, "customer")


async def subscribe_publicly(request: Request) -> Response:
    return await subscribe(request, await open_public_case(request), "public")


async def subscribe(request: Request, stored: StoredCase, audience: str) -> Response:
    state = state_of(request)
    tenant = await tenant_of(request, stored)
    fields = await fields_of(request)
    if "push" in fields:
        return await subscribe_device(request, stored, audience, tenant, fields["push"])
    if tenant is None or not mail_offered(state.settings, tenant):
        raise NotFound("E-mail updates are not offered for this case.")
    return await subscribe_by_mail(request, tenant, stored.key, audience, fields)


async def subscribe_by_mail(request: Request, tenant: Tenant, case_key: int, audience: str,
                            fields: dict[str, Any]) -> Response:
    """An address asks for mails about a case (or, for a status page's follower, a problem):
    a confirmation mail goes, and the answer is the same whatever the address."""
    state = state_of(request)
    address = email_of(fields)
    state.subscription_limits.check(client_of(request), address)
    subscriber = await state.store.add_subscriber(tenant.slug, case_key, audience, address,
                                                  reader_language(request, tenant))
    if subscriber.confirmed_at is None:
        await state.store.add_delivery(tenant.slug, "mail", CONFIRM, case_key, {"subscriber": subscriber.id})
        state.deliverer.wake()
    if wants_json(request):
        return JSONResponse({"ok": True, "message": SENT}, status_code=202, headers=cors_headers(request, tenant))
    html = state.templates.render(tenant.theme, "subscription.html", reader_language(request, tenant),
                                  state="sent", case=None)
    return HTMLResponse(html, status_code=202)


async def subscribe_device(request: Request, stored: StoredCase, audience: str, tenant: Tenant | None,
                           data: Any) -> Response:
    """A browser's push subscription: kept at once, and the page to stop it named in the answer."""
    state = state_of(request)
    if tenant is None or not push_offered(tenant):
        raise NotFound("Notifications on a device are not offered for this case.")
    subscription = PushSubscription.from_json(data, state.settings.push_services)
    state.subscription_limits.check(client_of(request), None)
    subscriber = await state.store.add_subscriber(tenant.slug, stored.key, audience, subscription.endpoint,
                                                  reader_language(request, tenant), "push", subscription.keys_json())
    await state.store.confirm_subscriber(subscriber.id, stored.seq)
    manage = f"{state.settings.base_url}/n/{state.signer.sign_subscriber(subscriber.id)}"
    return JSONResponse({"ok": True, "manage": manage}, status_code=201)


def client_of(request: Request) -> str:
    return request.client.host if request.client else ""


async def fields_of(request: Request) -> dict[str, Any]:
    """The fields of a form or of a JSON object; 400 when the body is neither."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        return dict(await read_form(request))
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise BadRequest(f"The body is larger than {MAX_FORM_BYTES} bytes.")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest('The body is not valid JSON: send {"email": "you@example.com"}.') from None
    if not isinstance(data, dict):
        raise BadRequest('The body must be a JSON object: send {"email": "you@example.com"}.')
    return data


def email_of(fields: dict[str, Any]) -> str:
    """The `email` field; 400 naming it when missing or not an address."""
    value = fields.get("email")
    address = value.strip() if isinstance(value, str) else ""
    if len(address) > MAX_ADDRESS_CHARS or not ADDRESS.match(address):
        raise BadRequest("email: give an e-mail address, e.g. you@example.com.")
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


async def subscription_page(request: Request) -> Response:
    """GET shows the one button; POST presses it (or unsubscribes in one click, RFC 8058)."""
    state = state_of(request)
    subscriber = await state.store.get_subscriber(state.signer.read_subscriber(request.path_params["token"]))
    device = subscriber is not None and subscriber.channel == "push"
    if request.method == "POST" and subscriber is not None:
        form = await read_form(request)
        if form.get("List-Unsubscribe") == "One-Click" or form.get("action") == "unsubscribe":
            await state.store.remove_subscriber(subscriber.id)
            subscriber = None
        elif form.get("action") == "confirm":
            stored = await state.store.get_case_by_key(subscriber.case_key)
            await state.store.confirm_subscriber(subscriber.id, stored.seq if stored else 0)
            subscriber = await state.store.get_subscriber(subscriber.id)
        else:
            raise BadRequest("action: confirm or unsubscribe.")
    return await render_subscription(request, subscriber, device)


async def render_subscription(request: Request, subscriber: Subscriber | None, device: bool) -> Response:
    state = state_of(request)
    stored = await state.store.get_case_by_key(subscriber.case_key) if subscriber else None
    tenant = await tenant_of(request, stored) if stored else None
    if subscriber is None or stored is None:
        html = state.templates.render("default", "subscription.html", reader_language(request, None),
                                      state="ended", case=None, device=device)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})
    if subscriber.audience == PROBLEM:  # a status page's follower: the problem as the page shows it
        view = {"case_id": None, **(await follower_view(state.store, state.signer, stored) or {"title": ""})}
    else:
        view = case_title_view(request, stored, subscriber.audience, tenant)
    html = state.templates.render(tenant.theme if tenant else "default", "subscription.html", subscriber.language,
                                  state="pending" if subscriber.confirmed_at is None else "confirmed", case=view,
                                  device=device)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


def case_title_view(request: Request, stored: StoredCase, audience: str, tenant: Tenant | None) -> dict[str, Any]:
    """The case as the subscriber's audience sees it (the page shows its number and title)."""
    policy, now = policy_of(tenant.options if tenant else None), state_of(request).clock.now()
    if audience == "public":
        return public_case_view(stored.case, stored.seq, stored.public_title, policy, now)
    return case_view(stored.case, stored.seq, policy, now)
