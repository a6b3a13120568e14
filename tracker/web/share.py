"""The customer's choice to make a case public, or private again, from their case page.

Public means a new random public id (never derived from the case, so it cannot be guessed or
linked back to the signed link); private again forgets it, so every public surface answers 404
at once, and open public streams are ended.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tracker.errors import BadRequest
from tracker.web.case_link import open_case_link
from tracker.web.forms import read_form
from tracker.web.state import state_of

MAX_TITLE_CHARS = 120


async def make_public(request: Request) -> Response:
    store = state_of(request).store
    stored, _ = await open_case_link(request)
    form = await read_form(request)
    signer = state_of(request).signer
    signer.check_action(form.get("token", ""), stored.key, stored.link_version, "public")
    title = " ".join(form.get("title", "").split())
    if len(title) > MAX_TITLE_CHARS:
        raise BadRequest(f"The public title can have at most {MAX_TITLE_CHARS} characters.")
    if stored.public_id is None:
        await store.set_public(stored.key, secrets.token_urlsafe(16), title or None)
    return back_to_page(request)


async def make_private(request: Request) -> Response:
    store = state_of(request).store
    hub = state_of(request).hub
    stored, _ = await open_case_link(request)
    form = await read_form(request)
    signer = state_of(request).signer
    signer.check_action(form.get("token", ""), stored.key, stored.link_version, "private")
    await store.set_public(stored.key, None, None)
    await hub.publish(stored.key, stored.seq)  # wakes open public streams, which then end
    return back_to_page(request)


def back_to_page(request: Request) -> Response:
    return RedirectResponse(f"/c/{request.path_params['token']}#share", status_code=303)
