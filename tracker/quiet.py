"""Gone quiet: a case with no public update for longer than the company promised reminds the
team through the company's webhook, and tells the customers who asked to be kept updated, once
per promise period of silence."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from tracker.clock import Clock
from tracker.notifier import GONE_QUIET
from tracker.outbound import Deliverer, queue_webhook
from tracker.periodic import Periodic
from tracker.policy import policy_of, quiet
from tracker.storage.base import Store

log = logging.getLogger("tracker.quiet")

QUIET_EVENT = "case.quiet"  # the company's webhook
QUIET_MAIL = GONE_QUIET  # the mail to the case's subscribers
CHECK_SECONDS = 300.0


class QuietWatch(Periodic):
    # Instances that check at the same moment would remind twice: the random start spreads them
    # out, and each skips a case reminded since its silence began.
    name = "tracker-quiet-watch"

    def __init__(self, store: Store, deliverer: Deliverer, clock: Clock, check_seconds: float = CHECK_SECONDS) -> None:
        super().__init__(check_seconds)
        self.store = store
        self.clock = clock
        self.deliverer = deliverer

    async def tick(self) -> None:
        await self.check()

    async def check(self) -> int:
        """Queue a reminder for every case that has gone quiet since its last one (and a mail to
        each of its subscribers); returns how many cases."""
        now = self.clock.now()
        queued = 0
        for tenant in await self.store.list_tenants():
            policy = policy_of(tenant.options)
            for stored in await self.store.list_cases(tenant.slug):
                silence = quiet(stored.case, policy, now)
                if silence is None:
                    continue
                subscribers = await self.store.confirmed_subscribers(stored.key)
                if not policy.reminds and not subscribers:
                    continue  # nobody to tell
                # Once per promise period of this silence, by whichever instance asks first.
                since = datetime.fromisoformat(silence["since"])
                periods = int((now - since) / timedelta(hours=policy.promise_hours))
                if not await self.store.tell_once(stored.key, QUIET_EVENT, f"{silence['since']}/{periods}"):
                    continue
                if policy.reminds:
                    data = {"source": stored.source, "case_id": stored.case.case_id, "title": stored.case.title,
                            "silent_since": silence["since"], "promise_hours": policy.promise_hours}
                    await queue_webhook(self.store, tenant, QUIET_EVENT, stored.key, data, now)
                for subscriber in subscribers:
                    await self.store.add_delivery(tenant.slug, "mail", QUIET_MAIL, stored.key,
                                                  {"subscriber": subscriber.id})
                queued += 1
        if queued:
            self.deliverer.wake()
        return queued
