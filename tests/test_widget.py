"""The embed widget as a company's site uses it: the documented snippet on a page of another
origin, in Debian's Chromium, under a strict Content-Security-Policy."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from tests.browser import HostSite
from tests.conftest import ROOT, LiveServer, free_port, generic_payload, live_link, post, suite_clock
from tracker.admin import add_tenant
from tracker.app import create_app
from tracker.clock import Clock
from tracker.config import Settings
from tracker.web.embed import minified
from tracker.web.lookup import CASE_ATTEMPTS_PER_MINUTE, CLIENT_ATTEMPTS_PER_MINUTE

WIDGET = ROOT / "widget" / "widget.js"
STYLESHEET = ROOT / "themes" / "default" / "static" / "widget.css"
DOCS = ROOT / "docs" / "embedding.md"
MAX_GZIPPED_BYTES = 6 * 1024
PROPERTIES = ["--tracker-accent", "--tracker-bg", "--tracker-fg", "--tracker-muted", "--tracker-border",
              "--tracker-radius", "--tracker-font", "--tracker-you"]
PARTS = ["card", "title", "number", "stage", "turn", "status", "progress", "expected", "next-step", "update",
         "updated", "link", "subscribe", "lookup", "field", "input", "button", "message", "problem", "cases",
         "closed", "problems"]
NO_MATCH = "No case matches this number and e-mail address."
TOO_MANY = "Too many attempts. Try again in a minute."


def test_widget_fits_its_size_budget():
    """As served: minified (the browser tests below run that form)."""
    assert len(gzip.compress(minified(WIDGET.read_text()), compresslevel=9)) <= MAX_GZIPPED_BYTES



def test_widget_never_parses_html_or_runs_strings_as_code():
    source = WIDGET.read_text()
    forbidden = r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function|\.style\b|\"style\"" \
                r"|\.on[a-z]+\s*=|setAttribute\(\"on|localStorage|sessionStorage|document\.cookie"
    assert re.findall(forbidden, source) == []
    assert source.lstrip().startswith("//") and '"use strict";' in source


def test_every_part_is_rendered_styled_and_documented():
    source, css, docs = WIDGET.read_text(), STYLESHEET.read_text(), DOCS.read_text()
    for part in PARTS:
        assert f'"{part}"' in source, part
        assert f"| `{part}` |" in docs, part
    for name in PROPERTIES:
        assert re.search(rf"^\s+{name}:", css, flags=re.M), name
        assert f"| `{name}` |" in docs, name
    assert "prefers-color-scheme: dark" in css


def contrast(foreground: str, background: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    lighter, darker = sorted([luminance(foreground), luminance(background)], reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_text_colours_meet_wcag_aa_in_light_and_dark():
    css = STYLESHEET.read_text()
    light = dict(re.findall(r"^  (--tracker-[a-z-]+): (#[0-9a-f]{6});", css, flags=re.M))
    dark = {**light, **dict(re.findall(r"^    (--tracker-[a-z-]+): (#[0-9a-f]{6});", css, flags=re.M))}
    assert dark != light
    pairs = [("fg", "bg"), ("muted", "bg"), ("accent", "bg"), ("accent-fg", "accent"), ("you", "you-bg"),
             ("fg", "you-bg")]
    for scheme in (light, dark):
        for fg, bg in pairs:
            ratio = contrast(scheme[f"--tracker-{fg}"], scheme[f"--tracker-{bg}"])
            assert ratio >= 4.5, f"{fg} on {bg}: {ratio:.2f}"


def test_docs_give_the_snippet_and_the_policy_lines():
    docs = DOCS.read_text()
    assert "script-src BASE_URL; connect-src BASE_URL; style-src BASE_URL; img-src BASE_URL" in docs
    assert 'class="tracker-case"' in snippet_template() and 'class="tracker-lookup"' in snippet_template()


# In the browser ---------------------------------------------------------------------------

def snippet_template() -> str:
    [html] = re.findall(r"## The snippet\n\n```html\n(.+?)\n```", DOCS.read_text(), flags=re.S)
    return str(html)


def snippet(base_url: str, links: Sequence[str] = (), tenant: str | None = None) -> str:
    """The documented snippet, filled in: a case link per entry, a lookup form if a tenant is given."""
    lines = snippet_template().replace("BASE_URL", base_url).splitlines()
    link, lookup, script = lines
    body = [link.replace("CASE_OR_PUBLIC_URL", url) for url in links]
    if tenant:
        body.append(lookup.replace("SLUG", tenant))
    return "\n".join([*body, script])


def strict_policy(base_url: str) -> str:
    return (f"default-src 'none'; script-src {base_url}; connect-src {base_url}; style-src {base_url}; "
            f"img-src {base_url}")


@pytest.fixture(scope="module")
def host() -> Iterator[HostSite]:
    site = HostSite()
    yield site
    site.close()


# Before any page script: count the streams the widget opens, and every policy violation.
WATCH = """
window.__sources = []; window.__violations = [];
const Native = window.EventSource;
window.EventSource = class extends Native {
  constructor(...args) { super(...args); window.__sources.push(this); }
};
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(e.violatedDirective));
"""


class Tab:
    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.page: Page = context.new_page()
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.page.on("console", self.on_console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)
        elif message.type == "warning":
            self.warnings.append(message.text)

    def assert_polite(self, answered: tuple[int, ...] = ()) -> None:
        """No errors (but Chromium's note on each HTTP status in `answered`), no policy violations,
        no cookies, no injected script ran."""
        noted = tuple(f"Failed to load resource: the server responded with a status of {s} " for s in answered)
        assert [e for e in self.errors if not e.startswith(noted)] == []
        assert self.page.evaluate("window.__violations") == []
        assert self.context.cookies() == []
        assert self.page.evaluate("window.__xss") is None


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context(locale="en-US", timezone_id="Europe/Berlin")
    context.add_init_script(WATCH)
    yield Tab(context)
    context.close()


def send(live: LiveServer, payload: dict[str, Any]) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as http:
        assert post(http, payload).status_code == 202


def make_public(live: LiveServer, case_id: str, public_id: str) -> str:
    store = live.app.state.store
    stored = live.call(store.get_case("acme", "generic", case_id))
    live.call(store.set_public(stored.key, public_id, None))
    return f"{live.url}/p/{public_id}"


@pytest.mark.browser
def test_card_renders_and_updates_live_under_a_strict_policy(live: LiveServer, host: HostSite, tab: Tab):
    expected_by = (suite_clock().now() + timedelta(hours=3, minutes=1)).isoformat()
    send(live, {**generic_payload(title="Invoice export fails", stage="received", waiting_on="company",
                                  progress=20, expected_by=expected_by,
                                  next_steps=[{"text": "Reproduce the bug", "owner": "company", "done": True},
                                              {"text": "Send the CSV file", "owner": "customer", "done": False}]),
                "message": {"id": "m1", "body": "We are on it.", "public": True, "author": "Dana"}})
    link = live_link(live)
    page = tab.page
    page.goto(host.page("/strict", snippet(live.url, [link]), strict_policy(live.url)))

    card = page.locator("tracker-case")
    expect(card.locator("[part=title]")).to_have_text("Invoice export fails")
    expect(card.locator("[part=number]")).to_have_text("Case 4711 · ACME Support")
    expect(card.locator('[part=stage] [aria-current="step"]')).to_have_text("Received")
    expect(card.locator("[part=turn]")).to_have_text("The support team is working on it")
    expect(card.locator("[part=progress]")).to_contain_text("20%")
    expect(card.locator("[part=expected]")).to_have_text(re.compile(r"^Expected by \w{3} .+, in 3 hours$"))
    expect(card.locator("[part=next-step]")).to_have_text("Next step · You: Send the CSV file")
    expect(card.locator("[part=update]")).to_contain_text("We are on it.")
    expect(card.locator("[part=update]")).to_contain_text("Dana")
    expect(card.locator("[part=updated]")).to_contain_text("Last update")
    expect(card.locator("a[part=link]")).to_have_attribute("href", link)
    expect(card.locator("a[part=link]")).to_have_text("Open the case page")
    # The stylesheet loads despite the policy (waited for: it may come after the card's text).
    page.wait_for_function("getComputedStyle(document.querySelector('tracker-case').shadowRoot"
                           ".querySelector('.card')).borderTopStyle === 'solid'", timeout=5000)
    page.evaluate("window.__sameDocument = true")

    send(live, {**generic_payload(stage="in_progress", waiting_on="customer", status_label="Need your CSV"),
                "message": {"id": "m2", "body": "Please send the CSV file.", "public": True, "author": "Dana"}})
    expect(card.locator("[part=turn]")).to_contain_text("Waiting on you")
    expect(card.locator('[part=stage] [aria-current="step"]')).to_have_text("In progress")
    expect(card.locator("[part=status]")).to_have_text("Status: Need your CSV")
    expect(card.locator("[part=update]")).to_contain_text("Please send the CSV file.")
    expect(card.locator("[aria-live=polite]")).to_have_text("Case updated: In progress, waiting on you")
    assert page.evaluate("window.__sameDocument") is True
    tab.assert_polite()

    # The policy was in force: the page itself may not add an inline style.
    page.evaluate("document.head.append(Object.assign(document.createElement('style'), {textContent: 'h1{}'}))")
    page.wait_for_function("window.__violations.includes('style-src-elem')")


def open_stream(page: Page, cases: int) -> str:
    """The URL of the page's one open live connection, once it follows `cases` cases."""
    page.wait_for_function("""n => {
        const open = window.__sources.filter(s => s.readyState !== 2);
        return open.length === 1 && open[0].readyState === 1 && new URL(open[0].url).searchParams.size === n;
    }""", arg=cases)
    return str(page.evaluate("window.__sources.find(s => s.readyState === 1).url"))


@pytest.mark.browser
def test_several_cards_on_one_page_and_cards_added_or_removed_later(live: LiveServer, host: HostSite, tab: Tab):
    send(live, generic_payload("4711", title="Invoice export fails", stage="in_progress"))
    send(live, generic_payload("4712", title="Cannot log in", stage="received", waiting_on="third_party"))
    send(live, generic_payload("4713", title="Printer on fire", stage="resolved"))
    private, public = live_link(live, "4711"), make_public(live, "4712", "pub-4712")
    # The script twice, as a site may include it from two templates: still one card per link.
    body = snippet(live.url, [private, public]) + f'\n<script async src="{live.url}/widget.js"></script>'
    page = tab.page
    page.clock.install(time=suite_clock().now())
    page.goto(host.page("/two", body, strict_policy(live.url)))

    titles = page.locator("tracker-case [part=title]")
    expect(titles).to_have_text(["Invoice export fails", "Cannot log in"])
    expect(page.locator("tracker-case [part=turn]").nth(1)).to_have_text("Waiting on a third party")
    page.evaluate("""url => {
        const a = document.createElement("a");
        a.className = "tracker-case"; a.href = url; a.textContent = "Case 4713";
        document.body.append(a);
    }""", live_link(live, "4713"))
    expect(titles).to_have_text(["Invoice export fails", "Cannot log in", "Printer on fire"])
    expect(page.locator("tracker-case [part=turn]").nth(2)).to_have_text("This case is resolved.")
    # One connection for every card: opened again, with all three, once the third came.
    assert open_stream(page, cases=3).startswith(f"{live.url}/live?")

    page.evaluate("document.querySelector('tracker-case').remove()")  # the card of 4711
    assert private.rsplit("/c/", 1)[1] not in open_stream(page, cases=2)
    send(live, generic_payload("4712", stage="in_progress", waiting_on="customer"))
    expect(page.locator("tracker-case [part=turn]").first).to_contain_text("Waiting on you")

    page.clock.fast_forward("03:00")  # one timer brings every card's times up to date
    expect(page.locator("tracker-case [part=updated]")).to_have_text(["Last update: 3 minutes ago"] * 2)
    tab.assert_polite()


@pytest.mark.browser
def test_a_broken_link_stays_a_plain_link_and_says_why(live: LiveServer, host: HostSite, tab: Tab):
    send(live, generic_payload(title="Invoice export fails"))
    link = live_link(live)
    tampered = link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB")
    body = snippet(live.url, [tampered, f"{live.url}/p/no-such-case", "javascript:window.__xss=1"])
    page = tab.page
    page.goto(host.page("/broken", body, strict_policy(live.url)))

    fallbacks = page.locator('a.tracker-case[data-tracker="fallback"]')
    expect(fallbacks).to_have_count(3)
    expect(fallbacks).to_have_text(["Case 4711: status"] * 3)
    assert page.locator("tracker-case").count() == 0
    assert fallbacks.evaluate_all("l => l.every(a => a.getRootNode() === document)")
    assert len([w for w in tab.warnings if w.startswith("[tracker] ")]) == 3
    assert page.evaluate("window.__sources.length") == 0
    assert page.evaluate("window.__xss") is None
    assert tab.context.cookies() == []


@pytest.mark.browser
def test_lookup_shows_the_case_for_number_and_email_and_nothing_else(live: LiveServer, host: HostSite, tab: Tab):
    send(live, generic_payload("4711", title="Invoice export fails", requester_email="ann@example.com"))
    page = tab.page
    page.goto(host.page("/lookup", snippet(live.url, tenant="acme"), strict_policy(live.url)))
    form = page.locator(".tracker-lookup [part=lookup]")
    message = form.locator("[part=message]")
    button = form.get_by_role("button", name="Look up the case")
    assert message.get_attribute("role") == "status"

    def look_up(case: str, email: str) -> str:
        form.get_by_label("Case number").fill(case)
        form.get_by_label("E-mail address").fill(email)
        button.click()
        expect(button).to_be_enabled()
        return message.inner_text()

    assert look_up("4711", " Ann@Example.com ") == "Case found."
    expect(page.locator(".tracker-lookup tracker-case [part=title]")).to_have_text("Invoice export fails")
    expect(page.locator(".tracker-lookup tracker-case a[part=link]")).to_have_attribute(
        "href", re.compile(re.escape(live.url) + "/c/"))
    assert look_up("4711", "eve@example.com") == NO_MATCH
    assert look_up("9999", "ann@example.com") == NO_MATCH
    tab.assert_polite(answered=(404,))

    # Case 4711 has had two tries; the server allows CASE_ATTEMPTS_PER_MINUTE per case (and more per client).
    assert CLIENT_ATTEMPTS_PER_MINUTE > CASE_ATTEMPTS_PER_MINUTE + 1
    answers = [look_up("4711", "eve@example.com") for _ in range(CASE_ATTEMPTS_PER_MINUTE)]
    assert answers == [NO_MATCH] * (CASE_ATTEMPTS_PER_MINUTE - 2) + [TOO_MANY] * 2
    assert look_up("4711", "ann@example.com") == TOO_MANY  # even the right address, until the minute is up
    tab.assert_polite(answered=(404, 429))


XSS = [
    "<img src=x onerror=window.__xss=1>",
    '"><script>window.__xss=1</script>',
    "javascript:window.__xss=1",
    "</style><svg onload=window.__xss=1>",
    "<svg><script>window.__xss=1</script></svg>",
    "{{7*7}} ${window.__xss=1} <a href=javascript:window.__xss=1>click</a>",
]


@pytest.mark.browser
def test_hostile_text_is_shown_as_text(live: LiveServer, host: HostSite, tab: Tab):
    title, label, step, body = XSS[0] + XSS[5], XSS[1], XSS[3], "\n".join(XSS)
    send(live, {**generic_payload(title=title, status_label=label, waiting_on="customer",
                                  next_steps=[{"text": step, "owner": "customer", "done": False}]),
                "message": {"id": "m1", "body": body, "public": True, "author": XSS[4]}})
    page = tab.page
    page.goto(host.page("/xss", snippet(live.url, [live_link(live)])))  # no policy to hide behind
    card = page.locator("tracker-case")
    expect(card.locator("[part=title]")).to_have_text(title)
    expect(card.locator("[part=status]")).to_have_text("Status: " + label)
    expect(card.locator("[part=next-step]")).to_have_text("Next step · You: " + step)
    expect(card.locator("[part=update] .body")).to_have_text(body)
    expect(card.locator("[part=update] .meta")).to_contain_text(XSS[4])
    ours = "a:not([part=link]):not([part=subscribe])"  # the card's own two links
    assert card.evaluate(f"h => h.shadowRoot.querySelectorAll('img, script, svg, style, {ours}').length") == 0
    tab.assert_polite()


@pytest.mark.browser
def test_words_come_once_per_page_in_the_readers_language(live: LiveServer, host: HostSite, browser: Browser):
    send(live, generic_payload("4711", title="Invoice export fails", stage="received"))
    send(live, generic_payload("4712", title="Cannot log in", stage="in_progress"))
    links = [live_link(live, "4711"), live_link(live, "4712")]
    first, *others = snippet(live.url, links, tenant="acme").splitlines()
    body = "\n".join([first.replace("<a ", '<a data-lang="de" '), *others])
    context = browser.new_context(locale="de-DE", timezone_id="Europe/Berlin")
    context.add_init_script(WATCH)
    tab = Tab(context)
    asked: list[str] = []
    tab.page.on("request", lambda r: asked.append(r.url) if "/widget/text.json" in r.url else None)
    tab.page.goto(host.page("/words", body, strict_policy(live.url)))

    expect(tab.page.locator("tracker-case [part=title]")).to_have_count(2)
    expect(tab.page.locator(".tracker-lookup [part=lookup]")).to_be_visible()
    assert asked == [f"{live.url}/widget/text.json?lang=de&tenant=acme"]  # once, for two cards and a form
    with httpx.Client(timeout=10) as http:  # what the server answers this reader (English until de has a catalog)
        words = http.get(asked[0], headers={"Accept-Language": "de-DE,de;q=0.9"}).json()
    roots = "[...document.querySelectorAll('tracker-case, .tracker-lookup')].map(h => h.shadowRoot.children[0])"
    assert tab.page.evaluate(f"{roots}.map(r => [r.localName, r.lang, r.dir])") == [
        ["section", words["lang"], words["dir"]], ["section", words["lang"], words["dir"]],
        ["form", words["lang"], words["dir"]]]
    expect(tab.page.locator('tracker-case [part=stage] [aria-current="step"]').first).to_have_text(
        words["text"]["stages"]["received"])
    expect(tab.page.locator(".tracker-lookup [part=button]")).to_have_text(words["text"]["submit"])
    tab.assert_polite()
    context.close()


def answering(answer: dict[str, Any]) -> Callable[[Any], None]:
    return lambda route: route.fulfill(headers={"Access-Control-Allow-Origin": "*"}, **answer)


@pytest.mark.browser
def test_the_words_come_from_tracker_and_without_them_the_plain_link_stays(live: LiveServer, host: HostSite,
                                                                            tab: Tab):
    send(live, generic_payload("4711", title="Invoice export fails", stage="received"))
    with httpx.Client(timeout=10) as http:
        arabic = http.get(f"{live.url}/widget/text.json?lang=ar").json()
    arabic["text"]["__proto__"] = {"polluted": "yes"}
    page = tab.page
    page.route("**/widget/text.json*", lambda route: route.fulfill(
        json=arabic, headers={"Access-Control-Allow-Origin": "*"}))
    page.goto(host.page("/arabic", snippet(live.url, [live_link(live)], tenant="acme"), strict_policy(live.url)))
    card, form = page.locator("tracker-case [part=card]"), page.locator(".tracker-lookup [part=lookup]")
    expect(card.locator('[part=stage] [aria-current="step"]')).to_have_text(arabic["text"]["stages"]["received"])
    expect(card.locator("a[part=link]")).to_have_text(arabic["text"]["open"])
    expect(form.locator("[part=button]").first).to_have_text(arabic["text"]["submit"])
    for root in (card, form):
        expect(root).to_have_attribute("lang", "ar")
        expect(root).to_have_attribute("dir", "rtl")
    now = page.evaluate("new Intl.RelativeTimeFormat('ar', {numeric: 'auto'}).format(0, 'second')")
    expect(card.locator("[part=updated] time")).to_have_text(now)  # times in the words' language
    assert page.evaluate("({}).polluted") is None
    tab.assert_polite()

    for broken in ({"status": 500, "body": "no"}, {"json": {"lang": "en", "text": "not words"}}):
        page.unroute("**/widget/text.json*")
        page.route("**/widget/text.json*", answering(broken))
        page.goto(host.page("/broken", snippet(live.url, [live_link(live)], tenant="acme"), strict_policy(live.url)))
        expect(page.locator("a.tracker-case")).to_have_attribute("data-tracker", "fallback")
        expect(page.locator("a.tracker-case")).to_be_visible()
        assert page.locator("tracker-case").count() == 0
        assert page.evaluate("document.querySelector('.tracker-lookup').shadowRoot") is None
        assert any(w.startswith("[tracker] could not load") for w in tab.warnings)
        tab.warnings.clear()


@pytest.mark.browser
def test_a_card_wears_its_tenants_brand_colour(live: LiveServer, host: HostSite, tab: Tab):
    live.call(add_tenant(live.app.state.store, "acme", None, None, {"accent_colour": "#6b2fb3"}))
    send(live, generic_payload("4711", title="Invoice export fails"))
    tab.page.goto(host.page("/brand", snippet(live.url, [live_link(live)]), strict_policy(live.url)))
    card = tab.page.locator("tracker-case [part=card]")
    expect(card).to_be_visible()
    sheets = tab.page.evaluate("[...document.querySelector('tracker-case').shadowRoot.querySelectorAll('link')]"
                               ".map(l => l.href)")
    assert sheets == [f"{live.url}/themes/default/widget.css", f"{live.url}/brand/acme.css"]
    assert card.evaluate("c => getComputedStyle(c).getPropertyValue('--tracker-accent').trim()") == "#6b2fb3"
    tab.assert_polite()


@pytest.mark.browser
def test_a_quiet_case_says_so_on_its_card(live: LiveServer, host: HostSite, tab: Tab):
    two_days_ago = (suite_clock().now() - timedelta(days=2)).isoformat()
    send(live, {**generic_payload(title="Quiet one", stage="in_progress"), "occurred_at": two_days_ago,
                "message": {"id": "m1", "body": "Looking into it", "public": True}})
    page = tab.page
    page.goto(host.page("/quiet", snippet(live.url, [live_link(live)])))
    card = page.locator("tracker-case")
    expect(card.locator("[part=quiet]")).to_have_text("No public update for a while.")
    live.call(add_tenant(live.app.state.store, "acme", None, None, {"webhook_url": "http://127.0.0.1:9/hook"}))
    page.reload()
    expect(card.locator("[part=quiet]")).to_have_text("No public update for a while. We have reminded the team.")
    tab.assert_polite()


@pytest.mark.browser
def test_fifty_cards_and_a_lookup_share_one_connection_and_miss_nothing_across_a_restart(
        live: LiveServer, host: HostSite, tab: Tab, settings: Settings, clock: Clock):
    cases = [str(n) for n in range(6001, 6051)]
    for case_id in cases:
        send(live, generic_payload(case_id, title=f"Case {case_id}", stage="received",
                                   requester_email="ann@example.com"))
    page = tab.page
    page.goto(host.page("/fifty", snippet(live.url, [live_link(live, c) for c in cases], tenant="acme"),
                        strict_policy(live.url)))
    expect(page.locator("tracker-case")).to_have_count(50)
    open_stream(page, cases=50)

    # The lookup answers while fifty cards are live, and its card joins the same connection.
    form = page.locator(".tracker-lookup [part=lookup]")
    form.get_by_label("Case number").fill("6050")
    form.get_by_label("E-mail address").fill("ann@example.com")
    form.get_by_role("button", name="Look up the case").click()
    expect(form.locator("[part=message]")).to_have_text("Case found.")
    open_stream(page, cases=51)
    turns = page.locator("tracker-case [part=turn]")
    for case_id in cases:
        send(live, generic_payload(case_id, stage="in_progress", waiting_on="customer"))
    expect(turns).to_have_text([re.compile("^Waiting on you")] * 51)

    # The server stops; while the page cannot reach it, every case changes (through another
    # instance on the same database), and then the server is back.
    live.__exit__(None, None, None)
    page.wait_for_function("window.__sources.every(s => s.readyState === 2)")
    tries = page.evaluate("window.__sources.length")
    side_port = free_port()
    side = replace(settings, port=side_port, base_url=f"http://127.0.0.1:{side_port}")
    with LiveServer(create_app(side, clock), side_port) as other:
        for case_id in cases:
            send(other, generic_payload(case_id, stage="resolved", waiting_on="company"))
    page.wait_for_function("n => window.__sources.length > n", arg=tries)  # it tried while we were away
    with LiveServer(create_app(settings, clock), settings.port):
        expect(turns).to_have_text(["This case is resolved."] * 51, timeout=30_000)
        resumed = open_stream(page, cases=51)
    revisions = [value.rpartition("~")[2] for _, value in parse_qsl(urlsplit(resumed).query)]
    assert all(r.isdigit() and int(r) >= 2 for r in revisions), resumed  # each card from where it stood
    # What a stop leaves in the console: the refused reconnects, and the streams uvicorn cut
    # when its graceful shutdown timed out.
    tab.errors = [e for e in tab.errors if not re.search("ERR_CONNECTION_REFUSED|ERR_INCOMPLETE_CHUNKED_ENCODING", e)]
    tab.assert_polite()
