"""HubSpot: X-HubSpot-Signature-v3 over method + URL + body + timestamp (5 min), batches of ticket
events, the default Support Pipeline's statuses, and the case link PATCHed into a ticket property."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

import tracker.helpdesks
from tests.conftest import link_for, sse_events, suite_clock
from tests.receiver import receiver
from tracker import writeback
from tracker.admin import add_source, add_tenant
from tracker.errors import BadRequest, ConfigError, DeliveryError, Unauthorized
from tracker.helpdesks import hubspot
from tracker.helpdesks.base import DeliveryHeaders
from tracker.helpdesks.writing import NewCase
from tracker.outbound import Deliverer
from tracker.storage.base import Store

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hubspot"
SECRET = "8f1c2d4e-5a6b-4c7d-9e0f-1a2b3c4d5e6f"  # HubSpot client secrets are UUIDs
URL = "https://tracker.example.com/hooks/acme/hubspot"
TICKET = "21765043811"
SUBJECT = "Invoice export stops at 500 rows"
MARKER = "INTERNAL-HS-7f3a"
TICKET_FIXTURES = ["ticket.creation.batch.json", "ticket.propertyChange.waiting_on_contact.json",
                   "object.propertyChange.closed.json", "ticket.deletion.json"]
# HubSpot's documented v3 example: a recorded delivery and its signature (see SOURCES.md).
DOCS_BODY = (FIXTURES / "docs.v3-example.body.json").read_bytes()
DOCS_HEADERS: dict[str, str] = json.loads((FIXTURES / "docs.v3-example.headers.json").read_text())
DOCS_SECRET = "cfc68c0b-4b4e-4ef8-b764-95350e4ea479"


def body_of(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load(name: str) -> list[dict[str, Any]]:
    return list(json.loads(body_of(name)))


def milliseconds(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def signed(body: bytes, sent: datetime, url: str = URL, secret: str = SECRET, method: str = "POST") -> dict[str, str]:
    """The headers HubSpot sends, with the method and URL as the endpoint hands them to verify()."""
    timestamp = milliseconds(sent)
    digest = hmac.new(secret.encode(), method.encode() + url.encode() + body + timestamp.encode(), hashlib.sha256)
    return {"x-hubspot-signature-v3": base64.b64encode(digest.digest()).decode(),
            "x-hubspot-request-timestamp": timestamp, ":method": method, ":url": url}


def sent_at(headers: dict[str, str]) -> datetime:
    return datetime.fromtimestamp(int(headers["x-hubspot-request-timestamp"]) / 1000, UTC)


def parse(payload: Any) -> list[Any]:
    return hubspot.parse(payload, {})


# --- verify ---

def test_hubspots_documented_example_verifies():
    hubspot.verify(DOCS_HEADERS, DOCS_BODY, DOCS_SECRET, sent_at(DOCS_HEADERS) + timedelta(seconds=2))


def test_the_sdk_test_vector_verifies():
    """HubSpot's Python SDK: a body that is not even JSON, timestamp 15000000 (ms after 1970)."""
    headers = {"x-hubspot-signature-v3": "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=",
               "x-hubspot-request-timestamp": "15000000", ":method": "POST",
               ":url": "https://www.example.com/webhook_uri"}
    hubspot.verify(headers, b"{'example_field':'example_value'}", "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
                   datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=15_010))


def test_the_endpoints_delivery_headers_carry_method_and_url():
    now = suite_clock().now()
    body = body_of("ticket.creation.batch.json")
    wire = {k: v for k, v in signed(body, now).items() if not k.startswith(":")}
    hubspot.verify(DeliveryHeaders(wire, "POST", URL), body, SECRET, now)
    with pytest.raises(Unauthorized, match="does not match"):
        hubspot.verify(DeliveryHeaders(wire, "POST", URL.replace("https:", "http:")), body, SECRET, now)


@pytest.mark.parametrize("name", TICKET_FIXTURES)
@pytest.mark.parametrize("change", ["body", "secret", "url", "method", "timestamp", "hex"])
def test_a_wrong_signature_is_rejected(name, change):
    now = suite_clock().now()
    body = body_of(name)
    headers = signed(body, now, secret="another secret" if change == "secret" else SECRET)
    if change == "body":
        body = body.replace(b"[", b"[ ", 1)  # one blank more
    elif change == "url":  # HubSpot called another tenant's URL
        headers[":url"] = URL.replace("/acme/", "/other/")
    elif change == "method":
        headers[":method"] = "PUT"
    elif change == "timestamp":  # signed too: a replay cannot be given a fresh time
        headers["x-hubspot-request-timestamp"] = str(int(headers["x-hubspot-request-timestamp"]) + 1)
    elif change == "hex":  # the right HMAC in the wrong encoding
        mac = base64.b64decode(headers["x-hubspot-signature-v3"])
        headers["x-hubspot-signature-v3"] = mac.hex()
    with pytest.raises(Unauthorized, match="X-HubSpot-Signature-v3 does not match"):
        hubspot.verify(headers, body, SECRET, now)
    hubspot.verify(signed(body, now), body, SECRET, now)  # the same delivery, signed right, passes


