"""tracker's own estimate of when a case moves on, when the helpdesk gives no time.

From the tenant's own history: how long comparable cases (same source, and the same priority
when both have one) stayed in the stage this case is in now. The answer is a range, from the
median to the 80th percentile, counted from when this case entered its stage, with the number
of cases behind it; with fewer than MIN_CASES behind it there is no estimate at all.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from datetime import datetime, timedelta
from typing import Any

from tracker.cases import OPEN_STAGES, Case
from tracker.storage.base import Store, StoredCase

MIN_CASES = 10
CACHE_SECONDS = 600.0  # histories change slowly; one scan per tenant and source per 10 minutes

# (stage, priority or None for every priority) -> seconds each case spent in that stage
Samples = dict[tuple[str, str | None], list[float]]


def stage_durations(case: Case) -> list[tuple[str, float]]:
    """(stage, seconds) for every stage this case entered and then left."""
    durations = []
    marks = [m for i, m in enumerate(case.stage_history) if i == 0 or m.stage != case.stage_history[i - 1].stage]
    for current, following in zip(marks, marks[1:], strict=False):
        durations.append((current.stage, (following.at - current.at).total_seconds()))
    return durations


def collect(cases: list[Case]) -> Samples:
    samples: Samples = {}
    for case in cases:
        for stage, seconds in stage_durations(case):
            samples.setdefault((stage, None), []).append(seconds)
            if case.priority:
                samples.setdefault((stage, case.priority), []).append(seconds)
    return samples


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `fraction` of values at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def estimate_for(case: Case, samples: Samples, now: datetime) -> dict[str, Any] | None:
    if case.expected_by is not None or case.stage not in OPEN_STAGES:
        return None
    by_priority = samples.get((case.stage, case.priority), []) if case.priority else []
    durations = by_priority if len(by_priority) >= MIN_CASES else samples.get((case.stage, None), [])
    if len(durations) < MIN_CASES:
        return None
    entered = max((m.at for m in case.stage_history if m.stage == case.stage), default=case.created_at)
    if entered is None:
        return None
    low = entered + timedelta(seconds=statistics.median(durations))
    high = entered + timedelta(seconds=percentile(durations, 0.8))
    return {"low": low.isoformat(), "high": high.isoformat(), "cases": len(durations),
            "basis": "priority" if durations is by_priority else "source", "overdue": now > high}


class Estimator:
    """Estimates from each tenant's and source's samples, scanned at most once per CACHE_SECONDS:
    streams opening together (a page of cards, a reconnect storm) share one scan in flight."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[tuple[str, str], tuple[float, Samples]] = {}
        self._scans: dict[tuple[str, str], asyncio.Future[Samples]] = {}

    async def estimate(self, stored: StoredCase, now: datetime) -> dict[str, Any] | None:
        if stored.case.expected_by is not None or stored.case.stage not in OPEN_STAGES:
            return None  # no scan for a case that needs none
        return estimate_for(stored.case, await self._samples(stored.tenant, stored.source), now)

    async def _samples(self, tenant: str, source: str) -> Samples:
        key = (tenant, source)
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        scan = self._scans.get(key)
        if scan is None:
            scan = self._scans[key] = asyncio.ensure_future(self._scan(tenant, source))
            scan.add_done_callback(lambda _: self._scans.pop(key, None))
        return await asyncio.shield(scan)  # one caller going away does not cancel the others' scan

    async def _scan(self, tenant: str, source: str) -> Samples:
        cases = [c.case for c in await self.store.list_cases(tenant) if c.source == source]
        samples = collect(cases)
        self._cache[(tenant, source)] = (time.monotonic(), samples)
        return samples
