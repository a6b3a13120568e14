"""The suite's clock: the dates of every test derive from it, and TRACKER_CLOCK_OFFSET_DAYS=400
shifts it together with the servers (which inherit the variable) and the browser, so the whole
suite rehearses a year ahead."""

from __future__ import annotations

import os

from tracker.clock import Clock

CLOCK_OFFSET_DAYS = float(os.environ.get("TRACKER_CLOCK_OFFSET_DAYS", "0"))


def suite_clock() -> Clock:
    """A fresh clock for a test: the wall clock shifted like the servers the suite starts."""
    return Clock.shifted_days(CLOCK_OFFSET_DAYS)
