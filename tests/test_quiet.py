"""Gone quiet: the company's webhook is called once per stretch of silence, never for a case
that is still within its promise or resolved."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.conftest import BACKENDS, suite_clock
from tests.receiver import receiver
from tracker.admin import add_tenant
from tracker.cases import Event, Update
from tracker.clock import Clock
from tracker.outbound import Deliverer
from tracker.quiet import QuietWatch
from tracker.storage.base import SourceConfig, Store

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
NOW = suite_clock().now()


def replied(case_id: str, hours_ago: float, stage: str = "in_progress") -> Event:
    at = NOW - timedelta(hours=hours_ago)
    return Event(case_id, f"{case_id}-{hours_ago}", at, {"stage": stage, "title": f"Case {case_id}"},
                 update=Update(f"u-{case_id}", at, "We are on it"))


async def test_quiet_cases_remind_the_team_once_per_silence(store: Store, clock: Clock):
    with receiver() as hook:
        await add_tenant(store, "acme", "ACME", None, {"webhook_url": hook.url, "promise_hours": "24"})
        await store.add_source(SourceConfig("acme", "generic", "whsec_x"))
        await store.ingest("acme", "generic", [replied("quiet", 30), replied("fresh", 2),
                                               replied("done", 50, "resolved")])
        deliverer = Deliverer(store, clock, timeout_seconds=1, allow_private_hosts=True)
        watch = QuietWatch(store, deliverer, clock)
        try:
            assert await watch.check() == 1
            clock.advance(timedelta(hours=1))
            assert await watch.check() == 0  # reminded already
            # A day later: another day of silence for one, and the other has now gone quiet too.
            clock.advance(timedelta(hours=24))
            assert await watch.check() == 2
            await deliverer.run_once()
        finally:
            await deliverer.stop()
    bodies = [json.loads(r.body) for r in hook.requests]
    assert [b["type"] for b in bodies] == ["case.quiet"] * 3
    assert sorted(b["data"]["case_id"] for b in bodies) == ["fresh", "quiet", "quiet"]
    assert bodies[0]["data"]["promise_hours"] == 24.0


async def test_no_webhook_no_reminder(store: Store):
    await add_tenant(store, "acme", "ACME")
    await store.add_source(SourceConfig("acme", "generic", "whsec_x"))
    await store.ingest("acme", "generic", [replied("quiet", 30)])
    deliverer = Deliverer(store, suite_clock(), allow_private_hosts=True)
    try:
        assert await QuietWatch(store, deliverer, suite_clock()).check() == 0
    finally:
        await deliverer.stop()


async def test_instances_sweeping_together_remind_once(store: Store, clock: Clock, database_url: str):
    """Two instances (two stores on one database) check at the same moment: one reminder."""
    import asyncio

    from tracker.storage import open_store

    with receiver() as hook:
        await add_tenant(store, "acme", "ACME", None, {"webhook_url": hook.url, "promise_hours": "24"})
        await store.ingest("acme", "generic", [replied("quiet", 30)])
        other = await open_store(database_url, clock)
        deliverers = [Deliverer(s, clock, allow_private_hosts=True) for s in (store, other)]
        try:
            counts = await asyncio.gather(*(QuietWatch(s, d, clock).check() for s, d in zip((store, other), deliverers,
                                                                                             strict=True)))
            assert sorted(counts) == [0, 1]
            quiet = [d for d in await store.list_deliveries("acme", 50) if d.event_type == "case.quiet"]
            assert len(quiet) == 1
        finally:
            for deliverer in deliverers:
                await deliverer.stop()
            await other.close()
