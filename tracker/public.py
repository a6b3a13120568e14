"""The one place that decides what a customer may see of a case.

Every customer-facing surface (page, JSON, live stream) renders from these views and from
nothing else, so a private field added to `Case` stays private until it is named here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tracker.cases import STAGES, Case, Update
from tracker.storage.base import StoredEvent


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def update_view(update: Update) -> dict[str, Any]:
    return {"id": update.id, "at": update.at.isoformat(), "body": update.body,
            "author_display": update.author_display}


def case_view(case: Case, revision: int) -> dict[str, Any]:
    """The customer's view: no requester details, no field stamps, updates newest first."""
    return {
        "case_id": case.case_id,
        "title": case.title,
        "stage": case.stage,
        "stages": list(STAGES),
        "status_label": case.status_label,
        "waiting_on": case.waiting_on,
        "progress": case.progress,
        "expected_by": _time(case.expected_by),
        "expected_source": case.expected_source if case.expected_by else None,
        "next_steps": [{"text": s.text, "owner": s.owner, "done": s.done} for s in case.next_steps],
        "updates": [update_view(u) for u in reversed(case.updates)],
        "created_at": _time(case.created_at),
        "updated_at": _time(case.updated_at),
        "revision": revision,
    }


def event_view(stored: StoredEvent) -> dict[str, Any]:
    """One live change: the case after it and the public update it brought, if any."""
    update = stored.event.update
    return {
        "seq": stored.seq,
        "case": case_view(stored.case_after, stored.seq),
        "update": None if update is None or stored.event.internal else update_view(update),
    }
