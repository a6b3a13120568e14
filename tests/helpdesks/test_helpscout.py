"""Help Scout: X-HelpScout-Signature (base64 HMAC-SHA1 of the body), convo.* events, the app."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import tracker.helpdesks
from tests.conftest import link_for, sse_events, suite_clock
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks import helpscout
from tracker.storage.base import SourceConfig

RECEIVED_AT = suite_clock().now()  # when tracker received the delivery (payloads without a time)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "helpscout"
SECRET = "a-key-chosen-by-the-admin-max-40-chars"
NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
NOTE_MARKER = "INTERNAL-HS-7f3a"
REPLY = "the download works again, please try once more."
EVENTS = {"convo.created.json": "convo.created", "convo.agent.reply.created.json": "convo.agent.reply.created",
          "convo.note.created.json": "convo.note.created"}


def body_of(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def signed(body: bytes, event: str, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha1).digest()
    return {"x-helpscout-signature": base64.b64encode(digest).decode(), "x-helpscout-event": event}


@pytest.mark.parametrize("name", EVENTS)
def test_signature_of_each_fixture_is_accepted(name):
    body = body_of(name)
    helpscout.verify(signed(body, EVENTS[name]), body, SECRET, NOW)


@pytest.mark.parametrize("name", EVENTS)
@pytest.mark.parametrize("change", ["body", "secret", "hex", "missing"])
def test_wrong_or_missing_signature_is_rejected(name, change):
    body = body_of(name)
    headers = signed(body, EVENTS[name], "another" if change == "secret" else SECRET)
    if change == "body":
        body = body.replace(b"{", b"{ ", 1)
    elif change == "hex":
        headers["x-helpscout-signature"] = hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    elif change == "missing":
        del headers["x-helpscout-signature"]
    with pytest.raises(Unauthorized, match="(?i)x-helpscout-signature"):
        helpscout.verify(headers, body, SECRET, NOW)


def parse(name: str) -> Any:
    [event] = helpscout.parse(json.loads(body_of(name)), signed(body_of(name), EVENTS[name]), received_at=RECEIVED_AT)
    return event


def test_created_conversation_is_received():
    event = parse("convo.created.json")
    assert event.case_id == "349" and event.delivery_id == ""  # no delivery id: the body hash applies
    assert event.changes == {"title": "I need help!", "requester_email": "bear@acme.com",
                             "requester_name": "Vernon Bear", "status_label": "Active",
                             "stage": "received", "waiting_on": "company"}
    assert event.occurred_at == datetime(2012, 10, 10, 12, tzinfo=UTC)
    assert event.update is None  # the customer's own message is not repeated back


def test_agent_reply_is_a_plain_text_update():
    event = parse("convo.agent.reply.created.json")
    assert event.changes["stage"] == "in_progress" and event.changes["waiting_on"] == "customer"
    assert event.changes["status_label"] == "Pending"
    assert event.update is not None and event.update.id == "2198262393"
    assert event.update.body == "Hi Vernon,\n\n" + REPLY and event.update.author_display == "Mr Robot"
    assert event.occurred_at == event.update.at == datetime(2012, 10, 10, 13, 30, tzinfo=UTC)


def test_note_keeps_no_text():
    event = parse("convo.note.created.json")
    assert event.internal and event.update is None
    assert event.occurred_at == datetime(2012, 10, 10, 13, 45, tzinfo=UTC)
    assert NOTE_MARKER not in repr(event) and "migration" not in repr(event)


def test_customer_reply_is_our_move_without_repeating_it():
    payload = json.loads(body_of("convo.created.json"))
    [event] = helpscout.parse(payload, {"x-helpscout-event": "convo.customer.reply.created"}, received_at=RECEIVED_AT)
    assert event.changes["stage"] == "in_progress" and event.changes["waiting_on"] == "company"
    assert event.update is None and not event.internal


@pytest.mark.parametrize(("status", "stage", "waiting_on"), [
    ("active", "in_progress", "company"), ("pending", "in_progress", "customer"), ("closed", "closed", None),
])
def test_status_mapping(status, stage, waiting_on):
    payload = {"number": 7, "status": status, "closedAt": "2012-10-11T09:00:00Z"}
    [event] = helpscout.parse(payload, {"x-helpscout-event": "convo.status"}, received_at=RECEIVED_AT)
    assert event.changes["status_label"] == status.capitalize()
    assert event.changes.get("stage") == stage and event.changes.get("waiting_on") == waiting_on


@pytest.mark.parametrize(("payload", "event"), [
    ({}, "helpscout.test"), ({"id": 291938}, "convo.deleted"), ({"number": 7, "status": "spam"}, "convo.status"),
    ({"id": 12}, "customer.created"), ({"number": 7}, ""),
])
def test_deliveries_that_mean_nothing(payload, event):
    assert helpscout.parse(payload, {"x-helpscout-event": event}, received_at=RECEIVED_AT) == []


@pytest.mark.parametrize(("payload", "named"), [
    ([], "JSON object"), ({"id": 291938}, "number"),
    ({"number": 7, "_embedded": {"threads": {}}}, "threads"),
    ({"number": 7, "createdAt": "yesterday"}, "createdAt"),
])
def test_malformed_body_names_the_field(payload, named):
    with pytest.raises(BadRequest, match=named):
        helpscout.parse(payload, {"x-helpscout-event": "convo.agent.reply.created"}, received_at=RECEIVED_AT)


def test_through_the_app_note_never_reaches_the_customer(client: TestClient, monkeypatch):
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "helpscout", helpscout)
    client.portal.call(client.app.state.store.add_source, SourceConfig("acme", "helpscout", SECRET))

    def deliver(name: str) -> dict[str, Any]:
        body = body_of(name)
        response = client.post("/hooks/acme/helpscout", content=body, headers=signed(body, EVENTS[name]))
        assert response.status_code == 202, response.text
        return dict(response.json())

    for name in EVENTS:
        assert deliver(name)["stored"] == 1
    assert deliver("convo.note.created.json") == {"ok": True, "stored": 0, "duplicates": 1}

    url = link_for(client, "349", "helpscout")
    with client.stream("GET", url + "/events?last_event_id=0") as stream:
        replayed = sse_events(stream.iter_lines(), 3)
    case_json = client.get(url + "/case.json").json()
    assert case_json["waiting_on"] == "customer" and case_json["title"] == "I need help!"
    surfaces = {"page": client.get(url).text, "json": json.dumps(case_json), "stream": json.dumps(replayed)}
    for name, text in surfaces.items():
        assert "the download works again" in text, name
        assert NOTE_MARKER not in text and "migration" not in text, f"the note leaked into the {name}"


# --- My cases: the requester's address ---

@pytest.mark.parametrize("name", sorted(EVENTS))
def test_the_requester_address_is_the_primary_customers(name):
    assert parse(name).changes["requester_email"] == "bear@acme.com"


@pytest.mark.parametrize("value", [None, "", 42, ["bear@acme.com"]])
def test_a_customer_email_that_is_no_string_sets_no_requester(value):
    payload = json.loads(body_of("convo.created.json"))
    payload["primaryCustomer"]["email"] = value
    [event] = helpscout.parse(payload, {"x-helpscout-event": "convo.created"}, received_at=RECEIVED_AT)
    assert "requester_email" not in event.changes
