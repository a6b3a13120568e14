"""Linked problems: a case linked to another case of the tenant (the problem) shows what the
company says of that problem, its stage, expected time, progress and how many others share it,
live; never the problem's own text unless the tenant says `problem_updates=public`."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.conftest import from_now, generic_payload, link_for, post
from tests.mailbox import Mailbox, text_of
from tests.test_admin_api import bearer, make_key
from tests.test_keep_me_updated import mailbox, mailing, manage_link
from tracker.admin import add_tenant
from tracker.storage.base import ProblemNotes

__all__ = ["mailbox", "mailing"]  # fixtures, shared with Keep me updated
CANARY = "CANARY-7f3a"  # in every field of the problem that is its own text


def problem_payload(**case: Any) -> dict[str, Any]:
    return {**generic_payload("P-1", title=f"{CANARY} null pointer in export worker",
                              status_label=f"{CANARY} label", expected_reason=f"{CANARY} reason",
                              requester_email="eng@acme.example", requester_name=f"{CANARY} Eng",
                              next_steps=[{"text": f"{CANARY} deploy hotfix", "owner": "company"}], **case),
            "message": {"id": f"pm-{case.get('stage', 'x')}", "body": f"{CANARY} stack trace", "public": True,
                        "author": f"{CANARY} Dev"}}


def app_of(client: TestClient) -> Starlette:
    app = client.app
    assert isinstance(app, Starlette)
    return app


def deliver_now(client: TestClient) -> None:
    """Until no problem delivery is pending: the app's own worker, woken by the webhook, may hold one."""
    store = app_of(client).state.store
    deadline = time.monotonic() + 10
    while any(d.kind == "problem" and d.status == "pending" for d in client.portal.call(store.list_deliveries, "acme")):
        assert time.monotonic() < deadline, "problem deliveries still pending"
        client.portal.call(app_of(client).state.deliverer.run_once)
        time.sleep(0.02)


def set_notes(client: TestClient, **notes: Any) -> None:
    client.portal.call(app_of(client).state.store.set_problem_notes, ProblemNotes("acme", "generic", "P-1", **notes))


def linked_case(client: TestClient, case_id: str = "4711", **case: Any) -> str:
    post(client, generic_payload(case_id, title="Invoice export fails", stage="in_progress",
                                 problem={"source": "generic", "id": "P-1"}, **case))
    return link_for(client, case_id)


def test_a_linked_case_shows_its_problem_as_the_company_tells_it_and_nothing_of_its_own_text(client: TestClient):
    post(client, problem_payload(stage="in_progress", progress=40, expected_by=from_now(days=2)))
    set_notes(client, public_title="Exports fail for large invoices", summary="A fix is being tested.")
    link = linked_case(client)
    linked_case(client, "4712")
    deliver_now(client)
    post(client, problem_payload(stage="in_progress", progress=60, expected_by=from_now(days=1)))
    deliver_now(client)
    problem = client.get(link + "/case.json").json()["problem"]
    assert problem["title"] == "Exports fail for large invoices"
    assert problem["summary"] == "A fix is being tested."
    assert (problem["stage"], problem["progress"], problem["others_affected"]) == ("in_progress", 60, 1)
    assert problem["expected_by"] is not None and not problem["fix_out"]
    page = client.get(link).text
    assert "Linked to a known problem:" in page and "1 other customer is affected." in page
    for surface in (page, client.get(link + "/case.json").text, client.get(link + "/feed.atom").text):
        assert CANARY not in surface and "eng@acme.example" not in surface


def test_the_problem_moving_reaches_the_linked_cases_stream(client: TestClient):
    """First as one `problem` frame rendered for all its linked cases, then as the case's own
    change once the snapshot is written into it (the two may cross)."""
    post(client, problem_payload(stage="in_progress"))
    link = linked_case(client)
    deliver_now(client)
    seen: dict[str, dict[str, Any]] = {}
    with client.stream("GET", link + "/events") as stream:
        lines = stream.iter_lines()
        assert next(line for line in lines if line.startswith("event:")) == "event: case"
        post(client, problem_payload(stage="resolved"))
        deliver_now(client)
        while len(seen) < 2:
            event = next(line for line in lines if line.startswith("event:")).removeprefix("event: ")
            data = next(lines).removeprefix("data:")
            assert CANARY not in data
            if '"fix_out":true' in data:
                seen[event] = json.loads(data)
    assert set(seen) == {"problem", "change"}
    assert seen["problem"]["problem"]["stage"] == "resolved" and seen["problem"]["resolves"] is False
    assert seen["problem"]["problem"]["key"] == seen["change"]["case"]["problem"]["key"]
    assert seen["change"]["case"]["awaiting_verdict"]


