"""The admin API over HTTP: keys per tenant, minting and revoking links, reading cases."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.conftest import BACKENDS, SECRET, generic_payload, post, suite_clock
from tests.test_share import make_public
from tracker import apikeys
from tracker.admin import add_source, add_tenant
from tracker.config import Settings

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)


def make_key(client: TestClient, tenant: str = "acme", name: str = "ci") -> str:
    app = client.app
    assert isinstance(app, Starlette)
    return str(client.portal.call(apikeys.add_key, app.state.store, tenant, name))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def add_globex(client: TestClient) -> str:
    """A second tenant with a case of its own; returns its key."""
    app = client.app
    assert isinstance(app, Starlette)

    async def setup() -> None:
        await add_tenant(app.state.store, "globex", "Globex", "default")
        await add_source(app.state.store, "globex", "generic", SECRET)

    client.portal.call(setup)
    post(client, generic_payload("G-1", title="Globex's own case"), tenant="globex")
    return make_key(client, "globex")


def assert_error(answer: Any, status: int, *words: str) -> None:
    assert answer.status_code == status
    body = answer.json()
    assert body["ok"] is False and body["status"] == status
    for word in words:
        assert word in body["error"]


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic YWNtZTpzZWNyZXQ="},
    {"Authorization": "Bearer trk_acme_not-a-key-we-made"},
    {"Authorization": "Bearer something-else-entirely"},
])
def test_no_key_or_a_wrong_key_is_401_with_the_bearer_scheme(client: TestClient, headers: dict[str, str]):
    post(client, generic_payload(title="Printer jams"))
    make_key(client)
    for method, path in [("GET", "/api/v1/cases"), ("GET", "/api/v1/cases/generic/4711"),
                         ("POST", "/api/v1/cases/generic/4711/links"), ("POST", "/api/v1/cases/generic/4711/revoke")]:
        answer = client.request(method, path, headers=headers)
        assert_error(answer, 401, "tracker apikey")
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert "Printer jams" not in answer.text


def test_a_revoked_key_stops_at_once(client: TestClient):
    post(client, generic_payload())
    key = make_key(client)
    assert client.get("/api/v1/cases", headers=bearer(key)).status_code == 200
    app = client.app
    assert isinstance(app, Starlette)
    client.portal.call(apikeys.revoke_key, app.state.store, "acme", "ci", app.state.clock.now())
    assert_error(client.get("/api/v1/cases", headers=bearer(key)), 401, "unknown or revoked")
    fresh = make_key(client)  # the name is free again
    assert client.get("/api/v1/cases", headers=bearer(fresh)).status_code == 200


def test_another_tenants_key_never_reaches_the_case_and_cannot_tell_it_exists(client: TestClient):
    post(client, generic_payload("4711", title="ACME's secret project"))
    globex = add_globex(client)
    acme = make_key(client)
    listed = client.get("/api/v1/cases", headers=bearer(globex)).json()["cases"]
    assert [c["case_id"] for c in listed] == ["G-1"]
    for method, suffix in [("GET", ""), ("POST", "/links"), ("POST", "/revoke")]:
        existing = client.request(method, f"/api/v1/cases/generic/4711{suffix}", headers=bearer(globex))
        missing = client.request(method, f"/api/v1/cases/generic/4712{suffix}", headers=bearer(globex))
        assert_error(existing, 404)
        assert existing.json()["error"] == missing.json()["error"].replace("4712", "4711")
        assert "secret project" not in existing.text
    assert client.get("/api/v1/cases/generic/4711", headers=bearer(acme)).json()["title"] == "ACME's secret project"
    # A key whose tenant part is changed is no key at all.
    forged = "trk_globex_" + acme.removeprefix("trk_acme_")
    assert_error(client.get("/api/v1/cases", headers=bearer(forged)), 401)


def test_mint_open_revoke_and_mint_again(client: TestClient, settings: Settings):
    post(client, generic_payload(title="Invoice export fails", stage="in_progress"))
    key = make_key(client)
    minted = client.post("/api/v1/cases/generic/4711/links", headers=bearer(key))
    assert minted.status_code == 201 and minted.headers["cache-control"] == "no-store"
    url, version = minted.json()["url"], minted.json()["link_version"]
    assert url.startswith(settings.base_url + "/c/") and minted.json()["expires_at"] is None
    old = urlsplit(url).path
    page = client.get(old)
    assert page.status_code == 200 and "Invoice export fails" in page.text

    revoked = client.post("/api/v1/cases/generic/4711/revoke", headers=bearer(key))
    assert revoked.status_code == 200 and revoked.json() == {"link_version": version + 1}
    assert client.get(old).status_code == 410
    assert client.get(old + "/case.json").status_code == 410

    again = client.post("/api/v1/cases/generic/4711/links", headers=bearer(key), json={"expires_days": 30})
    assert again.status_code == 201 and again.json()["link_version"] == version + 1
    assert again.json()["expires_at"] is not None
    assert client.get(urlsplit(again.json()["url"]).path).status_code == 200


def test_a_whole_number_written_with_a_fraction_is_a_number_of_days(client: TestClient):
    """JSON Schema's "integer", which the OpenAPI document promises, includes 2180.0."""
    post(client, generic_payload())
    answer = client.post("/api/v1/cases/generic/4711/links", headers=bearer(make_key(client)),
                         content=b'{"expires_days": 2180.0}')
    assert answer.status_code == 201
    expires_at = datetime.fromisoformat(answer.json()["expires_at"])
    assert abs(expires_at - (suite_clock().now() + timedelta(days=2180))) < timedelta(minutes=5)


