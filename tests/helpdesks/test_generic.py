"""The generic source: Standard Webhooks signing (test vector) and tracker's body shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import suite_clock
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks import generic

RECEIVED_AT = suite_clock().now()  # when tracker received the delivery (payloads without a time)

VECTOR = Path(__file__).parent.parent / "fixtures" / "standard-webhooks"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def vector() -> tuple[dict[str, str], bytes, datetime]:
    headers = json.loads((VECTOR / "test-vector.headers.json").read_text())
    body = (VECTOR / "test-vector.body.json").read_bytes()
    return headers, body, datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)


def test_standard_webhooks_test_vector_verifies():
    headers, body, sent = vector()
    generic.verify(headers, body, SECRET, sent)
    assert generic.sign(SECRET, headers["webhook-id"], int(headers["webhook-timestamp"]), body) == \
        headers["webhook-signature"]


def test_one_of_several_signatures_is_enough():
    headers, body, sent = vector()
    headers["webhook-signature"] = "v1,bm90IHRoaXMgb25l " + headers["webhook-signature"]
    generic.verify(headers, body, SECRET, sent)


@pytest.mark.parametrize("change", ["body", "secret", "id", "missing"])
def test_wrong_or_missing_signature_is_rejected(change):
    headers, body, sent = vector()
    secret = SECRET
    if change == "body":
        body = body.replace(b"2432232314", b"2432232315")
    elif change == "secret":
        secret = "whsec_" + "A" * 32
    elif change == "id":
        headers["webhook-id"] = "msg_other"
    else:
        del headers["webhook-signature"]
    with pytest.raises(Unauthorized):
        generic.verify(headers, body, secret, sent)


def test_stale_timestamp_is_rejected():
    headers, body, sent = vector()
    with pytest.raises(Unauthorized, match="300 s"):
        generic.verify(headers, body, SECRET, datetime.fromtimestamp(sent.timestamp() + 301, UTC))


def test_design_example_body_maps_onto_the_case_model():
    payload = {"type": "case.updated", "occurred_at": "2026-11-20T10:00:00Z",
               "case": {"id": "4711", "title": "Invoice export fails", "stage": "in_progress",
                        "status_label": "Investigating", "waiting_on": "company", "progress": 40,
                        "expected_by": "2026-11-22T17:00:00Z", "requester_email": "ann@example.com",
                        "next_steps": [{"text": "Engineering reproduces the bug", "owner": "company",
                                        "done": False}]},
               "message": {"id": "m-1", "body": "I have escalated this to our Engineering team.",
                           "public": True, "author": "Dana"}}
    [event] = generic.parse(payload, {"webhook-id": "msg_1", "webhook-timestamp": "1"}, received_at=RECEIVED_AT)
    assert event.case_id == "4711" and event.delivery_id == "msg_1"
    assert event.occurred_at == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert event.changes["stage"] == "in_progress" and event.changes["expected_source"] == "helpdesk"
    assert event.update is not None and event.update.author_display == "Dana"
    assert not event.internal


def test_private_message_is_kept_as_activity_without_its_text():
    payload = {"case": {"id": 1}, "message": {"id": "n1", "body": "secret note", "public": False}}
    headers = {"webhook-id": "msg_2", "webhook-timestamp": "1700000000"}
    [event] = generic.parse(payload, headers, received_at=RECEIVED_AT)
    assert event.internal and event.update is None
    assert "secret note" not in repr(event)


@pytest.mark.parametrize(("payload", "named"), [
    ([], "JSON object"),
    ({"case": {}}, "case.id"),
    ({"case": {"id": "1", "stage": "done"}}, "case.stage"),
    ({"case": {"id": "1", "progress": 140}}, "case.progress"),
    ({"case": {"id": "1", "expected_by": "tomorrow"}}, "case.expected_by"),
    ({"case": {"id": "1", "next_steps": [{"text": "x", "owner": "robot"}]}}, "owner"),
    ({"case": {"id": "1"}, "message": {"body": "no id", "public": True}}, "message.id"),
])
def test_malformed_body_names_the_field(payload, named):
    with pytest.raises(BadRequest, match=named.replace(".", r"\.")):
        generic.parse(payload, {"webhook-id": "m", "webhook-timestamp": "1700000000"}, received_at=RECEIVED_AT)


# --- My cases: the requester's address ---

def test_the_requester_address_is_case_requester_email():
    payload = {"case": {"id": "4711", "requester_email": " Ann@Example.com"}}
    [event] = generic.parse(payload, {"webhook-id": "m"}, received_at=RECEIVED_AT)
    assert event.changes["requester_email"] == " Ann@Example.com"  # as sent: the store trims and lowers it
    [event] = generic.parse({"case": {"id": "4711", "requester_email": None}}, {}, received_at=RECEIVED_AT)
    assert event.changes["requester_email"] is None  # null clears it: the case leaves the list
    [event] = generic.parse({"case": {"id": "4711"}}, {}, received_at=RECEIVED_AT)
    assert "requester_email" not in event.changes  # left out: kept as it was


def test_a_requester_email_that_is_no_string_names_the_field():
    with pytest.raises(BadRequest, match=r"case\.requester_email"):
        generic.parse({"case": {"id": "1", "requester_email": 42}}, {}, received_at=RECEIVED_AT)
