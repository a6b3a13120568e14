"""The one place that decides what a customer may see of a case.

Every customer-facing surface (page, JSON, live stream, badge, widget) renders from these
views and from nothing else, so a private field added to `Case` stays private until it is named
here. Two audiences: the customer, who holds the signed link, and the public, who see a case
the customer chose to publish, redacted further (no agent surnames, no e-mail addresses or
phone numbers in any text, the customer's own title if they gave one).
"""

from __future__ import annotations

import re
from collections.abc import Callable
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


EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A run of digits with the separators phone numbers are written with; judged by `_phone`.
PHONE_LIKE = re.compile(r"\+?\(?\d[\d ().\-/]{6,}\d")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MIN_PHONE_DIGITS = 9  # fewer is a ticket number, a date or an amount, not a phone number


def _phone(match: re.Match[str]) -> str:
    text = match.group()
    digits = sum(c.isdigit() for c in text)
    if digits < MIN_PHONE_DIGITS or ISO_DATE.match(text):
        return text
    return "[phone number hidden]"


def mask(text: str) -> str:
    """Text with e-mail addresses and phone numbers masked."""
    return PHONE_LIKE.sub(_phone, EMAIL.sub("[e-mail hidden]", text))


def first_name(author: str) -> str:
    """'Dana Smith' -> 'Dana': agents' surnames are not for the public."""
    name = author.split()
    return name[0] if name and mask(name[0]) == name[0] else ""


def public_case_view(case: Case, revision: int, public_title: str | None = None) -> dict[str, Any]:
    """What anyone with the public id may see."""
    view = case_view(case, revision)
    view["title"] = public_title or mask(case.title)
    view["status_label"] = case.status_label and mask(case.status_label)
    view["next_steps"] = [{**step, "text": mask(step["text"])} for step in view["next_steps"]]
    view["updates"] = [public_update(u) for u in view["updates"]]
    return view


def public_update(update: dict[str, Any]) -> dict[str, Any]:
    return {**update, "body": mask(update["body"]), "author_display": first_name(update["author_display"])}


def public_event_view(public_title: str | None) -> Callable[[StoredEvent], dict[str, Any]]:
    def view(stored: StoredEvent) -> dict[str, Any]:
        change = event_view(stored)
        return {
            "seq": change["seq"],
            "case": public_case_view(stored.case_after, stored.seq, public_title),
            "update": None if change["update"] is None else public_update(change["update"]),
        }

    return view


def event_view(stored: StoredEvent) -> dict[str, Any]:
    """One live change: the case after it and the public update it brought, if any."""
    update = stored.event.update
    return {
        "seq": stored.seq,
        "case": case_view(stored.case_after, stored.seq),
        "update": None if update is None or stored.event.internal else update_view(update),
    }
