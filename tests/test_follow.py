"""Beyond a status page, over HTTP: honest timing, gone quiet, activity counts, the customer's
word (with the company's webhook), and following a case by feed and calendar."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from html import unescape

from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.conftest import generic_payload, link_for, post, suite_clock
from tests.receiver import receiver
from tracker.admin import add_tenant

ATOM = "{http://www.w3.org/2005/Atom}"
NOTE = "INTERNAL-3b7f: waiting for legal sign-off"


def ago(**delta: float) -> str:
    return (suite_clock().now() - timedelta(**delta)).isoformat()


def ahead(**delta: float) -> str:
    return (suite_clock().now() + timedelta(**delta)).isoformat()


def at_two_pm(days_ahead: int) -> datetime:
    """A round time some days ahead of the suite's clock (pages show minutes, calendars seconds)."""
    return (suite_clock().now() + timedelta(days=days_ahead)).replace(hour=14, minute=0, second=0, microsecond=0)


def configure(client: TestClient, **options: str) -> None:
    app = client.app
    assert isinstance(app, Starlette)
    client.portal.call(add_tenant, app.state.store, "acme", None, None, options)


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_the_page_says_when_and_why_the_expected_time_moved(client: TestClient):
    first, moved = at_two_pm(30), at_two_pm(32)
    post(client, {**generic_payload(stage="in_progress", expected_by=first.isoformat()),
                  "occurred_at": ago(hours=5)})
    post(client, {**generic_payload(expected_by=moved.isoformat(),
                                    expected_reason="waiting on the payment provider"), "occurred_at": ago(hours=1)})
    url = link_for(client)
    page = text_of(client.get(url).text)
    days = f"{first:%a} {first.day} {first:%b}, 14:00 UTC to {moved:%a} {moved.day} {moved:%b}, 14:00 UTC"
    assert f"moved from {days}: waiting on the payment provider" in page
    assert "(the team's estimate)" in page
    moves = client.get(url + "/case.json").json()["expected_moves"]
    assert [(m["from"][:10], m["to"][:10], m["reason"]) for m in moves] == [
        (first.date().isoformat(), moved.date().isoformat(), "waiting on the payment provider")]


def test_a_quiet_case_says_so_and_an_active_one_counts_its_hidden_work(client: TestClient):
    configure(client, webhook_url="http://127.0.0.1:9/hook")  # so the team is reminded
    post(client, {**generic_payload(stage="in_progress"), "occurred_at": ago(days=3),
                  "message": {"id": "m1", "body": "Looking into it", "public": True}})
    for n in range(3):
        post(client, {**generic_payload(), "occurred_at": ago(minutes=10 + n),
                      "message": {"id": f"n{n}", "body": NOTE, "public": False}})
    url = link_for(client)
    page = text_of(client.get(url).text)
    assert "No update for 3 days. We have reminded the team." in page
    assert "3 actions by the team in the last 24 hours" in page and NOTE not in page
    body = client.get(url + "/case.json").json()
    assert body["quiet"]["hours"] >= 72 and body["activity"]["count"] == 3
    configure(client, webhook_url="")
    assert "We have reminded the team." not in text_of(client.get(url).text)
    configure(client, promise_hours="100", show_activity="no")
    page = text_of(client.get(url).text)
    assert "No update for" not in page and "actions by the team" not in page


def test_the_customer_confirms_and_the_company_hears_it(client: TestClient):
    with receiver() as hook:
        configure(client, webhook_url=hook.url + "/events")
        post(client, {**generic_payload(stage="resolved"), "occurred_at": ago(hours=1)})
        url = link_for(client)
        html = client.get(url).text
        assert "Is your problem solved?" in html
        assert text_of(html).count("This case is resolved.") == 1
        token = re.search(r'action="[^"]*/verdict">\s*<input type="hidden" name="token" value="([^"]+)"', html)
        assert token
        forged = client.post(url + "/verdict", data={"token": "x", "verdict": "solved"}, follow_redirects=False)
        assert forged.status_code == 403
        answer = client.post(url + "/verdict", data={"token": token.group(1), "verdict": "solved", "rating": "5",
                                                     "comment": "Quick and kind"}, follow_redirects=False)
        assert answer.status_code == 303
        page = text_of(client.get(url).text)
        assert "You confirmed it is solved. Thank you!" in page and "Is your problem solved?" not in page
        body = client.get(url + "/case.json").json()
        assert body["stage"] == "closed" and body["helpdesk_stage"] == "resolved"
        assert body["verdict"] == {"value": "solved", "rating": 5, "comment": "Quick and kind"}
        app = client.app
        assert isinstance(app, Starlette)
        client.portal.call(app.state.deliverer.run_once)
        [request] = hook.requests
    sent = json.loads(request.body)
    assert sent["type"] == "case.customer_verdict" and request.path == "/events"
    assert sent["data"] == {"source": "generic", "case_id": "4711", "verdict": "solved", "rating": 5,
                            "comment": "Quick and kind"}
    assert "webhook-signature" in request.headers


def test_not_solved_yet_keeps_the_case_open_for_the_customer(client: TestClient):
    post(client, generic_payload(stage="resolved"))
    url = link_for(client)
    token = re.search(r'/verdict">\s*<input type="hidden" name="token" value="([^"]+)"', client.get(url).text)
    assert token
    client.post(url + "/verdict", data={"token": token.group(1), "verdict": "not_solved"})
    body = client.get(url + "/case.json").json()
    assert body["stage"] == "resolved" and body["verdict"]["value"] == "not_solved"
    assert "You said it is not solved yet. The team has been told." in text_of(client.get(url).text)


