"""The widget's words in the reader's language: `GET /widget/text.json`.

The widget carries English and asks for this once per page; the browser's Accept-Language (or
the embed's `data-lang`, sent as `?lang=`), then the tenant's default (`?tenant=`) choose.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tracker.i18n import N_, choose_language, direction, translations
from tracker.web.state import state_of

TEXT: dict[str, Any] = {
    "stages": {"received": N_("Received"), "in_progress": N_("In progress"), "resolved": N_("Resolved"),
               "closed": N_("Closed")},
    "owners": {"customer": N_("You"), "company": N_("Support team"), "third_party": N_("Third party")},
    "you": N_("Waiting on you"),
    "youDetail": N_("The team needs something from you to go on."),
    "company": N_("The support team is working on it"),
    "thirdParty": N_("Waiting on a third party"),
    "done": N_("This case is "),
    "stepper": N_("Progress of the case"),
    "status": N_("Status: "),
    "progress": N_("Progress"),
    "expected": N_("Expected by "),
    "sources": {"sla": N_(" (the team's service target)"), "estimate": N_(" (an estimate)")},
    "next": N_("Next step"),
    "latest": N_("Latest update"),
    "updated": N_("Last update: "),
    "quiet": N_("No public update for a while."),
    "reminded": N_(" We have reminded the team."),
    "open": N_("Open the case page"),
    "subscribe": N_("Keep me updated"),
    "caseNo": N_("Case "),
    "announce": N_("Case updated: "),
    "caseField": N_("Case number"),
    "emailField": N_("E-mail address"),
    "submit": N_("Look up the case"),
    "looking": N_("Looking up the case…"),
    "found": N_("Case found."),
    "noMatch": N_("No case matches this number and e-mail address."),
    "tooMany": N_("Too many attempts. Try again "),
    "aMinute": N_("in a minute"),
    "unavailable": N_("The case lookup is not available right now."),
}
CACHE_SECONDS = 3600


def translated(text: Any, language: str) -> Any:
    if isinstance(text, dict):
        return {key: translated(value, language) for key, value in text.items()}
    return translations(language).gettext(text)


async def widget_text(request: Request) -> Response:
    store = state_of(request).store
    slug = request.query_params.get("tenant")
    tenant = await store.get_tenant(slug) if slug else None
    language = choose_language(request.query_params.get("lang"), request.headers.get("accept-language"),
                               tenant.options.get("language") if tenant else None)
    body = {"lang": language, "dir": direction(language), "text": translated(TEXT, language)}
    return JSONResponse(body, headers={"Cache-Control": f"public, max-age={CACHE_SECONDS}",
                                       "Vary": "Accept-Language", "Access-Control-Allow-Origin": "*"})
