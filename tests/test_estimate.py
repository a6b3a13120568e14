"""tracker's estimate, on generated histories whose answer is known."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tracker.admin import add_tenant
from tracker.cases import Case, Event, apply_all, new_case
from tracker.clock import Clock
from tracker.estimate import MIN_CASES, Estimator, collect, estimate_for, percentile
from tracker.storage.base import Store

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def history(case_id: str, hours_in_progress: float | None, priority: str | None = None) -> Case:
    """A case received at T0, in progress an hour later, resolved `hours_in_progress` after that."""
    events = [Event(case_id, f"{case_id}-a", T0, {"stage": "received", **({"priority": priority} if priority else {})}),
              Event(case_id, f"{case_id}-b", T0 + timedelta(hours=1), {"stage": "in_progress"})]
    if hours_in_progress is not None:
        events.append(Event(case_id, f"{case_id}-c", T0 + timedelta(hours=1 + hours_in_progress),
                            {"stage": "resolved"}))
    return apply_all(new_case(case_id), events)


def test_the_range_is_the_median_to_the_80th_percentile_of_comparable_cases():
    past = [history(f"p{n}", n) for n in range(1, 21)]  # 1..20 hours in progress
    samples = collect(past)
    current = history("now", None)
    now = T0 + timedelta(hours=2)
    estimate = estimate_for(current, samples, now)
    entered = T0 + timedelta(hours=1)
    assert estimate == {"low": (entered + timedelta(hours=10.5)).isoformat(),
                        "high": (entered + timedelta(hours=16)).isoformat(), "cases": 20, "basis": "source",
                        "overdue": False}
    received = estimate_for(Case(case_id="x", stage="received", created_at=T0), samples, now)
    assert received is not None and received["cases"] == 20  # every case spent 1 h in "received"
    assert received["low"] == received["high"] == (T0 + timedelta(hours=1)).isoformat()


def test_no_estimate_with_fewer_than_ten_cases_behind_it():
    samples = collect([history(f"p{n}", n) for n in range(1, MIN_CASES)])  # nine resolved cases
    assert estimate_for(history("now", None), samples, T0) is None
    samples = collect([history(f"p{n}", n) for n in range(1, MIN_CASES + 1)])
    assert estimate_for(history("now", None), samples, T0) is not None


def test_same_priority_is_preferred_when_enough_cases_have_it():
    urgent = [history(f"u{n}", 1, "urgent") for n in range(MIN_CASES)]
    normal = [history(f"n{n}", 50, "normal") for n in range(MIN_CASES)]
    samples = collect(urgent + normal)
    estimate = estimate_for(history("now", None, "urgent"), samples, T0)
    assert estimate is not None and estimate["basis"] == "priority" and estimate["cases"] == MIN_CASES
    assert estimate["high"] == (T0 + timedelta(hours=2)).isoformat()
    unknown = estimate_for(history("other", None, "low"), samples, T0)
    assert unknown is not None and unknown["basis"] == "source" and unknown["cases"] == 2 * MIN_CASES


def test_a_time_from_the_helpdesk_or_a_closed_case_needs_no_estimate():
    samples = collect([history(f"p{n}", n) for n in range(1, 21)])
    promised = apply_all(history("now", None), [Event("now", "e", T0, {"expected_by": T0 + timedelta(days=1)})])
    assert estimate_for(promised, samples, T0) is None
    assert estimate_for(history("done", 3), samples, T0) is None


def test_an_overdue_case_is_said_to_take_longer_than_usual():
    samples = collect([history(f"p{n}", 2) for n in range(MIN_CASES)])
    late = estimate_for(history("now", None), samples, T0 + timedelta(days=2))
    assert late is not None and late["overdue"] is True


def test_percentile_is_nearest_rank():
    assert percentile([5, 1, 4, 2, 3], 0.8) == 4
    assert percentile([1.0], 0.8) == 1.0


async def test_streams_opening_together_share_one_scan_of_the_history(store: Store, clock: Clock):
    """A page of cards or a reconnect storm asks for many estimates at once: one scan serves them."""
    await add_tenant(store, "acme", "ACME", "default")
    start = clock.now() - timedelta(days=30)
    events = [Event(str(n), f"{n}-{stage}", start + timedelta(hours=hours), {"stage": stage})
              for n in range(MIN_CASES + 2) for stage, hours in (("in_progress", 0), ("resolved", 5 + n))]
    events.append(Event("open", "open-1", clock.now() - timedelta(hours=1), {"stage": "in_progress"}))
    await store.ingest("acme", "generic", events)
    scans = 0
    list_cases = store.list_cases

    async def counted(tenant: str) -> Any:
        nonlocal scans
        scans += 1
        return await list_cases(tenant)

    store.list_cases = counted  # type: ignore[method-assign]
    open_case = await store.get_case("acme", "generic", "open")
    assert open_case is not None
    estimator = Estimator(store)
    answers = await asyncio.gather(*(estimator.estimate(open_case, clock.now()) for _ in range(50)))
    assert scans == 1
    assert answers[0] is not None and answers[0]["cases"] == MIN_CASES + 2 and all(a == answers[0] for a in answers)
    await estimator.estimate(open_case, clock.now())
    assert scans == 1  # and it is kept
