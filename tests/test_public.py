"""Internal notes and private data never reach a customer-facing surface."""

from __future__ import annotations

import httpx

from tests.conftest import LiveServer, generic_payload, live_link, post, sse_events

NOTE = "INTERNAL-7f3a: customer is on the legacy plan, refund them quietly"
EMAIL = "ann.private@example.com"


def test_internal_note_never_reaches_page_json_or_stream(live: LiveServer):
    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, generic_payload(title="Refund", requester_email=EMAIL, requester_name="Ann Secretname"))
        post(http, {**generic_payload(), "message": {"id": "n1", "body": NOTE, "public": False}})
        post(http, {**generic_payload(), "message": {"id": "n2", "body": NOTE, "author": "Dana"}})  # no "public"
        url = live_link(live)
        with http.stream("GET", url + "/events?last_event_id=0") as stream:
            replayed = sse_events(stream.iter_lines(), 3)
        surfaces = {
            "page": http.get(url).text,
            "json": http.get(url + "/case.json").text,
            "stream": repr(replayed),
        }
    for name, text in surfaces.items():
        assert "Refund" in text, name  # the surface did render the case
        for secret in (NOTE, "INTERNAL-7f3a", EMAIL, "Secretname"):
            assert secret not in text, f"{secret!r} leaked into the {name}"
