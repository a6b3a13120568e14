"""POST /hooks/{tenant}/{source}: errors with the one JSON shape, duplicates, ordering."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
from starlette.testclient import TestClient

from tests.conftest import BACKENDS, SECRET, generic_payload, link_for, post, suite_clock
from tracker.admin import add_source, add_tenant
from tracker.app import create_app
from tracker.clock import Clock
from tracker.demo import signed_request
from tracker.standard_webhooks import sign
from tracker.storage.base import Tenant

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)


def assert_error(response, status: int, *words: str) -> None:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"ok", "status", "error"}
    assert body["ok"] is False and body["status"] == status
    for word in words:
        assert word in body["error"]


def test_signed_webhook_is_accepted_and_stored(client: TestClient):
    response = post(client, generic_payload(title="Invoice export fails"))
    assert response.status_code == 202
    assert response.json() == {"ok": True, "stored": 1, "duplicates": 0}
    assert client.get(link_for(client) + "/case.json").json()["title"] == "Invoice export fails"


def test_wrong_signature_is_401(client: TestClient):
    response = post(client, generic_payload(), secret="whsec_" + "B" * 32)
    assert_error(response, 401, "Signature does not match")


def test_missing_signature_is_401(client: TestClient):
    body = json.dumps(generic_payload()).encode()
    assert_error(client.post("/hooks/acme/generic", content=body), 401, "webhook-id")


def test_unknown_tenant_is_404(client: TestClient):
    assert_error(post(client, generic_payload(), tenant="nobody"), 404, "Unknown tenant 'nobody'")


def test_unknown_source_is_404_naming_the_known_ones(client: TestClient):
    body, headers = signed_request(SECRET, generic_payload(), suite_clock())
    assert_error(client.post("/hooks/acme/zendsk", content=body, headers=headers), 404,
                 "Unknown source 'zendsk'", "Known sources:", "generic")


def test_source_not_connected_is_404_saying_how_to_connect(client: TestClient):
    client.portal.call(client.app.state.store.add_tenant, Tenant("other", "Other"))
    assert_error(post(client, generic_payload(), tenant="other"), 404, "tracker source add other generic")


def test_malformed_json_is_400(client: TestClient):
    body = b'{"case": {"id": "1"'
    _, headers = signed_request(SECRET, {}, suite_clock())
    headers["webhook-signature"] = sign(SECRET, headers["webhook-id"], int(headers["webhook-timestamp"]), body)
    assert_error(client.post("/hooks/acme/generic", content=body, headers=headers), 400, "not valid JSON")


def test_invalid_field_is_400_naming_it(client: TestClient):
    assert_error(post(client, generic_payload(stage="done")), 400, "case.stage")


@pytest.mark.parametrize("declared", [True, False])
def test_oversized_body_is_413(client: TestClient, declared: bool):
    body = b"{" + b" " * 1_100_000 + b"}"
    headers = {} if declared else {"transfer-encoding": "chunked"}
    content = body if declared else iter([body[:600_000], body[600_000:]])
    response = client.post("/hooks/acme/generic", content=content, headers=headers)
    assert_error(response, 413, "TRACKER_MAX_BODY_BYTES")


def test_retry_after_2xx_stores_nothing_twice(client: TestClient):
    body, headers = signed_request(SECRET, {**generic_payload(title="A"),
                                            "message": {"id": "m1", "body": "Hello", "public": True}}, suite_clock())
    first = client.post("/hooks/acme/generic", content=body, headers=headers)
    again = client.post("/hooks/acme/generic", content=body, headers=headers)
    assert first.json()["stored"] == 1
    assert again.status_code == 202 and again.json() == {"ok": True, "stored": 0, "duplicates": 1}
    view = client.get(link_for(client) + "/case.json").json()
    assert view["revision"] == 1 and len(view["updates"]) == 1


def test_late_older_event_never_moves_the_case_backwards(client: TestClient, clock: Clock):
    def hours_ago(hours: float) -> str:
        return (clock.now() - timedelta(hours=hours)).isoformat()

    post(client, {**generic_payload(stage="resolved", status_label="Solved"), "occurred_at": hours_ago(3)})
    post(client, {**generic_payload(stage="in_progress", status_label="Open"), "occurred_at": hours_ago(6)})
    view = client.get(link_for(client) + "/case.json").json()
    assert (view["stage"], view["status_label"]) == ("resolved", "Solved")
    post(client, {**generic_payload(stage="in_progress", status_label="Reopened"), "occurred_at": hours_ago(2)})
    assert client.get(link_for(client) + "/case.json").json()["stage"] == "in_progress"


def test_a_resolved_case_closes_for_the_customer_after_confirm_days(client: TestClient, clock: Clock):
    """The failure that turned main red: the customer's stage depends on the clock, which the test sets."""
    post(client, {**generic_payload(stage="resolved"), "occurred_at": clock.now().isoformat()})
    assert client.get(link_for(client) + "/case.json").json()["stage"] == "resolved"
    clock.advance(timedelta(days=7, minutes=1))  # confirm_days is 7
    view = client.get(link_for(client) + "/case.json").json()
    assert (view["stage"], view["helpdesk_stage"]) == ("closed", "resolved")


def test_concurrent_deliveries_are_each_committed_before_their_2xx(settings):
    """Group commit: many senders at once, every 2xx backed by a row, nothing lost."""
    async def scenario() -> None:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            await add_tenant(app.state.store, "acme", None, "default")
            await add_source(app.state.store, "acme", "generic", SECRET)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
                async def send(n: int) -> int:
                    body, headers = signed_request(SECRET, generic_payload(str(n % 7), title=f"t{n}"), suite_clock())
                    return (await http.post("/hooks/acme/generic", content=body, headers=headers)).status_code

                codes = await asyncio.gather(*(send(n) for n in range(200)))
            assert codes == [202] * 200
            total = sum(c.seq for c in await app.state.store.list_cases("acme"))
            assert total == 200

    asyncio.run(scenario())