@pytest.mark.parametrize(("missing", "named"), [
    ("x-hubspot-signature-v3", "x-hubspot-signature-v3"),
    ("x-hubspot-request-timestamp", "x-hubspot-request-timestamp"),
    (":url", "URL HubSpot called"),
])
def test_missing_headers_are_rejected(missing, named):
    now = suite_clock().now()
    body = body_of("ticket.deletion.json")
    headers = signed(body, now)
    del headers[missing]
    with pytest.raises(Unauthorized, match=named):
        hubspot.verify(headers, body, SECRET, now)


@pytest.mark.parametrize("seconds", [301, -301, 86_400])
def test_a_stale_or_future_timestamp_is_rejected(seconds):
    body = body_of("ticket.creation.batch.json")
    sent = suite_clock().now()
    with pytest.raises(Unauthorized, match="300 s"):
        hubspot.verify(signed(body, sent), body, SECRET, sent + timedelta(seconds=seconds))
    hubspot.verify(signed(body, sent), body, SECRET, sent + timedelta(seconds=299))


def test_the_documented_example_is_stale_today():
    with pytest.raises(Unauthorized, match="300 s"):
        hubspot.verify(DOCS_HEADERS, DOCS_BODY, DOCS_SECRET, suite_clock().now())


@pytest.mark.parametrize("timestamp", ["soon", "1.75e12", "-1", "²", ""])
def test_a_timestamp_that_is_no_number_is_rejected(timestamp):
    now = suite_clock().now()
    body = body_of("ticket.deletion.json")
    headers = {**signed(body, now), "x-hubspot-request-timestamp": timestamp}
    with pytest.raises(Unauthorized, match="(?i)x-hubspot-request-timestamp"):
        hubspot.verify(headers, body, SECRET, now)


def test_the_uri_is_signed_with_hubspots_characters_decoded():
    """HubSpot decodes %3A, %2F, %3F, %40, %21, %24, %27, %28, %29, %2A, %2C and %3B, nothing else."""
    assert hubspot.signed_uri("https://h/p%3Aa%2fb%3Fc%40d%21e%24f%27g%28h%29i%2Aj%2Ck%3Bl%20m") == \
        "https://h/p:a/b?c@d!e$f'g(h)i*j,k;l%20m"
    now = suite_clock().now()
    body = body_of("ticket.deletion.json")
    headers = signed(body, now, url=URL + "?team=support:eu")  # as HubSpot signs it
    hubspot.verify({**headers, ":url": URL + "?team=support%3Aeu"}, body, SECRET, now)  # as the request came


# --- parse ---

def test_a_new_ticket_batch_gives_the_case_its_name_and_status():
    creation, subject, stage = parse(load("ticket.creation.batch.json"))  # the description is dropped
    at = datetime(2025, 7, 15, 21, 15, 2, 218000, tzinfo=UTC)
    assert {creation.case_id, subject.case_id, stage.case_id} == {TICKET}
    assert creation.occurred_at == subject.occurred_at == stage.occurred_at == at
    assert creation.changes == {}  # the case exists: received, our move (the defaults)
    assert subject.changes == {"title": SUBJECT}
    assert stage.changes == {"stage": "received", "waiting_on": "company", "status_label": "New"}
    assert creation.delivery_id == f"1204336118:2901001:{TICKET}:1752614102218"
    assert len({creation.delivery_id, subject.delivery_id, stage.delivery_id}) == 3
    assert not any(e.internal or e.update for e in (creation, subject, stage))


def test_the_description_and_other_objects_are_never_kept():
    events = parse(load("ticket.creation.batch.json")) + parse(load("ticket.propertyChange.waiting_on_contact.json"))
    assert MARKER not in repr(events) and "refund" not in repr(events)
    assert parse(json.loads(DOCS_BODY)) == []  # a contact was created


def test_waiting_on_contact_is_the_customers_move():
    [event] = parse(load("ticket.propertyChange.waiting_on_contact.json"))  # a note and a contact left out
    assert event.case_id == TICKET
    assert event.changes == {"stage": "in_progress", "waiting_on": "customer", "status_label": "Waiting on contact"}
    assert event.occurred_at == datetime(2025, 7, 15, 23, 5, 31, 410000, tzinfo=UTC)


