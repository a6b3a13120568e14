"""In Chromium: the customer makes a case public, shares it, and makes it private again; and no
hostile title or update executes on any surface (case page, public page, badge, oEmbed embed)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import HostSite
from tests.conftest import LiveServer, generic_payload, live_link, post

pytestmark = pytest.mark.browser
NOTE = "INTERNAL-55d2: do not tell the customer about the outage"
XSS = [
    '<img src=x onerror="window.__xss=1">',
    '"><script>window.__xss=1</script>',
    "<svg onload=window.__xss=1></svg>",
    "</textarea><script>window.__xss=1</script>",
    "</title><script>window.__xss=1</script>",
    "javascript:window.__xss=1",
    "{{ 7 * 7 }}",
]


def watched(browser: Browser) -> tuple[Page, list[str]]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


def test_customer_makes_the_case_public_then_private_again(live: LiveServer, browser: Browser):
    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, {**generic_payload(title="Printer jams", stage="in_progress", requester_email="ann@example.com"),
                    "message": {"id": "m1", "body": "Call me on +1 555 123 4567", "public": True,
                                "author": "Dana Surname"}})
        post(http, {**generic_payload(), "message": {"id": "n1", "body": NOTE, "public": False}})
    page, errors = watched(browser)
    page.goto(live_link(live))
    page.fill("#public-title", "Our office printer")
    page.click("text=Make this case public")
    expect(page.locator("text=Make private again")).to_be_visible()
    public_url = page.input_value("#share-link")
    assert public_url.startswith(live.url + "/p/")
    assert public_url in page.input_value("#share-badge") and "badge.svg" in page.input_value("#share-markdown")

    public, public_errors = watched(browser)
    public.goto(public_url)
    expect(public.locator("h1")).to_have_text("Our office printer")
    text = public.content()
    for secret in (NOTE, "Printer jams", "ann@example.com", "Surname", "555 123 4567"):
        assert secret not in text, secret
    expect(public.locator(".timeline")).to_contain_text("[phone number hidden]")

    page.click("text=Make private again")
    expect(page.locator("text=Make this case public")).to_be_visible()
    assert public.goto(public_url).status == 404  # type: ignore[union-attr]
    assert errors == []
    page.close()
    public.close()
    assert [e for e in public_errors if "404" not in e] == []  # the last load is the expected 404


def test_hostile_text_never_executes_on_any_surface(live: LiveServer, browser: Browser):
    with httpx.Client(base_url=live.url, timeout=10) as http:
        for n, payload in enumerate(XSS):
            post(http, {**generic_payload(title=payload, status_label=payload, stage="in_progress",
                                          next_steps=[{"text": payload, "owner": "customer"}]),
                        "message": {"id": f"x{n}", "body": payload, "public": True, "author": payload}})

        async def publish() -> None:
            stored = await live.app.state.store.get_case("acme", "generic", "4711")
            await live.app.state.store.set_public(stored.key, "xss-public", XSS[0])

        live.call(publish())
        case_url = live_link(live)
        public_url = live.url + "/p/xss-public"
        oembed: dict[str, Any] = http.get("/oembed", params={"url": public_url}).json()
    page, errors = watched(browser)
    for url in (case_url, public_url, public_url + "/badge.svg"):
        page.goto(url)
        page.wait_for_timeout(300)
        assert page.evaluate("window.__xss") is None, url
        assert ">49<" not in page.content(), url  # no template ran on the text
    expect(page.locator("svg")).to_have_count(1)
    site = HostSite()
    try:
        page.goto(site.page("/post", oembed["html"]))  # a site that pastes the oEmbed html, as consumers do
        expect(page.get_by_text("The support team is working on it")).to_be_visible()  # the live card rendered
    finally:
        site.close()
    assert page.evaluate("window.__xss") is None
    assert errors == []
    page.close()


def test_the_share_button_copies_the_link_where_there_is_no_share_sheet(live: LiveServer, browser: Browser):
    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, generic_payload(title="Printer jams"))
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    page = context.new_page()
    page.add_init_script("delete Navigator.prototype.share")  # a desktop browser without a share sheet
    link = live_link(live)
    page.goto(link)
    page.click("text=Share or copy the link")
    expect(page.locator("[data-announce]")).to_have_text("Link copied")
    assert page.evaluate("navigator.clipboard.readText()") == link
    context.close()
