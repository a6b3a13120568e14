"""Outbound deliveries against a real receiver that fails, times out and recovers."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from starlette.datastructures import Headers

from tests.conftest import BACKENDS, suite_clock
from tests.receiver import receiver
from tracker.admin import add_tenant
from tracker.helpdesks import generic
from tracker.outbound import Deliverer, queue_webhook, redeliver
from tracker.storage.base import Store

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
FAST = (0.0, 0.0, 0.0)  # no waiting between attempts in tests


async def due_now(store: Store) -> None:
    """Make every pending delivery due (the backoff is tested on its own)."""
    for delivery in await store.list_deliveries("acme", 100):
        if delivery.status == "pending":
            await store.finish_delivery(delivery.id, "pending", delivery.attempts, suite_clock().now() -
                                        timedelta(seconds=1), delivery.last_error)


async def test_a_webhook_is_retried_through_errors_and_timeouts_until_it_lands(store: Store):
    with receiver(500, "hang", 200) as hook:
        tenant = await add_tenant(store, "acme", "ACME", None, {"webhook_url": hook.url + "/tracker"})
        delivery_id = await queue_webhook(store, tenant, "case.quiet", 7, {"case_id": "4711"}, suite_clock().now())
        deliverer = Deliverer(store, suite_clock(), backoff_seconds=FAST, timeout_seconds=0.5,
                              allow_private_hosts=True)
        try:
            for _ in range(3):
                assert await deliverer.run_once() == 1
                await due_now(store)
            assert await deliverer.run_once() == 0  # delivered: nothing left
        finally:
            await deliverer.stop()
    assert delivery_id is not None
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and delivery.status == "delivered" and delivery.attempts == 3
    assert len(hook.requests) == 3
    ids = {r.headers["webhook-id"] for r in hook.requests}
    assert len(ids) == 1  # the same id on every attempt: the receiver can dedupe
    secret = tenant.options["webhook_secret"]
    for request in hook.requests:  # each attempt signed afresh, and verifiable with the tenant's secret
        generic.verify(Headers(request.headers), request.body, secret, suite_clock().now())
    body = json.loads(hook.requests[-1].body)
    assert body["type"] == "case.quiet" and body["data"] == {"case_id": "4711"}


async def test_a_delivery_gives_up_after_the_last_backoff_and_can_be_redelivered(store: Store):
    with receiver(503, 503, 503, 503, 200) as hook:
        tenant = await add_tenant(store, "acme", "ACME", None, {"webhook_url": hook.url})
        delivery_id = await queue_webhook(store, tenant, "case.customer_verdict", None, {"verdict": "solved"},
                                          suite_clock().now())
        assert delivery_id is not None
        deliverer = Deliverer(store, suite_clock(), backoff_seconds=FAST, timeout_seconds=0.5,
                              allow_private_hosts=True)
        try:
            for _ in range(4):
                await deliverer.run_once()
                await due_now(store)
            failed = await store.get_delivery(delivery_id)
            assert failed is not None and failed.status == "failed" and failed.attempts == 4
            assert failed.last_error is not None and failed.last_error.startswith("HTTP 503")
            await redeliver(store, failed, suite_clock().now())
            assert await deliverer.run_once() == 1
        finally:
            await deliverer.stop()
        done = await store.get_delivery(delivery_id)
        assert done is not None and done.status == "delivered" and len(hook.requests) == 5


async def test_backoff_spaces_the_attempts(store: Store):
    with receiver(500) as hook:
        tenant = await add_tenant(store, "acme", "ACME", None, {"webhook_url": hook.url})
        delivery_id = await queue_webhook(store, tenant, "case.quiet", 1, {}, suite_clock().now())
        deliverer = Deliverer(store, suite_clock(), backoff_seconds=(60.0,), timeout_seconds=0.5,
                              allow_private_hosts=True)
        try:
            before = suite_clock().now()
            assert await deliverer.run_once() == 1
            assert await deliverer.run_once() == 0  # not due again for a minute
        finally:
            await deliverer.stop()
    assert delivery_id is not None
    pending = await store.get_delivery(delivery_id)
    assert pending is not None and pending.status == "pending"
    assert timedelta(seconds=59) < pending.next_attempt_at - before < timedelta(seconds=62)


async def test_no_webhook_url_queues_nothing(store: Store):
    tenant = await add_tenant(store, "acme", "ACME")
    assert await queue_webhook(store, tenant, "case.quiet", 1, {}, suite_clock().now()) is None
    assert await store.list_deliveries("acme") == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "169.254.169.254", "10.1.2.3", "[::1]",
                                  "[::ffff:127.0.0.1]"])
async def test_a_webhook_to_a_private_address_is_refused_at_send_time(store: Store, host: str):
    with receiver(200) as hook:
        port = hook.url.rsplit(":", 1)[1]
        tenant = await add_tenant(store, "acme", "ACME", None, {"webhook_url": f"http://{host}:{port}/tracker"})
        delivery_id = await queue_webhook(store, tenant, "case.quiet", 7, {"case_id": "4711"}, suite_clock().now())
        deliverer = Deliverer(store, suite_clock(), backoff_seconds=FAST, timeout_seconds=0.5)
        try:
            assert await deliverer.run_once() == 1
        finally:
            await deliverer.stop()
        assert hook.requests == []  # nothing sent, so no answer to keep
    assert delivery_id is not None
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and delivery.status == "pending"
    assert delivery.last_error is not None and delivery.last_error.startswith("refused:")
    assert "TRACKER_ALLOW_PRIVATE_HOSTS=yes" in delivery.last_error
