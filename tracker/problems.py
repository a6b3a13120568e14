"""Linked problems: a case waits on another case of the tenant (an engineering issue, a problem
ticket), and its customer sees that problem move.

What a customer may see of a problem is a *snapshot*: the title and summary the company wrote
for customers (ProblemNotes), the problem's stage, expected time and progress, and how many
open cases share it; its own text (title, comments, next steps) only where the tenant says
`problem_updates=public`. The snapshot goes into each linked case as an ordinary event, so
everything that follows a case follows its problem too: pages and streams (live, resumable,
on every instance), the page cache, "Keep me updated" (news, once), out-of-order safety.

The ingest queues the work in its own transaction (a `problem` delivery, storage's outbox) when
a problem with linked cases changes, or a case is linked anew; the delivery worker calls
`Problems.send`, which writes the snapshots CHUNK cases at a time.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tracker.cases import OPEN_STAGES, Case, Event
from tracker.clock import Clock
from tracker.pubsub.base import Hub
from tracker.storage.base import Delivery, ProblemNotes, Store, StoredCase
from tracker.tenant_options import option_value

if TYPE_CHECKING:  # nudges imports this module
    from tracker.nudges import Nudger

CHUNK = 500  # linked cases written per transaction
MAX_PROBLEM_UPDATES = 3
FIXED_STAGES = ("resolved", "closed")


def problem_ref(source: str, case_id: str) -> str:
    return f"{source}:{case_id}"


def split_ref(ref: str) -> tuple[str, str]:
    source, _, case_id = ref.partition(":")
    return source, case_id


def snapshot(ref: str, problem: StoredCase | None, notes: ProblemNotes | None, affected: int,
             options: Mapping[str, str]) -> dict[str, Any]:
    """What a linked case's customer may see of its problem, as JSON. `key` names the problem
    on the status page already; `revision` orders snapshots (the live `problem` frames of
    streams run ahead of the snapshots written into the cases)."""
    public = option_value(options, "problem_updates") == "public"
    shown = problem.case if problem and public else None
    return {
        "ref": ref,
        "key": problem.key if problem else None,
        "revision": problem.seq if problem else 0,
        "title": (notes.public_title if notes else "") or (shown.title if shown else ""),
        "summary": notes.summary if notes else "",
        "stage": problem.case.stage if problem else None,
        "expected_by": problem.case.expected_by.isoformat() if problem and problem.case.expected_by else None,
        "progress": problem.case.progress if problem else None,
        "affected": affected,
        "next_steps": [{"text": s.text, "owner": s.owner, "done": s.done} for s in shown.next_steps] if shown else [],
        "updates": [{"id": u.id, "at": u.at.isoformat(), "body": u.body, "author_display": u.author_display}
                    for u in reversed(shown.updates[-MAX_PROBLEM_UPDATES:])] if shown else [],
    }


def linked_problem(case: Case) -> dict[str, Any] | None:
    """The problem as the case's views show it: its snapshot, when it is of the problem the case
    is linked to now (an unlinked case shows none at once), with the *other* cases it affects."""
    state = case.problem_state
    if case.problem is None or state is None or state.get("ref") != case.problem:
        return None
    return problem_view(state, case.stage in OPEN_STAGES)


def problem_view(state: Mapping[str, Any], case_open: bool) -> dict[str, Any]:
    view = {name: value for name, value in state.items() if name not in ("ref", "affected")}
    view["others_affected"] = max(0, int(state.get("affected", 0)) - (1 if case_open else 0))
    view["fix_out"] = state.get("stage") in FIXED_STAGES
    return view


async def snapshot_of(store: Store, tenant_slug: str, ref: str, problem: StoredCase | None) -> dict[str, Any]:
    tenant = await store.get_tenant(tenant_slug)
    notes = await store.get_problem_notes(tenant_slug, *split_ref(ref))
    affected = await store.count_linked(tenant_slug, ref)
    return snapshot(ref, problem, notes, affected, tenant.options if tenant else {})


async def with_current_problem(store: Store, stored: StoredCase) -> StoredCase:
    """The case with its problem as it is now. The snapshot in the case follows a move of the
    problem by a moment (the delivery worker writes it); a page opened in that moment, or
    refreshed by the stream's `problem` frame, shows the move already."""
    case = stored.case
    if case.problem is None:
        return stored
    head = await store.get_case_head(stored.tenant, *split_ref(case.problem))  # the cheap read first
    state = case.problem_state
    if head is None or state is not None and state.get("ref") == case.problem \
            and int(state.get("revision", 0)) >= head.seq:
        return stored
    problem = await store.get_case(stored.tenant, *split_ref(case.problem))
    fresh = await snapshot_of(store, stored.tenant, case.problem, problem)
    return replace(stored, case=replace(case, problem_state=fresh))


class Problems:
    """The delivery worker's sender for `problem` deliveries."""

    def __init__(self, store: Store, hub: Hub, clock: Clock, nudger: Nudger | None = None) -> None:
        self.store = store
        self.hub = hub
        self.clock = clock
        self.nudger = nudger  # tells each linked case's team when the problem changes stage

    async def send(self, delivery: Delivery) -> None:
        if "problem" in delivery.request:
            await self.tell_linked(int(delivery.request["problem"]))
        else:
            await self.tell_case(int(delivery.request["case"]))

    async def tell_linked(self, problem_key: int) -> int:
        """Every case linked to this problem gets its snapshot; returns how many were written."""
        problem = await self.store.get_case_by_key(problem_key)
        if problem is None:
            return 0
        ref = problem_ref(problem.source, problem.case.case_id)
        state = await snapshot_of(self.store, problem.tenant, ref, problem)
        after, told = 0, 0
        while linked := await self.store.linked_cases(problem.tenant, ref, after, CHUNK):
            told += await self._tell(problem.tenant, linked, state, f"p{problem.seq}")
            after = linked[-1][0]
        return told

    async def tell_case(self, case_key: int) -> None:
        """A case linked anew gets its problem's snapshot (the others' counts follow the problem's next move)."""
        stored = await self.store.get_case_by_key(case_key)
        if stored is None or stored.case.problem is None:
            return
        source, case_id = split_ref(stored.case.problem)
        problem = await self.store.get_case(stored.tenant, source, case_id)
        state = await snapshot_of(self.store, stored.tenant, stored.case.problem, problem)
        await self._tell(stored.tenant, [(stored.key, stored.source, stored.case.case_id)], state, f"c{stored.seq}")

    async def _tell(self, tenant: str, linked: list[tuple[int, str, str]], state: dict[str, Any], cause: str) -> int:
        now = self.clock.now()
        text = json.dumps(state, sort_keys=True)
        by_source: dict[str, list[Event]] = defaultdict(list)
        for key, source, case_id in linked:
            # The same snapshot for the same cause is one delivery: a retried fan-out stores nothing twice.
            digest = hashlib.sha256(f"{key}\n{cause}\n{text}".encode()).hexdigest()[:32]
            by_source[source].append(Event(case_id=case_id, delivery_id=f"problem-{digest}", occurred_at=now,
                                           changes={"problem_state": state}))
        before = await self.nudger.before_problem_move(tenant, linked) if self.nudger else {}  # never raises
        told = 0
        for source, events in by_source.items():
            for appended in await self.store.ingest(tenant, source, events):
                await self.hub.publish(appended.case_key, appended.seq)
                told += 1
        if self.nudger is not None and before:
            await self.nudger.after_problem_move(tenant, before, state, cause)
        return told
