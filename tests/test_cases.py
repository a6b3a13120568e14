"""apply(): ordering, duplicates, never backwards; property tests over shuffled streams."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.cases import (
    MAX_HISTORY_MARKS,
    STAGES,
    WAITING_ON,
    Event,
    ExpectedMark,
    NextStep,
    StageMark,
    Update,
    apply,
    apply_all,
    case_from_dict,
    case_to_dict,
    dump_case,
    dump_event,
    event_to_dict,
    load_case,
    load_event,
    new_case,
)

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def event(n: int, minutes: int, **changes: object) -> Event:
    return Event(case_id="1", delivery_id=f"d{n}", occurred_at=T0 + timedelta(minutes=minutes), changes=changes)


def test_fields_take_the_newest_value():
    case = apply_all(new_case("1"), [event(1, 0, stage="received", title="A"), event(2, 5, stage="in_progress")])
    assert (case.stage, case.title) == ("in_progress", "A")


def test_out_of_order_resolved_then_opened_stays_resolved():
    resolved = event(2, 10, stage="resolved")
    late_open = event(1, 0, stage="in_progress", waiting_on="customer")
    case = apply_all(new_case("1"), [resolved, late_open])
    assert case.stage == "resolved"
    assert case.waiting_on == "customer"  # a field the newer event did not set still applies


def test_reopen_needs_a_newer_event():
    case = apply_all(new_case("1"), [event(1, 0, stage="resolved"), event(2, 30, stage="in_progress")])
    assert case.stage == "in_progress"


def test_duplicate_event_changes_nothing():
    e = Event(case_id="1", delivery_id="d1", occurred_at=T0, changes={"stage": "in_progress"},
              update=Update("m1", T0, "hello", "Dana"))
    once = apply(new_case("1"), e)
    assert apply(once, e) == once
    assert len(once.updates) == 1


def test_same_time_ties_go_to_the_later_stage():
    a = event(1, 0, stage="resolved")
    b = event(2, 0, stage="in_progress")
    assert apply_all(new_case("1"), [a, b]).stage == apply_all(new_case("1"), [b, a]).stage == "resolved"


def test_internal_event_does_not_count_as_an_update():
    internal = Event(case_id="1", delivery_id="d9", occurred_at=T0 + timedelta(hours=1), internal=True)
    case = apply_all(new_case("1"), [event(1, 0, title="A"), internal])
    assert case.updated_at == T0
    assert case.updates == ()


def test_bad_values_are_rejected():
    with pytest.raises(ValueError, match="stage"):
        event(1, 0, stage="done")
    with pytest.raises(ValueError, match="progress"):
        event(1, 0, progress=101)
    with pytest.raises(ValueError, match="unknown case fields"):
        Event(case_id="1", delivery_id="x", occurred_at=T0, changes={"internal_note": "x"})


def test_json_round_trip():
    e = Event(case_id="1", delivery_id="d1", occurred_at=T0,
              changes={"title": "T", "expected_by": T0, "expected_source": "sla",
                       "next_steps": (NextStep("Send the file", "customer"),)},
              update=Update("m1", T0, "body", "Dana"))
    case = apply(new_case("1"), e)
    assert case_from_dict(case_to_dict(case)) == case
    assert load_case(dump_case(case)) == case
    # Events are stored as orjson writes the dataclass, which must be event_to_dict's form.
    assert json.loads(dump_event(e)) == event_to_dict(e)
    assert load_event(dump_event(e)) == e



# A case as earlier releases stored it (json.dumps of the dict form): the stored form must not change.
STORED_CASE = (
    '{"case_id": "7", "title": "T", "stage": "in_progress", "status_label": null, '
    '"waiting_on": "company", "progress": null, "expected_by": "2026-11-20T15:00:00+00:00", '
    '"expected_source": "sla", "next_steps": [{"text": "Send the file", "owner": "customer", '
    '"done": false}], "requester_email": null, "requester_name": null, "priority": null, '
    '"expected_reason": "bank", "customer_verdict": null, "customer_rating": null, '
    '"customer_comment": null, "updates": [{"id": "m1", "at": "2026-11-20T10:00:00+00:00", '
    '"body": "body", "author_display": "Dana"}], "created_at": "2026-11-20T10:00:00+00:00", '
    '"updated_at": "2026-11-20T10:00:00+00:00", "stamps": {"title": ["2026-11-20T10:00:00+00:00", 0, 0, '
    '"d1"], "stage": ["2026-11-20T10:00:00+00:00", 0, 1, "d1"], '
    '"expected_by": ["2026-11-20T10:00:00+00:00", 0, 0, "d1"], '
    '"expected_source": ["2026-11-20T10:00:00+00:00", 0, 0, "d1"], '
    '"expected_reason": ["2026-11-20T10:00:00+00:00", 0, 0, "d1"], '
    '"next_steps": ["2026-11-20T10:00:00+00:00", 0, 0, "d1"]}, '
    '"expected_history": [["2026-11-20T10:00:00+00:00", "2026-11-20T15:00:00+00:00", "sla", "bank"]], '
    '"stage_history": [["2026-11-20T10:00:00+00:00", "in_progress"]], '
    '"internal_times": [["2026-11-20T10:01:00.000005+00:00", "d2"]]}'
)


def test_the_stored_form_of_a_case_is_the_one_earlier_releases_wrote():
    e1 = Event(case_id="7", delivery_id="d1", occurred_at=T0,
               changes={"title": "T", "stage": "in_progress", "expected_by": T0 + timedelta(hours=5),
                        "expected_source": "sla", "expected_reason": "bank",
                        "next_steps": (NextStep("Send the file", "customer"),)},
               update=Update("m1", T0, "body", "Dana"))
    e2 = Event(case_id="7", delivery_id="d2", occurred_at=T0 + timedelta(minutes=1, microseconds=5), internal=True)
    case = apply(apply(new_case("7"), e1), e2)
    # Fields added since (the linked problem; the first move and expected time, which an old case
    # takes from its histories) are written beside the old ones, and absent, read as unset.
    assert json.loads(dump_case(case)) == {**json.loads(STORED_CASE), "problem": None, "problem_state": None,
                                           "first_moved_at": "2026-11-20T10:00:00+00:00",
                                           "first_expected": ["2026-11-20T10:00:00+00:00",
                                                              "2026-11-20T15:00:00+00:00", "sla", "bank"]}
    assert load_case(STORED_CASE) == case


changes = st.fixed_dictionaries({}, optional={
    "stage": st.sampled_from(STAGES),
    "waiting_on": st.sampled_from(WAITING_ON),
    "title": st.text(max_size=5),
    "progress": st.none() | st.integers(0, 100),
    "expected_by": st.none() | st.integers(0, 3).map(lambda d: T0 + timedelta(days=d)),
    "expected_reason": st.none() | st.sampled_from(["bank", "vendor"]),
    "next_steps": st.lists(st.builds(NextStep, st.text(max_size=3), st.sampled_from(["company", "customer"]),
                                     st.booleans()), max_size=2).map(tuple),
})
events = st.lists(
    st.builds(
        lambda n, minutes, seq, ch, msg, internal: Event(
            case_id="1", delivery_id=f"d{n}", occurred_at=T0 + timedelta(minutes=minutes), changes=ch,
            update=None if msg is None or internal else Update(f"m{msg}", T0 + timedelta(minutes=minutes), f"b{msg}"),
            internal=internal, sequence=seq),
        st.integers(0, 10**6), st.integers(0, 5), st.integers(0, 2), changes,
        st.none() | st.integers(0, 3), st.booleans(),
    ),
    max_size=12, unique_by=lambda e: e.delivery_id,
)


@settings(max_examples=300, deadline=None)
@given(events, st.randoms(use_true_random=False), st.data())
def test_shuffled_and_duplicated_streams_end_like_the_sorted_deduplicated_one(stream, rng, data):
    sorted_stream = sorted(stream, key=lambda e: (e.occurred_at, e.sequence, e.delivery_id))
    expected = apply_all(new_case("1"), sorted_stream)
    arrived = list(stream) + data.draw(st.lists(st.sampled_from(stream), max_size=6) if stream else st.just([]))
    rng.shuffle(arrived)
    assert apply_all(new_case("1"), arrived) == expected


def test_histories_keep_the_newest_marks_and_repeats_once():
    events = [Event("1", f"d{n}", T0 + timedelta(minutes=n), {"stage": STAGES[n % 2]}) for n in range(40)]
    events += [Event("1", "again", T0 + timedelta(minutes=39), {"stage": STAGES[1]})]  # the same mark again
    events += [Event("1", f"n{n}", T0 + timedelta(minutes=n), internal=True) for n in range(3)]
    case = apply_all(new_case("1"), events)
    assert len(case.stage_history) == MAX_HISTORY_MARKS
    assert case.stage_history[-1] == StageMark(T0 + timedelta(minutes=39), STAGES[1])
    assert case.stage_history[0].at == T0 + timedelta(minutes=40 - MAX_HISTORY_MARKS)
    assert [delivery for _, delivery in case.internal_times] == ["n0", "n1", "n2"]


def test_expected_history_records_every_new_time_with_its_reason():
    tue, thu = T0 + timedelta(days=1), T0 + timedelta(days=3)
    case = apply_all(new_case("1"), [
        Event("1", "a", T0, {"expected_by": tue, "expected_source": "helpdesk"}),
        Event("1", "b", T0 + timedelta(hours=1), {"expected_by": thu, "expected_reason": "bank holiday"}),
    ])
    assert case.expected_history == (ExpectedMark(T0, tue, "helpdesk", None),
                                     ExpectedMark(T0 + timedelta(hours=1), thu, None, "bank holiday"))
    assert case.expected_by == thu and case.expected_reason == "bank holiday"


def test_the_first_move_and_the_first_expected_time_are_kept_after_the_histories_forget_them():
    events = [Event("1", "open", T0, {"stage": "received"})]
    events += [Event("1", f"d{n}", T0 + timedelta(hours=2, minutes=n), {
        "stage": "in_progress", "expected_by": T0 + timedelta(days=2, minutes=n)}) for n in range(40)]
    events += [Event("1", "none", T0 + timedelta(hours=1), {"expected_by": None})]  # no time given: not the first
    case = apply_all(new_case("1"), events[::-1])  # any order
    assert len(case.stage_history) == len(case.expected_history) == MAX_HISTORY_MARKS
    assert case.stage_history[0].at > T0 + timedelta(hours=2)  # the first move is gone from the history...
    assert case.first_moved_at == T0 + timedelta(hours=2)  # ...and kept here
    assert case.first_expected == ExpectedMark(T0 + timedelta(hours=2), T0 + timedelta(days=2), None, None)
    assert load_case(dump_case(case)) == case