def test_the_generic_object_format_of_a_ticket_counts_too():
    [event] = parse(load("object.propertyChange.closed.json"))
    assert event.case_id == TICKET and event.changes == {"stage": "resolved", "status_label": "Closed"}
    payload = load("object.propertyChange.closed.json")
    payload[0]["objectTypeId"] = "0-3"  # a deal's stage
    assert parse(payload) == []


def test_a_deleted_ticket_closes_the_case():
    [event] = parse(load("ticket.deletion.json"))
    assert event.case_id == TICKET and event.changes == {"stage": "closed", "status_label": "Deleted"}
    assert event.occurred_at == datetime(2025, 7, 17, 21, 21, 51, 560000, tzinfo=UTC)


@pytest.mark.parametrize(("stage_id", "stage", "waiting_on", "label"), [
    ("1", "received", "company", "New"),
    ("2", "in_progress", "customer", "Waiting on contact"),
    ("3", "in_progress", "company", "Waiting on us"),
    ("4", "resolved", None, "Closed"),
])
def test_status_mapping(stage_id, stage, waiting_on, label):
    payload = load("ticket.propertyChange.waiting_on_contact.json")
    payload[1]["propertyValue"] = stage_id
    [event] = parse(payload)
    assert event.changes.get("stage") == stage and event.changes.get("waiting_on") == waiting_on
    assert event.changes["status_label"] == label
    assert hubspot.STATUSES[stage_id] == (stage, waiting_on)


def test_a_status_of_the_accounts_own_pipelines_changes_nothing():
    payload = load("ticket.propertyChange.waiting_on_contact.json")
    payload[1]["propertyValue"] = "1034567891"
    assert parse(payload) == []


@pytest.mark.parametrize("name", ["content", "hs_ticket_priority", "hubspot_owner_id", "hs_pipeline"])
def test_other_properties_mean_nothing(name):
    payload = load("ticket.creation.batch.json")
    payload[1]["propertyName"] = name
    assert [e.changes for e in parse(payload[1:2])] == []


@pytest.mark.parametrize("kind", ["ticket.merge", "ticket.restore", "ticket.associationChange",
                                  "conversation.newMessage", "contact.privacyDeletion", "deal.deletion"])
def test_other_subscriptions_mean_nothing(kind):
    payload = load("ticket.deletion.json")
    payload[0]["subscriptionType"] = kind
    assert parse(payload) == []


def test_a_cleared_name_is_an_empty_title():
    payload = load("ticket.creation.batch.json")[1:2]
    payload[0]["propertyValue"] = None
    assert parse(payload)[0].changes == {"title": ""}


def test_a_retry_is_the_same_delivery_and_another_subscription_is_not():
    first = load("ticket.deletion.json")
    retry = [{**first[0], "attemptNumber": 3}]
    other = [{**first[0], "subscriptionId": 2901099}]
    assert parse(first)[0].delivery_id == parse(retry)[0].delivery_id
    assert parse(first)[0].delivery_id != parse(other)[0].delivery_id


def test_ids_sent_as_text_are_read_too():
    payload = load("ticket.deletion.json")
    payload[0].update(objectId=TICKET, eventId="1204339007")
    assert parse(payload)[0].case_id == TICKET


@pytest.mark.parametrize(("payload", "named"), [
    ({"eventId": 1}, "JSON array"),
    ([[]], r"\[0\]"),
    ([{"objectId": 1}], r"\[0\]\.subscriptionType"),
])
def test_a_malformed_batch_names_the_field(payload, named):
    with pytest.raises(BadRequest, match=named):
        parse(payload)


@pytest.mark.parametrize(("field", "value"), [
    ("objectId", None), ("objectId", "T-1"), ("objectId", -5), ("objectId", True), ("objectId", "²"),
    ("eventId", None), ("eventId", ""), ("eventId", 1.5),
    ("occurredAt", None), ("occurredAt", "1752787311560"), ("occurredAt", 1.7e12), ("occurredAt", True),
    ("occurredAt", -1), ("occurredAt", 10**20), ("occurredAt", 2**63),
    ("propertyValue", 4),
])
def test_a_bad_or_absurd_value_is_a_400_naming_the_field(field, value):
    """Absurd times are refused before they reach datetime, where they would overflow."""
    name = "ticket.creation.batch.json" if field == "propertyValue" else "ticket.deletion.json"
    payload = load(name)
    index = 2 if field == "propertyValue" else 0
    payload[index][field] = value
    with pytest.raises(BadRequest, match=rf"\[{index}\]\.{field}"):
        parse(payload)


