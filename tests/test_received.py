"""Why was my webhook refused? Every delivery's outcome: stored ones from the event log, and for
those that stored nothing (refused, a duplicate, ignored) a receipt saying why; by the admin API
and `tracker received`, never with a body or a secret."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.clock_of_suite import suite_clock
from tests.conftest import BACKENDS, SECRET, generic_payload, post
from tests.test_admin_api import bearer, make_key
from tracker.admin import add_source
from tracker.demo import signed_request
from tracker.storage.base import RECEIPTS_KEPT, Receipt, Store

GITHUB_SECRET = "github-secret-for-received"


def app_of(client: TestClient) -> Starlette:
    app = client.app
    assert isinstance(app, Starlette)
    return app


def github_ping(client: TestClient) -> int:
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    signature = "sha256=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return client.post("/hooks/acme/github", content=body, headers={
        "X-GitHub-Event": "ping", "X-GitHub-Delivery": "ping-1", "X-Hub-Signature-256": signature,
        "Content-Type": "application/json"}).status_code


def test_every_outcome_and_why(client: TestClient, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch, settings: Any):
    client.portal.call(add_source, app_of(client).state.store, "acme", "github", GITHUB_SECRET)
    stored = generic_payload("4711", title="Invoice export fails", requester_email="ann.private@example.com")
    body, signed = signed_request(SECRET, stored, app_of(client).state.clock)
    for _ in range(2):  # the helpdesk's retry of the same delivery
        assert client.post("/hooks/acme/generic", content=body, headers=signed).status_code == 202
    assert post(client, stored, secret="whsec_" + "A" * 32).status_code == 401
    assert post(client, {"case": {"title": "no id"}}).status_code == 400
    assert client.post("/hooks/acme/nosuch", content=b"{}").status_code == 404
    assert github_ping(client) == 202
    assert client.post("/hooks/globex/generic", content=b"{}").status_code == 404  # no such tenant: no receipt

    answer = client.get("/api/v1/received", headers=bearer(make_key(client)))
    assert answer.status_code == 200
    received = answer.json()["received"]
    outcomes = [(r["source"], r["outcome"], r["status"]) for r in received]
    assert outcomes == [("github", "ignored", 202), ("nosuch", "refused", 404), ("generic", "refused", 400),
                        ("generic", "refused", 401), ("generic", "duplicate", 202), ("generic", "stored", 202)]
    details = {r["outcome"] + str(r["status"]): r["detail"] for r in received}
    assert "Signature does not match" in details["refused401"] and "case.id is required" in details["refused400"]
    assert "not a source" in details["refused404"] or "nosuch" in details["refused404"]
    assert details["ignored202"] == ("acknowledged; event type 'ping' has nothing tracker uses "
                                     "(see docs/sources/github.md)")
    assert details["stored202"] == "case 4711, revision 1"
    assert f"retry of delivery {signed['webhook-id']}" in details["duplicate202"]
    text = answer.text
    assert SECRET not in text and "ann.private" not in text and "Invoice export" not in text  # no body, no secret
    only = client.get("/api/v1/received?source=github", headers=bearer(make_key(client, name="k2"))).json()
    assert [r["outcome"] for r in only["received"]] == ["ignored"]

    from tracker.cli import main  # the command line reads the same database
    monkeypatch.setenv("TRACKER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TRACKER_SECRET_KEYS", "cli-key-0123456789abcdef")
    capsys.readouterr()
    assert main(["received", "acme", "generic"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[3] for line in lines] == ["refused", "refused", "duplicate", "stored"]


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
async def test_only_the_newest_receipts_are_kept(store: Store):
    now = suite_clock().now()
    for n in range(RECEIPTS_KEPT + 5):
        await store.add_receipt(Receipt("acme", "generic", now, "refused", 401, f"try {n}"))
    await store.add_receipt(Receipt("globex", "generic", now, "refused", 401, "another tenant's"))
    kept = await store.receipts("acme", None, 10_000)
    assert len(kept) == RECEIPTS_KEPT and kept[0].detail == f"try {RECEIPTS_KEPT + 4}" and kept[-1].detail == "try 5"
    assert [r.detail for r in await store.receipts("globex", "generic", 10)] == ["another tenant's"]


def test_a_flood_of_refusals_is_not_a_flood_of_writes(client: TestClient):
    for _ in range(50):
        assert post(client, generic_payload("1"), secret="whsec_" + "C" * 32).status_code == 401
    kept = client.portal.call(app_of(client).state.store.receipts, "acme", "generic", 100)
    assert [r.outcome for r in kept] == ["refused"]  # one a second, per tenant, source, outcome and status
