"""Internal notes and private data never reach a customer-facing surface."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import LiveServer, from_now, generic_payload, live_link, post, sse_events, suite_clock
from tracker import public
from tracker.cases import new_case
from tracker.policy import DEFAULT

NOTE = "INTERNAL-7f3a: customer is on the legacy plan, refund them quietly"
EMAIL = "ann.private@example.com"


def test_internal_note_never_reaches_any_customer_surface(live: LiveServer):
    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, generic_payload(title="Refund", requester_email=EMAIL, requester_name="Ann Secretname",
                                   expected_by=from_now(days=30)))
        post(http, {**generic_payload(), "message": {"id": "n1", "body": NOTE, "public": False}})
        post(http, {**generic_payload(), "message": {"id": "n2", "body": NOTE, "author": "Dana"}})  # no "public"
        url = live_link(live)
        path = urlsplit(url).path

        async def publish() -> None:
            stored = await live.app.state.store.get_case("acme", "generic", "4711")
            await live.app.state.store.set_public(stored.key, "pub-notes", None)

        live.call(publish())
        public = "/p/pub-notes"
        with http.stream("GET", url + "/events?last_event_id=0") as stream:
            replayed = sse_events(stream.iter_lines(), 3)
        with http.stream("GET", public + "/events?last_event_id=0") as stream:
            public_replayed = sse_events(stream.iter_lines(), 3)
        surfaces = {
            "page": http.get(path).text,
            "json": http.get(path + "/case.json").text,
            "stream": repr(replayed),
            "feed": http.get(path + "/feed.atom").text,
            "calendar": http.get(path + "/case.ics").text,
            "oembed": http.get("/oembed", params={"url": url}).text,
            "public page": http.get(public).text,
            "public json": http.get(public + "/case.json").text,
            "public stream": repr(public_replayed),
            "public feed": http.get(public + "/feed.atom").text,
            "badge": http.get(public + "/badge.svg").text,
            "badge json": http.get(public + "/badge.json").text,
        }
    for name, text in surfaces.items():
        assert "Refund" in text or "4711" in text, name  # the surface did render the case
        for secret in (NOTE, "INTERNAL-7f3a", EMAIL, "Secretname"):
            assert secret not in text, f"{secret!r} leaked into the {name}"


def test_the_public_view_is_an_allow_list(monkeypatch: pytest.MonkeyPatch):
    """A field added to the customer's view stays out of the public's until PUBLIC_FIELDS names it."""
    case = replace(new_case("4711"), title="Refund for ann@example.com", status_label="Call +49 30 1234567")
    now = suite_clock().now()
    before = public.public_case_view(case, 1, None, DEFAULT, now)
    assert set(before) == set(public.PUBLIC_FIELDS)
    assert before["title"] == "Refund for [e-mail hidden]" and "1234567" not in before["status_label"]

    customer_view = public.case_view
    monkeypatch.setattr(public, "case_view", lambda *a, **k: {**customer_view(*a, **k), "requester_email": "x"})
    after = public.public_case_view(case, 1, None, DEFAULT, now)
    assert "requester_email" not in after and after == before
