"""Freshdesk: no signing, a shared token header or basic auth; the automation templates; the app."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import tracker.helpdesks
from tests.conftest import link_for, sse_events, suite_clock
from tests.test_problems import deliver_now
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks import freshdesk
from tracker.storage.base import SourceConfig

RECEIVED_AT = suite_clock().now()  # when tracker received the delivery (payloads without a time)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "freshdesk"
SECRET = "whsec_ZnJlc2hkZXNrLXRlc3QtdG9rZW4tMDE="
NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
NOTE_MARKER = "INTERNAL-FD-7f3a"
REPLY = "we have reset your password & sent a new link."
LINKED = "rule_b.status_changed.tracker_linked.json"  # ticket 11, linked to tracker ticket 12
TRACKER = "rule_a.tracker_ticket_created.json"  # tracker ticket 12, as rule A sends it
ALL = ["ticket_created.json", "status_changed.json", "rule_c.reply_sent.json", "note.private.json", LINKED, TRACKER]


def body_of(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("headers", [{"x-tracker-token": SECRET}, basic("freshdesk", SECRET)])
def test_token_header_or_basic_auth_password_is_accepted(name, headers):
    freshdesk.verify(headers, body_of(name), SECRET, NOW)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("headers", [
    {}, {"x-tracker-token": SECRET[:-1]}, {"x-tracker-token": ""}, basic("freshdesk", "guess"),
    basic(SECRET, ""), {"authorization": "Bearer " + SECRET}, {"authorization": "Basic !!not-base64"},
])
def test_wrong_or_missing_token_is_rejected(name, headers):
    with pytest.raises(Unauthorized, match="X-Tracker-Token|basic"):
        freshdesk.verify(headers, body_of(name), SECRET, NOW)


def parse(name: str) -> Any:
    [event] = freshdesk.parse(json.loads(body_of(name)), {"x-tracker-token": SECRET}, received_at=RECEIVED_AT)
    return event


def test_ticket_created_maps_onto_the_case():
    event = parse("ticket_created.json")
    assert event.case_id == "11"
    assert event.changes == {"title": "Test ticket subject ☃", "requester_name": "Requester ☃ Bob",
                             "requester_email": "requester-bob@example.com", "status_label": "Pending",
                             "stage": "in_progress", "waiting_on": "customer"}
    assert event.update is None and not event.internal
    assert event.delivery_id == ""  # no delivery id: the webhook handler hashes the body
    assert event.occurred_at.tzinfo is not None


def test_open_on_ticket_creation_is_received():
    payload = json.loads(body_of("ticket_created.json"))
    payload["freshdesk_webhook"]["ticket_status"] = "Open"
    [event] = freshdesk.parse(payload, {}, received_at=RECEIVED_AT)
    assert event.changes["stage"] == "received" and event.changes["waiting_on"] == "company"


def test_status_changed_to_waiting_on_customer():
    event = parse("status_changed.json")
    assert event.changes["status_label"] == "Waiting on Customer"
    assert event.changes["stage"] == "in_progress" and event.changes["waiting_on"] == "customer"


def test_agent_reply_becomes_a_plain_text_update():
    event = parse("rule_c.reply_sent.json")
    assert event.update is not None
    assert event.update.body == "Hi Bob,\n" + REPLY
    assert event.update.author_display == "Dana Agent" and event.update.id.startswith("sha256:")
    assert parse("rule_c.reply_sent.json").update.id == event.update.id  # same comment, same update


def test_private_note_keeps_no_text():
    event = parse("note.private.json")
    assert event.internal and event.update is None
    assert NOTE_MARKER not in repr(event) and "legacy plan" not in repr(event)
    assert event.changes["status_label"] == "Pending"


@pytest.mark.parametrize(("status", "stage", "waiting_on"), [
    ("Open", "in_progress", "company"), ("Pending", "in_progress", "customer"),
    ("Resolved", "resolved", None), ("Closed", "closed", None),
    ("Waiting on Customer", "in_progress", "customer"), ("Waiting on Third Party", "in_progress", "third_party"),
    ("Awaiting Parts", None, None),
])
def test_status_mapping(status, stage, waiting_on):
    # unwrapped is fine too
    [event] = freshdesk.parse({"ticket_id": "5", "ticket_status": status}, {}, received_at=RECEIVED_AT)
    assert event.changes["status_label"] == status
    assert event.changes.get("stage") == stage and event.changes.get("waiting_on") == waiting_on


@pytest.mark.parametrize(("payload", "named"), [
    ([], "JSON object"), ({"freshdesk_webhook": []}, "freshdesk_webhook must"),
    ({"freshdesk_webhook": {"ticket_subject": "x"}}, "ticket_id"), ({"ticket_id": " "}, "ticket_id"),
])
def test_malformed_body_names_the_field(payload, named):
    with pytest.raises(BadRequest, match=named):
        freshdesk.parse(payload, {}, received_at=RECEIVED_AT)


def test_through_the_app_private_note_never_reaches_the_customer(client: TestClient, monkeypatch):
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "freshdesk", freshdesk)
    client.portal.call(client.app.state.store.add_source, SourceConfig("acme", "freshdesk", SECRET))

    def deliver(name: str, headers: dict[str, str]) -> dict[str, Any]:
        response = client.post("/hooks/acme/freshdesk", content=body_of(name), headers=headers)
        assert response.status_code == 202, response.text
        return dict(response.json())

    assert deliver("ticket_created.json", {"x-tracker-token": SECRET})["stored"] == 1
    assert deliver("rule_c.reply_sent.json", basic("freshdesk", SECRET))["stored"] == 1
    assert deliver("note.private.json", {"x-tracker-token": SECRET})["stored"] == 1
    # A retry carries the same body: the body hash makes it a duplicate.
    assert deliver("note.private.json", {"x-tracker-token": SECRET}) == {"ok": True, "stored": 0, "duplicates": 1}
    assert client.post("/hooks/acme/freshdesk", content=body_of("note.private.json")).status_code == 401

    url = link_for(client, "11", "freshdesk")
    with client.stream("GET", url + "/events?last_event_id=0") as stream:
        replayed = sse_events(stream.iter_lines(), 3)
    case_json = client.get(url + "/case.json").json()
    assert case_json["status_label"] == "Pending"
    surfaces = {"page": client.get(url).text, "json": json.dumps(case_json), "stream": json.dumps(replayed)}
    for name, text in surfaces.items():
        assert "reset your password" in text, name
        assert NOTE_MARKER not in text and "legacy plan" not in text, f"the note leaked into the {name}"


# --- linked problems: tracker tickets ---

def test_a_ticket_linked_to_a_tracker_names_it_as_its_problem():
    event = parse(LINKED)
    assert event.case_id == "11" and event.changes["problem"] == "freshdesk:12"
    assert event.changes["stage"] == "in_progress" and event.changes["waiting_on"] == "third_party"


@pytest.mark.parametrize("name", ["ticket_created.json", "status_changed.json", "rule_c.reply_sent.json",
                                  "note.private.json", TRACKER])
def test_no_tracker_links_nothing(name):
    assert "problem" not in parse(name).changes  # an empty or absent tracker_ticket_id never unlinks


@pytest.mark.parametrize(("value", "problem"), [("12", "freshdesk:12"), (" 12 ", "freshdesk:12"), (12, "freshdesk:12"),
                                                ("", None), ("  ", None), (None, None), (True, None), ([12], None)])
def test_tracker_ticket_id_values(value, problem):
    payload = json.loads(body_of(LINKED))
    payload["freshdesk_webhook"]["tracker_ticket_id"] = value
    [event] = freshdesk.parse(payload, {}, received_at=RECEIVED_AT)
    assert event.changes.get("problem") == problem


@pytest.mark.parametrize("value", ["#12", "12a", "{{ticket.tracker_ticket_id}}", "-12", "1 2", "１２", "7" * 201])
def test_a_tracker_ticket_id_that_is_no_ticket_number_names_the_field(value):
    payload = json.loads(body_of(LINKED))
    payload["freshdesk_webhook"]["tracker_ticket_id"] = value
    with pytest.raises(BadRequest, match=r"freshdesk_webhook\.tracker_ticket_id"):
        freshdesk.parse(payload, {}, received_at=RECEIVED_AT)


def test_a_ticket_is_never_its_own_problem():
    payload = json.loads(body_of(LINKED))
    payload["freshdesk_webhook"]["tracker_ticket_id"] = "11"
    with pytest.raises(BadRequest, match=r"tracker_ticket_id names the ticket itself"):
        freshdesk.parse(payload, {}, received_at=RECEIVED_AT)


def test_through_the_app_the_linked_ticket_shows_its_tracker(client: TestClient, monkeypatch):
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "freshdesk", freshdesk)
    client.portal.call(client.app.state.store.add_source, SourceConfig("acme", "freshdesk", SECRET))

    def deliver(payload: dict[str, Any]) -> int:
        body = json.dumps(payload).encode()
        return client.post("/hooks/acme/freshdesk", content=body, headers={"x-tracker-token": SECRET}).status_code

    assert deliver(json.loads(body_of(TRACKER))) == 202
    assert deliver(json.loads(body_of(LINKED))) == 202
    deliver_now(client)
    url = link_for(client, "11", "freshdesk")
    problem = client.get(url + "/case.json").json()["problem"]
    assert problem["stage"] == "received" and not problem["fix_out"]

    resolved = json.loads(body_of(TRACKER))
    resolved["freshdesk_webhook"].update(ticket_status="Resolved", triggered_event="{status:{from:2,to:4}}")
    assert deliver(resolved) == 202
    deliver_now(client)
    problem = client.get(url + "/case.json").json()["problem"]
    assert problem["stage"] == "resolved" and problem["fix_out"]

    malformed = json.loads(body_of(LINKED))
    malformed["freshdesk_webhook"]["tracker_ticket_id"] = "#12"
    assert deliver(malformed) == 400


# --- My cases: the requester's address ---

@pytest.mark.parametrize("name", ["ticket_created.json", "status_changed.json"])  # recorded (Zulip's template)
def test_the_requester_address_is_the_tickets_requester_email(name):
    assert parse(name).changes["requester_email"] == "requester-bob@example.com"


@pytest.mark.parametrize("value", ["", "   ", None, ["bob@example.com"]])
def test_an_empty_or_missing_requester_email_sets_none(value):
    payload = json.loads(body_of("status_changed.json"))
    payload["freshdesk_webhook"]["requester_email"] = value
    [event] = freshdesk.parse(payload, {}, received_at=RECEIVED_AT)
    assert "requester_email" not in event.changes
    del payload["freshdesk_webhook"]["requester_email"]
    [event] = freshdesk.parse(payload, {}, received_at=RECEIVED_AT)
    assert "requester_email" not in event.changes