def test_the_earliest_and_latest_times_are_taken():
    payload = load("ticket.deletion.json")
    payload[0]["occurredAt"] = 0
    assert parse(payload)[0].occurred_at == datetime(1970, 1, 1, tzinfo=UTC)
    payload[0]["occurredAt"] = int(datetime(9000, 1, 1, tzinfo=UTC).timestamp()) * 1000 - 1
    assert parse(payload)[0].occurred_at.year == 8999


def test_odd_elements_of_other_objects_do_not_refuse_the_batch():
    """HubSpot retries a refused batch whole: an event tracker does not read is not checked."""
    payload = [{"subscriptionType": "contact.creation", "occurredAt": "soon"}, *load("ticket.deletion.json")]
    assert [e.changes["stage"] for e in parse(payload)] == ["closed"]


# --- write-back ---

def new_case(case_id: str = TICKET, **options: str) -> NewCase:
    return NewCase("acme", "hubspot", case_id, "https://tracker.example.com/c/abc",
                   {"api_token": "pat-na1-11111111-2222", "link_property": "case_link", **options}, None)


def test_the_link_is_patched_into_the_ticket_property():
    request = hubspot.link_request(new_case())
    assert request is not None
    assert request["method"] == "PATCH"
    assert request["url"] == f"https://api.hubapi.com/crm/v3/objects/tickets/{TICKET}"
    assert json.loads(request["body"]) == {"properties": {"case_link": "https://tracker.example.com/c/abc"}}
    moved = hubspot.link_request(new_case(api_base="http://127.0.0.1:9/", link_property="tracker_link"))
    assert moved is not None and moved["url"] == f"http://127.0.0.1:9/crm/v3/objects/tickets/{TICKET}"
    assert json.loads(moved["body"])["properties"] == {"tracker_link": "https://tracker.example.com/c/abc"}
    assert hubspot.link_request(new_case("T-1")) is None