def test_a_fix_out_asks_the_customer_and_takes_their_word(client: TestClient):
    post(client, problem_payload(stage="in_progress"))
    link = linked_case(client)
    post(client, problem_payload(stage="resolved"))
    deliver_now(client)
    page = client.get(link).text
    assert "A fix is out." in page and "A fix for the problem behind your case is out." in page
    token = page.split('name="token" value="')[1].split('"')[0]
    answer = client.post(link + "/verdict", data={"token": token, "verdict": "solved"}, follow_redirects=False)
    assert answer.status_code in (200, 303)
    assert client.get(link + "/case.json").json()["verdict"]["value"] == "solved"


@pytest.mark.parametrize("resolves", [True, False])
def test_a_tenant_may_have_a_fix_resolve_its_linked_cases_for_their_customers(client: TestClient, resolves: bool):
    if resolves:
        client.portal.call(add_tenant, app_of(client).state.store, "acme", None, None,
                           {"problem_fix_resolves": "yes"})
    post(client, problem_payload(stage="in_progress"))
    link = linked_case(client)
    post(client, generic_payload("4712", title="Other", stage="in_progress",
                                 problem={"source": "generic", "id": "P-1"}))
    deliver_now(client)
    assert client.get(link + "/case.json").json()["stage"] == "in_progress"
    post(client, problem_payload(stage="resolved"))
    deliver_now(client)
    view = client.get(link + "/case.json").json()
    assert (view["stage"], view["helpdesk_stage"], view["awaiting_verdict"]) == (
        "resolved" if resolves else "in_progress", "in_progress", True)
    page = client.get(link).text
    token = page.split('name="token" value="')[1].split('"')[0]
    client.post(link + "/verdict", data={"token": token, "verdict": "solved"}, follow_redirects=False)
    assert client.get(link + "/case.json").json()["stage"] == ("closed" if resolves else "in_progress")
    other = client.get(link_for(client, "4712") + "/case.json").json()
    assert other["stage"] == ("resolved" if resolves else "in_progress")  # their own word is still to come


def test_problem_updates_public_shows_the_problems_own_words(client: TestClient):
    client.portal.call(add_tenant, app_of(client).state.store, "acme", None, None, {"problem_updates": "public"})
    post(client, problem_payload(stage="in_progress"))
    link = linked_case(client)
    deliver_now(client)
    problem = client.get(link + "/case.json").json()["problem"]
    assert problem["title"].startswith(CANARY)  # no title written for customers: its own
    assert problem["updates"][0]["body"] == f"{CANARY} stack trace"
    assert problem["next_steps"][0]["text"] == f"{CANARY} deploy hotfix"


def test_unlinking_hides_the_problem_at_once_and_an_old_event_never_relinks(client: TestClient):
    post(client, problem_payload(stage="in_progress"))
    link = linked_case(client)
    deliver_now(client)
    assert client.get(link + "/case.json").json()["problem"] is not None
    post(client, generic_payload(problem=None))
    assert client.get(link + "/case.json").json()["problem"] is None
    late = generic_payload(problem={"source": "generic", "id": "P-1"})
    post(client, {**late, "occurred_at": from_now(days=-1)})
    assert client.get(link + "/case.json").json()["problem"] is None


@pytest.mark.parametrize(("problem", "field"), [
    ({"source": "GitHub!", "id": "1"}, "case.problem.source"),
    ({"source": "github", "id": ""}, "case.problem.id"),
    ({"source": "github", "id": "x" * 201}, "case.problem.id"),
    ({"source": "github", "id": [[["1"]]]}, "case.problem.id"),
    ("github:1", "case.problem.source"),
])
def test_a_bad_link_is_a_400_naming_the_field(client: TestClient, problem: Any, field: str):
    answer = post(client, generic_payload(problem=problem))
    assert answer.status_code == 400 and field in answer.json()["error"]


