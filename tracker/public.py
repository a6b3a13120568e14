"""The one place that decides what a customer may see of a case, and the public of it.

Every customer-facing surface (page, JSON, live stream, badge, widget) renders from these
views and from nothing else, so a private field added to `Case` stays private until it is named
here. Two audiences: the customer, who holds the signed link, and the public, who see a case
the customer chose to publish, redacted further (no agent surnames, no e-mail addresses or
phone numbers in any text, the customer's own title if they gave one). What a case's state
means at a given time (the customer's stage, gone quiet, activity) is the policy's
(policy.py); this module only chooses and masks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tracker.cases import OPEN_STAGES, STAGES, Case, Update
from tracker.clock import Clock
from tracker.policy import Policy, activity, quiet, stage_for_customer
from tracker.problems import linked_problem
from tracker.storage.base import StoredEvent

View = Callable[[StoredEvent], dict[str, Any]]


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def update_view(update: Update) -> dict[str, Any]:
    return {"id": update.id, "at": update.at.isoformat(), "body": update.body,
            "author_display": update.author_display}


def case_view(case: Case, revision: int, policy: Policy, now: datetime,
              estimate: dict[str, Any] | None = None) -> dict[str, Any]:
    """The customer's view: no requester details, no field stamps, updates newest first; with
    what the company promised (gone quiet, the customer's word) judged at `now`."""
    problem = linked_problem(case)
    return {
        "case_id": case.case_id,
        "title": case.title,
        "stage": stage_for_customer(case, policy, now),
        "helpdesk_stage": case.stage,
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
        "expected_moves": expected_moves(case),
        "estimate": estimate if case.expected_by is None and case.stage in OPEN_STAGES else None,
        "quiet": quiet(case, policy, now),
        "activity": activity(case, now) if policy.show_activity else None,
        "verdict": {"value": case.customer_verdict, "rating": case.customer_rating,
                    "comment": case.customer_comment} if case.customer_verdict else None,
        "awaiting_verdict": case.customer_verdict is None and (
            case.stage == "resolved" and stage_for_customer(case, policy, now) == "resolved"
            or problem is not None and problem["fix_out"] and case.stage in OPEN_STAGES),
        "problem": problem,
    }


def expected_moves(case: Case) -> list[dict[str, Any]]:
    """Every time the expected time moved, newest first: from, to, when, why, and whose figure."""
    moves = []
    previous = None
    for mark in case.expected_history:
        if previous is not None and mark.expected_by is not None and previous.expected_by is not None \
                and mark.expected_by != previous.expected_by:
            moves.append({"at": mark.at.isoformat(), "from": previous.expected_by.isoformat(),
                          "to": mark.expected_by.isoformat(), "reason": mark.reason, "source": mark.source})
        if mark.expected_by is not None:
            previous = mark
    return list(reversed(moves))


# Each pattern may start only where its run starts (the look-behinds): tried at every position
# of a long run of letters or digits, it would scan the rest of the run each time, quadratic work
# on the event loop (100,000 letters held a core for over a minute).
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A signed case link (one written back into a public GitHub comment, say) opens the private page.
CASE_LINK = re.compile(r"https?://[^\s/]+(?:/[^\s/]+)*?/c/[\w.-]+")
# A run of digits with the separators phone numbers are written with; judged by `_phone`.
PHONE_LIKE = re.compile(r"(?<!\d)\+?\(?\d[\d ().\-/]{6,}\d")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MIN_PHONE_DIGITS = 9  # fewer is a ticket number, a date or an amount, not a phone number


def _phone(match: re.Match[str]) -> str:
    text = match.group()
    digits = sum(c.isdigit() for c in text)
    if digits < MIN_PHONE_DIGITS or ISO_DATE.match(text):
        return text
    return "[phone number hidden]"


def mask(text: str) -> str:
    """Text with private case links, e-mail addresses and phone numbers masked."""
    return PHONE_LIKE.sub(_phone, EMAIL.sub("[e-mail hidden]", CASE_LINK.sub("[private link hidden]", text)))


def first_name(author: str) -> str:
    """'Dana Smith' -> 'Dana': agents' surnames are not for the public."""
    name = author.split()
    return name[0] if name and mask(name[0]) == name[0] else ""


def public_case_view(case: Case, revision: int, public_title: str | None, policy: Policy, now: datetime,
                     estimate: dict[str, Any] | None = None) -> dict[str, Any]:
    """What anyone with the public id may see: the fields PUBLIC_FIELDS names, each as it says.
    A field added to the customer's view stays out of this one until it is named there."""
    customer = case_view(case, revision, policy, now, estimate)
    view = {name: show(customer[name]) for name, show in PUBLIC_FIELDS.items()}
    view["title"] = public_title or mask(case.title)  # the customer's own title, if they gave one
    return view


def _as_is(value: Any) -> Any:
    return value


def _masked(text: str | None) -> str | None:
    return text and mask(text)


# The public's view, field by field: shown as the customer sees it, masked, or held back.
PUBLIC_FIELDS: dict[str, Callable[[Any], Any]] = {
    "case_id": _as_is,
    "title": _masked,
    "stage": _as_is,
    "helpdesk_stage": _as_is,
    "stages": _as_is,
    "status_label": _masked,
    "waiting_on": _as_is,
    "progress": _as_is,
    "expected_by": _as_is,
    "expected_source": _as_is,
    "next_steps": lambda steps: [{"text": mask(s["text"]), "owner": s["owner"], "done": s["done"]} for s in steps],
    "updates": lambda updates: [public_update(u) for u in updates],
    "created_at": _as_is,
    "updated_at": _as_is,
    "revision": _as_is,
    "expected_moves": lambda moves: [{"at": m["at"], "from": m["from"], "to": m["to"], "reason": _masked(m["reason"]),
                                      "source": m["source"]} for m in moves],
    "estimate": _as_is,
    "quiet": _as_is,
    "activity": _as_is,  # counts and times only, and only where the company shows them
    "verdict": lambda verdict: verdict and {"value": verdict["value"], "rating": None, "comment": None},
    "awaiting_verdict": lambda _: False,  # only the customer answers
    "problem": lambda problem: problem and {
        **problem, "title": mask(problem["title"]), "summary": mask(problem["summary"]),
        "next_steps": [{**s, "text": mask(s["text"])} for s in problem["next_steps"]],
        "updates": [public_update(u) for u in problem["updates"]]},
}


def public_update(update: dict[str, Any]) -> dict[str, Any]:
    return {"id": update["id"], "at": update["at"], "body": mask(update["body"]),
            "author_display": first_name(update["author_display"])}


def customer_event_view(policy: Policy, clock: Clock) -> View:
    """One live change for the customer: the case after it and the public update it brought."""
    def view(stored: StoredEvent) -> dict[str, Any]:
        update = stored.event.update
        return {
            "seq": stored.seq,
            "case": case_view(stored.case_after, stored.seq, policy, clock.now()),
            "update": None if update is None or stored.event.internal else update_view(update),
        }

    return view


def public_event_view(public_title: str | None, policy: Policy, clock: Clock) -> View:
    customer = customer_event_view(policy, clock)

    def view(stored: StoredEvent) -> dict[str, Any]:
        change = customer(stored)
        return {
            "seq": change["seq"],
            "case": public_case_view(stored.case_after, stored.seq, public_title, policy, clock.now()),
            "update": None if change["update"] is None else public_update(change["update"]),
        }

    return view

