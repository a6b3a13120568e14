"""The look and words of the tenant's pages in the console: the company's name, theme, logo,
accent colour, support site, default language, promises and notifications; saved through
admin.add_tenant, so the console refuses what `tracker tenant add` refuses, with its message.
An accent colour that white text reads badly on is saved with a warning (the badge then keeps
its own colour), as WCAG's 4.5:1 asks."""

from __future__ import annotations

from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response

from tracker import admin
from tracker.console.audit import record
from tracker.console.csrf import checked_form
from tracker.console.pages import tenant_of
from tracker.console.preview import previews
from tracker.console.refusals import Refused
from tracker.console.responses import render, see_other
from tracker.console.sessions import signed_in
from tracker.errors import ConfigError
from tracker.i18n import language_name, languages
from tracker.tenant_options import TENANT_OPTIONS
from tracker.themes import theme_names
from tracker.web.brand import contrast_on_white
from tracker.web.pages import page_policy
from tracker.web.state import state_of

# The tenant options this page sets (the webhook has its own page).
FIELDS = ("logo_url", "accent_colour", "support_url", "language", "promise_hours", "confirm_days", "notify",
          "notify_digest_minutes")
MIN_CONTRAST = 4.5
MAX_NAME_CHARS = 200


async def look_page(request: Request) -> Response:
    """GET /admin/look: the settings; POST saves them."""
    who = await signed_in(request)
    if who is None:
        return see_other("/admin")
    session, account = who
    tenant = await tenant_of(request, account)
    state = state_of(request)
    problem, saved, unsaved = "", False, dict[str, str]()
    shown = tenant  # what the form holds: the saved look, or the values being previewed
    if request.method == "POST":
        form_session, form = await checked_form(request)
        if form_session != session:
            raise Refused(403, "form_expired")
        given = {name: form.get(name, "").strip() for name in FIELDS}
        name = form.get("name", "").strip()[:MAX_NAME_CHARS] or None
        theme = form.get("theme", "").strip() or None
        if form.get("action") == "preview":
            unsaved = {**given, "name": name or "", "theme": theme or ""}
            shown = replace(tenant, name=name or tenant.name, theme=theme or tenant.theme, options=given)
        else:
            try:
                changed = sorted(n for n in FIELDS if given[n] != tenant.options.get(n, ""))
                tenant = shown = await admin.add_tenant(state.store, tenant.slug, name, theme, given,
                                                        state.settings.themes_dir)
                await record(state.store, state.clock, account, "look_changed", ", ".join(changed) or "-")
                saved = True
            except ConfigError as exc:
                problem = exc.message
                shown = replace(tenant, name=name or tenant.name, theme=theme or tenant.theme, options=given)
    colour = tenant.options.get("accent_colour", "")
    contrast = round(contrast_on_white(colour), 1) if colour else None
    defaults = {name: TENANT_OPTIONS[name].default for name in FIELDS}
    return render(request, "look.html", session=session, tenant=tenant, account=account, problem=problem, saved=saved,
                  themes=theme_names(state.settings.themes_dir), defaults=defaults,
                  page_languages=[(code, language_name(code)) for code in languages()], contrast=contrast,
                  low_contrast=contrast is not None and contrast < MIN_CONTRAST, status=400 if problem else 200,
                  previews=await previews(request, tenant, unsaved), shown=shown, unsaved=bool(unsaved),
                  headers={"Content-Security-Policy": page_policy(None, "'none'") + "; frame-src 'self'"})
