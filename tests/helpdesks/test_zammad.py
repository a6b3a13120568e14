"""The zammad source: X-Hub-Signature (HMAC-SHA1) over Zammad's default ticket/article body."""

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
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks import zammad
from tracker.storage.base import SourceConfig

FIXTURES = Path(__file__).parent.parent / "fixtures" / "zammad"
SECRET = "zammad-signature-token-1f9c"
NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
NOTE = "INTERNAL-d41c"
NAMES = ["ticket.article.customer.docs.json", "ticket.article.agent_reply.json", "ticket.article.internal_note.json"]


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def headers_for(body: bytes, delivery: str = "0f3c6a2e-9b1d-4e5f-8a7b-6c5d4e3f2a1b") -> dict[str, str]:
    return {"x-hub-signature": sign(body), "x-zammad-delivery": delivery, "x-zammad-trigger": "Case tracker"}


def parse(payload: dict[str, Any]) -> list[Any]:
    return zammad.parse(payload, {"x-zammad-delivery": "d-1"})


@pytest.mark.parametrize("name", NAMES)
def test_every_fixture_verifies_with_its_signature(name):
    body = (FIXTURES / name).read_bytes()
    zammad.verify(headers_for(body), body, SECRET, NOW)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("change", ["body", "secret", "sha256", "missing"])
def test_wrong_or_missing_signature_is_rejected(name, change):
    body = (FIXTURES / name).read_bytes()
    headers = headers_for(body)
    secret = SECRET
    if change == "body":
        body = body.replace(b"10081", b"10082")
    elif change == "secret":
        secret = "another token"
    elif change == "sha256":
        headers["x-hub-signature"] = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    else:
        del headers["x-hub-signature"]
    with pytest.raises(Unauthorized, match="(?i)x-hub-signature"):
        zammad.verify(headers, body, secret, NOW)


def test_documented_example_maps_ticket_and_requester_without_the_customers_text():
    [event] = parse(load("ticket.article.customer.docs.json"))
    assert event.case_id == "10081" and event.delivery_id == "d-1"
    assert event.occurred_at == datetime(2020, 11, 13, 14, 34, 35, 333000, tzinfo=UTC)
    assert event.changes == {"title": "Webhook-Test", "status_label": "open", "stage": "in_progress",
                             "waiting_on": "company", "requester_email": "emily@example.com",
                             "requester_name": "Emily Adams"}
    assert event.update is None and not event.internal  # a customer's own article is not repeated


def test_agent_reply_is_a_plain_text_public_update():
    [event] = parse(load("ticket.article.agent_reply.json"))
    assert event.changes["stage"] == "in_progress" and event.changes["waiting_on"] == "customer"
    assert event.changes["status_label"] == "pending reminder"
    assert event.update is not None and not event.internal
    assert event.update.id == "105" and event.update.author_display == "Emma Taylor"
    assert event.update.body == "Hi Emily,\n\nwe have ordered the replacement grinder & will ship it on Monday.\n\nEmma"
    assert event.update.at == datetime(2020, 11, 13, 15, 2, 11, 490000, tzinfo=UTC)


def test_internal_note_is_activity_without_text():
    [event] = parse(load("ticket.article.internal_note.json"))
    assert event.internal and event.update is None
    assert NOTE not in repr(event) and "legacy plan" not in repr(event)


def test_article_without_an_internal_flag_is_treated_as_internal():
    payload = load("ticket.article.agent_reply.json")
    del payload["article"]["internal"]
    [event] = parse(payload)
    assert event.internal and event.update is None


@pytest.mark.parametrize(("state", "stage", "waiting_on"), [
    ("new", "received", "company"),
    ("open", "in_progress", "company"),
    ("pending reminder", "in_progress", "customer"),
    ("pending close", "resolved", "customer"),
    ("closed", "closed", None),
    ("merged", "closed", None),
])
def test_default_states_map_onto_stages(state, stage, waiting_on):
    payload = load("ticket.article.customer.docs.json")
    payload["ticket"]["state"] = state
    [event] = parse(payload)
    assert event.changes["stage"] == stage and event.changes["status_label"] == state
    assert event.changes.get("waiting_on") == waiting_on


