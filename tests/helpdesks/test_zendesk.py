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
       "template.hold.internal_note.json"]


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
