"""Gone quiet: a case with no public update for longer than the company promised reminds the
team through the company's webhook, and tells the customers who asked to be kept updated, once
per promise period of silence. The same sweep judges the team's nudges (tracker/nudges.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from tracker.clock import Clock
from tracker.notifier import GONE_QUIET
from tracker.nudges import Nudger, due, settings_of
from tracker.outbound import Deliverer, queue_webhook
from tracker.periodic import Periodic
from tracker.policy import Policy, policy_of, quiet
from tracker.storage.base import SourceConfig, Store, StoredCase, Tenant

log = logging.getLogger("tracker.quiet")

QUIET_EVENT = "case.quiet"  # the company's webhook
QUIET_MAIL = GONE_QUIET  # the mail to the case's subscribers
CHECK_SECONDS = 300.0


class QuietWatch(Periodic):
    # Instances that check at the same moment would remind twice: the random start spreads them
    # out, and `tell_once` lets only the first to ask remind of a case, kind and period.
    name = "tracker-quiet-watch"

    def __init__(self, store: Store, deliverer: Deliverer, clock: Clock, check_seconds: float = CHECK_SECONDS,
                 nudger: Nudger | None = None) -> None:
        super().__init__(check_seconds)
        self.store = store
        self.clock = clock
        self.deliverer = deliverer
        self.nudger = nudger  # the same sweep judges the team's nudges

    async def tick(self) -> None:
        await self.check()

    async def check(self) -> int:
        """Queue a reminder for every case that has gone quiet since its last one (and a mail to
        each of its subscribers), and the nudges due; returns how many cases were reminded."""
        now = self.clock.now()
        queued = nudged = 0
        for tenant in await self.store.list_tenants():
            policy, settings = policy_of(tenant.options), settings_of(tenant.options)
            nudging = await self._nudging(tenant)
            for stored in await self.store.list_cases(tenant.slug):
                if await self._remind(tenant, policy, stored, now):
                    queued += 1
                if self.nudger is not None and stored.source in nudging:
                    nudged += await self.nudger.tell(tenant, nudging[stored.source], stored,
                                                     due(stored.case, settings, now))
        if queued or nudged:
            self.deliverer.wake()
        return queued

    async def _nudging(self, tenant: Tenant) -> dict[str, SourceConfig]:
        """The tenant's sources whose nudges reach the team, with their settings."""
        if self.nudger is None:
            return {}
        found: dict[str, SourceConfig] = {}
        for source in await self.store.list_sources(tenant.slug):
            config = await self.store.get_source(tenant.slug, source)
            if config is not None and self.nudger.reachable(tenant, config):
                found[source] = config
        return found

    async def _remind(self, tenant: Tenant, policy: Policy, stored: StoredCase, now: datetime) -> bool:
        silence = quiet(stored.case, policy, now)
        if silence is None:
            return False
        subscribers = await self.store.confirmed_subscribers(stored.key)
        if not policy.reminds and not subscribers:
            return False  # nobody to tell
        # Once per promise period of this silence, by whichever instance asks first.
        since = datetime.fromisoformat(silence["since"])
        periods = int((now - since) / timedelta(hours=policy.promise_hours))
        if not await self.store.tell_once(stored.key, QUIET_EVENT, f"{silence['since']}/{periods}"):
            return False
        if policy.reminds:
            data = {"source": stored.source, "case_id": stored.case.case_id, "title": stored.case.title,
                    "silent_since": silence["since"], "promise_hours": policy.promise_hours}
            await queue_webhook(self.store, tenant, QUIET_EVENT, stored.key, data, now)
        for subscriber in subscribers:
            await self.store.add_delivery(tenant.slug, "mail", QUIET_MAIL, stored.key, {"subscriber": subscriber.id})
        return True