def test_a_resolved_case_closes_for_the_customer_after_the_tenant_timeout(client: TestClient):
    post(client, {**generic_payload(stage="resolved"), "occurred_at": ago(days=3)})
    url = link_for(client)
    assert client.get(url + "/case.json").json()["stage"] == "resolved"
    configure(client, confirm_days="2")
    body = client.get(url + "/case.json").json()
    assert body["stage"] == "closed" and body["awaiting_verdict"] is False


def test_verdicts_are_for_resolved_cases_only(client: TestClient):
    post(client, generic_payload(stage="in_progress"))
    url = link_for(client)
    html = client.get(url).text
    assert "Is your problem solved?" not in html
    app = client.app
    assert isinstance(app, Starlette)

    async def token() -> str:
        stored = await app.state.store.get_case("acme", "generic", "4711")
        return str(app.state.signer.sign_action(stored.key, stored.link_version, "verdict"))

    answer = client.post(url + "/verdict", data={"token": client.portal.call(token), "verdict": "solved"})
    assert answer.status_code == 400


def test_atom_feed_lists_public_updates_only(client: TestClient):
    post(client, {**generic_payload(title="Printer <jams>"), "message": {"id": "m1", "body": "We <b>got</b> it",
                                                                        "public": True, "author": "Dana"}})
    post(client, {**generic_payload(), "message": {"id": "n1", "body": NOTE, "public": False}})
    url = link_for(client)
    feed = client.get(url + "/feed.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.text)
    assert root.findtext(f"{ATOM}title", "").startswith("Printer <jams>")
    entries = root.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}content") for e in entries] == ["We <b>got</b> it"]
    assert NOTE not in feed.text
    assert 'href="' + url + '/feed.atom"' in client.get(url).text


def test_calendar_entry_follows_the_expected_time(client: TestClient):
    post(client, generic_payload(title="Refund, please; soon"))
    url = link_for(client)
    assert client.get(url + "/case.ics").status_code == 404  # no expected time yet
    expected, later = at_two_pm(30), at_two_pm(31).replace(hour=9, minute=30)
    post(client, {**generic_payload(expected_by=expected.isoformat()), "occurred_at": ago(hours=2)})
    first = client.get(url + "/case.ics")
    assert first.headers["content-type"].startswith("text/calendar")
    assert f"DTSTART:{expected:%Y%m%dT%H%M%SZ}" in first.text and "SEQUENCE:0" in first.text
    assert "SUMMARY:Expected: Refund\\, please\\; soon" in first.text
    post(client, {**generic_payload(expected_by=later.isoformat()), "occurred_at": ago(hours=1)})
    moved = client.get(url + "/case.ics").text
    uid = re.search(r"UID:(\S+)", first.text)
    assert uid and f"UID:{uid.group(1)}" in moved  # the same entry, moved
    assert f"DTSTART:{later:%Y%m%dT%H%M%SZ}" in moved and "SEQUENCE:1" in moved
    assert all(len(line.encode()) <= 75 for line in moved.split("\r\n"))


def test_public_feed_and_calendar_are_redacted(client: TestClient):
    post(client, {**generic_payload(expected_by=ahead(days=1)),
                  "message": {"id": "m1", "body": "Call +49 30 1234567", "public": True, "author": "Dana Surname"}})
    app = client.app
    assert isinstance(app, Starlette)

    async def publish() -> None:
        stored = await app.state.store.get_case("acme", "generic", "4711")
        await app.state.store.set_public(stored.key, "pub-feed", None)

    client.portal.call(publish)
    feed = client.get("/p/pub-feed/feed.atom").text
    assert "1234567" not in feed and "Surname" not in feed and "[phone number hidden]" in feed
    public_entry = client.get("/p/pub-feed/case.ics")
    private_entry = client.get(link_for(client) + "/case.ics")
    assert public_entry.status_code == private_entry.status_code == 200
    key = client.portal.call(app.state.store.get_case, "acme", "generic", "4711").key
    [public_uid] = re.findall(r"UID:(\S+)", public_entry.text)
    [private_uid] = re.findall(r"UID:(\S+)", private_entry.text)
    assert public_uid.startswith("public-pub-feed@") and private_uid.startswith(f"case-{key}@")
    assert f"-{key}" not in public_entry.headers["content-disposition"]


def test_machine_readable_times_on_the_page_are_valid_html_dates(client: TestClient):
    """HTML's <time datetime> allows at most three digits of fraction; isoformat writes six."""
    post(client, {**generic_payload(stage="in_progress", expected_by=ahead(days=2, microseconds=123456)),
                  "occurred_at": ago(hours=1, microseconds=654321),
                  "message": {"id": "m1", "body": "On it.", "public": True}})
    html = client.get(link_for(client)).text
    values = re.findall(r'<time datetime="([^"]*)"', html)
    assert len(values) >= 3
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", v) for v in values), values


def test_calendar_entry_speaks_the_readers_language(client: TestClient):
    post(client, generic_payload(title="Drucker", expected_by=ahead(days=30)))
    entry = client.get(link_for(client) + "/case.ics", headers={"Accept-Language": "de"}).text
    assert "SUMMARY:Voraussichtlich: Drucker" in entry and "DESCRIPTION:Anfrage 4711:" in entry
