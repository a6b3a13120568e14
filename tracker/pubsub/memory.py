"""In-process hub: subscribers indexed by case, so a publish touches only that case's queues."""

from __future__ import annotations

from tracker.pubsub.base import Subscription


class MemoryHub:
    def __init__(self) -> None:
        self._by_case: dict[int, set[Subscription]] = {}

    def subscribe(self, case_key: int) -> Subscription:
        subscription = Subscription(case_key)
        self._by_case.setdefault(case_key, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._by_case.get(subscription.case_key)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._by_case[subscription.case_key]

    async def publish(self, case_key: int, seq: int) -> None:
        self.deliver(case_key, seq)

    def deliver(self, case_key: int, seq: int) -> None:
        """Offer `seq` to this process's subscribers of the case (other hubs fan out through this)."""
        for subscription in list(self._by_case.get(case_key, ())):
            if not subscription.offer(seq):
                self.unsubscribe(subscription)

    def ready(self) -> bool:
        return True  # one process: nothing to reach

    def catch_up_all(self) -> None:
        for subscribers in list(self._by_case.values()):
            for subscription in list(subscribers):
                subscription.catch_up()

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._by_case.values())

    async def close(self) -> None:
        self._by_case.clear()
