"""CSRF tokens: every console form carries one, bound to the session's nonce (sessions.py) and
signed for that purpose only. A POST whose token is missing, wrong, too old or another
session's is refused with 403 before anything else is read or changed."""

from __future__ import annotations

from starlette.requests import Request

from tracker.console.refusals import Refused
from tracker.console.sessions import SESSION_SECONDS, Session, read_session
from tracker.web.forms import read_form
from tracker.web.state import state_of

FIELD = "csrf"
MAX_FORM_BYTES = 16_384  # a problem's summary of 2,000 characters, percent-encoded
MAX_FORM_FIELDS = 30


def form_token(request: Request, session: Session) -> str:
    return state_of(request).signer.sign_console_form(session.nonce)


async def checked_form(request: Request) -> tuple[Session, dict[str, str]]:
    """The session and the form's fields, when the form's token is the session's."""
    session = read_session(request)
    form = await read_form(request, MAX_FORM_BYTES, MAX_FORM_FIELDS)
    token = form.pop(FIELD, "")
    if any("\x00" in value for value in form.values()):
        raise Refused(400, "form_expired")  # no text column takes a NUL, and no field needs one
    if session is None or not state_of(request).signer.check_console_form(token, session.nonce, SESSION_SECONDS):
        raise Refused(403, "form_expired")
    return session, form
