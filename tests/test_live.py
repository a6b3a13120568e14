"""One live connection for many cases (`GET /live`), over real HTTP: every case's opening and
changes on one stream, resuming each case from its own revision, a case that cannot be followed
is `gone` while the others go on, internal notes stay out, bad queries are a 400 naming the field."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.conftest import BACKENDS, LiveServer, generic_payload, live_link, post, sse_events
from tracker.admin import add_tenant
from tracker.web.page_stream import MAX_ENTRIES as MAX_CASES

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
CASES = [str(n) for n in range(5001, 5021)]  # twenty cases on one page


def token(live: LiveServer, case_id: str) -> str:
    return live_link(live, case_id).rsplit("/c/", 1)[1]


def make_public(live: LiveServer, case_id: str, public_id: str) -> None:
    store = live.app.state.store
    stored = live.call(store.get_case("acme", "generic", case_id))
    live.call(store.set_public(stored.key, public_id, None))


def by_index(events: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {e["data"]["s"]: e for e in events}


def test_every_case_opens_and_then_changes_on_one_connection(live: LiveServer):
    with httpx.Client(base_url=live.url, timeout=10) as http:
        for case_id in CASES:
            post(http, generic_payload(case_id, title=f"Case {case_id}"))
        query = "&".join(f"c={token(live, case_id)}" for case_id in CASES)
        with http.stream("GET", f"/live?{query}") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["x-robots-tag"].startswith("noindex")
            lines = stream.iter_lines()
            opening = by_index(sse_events(lines, len(CASES)))
            for case_id in reversed(CASES):
                post(http, {**generic_payload(case_id, title=f"Case {case_id}, now in progress"),
                            "message": {"id": "n1", "body": "INTERNAL: refund is blocked", "public": False}})
            changes = by_index(sse_events(lines, len(CASES)))
    assert sorted(opening) == sorted(changes) == list(range(len(CASES)))
    for index, case_id in enumerate(CASES):
        assert opening[index]["event"] == "case" and "id" not in opening[index]
        assert opening[index]["data"]["e"]["case"]["title"] == f"Case {case_id}"
        assert changes[index]["event"] == "change"
        assert changes[index]["data"]["e"]["case"]["title"] == f"Case {case_id}, now in progress"
        assert changes[index]["data"]["e"]["update"] is None
    assert "INTERNAL" not in str(changes)


def test_each_case_resumes_from_its_own_revision(live: LiveServer):
    with httpx.Client(base_url=live.url, timeout=10) as http:
        for n in range(1, 4):
            post(http, generic_payload("1", title=f"one v{n}"))
        post(http, generic_payload("2", title="two v1"))
        make_public(live, "2", "pub-two")
        # The card of 1 showed revision 1 and that of 2 revision 1; the third card is new.
        post(http, generic_payload("3", title="three v1"))
        query = f"c={token(live, '1')}~1&p=pub-two~1&c={token(live, '3')}"
        with http.stream("GET", f"/live?{query}") as stream:
            lines = stream.iter_lines()
            first = sse_events(lines, 3)
            post(http, generic_payload("2", title="two v2"))
            [later] = sse_events(lines, 1)
    seen = sorted((e["data"]["s"], e["event"], e["data"]["e"]["case"]["title"]) for e in first)
    assert seen == [(0, "change", "one v2"), (0, "change", "one v3"), (2, "case", "three v1")]
    assert (later["event"], later["data"]["s"], later["data"]["e"]["case"]["title"]) == ("change", 1, "two v2")


def test_a_case_that_cannot_be_followed_is_gone_and_the_others_go_on(live: LiveServer):
    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, generic_payload("1", title="kept"))
        post(http, generic_payload("2", title="shared, then private"))
        make_public(live, "2", "pub-two")
        good = token(live, "1")
        tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
        query = f"c={tampered}&p=no-such-case&p=pub-two~1&c={good}~1"
        with http.stream("GET", f"/live?{query}") as stream:
            lines = stream.iter_lines()
            gone = by_index(sse_events(lines, 2))
            store = live.app.state.store
            stored = live.call(store.get_case("acme", "generic", "2"))
            live.call(store.set_public(stored.key, None, None))
            post(http, generic_payload("2", title="private now"))  # the notification that ends its channel
            [made_private] = sse_events(lines, 1)
            post(http, generic_payload("1", title="kept, changed"))
            [change] = sse_events(lines, 1)
    assert {i: (e["event"], e["data"]["e"]["status"]) for i, e in gone.items()} == {0: ("gone", 404), 1: ("gone", 404)}
    assert (made_private["event"], made_private["data"]["s"]) == ("gone", 2)
    assert "private now" not in str(made_private)
    assert (change["data"]["s"], change["data"]["e"]["case"]["title"]) == (3, "kept, changed")


def test_an_origin_the_company_does_not_allow_is_gone_for_its_cases(live: LiveServer):
    store = live.app.state.store
    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, generic_payload("1", title="restricted"))
        live.call(add_tenant(store, "acme", None, None, {"embed_origins": "https://support.acme.example"}))
        query = f"c={token(live, '1')}"
        for origin, event in (("https://elsewhere.example", "gone"), ("https://support.acme.example", "case")):
            with http.stream("GET", f"/live?{query}", headers={"Origin": origin}) as stream:
                [first] = sse_events(stream.iter_lines(), 1)
            assert first["event"] == event
            assert ("restricted" in str(first)) is (event == "case")


@pytest.mark.parametrize("query, field", [
    ("", "c=LINK_TOKEN"),
    ("c=", "c (entry 0)"),
    ("c=abc~%C2%B2", "c (entry 0)"),
    ("c=abc~" + "9" * 5000, "c (entry 0)"),
    ("p=x&p=y~-1", "p (entry 1)"),
    ("p=x&r=", "r (entry 1)"),
    ("s=acme~3", "s (entry 0)"),
    ("&".join(["p=x"] * (MAX_CASES + 1)), "at most"),
])
def test_a_bad_query_is_a_400_naming_the_field(live: LiveServer, query: str, field: str):
    with httpx.Client(base_url=live.url, timeout=10) as http:
        response = http.get(f"/live?{query}")
    assert response.status_code == 400
    assert field in response.json()["error"]


def test_a_closed_connection_releases_every_case(live: LiveServer):
    with httpx.Client(base_url=live.url, timeout=10) as http:
        for case_id in ("1", "2", "3"):
            post(http, generic_payload(case_id))
        query = "&".join(f"c={token(live, c)}" for c in ("1", "2", "3"))
        with http.stream("GET", f"/live?{query}") as stream:
            sse_events(stream.iter_lines(), 3)

    async def released() -> tuple[int, int]:
        streams = live.app.state.streams
        for _ in range(100):
            if streams.open_count == 0 and not streams._channels:
                break
            await asyncio.sleep(0.05)
        return streams.open_count, len(streams._channels)

    assert live.call(released()) == (0, 0)