def test_a_nudge_is_a_note_on_the_tickets_timeline():
    """HubSpot's documented note: hs_timestamp (required) and hs_note_body, associated with the
    ticket by the note-to-ticket association type (228)."""
    at = suite_clock().now()
    case = NewCase("acme", "hubspot", TICKET, "", {"api_token": "pat-na1-abc"}, None, None, at)
    request = hubspot.note_request(case, "No public update for 26 hours.")
    assert request is not None
    assert (request["method"], request["url"]) == ("POST", "https://api.hubapi.com/crm/v3/objects/notes")
    assert json.loads(request["body"]) == {
        "properties": {"hs_timestamp": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                       "hs_note_body": "No public update for 26 hours."},
        "associations": [{"to": {"id": TICKET},
                          "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 228}]}],
    }
    assert hubspot.note_request(new_case("T-1"), "text") is None


async def test_the_access_token_is_a_bearer_token_read_at_send_time():
    assert await hubspot.api_headers({"api_token": "pat-na1-abc"}, {}) == {"Authorization": "Bearer pat-na1-abc"}
    with pytest.raises(DeliveryError, match="api_token"):
        await hubspot.api_headers({"link_property": "case_link"}, {})


@pytest.mark.parametrize(("options", "named"), [
    ({"api_token": "pat-na1-abc"}, "link_property"),
    ({"api_token": "pat-na1-abc", "link_property": "case link"}, "internal name"),
    ({"api_token": "pat-na1-abc", "link_property": "case_link", "api_base": "api.hubapi.com"}, "api_base"),
])
def test_write_back_settings_that_cannot_work_are_refused(monkeypatch, options, named):
    monkeypatch.setitem(writeback.WRITERS, "hubspot", hubspot.WRITEBACK)
    with pytest.raises(ConfigError, match=named):
        writeback.check_options("hubspot", options)
    writeback.check_options("hubspot", {"api_token": "pat-na1-abc", "link_property": "case_link"})
    assert writeback.option_names("hubspot") <= set(hubspot.OPTIONS)


async def test_the_deliverer_sends_the_patch_with_the_token(store: Store, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "hubspot", hubspot)
    monkeypatch.setitem(writeback.WRITERS, "hubspot", hubspot.WRITEBACK)
    with receiver() as api:
        await add_tenant(store, "acme", "ACME Support", "default")
        config = await add_source(store, "acme", "hubspot", SECRET,
                                  {"api_token": "pat-na1-secret", "link_property": "case_link", "api_base": api.url})
        request = hubspot.link_request(new_case(**config.options))
        assert request is not None
        await store.add_delivery("acme", "writeback:hubspot", "case.link", None, request)
        deliverer = Deliverer(store, suite_clock(), authenticators=writeback.authenticators(),
                              allow_private_hosts=True, timeout_seconds=2)
        try:
            assert await deliverer.run_once() == 1
        finally:
            await deliverer.stop()
        [sent] = api.requests
    assert (sent.method, sent.path) == ("PATCH", f"/crm/v3/objects/tickets/{TICKET}")
    assert sent.headers["authorization"] == "Bearer pat-na1-secret"
    assert json.loads(sent.body) == {"properties": {"case_link": "https://tracker.example.com/c/abc"}}
    [delivery] = await store.list_deliveries("acme")
    assert delivery.status == "delivered"


# --- through the app ---

def app_of(client: TestClient) -> Starlette:
    assert isinstance(client.app, Starlette)
    return client.app


def post(client: TestClient, name: str, sent: datetime, secret: str = SECRET, attempt: int = 0) -> Any:
    payload = [{**event, "attemptNumber": attempt} for event in load(name)]
    body = json.dumps(payload, separators=(",", ":")).encode()  # as HubSpot sends it
    url = app_of(client).state.settings.base_url + "/hooks/acme/hubspot"  # the URL HubSpot calls, and signs
    headers = {k: v for k, v in signed(body, sent, url=url, secret=secret).items() if not k.startswith(":")}
    return client.post("/hooks/acme/hubspot", content=body, headers={"content-type": "application/json", **headers})


def test_tickets_through_the_app(client: TestClient, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "hubspot", hubspot)
    monkeypatch.setitem(writeback.WRITERS, "hubspot", hubspot.WRITEBACK)
    store, base_url = app_of(client).state.store, app_of(client).state.settings.base_url
    now = suite_clock().now()
    with receiver() as api:  # stands in for HubSpot's API, should the app's deliverer send the link
        client.portal.call(add_source, store, "acme", "hubspot", SECRET,
                           {"api_token": "pat-na1-secret", "link_property": "case_link", "api_base": api.url})

        created = post(client, "ticket.creation.batch.json", now)
        assert created.status_code == 202, created.text
        assert created.json() == {"ok": True, "stored": 3, "duplicates": 0}
        assert post(client, "ticket.propertyChange.waiting_on_contact.json", now).json()["stored"] == 1
        retried = post(client, "ticket.propertyChange.waiting_on_contact.json", now, attempt=1)
        assert retried.json() == {"ok": True, "stored": 0, "duplicates": 1}
        assert post(client, "object.propertyChange.closed.json", now).json()["stored"] == 1

        forged = post(client, "ticket.deletion.json", now, secret="not the client secret")
        assert forged.status_code == 401 and "X-HubSpot-Signature-v3" in forged.json()["error"]
        stale = post(client, "ticket.deletion.json", now - timedelta(minutes=6))
        assert stale.status_code == 401 and "300 s" in stale.json()["error"]

        [delivery] = [d for d in client.portal.call(store.list_deliveries, "acme", 100)
                      if d.kind == "writeback:hubspot"]
    assert delivery.request["method"] == "PATCH"
    assert delivery.request["url"] == f"{api.url}/crm/v3/objects/tickets/{TICKET}"
    written = json.loads(delivery.request["body"])["properties"]["case_link"]
    assert written.startswith(base_url + "/c/")
    assert client.get(written.removeprefix(base_url)).status_code == 200  # the written link opens the case

    url = link_for(client, TICKET, "hubspot")
    with client.stream("GET", url + "/events?last_event_id=0") as stream:
        replayed = sse_events(stream.iter_lines(), 5)
    page, data = client.get(url).text, client.get(url + "/case.json").json()
    assert data["title"] == SUBJECT and SUBJECT in page
    assert data["helpdesk_stage"] == "resolved" and data["status_label"] == "Closed"
    assert data["updates"] == []
    for surface in (page, json.dumps(data), json.dumps(replayed)):
        assert MARKER not in surface and "refund" not in surface and "legacy plan" not in surface


# --- My cases: no requester's address ---

@pytest.mark.parametrize("name", ["docs.v3-example.body.json", "ticket.creation.batch.json",
                                  "ticket.propertyChange.waiting_on_contact.json",
                                  "object.propertyChange.closed.json", "ticket.deletion.json"])
def test_no_delivery_names_a_requester_address(name):
    """Ticket events carry the ticket id and one property; the requester is an associated contact."""
    for event in parse(load(name)):
        assert "requester_email" not in event.changes
