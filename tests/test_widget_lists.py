"""The widget's lists and a card's problem, in Chromium on a company's page: a signed-in
customer's cases (`a.tracker-cases`) beside a card on the page's one connection, the company's
known problems (`div.tracker-problems`), a linked case's problem on its card, and the lookup's
"E-mail me links to all my cases"."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser import HostSite
from tests.conftest import LiveServer, _setup_acme, generic_payload, live_link, post
from tests.mailbox import Mailbox, smtp_server, text_of
from tests.test_problems import CANARY, problem_payload
from tests.test_widget import Tab, host, send, snippet, strict_policy, tab
from tracker.admin import add_tenant
from tracker.app import create_app
from tracker.clock import Clock
from tracker.config import Settings
from tracker.storage.base import ProblemNotes

__all__ = ["host", "tab"]  # fixtures, shared with the widget's other tests
SCRIPT = '<script async src="{}/widget.js"></script>'
OPEN_SOURCES = "window.__sources.filter(source => source.readyState !== EventSource.CLOSED).length"
NOTE = "INTERNAL-5be1: customer is on the refund watch list"


def list_link(live: LiveServer, email: str = "ann@example.com") -> str:
    async def sign() -> str:
        return f"{live.url}/r/{live.app.state.signer.sign_requester('acme', email)}"
    return str(live.call(sign()))


def in_shadow(tab: Tab, selector: str) -> Any:
    return tab.page.locator(f"tracker-case {selector}")


@pytest.mark.browser
def test_a_signed_in_customers_cases_live_beside_a_card_on_one_connection(live: LiveServer, host: HostSite,
                                                                            tab: Tab):
    send(live, generic_payload("1", title="Invoice export fails", stage="in_progress",
                               requester_email="ann@example.com"))
    send(live, {**generic_payload("2", title="Refund missing", stage="in_progress", waiting_on="customer",
                                  requester_email="Ann@Example.com"),
                "message": {"id": "n-1", "body": NOTE, "public": False}})
    send(live, generic_payload("9", title="Bob's printer", requester_email="bob@example.com"))
    body = (f'<a class="tracker-case" href="{live_link(live, "9")}">Case 9</a>\n'
            f'<a class="tracker-cases" href="{list_link(live)}">My cases</a>\n' + SCRIPT.format(live.url))
    tab.page.goto(host.page("/account", body, strict_policy(live.url)))

    entries = in_shadow(tab, "[part=cases] li")
    expect(entries).to_have_count(2)
    expect(entries.first).to_contain_text("Refund missing")  # the customer's move first
    expect(entries.first.locator("strong")).to_have_text(" \u00b7 Waiting on you")
    expect(in_shadow(tab, "[part=number] a[part=link]")).to_have_text("Your cases")
    assert tab.page.evaluate(OPEN_SOURCES) == 1  # the card and the list share one
    assert "Bob" not in in_shadow(tab, "[part=cases]").inner_text()

    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, generic_payload("1", stage="resolved"))
        expect(in_shadow(tab, "[part=closed] summary")).to_have_text("1 closed case", timeout=5000)
        expect(entries).to_have_count(1)
        post(http, generic_payload("3", title="Password reset", stage="received", requester_email="ann@example.com"))
        expect(entries).to_have_count(2, timeout=5000)
        expect(entries.nth(1)).to_contain_text("Password reset")
    assert NOTE not in tab.page.evaluate("document.querySelectorAll('tracker-case')[1].shadowRoot.textContent")
    tab.assert_polite()

    with tab.page.expect_navigation():
        entries.first.locator("a").click()
    expect(tab.page.get_by_role("heading", name="Refund missing")).to_be_visible()


@pytest.mark.browser
def test_fifty_cards_and_a_list_of_two_hundred_cases_on_one_page(live: LiveServer, host: HostSite, tab: Tab):
    from tracker.cases import Event
    now = live.app.state.clock.now()
    events = [Event(str(n), f"d{n}", now, {"title": f"Case number {n}", "requester_email": "ann@example.com",
                                          "stage": "closed" if n % 4 == 0 else "in_progress"}) for n in range(200)]
    live.call(live.app.state.store.ingest("acme", "generic", events))
    cards = [f'<a class="tracker-case" href="{live_link(live, str(n))}">Case {n}</a>' for n in range(1, 100, 2)]
    body = "\n".join([*cards, f'<a class="tracker-cases" href="{list_link(live)}">My cases</a>',
                      SCRIPT.format(live.url)])
    tab.page.goto(host.page("/many", body, strict_policy(live.url)))
    expect(tab.page.locator("tracker-case [part=title]")).to_have_count(50)
    expect(in_shadow(tab, "[part=cases] > li")).to_have_count(150)
    expect(in_shadow(tab, "[part=closed] summary")).to_have_text("50 closed cases")
    assert tab.page.evaluate(OPEN_SOURCES) == 1
    tab.assert_polite()


def listed_problem(live: LiveServer) -> None:
    live.call(live.app.state.store.set_problem_notes(ProblemNotes(
        "acme", "generic", "P-1", "Exports fail for large invoices", "We are rolling out a fix.", True)))
    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, problem_payload(stage="in_progress", expected_by=live.app.state.clock.now().isoformat()))
        for case_id, email in (("4711", "ann@example.com"), ("4712", "bob@example.com")):
            post(http, generic_payload(case_id, title="Invoice export fails", stage="in_progress",
                                       requester_email=email, problem={"source": "generic", "id": "P-1"}))
        # A case linked anew gets the count of its moment; the problem's next move tells every one the count.
        post(http, problem_payload(stage="in_progress", progress=10,
                                   expected_by=live.app.state.clock.now().isoformat()))


@pytest.mark.browser
def test_a_linked_cases_card_and_the_known_problems_follow_the_problem(live: LiveServer, host: HostSite, tab: Tab):
    listed_problem(live)
    body = (f'<a class="tracker-case" href="{live_link(live)}">Case 4711</a>\n'
            '<div class="tracker-problems" data-tenant="acme"></div>\n' + SCRIPT.format(live.url))
    tab.page.goto(host.page("/status", body, strict_policy(live.url)))
    problem = tab.page.locator("tracker-case [part=problem]")
    expect(problem).to_contain_text("Linked to a known problem: Exports fail for large invoices", timeout=5000)
    expect(problem).to_contain_text("The problem is in progress.")
    expect(problem).to_contain_text("1 other customer is affected.")
    known = tab.page.locator(".tracker-problems [part=problems] li")
    expect(known).to_have_count(1)
    expect(known).to_contain_text("Exports fail for large invoices")
    expect(known).to_contain_text("2 open cases are linked to it.")
    expect(known.locator(".label")).to_have_text("In progress")
    assert tab.page.evaluate(OPEN_SOURCES) == 1

    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, problem_payload(stage="resolved"))
    expect(problem).to_contain_text("A fix is out. Is it solved for you?", timeout=5000)
    expect(known.locator(".label")).to_have_text("Resolved", timeout=5000)
    for shown in (problem, tab.page.locator(".tracker-problems [part=problems]")):
        assert CANARY not in shown.inner_text()
    tab.assert_polite()


@pytest.mark.browser
def test_a_card_and_a_page_show_the_problems_move_before_the_snapshot_reaches_the_case(
        live: LiveServer, host: HostSite, tab: Tab):
    """The stream's `problem` frame alone: with the delivery worker stopped, no snapshot is
    written into the linked case, and the card and the open page still show the move."""
    live.call(add_tenant(live.app.state.store, "acme", None, None, {"problem_fix_resolves": "yes"}))
    listed_problem(live)
    link = live_link(live)
    tab.page.goto(host.page("/status", f'<a class="tracker-case" href="{link}">Case 4711</a>\n'
                            + SCRIPT.format(live.url), strict_policy(live.url)))
    problem = in_shadow(tab, "[part=problem]")
    expect(problem).to_contain_text("Progress: 10%", timeout=5000)
    live.call(live.app.state.deliverer.stop())
    before = live.call(live.app.state.store.get_case("acme", "generic", "4711"))

    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, problem_payload(stage="resolved", progress=100))
    expect(problem).to_contain_text("A fix is out. Is it solved for you?", timeout=5000)
    expect(problem).to_contain_text("Progress: 100%")
    expect(in_shadow(tab, "[part=stage] [aria-current=step]")).to_have_text("Resolved")  # problem_fix_resolves
    assert CANARY not in problem.inner_text()

    tab.page.goto(link)
    expect(tab.page.locator("section.problem")).to_contain_text("A fix is out.")
    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, problem_payload(stage="closed", progress=100))
        post(http, problem_payload(stage="in_progress", progress=20))  # reopened: a newer move than the page's
    expect(tab.page.locator("section.problem")).to_contain_text("Progress: 20%", timeout=5000)
    expect(tab.page.locator("section.problem")).to_contain_text("The problem is in progress.")
    after = live.call(live.app.state.store.get_case("acme", "generic", "4711"))
    assert after.seq == before.seq  # nothing was written into the case: the frames alone moved it
    assert CANARY not in tab.page.content()
    tab.assert_polite()


@pytest.fixture
def mailing_live(settings: Settings, clock: Clock) -> Iterator[tuple[LiveServer, Mailbox]]:
    with smtp_server() as (url, box):
        app = create_app(replace(settings, smtp_url=url, mail_from="ACME Support <support@acme.example>"), clock)
        with LiveServer(app, settings.port) as server:
            server.call(_setup_acme(app))
            yield server, box


@pytest.mark.browser
def test_the_lookup_offers_links_to_all_my_cases_by_mail(mailing_live: tuple[LiveServer, Mailbox],
                                                          host: HostSite, tab: Tab):
    live, box = mailing_live
    send(live, generic_payload("1", title="Invoice export fails", requester_email="ann@example.com"))
    tab.page.goto(host.page("/help", snippet(live.url, tenant="acme"), strict_policy(live.url)))
    form = tab.page.locator(".tracker-lookup [part=lookup]")
    offer = form.get_by_role("button", name="E-mail me links to all my cases")
    offer.click()
    assert tab.page.evaluate("window.__sources.length") == 0
    form.get_by_label("E-mail address").fill("ann@example.com")
    offer.click()
    expect(form.locator("[part=message]")).to_have_text(
        "If we have cases for this address, a mail with the link to them is on its way.")
    [mail] = box.wait_for(1)
    assert mail["To"] == "ann@example.com" and f"{live.url}/r/" in text_of(mail)
    form.get_by_label("E-mail address").fill("nobody@example.com")
    offer.click()
    expect(form.locator("[part=message]")).to_have_text(
        "If we have cases for this address, a mail with the link to them is on its way.")
    tab.assert_polite()


@pytest.mark.browser
def test_without_mail_the_lookup_does_not_offer_links(live: LiveServer, host: HostSite, tab: Tab):
    tab.page.goto(host.page("/help", snippet(live.url, tenant="acme"), strict_policy(live.url)))
    form = tab.page.locator(".tracker-lookup [part=lookup]")
    expect(form.locator("[part=button]")).to_have_count(1)
    expect(form.locator("[part=button]")).to_have_text("Look up the case")
