"""A tenant's policy holds on every surface that shows a case: a restrictive policy (no
activity, cases close for the customer a day after they are resolved) walked through the page,
JSON, streams, the multiplexed stream, feed, calendar, badge, oEmbed and the admin API, for the
customer and for the public, with an internal note in the case that none of them may show."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from starlette.testclient import TestClient

from tests.conftest import from_now, generic_payload, link_for, post, sse_events
from tests.test_admin_api import bearer, make_key
from tests.test_embed import publish
from tests.test_follow import configure

NOTE = "INTERNAL-5e2a: waiting on the refund approval"
BEHIND = "Behind the scenes"


def restrictive_case(client: TestClient) -> tuple[str, str]:
    """A case resolved two days ago, with internal activity an hour ago; its link and public page."""
    configure(client, show_activity="no", confirm_days="1")
    post(client, {**generic_payload(title="Refund", stage="resolved", expected_by=from_now(days=3)),
                  "occurred_at": from_now(days=-2)})
    post(client, {**generic_payload(), "occurred_at": from_now(hours=-1),
                  "message": {"id": "n1", "body": NOTE, "public": False}})
    return link_for(client), publish(client)


def first_event(client: TestClient, url: str) -> dict[str, Any]:
    with client.stream("GET", url) as stream:
        [event] = sse_events(stream.iter_lines(), 1)
    return dict(event["data"])


def test_every_surface_applies_the_tenants_policy(client: TestClient):
    link, public = restrictive_case(client)
    token, public_id = link.rsplit("/", 1)[1], public.rsplit("/", 1)[1]
    key = make_key(client)
    views = {
        "case.json": client.get(link + "/case.json").json(),
        "public case.json": client.get(public + "/case.json").json(),
        "events": first_event(client, link + "/events")["case"],
        "public events": first_event(client, public + "/events")["case"],
        "live": first_event(client, f"/live?c={token}")["e"]["case"],
        "public live": first_event(client, f"/live?p={public_id}")["e"]["case"],
        "admin case": client.get("/api/v1/cases/generic/4711", headers=bearer(key)).json(),
    }
    for surface, view in views.items():
        assert view["stage"] == "closed", surface  # resolved two days ago, and confirm_days is 1
        assert view.get("activity") is None, surface
    listed = client.get("/api/v1/cases", headers=bearer(key)).json()["cases"]
    assert [case["stage"] for case in listed] == ["closed"]

    texts = {
        "page": client.get(link).text,
        "public page": client.get(public).text,
        "feed": client.get(link + "/feed.atom").text,
        "public feed": client.get(public + "/feed.atom").text,
        "calendar": client.get(link + "/case.ics").text,
        "public calendar": client.get(public + "/case.ics").text,
        "badge": client.get(public + "/badge.svg").text,
        "badge.json": client.get(public + "/badge.json").text,
        "oembed": client.get(f"/oembed?url={quote(client.base_url.join(link).__str__(), safe='')}").text,
        **{surface: json.dumps(view) for surface, view in views.items()},
    }
    for surface, text in texts.items():
        assert NOTE not in text, surface
        assert BEHIND not in text, surface
    assert 'aria-current="step">Closed' in texts["page"].replace("\n", "")
    assert "closed" in json.loads(texts["badge.json"])["message"].lower()


def test_the_same_case_with_the_default_policy_shows_its_activity(client: TestClient):
    """The walk above proves something only if the same surfaces do show what the policy hides."""
    link, public = restrictive_case(client)
    configure(client, show_activity="yes", confirm_days="7")
    assert client.get(link + "/case.json").json()["stage"] == "resolved"
    assert client.get(link + "/case.json").json()["activity"] is not None
    assert BEHIND in client.get(link).text
    assert first_event(client, f"/live?c={link.rsplit('/', 1)[1]}")["e"]["case"]["activity"] is not None
