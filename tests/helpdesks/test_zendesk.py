"""Zendesk: X-Zendesk-Webhook-Signature over timestamp + body, the trigger template, the app."""

from __future__ import annotations

import base64
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
from tests.test_problems import deliver_now
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks import zendesk
from tracker.storage.base import SourceConfig

RECEIVED_AT = suite_clock().now()  # when tracker received the delivery (payloads without a time)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "zendesk"
SECRET = "dGVzdC16ZW5kZXNrLXNpZ25pbmctc2VjcmV0"  # Zendesk generates base64-looking secrets
SENT = datetime(2026, 8, 17, 7, 34, 49, tzinfo=UTC)
NOTE_MARKER = "INTERNAL-ZD-7f3a"
REPLY = "We reproduced the export bug"


def body_of(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def signed(body: bytes, sent: datetime = SENT, secret: str = SECRET, invocation: str = "inv-1") -> dict[str, str]:
    timestamp = sent.strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return {"x-zendesk-webhook-signature": base64.b64encode(digest).decode(),
            "x-zendesk-webhook-signature-timestamp": timestamp,
            "x-zendesk-webhook-invocation-id": invocation}


ALL = ["trigger.ticket_create_update.json", "template.pending.public_comment.json",
       "template.hold.internal_note.json", "template.open.incident_linked.json"]
INCIDENT = "template.open.incident_linked.json"  # ticket 35437, linked to problem ticket 35401


@pytest.mark.parametrize("name", ALL)
def test_signature_of_each_fixture_is_accepted(name):
    body = body_of(name)
    zendesk.verify(signed(body), body, SECRET, SENT)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("change", ["body", "secret", "timestamp", "missing", "missing-timestamp"])
def test_wrong_or_missing_signature_is_rejected(name, change):
    body = body_of(name)
    headers = signed(body, secret="another" if change == "secret" else SECRET)
    if change == "body":
        body = body.replace(b"}", b" }", 1)
    elif change == "timestamp":  # the timestamp is part of the signed bytes
        headers["x-zendesk-webhook-signature-timestamp"] = "2026-08-17T07:34:50Z"
    elif change == "missing":
        del headers["x-zendesk-webhook-signature"]
    elif change == "missing-timestamp":
        del headers["x-zendesk-webhook-signature-timestamp"]
    with pytest.raises(Unauthorized, match="X-Zendesk-Webhook-Signature|x-zendesk-webhook-signature"):
        zendesk.verify(headers, body, SECRET, SENT)


def test_stale_timestamp_is_rejected():
    body = body_of("template.pending.public_comment.json")
    with pytest.raises(Unauthorized, match="300 s"):
        zendesk.verify(signed(body), body, SECRET, SENT + timedelta(seconds=301))
    zendesk.verify(signed(body), body, SECRET, SENT + timedelta(seconds=299))


def parse(name: str, **headers: str) -> list[Any]:
    return zendesk.parse(json.loads(body_of(name)), {**signed(body_of(name)), **headers}, received_at=RECEIVED_AT)


def test_zulip_template_fixture_maps_onto_the_case():
    [event] = parse("trigger.ticket_create_update.json")
    assert event.case_id == "7" and event.delivery_id == "inv-1"
    assert event.changes == {"title": "Hello world", "requester_name": "testerzulip", "status_label": "Open",
                             "stage": "in_progress", "waiting_on": "company"}
    # "updated_at": "February 3, 2025" has no time: the signing timestamp dates the change.
    assert event.occurred_at == SENT
    assert event.update is None and not event.internal  # the description is the requester's own text


def test_public_agent_comment_becomes_an_update():
    [event] = parse("template.pending.public_comment.json")
    assert event.case_id == "35436"
    assert event.occurred_at == datetime(2026, 8, 17, 7, 34, 48, tzinfo=UTC)
    assert event.changes["stage"] == "in_progress" and event.changes["waiting_on"] == "customer"
    assert event.changes["status_label"] == "Pending" and event.changes["requester_email"] == "ann@example.com"
    assert event.update is not None and event.update.id == "54509304133531"
    assert event.update.body.startswith(REPLY) and event.update.author_display == "Dana Agent"


def test_internal_latest_comment_keeps_no_text():
    [event] = parse("template.hold.internal_note.json")
    assert event.internal and event.update is None
    assert event.changes["waiting_on"] == "third_party" and event.changes["status_label"] == "On-hold"
    assert NOTE_MARKER not in repr(event)


def test_requester_comment_is_not_repeated_back():
    payload = json.loads(body_of("template.pending.public_comment.json"))
    payload["comment"].update(author="Ann Requester", author_email="ANN@example.com", body="Any news?")
    [event] = zendesk.parse(payload, {}, received_at=RECEIVED_AT)
    assert event.update is None and event.delivery_id == ""  # no invocation id: the body hash applies


@pytest.mark.parametrize(("status", "stage", "waiting_on"), [
    ("New", "received", "company"), ("Open", "in_progress", "company"),
    ("Pending", "in_progress", "customer"), ("On-hold", "in_progress", "third_party"),
    ("Hold", "in_progress", "third_party"), ("Solved", "resolved", None), ("Closed", "closed", None),
    ("Offen", None, None),
])
def test_status_mapping(status, stage, waiting_on):
    payload = {"ticket": {"id": "1", "status": status, "updated_at": "2026-08-17T07:34:48Z"}}
    [event] = zendesk.parse(payload, {}, received_at=RECEIVED_AT)
    assert event.changes["status_label"] == status
    assert event.changes.get("stage") == stage and event.changes.get("waiting_on") == waiting_on


@pytest.mark.parametrize(("payload", "named"), [
    ([], "JSON object"), ({"ticket": {"title": "x"}}, "ticket.id"), ({"ticket_title": "x"}, "ticket.id"),
    ({"ticket": "7"}, "ticket must"), ({"ticket": {"id": "7"}, "comment": "hi"}, "comment must"),
])
def test_malformed_body_names_the_field(payload, named):
    with pytest.raises(BadRequest, match=named):
        zendesk.parse(payload, {}, received_at=RECEIVED_AT)


def test_through_the_app_internal_note_never_reaches_the_customer(client: TestClient, monkeypatch):
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "zendesk", zendesk)
    client.portal.call(client.app.state.store.add_source, SourceConfig("acme", "zendesk", SECRET))
    now = suite_clock().now()

    def deliver(name: str, invocation: str) -> dict[str, Any]:
        body = body_of(name)
        response = client.post("/hooks/acme/zendesk", content=body, headers=signed(body, now, invocation=invocation))
        assert response.status_code == 202, response.text
        return dict(response.json())

    assert deliver("template.pending.public_comment.json", "inv-a")["stored"] == 1
    assert deliver("template.hold.internal_note.json", "inv-b")["stored"] == 1
    assert deliver("template.hold.internal_note.json", "inv-b") == {"ok": True, "stored": 0, "duplicates": 1}

    url = link_for(client, "35436", "zendesk")
    with client.stream("GET", url + "/events?last_event_id=0") as stream:
        replayed = sse_events(stream.iter_lines(), 2)
    case_json = client.get(url + "/case.json").json()
    assert case_json["status_label"] == "On-hold" and case_json["waiting_on"] == "third_party"
    surfaces = {"page": client.get(url).text, "json": json.dumps(case_json), "stream": json.dumps(replayed)}
    for name, text in surfaces.items():
        assert REPLY in text, name
        assert NOTE_MARKER not in text and "refund" not in text, f"the note leaked into the {name}"


