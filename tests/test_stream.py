"""The live stream over real HTTP: first event the case, one event per change, resume by
Last-Event-ID (header or query), heartbeat, HEAD, slow subscribers dropped."""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import BACKENDS, LiveServer, generic_payload, live_link, post, sse_events
from tracker.admin import add_tenant
from tracker.cases import Event
from tracker.clock import Clock
from tracker.policy import DEFAULT
from tracker.public import customer_event_view
from tracker.pubsub.memory import MemoryHub
from tracker.storage.base import Store, StoredEvent
from tracker.web.case_data import problem_frame
from tracker.web.stream import PING_SLICES, Streams

# The hub's own tests (slow subscribers dropped, catching up) are in test_pubsub.py.
pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)


def test_first_event_is_the_case_then_one_event_per_change(live: LiveServer):
    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, generic_payload(title="First"))
        url = live_link(live)
        with http.stream("GET", url + "/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            [first] = sse_events(lines, 1)
            assert (first["event"], first["id"]) == ("case", "1")
            assert first["data"]["case"]["title"] == "First"
            post(http, generic_payload(title="Second"))
            post(http, {**generic_payload(), "message": {"id": "m1", "body": "Hi", "public": True}})
            changes = sse_events(lines, 2)
    assert [c["id"] for c in changes] == ["2", "3"]
    assert changes[0]["data"]["case"]["title"] == "Second"
    assert changes[1]["data"]["update"]["body"] == "Hi"


def test_reconnect_with_last_event_id_receives_exactly_the_missed_events(live: LiveServer):
    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, generic_payload(title="v1"))
        url = live_link(live)
        with http.stream("GET", url + "/events") as stream:
            [first] = sse_events(stream.iter_lines(), 1)
        for n in (2, 3, 4):
            post(http, generic_payload(title=f"v{n}"))
        for headers, query in (({"Last-Event-ID": first["id"]}, ""), ({}, f"?last_event_id={first['id']}")):
            with http.stream("GET", url + "/events" + query, headers=headers) as stream:
                lines = stream.iter_lines()
                missed = sse_events(lines, 3)
                post(http, generic_payload(title="live"))
                [live_event] = sse_events(lines, 1)
            assert [(e["event"], e["id"], e["data"]["case"]["title"]) for e in missed] == [
                ("change", "2", "v2"), ("change", "3", "v3"), ("change", "4", "v4")]
            assert live_event["data"]["case"]["title"] == "live"
            first = {"id": "4"}  # the second round resumes after v4 and sees only "live" first
            post(http, generic_payload(title="v4-again"))


def test_heartbeat_keeps_the_stream_open(live: LiveServer):
    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, generic_payload())
        with http.stream("GET", live_link(live) + "/events") as stream:
            pings = 0
            for line in stream.iter_lines():
                pings += line.startswith(": ping")
                if pings == 2:
                    break
    assert pings == 2  # settings.ping_seconds is 0.5 in tests


def test_head_request_returns_headers_and_ends(live: LiveServer):
    with httpx.Client(base_url=live.url, timeout=5) as http:
        post(http, generic_payload())
        response = http.head(live_link(live) + "/events")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")


def test_streams_are_released_when_clients_leave(live: LiveServer):
    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, generic_payload())
        url = live_link(live)
        for _ in range(3):
            with http.stream("GET", url + "/events") as stream:
                sse_events(stream.iter_lines(), 1)

    async def open_streams() -> int:
        for _ in range(100):
            if live.app.state.streams.open_count == 0:
                break
            await asyncio.sleep(0.05)
        return int(live.app.state.streams.open_count)

    assert live.call(open_streams()) == 0


def test_a_client_that_stops_reading_is_released(live: LiveServer):
    """Its sends block once the socket buffers fill; the heartbeat cancels the stalled one."""
    streams = live.app.state.streams
    streams.send_timeout_seconds = 0.5
    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, generic_payload())
        path = live_link(live).removeprefix(live.url) + "/events"
        stalled = socket.create_connection(("127.0.0.1", int(live.url.rsplit(":", 1)[1])))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        try:
            big = "x" * 200_000  # each change frame carries the case, title included
            for n in range(40):
                post(http, generic_payload(title=f"{n} {big}"))

            async def released() -> bool:
                for _ in range(100):
                    if streams.open_count == 0:
                        return True
                    await asyncio.sleep(0.05)
                return False

            assert live.call(released())
        finally:
            stalled.close()


class FailingReads:
    """The store, whose next `failures` reads of the event log fail (a pool's stale connection
    after a database restart)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.failures = 0

    async def events_after(self, case_key: int, seq: int, limit: int = 1000) -> list[StoredEvent]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the connection was closed")
        return await self.store.events_after(case_key, seq, limit)


async def test_a_catch_up_whose_read_fails_is_tried_again(store: Store, clock: Clock):
    """After a reconnect the hub asks every channel to catch up; the first read failing must not
    leave the streams behind until the case's next event."""
    await add_tenant(store, "acme", "ACME", None)
    [first] = await store.ingest("acme", "generic", [Event("4711", "d1", clock.now(), {"title": "one"})])
    head = await store.get_case_head("acme", "generic", "4711")
    assert head is not None and head.seq == first.seq
    hub, reads = MemoryHub(), FailingReads(store)
    streams = Streams(reads, hub, ping_seconds=60)  # type: ignore[arg-type]
    outbox = streams.open()
    streams.join(head, "customer", customer_event_view(DEFAULT, clock), None, outbox)
    await asyncio.sleep(0.05)  # the channel has read the log once and listens
    await store.ingest("acme", "generic", [Event("4711", "d2", clock.now(), {"title": "two"})])  # its notice lost
    reads.failures = 2
    hub.catch_up_all()
    _, seq, _, data = await asyncio.wait_for(outbox.queue.get(), 5)
    assert seq == 2 and b'"title":"two"' in data
    await streams.stop()


