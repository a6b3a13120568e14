"""The console's session: one signed cookie, for visitors and signed-in people alike.

The cookie holds a random nonce, the account id (0 before sign-in), the account's session
version, and whether the second factor's code is still owed (nobody is signed in until it is
given). Its nonce is what the CSRF tokens of the forms are bound to (csrf.py). Signing in always
starts a new nonce, so a cookie planted before sign-in (session fixation) is never the signed-in
one; "sign out everywhere" bumps the account's session version, and every cookie carrying the
old one stops working. The cookie is `HttpOnly`, `SameSite=Lax`, `Secure` when
TRACKER_BASE_URL is https, scoped to /admin, and lasts SESSION_HOURS at most.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from tracker.storage.base import ConsoleAccount
from tracker.web.state import state_of

COOKIE = "tracker_console"
SESSION_HOURS = 12
SESSION_SECONDS = SESSION_HOURS * 3600
NONCE_BYTES = 18


@dataclass(frozen=True, slots=True)
class Session:
    nonce: str
    account_id: int  # 0: nobody is signed in
    version: int
    pending: bool = False  # the password was right; the second factor's code is still to come


def new_session(account: ConsoleAccount | None = None, pending: bool = False) -> Session:
    nonce = secrets.token_urlsafe(NONCE_BYTES)
    return Session(nonce, account.id, account.session_version, pending) if account else Session(nonce, 0, 0)


def read_session(request: Request) -> Session | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    read = state_of(request).signer.read_console_session(token, SESSION_SECONDS)
    return None if read is None else Session(*read)


async def signed_in(request: Request, pending: bool = False) -> tuple[Session, ConsoleAccount] | None:
    """The session and its account, when someone is signed in with a session still valid (or,
    with `pending`, has given the right password and owes the second factor's code)."""
    session = read_session(request)
    if session is None or not session.account_id or session.pending != pending:
        return None
    account = await state_of(request).store.get_console_account(session.account_id)
    if account is None or account.password_hash is None or account.session_version != session.version:
        return None
    return session, account


def put_session(request: Request, response: Response, session: Session) -> None:
    token = state_of(request).signer.sign_console_session(session.nonce, session.account_id, session.version,
                                                          session.pending)
    secure = state_of(request).settings.base_url.startswith("https:")
    response.set_cookie(COOKIE, token, path="/admin", httponly=True, secure=secure, samesite="lax")
