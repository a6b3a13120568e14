"""The one place that reads the wall clock.

Everything that needs the date or time (the customer's stage after `confirm_days`, gone quiet,
estimates, "in 2 days", token expiry, retries, stamps written to the database) asks a `Clock`.
The app builds one from `TRACKER_CLOCK_OFFSET_DAYS`; tests build their own and move it. Elapsed
time (how long a lock was waited for, a rate-limit window) is not the calendar and is measured
with `time.monotonic`, which no offset touches.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class Clock:
    """The wall clock shifted by `offset` (zero in production)."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    @classmethod
    def shifted_days(cls, days: float) -> Clock:
        return cls(timedelta(days=days))

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC) + self.offset

    def timestamp(self) -> float:
        """The current time as Unix seconds."""
        return time.time() + self.offset.total_seconds()

    def advance(self, delta: timedelta) -> None:
        """Move the clock (tests: "eight days later")."""
        self.offset += delta
