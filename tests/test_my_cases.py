"""My cases: the signed list of one requester's cases in a tenant, from every source, live;
its token opens no case and no case link opens it; another requester's or tenant's cases never
show; and it holds two hundred cases."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.conftest import generic_payload, link_for, post
from tests.test_admin_api import bearer, make_key
from tracker.admin import add_tenant
from tracker.cases import Event
from tracker.clock import Clock


def app_of(client: TestClient) -> Starlette:
    app = client.app
    assert isinstance(app, Starlette)
    return app


def list_link(client: TestClient, email: str = "Ann@Example.com", **body: Any) -> str:
    key = make_key(client, name=f"k{uuid.uuid4().hex[:8]}")
    answer = client.post("/api/v1/requesters/links", json={"email": email, **body}, headers=bearer(key))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["url"]).removeprefix(str(app_of(client).state.settings.base_url))


def ingest(client: TestClient, tenant: str, source: str, case_id: str, clock: Clock, **changes: Any) -> None:
    event = Event(case_id, f"{source}-{case_id}-{len(changes)}-{changes.get('stage')}", clock.now(), changes)
    client.portal.call(app_of(client).state.store.ingest, tenant, source, [event])


def test_the_list_holds_the_requesters_cases_from_every_source_and_no_one_elses(client: TestClient, clock: Clock):
    post(client, generic_payload("1", title="Invoice export fails", stage="in_progress",
                                 requester_email="ann@example.com"))
    post(client, generic_payload("2", title="Refund", stage="in_progress", waiting_on="customer",
                                 requester_email=" ANN@example.COM"))
    post(client, generic_payload("3", title="Old printer", stage="closed", requester_email="ann@example.com"))
    post(client, generic_payload("4", title="Not Ann's", requester_email="bob@example.com"))
    ingest(client, "acme", "zendesk", "35437", clock, title="Login loop", requester_email="ann@example.com")
    client.portal.call(add_tenant, app_of(client).state.store, "globex", "Globex", "default")
    ingest(client, "globex", "generic", "9", clock, title="Other company", requester_email="ann@example.com")
    link = list_link(client)
    listed = client.get(link + "/cases.json").json()["cases"]
    assert [c["case_id"] for c in listed] == ["2", "35437", "1", "3"]  # the customer's move first, closed last
    assert all(c["url"].startswith("http") and "/c/" in c["url"] for c in listed)
    page = client.get(link)
    assert page.status_code == 200 and page.headers["x-robots-tag"] == "noindex, nofollow"
    assert "Refund" in page.text and "Waiting on you" in page.text and "1 closed case" in page.text
    assert "Not Ann" not in page.text and "Other company" not in page.text
    case_page = client.get("/c/" + listed[0]["url"].split("/c/", 1)[1])
    assert case_page.status_code == 200 and "Refund" in case_page.text


def test_tokens_keep_to_their_purpose(client: TestClient, clock: Clock):
    post(client, generic_payload("1", requester_email="ann@example.com"))
    link, case_link = list_link(client), link_for(client, "1")
    token = link.removeprefix("/r/")
    assert client.get(f"/c/{token}").status_code == 404  # a list link opens no case
    assert client.get("/r/" + case_link.removeprefix("/c/")).status_code == 404  # a case link opens no list
    assert client.get(link[:-3] + "xyz").status_code == 404
    expiring = list_link(client, expires_days=1)
    clock.advance(timedelta(days=2))
    assert client.get(expiring).status_code == 410 and client.get(expiring + "/cases.json").status_code == 410


def test_revoking_withdraws_every_list_link_issued_so_far(client: TestClient):
    post(client, generic_payload("1", requester_email="ann@example.com"))
    first, second, bobs = list_link(client), list_link(client, expires_days=5), list_link(client, "bob@example.com")
    key = make_key(client, name="revoker")
    answer = client.post("/api/v1/requesters/revoke", json={"email": " ANN@example.com"}, headers=bearer(key))
    assert answer.status_code == 200 and answer.json() == {"links_version": 1}
    for withdrawn in (first, second):
        gone = client.get(withdrawn + "/cases.json")
        assert gone.status_code == 410 and "withdrawn" in gone.json()["error"]
        assert client.get(withdrawn).status_code == 410
    with client.stream("GET", f"/live?r={first.removeprefix('/r/')}") as stream:
        [gone_frame] = frames(stream.iter_lines(), 1)
    assert gone_frame == ("gone", {"s": 0, "e": {"status": 410, "error": gone.json()["error"]}})
    assert client.get(bobs + "/cases.json").status_code == 200  # another requester's links stay
    assert client.get(list_link(client) + "/cases.json").status_code == 200  # a new one works
    for body in ({}, {"email": "not an address"}, {"email": "ann@example.com", "extra": 1}, [], "x"):
        refused = client.post("/api/v1/requesters/revoke", json=body, headers=bearer(key))
        assert refused.status_code == 400 and "email" in refused.json()["error"], body


@pytest.mark.parametrize(("body", "named"), [
    ({"email": "not an address"}, "email"),
    ({"email": "ann@example.com\r\nBcc: x@y.z"}, "email"),
    ({"email": "ann@example.com", "expires_days": 0}, "expires_days"),
    ({"email": "ann@example.com", "expires_days": 10**30}, "expires_days"),
    ({"email": "ann@example.com", "role": "admin"}, "body must be"),
    ([[[["ann@example.com"]]]], "body must be"),
])
def test_link_requests_that_are_wrong_are_400s_naming_the_field(client: TestClient, body: Any, named: str):
    answer = client.post("/api/v1/requesters/links", json=body, headers=bearer(make_key(client)))
    assert answer.status_code == 400 and named in answer.json()["error"]
    assert client.post("/api/v1/requesters/links", json={"email": "ann@example.com"}).status_code == 401


def test_two_hundred_cases(client: TestClient, clock: Clock):
    store = app_of(client).state.store
    events = [Event(str(n), f"d{n}", clock.now(), {"title": f"Case number {n}", "requester_email": "ann@example.com",
                                                   "stage": "closed" if n % 4 == 0 else "in_progress"})
              for n in range(200)]
    client.portal.call(store.ingest, "acme", "generic", events)
    link = list_link(client)
    assert len(client.get(link + "/cases.json").json()["cases"]) == 200
    page = client.get(link).text
    assert page.count('<li class="my-case') == 200 and "50 closed cases" in page


def test_the_stream_tells_of_changes_and_of_a_new_case(client: TestClient):
    post(client, generic_payload("1", title="Invoice export fails", requester_email="ann@example.com"))
    link = list_link(client)
    with client.stream("GET", link + "/events") as stream:
        lines = stream.iter_lines()
        post(client, generic_payload("1", stage="in_progress"))
        change = next(line for line in lines if line.startswith("data:"))
        assert json.loads(change.removeprefix("data:"))["e"]["case"]["stage"] == "in_progress"
        post(client, generic_payload("2", title="A new one", requester_email="ANN@example.com"))
        assert next(line for line in lines if line.startswith("event:")) == "event: added"


def frames(lines: Any, count: int) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    event = ""
    for line in lines:
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            found.append((event, json.loads(line.removeprefix("data:"))))
            if len(found) == count:
                return found
    raise AssertionError(f"the stream ended after {found}")


def test_the_pages_one_connection_carries_the_list_beside_a_card(client: TestClient):
    post(client, generic_payload("1", title="Invoice export fails", requester_email="ann@example.com"))
    post(client, generic_payload("2", title="Refund", waiting_on="customer", requester_email="ann@example.com"))
    post(client, generic_payload("9", title="Bob's", requester_email="bob@example.com"))
    link, card = list_link(client), link_for(client, "9")
    with client.stream("GET", f"/live?c={card.removeprefix('/c/')}&r={link.removeprefix('/r/')}&r=forged") as stream:
        lines = stream.iter_lines()
        (gone, forged), (listed, opening), (case, _) = frames(lines, 3)
        assert (gone, forged["s"], forged["e"]["status"]) == ("gone", 2, 404)
        assert listed == "list" and opening["s"] == 1 and "k" not in opening
        assert [item["title"] for item in opening["e"]["items"]] == ["Refund", "Invoice export fails"]
        assert case == "case"
        post(client, generic_payload("1", stage="resolved"))
        [(event, change)] = frames(lines, 1)
        assert (event, change["s"], change["k"]) == ("change", 1, 1)  # the list's second item
        assert change["e"]["case"]["stage"] == "resolved" and "requester" not in json.dumps(change)
        post(client, generic_payload("3", title="A new one", requester_email="ann@example.com"))
        assert frames(lines, 1) == [("added", {"s": 1, "e": {}})]


@pytest.mark.browser
def test_a_customers_list_on_the_company_page_follows_their_cases(live: Any, browser: Any):
    import httpx
    from playwright.sync_api import expect

    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, generic_payload("1", title="Invoice export fails", stage="received",
                                   requester_email="ann@example.com"))
    link = live.call(_list_url(live))
    page = browser.new_page()
    try:
        page.goto(link)
        expect(page.get_by_role("heading", name="Your cases")).to_be_visible()
        expect(page.locator(".my-case")).to_have_count(1)
        page.wait_for_timeout(300)  # the stream is open
        with httpx.Client(base_url=live.url, timeout=10) as http:
            post(http, generic_payload("2", title="Refund missing", requester_email="ann@example.com",
                                       waiting_on="customer", stage="in_progress"))
            expect(page.locator(".my-case")).to_have_count(2, timeout=5000)
            expect(page.locator(".my-case").first).to_contain_text("Refund missing")  # the customer's move first
            post(http, generic_payload("1", stage="resolved"))
            expect(page.locator("details.closed")).to_contain_text("1 closed case", timeout=5000)
        page.locator(".my-case a").first.click()
        expect(page.get_by_role("heading", name="Refund missing")).to_be_visible()
    finally:
        page.close()


async def _list_url(live: Any) -> str:
    return f"{live.url}/r/{live.app.state.signer.sign_requester('acme', 'ann@example.com')}"


def test_email_me_links_sends_the_list_link_only_where_there_are_cases(settings: Any, clock: Clock):
    """Against a real SMTP server on loopback: the same answer for any address, one mail where
    the address has cases, its link opens the list, and a few requests a day at most."""
    from dataclasses import replace

    from tests.conftest import SECRET
    from tests.mailbox import smtp_server, text_of
    from tests.test_keep_me_updated import deliver_now
    from tracker.admin import add_source
    from tracker.app import create_app

    with smtp_server() as (url, box):
        app = create_app(replace(settings, smtp_url=url), clock)
        with TestClient(app, raise_server_exceptions=False) as client:
            client.portal.call(add_tenant, app.state.store, "acme", "ACME Support", "default")
            client.portal.call(add_source, app.state.store, "acme", "generic", SECRET)
            post(client, generic_payload("1", title="Invoice export fails", requester_email="ann@example.com"))
            assert 'action="/s/acme/my-cases"' in client.get("/s/acme").text
            answers = [client.post("/s/acme/my-cases", data={"email": address})
                       for address in ("ANN@example.com", "nobody@example.org")]
            assert [a.status_code for a in answers] == [202, 202] and answers[0].text == answers[1].text
            deliver_now(client)
            [mail] = box.wait_for(1)
            assert mail["To"] == "ANN@example.com" and mail["Subject"] == "ACME Support: Your cases"
            [link] = [word for word in text_of(mail).split() if "/r/" in word]
            listed = client.get("/r/" + link.split("/r/", 1)[1] + "/cases.json").json()["cases"]
            assert [case["title"] for case in listed] == ["Invoice export fails"]
            for _ in range(2):
                client.post("/s/acme/my-cases", json={"email": "ann@example.com"})
            assert client.post("/s/acme/my-cases", json={"email": "ann@example.com"}).status_code == 429
            assert client.post("/s/acme/my-cases", json={"email": "not an address"}).json()["error"].startswith("email")
            deliver_now(client)
            assert len(box.wait_for(3)) == 3  # the two allowed, nothing for the rest


def test_without_mail_the_links_are_not_offered(client: TestClient):
    assert "my-cases" not in client.get("/s/acme").text
    assert client.post("/s/acme/my-cases", data={"email": "ann@example.com"}).status_code == 404


def test_internal_notes_never_reach_the_list(client: TestClient):
    canary = "INTERNAL-9b2c: refund blocked by finance"
    post(client, {**generic_payload("1", title="Refund", requester_email="ann@example.com"),
                  "message": {"id": "n1", "body": canary, "public": False, "author": "Dana Private"}})
    link = list_link(client)
    with client.stream("GET", link + "/events") as stream:
        lines = stream.iter_lines()
        post(client, {**generic_payload("1", stage="in_progress"),
                      "message": {"id": "n2", "body": canary, "public": False, "author": "Dana Private"}})
        change = next(line for line in lines if line.startswith("data:"))
    for surface in (client.get(link).text, client.get(link + "/cases.json").text, change):
        assert "INTERNAL-9b2c" not in surface and "Dana Private" not in surface
