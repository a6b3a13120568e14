"""Signing in and out of the console, and choosing a password by the setup link."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tracker.console.accounts import check_sign_in, normal_email, open_setup, password_problem, set_password
from tracker.console.audit import record
from tracker.console.csrf import checked_form
from tracker.console.pages import overview
from tracker.console.refusals import Refused
from tracker.console.responses import render, see_other
from tracker.console.second_factor import check_code
from tracker.console.sessions import Session, new_session, put_session, read_session, signed_in
from tracker.web.state import state_of


def visitor_session(request: Request) -> tuple[Session, bool]:
    """The visitor's session before sign-in, and whether it is new (then the page sets its cookie)."""
    session = read_session(request)
    if session is None or session.account_id:  # none yet, or one that no longer signs anyone in
        return new_session(), True
    return session, False


async def home(request: Request) -> Response:
    """GET /admin: the sign-in form, or the signed-in person's overview."""
    who = await signed_in(request)
    if who is not None:
        return await overview(request, *who)
    halfway = await signed_in(request, pending=True)
    if halfway is not None:
        return render(request, "second_factor.html", session=halfway[0], failed=False)
    session, fresh = visitor_session(request)
    return render(request, "sign_in.html", session=session, new_cookie=fresh, email="", failed=False)


async def sign_in(request: Request) -> Response:
    state = state_of(request)
    session, form = await checked_form(request)
    email, password = form.get("email", ""), form.get("password", "")
    state.sign_in_attempts.count(request.client.host if request.client else "", normal_email(email))
    account = await check_sign_in(state.store, email, password)
    if account is None:  # the same answer whether the address is known or not
        return render(request, "sign_in.html", session=session, email=email, failed=True)
    response = see_other("/admin")
    if account.totp_secret is not None:  # the code is asked next, on /admin
        put_session(request, response, new_session(account, pending=True))
        return response
    await record(state.store, state.clock, account, "signed_in")
    put_session(request, response, new_session(account))  # a new nonce: no cookie from before sign-in lives on
    return response


async def give_code(request: Request) -> Response:
    """POST /admin/sign-in/code: the second factor's code (or a recovery code) after the password."""
    state = state_of(request)
    session, form = await checked_form(request)
    halfway = await signed_in(request, pending=True)
    if halfway is None or halfway[0] != session:
        return see_other("/admin")
    account = halfway[1]
    state.sign_in_attempts.count(request.client.host if request.client else "", account.email)
    how = await check_code(state, account, form.get("code", ""))
    if how is None:
        return render(request, "second_factor.html", session=session, failed=True)
    await record(state.store, state.clock, account, "signed_in", "recovery code" if how == "recovery" else "")
    response = see_other("/admin")
    put_session(request, response, new_session(account))
    return response


async def sign_out(request: Request) -> Response:
    state = state_of(request)
    await checked_form(request)
    who = await signed_in(request)
    if who is not None:
        await record(state.store, state.clock, who[1], "signed_out")
    response = see_other("/admin")
    put_session(request, response, new_session())
    return response


async def sign_out_everywhere(request: Request) -> Response:
    state = state_of(request)
    await checked_form(request)
    who = await signed_in(request)
    if who is not None:
        await state.store.bump_console_sessions(who[1].id)
        await record(state.store, state.clock, who[1], "signed_out_everywhere")
    response = see_other("/admin")
    put_session(request, response, new_session())
    return response


async def setup_page(request: Request) -> Response:
    """GET /admin/setup/{token}: choose a password; POST sets it and signs in."""
    state = state_of(request)
    token = request.path_params["token"]
    if request.method == "POST":
        session, form = await checked_form(request)
    else:
        session, fresh = visitor_session(request)
    account = await open_setup(state.store, state.clock, token)
    if account is None:
        raise Refused(410, "setup_gone")
    if request.method == "GET":
        return render(request, "setup.html", session=session, new_cookie=fresh, email=account.email, problem="")
    password = form.get("password", "")
    problem = password_problem(password, form.get("repeat", ""), account.email)
    if problem:
        return render(request, "setup.html", session=session, email=account.email, problem=problem, status=400)
    if not await set_password(state.store, account, token, password):
        raise Refused(410, "setup_gone")
    account = await state.store.get_console_account(account.id) or account
    await record(state.store, state.clock, account, "password_set")
    response = see_other("/admin")
    put_session(request, response, new_session(account))
    return response
