"""At most one thing per key in a while, in this process: receipts of refused webhooks (a flood
of refusals is not a flood of database writes)."""

from __future__ import annotations

import time

RECEIPT_EVERY_SECONDS = 1.0  # per tenant, source, outcome and status


class Throttle:
    """At most one thing per key every `seconds` (in this process); forgets keys as it goes."""

    def __init__(self, seconds: float = RECEIPT_EVERY_SECONDS, max_keys: int = 10_000) -> None:
        self.seconds = seconds
        self.max_keys = max_keys
        self._last: dict[tuple[object, ...], float] = {}

    def allows(self, key: tuple[object, ...]) -> bool:
        now = time.monotonic()
        if now - self._last.get(key, -self.seconds) < self.seconds:
            return False
        if len(self._last) >= self.max_keys:
            self._last.clear()
        self._last[key] = now
        return True