# --- Linked problems: ticket.problem_id (the Tickets API's name) links an incident to its problem ticket ---


def with_problem_id(value: Any) -> dict[str, Any]:
    payload = json.loads(body_of(INCIDENT))
    payload["ticket"]["problem_id"] = value
    return dict(payload)


def test_an_incidents_problem_id_links_the_case_to_the_problem_tickets_case():
    [event] = parse(INCIDENT)
    assert event.case_id == "35437" and event.changes["problem"] == "zendesk:35401"
    assert event.changes["stage"] == "in_progress" and event.update is not None  # the rest as before


@pytest.mark.parametrize("value", ["35401", " 35401\n", 35401])
def test_the_problem_id_is_written_as_case_ids_are(value):
    [event] = zendesk.parse(with_problem_id(value), {}, received_at=RECEIVED_AT)
    assert event.changes["problem"] == "zendesk:35401"


@pytest.mark.parametrize("value", ["", "   ", "0", 0, None, "{{ticket.problem_id}}", "{{ticket.ticket_field_360}}"])
def test_an_empty_problem_id_links_nothing_and_unlinks_nothing(value):
    [event] = zendesk.parse(with_problem_id(value), {}, received_at=RECEIVED_AT)
    assert "problem" not in event.changes  # never `problem: None`: that would undo a link made elsewhere
    assert event.changes["status_label"] == "Open"


