"""The ingest rule, once for both backends: a batch of deliveries in, events numbered out.

Each event whose (tenant, source, delivery id) is not stored yet is applied to its case (see
cases.apply), takes the case's next sequence number, and goes into the log with the case as it
is after it. A delivery seen before, in the database or earlier in the batch, is skipped: it is
stored once. The backends only read the rows this needs and write what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tracker.cases import LOG_UPDATES, Case, Event, apply, dump_case
from tracker.notify import worth_telling
from tracker.storage.base import Appended
from tracker.storage.group_commit import Pending

Ident = tuple[str, str, str]  # (tenant, source, case id) or (tenant, source, delivery id)


@dataclass
class CaseRow:
    """A case as the batch changes it."""

    key: int
    seq: int
    case: Case
    changed: bool = False
    document: str | None = None  # the case as JSON, when the log's copy is the whole case

    def state(self) -> str:
        return self.document or dump_case(self.case)


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """A row of the event log: the event, and the case after it (with its newest updates)."""

    case_key: int
    seq: int
    tenant: str
    source: str
    event: Event
    case_after: str
    news: bool  # worth a mail to the case's subscribers (notify.worth_telling)
    relinked: bool = False  # the event linked the case to a problem, or to another, or unlinked it


def news_cases(logged: list[LoggedEvent]) -> list[int]:
    """The cases whose subscribers have news from this batch: each gets one pending mail."""
    return sorted({event.case_key for event in logged if event.news})


def requester_of(case: Case) -> str | None:
    """The requester's address as cases are listed by it: trimmed, in lower case."""
    return case.requester_email.strip().lower() or None if case.requester_email else None


def moved_cases(logged: list[LoggedEvent]) -> list[int]:
    """The cases changed by anything but a problem's snapshot: if they are problems themselves,
    their linked cases are told. A snapshot never is news for the cases linked to *its* case, so
    a cycle of links (A waits on B, B on A) cannot feed itself."""
    return sorted({event.case_key for event in logged if set(event.event.changes) != {"problem_state"}})


def relinked_cases(logged: list[LoggedEvent]) -> list[int]:
    """The cases whose link to a problem changed: each gets a fresh view of its problem."""
    return sorted({event.case_key for event in logged if event.relinked})


def with_wake(results: list[list[Appended]], keys: set[int]) -> list[list[Appended]]:
    """The results, with `wake` on the events of these cases (they queued urgent work)."""
    if not keys:
        return results
    return [[Appended(a.case_key, a.seq, a.case_key in keys) for a in appended] for appended in results]


def apply_batch(batch: list[Pending], cases: dict[Ident, CaseRow], seen: set[Ident],
                create: Callable[[Ident], CaseRow] | None = None) -> tuple[list[list[Appended]], list[LoggedEvent]]:
    """Apply every new event of `batch` to `cases` (the stored ones; `create` adds a case the
    batch is the first to name) and return what each delivery appended and the log rows.
    `seen` holds the deliveries already stored."""
    logged: list[LoggedEvent] = []
    results: list[list[Appended]] = []
    for item in batch:
        appended: list[Appended] = []
        for event in item.events:
            delivery = (item.tenant, item.source, event.delivery_id)
            if delivery in seen:
                continue
            seen.add(delivery)
            ident = (item.tenant, item.source, event.case_id)
            entry = cases.get(ident)
            if entry is None:
                if create is None:
                    raise KeyError(f"case {ident} was not loaded for this batch")
                entry = cases[ident] = create(ident)
            before = entry.case
            entry.case = apply(entry.case, event)
            entry.seq += 1
            entry.changed = True
            after = dump_case(entry.case, LOG_UPDATES)
            # While the case has no more updates than the log keeps, its row is this document.
            entry.document = after if len(entry.case.updates) <= LOG_UPDATES else None
            logged.append(LoggedEvent(entry.key, entry.seq, item.tenant, item.source, event, after,
                                      worth_telling(before, entry.case, event),
                                      before.problem != entry.case.problem))
            appended.append(Appended(entry.key, entry.seq))
        results.append(appended)
    return results, logged
