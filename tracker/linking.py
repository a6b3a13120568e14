"""Linking a case to a problem, and what the company says of a problem: one place for the
admin API and the command line (a helpdesk's own links arrive with its webhooks)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from tracker.cases import Event
from tracker.clock import Clock
from tracker.errors import BadRequest
from tracker.storage.base import Appended, ProblemNotes, Store, StoredCase

MAX_TITLE_CHARS = 200
MAX_SUMMARY_CHARS = 2000
NOTE_FIELDS = ("public_title", "summary", "listed")


async def link_problem(store: Store, clock: Clock, stored: StoredCase, problem: str | None) -> list[Appended]:
    """Link the case to a problem ("SOURCE:ID"), or unlink it (None), as an event of its own:
    newer than anything the helpdesk said, and undone only by a newer one."""
    event = Event(case_id=stored.case.case_id, delivery_id=f"link-{uuid.uuid4()}", occurred_at=clock.now(),
                  changes={"problem": problem})
    return await store.ingest(stored.tenant, stored.source, [event])


def changed_notes(notes: ProblemNotes, given: Any) -> ProblemNotes:
    """The notes with the fields given (JSON: public_title, summary, listed); BadRequest naming a wrong one."""
    if not isinstance(given, dict):
        raise BadRequest('The body must be a JSON object, e.g. {"public_title": "Exports fail", "listed": true}.')
    unknown = sorted(set(given) - set(NOTE_FIELDS))
    if unknown:
        raise BadRequest(f"Unknown field {', '.join(unknown)}; the fields are {', '.join(NOTE_FIELDS)}.")
    for name, limit in (("public_title", MAX_TITLE_CHARS), ("summary", MAX_SUMMARY_CHARS)):
        if name in given and not (isinstance(given[name], str) and len(given[name]) <= limit):
            raise BadRequest(f"{name}: give text of at most {limit} characters.")
    if "listed" in given and not isinstance(given["listed"], bool):
        raise BadRequest("listed: give true or false.")
    return replace(notes, **{name: given[name] for name in NOTE_FIELDS if name in given})