@pytest.mark.parametrize("name", ["trigger.ticket_create_update.json", "template.pending.public_comment.json"])
def test_a_body_without_problem_id_links_nothing(name):
    [event] = parse(name)
    assert "problem" not in event.changes


MALFORMED = [{"id": 35401}, [35401], True, 35401.0, -35401, 2**64, "35401a", "#35401", "zendesk:35401",
             "\uff13\uff15\uff14\uff10\uff11", "\u0663\u0665", "9" * 100_000, "35437"]


@pytest.mark.parametrize("value", MALFORMED, ids=lambda v: repr(v)[:24])
def test_a_malformed_problem_id_is_a_bad_request_that_names_the_field(value):
    with pytest.raises(BadRequest, match=r"ticket\.problem_id") as raised:
        zendesk.parse(with_problem_id(value), {}, received_at=RECEIVED_AT)
    assert len(str(raised.value)) < 200  # a huge value is not echoed back


def zendesk_client(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "zendesk", zendesk)
    client.portal.call(client.app.state.store.add_source, SourceConfig("acme", "zendesk", SECRET))
    return client


def deliver_body(client: TestClient, body: bytes, invocation: str) -> Any:
    return client.post("/hooks/acme/zendesk", content=body,
                       headers=signed(body, suite_clock().now(), invocation=invocation))


@pytest.mark.parametrize("value", [{"id": 35401}, "35401a", "9" * 100_000, 2**64, "35437"], ids=lambda v: repr(v)[:24])
def test_through_the_app_a_malformed_problem_id_is_answered_400(client: TestClient, monkeypatch, value):
    zendesk_client(client, monkeypatch)
    response = deliver_body(client, json.dumps(with_problem_id(value)).encode(), "inv-bad")
    assert response.status_code == 400 and "ticket.problem_id" in response.text


PROBLEM_TITLE = "ZD-PROBLEM-9c2e export worker runs out of memory"  # the problem's own text: not for customers


def test_through_the_app_an_incident_shows_its_problem_ticket_once_that_is_received(client: TestClient, monkeypatch):
    zendesk_client(client, monkeypatch)
    assert deliver_body(client, body_of(INCIDENT), "inv-incident").status_code == 202
    problem = {"ticket": {"id": "35401", "title": PROBLEM_TITLE, "status": "On-hold",
                          "updated_at": "2026-08-17T10:20:00Z"}}
    assert deliver_body(client, json.dumps(problem).encode(), "inv-problem").status_code == 202
    deliver_now(client)
    url = link_for(client, "35437", "zendesk")
    case_json = client.get(url + "/case.json").json()
    shown = case_json["problem"]
    assert shown is not None and shown["stage"] == "in_progress" and not shown["fix_out"]
    assert shown["others_affected"] == 0 and case_json["stage"] == "in_progress"
    for surface in (json.dumps(case_json), client.get(url).text):
        assert PROBLEM_TITLE not in surface


# --- My cases: the requester's address ---

def test_the_requester_address_is_the_templates_requester_email():
    [event] = parse("template.pending.public_comment.json")
    assert event.changes["requester_email"] == "ann@example.com"
    assert "requester_email" not in parse("trigger.ticket_create_update.json")[0].changes  # Zulip's: no address


def test_the_comment_authors_address_is_never_the_requesters():
    payload = json.loads(body_of("template.pending.public_comment.json"))
    del payload["ticket"]["requester_email"]
    payload["comment"]["author_email"] = "dana@example.com"
    [event] = zendesk.parse(payload, {}, received_at=RECEIVED_AT)
    assert "requester_email" not in event.changes
