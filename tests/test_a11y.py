"""Accessibility as readers meet it, in Debian's Chromium: axe-core's WCAG 2.1 A and AA rules on
every page of every theme (light and dark, and right to left in Arabic), the keyboard, live
updates that are announced without moving the focus, and a 320 px wide screen.

One tracker serves the whole module, with a tenant per theme whose cases show every element
a page can have. Screenshots of each look land in artifacts/screenshots/ for people to see.
axe-core comes from npm (tests/run.sh installs it into tests/.npm)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser import HostSite
from tests.conftest import (
    CLOCK_OFFSET_DAYS,
    KEY,
    ROOT,
    SECRET,
    LiveServer,
    free_port,
    generic_payload,
    post,
    suite_clock,
)
from tests.test_widget import snippet
from tracker.admin import add_source, add_tenant
from tracker.app import create_app
from tracker.config import Settings
from tracker.signing import case_url
from tracker.storage.base import ProblemNotes, Store
from tracker.themes import theme_names

pytestmark = pytest.mark.browser
AXE = ROOT / "tests" / ".npm" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
THEMES = theme_names()
RTL = "ar"
NARROW = {"width": 320, "height": 640}
WIDE = {"width": 1024, "height": 768}
LONG_WORD = "Rechnungsexportschnittstellenkonfigurationsfehlerprotokollierungsdatei"
PAGES = ["case", "private", "solved", "public", "gone", "widget", "cases", "status"]
LONG_URL = "https://files.example.com/exports/2026/11/invoice-export-with-a-really-rather-long-file-name-4711.csv"


@dataclass
class Pages:
    """The addresses of one tenant's pages; `widget` is a page of another site that embeds it."""

    case: str  # the customer's page of a public case: the share snippets with their long URLs
    private: str  # the customer's page of a private case: the form to make it public
    solved: str  # the customer's page of a resolved case: the verdict form
    public: str
    gone: str  # a revoked link: 410
    widget: str
    live: str = ""  # a case that changes during a test
    cases: str = ""  # the requester's list of their cases (My cases)
    status: str = ""  # the company's status page, with a listed problem that a case waits on


@dataclass
class Site:
    live: LiveServer
    host: HostSite
    tenants: dict[str, Pages] = field(default_factory=dict)

    @property
    def missing(self) -> str:
        return self.live.url + "/c/no-such-token"


def tenant_of(theme: str) -> str:
    return f"t-{theme}"


def rich_case(case_id: str) -> list[dict[str, Any]]:
    """Every element a case page can show: whose move it is, status, progress, expectation,
    next steps of each owner (one done), several public updates (and a note nobody sees)."""
    now = suite_clock().now()
    case = generic_payload(
        case_id, title=f"Invoice export fails: {LONG_WORD}", stage="in_progress", status_label="Need your CSV file",
        waiting_on="customer", progress=60, expected_by=(now + timedelta(days=2, hours=3)).isoformat(),
        expected_source="sla", requester_email="ann@example.com",
        next_steps=[{"text": "Engineering reproduces the bug", "owner": "company", "done": True},
                    {"text": "Send us the CSV file that fails", "owner": "customer", "done": False},
                    {"text": "The bank confirms the export format", "owner": "third_party", "done": False},
                    {"text": "We ship the fix", "owner": "company", "done": False}])
    messages = [("m1", "Thanks, we are looking into it.", True),
                ("m2", "Engineering reproduced it with an export of 2,000 lines.", True),
                ("n1", "Internal: customer is on the old plan.", False),
                ("m3", f"Please send us the file, or upload it here:\n{LONG_URL}", True)]
    moved = generic_payload(case_id, expected_by=(now + timedelta(days=3)).isoformat(),
                            expected_reason="The bank needs a day longer")
    return [case, *({"type": "case.updated", "case": {"id": case_id},
                     "message": {"id": m, "body": body, "public": public, "author": "Dana"}}
                    for m, body, public in messages), moved]


def quiet_case(case_id: str) -> list[dict[str, Any]]:
    """Waiting on a third party, an estimate, no updates yet."""
    expected = (suite_clock().now() + timedelta(days=9)).isoformat()
    return [generic_payload(case_id, title="Cannot log in", stage="received", waiting_on="third_party",
                            expected_by=expected, expected_source="estimate",
                            next_steps=[{"text": "The identity provider resets the account", "owner": "third_party",
                                         "done": False}])]