def test_the_admin_api_links_describes_and_unlinks(client: TestClient):
    key = make_key(client)
    post(client, problem_payload(stage="in_progress", progress=10))
    post(client, generic_payload(title="Invoice export fails", stage="in_progress"))
    link = link_for(client)
    answer = client.put("/api/v1/cases/generic/4711/problem", json={"source": "generic", "id": "P-1"},
                        headers=bearer(key))
    assert answer.status_code == 200 and answer.json() == {"problem": {"source": "generic", "id": "P-1"}}
    described = client.patch("/api/v1/problems/generic/P-1", json={"public_title": "Exports fail", "listed": True},
                             headers=bearer(key))
    assert described.status_code == 200
    assert described.json() == {"source": "generic", "id": "P-1", "public_title": "Exports fail", "summary": "",
                                "listed": True, "open_linked_cases": 1}
    deliver_now(client)
    assert client.get(link + "/case.json").json()["problem"]["title"] == "Exports fail"
    assert client.get("/api/v1/problems/generic/P-1", headers=bearer(key)).json()["public_title"] == "Exports fail"
    assert client.delete("/api/v1/cases/generic/4711/problem", headers=bearer(key)).json() == {"problem": None}
    assert client.get(link + "/case.json").json()["problem"] is None


@pytest.mark.parametrize(("method", "path", "body", "status", "names"), [
    ("put", "/api/v1/cases/generic/4711/problem", {"source": "generic"}, 400, "problem.id"),
    ("put", "/api/v1/cases/generic/4711/problem", {"source": "generic", "id": "4711"}, 400, "own problem"),
    ("put", "/api/v1/cases/generic/4711/problem", [[[[1]]]], 400, "problem.source"),
    ("put", "/api/v1/cases/generic/nope/problem", {"source": "generic", "id": "P-1"}, 404, "No case"),
    ("patch", "/api/v1/problems/generic/P-1", {"public_title": "x" * 201}, 400, "public_title"),
    ("patch", "/api/v1/problems/generic/P-1", {"listed": "yes"}, 400, "listed"),
    ("patch", "/api/v1/problems/generic/P-1", {"title": "x"}, 400, "title"),
    ("patch", "/api/v1/problems/nosuch/P-1", {"listed": True}, 404, "nosuch"),
])
def test_admin_api_mistakes_are_4xx_naming_the_field(client: TestClient, method: str, path: str, body: Any,
                                                     status: int, names: str):
    key = make_key(client)
    post(client, generic_payload(title="Invoice export fails"))
    answer = client.request(method.upper(), path, json=body, headers=bearer(key))
    assert answer.status_code == status and names in answer.json()["error"], answer.text
    assert client.put(path, json=body).status_code in (401, 405)  # no key, no change


def test_the_status_page_lists_what_the_company_lists_and_nothing_of_the_problems_own_text(client: TestClient):
    post(client, problem_payload(stage="in_progress", progress=30, expected_by=from_now(days=3)))
    post(client, {**generic_payload("P-2", title=f"{CANARY} unlisted"), "message": None})
    set_notes(client, public_title="Exports fail for large invoices", summary="Being fixed.", listed=True)
    client.portal.call(app_of(client).state.store.set_problem_notes,
                       ProblemNotes("acme", "generic", "P-2", public_title="Not for the page", listed=False))
    linked_case(client)
    problems = client.get("/s/acme/problems.json").json()["problems"]
    assert [(p["title"], p["stage"], p["progress"], p["open_cases"]) for p in problems] == [
        ("Exports fail for large invoices", "in_progress", 30, 1)]
    page = client.get("/s/acme")
    assert page.status_code == 200 and "Exports fail for large invoices" in page.text
    assert "1 open case is linked to it." in page.text and "Not for the page" not in page.text
    assert CANARY not in page.text and CANARY not in client.get("/s/acme/problems.json").text
    assert client.get("/s/nosuch").status_code == 404


