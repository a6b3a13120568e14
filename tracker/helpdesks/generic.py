"""Anything that can send signed JSON: Standard Webhooks signing, tracker's own body shape.

Set up your system to POST every change of a case to the webhook URL above, as JSON,
signed the Standard Webhooks way with the secret above:
  webhook-id         a unique id per delivery; a retry reuses it and is stored once
  webhook-timestamp  Unix seconds; rejected when more than 5 minutes off our clock
  webhook-signature  v1,<base64 of HMAC-SHA256 over "{id}.{timestamp}.{body}">, keyed with
                     the base64-decoded part of the secret after "whsec_"
Body (every field but case.id optional; a message without "public": true is an internal
note and is never shown):
  {"type": "case.updated", "occurred_at": "2026-11-20T10:00:00Z",
   "case": {"id": "4711", "title": "...", "stage": "in_progress", "status_label": "...",
            "waiting_on": "company", "progress": 40, "expected_by": "2026-11-22T17:00:00Z",
            "requester_email": "ann@example.com",
            "next_steps": [{"text": "...", "owner": "company", "done": false}]},
   "message": {"id": "m-1", "body": "...", "public": true, "author": "Dana"}}
case.requester_email (the customer's address, any case; null clears it) puts the case in that
customer's list of cases (My cases).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tracker.cases import EXPECTED_SOURCES, OWNERS, STAGES, WAITING_ON, Event, NextStep, Update
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks.base import (
    NO_OPTIONS,
    Headers,
    Options,
    check_timestamp,
    equal,
    parse_time,
    problem_link,
    require_header,
)
from tracker.standard_webhooks import sign

NAME = "generic"
TITLE = "Any signed JSON webhook"  # these four are this helpdesk's cells in the README's table
SIGNATURE = "Standard Webhooks, HMAC-SHA256, 5 min tolerance"
DEDUPE = "`webhook-id`"
INTERNAL = "`message.public` not `true`"
OPTIONS: dict[str, str] = {}
TOLERANCE_SECONDS = 5 * 60
WRITEBACK = None  # tracker is the helpdesk's API here: links come from the admin API or the lookup


def verify(headers: Headers, body: bytes, secret: str, now: datetime) -> None:
    msg_id = require_header(headers, "webhook-id", NAME)
    timestamp = require_header(headers, "webhook-timestamp", NAME)
    signatures = require_header(headers, "webhook-signature", NAME)
    check_timestamp(timestamp, now, TOLERANCE_SECONDS, NAME)
    expected = sign(secret, msg_id, int(timestamp), body).removeprefix("v1,")
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and equal(value, expected):
            return
    raise Unauthorized("Signature does not match for source 'generic': check the signing secret "
                       "configured for this tenant (whsec_...).")


def parse(payload: Any, headers: Headers, options: Options = NO_OPTIONS, *,
          received_at: datetime) -> list[Event]:
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object.")
    case = payload.get("case")
    if not isinstance(case, dict) or not isinstance(case.get("id"), str | int) or case.get("id") == "":
        raise BadRequest("case.id is required (a string or number).")
    delivery = headers.get("webhook-id", "")
    if "occurred_at" in payload:
        occurred_at = parse_time(payload["occurred_at"], "occurred_at")
    else:
        # No time given: the moment we received it (webhook-timestamp has only whole seconds,
        # too coarse to order two quick updates).
        occurred_at = received_at
    message = payload.get("message")
    internal = isinstance(message, dict) and message.get("public") is not True
    return [Event(
        case_id=str(case["id"]),
        delivery_id=delivery,
        occurred_at=occurred_at,
        changes=_changes(case),
        update=None if internal else _update(message, occurred_at),
        internal=internal,
        sequence=_int(payload.get("sequence", 0), "sequence"),
    )]


def _changes(case: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in ("title", "status_label", "requester_email", "requester_name", "priority", "expected_reason"):
        if name in case:
            changes[name] = _text(case[name], f"case.{name}", nullable=name != "title")
    _choice(case, changes, "stage", STAGES)
    _choice(case, changes, "waiting_on", WAITING_ON)
    if "progress" in case:
        progress = case["progress"]
        if progress is not None and not (isinstance(progress, int) and 0 <= progress <= 100):
            raise BadRequest("case.progress must be a whole number from 0 to 100, or null.")
        changes["progress"] = progress
    if "expected_by" in case:
        value = case["expected_by"]
        changes["expected_by"] = None if value is None else parse_time(value, "case.expected_by")
        changes["expected_source"] = None if value is None else "helpdesk"
    if "expected_source" in case:
        _choice(case, changes, "expected_source", EXPECTED_SOURCES)
    if "next_steps" in case:
        changes["next_steps"] = tuple(_step(s, i) for i, s in enumerate(_list(case["next_steps"])))
    if "problem" in case:
        changes["problem"] = problem_link(case["problem"], "case.problem")
        if changes["problem"] == f"{NAME}:{case.get('id')}":
            raise BadRequest("case.problem: a case cannot be its own problem.")
    return changes


def _update(message: Any, occurred_at: datetime) -> Update | None:
    if message is None:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("body"), str):
        raise BadRequest("message must be an object with a body string.")
    if not isinstance(message.get("id"), str | int):
        raise BadRequest("message.id is required (a string or number).")
    at = parse_time(message["at"], "message.at") if "at" in message else occurred_at
    return Update(id=str(message["id"]), at=at, body=message["body"],
                  author_display=_text(message.get("author", ""), "message.author", nullable=False) or "")


def _step(value: Any, index: int) -> NextStep:
    where = f"case.next_steps[{index}]"
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        raise BadRequest(f"{where} must be an object with a text string.")
    owner = value.get("owner", "company")
    if owner not in OWNERS:
        raise BadRequest(f"{where}.owner must be one of {', '.join(OWNERS)}.")
    return NextStep(text=value["text"], owner=owner, done=bool(value.get("done", False)))


def _choice(case: dict[str, Any], changes: dict[str, Any], name: str, allowed: tuple[str, ...]) -> None:
    if name in case:
        if case[name] not in allowed:
            raise BadRequest(f"case.{name} must be one of {', '.join(allowed)}; got {case[name]!r}.")
        changes[name] = case[name]


def _text(value: Any, where: str, nullable: bool) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{where} must be a string.")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequest("case.next_steps must be a list.")
    return value


def _int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not -2**63 <= value < 2**63:
        raise BadRequest(f"{where} must be a whole number (64-bit).")
    return value