def solved_case(case_id: str) -> list[dict[str, Any]]:
    """Resolved: the customer is asked whether it is solved."""
    return [{**generic_payload(case_id, title="Printer jams", stage="resolved"),
             "message": {"id": "s1", "body": "A new fuser fixed it.", "public": True, "author": "Dana"}}]


async def set_up_tenant(store: Store, theme: str) -> None:
    slug = tenant_of(theme)
    await add_tenant(store, slug, f"ACME Support ({theme})", theme,
                     {"support_url": "https://support.example.com/help"})
    await add_source(store, slug, "generic", SECRET)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    port = free_port()
    settings = Settings(database_url=f"sqlite:///{tmp_path_factory.mktemp('a11y') / 'tracker.db'}",
                        secret_keys=(KEY,), port=port, base_url=f"http://127.0.0.1:{port}", ping_seconds=0.5,
                        clock_offset_days=CLOCK_OFFSET_DAYS)
    app = create_app(settings)
    host = HostSite()
    with LiveServer(app, port) as live, httpx.Client(base_url=live.url, timeout=10) as http:
        store: Store = app.state.store  # opened by the app's lifespan
        built = Site(live, host)

        def link(slug: str, case_id: str) -> str:
            stored = live.call(store.get_case(slug, "generic", case_id))
            return case_url(live.url, app.state.signer, stored)

        for theme in THEMES:
            slug = tenant_of(theme)
            live.call(set_up_tenant(store, theme))
            for payload in [*rich_case("4711"), *quiet_case("4712"), *quiet_case("4713"), *solved_case("4714"),
                            *quiet_case("5001")]:
                assert post(http, payload, tenant=slug).status_code == 202
            for case_id in ("4711", "4712", "4714"):  # Ann's: her list of cases
                answer = post(http, generic_payload(case_id, requester_email="ann@example.com"), tenant=slug)
                assert answer.status_code == 202
            # 4712 waits on a problem the company lists on its status page (4713, whose link is revoked below).
            live.call(store.set_problem_notes(ProblemNotes(slug, "generic", "4713", "Sign-in fails for some accounts",
                                                           "A fix is being tested.", True)))
            assert post(http, generic_payload("4712", problem={"source": "generic", "id": "4713"}),
                        tenant=slug).status_code == 202
            live.call(app.state.deliverer.run_once())
            stored = live.call(store.get_case(slug, "generic", "4711"))
            live.call(store.set_public(stored.key, f"pub-{theme}", None))
            gone = link(slug, "4713")
            live.call(store.bump_link_version(live.call(store.get_case(slug, "generic", "4713")).key))
            case, private = link(slug, "4711"), link(slug, "4712")
            cases = f"{live.url}/r/{app.state.signer.sign_requester(slug, 'ann@example.com')}"
            embed = snippet(live.url, [case, private], tenant=slug).replace(  # and Ann's cases, the known problems
                "<script", f'<a class="tracker-cases" href="{cases}">My cases</a>\n'
                           f'<div class="tracker-problems" data-tenant="{slug}"></div>\n<script').replace(
                "data-tenant=", f'data-theme="{theme}" data-tenant=').replace(
                'class="tracker-cases"', f'class="tracker-cases" data-theme="{theme}"')
            built.tenants[theme] = Pages(
                case=case, private=private, solved=link(slug, "4714"), public=f"{live.url}/p/pub-{theme}", gone=gone,
                widget=host.page(f"/{theme}", embed), live=link(slug, "5001"),
                cases=cases,
                status=f"{live.url}/s/{slug}")
            if theme == "default":  # the same, right to left
                rtl = embed.replace('<a class="tracker-case"', f'<a class="tracker-case" data-lang="{RTL}"', 1)
                pages = vars(built.tenants[theme])
                built.tenants[RTL] = Pages(**{name: f"{pages[name]}?lang={RTL}" for name in PAGES if name != "widget"},
                                           widget=host.page(f"/{theme}-{RTL}", rtl))
        yield built
    host.close()


