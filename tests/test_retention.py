"""Retention, on both backends: a tenant's `retention_days` deletes its closed cases that long
after their last change, with their events, subscribers and deliveries; open cases, newer
closed ones and the cases of tenants without the option stay."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.conftest import BACKENDS
from tracker.admin import add_tenant
from tracker.cases import Event
from tracker.clock import Clock
from tracker.errors import ConfigError
from tracker.retention import Retention
from tracker.storage.base import Store
from tracker.tenant_options import check_tenant_options

both_backends = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)


class Cases:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store, self.clock, self.count = store, clock, 0
        self.subscribers: dict[int, int] = {}  # by case key

    async def add(self, tenant: str, case_id: str, stage: str) -> int:
        """A case of the tenant now, at `stage`, with a subscriber and a delivery; its key."""
        self.count += 1
        [appended] = await self.store.ingest(tenant, "generic", [
            Event(case_id, f"d{self.count}", self.clock.now(), {"stage": stage, "title": f"Case {case_id}"})])
        address = f"c{self.count}@example.com"
        subscriber = await self.store.add_subscriber(tenant, appended.case_key, "customer", address, "en")
        self.subscribers[appended.case_key] = subscriber.id
        await self.store.add_delivery(tenant, "webhook", "case.quiet", appended.case_key, {"case": case_id})
        return appended.case_key

    async def kept(self, key: int) -> bool:
        return await self.store.get_case_by_key(key) is not None


@both_backends
async def test_closed_cases_older_than_the_option_go_with_what_refers_to_them(store: Store, clock: Clock):
    await add_tenant(store, "acme", "ACME", None, {"retention_days": "30"})
    await add_tenant(store, "globex", "Globex", None)
    cases = Cases(store, clock)
    old_closed = await cases.add("acme", "1", "closed")
    old_open = await cases.add("acme", "2", "in_progress")
    old_resolved = await cases.add("acme", "3", "resolved")  # the customer may still answer
    elsewhere = await cases.add("globex", "1", "closed")  # no retention_days: kept forever
    clock.advance(timedelta(days=20))
    new_closed = await cases.add("acme", "4", "closed")
    clock.advance(timedelta(days=11))  # the old ones are 31 days old, the new one 11
    retention = Retention(store, clock)

    assert await retention.run_once() == 1

    assert not await cases.kept(old_closed)
    assert await store.events_after(old_closed, 0) == []
    assert await store.get_subscriber(cases.subscribers[old_closed]) is None
    assert [d.case_key for d in await store.list_deliveries("acme")].count(old_closed) == 0
    for key in (old_open, old_resolved, new_closed, elsewhere):
        assert await cases.kept(key)
        assert len(await store.events_after(key, 0)) == 1
        assert await store.get_subscriber(cases.subscribers[key]) is not None
    assert len(await store.list_deliveries("acme")) == 3
    assert len(await store.list_deliveries("globex")) == 1
    assert await retention.run_once() == 0

    clock.advance(timedelta(days=20))  # the newer one's time has come too; still nobody else's
    assert await retention.run_once() == 1
    assert not await cases.kept(new_closed)
    assert all([await cases.kept(key) for key in (old_open, old_resolved, elsewhere)])


@both_backends
async def test_a_purged_case_starts_anew_when_its_helpdesk_writes_again(store: Store, clock: Clock):
    await add_tenant(store, "acme", "ACME", None, {"retention_days": "1"})
    cases = Cases(store, clock)
    await cases.add("acme", "1", "closed")
    clock.advance(timedelta(days=2))
    assert await Retention(store, clock).run_once() == 1
    await cases.add("acme", "1", "in_progress")
    stored = await store.get_case("acme", "generic", "1")
    assert stored is not None and (stored.seq, stored.case.stage, stored.case.title) == (1, "in_progress", "Case 1")


@both_backends
async def test_the_background_task_purges_and_stops(store: Store, clock: Clock):
    await add_tenant(store, "acme", "ACME", None, {"retention_days": "1"})
    key = await Cases(store, clock).add("acme", "1", "closed")
    clock.advance(timedelta(days=2))
    retention = Retention(store, clock, interval_seconds=0.01)
    retention.start()
    try:
        for _ in range(500):
            if await store.get_case_by_key(key) is None:
                break
            await asyncio.sleep(0.01)
        assert await store.get_case_by_key(key) is None
    finally:
        await retention.stop()


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "thirty", "36501"])
def test_retention_days_is_a_whole_number_of_days(raw: str):
    with pytest.raises(ConfigError, match="retention_days"):
        check_tenant_options({"retention_days": raw})
    check_tenant_options({"retention_days": "30"})
    check_tenant_options({"retention_days": ""})  # removes it: kept forever
