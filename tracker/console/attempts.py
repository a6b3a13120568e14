"""Sign-in attempts, limited per address tried and per client, whether the account exists or
not: a limited unknown address answers exactly as a limited known one. The window is read from
the app's clock (tests move it); each instance counts its own."""

from __future__ import annotations

from tracker.clock import Clock
from tracker.console.refusals import Refused
from tracker.web.lookup import RateLimiter

WINDOW_SECONDS = 15 * 60
ACCOUNT_ATTEMPTS = 10  # per address, in any window
CLIENT_ATTEMPTS = 30  # per client address, in any window


class SignInAttempts:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._by_account = RateLimiter(ACCOUNT_ATTEMPTS, window_seconds=WINDOW_SECONDS)
        self._by_client = RateLimiter(CLIENT_ATTEMPTS, window_seconds=WINDOW_SECONDS)

    def count(self, client: str, email: str) -> None:
        """Record an attempt; Refused (429) when one of the two has had its share."""
        now = self._clock.timestamp()
        wait = self._by_client.retry_after(client, now) or self._by_account.retry_after(email, now)
        if wait:
            raise Refused(429, "too_many", wait)
