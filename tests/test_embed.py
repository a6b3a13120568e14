"""What other sites use: the badge, oEmbed, the widget script, CORS and embed origins, the lookup."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.conftest import generic_payload, link_for, post, suite_clock
from tracker.admin import add_tenant
from tracker.web.badge import badge_values
from tracker.web.lookup import (
    ANSWER_AFTER_SECONDS,
    CASE_ATTEMPTS_PER_MINUTE,
    CLIENT_ATTEMPTS_PER_MINUTE,
    NO_MATCH,
    RateLimiter,
)

SVG = "{http://www.w3.org/2000/svg}"
ORIGIN = "https://help.acme.example"


def publish(client: TestClient, case_id: str = "4711", public_id: str = "pub-4711", title: str | None = None) -> str:
    app = client.app
    assert isinstance(app, Starlette)

    async def go() -> None:
        stored = await app.state.store.get_case("acme", "generic", case_id)
        await app.state.store.set_public(stored.key, public_id, title)

    client.portal.call(go)
    return f"/p/{public_id}"


def set_embed_origins(client: TestClient, origins: str) -> None:
    app = client.app
    assert isinstance(app, Starlette)
    client.portal.call(add_tenant, app.state.store, "acme", None, None, {"embed_origins": origins})


def view(**fields: Any) -> dict[str, Any]:
    base = {"case_id": "7", "stage": "in_progress", "waiting_on": "company", "created_at": None, "quiet": None}
    return {**base, **fields}


@pytest.mark.parametrize(("fields", "message", "colour"), [
    ({"waiting_on": "customer"}, "in progress · waiting on you", "#b3470b"),
    ({"waiting_on": "company"}, "in progress · with the team", "#1d62b8"),
    ({"waiting_on": "third_party"}, "in progress · waiting on a third party", "#6e4fb0"),
    ({"stage": "received", "waiting_on": None}, "received", "#5b6470"),
    ({"stage": "resolved"}, "resolved", "#2f7d32"),
    ({"created_at": "2026-11-20T10:00:00+00:00"}, "in progress · with the team · open 3d", "#1d62b8"),
    ({"quiet": {"hours": 50}}, "in progress · with the team · no update 2d", "#b42318"),
])
def test_badge_says_stage_whose_move_and_age(fields: dict[str, Any], message: str, colour: str):
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert badge_values(view(**fields), now) == ("case 7", message, colour)


def test_badge_svg_is_escaped_accessible_and_cached(client: TestClient):
    post(client, generic_payload('<script>alert(1)</script>"&', stage="in_progress", waiting_on="customer"))
    path = publish(client, '<script>alert(1)</script>"&')
    badge = client.get(path + "/badge.svg")
    assert badge.status_code == 200 and badge.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(badge.text)  # well-formed: every value escaped
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == 'case <script>alert(1)</script>"&: in progress · waiting on you · open 1m'
    assert "<script>" not in badge.text
    etag = badge.headers["etag"]
    assert "max-age" in badge.headers["cache-control"]
    assert client.get(path + "/badge.svg", headers={"If-None-Match": etag}).status_code == 304
    post(client, generic_payload('<script>alert(1)</script>"&', stage="resolved"))
    assert client.get(path + "/badge.svg", headers={"If-None-Match": etag}).status_code == 200


def test_badge_label_takes_the_tenant_accent_when_white_text_stays_readable(client: TestClient):
    post(client, generic_payload())
    path = publish(client)
    app = client.app
    assert isinstance(app, Starlette)
    client.portal.call(add_tenant, app.state.store, "acme", None, None, {"accent_colour": "#7a1fa2"})
    assert 'fill="#7a1fa2"' in client.get(path + "/badge.svg").text
    assert client.get(path + "/badge.json").json()["labelColor"] == "7a1fa2"
    client.portal.call(add_tenant, app.state.store, "acme", None, None, {"accent_colour": "#ffe066"})  # too light
    assert 'fill="#ffe066"' not in client.get(path + "/badge.svg").text


def test_badge_json_follows_the_shields_endpoint_schema(client: TestClient):
    post(client, generic_payload(stage="in_progress", waiting_on="third_party"))
    body = client.get(publish(client) + "/badge.json").json()
    assert body["schemaVersion"] == 1 and body["label"] == "case 4711"
    assert body["message"].startswith("in progress · waiting on a third party") and body["color"] == "6e4fb0"


def test_oembed_returns_the_widget_embed_for_case_and_public_links(client: TestClient, settings: Any):
    post(client, generic_payload(title='Printer <img src=x onerror=alert(1)>'))
    for path in (link_for(client), publish(client)):
        answer = client.get("/oembed", params={"url": settings.base_url + path, "maxwidth": "300"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["type"] == "rich" and body["version"] == "1.0" and body["width"] == 300
        assert f'href="{settings.base_url}{path}"' in body["html"] and "/widget.js" in body["html"]
        assert "<img" not in body["html"] and "&lt;img" in body["html"]
    page = client.get(link_for(client)).text
    assert 'type="application/json+oembed"' in page and 'property="og:title"' in page
    assert client.get("/oembed", params={"url": "https://elsewhere.example/c/x"}).status_code == 404
    assert client.get("/oembed", params={"url": settings.base_url + "/c/forged"}).status_code == 404
    assert client.get("/oembed", params={"url": settings.base_url + path, "format": "xml"}).status_code == 501
    assert client.get("/oembed").json()["error"].startswith("Give the case link")


def test_widget_script_is_served_to_any_site(client: TestClient):
    script = client.get("/widget.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert script.headers["access-control-allow-origin"] == "*" and "tracker-case" in script.text


def test_case_data_is_readable_cross_origin_unless_the_tenant_restricts_it(client: TestClient):
    post(client, generic_payload())
    url = link_for(client)
    public = publish(client)
    other = {"Origin": "https://evil.example"}
    for path in (url + "/case.json", public + "/case.json", public + "/badge.json"):
        assert client.get(path, headers=other).headers["access-control-allow-origin"] == "*"
    document = client.get(url + "/case.json").json()
    assert document["page_url"].endswith(url)
    assert document["tenant"] == {"name": "ACME Support", "theme": "default", "brand_css": None}
    set_embed_origins(client, ORIGIN)
    for path in (url + "/case.json", url + "/events", public + "/case.json", public + "/events"):
        refused = client.get(path, headers=other)
        assert refused.status_code == 403 and ORIGIN in refused.json()["error"], path
        allowed = client.get(path, headers={"Origin": ORIGIN}) if not path.endswith("/events") else None
        if allowed is not None:
            assert allowed.headers["access-control-allow-origin"] == ORIGIN and allowed.headers["vary"] == "Origin"
    assert "frame-ancestors 'self' " + ORIGIN in client.get(public).headers["content-security-policy"]
    assert "frame-ancestors 'none'" in client.get(url).headers["content-security-policy"]


def test_preflight_allows_last_event_id(client: TestClient):
    answer = client.options("/c/x/events", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET",
                                                    "Access-Control-Request-Headers": "last-event-id"})
    assert answer.status_code == 204 and "Last-Event-ID" in answer.headers["access-control-allow-headers"]


def lookup(client: TestClient, case: str, email: str) -> Any:
    return client.post("/api/lookup/acme", data={"case": case, "email": email}, headers={"Origin": ORIGIN})


def test_lookup_answers_a_match_with_a_working_link_and_everything_else_the_same(client: TestClient):
    post(client, generic_payload(title="Found me", requester_email="Ann@Example.com"))
    post(client, generic_payload("4712", title="No e-mail on record"))
    found = lookup(client, "#4711", " ann@example.com ")
    assert found.status_code == 200 and found.headers["access-control-allow-origin"] == "*"
    url = found.json()["url"]
    assert "Found me" in client.get(urlsplit(url).path).text
    misses = [lookup(client, "4711", "bob@example.com"), lookup(client, "9999", "ann@example.com"),
              lookup(client, "4712", "ann@example.com")]
    assert {(m.status_code, json.dumps(m.json())) for m in misses} == {
        (404, json.dumps({"ok": False, "status": 404, "error": NO_MATCH}))}
    assert all(m.headers["access-control-allow-origin"] == "*" for m in misses)
    assert lookup(client, "", "x").status_code == 400
    assert client.post("/api/lookup/nobody", data={"case": "1", "email": "a@b.c"}).status_code == 404


def test_a_wrong_address_and_a_missing_case_answer_after_the_same_time(client: TestClient):
    """A case that exists is read and decoded; one that does not is not. Both answers wait for
    the same moment, so the time an answer takes tells nothing (the work itself is far less)."""
    post(client, generic_payload(title="x" * 50_000, requester_email="ann@example.com"))
    for case, email in (("4711", "eve@example.com"), ("9999", "eve@example.com"), ("4711", "ann@example.com")):
        started = time.monotonic()
        answer = lookup(client, case, email)
        assert answer.status_code in (200, 404)
        assert time.monotonic() - started >= ANSWER_AFTER_SECONDS


def test_lookup_is_rate_limited_per_case(client: TestClient):
    post(client, generic_payload(requester_email="ann@example.com"))
    answers = [lookup(client, "4711", f"guess{n}@example.com").status_code for n in range(CASE_ATTEMPTS_PER_MINUTE)]
    assert answers == [404] * CASE_ATTEMPTS_PER_MINUTE
    limited = lookup(client, "4711", "ann@example.com")  # even the right answer, once limited
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert "Too many attempts" in limited.json()["error"]


def test_rate_limiter_counts_a_sliding_window_per_key():
    limiter = RateLimiter(CLIENT_ATTEMPTS_PER_MINUTE)
    assert all(limiter.retry_after("ip", now=t) == 0 for t in range(CLIENT_ATTEMPTS_PER_MINUTE))
    assert limiter.retry_after("ip", now=30) == 30
    assert limiter.retry_after("other", now=30) == 0
    assert limiter.retry_after("ip", now=60.5) == 0  # the first attempt has left the window
    idle = RateLimiter(1, max_keys=2)
    idle.retry_after("a", now=0)
    idle.retry_after("b", now=0)
    idle.retry_after("c", now=120)  # full: the idle keys are forgotten
    assert idle.retry_after("a", now=121) == 0


def test_lookup_links_expire(client: TestClient):
    post(client, generic_payload(requester_email="ann@example.com"))
    url = lookup(client, "4711", "ann@example.com").json()["url"]
    app = client.app
    assert isinstance(app, Starlette)
    link = app.state.signer.read_case_link(url.rsplit("/", 1)[1])
    assert link.expires_at is not None and link.expires_at - suite_clock().now() < timedelta(days=8)


def test_badge_speaks_the_readers_language(client: TestClient):
    post(client, generic_payload(stage="in_progress", waiting_on="customer"))
    path = publish(client)
    german = client.get(path + "/badge.svg", headers={"Accept-Language": "de"})
    assert "Anfrage 4711" in german.text and "wartet auf Sie" in german.text
    assert german.headers["vary"] == "Accept-Language"
    assert client.get(path + "/badge.json?lang=fr").json()["message"].startswith("en cours")


def test_lookup_refuses_oversized_and_unreadable_forms(client: TestClient):
    post(client, generic_payload(requester_email="ann@example.com"))
    too_big = client.post("/api/lookup/acme", content=b"case=4711&email=" + b"a" * 5000,
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert too_big.status_code == 400 and "larger than" in too_big.json()["error"]
    unreadable = client.post("/api/lookup/acme", content=b"case=\xff\xfe",
                             headers={"content-type": "application/x-www-form-urlencoded"})
    assert unreadable.status_code == 400 and unreadable.json()["error"] == "The form could not be read."
