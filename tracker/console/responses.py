"""How console pages answer: a template of the `console/` set in the reader's language, never
cached, framed by nobody, with the session cookie; and refusals as pages of their own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tracker.console.csrf import form_token
from tracker.console.refusals import Refused
from tracker.console.sessions import Session, put_session
from tracker.i18n import choose_language, languages
from tracker.storage.base import Tenant
from tracker.web.pages import page_policy
from tracker.web.state import state_of

Handler = Callable[[Request], Awaitable[Response]]
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff"}


LANGUAGE_COOKIE = "tracker_console_lang"  # the language picked from the footer, kept while browsing
LANGUAGE_DAYS = 365


def console_language(request: Request, tenant: Tenant | None = None) -> str:
    """?lang=, else the language picked before, else the browser's, else the tenant's."""
    asked = request.query_params.get("lang")
    picked = asked if asked in languages() else request.cookies.get(LANGUAGE_COOKIE)
    return choose_language(picked, request.headers.get("accept-language"),
                           tenant.options.get("language") if tenant else None)


def render(request: Request, name: str, *, session: Session | None = None, new_cookie: bool = False,
           tenant: Tenant | None = None, status: int = 200, headers: dict[str, str] | None = None,
           **context: object) -> HTMLResponse:
    """The page `console/{name}`; `session` gives its forms their token (and with `new_cookie`,
    the browser the session's cookie)."""
    state = state_of(request)
    html = state.templates.render("default", f"console/{name}", console_language(request, tenant),
                                  csrf=form_token(request, session) if session else "",
                                  path=request.url.path, tenant=tenant, **context)
    response = HTMLResponse(html, status_code=status,
                            headers={**HEADERS, "Content-Security-Policy": page_policy(None, "'none'"),
                                     **(headers or {})})
    if session is not None and new_cookie:
        put_session(request, response, session)
    picked = request.query_params.get("lang")
    if picked in languages() and picked != request.cookies.get(LANGUAGE_COOKIE):
        response.set_cookie(LANGUAGE_COOKIE, picked, max_age=LANGUAGE_DAYS * 86400, path="/admin", httponly=True,
                            secure=state.settings.base_url.startswith("https:"), samesite="lax")
    return response


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers=HEADERS)


def console_page(handler: Handler) -> Handler:
    """The handler, with its refusals answered as console pages."""

    async def answer(request: Request) -> Response:
        try:
            if any("\x00" in str(value) for value in (*request.path_params.values(), *request.query_params.values())):
                raise Refused(404, "not_found")  # no text column takes a NUL: nothing has one in its name
            return await handler(request)
        except Refused as refused:
            wait = refused.retry_after_seconds
            return render(request, "refused.html", status=refused.status, reason=refused.reason,
                          minutes=max(1, (wait + 59) // 60), headers={"Retry-After": str(wait)} if wait else None)

    return answer
