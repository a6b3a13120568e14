"""The Store protocol, on every backend: what every caller relies on, whatever the URL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import BACKENDS, suite_clock
from tracker.cases import LOG_UPDATES, Event, Update
from tracker.storage import open_store
from tracker.storage.base import Appended, SourceConfig, Store, Tenant

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)


def event(n: int, case_id: str = "1", **changes: object) -> Event:
    return Event(case_id=case_id, delivery_id=f"d{n}", occurred_at=T0, changes=changes)


async def acme(store: Store) -> None:
    await store.add_tenant(Tenant("acme", "ACME"))
    await store.add_source(SourceConfig("acme", "generic", "whsec_x", {"k": "v"}))


async def test_tenants_and_sources_round_trip_with_their_options(store: Store):
    await acme(store)
    await store.add_tenant(Tenant("acme", "ACME Inc", "dark", {"embed_origins": "https://a.example"}))
    assert await store.get_tenant("acme") == Tenant("acme", "ACME Inc", "dark", {"embed_origins": "https://a.example"})
    assert await store.get_tenant("nobody") is None
    await store.add_tenant(Tenant("beta", "Beta"))
    assert [t.slug for t in await store.list_tenants()] == ["acme", "beta"]
    assert await store.get_source("acme", "generic") == SourceConfig("acme", "generic", "whsec_x", {"k": "v"})
    assert await store.list_sources("acme") == ["generic"]
    await store.set_meta("k", "1")
    await store.set_meta("k", "2")
    assert await store.get_meta("k") == "2"


async def test_ingest_dedupes_and_numbers_events_per_case(store: Store):
    await acme(store)
    first = await store.ingest("acme", "generic", [event(1, title="A"), event(2, "2"), event(1)])
    again = await store.ingest("acme", "generic", [event(1), event(3, stage="in_progress")])
    assert [a.seq for a in first] == [1, 1] and [a.seq for a in again] == [2]
    stored = await store.get_case("acme", "generic", "1")
    assert stored is not None and stored.seq == 2 and stored.case.title == "A" and stored.case.stage == "in_progress"
    log = await store.events_after(stored.key, 0)
    assert [e.seq for e in log] == [1, 2] and log[1].case_after.stage == "in_progress"
    assert await store.events_after(stored.key, 1, limit=5) == log[1:]
    head = await store.get_case_head("acme", "generic", "1")
    assert head is not None and (head.key, head.seq, head.link_version) == (stored.key, 2, 1)
    assert [c.case.case_id for c in await store.list_cases("acme")] == ["1", "2"]
    assert [c.source for c in await store.find_cases("acme", "2")] == ["generic"]


async def test_concurrent_deliveries_are_each_stored_once(store: Store):
    await acme(store)
    results = await asyncio.gather(*(store.ingest("acme", "generic", [event(n % 20)]) for n in range(60)))
    assert sum(len(r) for r in results) == 20
    stored = await store.get_case("acme", "generic", "1")
    assert stored is not None and stored.seq == 20


async def test_link_versions_and_public_ids(store: Store):
    await acme(store)
    await store.ingest("acme", "generic", [event(1)])
    stored = await store.get_case("acme", "generic", "1")
    assert stored is not None and stored.public_id is None
    assert await store.bump_link_version(stored.key) == 2
    await store.set_public(stored.key, "pub-1", "My printer")
    public = await store.get_public_case("pub-1")
    assert public is not None and public.key == stored.key and public.public_title == "My printer"
    assert public.link_version == 2
    await store.set_public(stored.key, None, None)
    assert await store.get_public_case("pub-1") is None
    with pytest.raises(LookupError):
        await store.set_public(10_000, "pub-2", None)


async def test_bad_delivery_fails_alone_and_duplicates_within_one_call_are_stored_once(store: Store):
    await acme(store)
    results = await asyncio.gather(
        *(store.ingest("acme", "generic", [event(n)]) for n in range(5)),
        store.ingest("acme", "generic", [event(99, title=object())]),  # cannot be written as JSON
        store.ingest("acme", "generic", [event(7), event(7)]),
        return_exceptions=True,
    )
    assert [len(r) for r in results[:5]] == [1] * 5  # type: ignore[arg-type]
    assert isinstance(results[5], TypeError)
    assert results[6] == [Appended(results[0][0].case_key, 6)]  # type: ignore[index]
    stored = await store.get_case("acme", "generic", "1")
    assert stored is not None and stored.seq == 6
    assert [e.seq for e in await store.events_after(stored.key, 0)] == [1, 2, 3, 4, 5, 6]
    with pytest.raises(LookupError):
        await store.bump_link_version(10_000)


async def test_several_instances_ingest_the_same_cases_at_once(database_url: str):
    """Instances share one database: per-case sequences stay gapless, each delivery is stored once."""
    stores = [await open_store(database_url, suite_clock()) for _ in range(2)]
    try:
        await acme(stores[0])
        deliveries = [event(n, str(n % 3), progress=n) for n in range(90)]
        calls = [store.ingest("acme", "generic", [e]) for e in deliveries for store in stores]  # each one twice
        results = await asyncio.gather(*calls)
        assert sum(len(r) for r in results) == 90
        for case_id in "012":
            stored = await stores[1].get_case("acme", "generic", case_id)
            assert stored is not None and stored.seq == 30
            log = await stores[0].events_after(stored.key, 0)
            assert [e.seq for e in log] == list(range(1, 31))
            expected = sorted(f"d{n}" for n in range(90) if n % 3 == int(case_id))
            assert sorted(e.event.delivery_id for e in log) == expected
            assert log[-1].case_after == stored.case
    finally:
        for store in stores:
            await store.close()


async def test_reopening_keeps_everything(database_url: str):
    first = await open_store(database_url, suite_clock())
    await acme(first)
    await first.ingest("acme", "generic", [event(1, title="Kept")])
    await first.close()
    again = await open_store(database_url, suite_clock())
    try:
        stored = await again.get_case("acme", "generic", "1")
        assert stored is not None and stored.case.title == "Kept" and stored.seq == 1
        assert await again.get_source("acme", "generic") == SourceConfig("acme", "generic", "whsec_x", {"k": "v"})
    finally:
        await again.close()


async def test_deliveries_are_claimed_once_and_finished(store: Store):
    await acme(store)
    now = suite_clock().now()
    first = await store.add_delivery("acme", "webhook", "case.quiet", 7, {"method": "POST", "url": "http://x/"})
    second = await store.add_delivery("acme", "webhook", "case.customer_verdict", None, {"body": "{}"})
    claimed = await store.claim_deliveries(now + timedelta(seconds=1), lease_seconds=60, limit=10)
    assert [d.id for d in claimed] == [first, second]
    assert claimed[0].request == {"method": "POST", "url": "http://x/"} and claimed[0].status == "pending"
    assert await store.claim_deliveries(now + timedelta(seconds=2), lease_seconds=60, limit=10) == []  # leased
    retry_at = now + timedelta(seconds=30)
    await store.finish_delivery(first, "pending", 1, retry_at, "HTTP 500")
    await store.finish_delivery(second, "delivered", 1, now, None)
    assert [d.id for d in await store.claim_deliveries(retry_at, 60, 10)] == [first]
    got = await store.get_delivery(first)
    assert got is not None and got.attempts == 1 and got.last_error == "HTTP 500"
    assert [d.id for d in await store.list_deliveries("acme")] == [second, first]
    assert await store.get_delivery(10_000) is None
    last = await store.last_delivery_at("acme", "case.quiet", 7)
    assert last is not None and abs((last - now).total_seconds()) < 5
    assert await store.last_delivery_at("acme", "case.quiet", 8) is None


async def test_api_keys_are_found_by_hash_and_revoked_by_name(store: Store):
    await acme(store)
    key_id = await store.add_api_key("acme", "zapier", "hash-1")
    found = await store.find_api_key("hash-1")
    assert found is not None and found.id == key_id and found.tenant == "acme" and found.revoked_at is None
    assert await store.find_api_key("hash-2") is None
    assert await store.revoke_api_key("acme", "zapier", suite_clock().now())
    assert not await store.revoke_api_key("acme", "zapier", suite_clock().now())
    revoked = await store.find_api_key("hash-1")
    assert revoked is not None and revoked.revoked_at is not None
    assert [k.name for k in await store.list_api_keys("acme")] == ["zapier"]


async def test_a_delivery_id_stored_under_one_case_is_a_duplicate_for_any_other(store: Store):
    await acme(store)
    await store.ingest("acme", "generic", [event(1, "1", title="A")])
    assert await store.ingest("acme", "generic", [event(1, "2", title="B")]) == []
    assert await store.get_case("acme", "generic", "2") is None  # no empty case left behind
    assert [c.case.case_id for c in await store.list_cases("acme")] == ["1"]


async def test_the_log_keeps_only_the_newest_updates_of_the_case_after_each_event(store: Store):
    await acme(store)
    events = [Event("1", f"u{n}", T0 + timedelta(minutes=n), update=Update(f"m{n}", T0 + timedelta(minutes=n), "hi"))
              for n in range(LOG_UPDATES + 4)]
    await store.ingest("acme", "generic", events)
    stored = await store.get_case("acme", "generic", "1")
    assert stored is not None and len(stored.case.updates) == LOG_UPDATES + 4  # the case itself keeps them all
    log = await store.events_after(stored.key, 0)
    assert [len(e.case_after.updates) for e in log][-2:] == [LOG_UPDATES, LOG_UPDATES]
    assert log[-1].case_after.updates[-1].id == f"m{LOG_UPDATES + 3}"
