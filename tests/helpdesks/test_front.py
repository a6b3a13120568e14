"""The front source: rule webhooks' X-Front-Signature (base64 HMAC-SHA1), conversation status,
replies to the customer as updates, comments kept as activity without their text."""

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
from tests.conftest import link_for, sse_events
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks import front
from tracker.storage.base import SourceConfig

FIXTURES = Path(__file__).parent.parent / "fixtures" / "front"
SECRET = "front-api-secret-5b7e"
NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
NAMES = ["inbound.json", "archive.json", "out_reply.json", "comment.json"]
MARKER = "INTERNAL-7f3a"
REPLY = "Hi Calculon,\n\nWe have cancelled subscription #SUB-67890 & refunded the last invoice."


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha1).digest()).decode()


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


# --- verify ---

@pytest.mark.parametrize("name", NAMES)
def test_signed_fixture_verifies(name):
    body = (FIXTURES / name).read_bytes()
    front.verify({"x-front-signature": sign(body)}, body, SECRET, NOW)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("change", ["body", "secret", "hex", "sha256", "missing"])
def test_wrong_or_missing_signature_is_rejected(name, change):
    body = (FIXTURES / name).read_bytes()
    headers = {"x-front-signature": sign(body)}
    secret = SECRET
    if change == "body":
        body = body.replace(b'"type"', b'"Type"', 1)
    elif change == "secret":
        secret = "another secret"
    elif change == "hex":
        headers = {"x-front-signature": hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()}
    elif change == "sha256":
        headers = {"x-front-signature": base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
                   .decode()}
    else:
        headers = {}
    with pytest.raises(Unauthorized, match="(?i)x-front-signature"):
        front.verify(headers, body, secret, NOW)


def test_application_webhook_is_refused_with_the_next_step():
    body = (FIXTURES / "inbound.json").read_bytes()
    headers = {"x-front-signature": "AAAA", "x-front-request-timestamp": "1518309200000"}
    with pytest.raises(Unauthorized, match="application webhook"):
        front.verify(headers, body, SECRET, NOW)


# --- parse ---

def test_inbound_message_puts_the_ball_in_the_companys_court():
    [event] = front.parse(load("inbound.json"), {})
    assert event.case_id == "2x9c5v" and event.delivery_id == "evt_28duo2q"
    assert event.occurred_at == datetime(2018, 2, 11, 0, 33, 20, tzinfo=UTC)
    assert event.changes == {"title": "Cancellation Request for Subscription #SUB-67890", "stage": "received",
                             "status_label": "unassigned", "waiting_on": "company",
                             "requester_email": "calculon@momsbot.com"}
    assert event.update is None and not event.internal  # the customer's own words are not an update


def test_archive_is_resolved():
    [event] = front.parse(load("archive.json"), {})
    assert event.case_id == "cnv_a73yqx" and event.delivery_id == "evt_11aqjdt"
    assert event.occurred_at == datetime.fromtimestamp(1509001146.525, UTC)
    assert event.changes["stage"] == "resolved" and event.changes["status_label"] == "archived"
    assert event.update is None


def test_reply_to_the_customer_is_a_public_update_by_the_teammate():
    [event] = front.parse(load("out_reply.json"), {})
    assert event.case_id == "cnv_keocka" and event.delivery_id == "evt_28e1a7b" and not event.internal
    assert event.changes["stage"] == "in_progress" and event.changes["waiting_on"] == "customer"
    assert event.update is not None
    assert event.update.id == "msg_1177a2c" and event.update.author_display == "Leela Turanga"
    assert event.update.body.startswith(REPLY)
    assert event.update.at == datetime(2018, 2, 11, 1, 33, 20, tzinfo=UTC)


def test_html_only_reply_becomes_plain_text():
    payload = load("out_reply.json")
    del payload["target"]["data"]["text"]
    payload["target"]["data"]["body"] += "<style>p {color: red}</style><script>alert(1)</script>"
    [event] = front.parse(payload, {})
    assert event.update is not None
    assert event.update.body == ("Hi Calculon,\n\nWe have cancelled subscription #SUB-67890 & refunded the last "
                                 "invoice.\n\nIt can take 5 business days to show on your card.")


def test_comment_is_activity_without_text():
    [event] = front.parse(load("comment.json"), {})
    assert event.case_id == "cnv_keocka" and event.internal
    # The comment's text is dropped; the conversation's subject is kept, so that a case first
    # heard of through a comment does not start without a title.
    assert event.update is None and event.changes == {"title": load("comment.json")["conversation"]["subject"]}
    assert event.occurred_at == datetime.fromtimestamp(1518312502.57, UTC)
    assert MARKER not in repr(event) and "owes us" not in repr(event)


def test_mention_is_activity_without_text():
    payload = load("comment.json")
    payload["type"] = "mention"
    [event] = front.parse(payload, {})
    assert event.internal and MARKER not in repr(event)