def new_context(browser: Browser, variant: str = "", **options: Any) -> BrowserContext:
    """A reader: English in Berlin, or Arabic in Cairo for the right-to-left variant. CSP is
    bypassed only so that axe can be injected; the widget tests check the policy itself."""
    locale, zone = ("ar-EG", "Africa/Cairo") if variant == RTL else ("en-US", "Europe/Berlin")
    return browser.new_context(locale=locale, timezone_id=zone, bypass_csp=True, **options)


WIDGETS_READY = """() =>
  !document.querySelector("a.tracker-case:not([data-tracker=fallback])")
  && [...document.querySelectorAll("tracker-case")].every(card => !card.hidden
                                                         && card.shadowRoot.querySelector("[part=title],[part=cases]"))
  && [...document.querySelectorAll(".tracker-lookup")].every(d => !d.hidden && d.shadowRoot?.querySelector("form"))
  && [...document.querySelectorAll(".tracker-problems")].every(d => d.shadowRoot?.querySelector("[part=problems]"))
"""


def open_page(page: Page, url: str) -> None:
    """Go to a page and wait until it is complete: the widget's cards and form shown, or the
    case page's live stream connected."""
    page.goto(url)
    if page.locator(".tracker-case, .tracker-lookup, .tracker-problems").count():
        page.wait_for_function(WIDGETS_READY)
    elif page.locator("[data-live-status]").count():
        expect(page.locator("[data-live-status]")).to_be_visible()


AUDIT = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.flat().join(" >>> "), summary: n.failureSummary}))}));
}"""


def audit(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = page.evaluate(AUDIT, WCAG_TAGS)
    return violations


def readable(where: str, violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{where}: {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"]:
            summary = " ".join(node["summary"].split())
            lines.append(f"    {node['target']}: {summary}")
    return "\n".join(lines)


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_the_checks_catch_what_they_look_for(browser: Browser, site: Site):
    """A quiet audit proves nothing unless it speaks up on a page that is broken on purpose."""
    context = new_context(browser, viewport=NARROW)
    page = context.new_page()
    shadow = "<div id=s></div><script>s.attachShadow({mode: 'open'}).innerHTML = '<a href=/></a>'</script>"
    page.goto(site.host.page("/broken", '<img src="/x.png"><pre>' + LONG_URL * 2 + "</pre>" + shadow))
    violations = audit(page)
    assert {v["id"] for v in violations} >= {"image-alt", "link-name"}
    assert [n["target"] for v in violations if v["id"] == "link-name" for n in v["nodes"]] == ["#s >>> a"]
    assert page.evaluate(OVERFLOW)["scroll"] > NARROW["width"]
    context.close()


LOOKS = [(theme, scheme) for theme in THEMES for scheme in ("light", "dark")] + [(RTL, "light"), (RTL, "dark")]


@pytest.mark.parametrize(("look", "scheme"), LOOKS, ids=[f"{look}-{scheme}" for look, scheme in LOOKS])
def test_no_wcag_violations(browser: Browser, site: Site, look: str, scheme: str):
    """Every page of every look, light and dark. Error pages render in the default theme today
    (tracker.app.handle_error); they are audited for another theme as soon as they wear it."""
    pages = site.tenants[look]
    theme = "default" if look == RTL else look
    variant = "-".join(part for part in (look if look == RTL else "", "dark" if scheme == "dark" else "") if part)
    shoot = scheme == "light" or look == "default"  # and dark for the default theme
    context = new_context(browser, look, color_scheme=scheme, viewport=WIDE)
    page = context.new_page()
    suffix = f"?lang={RTL}" if look == RTL else ""
    to_check = {"case": pages.case, "private": pages.private, "solved": pages.solved, "public": pages.public,
                "widget": pages.widget, "cases": pages.cases, "status": pages.status,
                "404": site.missing + suffix, "410": pages.gone}
    found = []
    for name, url in to_check.items():
        open_page(page, url)
        if name in ("404", "410") and theme != "default" and not page.locator(f'link[href*="/{theme}/"]').count():
            continue  # the default theme's error page, audited with the default look
        if look == RTL and name != "widget":
            assert page.evaluate("document.documentElement.dir") == "rtl", name
        if shoot and name in ("case", "solved", "public", "widget", "cases", "status"):
            screenshot(page, "-".join(part for part in (name, theme, variant) if part))
        violations = audit(page)
        if violations:
            found.append(readable(f"{name} ({look}, {scheme})", violations))
    context.close()
    assert not found, "axe found WCAG 2.1 A/AA violations:\n" + "\n".join(found)


# The keyboard ------------------------------------------------------------------------------

FOCUS_SHOWN = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  const style = getComputedStyle(el);
  return {shown: el.matches(":focus-visible") && style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0,
          what: el.outerHTML.slice(0, 80), stop: (window.__stops || []).indexOf(el)};
}"""


