"""Retention: a tenant with `retention_days` set keeps a closed case that many days after its
last change, then deletes it with its events, subscribers and deliveries. Tenants without the
option keep everything."""

from __future__ import annotations

import logging
from datetime import timedelta

from tracker.clock import Clock
from tracker.errors import ConfigError
from tracker.periodic import Periodic
from tracker.storage.base import Store, Tenant
from tracker.tenant_options import option_value

log = logging.getLogger("tracker.retention")

INTERVAL_SECONDS = 3600.0
OPTION = "retention_days"


class Retention(Periodic):
    # A second instance purging at the same moment finds nothing, but would hold the write lock.
    name = "tracker-retention"

    def __init__(self, store: Store, clock: Clock, interval_seconds: float = INTERVAL_SECONDS) -> None:
        super().__init__(interval_seconds)
        self.store = store
        self.clock = clock

    async def tick(self) -> None:
        purged = await self.run_once()
        if purged:
            log.info("retention: deleted %d closed case(s)", purged)

    async def run_once(self) -> int:
        """Delete every tenant's closed cases older than its retention_days; how many."""
        now = self.clock.now()
        purged = 0
        for tenant in await self.store.list_tenants():
            days = retention_days(tenant)
            if days is not None:
                purged += await self.store.purge_closed(tenant.slug, now - timedelta(days=days))
        return purged


def retention_days(tenant: Tenant) -> int | None:
    """The tenant's retention_days, or None: keep forever (also when the stored value does not
    read, which only an older release could have let through: better kept than deleted)."""
    if not tenant.options.get(OPTION):
        return None
    try:
        return int(option_value(tenant.options, OPTION))
    except ConfigError:
        log.warning("tenant %s: retention_days=%r does not read; its cases are kept", tenant.slug,
                    tenant.options[OPTION])
        return None