def test_custom_state_is_shown_by_name_only():
    payload = load("ticket.article.customer.docs.json")
    payload["ticket"]["state"] = "waiting for parts"
    [event] = parse(payload)
    assert event.changes["status_label"] == "waiting for parts"
    assert "stage" not in event.changes and "waiting_on" not in event.changes


def test_html_is_reduced_to_text():
    payload = load("ticket.article.agent_reply.json")
    payload["article"]["body"] = "<style>p{}</style><p>One &lt;b&gt;<br>two</p><script>alert(1)</script>"
    [event] = parse(payload)
    assert event.update is not None and event.update.body == "One <b>\ntwo"


def test_ticket_without_article_and_without_delivery_header():
    payload = load("ticket.article.customer.docs.json")
    del payload["article"]
    [event] = zammad.parse(payload, {})
    assert event.delivery_id == "" and not event.internal and event.update is None


@pytest.mark.parametrize(("mutate", "named"), [
    (lambda p: p.pop("ticket"), "ticket"),
    (lambda p: p["ticket"].pop("number"), "ticket.number"),
    (lambda p: p["ticket"].update(updated_at=None), "ticket.updated_at"),
    (lambda p: p["article"].pop("created_at"), "article.created_at"),
])
def test_malformed_payload_names_the_field(mutate, named):
    payload = load("ticket.article.agent_reply.json")
    mutate(payload)
    with pytest.raises(BadRequest, match=named.replace(".", r"\.")):
        parse(payload)


# --- through the app ---

def post(client: TestClient, name: str, delivery: str) -> Any:
    body = (FIXTURES / name).read_bytes()
    response = client.post("/hooks/acme/zammad", content=body, headers=headers_for(body, delivery))
    assert response.status_code == 202, response.text
    return response.json()




def test_deliveries_through_the_app(client: TestClient, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "zammad", zammad)
    client.portal.call(client.app.state.store.add_source, SourceConfig("acme", "zammad", SECRET))
    assert post(client, "ticket.article.customer.docs.json", "z-1")["stored"] == 1
    assert post(client, "ticket.article.internal_note.json", "z-2")["stored"] == 1
    assert post(client, "ticket.article.agent_reply.json", "z-3") == {"ok": True, "stored": 1, "duplicates": 0}
    assert post(client, "ticket.article.agent_reply.json", "z-3") == {"ok": True, "stored": 0, "duplicates": 1}

    url = link_for(client, "10081", "zammad")
    with client.stream("GET", url + "/events?last_event_id=0") as stream:
        replayed = sse_events(stream.iter_lines(), 3)
    page, data = client.get(url).text, client.get(url + "/case.json").json()
    assert data["stage"] == "in_progress" and data["waiting_on"] == "customer"
    assert [u["author_display"] for u in data["updates"]] == ["Emma Taylor"]
    assert "replacement grinder" in page and "Emma Taylor" in page
    assert replayed[-1]["data"]["seq"] == data["revision"]  # three events stored
    for surface in (page, json.dumps(data), repr(replayed)):
        for secret in (NOTE, "legacy plan", "emily@example.com", "This is a simple Webhook Test"):
            assert secret not in surface


# --- My cases: the requester's address ---

@pytest.mark.parametrize("name", NAMES)
def test_the_requester_address_is_the_customers_never_the_owners(name):
    payload = load(name)
    assert payload["ticket"]["owner"]["email"] == "emma@chrispresso.com"  # the agent
    [event] = parse(payload)
    assert event.changes["requester_email"] == "emily@example.com"


@pytest.mark.parametrize("value", [None, "", 42])
def test_a_customer_without_an_address_sets_no_requester(value):
    payload = load("ticket.article.customer.docs.json")
    payload["ticket"]["customer"]["email"] = value
    [event] = parse(payload)
    assert "requester_email" not in event.changes
