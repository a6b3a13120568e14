"""The console in Debian's Chromium, as a support lead uses it: the setup link from `tracker
admin add`, a password, the overview, a case, the audit log, signing out and in again, with
JavaScript off (every page works without it). Then the attacks: a form posted from another
site, another tenant's ids, a cookie planted before sign-in, guessing passwords. And axe-core's
WCAG 2.1 A/AA rules on every console page, left to right and right to left, light and dark."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser import HostSite
from tests.conftest import KEY, SECRET, LiveServer, free_port, generic_payload, post, suite_clock
from tests.test_a11y import RTL, audit, new_context, readable
from tracker.admin import add_source, add_tenant
from tracker.app import create_app
from tracker.clock import Clock
from tracker.config import Settings
from tracker.console import totp
from tracker.console.accounts import add_account, setup_url
from tracker.console.attempts import ACCOUNT_ATTEMPTS, WINDOW_SECONDS
from tracker.console.sessions import COOKIE
from tracker.demo import signed_request
from tracker.outbound import queue_webhook

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"


@dataclass
class Site:
    live: LiveServer
    clock: Clock
    host: HostSite

    def setup_link(self, email: str, tenant: str = "acme") -> str:
        _, token = self.live.call(add_account(self.live.app.state.store, self.clock, tenant, email))
        return setup_url(self.live.url, token)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    port = free_port()
    clock = suite_clock()
    settings = Settings(database_url=f"sqlite:///{tmp_path_factory.mktemp('console') / 'tracker.db'}",
                        secret_keys=(KEY,), port=port, base_url=f"http://127.0.0.1:{port}")
    app = create_app(settings, clock)
    host = HostSite()
    with LiveServer(app, port) as live, httpx.Client(base_url=live.url, timeout=10) as http:
        for slug in ("acme", "globex"):
            live.call(add_tenant(app.state.store, slug, f"{slug.title()} Support"))
            live.call(add_source(app.state.store, slug, "generic", SECRET))
        assert post(http, generic_payload("4711", title="Invoice export fails", stage="in_progress")).status_code == 202
        assert post(http, generic_payload("9001", title="Globex secret"), tenant="globex").status_code == 202
        assert post(http, generic_payload("12", title="Export bug in engineering")).status_code == 202  # a problem
        acme = live.call(add_tenant(app.state.store, "acme", None, None, {"webhook_url": host.url + "/hook"}))
        live.call(queue_webhook(app.state.store, acme, "case.quiet", None, {"case_id": "4711"}, clock.now()))
        yield Site(live, clock, host)
    host.close()


def choose_password(page: Page, link: str) -> None:
    page.goto(link)
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD)
    page.get_by_role("button", name="Set the password and sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def sign_in(page: Page, site: Site, email: str, password: str = PASSWORD) -> None:
    page.goto(site.live.url + "/admin")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_support_lead_sets_up_signs_in_and_out_without_javascript(browser: Browser, site: Site):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    choose_password(page, site.setup_link("lead@example.com"))
    expect(page.get_by_text("Signed in as lead@example.com")).to_be_visible()
    expect(page.get_by_text(f"{site.live.url}/hooks/acme/generic")).to_be_visible()
    page.get_by_role("link", name="generic:4711").click()
    expect(page.get_by_role("heading", name="Invoice export fails")).to_be_visible()
    expect(page.get_by_text("In progress")).to_be_visible()
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("cell", name="Chose a password")).to_be_visible()
    cookie = next(c for c in context.cookies() if c["name"] == COOKIE)
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Lax", "/admin")

    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("heading", name="Sign in to the console")).to_be_visible()
    sign_in(page, site, "lead@example.com", "not the password")
    expect(page.get_by_role("alert")).to_have_text("Wrong e-mail address or password.")
    sign_in(page, site, "LEAD@example.com ")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.get_by_role("button", name="Sign out everywhere").click()
    expect(page.get_by_role("heading", name="Sign in to the console")).to_be_visible()
    sign_in(page, site, "lead@example.com")
    page.get_by_role("link", name="Audit log").click()
    actions = page.locator("tbody tr td:nth-child(3)").all_text_contents()
    assert actions[:5] == ["Signed in", "Signed out everywhere", "Signed in", "Signed out", "Chose a password"]
    context.close()


def test_a_form_posted_from_another_site_is_refused(browser: Browser, site: Site):
    """The host site is the same site (127.0.0.1) on another port, so the browser sends the
    Lax cookie along: only the CSRF token stands in the way, and it does."""
    context = browser.new_context()
    page = context.new_page()
    choose_password(page, site.setup_link("victim@example.com"))
    attack = site.host.page("/attack", f'<form method="post" action="{site.live.url}/admin/sign-out-everywhere">'
                                       '<input type="hidden" name="csrf" value="guessed"></form>'
                                       "<script>document.forms[0].submit()</script>")
    with page.expect_navigation(url=f"{site.live.url}/admin/sign-out-everywhere"):
        page.goto(attack)
    expect(page.get_by_role("heading", name="Something went wrong")).to_be_visible()
    expect(page.get_by_text("This form has expired")).to_be_visible()
    page.goto(site.live.url + "/admin")
    expect(page.get_by_text("Signed in as victim@example.com")).to_be_visible()  # still signed in
    context.close()


def test_another_tenants_ids_are_not_found(browser: Browser, site: Site):
    context = browser.new_context()
    page = context.new_page()
    choose_password(page, site.setup_link("curious@example.com"))
    for path in ("/admin/cases/generic/9001", "/admin/cases/globex/9001", "/admin/problems/generic/9001"):
        answer = page.goto(site.live.url + path)
        assert answer is not None and answer.status == 404
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        assert "Globex" not in page.content()
    context.close()


def test_a_planted_cookie_does_not_sign_the_attacker_in(browser: Browser, site: Site):
    site.setup_link("planted@example.com")
    attacker = browser.new_context()
    attacker.new_page().goto(site.live.url + "/admin")
    planted = next(c for c in attacker.cookies() if c["name"] == COOKIE)
    victim = browser.new_context()
    victim.add_cookies([planted])  # as a sibling subdomain or a shared computer could
    page = victim.new_page()
    choose_password(page, site.setup_link("planted@example.com"))
    assert next(c for c in victim.cookies() if c["name"] == COOKIE)["value"] != planted["value"]
    other = attacker.new_page()
    other.goto(site.live.url + "/admin")
    expect(other.get_by_role("heading", name="Sign in to the console")).to_be_visible()
    attacker.close()
    victim.close()


def test_guessing_passwords_is_stopped(browser: Browser, site: Site):
    context = browser.new_context()
    page = context.new_page()
    choose_password(page, site.setup_link("guarded@example.com"))
    page.get_by_role("button", name="Sign out", exact=True).click()
    for n in range(ACCOUNT_ATTEMPTS):
        sign_in(page, site, "guarded@example.com", f"guess number {n}")
        expect(page.get_by_role("alert")).to_have_text("Wrong e-mail address or password.")
    sign_in(page, site, "guarded@example.com")  # the right one, too late
    expect(page.get_by_role("heading", name="Too many attempts")).to_be_visible()
    site.clock.advance(timedelta(seconds=WINDOW_SECONDS + 1))
    sign_in(page, site, "guarded@example.com")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    context.close()


def test_a_lead_connects_a_helpdesk_and_copies_its_webhook_url(browser: Browser, site: Site):
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.live.url)
    page = context.new_page()
    choose_password(page, site.setup_link("connector@example.com"))
    page.get_by_role("link", name="Helpdesks", exact=True).first.click()
    page.get_by_role("link", name="Zendesk").click()
    page.get_by_role("button", name="Connect").click()
    url = f"{site.live.url}/hooks/acme/zendesk"
    expect(page.get_by_label("Webhook URL")).to_have_value(url)
    expect(page.get_by_label("Signing secret", exact=True)).to_have_value(re.compile(r"^whsec_"))
    expect(page.locator("pre.steps")).to_contain_text("Reveal secret")
    page.locator("button[data-copy=webhook-url]").click()
    expect(page.get_by_role("status").filter(has_text="Copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == url
    page.get_by_label("api_token").fill("zd-token")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("Write-back to zendesk also needs the option api_base")
    context.close()

    without = browser.new_context(java_script_enabled=False)
    page = without.new_page()
    sign_in(page, site, "connector@example.com")
    page.goto(site.live.url + "/admin/sources/zendesk")
    expect(page.get_by_label("Webhook URL")).to_have_value(url)  # to select and copy by hand
    expect(page.locator("button[data-copy]").first).to_be_hidden()
    without.close()


def test_a_lead_finds_a_case_sends_its_link_and_publishes_its_problem(browser: Browser, site: Site):
    context = browser.new_context()
    page = context.new_page()
    choose_password(page, site.setup_link("publisher@example.com"))
    page.get_by_label("Search cases").fill("invoice")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="generic:4711").click()
    page.get_by_label("Expires after (days)").fill("30")
    page.get_by_role("button", name="Make a link").click()
    link = page.get_by_label("A new link to this case's page").input_value()
    assert link.startswith(site.live.url + "/c/")
    page.get_by_role("link", name="Open the customer's view").click()
    expect(page.get_by_role("heading", name="Invoice export fails")).to_be_visible()

    page.goto(site.live.url + "/admin/cases/generic/4711")
    page.get_by_label("Problem (SOURCE:ID)").fill("generic:12")
    page.get_by_role("button", name="Link to this problem").click()
    page.get_by_role("link", name="generic:12").click()
    page.get_by_label("Title for customers").fill("Exports fail for large files")
    page.get_by_label("Summary for customers").fill("A fix is being tested.")
    page.get_by_label("List it on the status page").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved.")
    expect(page.get_by_text("1 open case is linked to it.")).to_be_visible()
    page.goto(f"{site.live.url}/s/acme")
    expect(page.get_by_text("Exports fail for large files")).to_be_visible()
    page.goto(link)
    expect(page.get_by_text("Exports fail for large files")).to_be_visible()  # the customer is told, live
    page.goto(site.live.url + "/admin/cases/generic/4711")
    page.get_by_role("button", name="Revoke every link").click()
    expect(page.get_by_role("status")).to_contain_text("stops working")
    assert page.goto(link).status == 410  # type: ignore[union-attr]
    context.close()


def test_a_lead_makes_an_api_key_that_is_shown_once(browser: Browser, site: Site):
    context = browser.new_context()
    page = context.new_page()
    choose_password(page, site.setup_link("automation@example.com"))
    page.get_by_role("navigation", name="Console").get_by_role("link", name="API keys").click()
    page.get_by_label("What the key is for").fill("zapier")
    page.get_by_role("button", name="Make a key").click()
    key = page.get_by_label("The new key.").input_value()
    with httpx.Client(base_url=site.live.url, timeout=10) as http:
        assert http.get("/api/v1/cases", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        page.reload()  # a POST's answer: the browser asks before sending the form again
        page.goto(site.live.url + "/admin/keys")
        assert key not in page.content()
        page.get_by_role("button", name="Revoke the key zapier").click()
        expect(page.get_by_role("cell", name="Revoked")).to_be_visible()
        assert http.get("/api/v1/cases", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    context.close()


def test_a_lead_turns_on_a_second_factor_and_signs_in_with_it(browser: Browser, site: Site):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    choose_password(page, site.setup_link("careful@example.com"))
    page.get_by_role("link", name="Your account").click()
    page.get_by_role("button", name="Set up a second factor").click()
    secret = page.get_by_label("Key", exact=True).input_value()
    page.get_by_label("Code").fill(totp.totp(totp.secret_bytes(secret), site.clock.timestamp()))
    page.get_by_role("button", name="Turn the second factor on").click()
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    page.get_by_role("button", name="Sign out", exact=True).click()
    sign_in(page, site, "careful@example.com")
    expect(page.get_by_role("heading", name="The code from your authenticator app")).to_be_visible()
    site.clock.advance(timedelta(seconds=totp.STEP_SECONDS))  # the next code (the last one was used)
    page.get_by_label("Code").fill(totp.totp(totp.secret_bytes(secret), site.clock.timestamp()))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as careful@example.com")).to_be_visible()
    context.close()


def test_the_latest_deliveries_arrive_while_the_page_is_open(browser: Browser, site: Site):
    context = browser.new_context()
    page = context.new_page()
    choose_password(page, site.setup_link("watcher@example.com"))
    page.goto(site.live.url + "/admin/sources/generic")
    page.evaluate("window.__same_page = true")
    expect(page.get_by_text("Signature does not match")).to_have_count(0)
    body, headers = signed_request("whsec_" + "B" * 32, generic_payload("4711"), site.clock)  # the app's clock
    assert httpx.post(f"{site.live.url}/hooks/acme/generic", content=body, headers=headers).status_code == 401
    expect(page.get_by_text("Signature does not match").first).to_be_visible(timeout=15_000)
    assert page.evaluate("window.__same_page") is True  # no reload: the section was refreshed in place
    context.close()


def test_the_look_page_previews_the_saved_look(browser: Browser, site: Site):
    context = browser.new_context()
    page = context.new_page()
    choose_password(page, site.setup_link("designer@example.com"))
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Look and words").click()
    page.get_by_label("Accent colour").fill("#8a2be2")
    page.get_by_label("Theme").select_option("dark")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    newest = site.live.call(site.live.app.state.store.list_cases("acme"))[0].case.title
    case = page.frame_locator("iframe[title='The case page']")
    expect(case.locator("h1")).to_contain_text(newest)
    assert page.frame(url=re.compile(r"/admin/look/preview$")).evaluate(  # type: ignore[union-attr]
        "getComputedStyle(document.documentElement).getPropertyValue('--tracker-accent').trim()") == "#8a2be2"
    card = page.frame_locator("iframe[title='The widget']").locator("tracker-case")
    expect(card.locator("[part=title]")).to_contain_text(newest)  # widget.js ran
    expect(page.frame_locator("iframe[title='A notification mail']").locator("body")).to_contain_text(newest)

    accent = "getComputedStyle(document.documentElement).getPropertyValue('--tracker-accent').trim()"
    page.get_by_label("Accent colour").fill("#1f6f3f")  # typed, not saved: the frames follow
    deadline = time.monotonic() + 10
    while True:
        frame = page.frame(url=re.compile(r"/admin/look/preview\?.*accent_colour=%231f6f3f"))
        if frame is not None and frame.evaluate(accent) == "#1f6f3f":
            break
        assert time.monotonic() < deadline, "the case page's preview did not take the typed colour"
        page.wait_for_timeout(100)
    stored = site.live.call(site.live.app.state.store.get_tenant("acme"))
    assert stored.options["accent_colour"] == "#8a2be2"  # nothing saved
    page.get_by_label("Theme").select_option("default")
    page.get_by_label("Accent colour").fill("")
    page.get_by_role("button", name="Save", exact=True).click()
    context.close()

    without = browser.new_context(java_script_enabled=False)
    page = without.new_page()
    sign_in(page, site, "designer@example.com")
    page.goto(site.live.url + "/admin/look")
    page.get_by_label("Accent colour").fill("#7a1f1f")
    page.get_by_role("button", name="Preview without saving").click()
    expect(page.get_by_text("Not saved yet")).to_be_visible()
    frame = page.frame(url=re.compile(r"/admin/look/preview\?"))
    assert frame is not None and "accent_colour=%237a1f1f" in frame.url
    assert "accent_colour" not in site.live.call(site.live.app.state.store.get_tenant("acme")).options
    without.close()


def test_a_test_delivery_goes_through_the_webhook_url(browser: Browser, site: Site):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    choose_password(page, site.setup_link("tester@example.com"))
    page.goto(site.live.url + "/admin/sources/generic")
    page.get_by_role("button", name="Send a test delivery").click()
    expect(page.get_by_role("status").filter(has_text="The test delivery was stored")).to_be_visible()
    expect(page.get_by_role("cell", name=re.compile(r"case console-test, revision \d+")).first).to_be_visible()
    stored = site.live.call(site.live.app.state.store.get_case("acme", "generic", "console-test"))
    assert stored is not None and stored.case.stage == "closed"
    context.close()


LOOKS = [("en", "light"), ("en", "dark"), (RTL, "light"), (RTL, "dark")]


@pytest.mark.parametrize(("language", "scheme"), LOOKS, ids=[f"{lang}-{scheme}" for lang, scheme in LOOKS])
def test_console_pages_have_no_wcag_violations(browser: Browser, site: Site, language: str, scheme: str):
    suffix = f"?lang={language}"
    visitor: BrowserContext = new_context(browser, language, color_scheme=scheme)
    page = visitor.new_page()
    found = []
    email = f"axe-{language}-{scheme}@example.com"
    pages = {"sign-in": site.live.url + "/admin", "setup": site.setup_link(email)}
    for name, url in pages.items():
        page.goto(url + suffix)
        if language == RTL:
            assert page.evaluate("document.documentElement.dir") == "rtl", name
        violations = audit(page)
        if violations:
            found.append(readable(f"{name} ({language}, {scheme})", violations))
    page.locator("#password").fill(PASSWORD)
    page.locator("#repeat").fill(PASSWORD)
    page.locator("button[type=submit]").last.click()
    page.wait_for_url(site.live.url + "/admin")
    signed_in = {"overview": "/admin", "case": "/admin/cases/generic/4711", "audit": "/admin/audit",
                 "not found": "/admin/cases/generic/9001", "helpdesks": "/admin/sources",
                 "helpdesk": "/admin/sources/generic", "unconnected helpdesk": "/admin/sources/zammad",
                 "cases": "/admin/cases?q=4711", "no cases": "/admin/cases?q=nothing", "problems": "/admin/problems",
                 "problem": "/admin/problems/generic/12", "keys": "/admin/keys", "hooks": "/admin/hooks",
                 "look": "/admin/look", "account": "/admin/account", "insights": "/admin/insights",
                 "insights, none": "/admin/insights?since=7d&source=zammad"}
    for name, path in signed_in.items():
        page.goto(site.live.url + path + ("&" if "?" in path else "?") + suffix[1:])
        violations = audit(page)
        if violations:
            found.append(readable(f"{name} ({language}, {scheme})", violations))
    page.goto(site.live.url + "/admin/account" + suffix)
    page.locator("button[value=start]").click()
    violations = audit(page)  # the second factor being set up
    if violations:
        found.append(readable(f"second factor set-up ({language}, {scheme})", violations))
    visitor.close()
    assert not found, "axe found WCAG 2.1 A/AA violations:\n" + "\n".join(found)
