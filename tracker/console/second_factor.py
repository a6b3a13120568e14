"""The console's optional second factor: turning TOTP on (a new secret, confirmed by a first
code, with recovery codes shown once) and off, and checking a code at sign-in. The secret is
stored sealed, as helpdesk credentials are (sealing.py)."""

from __future__ import annotations

import binascii

from starlette.requests import Request
from starlette.responses import Response

from tracker.console import totp
from tracker.console.audit import record
from tracker.console.csrf import checked_form
from tracker.console.pages import tenant_of
from tracker.console.refusals import Refused
from tracker.console.responses import render, see_other
from tracker.console.sessions import signed_in
from tracker.storage.base import ConsoleAccount
from tracker.web.state import AppState, state_of


async def check_code(state: AppState, account: ConsoleAccount, code: str) -> str | None:
    """How the second factor was given ("totp" or "recovery"), using that code up; None when wrong."""
    if account.totp_secret is None:
        return None
    secret = state.sealer.open(account.totp_secret)
    step = totp.matching_step(secret, code, state.clock.timestamp(), account.totp_step)
    if step is not None:
        return "totp" if await state.store.use_console_totp_step(account.id, step) else None
    left = totp.remaining_after(account.recovery_hashes, code)
    if left is not None and await state.store.use_console_recovery(account.id, account.recovery_hashes, left):
        return "recovery"
    return None


def valid_secret(secret: str) -> bool:
    try:
        return len(totp.secret_bytes(secret)) == totp.SECRET_BYTES
    except (binascii.Error, ValueError):
        return False


async def account_page(request: Request) -> Response:
    """GET /admin/account: the second factor, on or off; POST starts, confirms or ends it."""
    who = await signed_in(request)
    if who is None:
        return see_other("/admin")
    session, account = who
    tenant = await tenant_of(request, account)
    state = state_of(request)
    secret, problem, done = "", "", ""
    codes: list[str] = []
    if request.method == "POST":
        form_session, form = await checked_form(request)
        if form_session != session:
            raise Refused(403, "form_expired")
        action = form.get("action")
        if action == "start" and account.totp_secret is None:
            secret = totp.new_secret()
        elif action == "enable" and account.totp_secret is None:
            secret = form.get("secret", "")
            if not valid_secret(secret):
                raise Refused(400, "form_expired")
            step = totp.matching_step(secret, form.get("code", ""), state.clock.timestamp(), 0)
            if step is None:
                problem = "code"
            else:
                codes = totp.new_recovery_codes()
                await state.store.set_console_totp(account.id, state.sealer.seal(secret), step,
                                                   " ".join(totp.recovery_hash(code) for code in codes))
                await record(state.store, state.clock, account, "totp_enabled")
                secret, done = "", "enabled"
        elif action == "disable" and account.totp_secret is not None:
            if await check_code(state, account, form.get("code", "")) is None:
                problem = "code"
            else:
                await state.store.set_console_totp(account.id, None, 0, "")
                await record(state.store, state.clock, account, "totp_disabled")
                done = "disabled"
        account = await state.store.get_console_account(account.id) or account
    uri = totp.provisioning_uri(secret, account.email, f"tracker ({tenant.name})") if secret else ""
    return render(request, "account.html", session=session, tenant=tenant, account=account, secret=secret, uri=uri,
                  codes=codes, problem=problem, done=done, recovery_left=len(account.recovery_hashes.split()),
                  status=400 if problem else 200)
