"""The widget's words in the reader's language: `GET /widget/text.json`.

The widget asks for this once per page (its words live here alone, translated with the pages');
the browser's Accept-Language (or the embed's `data-lang`, sent as `?lang=`), then the tenant's
default (`?tenant=`) choose. A phrase with a number comes as its plural forms by the CLDR
category the browser's Intl.PluralRules names. `links` says whether the tenant offers "E-mail
me links to all my cases" (it mails them).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from babel import Locale
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tracker.i18n import N_, choose_language, direction, translations
from tracker.notifier import mail_offered
from tracker.web.my_cases import LINKS_SENT
from tracker.web.state import state_of


@dataclass(frozen=True)
class Plural:
    singular: str
    plural: str


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
    "problem": N_("Linked to a known problem:"),
    "aProblem": N_("Linked to a known problem"),
    "fixOut": N_("A fix is out."),
    "solved": N_("Is it solved for you?"),
    "problemIs": N_("The problem is %(stage)s."),
    "fixBy": N_("Fix expected by"),
    "affected": Plural("%(num)d other customer is affected.", "%(num)d other customers are affected."),
    "myCases": N_("Your cases"),
    "noCases": N_("No open cases."),
    "closedCases": Plural("%(num)d closed case", "%(num)d closed cases"),
    "noProblems": N_("No known problems right now."),
    "linked": Plural("%(num)d open case is linked to it.", "%(num)d open cases are linked to it."),
    "mailLinks": N_("E-mail me links to all my cases"),
    "linksSent": LINKS_SENT,
}
CACHE_SECONDS = 3600
PLURAL_SAMPLES = 200  # Arabic's "many" begins at 11 and "other" comes back at 100


@functools.lru_cache(maxsize=32)  # the languages tracker speaks: each table is made once
def words_in(language: str) -> dict[str, Any]:
    return dict(translated(TEXT, language))


def translated(text: Any, language: str) -> Any:
    if isinstance(text, dict):
        return {key: translated(value, language) for key, value in text.items()}
    if isinstance(text, Plural):
        return plural_forms(text, language)
    return translations(language).gettext(text)


def plural_forms(text: Plural, language: str) -> dict[str, str]:
    """{CLDR category: the catalog's form}, from the first number of each category."""
    rule, forms = Locale.parse(language).plural_form, dict[str, str]()
    for number in range(PLURAL_SAMPLES):
        forms.setdefault(rule(number), translations(language).ngettext(text.singular, text.plural, number))
    return forms


async def widget_text(request: Request) -> Response:
    store = state_of(request).store
    slug = request.query_params.get("tenant")
    tenant = await store.get_tenant(slug) if slug else None
    language = choose_language(request.query_params.get("lang"), request.headers.get("accept-language"),
                               tenant.options.get("language") if tenant else None)
    body = {"lang": language, "dir": direction(language), "text": words_in(language),
            "links": tenant is not None and mail_offered(state_of(request).settings, tenant)}
    return JSONResponse(body, headers={"Cache-Control": f"public, max-age={CACHE_SECONDS}",
                                       "Vary": "Accept-Language", "Access-Control-Allow-Origin": "*"})