def test_the_command_line_links_and_describes(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]):
    import asyncio

    from tests.clock_of_suite import suite_clock
    from tests.test_cli import in_process
    from tracker.cases import Event
    from tracker.storage import open_store

    def cli(*args: str) -> Any:
        return in_process(tmp_path, monkeypatch, capsys, *args)

    assert cli("tenant", "add", "acme").returncode == 0
    assert cli("source", "add", "acme", "generic").returncode == 0

    async def cases() -> None:
        store = await open_store(f"sqlite:///{tmp_path / 'cli.db'}", suite_clock())
        for case_id in ("4711", "P-1"):
            await store.ingest("acme", "generic", [Event(case_id, f"d-{case_id}", suite_clock().now(),
                                                         {"stage": "in_progress"})])
        await store.close()

    asyncio.run(cases())
    linked = cli("problem", "link", "acme", "4711", "generic:P-1")
    assert linked.returncode == 0 and "is linked to generic:P-1" in linked.stdout
    described = cli("problem", "describe", "acme", "generic:P-1", "--title", "Exports fail", "--listed", "yes")
    assert described.returncode == 0 and "Exports fail; listed on the status page; 1 open case(s) linked." \
        in described.stdout
    assert "SOURCE:ID" in cli("problem", "link", "acme", "4711", "no-colon").stderr
    assert cli("problem", "unlink", "acme", "4711").stdout.strip() == "generic:4711 is no longer linked to a problem."


@pytest.mark.browser
def test_an_open_linked_case_page_shows_the_fix_within_seconds(live: Any, browser: Any):
    """In Chromium, as the customer leaves the page open: the problem's own webhook is all that happens."""
    import httpx
    from playwright.sync_api import expect

    from tests.conftest import live_link

    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, problem_payload(stage="in_progress"))
        post(http, generic_payload(title="Invoice export fails", stage="in_progress",
                                   problem={"source": "generic", "id": "P-1"}))
    page = browser.new_page()
    try:
        page.goto(live_link(live))
        expect(page.get_by_role("heading", name="Linked to a known problem")).to_be_visible(timeout=5000)
        started = time.monotonic()
        with httpx.Client(base_url=live.url, timeout=10) as http:
            post(http, problem_payload(stage="resolved"))
        expect(page.get_by_text("A fix is out.")).to_be_visible(timeout=5000)
        assert time.monotonic() - started < 3  # the worker is woken: no poll interval in between
        expect(page.get_by_role("button", name="Yes, it is solved")).to_be_visible()
        assert CANARY not in page.content()
    finally:
        page.close()


def test_the_status_page_has_a_feed_and_a_stream_and_names_no_internal_id(client: TestClient):
    post(client, problem_payload(stage="received"))
    set_notes(client, public_title="Exports fail for large invoices", listed=True)
    post(client, problem_payload(stage="in_progress"))
    [item] = client.get("/s/acme/problems.json").json()["problems"]
    assert "P-1" not in json.dumps(item) and len(item["key"]) == 16
    feed = client.get("/s/acme/feed.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    assert feed.text.count("<entry>") == 2 and "Exports fail for large invoices: In progress" in feed.text
    assert "P-1" not in feed.text and CANARY not in feed.text
    assert 'href="/s/acme/feed.atom"' in client.get("/s/acme").text
    with client.stream("GET", "/s/acme/events") as stream:
        lines = stream.iter_lines()
        opening = next(line for line in lines if line.startswith("data:"))
        assert json.loads(opening.removeprefix("data:"))["e"]["case"]["stage"] == "in_progress"
        post(client, problem_payload(stage="resolved"))
        change = next(line for line in lines if line.startswith("data:"))
    data = json.loads(change.removeprefix("data:"))
    assert data["s"] == 0 and data["e"]["case"]["stage"] == "resolved"
    assert CANARY not in change and "P-1" not in change


def test_the_pages_one_connection_carries_the_status_page(client: TestClient):
    post(client, problem_payload(stage="in_progress"))
    set_notes(client, public_title="Exports fail for large invoices", listed=True)
    with client.stream("GET", "/live?s=acme&s=nobody") as stream:
        lines = (line for line in stream.iter_lines() if line.startswith("data:"))
        gone, listed = (json.loads(next(lines).removeprefix("data:")) for _ in range(2))
        assert gone == {"s": 1, "e": {"status": 404, "error": "There is no status page at this address."}}
        [item] = listed["e"]["items"]
        assert item["title"] == "Exports fail for large invoices" and item["stage"] == "in_progress"
        post(client, problem_payload(stage="resolved"))
        change = next(lines)
    data = json.loads(change.removeprefix("data:"))
    assert (data["s"], data["k"], data["e"]["case"]["stage"]) == (0, 0, "resolved")
    assert CANARY not in change and "P-1" not in change


@pytest.mark.browser
def test_an_open_status_page_follows_its_problems(live: Any, browser: Any):
    import httpx
    from playwright.sync_api import expect

    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, problem_payload(stage="in_progress"))
    live.call(live.app.state.store.set_problem_notes(ProblemNotes("acme", "generic", "P-1", "Exports fail",
                                                                  "", True)))
    page = browser.new_page()
    try:
        page.goto(live.url + "/s/acme")
        expect(page.get_by_role("heading", name="Exports fail")).to_be_visible()
        expect(page.locator(".problem .stage")).to_have_text("In progress")
        page.wait_for_timeout(300)  # the stream is open
        with httpx.Client(base_url=live.url, timeout=10) as http:
            post(http, problem_payload(stage="resolved"))
        expect(page.locator(".problem .stage")).to_have_text("Resolved", timeout=5000)
    finally:
        page.close()


