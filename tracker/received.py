"""The latest inbound deliveries of a tenant and their outcomes, for `tracker received` and the
admin API: the events stored, and the receipts of deliveries that stored nothing (why)."""

from __future__ import annotations

from tracker.storage.base import Receipt, Store


async def latest_received(store: Store, tenant: str, source: str | None, limit: int) -> list[Receipt]:
    """Stored events and the deliveries that stored nothing, merged, newest first."""
    found = [*await store.receipts(tenant, source, limit), *await store.stored_receipts(tenant, source, limit)]
    return sorted(found, key=lambda r: r.received_at, reverse=True)[:limit]