@pytest.mark.parametrize(("kind", "status", "stage"), [
    ("reopen", "unassigned", "received"),
    ("assign", "assigned", "in_progress"),
    ("unassign", "unassigned", "received"),
    ("trash", "deleted", "closed"),
    ("restore", "assigned", "in_progress"),
    ("archive", None, "resolved"),  # an event preview carries no status
    ("trash", None, "closed"),
])
def test_status_mapping(kind, status, stage):
    payload = load("archive.json")
    payload["type"] = kind
    if status is None:
        del payload["conversation"]["status"]
    else:
        payload["conversation"]["status"] = status
    [event] = front.parse(payload, {})
    assert event.changes["stage"] == stage
    assert event.changes.get("status_label") == status


@pytest.mark.parametrize("kind", ["tag", "untag", "move", "link_added", "sending_error", "reminder"])
def test_other_events_mean_nothing(kind):
    payload = load("archive.json")
    payload["type"] = kind
    assert front.parse(payload, {}) == []


def test_no_event_id_leaves_the_body_hash_to_the_endpoint():
    payload = load("archive.json")
    del payload["id"]
    assert front.parse(payload, {})[0].delivery_id == ""


def test_phone_handle_is_not_taken_for_an_email():
    payload = load("inbound.json")
    payload["conversation"]["recipient"]["handle"] = "+15551234567"
    assert "requester_email" not in front.parse(payload, {})[0].changes


@pytest.mark.parametrize(("name", "mutate", "named"), [
    ("archive.json", lambda p: p.pop("conversation"), "conversation"),
    ("archive.json", lambda p: p["conversation"].pop("id"), "conversation.id"),
    ("archive.json", lambda p: p.update(emitted_at="now"), "emitted_at"),
    ("out_reply.json", lambda p: p.pop("target"), "target.data.id"),
    ("out_reply.json", lambda p: [p["target"]["data"].pop(k) for k in ("text", "body")], "Send Full Event Data"),
    ("out_reply.json", lambda p: p["target"]["data"].update(created_at=10**20), "target.data.created_at"),
])
def test_malformed_payload_names_the_field(name, mutate, named):
    payload = load(name)
    mutate(payload)
    with pytest.raises(BadRequest, match=named.replace(".", r"\.")):
        front.parse(payload, {})


# --- through the app ---

def post(client: TestClient, name: str) -> dict[str, Any]:
    body = (FIXTURES / name).read_bytes()
    headers = {"x-front-signature": sign(body), "content-type": "application/json"}
    response = client.post("/hooks/acme/front", content=body, headers=headers)
    assert response.status_code == 202, response.text
    return dict(response.json())




def test_deliveries_through_the_app(client: TestClient, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "front", front)
    client.portal.call(client.app.state.store.add_source, SourceConfig("acme", "front", SECRET))
    assert post(client, "comment.json") == {"ok": True, "stored": 1, "duplicates": 0}
    assert post(client, "out_reply.json") == {"ok": True, "stored": 1, "duplicates": 0}
    assert post(client, "out_reply.json") == {"ok": True, "stored": 0, "duplicates": 1}
    body = (FIXTURES / "comment.json").read_bytes()
    forged = client.post("/hooks/acme/front", content=body, headers={"x-front-signature": sign(body, "guess")})
    assert forged.status_code == 401 and "X-Front-Signature" in forged.json()["error"]

    url = link_for(client, "cnv_keocka", "front")
    with client.stream("GET", url + "/events?last_event_id=0") as stream:
        replayed = sse_events(stream.iter_lines(), 2)
    page, data = client.get(url).text, client.get(url + "/case.json").json()
    assert data["title"] == "Cancellation Request for Subscription #SUB-67890"
    assert data["stage"] == "in_progress" and data["waiting_on"] == "customer"
    assert [u["body"][:len(REPLY)] for u in data["updates"]] == [REPLY]
    assert "Leela Turanga" in page and "refunded the last invoice" in page
    assert replayed[-1]["data"]["seq"] == data["revision"]
    assert replayed[0]["data"]["update"] is None  # the comment
    for surface in (page, json.dumps(data), repr(replayed)):
        assert MARKER not in surface and "owes us" not in surface


# --- My cases: the requester's address ---

@pytest.mark.parametrize(("name", "address"), [
    ("inbound.json", "calculon@momsbot.com"),  # recorded: the customer wrote in (role "from")
    ("out_reply.json", "calculon@momsbot.com"),  # the teammate's reply: still the contact (role "to")
])
def test_the_requester_address_is_the_conversations_recipient(name, address):
    [event] = front.parse(load(name), {})
    assert event.changes["requester_email"] == address
    author = load(name).get("target", {}).get("data", {}).get("author") or {}
    assert author.get("email") != event.changes["requester_email"]  # never the teammate's


@pytest.mark.parametrize("recipient", [None, {}, {"handle": None}, {"handle": 42}, "calculon@momsbot.com"])
def test_a_recipient_without_an_address_sets_no_requester(recipient):
    payload = load("inbound.json")
    payload["conversation"]["recipient"] = recipient
    assert "requester_email" not in front.parse(payload, {})[0].changes
