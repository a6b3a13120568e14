"""The chatwoot source: X-Chatwoot-Signature over "{timestamp}.{body}", conversations and messages."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import tracker.helpdesks
from tests.conftest import link_for, sse_events, suite_clock
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks import chatwoot
from tracker.storage.base import SourceConfig

FIXTURES = Path(__file__).parent.parent / "fixtures" / "chatwoot"
SECRET = "Vp3kq9XbT2mR7sLw8nYc4dFh"
NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
NOTE = "INTERNAL-0e77"
NAMES = [
    "message_created.incoming.api-channel.json",
    "message_created.outgoing.reply.json",
    "message_created.private_note.json",
    "conversation_status_changed.resolved.json",
]


def sign(timestamp: str, body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


DELIVERY = "5f0e3c52-7d0b-4b8e-9a61-0c2f4e8d1a37"


def headers_for(body: bytes, now: datetime = NOW, delivery: str = DELIVERY) -> dict[str, str]:
    timestamp = str(int(now.timestamp()))
    return {"x-chatwoot-signature": sign(timestamp, body), "x-chatwoot-timestamp": timestamp,
            "x-chatwoot-delivery": delivery}


def parse(payload: dict[str, Any]) -> list[Any]:
    return chatwoot.parse(payload, {"x-chatwoot-delivery": "d-1"})


@pytest.mark.parametrize("name", NAMES)
def test_every_fixture_verifies_with_its_signature(name):
    body = (FIXTURES / name).read_bytes()
    chatwoot.verify(headers_for(body), body, SECRET, NOW)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("change", ["body", "secret", "timestamp", "body-only", "missing", "no-timestamp"])
def test_wrong_or_missing_signature_is_rejected(name, change):
    body = (FIXTURES / name).read_bytes()
    headers = headers_for(body)
    secret = SECRET
    if change == "body":
        body = body.replace(b"11791", b"11792")
    elif change == "secret":
        secret = "another secret"
    elif change == "timestamp":  # a fresh timestamp on an old signature
        headers["x-chatwoot-timestamp"] = str(int(NOW.timestamp()) + 1)
    elif change == "body-only":  # HMAC over the body alone is not Chatwoot's scheme
        headers["x-chatwoot-signature"] = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    elif change == "missing":
        del headers["x-chatwoot-signature"]
    else:
        del headers["x-chatwoot-timestamp"]
    with pytest.raises(Unauthorized, match="(?i)x-chatwoot-(signature|timestamp)"):
        chatwoot.verify(headers, body, secret, NOW)


@pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_stale_or_future_timestamp_is_rejected(skew):
    body = (FIXTURES / NAMES[0]).read_bytes()
    headers = headers_for(body, now=NOW + skew)  # correctly signed, but not now
    with pytest.raises(Unauthorized, match="300 s"):
        chatwoot.verify(headers, body, SECRET, NOW)
    chatwoot.verify(headers_for(body, now=NOW - timedelta(minutes=4)), body, SECRET, NOW)


def test_customer_message_gives_the_move_back_without_its_text():
    [event] = parse(load("message_created.incoming.api-channel.json"))
    assert event.case_id == "11791" and event.delivery_id == "d-1"
    assert event.occurred_at == datetime(2022, 6, 25, 19, 6, 29, 257000, tzinfo=UTC)
    assert event.changes == {"waiting_on": "company"}
    assert event.update is None and not event.internal and "teste 1" not in repr(event)


def test_agent_reply_is_a_public_update():
    [event] = parse(load("message_created.outgoing.reply.json"))
    assert event.case_id == "11791" and not event.internal
    assert event.update is not None
    assert event.update.id == "64330" and event.update.author_display == "Douglas Lara"
    assert event.update.body == "Thanks, Douglas! We have found your order and it ships tomorrow."
    assert event.update.at == datetime(2022, 6, 25, 19, 15, 2, 118000, tzinfo=UTC)


def test_private_note_is_activity_without_text():
    [event] = parse(load("message_created.private_note.json"))
    assert event.internal and event.update is None and event.changes == {}
    assert NOTE not in repr(event)


def test_outgoing_message_without_a_private_flag_is_treated_as_internal():
    payload = load("message_created.outgoing.reply.json")
    del payload["private"]
    [event] = parse(payload)
    assert event.internal and event.update is None


def test_resolved_status_change():
    [event] = parse(load("conversation_status_changed.resolved.json"))
    assert event.case_id == "11791"
    assert event.occurred_at == datetime.fromtimestamp(1656185100.4821, UTC)
    assert event.changes == {"status_label": "Resolved", "stage": "resolved", "waiting_on": "customer",
                             "requester_email": "douglas.private@example.com", "requester_name": "Douglas Lara"}


@pytest.mark.parametrize(("kind", "status", "stage", "waiting_on"), [
    ("conversation_status_changed", "open", "in_progress", "company"),
    ("conversation_status_changed", "pending", "received", "company"),
    ("conversation_status_changed", "snoozed", "in_progress", "customer"),
    ("conversation_created", "open", "received", "company"),
])
def test_statuses_map_onto_stages(kind, status, stage, waiting_on):
    payload = {**load("conversation_status_changed.resolved.json"), "event": kind, "status": status}
    [event] = parse(payload)
    assert (event.changes["stage"], event.changes["waiting_on"]) == (stage, waiting_on)
    assert event.changes["status_label"] == status.capitalize()


@pytest.mark.parametrize("change", [{"event": "conversation_updated"}, {"event": "contact_created"},
                                    {"message_type": "activity"}, {"message_type": "template"}])
def test_deliveries_that_mean_nothing(change):
    payload = {**load("message_created.outgoing.reply.json"), **change}
    assert parse(payload) == []


def test_no_delivery_header_leaves_the_body_hash_to_the_endpoint():
    [event] = chatwoot.parse(load("message_created.outgoing.reply.json"), {})
    assert event.delivery_id == ""


@pytest.mark.parametrize(("name", "mutate", "named"), [
    ("message_created.outgoing.reply.json", lambda p: p.pop("conversation"), "conversation"),
    ("message_created.outgoing.reply.json", lambda p: p["conversation"].pop("id"), "conversation.id"),
    ("message_created.outgoing.reply.json", lambda p: p.pop("created_at"), "created_at"),
    ("conversation_status_changed.resolved.json", lambda p: p.pop("status"), "status"),
    ("conversation_status_changed.resolved.json", lambda p: p.pop("id"), "id"),
])
def test_malformed_payload_names_the_field(name, mutate, named):
    payload = load(name)
    mutate(payload)
    with pytest.raises(BadRequest, match=named.replace(".", r"\.")):
        parse(payload)


# --- through the app ---

def post(client: TestClient, name: str, delivery: str) -> Any:
    body = (FIXTURES / name).read_bytes()
    headers = headers_for(body, now=suite_clock().now(), delivery=delivery)
    response = client.post("/hooks/acme/chatwoot", content=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()




def test_deliveries_through_the_app(client: TestClient, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "chatwoot", chatwoot)
    client.portal.call(client.app.state.store.add_source, SourceConfig("acme", "chatwoot", SECRET))
    stale = (FIXTURES / NAMES[0]).read_bytes()
    assert client.post("/hooks/acme/chatwoot", content=stale, headers=headers_for(stale)).status_code == 401
    for delivery, name in enumerate(NAMES):
        assert post(client, name, f"c-{delivery}")["stored"] == 1
    assert post(client, NAMES[1], "c-1") == {"ok": True, "stored": 0, "duplicates": 1}

    url = link_for(client, "11791", "chatwoot")
    with client.stream("GET", url + "/events?last_event_id=0") as stream:
        replayed = sse_events(stream.iter_lines(), 4)
    page, data = client.get(url).text, client.get(url + "/case.json").json()
    assert data["helpdesk_stage"] == "resolved" and data["status_label"] == "Resolved"
    assert [u["body"] for u in data["updates"]] == ["Thanks, Douglas! We have found your order and it ships tomorrow."]
    assert "ships tomorrow" in page
    assert replayed[-1]["data"]["seq"] == data["revision"]  # four events stored
    for surface in (page, json.dumps(data), repr(replayed)):
        for secret in (NOTE, "legacy plan", "douglas.private@example.com", "teste 1"):
            assert secret not in surface


# --- My cases: the requester's address ---

def test_the_requester_address_is_the_contacts_never_the_assignees():
    payload = load("message_created.incoming.api-channel.json")  # recorded: a WhatsApp contact, email null
    [event] = parse(payload)
    assert "requester_email" not in event.changes
    payload["conversation"]["meta"]["assignee"]["email"] = "douglas.agent@example.com"
    [event] = parse(payload)
    assert "requester_email" not in event.changes  # the agent is nobody's requester
    payload["conversation"]["meta"]["sender"]["email"] = "Douglas@Example.com"
    [event] = parse(payload)
    assert event.changes["requester_email"] == "Douglas@Example.com"  # as reported: the store lowers it


@pytest.mark.parametrize("value", [None, "", 42, ["a@example.com"], {"email": "a@example.com"}])
def test_a_contact_email_that_is_no_string_sets_no_requester(value):
    payload = load("conversation_status_changed.resolved.json")
    payload["meta"]["sender"]["email"] = value
    [event] = parse(payload)
    assert "requester_email" not in event.changes
