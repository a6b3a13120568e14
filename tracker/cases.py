"""The case domain: Case, Event, stages and `apply()`; pure, no I/O.

`apply()` treats every field as a last-writer-wins register stamped with the event that set
it (the helpdesk's own time, then its sequence, then the delivery id). So the final case
depends only on the set of events, never on the order they arrived in: a late, older event
cannot move a case backwards, a duplicate changes nothing, and a reopen needs a newer event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

STAGES = ("received", "in_progress", "resolved", "closed")
OPEN_STAGES = ("received", "in_progress")  # the team still works on it
WAITING_ON = ("company", "customer", "third_party")
OWNERS = ("company", "customer", "third_party")
EXPECTED_SOURCES = ("helpdesk", "sla", "estimate")
VERDICTS = ("solved", "not_solved")
MAX_INTERNAL_MARKS = 200  # internal activity kept per case: only times, for "3 internal actions today"
MAX_HISTORY_MARKS = 32  # stage and expected-time marks kept per case, the newest
# The event log keeps the case after each event with only its newest updates: with all of them,
# a long case's log would grow with the square of its updates. (The full case is the case row.)
LOG_UPDATES = 3

# Fields an event may set; a key absent from Event.changes leaves the field as it is.
CASE_FIELDS = (
    "title", "stage", "status_label", "waiting_on", "progress", "expected_by",
    "expected_source", "next_steps", "requester_email", "requester_name",
    "priority", "expected_reason", "customer_verdict", "customer_rating", "customer_comment",
    "problem", "problem_state",
)

CASE_FIELD_SET = frozenset(CASE_FIELDS)
PROBLEM_REF = re.compile(r"^[a-z][a-z0-9_-]{0,39}:\S.{0,199}$", re.S)

# (occurred_at, helpdesk sequence, stage rank, delivery id): later stamps win.
Stamp = tuple[str, int, int, str]


@dataclass(frozen=True, slots=True)
class NextStep:
    text: str
    owner: str = "company"
    done: bool = False


@dataclass(frozen=True, slots=True)
class Update:
    """A public update (a reply the customer may read)."""

    id: str
    at: datetime
    body: str
    author_display: str = ""


@dataclass(frozen=True, slots=True)
class ExpectedMark:
    """An event set `expected_by`: when, to what, from which source, and why."""

    at: datetime
    expected_by: datetime | None
    source: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class StageMark:
    """An event set the stage at this time (many events repeat the same stage: one mark)."""

    at: datetime
    stage: str


@dataclass(frozen=True, slots=True)
class Event:
    """One thing a helpdesk told us about one case.

    `internal` marks activity whose content was dropped at parse time (an internal note):
    only its time is kept, never its text.
    """

    case_id: str
    delivery_id: str
    occurred_at: datetime
    changes: Mapping[str, Any] = field(default_factory=dict)
    update: Update | None = None
    internal: bool = False
    sequence: int = 0

    def __post_init__(self) -> None:
        unknown = self.changes.keys() - CASE_FIELD_SET
        if unknown:
            raise ValueError(f"unknown case fields: {sorted(unknown)}")
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        check_values(self.changes)

    def stamp(self, name: str, at_text: str | None = None) -> Stamp:
        rank = STAGES.index(self.changes["stage"]) if name == "stage" else 0
        return (at_text or self.occurred_at.isoformat(), self.sequence, rank, self.delivery_id)


@dataclass(frozen=True, slots=True)
class Case:
    case_id: str
    title: str = ""
    stage: str = "received"
    status_label: str | None = None
    waiting_on: str = "company"
    progress: int | None = None
    expected_by: datetime | None = None
    expected_source: str | None = None
    next_steps: tuple[NextStep, ...] = ()
    requester_email: str | None = None
    requester_name: str | None = None
    priority: str | None = None
    expected_reason: str | None = None  # why the expected time is what it is ("waiting on the bank")
    customer_verdict: str | None = None  # the customer's word on a resolved case: solved / not_solved
    customer_rating: int | None = None  # 1..5
    customer_comment: str | None = None
    # The problem this case waits on ("SOURCE:ID", another case of the tenant), and what the
    # customer may see of it (problems.snapshot; tracker sets it when the problem moves).
    problem: str | None = None
    problem_state: Mapping[str, Any] | None = None
    updates: tuple[Update, ...] = ()  # oldest first
    created_at: datetime | None = None
    updated_at: datetime | None = None
    stamps: Mapping[str, Stamp] = field(default_factory=dict)
    # Histories, each a set of marks keyed by delivery id and sorted by time, so that they too
    # depend only on the set of events: every expected time ever given, every stage entered,
    # and the times (never the content) of internal activity.
    expected_history: tuple[ExpectedMark, ...] = ()
    stage_history: tuple[StageMark, ...] = ()
    internal_times: tuple[tuple[datetime, str], ...] = ()
    # Kept for good, however long the histories grow (they keep their newest marks): when the
    # case first left `received`, and the first expected time it was given (tracker.insights).
    first_moved_at: datetime | None = None
    first_expected: ExpectedMark | None = None


def check_values(changes: Mapping[str, Any]) -> None:
    """Reject values outside the canonical model, so adapters fail loudly in tests."""
    if changes.get("stage", STAGES[0]) not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}")
    if changes.get("waiting_on", WAITING_ON[0]) not in WAITING_ON:
        raise ValueError(f"waiting_on must be one of {WAITING_ON}")
    progress = changes.get("progress")
    if progress is not None and not (isinstance(progress, int) and 0 <= progress <= 100):
        raise ValueError("progress must be a whole number from 0 to 100")
    if changes.get("expected_source") not in (None, *EXPECTED_SOURCES):
        raise ValueError(f"expected_source must be one of {EXPECTED_SOURCES}")
    for step in changes.get("next_steps") or ():
        if not isinstance(step, NextStep) or step.owner not in OWNERS:
            raise ValueError(f"next step owners must be one of {OWNERS}")
    if changes.get("customer_verdict") not in (None, *VERDICTS):
        raise ValueError(f"customer_verdict must be one of {VERDICTS}")
    problem = changes.get("problem")
    if problem is not None and not (isinstance(problem, str) and PROBLEM_REF.match(problem)):
        raise ValueError("problem must be SOURCE:ID")
    rating = changes.get("customer_rating")
    if rating is not None and not (isinstance(rating, int) and 1 <= rating <= 5):
        raise ValueError("customer_rating must be a whole number from 1 to 5")


def new_case(case_id: str) -> Case:
    return Case(case_id=case_id)


def apply(case: Case, event: Event) -> Case:
    """The case after `event`; never moves a field back to an older value."""
    if event.case_id != case.case_id:
        raise ValueError(f"event for case {event.case_id!r} applied to case {case.case_id!r}")
    new_values: dict[str, Any] = {}
    stamps = dict(case.stamps)
    at_text = event.occurred_at.isoformat()  # once, not once per field
    for name, value in event.changes.items():
        stamp = event.stamp(name, at_text)
        if name not in stamps or stamp > stamps[name]:
            stamps[name] = stamp
            new_values[name] = value
    updates = case.updates if event.update is None else merge_update(case.updates, event.update)
    histories = _merge_histories(case, event)
    at = event.occurred_at
    created_at = at if case.created_at is None else min(case.created_at, at)
    updated_at = case.updated_at
    if event.changes or event.update is not None:
        updated_at = at if updated_at is None else max(updated_at, at)
    return replace(
        case, **new_values, **histories, updates=updates, stamps=stamps,
        created_at=created_at, updated_at=updated_at,
    )


def _merge_histories(case: Case, event: Event) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    changes, at = event.changes, event.occurred_at
    if "expected_by" in changes:
        mark = ExpectedMark(at, changes["expected_by"], changes.get("expected_source"), changes.get("expected_reason"))
        merged["expected_history"] = _add_mark(case.expected_history, mark, MAX_HISTORY_MARKS)
        first = case.first_expected
        if mark.expected_by is not None and (first is None or _mark_order(mark) < _mark_order(first)):
            merged["first_expected"] = mark
    if "stage" in changes:
        merged["stage_history"] = _add_mark(case.stage_history, StageMark(at, changes["stage"]), MAX_HISTORY_MARKS)
        if changes["stage"] != STAGES[0] and (case.first_moved_at is None or at < case.first_moved_at):
            merged["first_moved_at"] = at
    if event.internal:
        merged["internal_times"] = _add_mark(case.internal_times, (at, event.delivery_id), MAX_INTERNAL_MARKS)
    return merged


def _add_mark(marks: tuple[Any, ...], mark: Any, keep: int) -> tuple[Any, ...]:
    """The newest `keep` of a set of marks, sorted. Taking the newest of a set gives the same
    result whatever order the marks arrive in, so histories obey the rule of `apply()` too."""
    if mark in marks:
        return marks
    return tuple(sorted((*marks, mark), key=_mark_order))[-keep:]


def _mark_order(mark: Any) -> tuple[Any, ...]:
    """Marks sort by time, then by their other fields (an unset one first), so ties are ordered too."""
    if isinstance(mark, ExpectedMark):
        return (mark.at, mark.expected_by is not None, mark.expected_by or mark.at, mark.source or "",
                mark.reason or "")
    if isinstance(mark, StageMark):
        return (mark.at, mark.stage)
    return tuple(mark)


def merge_update(updates: tuple[Update, ...], update: Update) -> tuple[Update, ...]:
    """Add `update`; of two versions of one update id the greater wins, whatever the order."""
    by_id = {u.id: u for u in updates}
    old = by_id.get(update.id)
    if old is None or _update_key(update) > _update_key(old):
        by_id[update.id] = update
    return tuple(sorted(by_id.values(), key=lambda u: (u.at, u.id)))


def _update_key(update: Update) -> tuple[datetime, str, str]:
    return (update.at, update.body, update.author_display)


def apply_all(case: Case, events: list[Event]) -> Case:
    for event in events:
        case = apply(case, event)
    return case


# --- JSON form, as stored (storage keeps cases and events as JSON documents) ---
# orjson rather than json: every webhook writes a case and an event, and json's encoder was
# a fifth of the writer's time.

def dump_case(case: Case, max_updates: int | None = None) -> str:
    """The case as stored; with `max_updates`, only that many of the newest updates. orjson
    writes datetimes as isoformat() does and NextStep and Update as dicts of their fields, so
    only the history marks need shaping (into lists) here."""
    document = {
        "case_id": case.case_id,
        **{name: getattr(case, name) for name in CASE_FIELDS},
        "updates": case.updates if max_updates is None else case.updates[-max_updates:],
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "stamps": case.stamps,
        "expected_history": [(m.at, m.expected_by, m.source, m.reason) for m in case.expected_history],
        "stage_history": [(m.at, m.stage) for m in case.stage_history],
        "internal_times": case.internal_times,
        "first_moved_at": case.first_moved_at,
        "first_expected": None if (m := case.first_expected) is None else (m.at, m.expected_by, m.source, m.reason),
    }
    return orjson.dumps(document).decode()


def load_case(text: str | bytes) -> Case:
    return case_from_dict(orjson.loads(text))


def dump_event(event: Event) -> str:
    return orjson.dumps(event).decode()  # the dataclass as orjson writes it is event_to_dict's form


def load_event(text: str | bytes) -> Event:
    return event_from_dict(orjson.loads(text))


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _update_to_dict(u: Update) -> dict[str, Any]:
    return {"id": u.id, "at": u.at.isoformat(), "body": u.body, "author_display": u.author_display}


def _update_from_dict(d: Mapping[str, Any]) -> Update:
    return Update(id=d["id"], at=datetime.fromisoformat(d["at"]), body=d["body"],
                  author_display=d["author_display"])


def _step_to_dict(s: NextStep) -> dict[str, Any]:
    return {"text": s.text, "owner": s.owner, "done": s.done}


def _changes_to_dict(changes: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(changes)
    if "next_steps" in out:
        out["next_steps"] = [_step_to_dict(s) for s in out["next_steps"]]
    if isinstance(out.get("expected_by"), datetime):
        out["expected_by"] = out["expected_by"].isoformat()
    return out


def _changes_from_dict(d: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(d)
    if "next_steps" in out:
        out["next_steps"] = tuple(NextStep(**s) for s in out["next_steps"])
    if out.get("expected_by") is not None:
        out["expected_by"] = datetime.fromisoformat(out["expected_by"])
    return out


def case_to_dict(case: Case, max_updates: int | None = None) -> dict[str, Any]:
    """The case as JSON; with `max_updates`, only that many of the newest updates."""
    return dict(orjson.loads(dump_case(case, max_updates)))


def case_from_dict(d: Mapping[str, Any]) -> Case:
    # .get: a case stored by an older release lacks the fields added since.
    values = _changes_from_dict({name: d.get(name) for name in CASE_FIELDS if name in d})
    case = Case(
        case_id=d["case_id"], **values,
        updates=tuple(_update_from_dict(u) for u in d["updates"]),
        created_at=_time(d["created_at"]), updated_at=_time(d["updated_at"]),
        stamps={k: (v[0], v[1], v[2], v[3]) for k, v in d["stamps"].items()},
        expected_history=tuple(ExpectedMark(datetime.fromisoformat(at), _time(expected), source, reason)
                               for at, expected, source, reason in d.get("expected_history", ())),
        stage_history=tuple(StageMark(datetime.fromisoformat(at), stage) for at, stage in d.get("stage_history", ())),
        internal_times=tuple((datetime.fromisoformat(at), delivery) for at, delivery in d.get("internal_times", ())),
        first_moved_at=_time(d.get("first_moved_at")),
    )
    if "first_expected" in d:
        first = d["first_expected"]
        return case if first is None else replace(case, first_expected=ExpectedMark(
            datetime.fromisoformat(first[0]), _time(first[1]), first[2], first[3]))
    # Stored before these were kept: the oldest marks kept are the best there is.
    moved = [m.at for m in case.stage_history if m.stage != STAGES[0]]
    given = [m for m in case.expected_history if m.expected_by is not None]
    return replace(case, first_moved_at=min(moved, default=None), first_expected=given[0] if given else None)


def event_to_dict(event: Event) -> dict[str, Any]:
    return {
        "case_id": event.case_id,
        "delivery_id": event.delivery_id,
        "occurred_at": event.occurred_at.isoformat(),
        "changes": _changes_to_dict(event.changes),
        "update": None if event.update is None else _update_to_dict(event.update),
        "internal": event.internal,
        "sequence": event.sequence,
    }


def event_from_dict(d: Mapping[str, Any]) -> Event:
    return Event(
        case_id=d["case_id"], delivery_id=d["delivery_id"],
        occurred_at=datetime.fromisoformat(d["occurred_at"]),
        changes=_changes_from_dict(d["changes"]),
        update=None if d["update"] is None else _update_from_dict(d["update"]),
        internal=d["internal"], sequence=d["sequence"],
    )
