"""The company's console at /admin: a small server-rendered web app for a tenant's people
(accounts.py, sessions.py, csrf.py, attempts.py, audit.py, totp.py; the pages in sign_in.py,
second_factor.py, pages.py, sources.py, cases.py, problems.py, insights.py, look.py, preview.py, keys.py and
hooks.py; templates in the default theme's `console/` set). Every page works without JavaScript."""

from __future__ import annotations

from starlette.routing import Route

from tracker.console.cases import case_page, cases_page
from tracker.console.hooks import hooks_page
from tracker.console.insights import insights_page
from tracker.console.keys import keys_page
from tracker.console.look import look_page
from tracker.console.pages import audit_page
from tracker.console.preview import brand_preview, case_preview, mail_preview, widget_preview
from tracker.console.problems import problem_page, problems_page
from tracker.console.responses import console_page
from tracker.console.second_factor import account_page
from tracker.console.sign_in import give_code, home, setup_page, sign_in, sign_out, sign_out_everywhere
from tracker.console.sources import source_page, sources_page


def routes() -> list[Route]:
    return [
        Route("/admin", console_page(home), name="console"),
        Route("/admin/sign-in", console_page(sign_in), methods=["POST"], name="console_sign_in"),
        Route("/admin/sign-in/code", console_page(give_code), methods=["POST"], name="console_code"),
        Route("/admin/account", console_page(account_page), methods=["GET", "POST"], name="console_account"),
        Route("/admin/sign-out", console_page(sign_out), methods=["POST"], name="console_sign_out"),
        Route("/admin/sign-out-everywhere", console_page(sign_out_everywhere), methods=["POST"],
              name="console_sign_out_everywhere"),
        Route("/admin/setup/{token}", console_page(setup_page), methods=["GET", "POST"], name="console_setup"),
        Route("/admin/audit", console_page(audit_page), name="console_audit"),
        Route("/admin/insights", console_page(insights_page), name="console_insights"),
        Route("/admin/cases", console_page(cases_page), name="console_cases"),
        Route("/admin/cases/{source}/{case_id:path}", console_page(case_page), methods=["GET", "POST"],
              name="console_case"),
        Route("/admin/problems", console_page(problems_page), name="console_problems"),
        Route("/admin/problems/{source}/{case_id:path}", console_page(problem_page), methods=["GET", "POST"],
              name="console_problem"),
        Route("/admin/look", console_page(look_page), methods=["GET", "POST"], name="console_look"),
        Route("/admin/look/preview", console_page(case_preview), name="console_case_preview"),
        Route("/admin/look/widget", console_page(widget_preview), name="console_widget_preview"),
        Route("/admin/look/mail", console_page(mail_preview), name="console_mail_preview"),
        Route("/admin/look/brand.css", console_page(brand_preview), name="console_brand_preview"),
        Route("/admin/keys", console_page(keys_page), methods=["GET", "POST"], name="console_keys"),
        Route("/admin/hooks", console_page(hooks_page), methods=["GET", "POST"], name="console_hooks"),
        Route("/admin/sources", console_page(sources_page), name="console_sources"),
        Route("/admin/sources/{source}", console_page(source_page), methods=["GET", "POST"], name="console_source"),
    ]
