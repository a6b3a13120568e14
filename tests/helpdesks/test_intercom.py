"""Intercom: X-Hub-Signature (sha1= hex HMAC-SHA1 of the body), conversation topics, the app."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import tracker.helpdesks
from tests.conftest import link_for, sse_events
from tests.test_problems import deliver_now
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks import intercom
from tracker.helpdesks.writing import NewCase
from tracker.storage.base import SourceConfig

FIXTURES = Path(__file__).parent.parent / "fixtures" / "intercom"
SECRET = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"  # an app client secret
NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
NOTE_MARKER = "INTERNAL-IC-7f3a"
REPLY = "Hey Eeshan! How can I help?"
LINKED = "written.conversation.admin.replied.tracker_linked.json"  # linked to tracker ticket 207
TRACKER = "written.ticket.state.updated.tracker.json"  # tracker ticket 207, in progress
TRACKER_MARKER = "INTERNAL-IC-TRK-5d2e"  # in the tracker ticket's description
ALL = ["conversation.user.created.json", "conversation.admin.replied.json", "conversation.admin.noted.json",
       "conversation.admin.closed.json", "ping.json", "written.conversation.admin.noted.json", LINKED, TRACKER]


def body_of(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"x-hub-signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()}


@pytest.mark.parametrize("name", ALL)
def test_signature_of_each_fixture_is_accepted(name):
    body = body_of(name)
    intercom.verify(signed(body), body, SECRET, NOW)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("change", ["body", "secret", "sha256", "missing"])
def test_wrong_or_missing_signature_is_rejected(name, change):
    body = body_of(name)
    headers = signed(body, "another" if change == "secret" else SECRET)
    if change == "body":
        body = body.replace(b"{", b"{ ", 1)
    elif change == "sha256":
        headers["x-hub-signature"] = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    elif change == "missing":
        del headers["x-hub-signature"]
    with pytest.raises(Unauthorized, match="(?i)x-hub-signature"):
        intercom.verify(headers, body, SECRET, NOW)


def parse(name: str) -> list[Any]:
    return intercom.parse(json.loads(body_of(name)), signed(body_of(name)))


def test_user_created_is_received_without_repeating_the_customer_message():
    [event] = parse("conversation.user.created.json")
    assert event.case_id == "21321941764"
    assert event.delivery_id == "notif_3ac27816-d27c-45fd-a65a-bbaf021cf780"
    assert event.occurred_at == datetime.fromtimestamp(1553290198, UTC)
    assert event.changes == {"requester_name": "Rose Poodle from St. John's", "status_label": "Open",
                             "stage": "received", "waiting_on": "company"}
    assert event.update is None and "Hello everyone" not in repr(event)


def test_admin_reply_in_an_assignment_part_is_a_public_update():
    [event] = parse("conversation.admin.replied.json")
    assert event.case_id == "21322009097" and event.delivery_id == "notif_44d1f763-d3ad-4927-8e5c-da6cd6ca78d2"
    assert event.changes["stage"] == "in_progress" and event.changes["waiting_on"] == "customer"
    assert event.changes["requester_email"] == "jerryguitarist@gmail.com"
    assert event.update is not None and event.update.id == "2824382500"
    assert event.update.body == REPLY and event.update.author_display == "Eeshan Garg"
    assert event.occurred_at == event.update.at == datetime.fromtimestamp(1553291111, UTC)


@pytest.mark.parametrize("name", ["conversation.admin.noted.json", "written.conversation.admin.noted.json"])
def test_note_keeps_no_text(name):
    [event] = parse(name)
    assert event.internal and event.update is None
    assert "Talk to Tim" not in repr(event) and NOTE_MARKER not in repr(event)


def test_closed_conversation_is_closed():
    [event] = parse("conversation.admin.closed.json")
    assert event.changes["stage"] == "closed" and event.changes["status_label"] == "Closed"
    assert event.update is None  # a close part without words


def test_ping_and_other_topics_mean_nothing():
    assert parse("ping.json") == []
    assert intercom.parse({"topic": "contact.created", "data": {"item": {}}}, {}) == []


def test_several_parts_get_distinct_delivery_ids():
    payload = json.loads(body_of("conversation.admin.replied.json"))
    parts = payload["data"]["item"]["conversation_parts"]["conversation_parts"]
    parts.append({**parts[0], "id": "2824382501", "part_type": "note", "body": "<p>secret</p>"})
    first, second = intercom.parse(payload, {})
    assert first.delivery_id != second.delivery_id and first.delivery_id.startswith(payload["id"])
    assert not first.internal and second.internal and "secret" not in repr(second)


@pytest.mark.parametrize(("state", "topic", "stage", "waiting_on"), [
    ("open", "conversation.user.created", "received", "company"),
    ("open", "conversation.user.replied", "in_progress", "company"),
    ("open", "conversation.admin.replied", "in_progress", "customer"),
    ("open", "conversation.admin.opened", "in_progress", None),
    ("snoozed", "conversation.admin.snoozed", "in_progress", None),
    ("closed", "conversation.admin.closed", "closed", None),
])
def test_state_mapping(state, topic, stage, waiting_on):
    payload = {"id": "notif_1", "topic": topic, "data": {"item": {"id": "9", "state": state, "updated_at": 1}}}
    [event] = intercom.parse(payload, {})
    assert event.changes["status_label"] == state.capitalize()
    assert event.changes.get("stage") == stage and event.changes.get("waiting_on") == waiting_on


@pytest.mark.parametrize(("payload", "named"), [
    ([], "JSON object"), ({"data": {}}, "topic"),
    ({"topic": "conversation.admin.replied", "data": {"item": {}}}, "data.item.id"),
    ({"topic": "conversation.admin.replied", "data": {"item": {"id": "1"}}}, "updated_at"),
    ({"topic": "conversation.admin.replied",
      "data": {"item": {"id": "1", "conversation_parts": {"conversation_parts": [{"id": "p"}]}}}}, "created_at"),
])
def test_malformed_body_names_the_field(payload, named):
    with pytest.raises(BadRequest, match=named):
        intercom.parse(payload, {})


def test_through_the_app_note_never_reaches_the_customer(client: TestClient, monkeypatch):
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "intercom", intercom)
    client.portal.call(client.app.state.store.add_source, SourceConfig("acme", "intercom", SECRET))

    def deliver(name: str) -> dict[str, Any]:
        body = body_of(name)
        response = client.post("/hooks/acme/intercom", content=body, headers=signed(body))
        assert response.status_code == 202, response.text
        return dict(response.json())

    for name in ("conversation.admin.replied.json", "written.conversation.admin.noted.json",
                 "conversation.admin.closed.json"):
        assert deliver(name)["stored"] == 1
    assert deliver("conversation.admin.closed.json") == {"ok": True, "stored": 0, "duplicates": 1}
    assert deliver("ping.json") == {"ok": True, "stored": 0, "duplicates": 0}

    url = link_for(client, "21322009097", "intercom")
    with client.stream("GET", url + "/events?last_event_id=0") as stream:
        replayed = sse_events(stream.iter_lines(), 3)
    case_json = client.get(url + "/case.json").json()
    assert case_json["stage"] == "closed"
    surfaces = {"page": client.get(url).text, "json": json.dumps(case_json), "stream": json.dumps(replayed)}
    for name, text in surfaces.items():
        assert "How can I help?" in text, name
        assert NOTE_MARKER not in text and "legacy plan" not in text, f"the note leaked into the {name}"


# --- linked problems: tracker tickets ---

def payload_of(name: str) -> dict[str, Any]:
    return dict(json.loads(body_of(name)))


def test_a_conversation_linked_to_a_tracker_ticket_names_it_as_its_problem():
    [event] = parse(LINKED)
    assert event.case_id == "21322009097" and event.changes["problem"] == "intercom:ticket-207"
    assert event.update is not None and event.update.body == REPLY  # the rest of the delivery as before


@pytest.mark.parametrize("name", ["conversation.user.created.json", "conversation.admin.replied.json",
                                  "conversation.admin.closed.json", "written.conversation.admin.noted.json"])
def test_a_conversation_without_links_links_nothing(name):
    for event in parse(name):
        assert "problem" not in event.changes


@pytest.mark.parametrize("data", [
    [],  # unlinked in Intercom: tracker keeps what it has (an admin may have linked it)
    [{"type": "ticket", "id": "208", "category": "Back-office"}],
    [{"type": "ticket", "id": "209", "category": "Customer"}],
    [{"type": "conversation", "id": "21322009098", "category": None}],
])
def test_only_a_tracker_ticket_is_a_problem(data):
    payload = payload_of(LINKED)
    payload["data"]["item"]["linked_objects"]["data"] = data
    [event] = intercom.parse(payload, {})
    assert "problem" not in event.changes


def test_the_tracker_ticket_is_found_among_other_links():
    payload = payload_of(LINKED)
    payload["data"]["item"]["linked_objects"]["data"] = [{"type": "ticket", "id": "208", "category": "Back-office"},
                                                         {"type": "ticket", "id": 207, "category": "Tracker"}]
    [event] = intercom.parse(payload, {})
    assert event.changes["problem"] == "intercom:ticket-207"


@pytest.mark.parametrize("linked", [None, "207", [], {"type": "list"}, {"data": "207"}, {"data": ["207", None, 7]}])
def test_links_of_an_unknown_shape_are_ignored(linked):
    payload = payload_of(LINKED)
    payload["data"]["item"]["linked_objects"] = linked
    [event] = intercom.parse(payload, {})
    assert "problem" not in event.changes


@pytest.mark.parametrize("ticket_id", [None, "", " ", True, 2.5, {"id": "207"}, "7" * 201])
def test_a_tracker_link_without_a_usable_id_names_the_field(ticket_id):
    payload = payload_of(LINKED)
    payload["data"]["item"]["linked_objects"]["data"] = [{"type": "ticket", "id": ticket_id, "category": "Tracker"}]
    with pytest.raises(BadRequest, match=r"data\.item\.linked_objects\.data\[0\]\.id"):
        intercom.parse(payload, {})


def test_a_tracker_ticket_never_meets_a_conversation_of_the_same_number():
    payload = payload_of(LINKED)
    payload["data"]["item"]["linked_objects"]["data"][0]["id"] = "21322009097"  # the conversation's own number
    [event] = intercom.parse(payload, {})
    assert event.changes["problem"] == "intercom:ticket-21322009097" != f"intercom:{event.case_id}"


def test_a_tracker_ticket_is_a_case_of_its_own_without_its_text():
    [event] = parse(TRACKER)
    assert event.case_id == "ticket-207" and event.delivery_id == "notif_2f4a7c90-31d8-4e0b-9c6a-5e8d1b3f7a22"
    assert event.occurred_at == datetime.fromtimestamp(1553291200, UTC)
    assert event.changes == {"title": "Exports time out for large workspaces", "status_label": "In progress",
                             "stage": "in_progress", "waiting_on": "company"}
    assert event.update is None and TRACKER_MARKER not in repr(event) and "With Dev Team" not in repr(event)


@pytest.mark.parametrize(("category", "stage", "waiting_on"), [
    ("submitted", "received", "company"), ("in_progress", "in_progress", "company"),
    ("waiting_on_customer", "in_progress", "customer"), ("resolved", "resolved", None), ("someday", None, None),
])
def test_tracker_ticket_states_in_both_shapes(category, stage, waiting_on):
    newer = payload_of(TRACKER)  # API 2.12 on: ticket_state is an object
    newer["data"]["item"]["ticket_state"]["category"] = category
    older = payload_of(TRACKER)  # API 2.10 and 2.11: the category itself, its label beside it
    older["data"]["item"].update(ticket_state=category, ticket_state_external_label="Working on it")
    for payload in (newer, older):
        [event] = intercom.parse(payload, {})
        assert event.changes.get("stage") == stage and event.changes.get("waiting_on") == waiting_on
    assert intercom.parse(older, {})[0].changes["status_label"] == "Working on it"


@pytest.mark.parametrize("change", [
    lambda item: item.update(category="Customer", ticket_type={"category": "Customer"}),
    lambda item: item.update(category="Back-office", ticket_type={"category": "Back-office"}),
    lambda item: item.update(type="conversation"),
])
def test_other_tickets_mean_nothing(change):
    payload = payload_of(TRACKER)
    change(payload["data"]["item"])
    assert intercom.parse(payload, {}) == []


def test_a_tracker_ticket_is_known_by_its_type_too():
    payload = payload_of(TRACKER)
    del payload["data"]["item"]["category"]  # as in Intercom's own 2.14 example answer
    assert intercom.parse(payload, {})[0].case_id == "ticket-207"


@pytest.mark.parametrize(("change", "named"), [
    (lambda item: item.update(id=""), "data.item.id"),
    (lambda item: item.update(id=None), "data.item.id"),
    (lambda item: item.update(updated_at="soon"), "updated_at"),
])
def test_a_malformed_tracker_ticket_names_the_field(change, named):
    payload = payload_of(TRACKER)
    change(payload["data"]["item"])
    with pytest.raises(BadRequest, match=named.replace(".", r"\.")):
        intercom.parse(payload, {})


@pytest.mark.parametrize(("name", "written"), [(TRACKER, False), (LINKED, True)])
def test_write_back_skips_tracker_tickets(name, written):
    case = NewCase("acme", "intercom", "207", "https://tracker.example/c/abc",
                   {"api_token": "t", "admin_id": "1957471"}, payload_of(name))
    assert (intercom.link_request(case) is not None) == written


def test_through_the_app_the_linked_conversation_shows_its_tracker_ticket(client: TestClient, monkeypatch):
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "intercom", intercom)
    client.portal.call(client.app.state.store.add_source, SourceConfig("acme", "intercom", SECRET))

    def deliver(payload: dict[str, Any]) -> int:
        body = json.dumps(payload).encode()
        return client.post("/hooks/acme/intercom", content=body, headers=signed(body)).status_code

    assert deliver(payload_of(TRACKER)) == 202
    assert deliver(payload_of(LINKED)) == 202
    deliver_now(client)
    url = link_for(client, "21322009097", "intercom")
    problem = client.get(url + "/case.json").json()["problem"]
    assert problem["stage"] == "in_progress" and not problem["fix_out"]

    resolved = payload_of(TRACKER)
    resolved["id"], resolved["data"]["item"]["updated_at"] = "notif_resolved", 1553291300
    resolved["data"]["item"]["ticket_state"].update(category="resolved", external_label="Resolved")
    assert deliver(resolved) == 202
    deliver_now(client)
    problem = client.get(url + "/case.json").json()["problem"]
    assert problem["stage"] == "resolved" and problem["fix_out"]
    for surface in (client.get(url).text, client.get(url + "/case.json").text):
        assert TRACKER_MARKER not in surface and "With Dev Team" not in surface

    malformed = payload_of(LINKED)
    malformed["id"] = "notif_malformed"
    malformed["data"]["item"]["linked_objects"]["data"][0]["id"] = {"oops": 1}
    assert deliver(malformed) == 400


# --- My cases: the requester's address ---

@pytest.mark.parametrize("name", ["conversation.admin.closed.json", "conversation.admin.noted.json",
                                  "conversation.admin.replied.json"])
def test_the_requester_address_is_the_conversations_user(name):
    [event] = parse(name)  # recorded: the conversation's lead, with their address
    assert event.changes["requester_email"] == "jerryguitarist@gmail.com"


def test_an_anonymous_lead_or_an_admin_sets_no_requester():
    [event] = parse("conversation.user.created.json")  # recorded: the lead's email is ""
    assert "requester_email" not in event.changes
    payload = json.loads(body_of("conversation.admin.replied.json"))
    item = payload["data"]["item"]
    del item["user"]
    item["conversation_message"]["author"] = {"type": "admin", "id": "1957471", "email": "eeshan@example.com"}
    [event] = intercom.parse(payload, {})
    assert "requester_email" not in event.changes  # an admin is nobody's requester
    item["conversation_message"]["author"] = {"type": "user", "id": "5c95", "email": "jerry@example.com"}
    [event] = intercom.parse(payload, {})
    assert event.changes["requester_email"] == "jerry@example.com"