def tab_to(page: Page, expected: str, key: str = "Tab") -> None:
    """Press Tab; the focus lands on `expected` (a JS expression) and shows a focus ring."""
    page.keyboard.press(key)
    assert page.evaluate(f"document.activeElement === ({expected})"), \
        f"{key} reached {page.evaluate('document.activeElement.outerHTML.slice(0, 80)')}, not {expected}"
    focus = page.evaluate(FOCUS_SHOWN)
    assert focus["shown"], f"no visible focus ring on {focus['what']}"


@pytest.mark.parametrize("theme", THEMES)
def test_keyboard_reaches_skip_link_share_form_and_languages(browser: Browser, site: Site, theme: str):
    """Tab from the top: the skip link first, later the share form, then the language links,
    each with a visible focus ring (other links may come in between)."""
    context = new_context(browser, viewport=WIDE)
    page = context.new_page()
    open_page(page, site.tenants[theme].private)
    stops = page.evaluate("""() => {
      window.__stops = [document.querySelector("a.skip"),
                        ...document.querySelectorAll("#share input:not([type=hidden]), #share button"),
                        ...document.querySelectorAll(".languages a")];
      return window.__stops.map(el => el.outerHTML.slice(0, 60));
    }""")
    assert len(stops) >= 5, stops  # skip link, title, button, two or more languages
    visited = []
    for _ in range(60):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS_SHOWN)
        if focus["what"].startswith("<body"):
            break  # past the end of the page
        visited.append(focus)
    assert visited and visited[0]["stop"] == 0, f"the first stop is {visited[:1]}, not the skip link"
    assert [f["stop"] for f in visited if f["stop"] >= 0] == list(range(len(stops))), \
        f"stops in this order: {stops}; the keyboard went: {[f['what'] for f in visited]}"
    assert [f["what"] for f in visited if not f["shown"]] == [], "no visible focus ring"

    page.evaluate("document.activeElement.blur()")  # the skip link moves the focus to the case
    tab_to(page, "window.__stops[0]")
    assert page.locator("a.skip").bounding_box()["x"] >= 0, "the focused skip link is off screen"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    context.close()


def test_the_lookup_form_works_by_keyboard_alone(browser: Browser, site: Site):
    context = new_context(browser, viewport=WIDE)
    page = context.new_page()
    slug = tenant_of("default")
    url = site.host.page("/keyboard", snippet(site.live.url, tenant=slug))
    open_page(page, url)
    inside = "document.querySelector('.tracker-lookup').shadowRoot"
    tab_to(page, "document.querySelector('.tracker-lookup')")
    assert page.evaluate(f"{inside}.activeElement.name") == "case"
    assert page.evaluate(FOCUS_SHOWN)["shown"]
    page.keyboard.type("4711")
    tab_to(page, "document.querySelector('.tracker-lookup')")
    assert page.evaluate(f"{inside}.activeElement.name") == "email"
    page.keyboard.type("ann@example.com")
    tab_to(page, "document.querySelector('.tracker-lookup')")
    assert page.evaluate(f"{inside}.activeElement.type") == "submit"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # submits from the field, as a form does
    expect(page.locator(".tracker-lookup [part=message]")).to_have_text("Case found.")
    expect(page.locator(".tracker-lookup tracker-case [part=title]")).to_contain_text("Invoice export fails")
    context.close()


# Live updates ------------------------------------------------------------------------------

def send(site: Site, theme: str, payload: dict[str, Any]) -> None:
    with httpx.Client(base_url=site.live.url, timeout=10) as http:
        assert post(http, payload, tenant=tenant_of(theme)).status_code == 202


