"""The Hub on every backend: subscribe, publish, unsubscribe, slow subscribers dropped; on
PostgreSQL also across hubs, and through a server restart (reconnect, LISTEN again, catch up)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import BACKENDS, LiveServer, generic_payload, live_link, post, sse_events, suite_clock
from tests.postgres_server import PostgresServer
from tracker.cases import Event
from tracker.pubsub import open_hub
from tracker.pubsub.base import MAX_QUEUED, Hub, Subscription

every_backend = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
postgresql_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def next_seq(subscription: Subscription, wait_seconds: float = 5.0) -> int:
    return await asyncio.wait_for(subscription.queue.get(), wait_seconds)


@every_backend
async def test_publish_reaches_the_subscribers_of_that_case_only(database_url: str):
    hub = await open_hub(database_url)
    try:
        seven, also_seven, eight = hub.subscribe(7), hub.subscribe(7), hub.subscribe(8)
        await hub.publish(7, 1)
        await hub.publish(7, 2)
        await hub.publish(8, 1)
        assert [await next_seq(seven), await next_seq(seven)] == [1, 2]
        assert [await next_seq(also_seven), await next_seq(also_seven)] == [1, 2]
        assert await next_seq(eight) == 1
        hub.unsubscribe(seven)
        hub.unsubscribe(seven)  # twice is harmless
        await hub.publish(7, 3)
        await hub.publish(8, 2)
        assert await next_seq(also_seven) == 3 and await next_seq(eight) == 2  # published after the 7:3
        assert seven.queue.empty() and eight.queue.empty()
    finally:
        await hub.close()


@every_backend
async def test_slow_subscriber_is_dropped_without_slowing_the_others(database_url: str):
    hub = await open_hub(database_url)
    try:
        slow, fast = hub.subscribe(7), hub.subscribe(7)
        for seq in range(1, MAX_QUEUED + 2):
            await hub.publish(7, seq)
            assert await next_seq(fast) == seq  # the fast one keeps up
        assert slow.dropped and not fast.dropped
        while not slow.queue.empty():
            slow.queue.get_nowait()
        await hub.publish(7, MAX_QUEUED + 2)
        assert await next_seq(fast) == MAX_QUEUED + 2
        assert slow.queue.empty()  # no longer subscribed
    finally:
        await hub.close()


async def test_catch_up_marks_the_subscription_and_wakes_its_reader():
    subscription = Subscription(7, max_queued=2)
    subscription.catch_up()
    assert subscription.dropped and subscription.queue.get_nowait() == 0  # 0: a ping, no event
    full = Subscription(7, max_queued=1)
    full.offer(5)
    full.catch_up()  # never raises: the busy reader sees `dropped` after what it is handling
    assert full.dropped and full.queue.get_nowait() == 5


@every_backend
def test_a_stream_whose_subscription_catches_up_rereads_the_log(live: LiveServer):
    """What a hub does after a reconnect: the stream re-reads the event log and sends what was
    stored meanwhile (here an event whose notification never went out), once."""
    hub: Hub = live.app.state.hub
    subscriptions: list[Subscription] = []
    subscribe = hub.subscribe

    def recording(case_key: int) -> Subscription:
        subscriptions.append(subscribe(case_key))
        return subscriptions[-1]

    hub.subscribe = recording  # type: ignore[method-assign]
    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, generic_payload(title="v1"))
        with http.stream("GET", live_link(live) + "/events") as stream:
            lines = stream.iter_lines()
            [case] = sse_events(lines, 1)
            silent = Event(case_id="4711", delivery_id="silent", occurred_at=suite_clock().now(),
                           changes={"title": "stored, never published"})
            live.call(live.app.state.store.ingest("acme", "generic", [silent]))

            async def catch_up() -> None:
                for subscription in subscriptions:
                    subscription.catch_up()

            live.call(catch_up())
            post(http, generic_payload(title="v3"))
            changes = sse_events(lines, 2)
    assert case["id"] == "1"
    assert [(c["id"], c["data"]["case"]["title"]) for c in changes] == [("2", "stored, never published"),
                                                                         ("3", "v3")]


@postgresql_only
async def test_hubs_of_two_instances_hear_each_other(database_url: str):
    first, second = await open_hub(database_url), await open_hub(database_url)
    try:
        on_first, on_second = first.subscribe(1), second.subscribe(1)
        await first.publish(1, 1)
        await second.publish(1, 2)
        assert [await next_seq(on_first), await next_seq(on_first)] == [1, 2]
        assert [await next_seq(on_second), await next_seq(on_second)] == [1, 2]
    finally:
        await first.close()
        await second.close()


@postgresql_only
async def test_after_a_server_restart_the_hub_listens_again_and_subscribers_catch_up(
    database_url: str, postgres_server: PostgresServer,
):
    hub, other = await open_hub(database_url), await open_hub(database_url)
    try:
        one, two = hub.subscribe(1), hub.subscribe(2)
        await other.publish(1, 1)
        assert await next_seq(one) == 1 and not one.dropped
        await asyncio.to_thread(postgres_server.restart)
        # Whatever was published while it was away is lost, so every open subscription is told
        # to re-read the log: `dropped`, and woken with a ping.
        assert await next_seq(one, 15) == 0 and one.dropped
        assert await next_seq(two, 1) == 0 and two.dropped
        fresh = hub.subscribe(1)  # what a stream does on `dropped`: subscribe again
        await other.publish(1, 2)  # LISTENing again, and the other hub's pool reconnected too
        assert await next_seq(fresh) == 2
    finally:
        await hub.close()
        await other.close()
