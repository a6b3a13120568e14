"""Gone quiet: a case with no public update for longer than the company promised reminds the
team through the company's webhook, and tells the customers who asked to be kept updated, once
per promise period of silence."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import datetime, timedelta

from tracker.clock import Clock
from tracker.notifier import GONE_QUIET
from tracker.outbound import Deliverer, queue_webhook
from tracker.policy import policy_of, quiet
from tracker.storage.base import Store

log = logging.getLogger("tracker.quiet")

QUIET_EVENT = "case.quiet"  # the company's webhook
QUIET_MAIL = GONE_QUIET  # the mail to the case's subscribers
CHECK_SECONDS = 300.0


class QuietWatch:
    def __init__(self, store: Store, deliverer: Deliverer, clock: Clock, check_seconds: float = CHECK_SECONDS) -> None:
        self.store = store
        self.clock = clock
        self.deliverer = deliverer
        self.check_seconds = check_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tracker-quiet-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        # Instances started together would check at the same moment and remind twice; a random
        # start spreads them out (they also skip a case reminded since its silence began).
        await asyncio.sleep(random.uniform(0, self.check_seconds))
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("could not check for quiet cases")
            await asyncio.sleep(self.check_seconds)

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
                period_start = max(datetime.fromisoformat(silence["since"]),
                                   now - timedelta(hours=policy.promise_hours))
                if await self._told(tenant.slug, stored.key, period_start):
                    continue  # already told for this stretch of silence
                subscribers = await self.store.confirmed_subscribers(stored.key)
                if not policy.reminds and not subscribers:
                    continue  # nobody to tell
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

    async def _told(self, tenant: str, case_key: int, since: datetime) -> bool:
        for event_type in (QUIET_EVENT, QUIET_MAIL):
            last = await self.store.last_delivery_at(tenant, event_type, case_key)
            if last is not None and last > since:
                return True
        return False