def test_live_updates_are_announced_without_moving_the_focus(browser: Browser, site: Site):
    context = new_context(browser, viewport=WIDE)
    page, card_page = context.new_page(), context.new_page()
    open_page(page, site.tenants["default"].live)
    page.focus("#public-title")
    page.keyboard.type("My login problem")
    open_page(card_page, site.host.page("/live", snippet(site.live.url, [site.tenants["default"].live])))
    card_page.keyboard.press("Tab")  # onto the card's link
    focused = "document.querySelector('tracker-case').shadowRoot.activeElement"
    assert card_page.evaluate(f"{focused}.getAttribute('part')") == "link"
    for each in (page, card_page):
        each.evaluate("window.__focused = document.activeElement")

    send(site, "default", {**generic_payload("5001", waiting_on="customer", status_label="Need a screenshot"),
                           "message": {"id": "l1", "body": "Could you send a screenshot?", "public": True}})
    expect(page.locator("[data-announce]")).to_contain_text("Waiting on you")
    expect(page.locator(".status-label")).to_contain_text("Need a screenshot")
    assert page.evaluate("document.activeElement === window.__focused && document.activeElement.id") == "public-title"
    assert page.input_value("#public-title") == "My login problem"
    expect(card_page.locator("tracker-case .announce")).to_have_text("Case updated: Received, waiting on you")
    assert card_page.evaluate(f"document.activeElement === window.__focused && {focused}.getAttribute('part')") \
        == "link"
    context.close()


# Narrow screens ----------------------------------------------------------------------------

OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const rtl = getComputedStyle(document.documentElement).direction === "rtl";
  const wide = [...document.querySelectorAll("body *")].filter(el => rtl ? el.getBoundingClientRect().left < -0.5
                                                                     : el.getBoundingClientRect().right > width + 0.5);
  return {scroll: document.documentElement.scrollWidth,
          widest: wide.filter(el => !wide.includes(el.parentElement)).map(el => el.outerHTML.slice(0, 100))};
}"""


@pytest.mark.parametrize("look", [*THEMES, RTL])
def test_nothing_overflows_a_320_px_screen(browser: Browser, site: Site, look: str):
    context = new_context(browser, look, viewport=NARROW)
    page = context.new_page()
    pages = site.tenants[look]
    overflowing = []
    for name, url in {"case": pages.case, "private": pages.private, "solved": pages.solved, "public": pages.public,
                      "widget": pages.widget}.items():
        open_page(page, url)
        found = page.evaluate(OVERFLOW)
        if found["scroll"] > NARROW["width"]:
            overflowing.append(f"{name}: {found['scroll']} px wide; too wide: {found['widest']}")
    context.close()
    assert not overflowing, "\n".join(overflowing)


STEPS = """sel => [...document.querySelectorAll(sel)].map(li => {
  const box = li.getBoundingClientRect();
  return {top: Math.round(box.top), left: Math.round(box.left), right: Math.round(box.right),
          spills: li.scrollWidth > li.clientWidth + 1};
})"""


def stepper_layout(steps: list[dict[str, Any]]) -> str:
    """"row" (four side by side), "list" (one per line, aligned), or what else it is."""
    assert len(steps) == 4 and not any(s["spills"] for s in steps), steps
    if len({s["top"] for s in steps}) == 1:
        return "row"
    tops = [s["top"] for s in steps]
    if len({(s["left"], s["right"]) for s in steps}) == 1 and tops == sorted(set(tops)):
        return "list"
    return f"broken: {steps}"


@pytest.mark.parametrize("language", ["en", "de", "es", "fr", "ar"])
def test_the_stepper_is_one_row_or_a_deliberate_list_on_a_phone(browser: Browser, site: Site, language: str):
    pages = site.tenants["default"]
    layouts = {}
    for width in (420, 320):
        context = new_context(browser, RTL if language == RTL else "", viewport={"width": width, "height": 800})
        page = context.new_page()
        open_page(page, f"{pages.case}?lang={language}")
        layouts[width] = stepper_layout(page.evaluate(STEPS, ".stepper .step"))
        context.close()
    assert layouts[420] == "row", layouts  # "Closed" wrapped onto a row of its own here
    assert layouts[320] in ("row", "list"), layouts