async def test_a_stream_joining_a_problems_channel_gets_the_problem_as_it_is_now(store: Store, clock: Clock):
    """A problem that moves between a linked stream's opening view and its joining the problem's
    channel told nothing to that stream: the channel's first frame (and, for later joiners, its
    latest) brings the stream up to date; clients skip a frame that is not newer."""
    await add_tenant(store, "acme", "ACME", None)
    [problem] = await store.ingest("acme", "github", [Event("app#1", "p0", clock.now(), {"stage": "in_progress"})])
    streams = Streams(store, MemoryHub(), ping_seconds=60, problem_data=functools.partial(problem_frame, store))
    first, later = streams.open(), streams.open()
    await store.ingest("acme", "github", [Event("app#1", "p1", clock.now(), {"stage": "resolved"})])  # no notice
    streams.join_problem(problem.case_key, "customer", first)
    _, seq, frame, data = await asyncio.wait_for(first.queue.get(), 5)
    assert seq == 0 and frame.startswith(b"event: problem") and json.loads(data)["problem"]["stage"] == "resolved"
    streams.join_problem(problem.case_key, "customer", later)
    assert (await asyncio.wait_for(later.queue.get(), 5))[2] == frame
    streams.leave_problem(problem.case_key, "customer", first)
    streams.leave_problem(problem.case_key, "customer", later)
    await streams.stop()


def test_streams_opening_together_share_one_reading_of_the_case_and_each_sees_what_follows(live: LiveServer):
    """A reconnect storm: twenty streams of one case read and view it once, open with its latest
    revision, and every one of them gets the change after it."""
    with httpx.Client(base_url=live.url, timeout=10) as http:
        assert post(http, generic_payload(title="Invoice export fails", stage="received")).status_code == 202
    url = live_link(live) + "/events"
    while live.app.state.clock.timestamp() % 60 > 50:  # openings are shared per minute: not across one
        time.sleep(0.5)
    store = live.app.state.store
    reads = 0
    get_case = store.get_case

    async def counted(*args: Any) -> Any:
        nonlocal reads
        reads += 1
        return await get_case(*args)

    store.get_case = counted

    async def storm() -> list[tuple[dict[str, Any], dict[str, Any]]]:
        opened = asyncio.Semaphore(0)
        async with httpx.AsyncClient(timeout=10) as client:
            async def one() -> tuple[dict[str, Any], dict[str, Any]]:
                async with client.stream("GET", url) as stream:
                    lines = stream.aiter_lines()
                    opening = await next_event(lines)
                    opened.release()
                    return opening, await next_event(lines)

            tasks = [asyncio.create_task(one()) for _ in range(20)]
            for _ in tasks:
                await opened.acquire()
            assert reads == 1
            with httpx.Client(base_url=live.url, timeout=10) as http:
                answer = await asyncio.to_thread(post, http, generic_payload(stage="in_progress"))
            assert answer.status_code == 202
            return await asyncio.gather(*tasks)

    seen = asyncio.run(storm())
    for opening, change in seen:
        assert opening["event"] == "case" and opening["data"]["case"]["stage"] == "received"
        assert change["event"] == "change" and change["data"]["case"]["stage"] == "in_progress"


async def next_event(lines: Any) -> dict[str, Any]:
    """The next SSE event of an async line iterator, pings skipped: {"event", "data"}."""
    event: dict[str, Any] = {}
    async for line in lines:
        if line.startswith("event:"):
            event["event"] = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            event["data"] = json.loads(line.removeprefix("data:"))
        elif line == "" and "data" in event:
            return event
    raise AssertionError("the stream ended")


def test_a_stream_that_cannot_open_is_answered_as_every_other_route_answers(live: LiveServer):
    """Streams are routed beneath tracker's middleware but above Starlette's: the same JSON
    errors, robots header and request id as any route, and the router's 405."""
    with httpx.Client(base_url=live.url, timeout=10) as http:
        for path, status in (("/c/forged/events", 404), ("/p/nobody/events", 404), ("/live", 400),
                             ("/r/forged/events", 404), ("/s/nobody/events", 404)):
            answer = http.get(path)
            assert answer.status_code == status, path
            assert answer.json()["error"] and answer.headers["x-request-id"], path
        assert http.get("/c/forged/events").headers["x-robots-tag"] == "noindex, nofollow"
        refused = http.post("/c/forged/events")
        assert refused.status_code == 405 and "GET" in refused.headers["allow"]


async def test_the_heartbeat_pings_a_slice_of_the_streams_at_a_time_and_each_once_per_period(store: Store):
    """All at once, 20,000 pings held the loop for up to a second, and every update with them.
    Judged by what the outboxes hold as the heartbeat goes round, not by the wall clock: a busy
    machine's sleeps run late."""
    streams = Streams(store, MemoryHub(), ping_seconds=3.0)  # a slice's turn every 0.1 s
    outboxes = [streams.open() for _ in range(PING_SLICES * 10)]

    def pinged() -> list[int]:
        return [len(outbox.queue._frames) for outbox in outboxes]

    async def until(done: Callable[[list[int]], bool]) -> list[int]:
        deadline = time.monotonic() + 20
        while not done(counts := pinged()):
            assert time.monotonic() < deadline, counts
            await asyncio.sleep(0.005)
        return counts

    streams.start()
    try:
        first = await until(lambda counts: sum(counts) > 0)
        assert sum(first) == 10  # one slice's turn
        every = await until(lambda counts: min(counts) > 0)
        assert max(every) == 1  # each once before any twice
    finally:
        await streams.stop()
