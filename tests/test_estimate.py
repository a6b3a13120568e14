"""tracker's estimate, on generated histories whose answer is known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tracker.cases import Case, Event, apply_all, new_case
from tracker.estimate import MIN_CASES, collect, estimate_for, percentile

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