def test_a_case_cannot_be_its_own_problem(client: TestClient):
    answer = post(client, generic_payload(problem={"source": "generic", "id": "4711"}))
    assert answer.status_code == 400 and "own problem" in answer.json()["error"]


def test_a_visitor_follows_a_listed_problem_by_mail_and_hears_only_of_its_moves(
        mailing: TestClient, mailbox: tuple[str, Mailbox]):
    """From the status page, without a case of their own: the company's words, never the problem's."""
    _, box = mailbox
    post(mailing, problem_payload(stage="in_progress"))
    set_notes(mailing, public_title="Exports fail for large invoices", summary="A fix is being tested.", listed=True)
    page = mailing.get("/s/acme").text
    key = page.split('name="problem" value="')[1].split('"')[0]
    assert "Follow this problem" in page
    for fields, status, named in ((({"problem": "nope", "email": "ann@example.com"}), 404, "problem"),
                                  ({"problem": key, "email": "not an address"}, 400, "email")):
        refused = mailing.post("/s/acme/follow", json=fields)
        assert refused.status_code == status and named in refused.json()["error"]
    answer = mailing.post("/s/acme/follow", data={"problem": key, "email": "ann@example.com"})
    assert answer.status_code == 202 and "a mail to confirm is on its way" in answer.text
    deliver_now(mailing)
    [confirm] = box.wait_for(1)
    assert confirm["Subject"] == "Confirm: updates about the known problem “Exports fail for large invoices”"
    manage = manage_link(text_of(confirm))
    shown = mailing.get(manage).text
    assert "Exports fail for large invoices" in shown and CANARY not in shown and "P-1" not in shown
    mailing.post(manage, data={"action": "confirm"})

    post(mailing, {**problem_payload(stage="in_progress"), "message": {"id": "pm-2", "body": f"{CANARY} more logs",
                                                                        "public": True, "author": "Dev"}})
    deliver_now(mailing)
    assert len(box.messages) == 1  # its own comments are not what a follower follows
    post(mailing, problem_payload(stage="resolved"))
    deliver_now(mailing)
    news = box.wait_for(2)[1]
    assert news["Subject"] == "ACME Support: Exports fail for large invoices · Resolved"
    text = text_of(news)
    assert "A fix is being tested." in text and "/s/acme#problem-" + key in text and "List-Unsubscribe" in news
    for mail in box.messages:
        assert CANARY not in mail.as_string() and "P-1" not in mail.as_string()

    set_notes(mailing, public_title="Exports fail for large invoices", listed=False)
    post(mailing, problem_payload(stage="closed"))
    deliver_now(mailing)
    assert len(box.messages) == 2  # no longer listed: no longer told


def test_without_mail_a_problem_is_not_offered_to_follow(client: TestClient):
    post(client, problem_payload(stage="in_progress"))
    set_notes(client, public_title="Exports fail", listed=True)
    assert "Follow this problem" not in client.get("/s/acme").text
    refused = client.post("/s/acme/follow", json={"problem": "x", "email": "ann@example.com"})
    assert refused.status_code == 404
