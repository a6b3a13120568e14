"""Linked problems in storage, on both backends: the link kept as a column, the outbox rows the
ingest queues when a problem with linked cases moves or a case is linked anew, and the fan-out
over more linked cases than one chunk."""

from __future__ import annotations

import pytest

from tests.clock_of_suite import suite_clock
from tests.conftest import BACKENDS
from tracker.cases import Event
from tracker.problems import CHUNK, Problems, linked_problem, with_current_problem
from tracker.pubsub.memory import MemoryHub
from tracker.storage.base import ProblemNotes, Store

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
PROBLEM = "github:acme/app#12"


def event(case_id: str, delivery: str, **changes: object) -> Event:
    return Event(case_id, delivery, suite_clock().now(), changes)


async def test_a_problem_moving_queues_its_fan_out_once_and_reaches_every_linked_case(store: Store):
    linked = CHUNK * 2 + 7
    [problem] = await store.ingest("acme", "github", [event("acme/app#12", "p0", stage="received")])
    assert not problem.wake  # nothing linked to it yet: nothing to tell
    appended = await store.ingest("acme", "generic", [event(str(n), f"l{n}", problem=PROBLEM, stage="in_progress")
                                                      for n in range(linked)])
    assert all(a.wake for a in appended)  # each linked anew: its snapshot is due
    assert len(await store.linked_cases("acme", PROBLEM, 0, 10_000)) == linked
    assert await store.count_linked("acme", PROBLEM) == linked
    [moved] = await store.ingest("acme", "github", [event("acme/app#12", "p1", stage="resolved")])
    assert moved.wake
    queued = [d for d in await store.list_deliveries("acme", 10_000) if d.kind == "problem"]
    assert sum(d.event_type == "problem.moved" for d in queued) == 1
    assert sum(d.event_type == "case.relinked" for d in queued) == linked

    await store.set_problem_notes(ProblemNotes("acme", "github", "acme/app#12", "Exports fail", "", True))
    assert await Problems(store, MemoryHub(), suite_clock()).tell_linked(problem.case_key) == linked
    assert await Problems(store, MemoryHub(), suite_clock()).tell_linked(problem.case_key) == 0  # told once
    for key, _, _ in await store.linked_cases("acme", PROBLEM, 0, 10_000):
        stored = await store.get_case_by_key(key)
        assert stored is not None
        shown = linked_problem(stored.case)
        assert shown is not None and shown["title"] == "Exports fail" and shown["fix_out"]
        assert shown["others_affected"] == linked - 1


async def test_unlinking_takes_the_case_out_of_the_problems_count(store: Store):
    await store.ingest("acme", "generic", [event("1", "a", problem=PROBLEM), event("2", "b", problem=PROBLEM)])
    await store.ingest("acme", "generic", [event("1", "c", problem=None)])
    assert [case_id for _, _, case_id in await store.linked_cases("acme", PROBLEM)] == ["2"]
    assert await store.count_linked("acme", PROBLEM) == 1
    assert await store.listed_problems("acme") == []
    await store.set_problem_notes(ProblemNotes("acme", "github", "acme/app#12", "T", "S", True))
    [listed] = await store.listed_problems("acme")
    assert (listed.ref, listed.public_title, listed.summary, listed.listed) == (PROBLEM, "T", "S", True)


async def test_a_cycle_of_links_does_not_feed_itself(store: Store):
    """A waits on B and B on A: A's change tells B, and B's snapshot tells no one."""
    await store.ingest("acme", "generic", [event("A", "a0", problem="generic:B"),
                                           event("B", "b0", problem="generic:A")])
    [moved] = await store.ingest("acme", "generic", [event("A", "a1", stage="in_progress")])

    async def moves() -> int:
        return sum(d.event_type == "problem.moved" for d in await store.list_deliveries("acme", 100))

    before = await moves()
    assert await Problems(store, MemoryHub(), suite_clock()).tell_linked(moved.case_key) == 1  # B got A's snapshot
    assert await moves() == before  # and B's snapshot queued nothing for A


async def test_a_linked_case_shows_its_problem_as_it_is_before_the_snapshot_is_written(store: Store):
    """The page and JSON read the problem's move at once; the snapshot in the case follows."""
    tell = Problems(store, MemoryHub(), suite_clock())
    [problem] = await store.ingest("acme", "github", [event("acme/app#12", "p0", stage="received")])
    [linked] = await store.ingest("acme", "generic", [event("7", "l7", problem=PROBLEM, stage="in_progress")])
    await tell.tell_case(linked.case_key)
    stored = await store.get_case("acme", "generic", "7")
    assert stored is not None and stored.case.problem_state is not None
    assert await with_current_problem(store, stored) is stored  # the snapshot is current: nothing read again
    await store.ingest("acme", "github", [event("acme/app#12", "p1", stage="resolved", progress=90)])
    current = await with_current_problem(store, stored)
    view = linked_problem(current.case)
    assert view is not None and (view["stage"], view["progress"], view["fix_out"]) == ("resolved", 90, True)
    assert view["revision"] > stored.case.problem_state["revision"]
    await tell.tell_linked(problem.case_key)
    written = await store.get_case("acme", "generic", "7")
    assert written is not None and linked_problem(written.case) == view
    assert await with_current_problem(store, written) is written