@pytest.mark.parametrize(("body", "words"), [
    (b"{not json", ["not valid JSON"]),
    (b"[30]", ["JSON object"]),
    (b'{"expires_days": 0}', ["expires_days", "1 to 3650"]),
    (b'{"expires_days": "30"}', ["expires_days"]),
    (b'{"expires_days": true}', ["expires_days"]),
    (b'{"expires": 30}', ["Unknown field expires"]),
    (b'{"expires_days": 30.5}', ["expires_days", "whole number"]),
    (b'{"expires_days": 1e400}', ["expires_days"]),
    (b'{"expires_days": NaN}', ["not valid JSON"]),
    (b'{"expires_days": ' + b'[' * 100_000 + b'}', ["not valid JSON"]),
])
def test_a_malformed_link_request_is_400_saying_what_to_send(client: TestClient, body: bytes, words: list[str]):
    post(client, generic_payload())
    answer = client.post("/api/v1/cases/generic/4711/links", headers=bearer(make_key(client)), content=body)
    assert_error(answer, 400, *words)


def test_list_is_newest_first_with_a_limit_and_only_customer_fields(client: TestClient):
    post(client, generic_payload("1", title="First", requester_email="ann@example.com"))
    post(client, generic_payload("2", title="Second"))
    post(client, generic_payload("3", title="Third", stage="resolved"))
    key = make_key(client)
    answer = client.get("/api/v1/cases", headers=bearer(key))
    assert answer.status_code == 200
    cases = answer.json()["cases"]
    assert [c["case_id"] for c in cases] == ["3", "2", "1"]
    assert cases[0] == {**cases[0], "source": "generic", "stage": "resolved", "public": False}
    assert isinstance(cases[0]["link_version"], int)
    assert "ann@example.com" not in answer.text and "updates" not in cases[0]
    assert [c["case_id"] for c in client.get("/api/v1/cases?limit=2", headers=bearer(key)).json()["cases"]] == \
        ["3", "2"]
    for bad in ("0", "501", "two", "-1"):
        assert_error(client.get(f"/api/v1/cases?limit={bad}", headers=bearer(key)), 400, "limit")


def test_one_case_is_the_customers_view_with_its_link_state(client: TestClient):
    post(client, {**generic_payload("octo/app#12", title="Crash on start", requester_email="ann@example.com",
                                    next_steps=[{"text": "Send the log", "owner": "customer"}]),
                  "message": {"id": "m1", "body": "We are on it.", "public": True, "author": "Dana"}})
    post(client, {**generic_payload("octo/app#12"), "message": {"id": "n1", "body": "INTERNAL-5e1", "public": False}})
    key = make_key(client)
    answer = client.get("/api/v1/cases/generic/octo%2Fapp%2312", headers=bearer(key))
    assert answer.status_code == 200
    case = answer.json()
    assert case["case_id"] == "octo/app#12" and case["title"] == "Crash on start"
    assert case["next_steps"] == [{"text": "Send the log", "owner": "customer", "done": False}]
    assert [u["body"] for u in case["updates"]] == ["We are on it."]
    assert case["source"] == "generic" and isinstance(case["link_version"], int) and case["public"] is False
    assert "INTERNAL-5e1" not in answer.text and "ann@example.com" not in answer.text
    # The customer makes it public: the API says so, and keeps the public id to the customer.
    minted = client.post("/api/v1/cases/generic/octo%2Fapp%2312/links", headers=bearer(key)).json()["url"]
    public_path = make_public(client, urlsplit(minted).path)
    after = client.get("/api/v1/cases/generic/octo%2Fapp%2312", headers=bearer(key))
    assert after.json()["public"] is True
    assert public_path.rpartition("/")[2] not in after.text
    assert public_path.rpartition("/")[2] not in client.get("/api/v1/cases", headers=bearer(key)).text


def test_unknown_source_or_case_is_404_saying_what_exists(client: TestClient):
    key = make_key(client)
    assert_error(client.get("/api/v1/cases/zendsk/1", headers=bearer(key)), 404, "Known sources: chatwoot")
    assert_error(client.get("/api/v1/cases/generic/404", headers=bearer(key)), 404, "GET /api/v1/cases")


def test_a_key_made_on_the_command_line_works_over_http(client: TestClient, settings: Settings):
    post(client, generic_payload(title="Made by the CLI"))
    environ = {**os.environ, "TRACKER_DATABASE_URL": settings.database_url, "TRACKER_SECRET_KEYS": "k" * 32}
    made = subprocess.run([sys.executable, "-m", "tracker", "apikey", "add", "acme", "--name", "zapier"],
                          env=environ, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    key = made.stdout.splitlines()[-1]
    answer = client.get("/api/v1/cases", headers=bearer(key))
    assert [c["title"] for c in answer.json()["cases"]] == ["Made by the CLI"]
