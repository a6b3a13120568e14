"""Linear: a workspace webhook for issues (and comments, as activity only).

In Linear: Settings > API > Webhooks > New webhook (workspace admins).
  URL: the webhook URL above.  Team: the team whose issues customers follow, or all
  public teams.  Data change events: tick Issues (and Comments if you like).
  Linear generates the signing secret: copy it from the webhook's page and connect
  with `tracker source add TENANT linear --secret THAT_SECRET`.
Linear signs each delivery: Linear-Signature is the hex HMAC-SHA256 of the body, and
the body's webhookTimestamp must be within 60 seconds of our clock (keep the server's
clock in sync).
A case is one issue, named by its identifier (e.g. WEB-43).  Its title and workflow
state reach the customer: triage, backlog and unstarted states are "received",
started is "in progress", completed is "resolved", canceled is "closed"; the state's
name (e.g. "In Review") is shown beside the stage.
Linear has no customer-facing comments: every comment is kept as internal activity
without its text, and issue descriptions are never shown.  A team that writes its Linear
comments for customers can opt in:
  tracker source add TENANT linear --secret THAT_SECRET --option public_comments=yes
Linked problems are not read from Linear: an issue names its parent only by UUID (parentId),
not by the identifier cases go by, and issue relations (blocks, related, duplicate) send no
webhook.  Link a case to a Linear issue with `tracker problem link` or the admin API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from tracker.cases import Event, Update
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks.base import (
    LINK_TEXT_HELP,
    NO_OPTIONS,
    Headers,
    Move,
    Options,
    check_timestamp,
    hmac_matches,
    parse_time,
    require_header,
    require_object,
    status_changes,
    text_of,
)
from tracker.helpdesks.writing import (
    NOTE_TEXT,
    NewCase,
    Request,
    Writeback,
    api_base,
    json_request,
    link_text,
    option,
)

NAME = "linear"
TITLE = "Linear"  # these four are this helpdesk's cells in the README's table
SIGNATURE = "`Linear-Signature` HMAC-SHA256 hex, `webhookTimestamp` within 60 s"
DEDUPE = "`Linear-Delivery`"
INTERNAL = ("every comment (Linear has no customer-facing comments), unless the tenant opts in with "
            "`--option public_comments=yes`")
OPTIONS = {
    "public_comments": "yes: show Linear comments to the customer as updates",
    "api_token": "write-back: a personal API key (lin_api_...); each new issue then gets a comment with its "
                 "case link",
    "api_base": "write-back: the API address (default https://api.linear.app)",
    "link_text": LINK_TEXT_HELP,
}
TOLERANCE_SECONDS = 60  # what Linear's own SDK allows

# Workflow state type -> (stage, waiting_on): Linear tracks work, so the move is always the company's.
STATUS_FIELD = "workflow state type"  # what the keys of STATUSES are, for the setup page
STATUSES: Mapping[str, Move] = {
    "triage": ("received", "company"),
    "backlog": ("received", "company"),
    "unstarted": ("received", "company"),
    "started": ("in_progress", "company"),
    "completed": ("resolved", "company"),
    "canceled": ("closed", "company"),
}
# updatedFrom keys of an Issue update that change what the case shows.
_CASE_KEYS = ("title", "stateId")
_IDENTIFIER_IN_URL = re.compile(r"/issue/([A-Za-z0-9]+-[0-9]+)")


def verify(headers: Headers, body: bytes, secret: str, now: datetime) -> None:
    signature = require_header(headers, "linear-signature", NAME)
    if not hmac_matches(signature, secret, body):
        raise Unauthorized("Linear-Signature does not match for source 'linear': connect the source with the "
                           "webhook's signing secret from Linear (--secret).")
    # The timestamp lives inside the signed body, so it is checked once the body is trusted.
    try:
        sent_ms = orjson.loads(body).get("webhookTimestamp")  # orjson: nesting is bounded, not a RecursionError
    except (orjson.JSONDecodeError, AttributeError):
        raise BadRequest("The body is not a JSON object.") from None
    if not isinstance(sent_ms, int) or isinstance(sent_ms, bool) or not 0 <= sent_ms < 10**14:
        raise Unauthorized("The body has no webhookTimestamp (milliseconds): is this a Linear webhook?")
    check_timestamp(str(sent_ms // 1000), now, TOLERANCE_SECONDS, NAME)


def parse(payload: Any, headers: Headers, options: Options = NO_OPTIONS, *,
          received_at: datetime | None = None) -> list[Event]:  # every payload carries its time
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object.")
    kind, action = payload.get("type"), payload.get("action")
    if kind == "Issue" and action == "remove":
        return _removed(payload, headers)
    if kind not in ("Issue", "Comment") or action not in ("create", "update"):
        return []  # labels, projects, cycles, reactions, removed comments...
    data = payload.get("data")
    if not isinstance(data, dict):
        raise BadRequest("data must be a JSON object.")
    delivery = headers.get("linear-delivery", "")
    occurred_at = parse_time(payload.get("createdAt") or data.get("updatedAt"), "createdAt")
    if kind == "Comment":
        issue = data.get("issue")
        case_id = _identifier(issue if isinstance(issue, dict) else {}, payload.get("url"), "data.issue.identifier")
        if options.get("public_comments") == "yes" and isinstance(data.get("body"), str):
            user = data.get("user")
            author = user.get("name") if isinstance(user, dict) else None
            update = Update(id=text_of(data.get("id")) or delivery, at=occurred_at, body=data["body"],
                            author_display=author if isinstance(author, str) else "")
            return [Event(case_id=case_id, delivery_id=delivery, occurred_at=occurred_at, update=update)]
        # Linear comments are not written for customers: only the moment of activity is kept
        # (and the issue's title, so that a case first heard of through a comment has one).
        title = issue.get("title") if isinstance(issue, dict) else None
        return [Event(case_id=case_id, delivery_id=delivery, occurred_at=occurred_at,
                      changes={"title": title} if isinstance(title, str) else {}, internal=True)]
    updated_from = payload.get("updatedFrom")
    if action == "update" and isinstance(updated_from, dict) and not any(k in updated_from for k in _CASE_KEYS):
        return []  # only labels, estimates, ordering... changed
    return [Event(
        case_id=_identifier(data, payload.get("url"), "data.identifier"),
        delivery_id=delivery,
        occurred_at=occurred_at,
        changes=_changes(data),
    )]


def _removed(payload: dict[str, Any], headers: Headers) -> list[Event]:
    """An issue moved to the trash (or deleted): the case ends, and says why."""
    data = require_object(payload.get("data"), "data")
    at = parse_time(payload.get("createdAt"), "createdAt")  # when Linear sent it: the removal
    return [Event(case_id=_identifier(data, payload.get("url"), "data.identifier"),
                  delivery_id=headers.get("linear-delivery", ""), occurred_at=at,
                  changes={"stage": "closed", "status_label": "Removed"})]


def _changes(issue: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if isinstance(issue.get("title"), str):
        changes["title"] = issue["title"]
    state = issue.get("state")
    if isinstance(state, dict):
        if isinstance(state.get("name"), str):
            changes["status_label"] = state["name"]
        if isinstance(state.get("type"), str):  # a state type Linear adds later keeps the stage as it is
            changes.update(status_changes(STATUSES, state["type"]))
    return changes


def _identifier(issue: dict[str, Any], url: Any, where: str) -> str:
    """The human id (WEB-43): `identifier`, else team key and number, else the issue URL."""
    if isinstance(issue.get("identifier"), str) and issue["identifier"]:
        return str(issue["identifier"])
    team = issue.get("team")
    if isinstance(team, dict) and isinstance(team.get("key"), str) and isinstance(issue.get("number"), int):
        return f"{team['key']}-{issue['number']}"
    match = _IDENTIFIER_IN_URL.search(url) if isinstance(url, str) else None
    if match is None:
        raise BadRequest(f"{where} is required (or data.team.key and data.number, or the issue url).")
    return match.group(1)


# --- Write-back ---
# Linear: a comment on the issue with the case link (Linear comments are workspace-internal).
#
# POST {api_base}/graphql with the `commentCreate` mutation, naming the issue by its UUID, which
# the webhook body that created the case carries (`data.id` of an Issue event, `data.issueId` of
# a Comment event). A personal API key goes in `Authorization` as it is (no "Bearer").
# GraphQL reports some errors in an `errors` list of a 200 answer: a 2xx answer counts as
# delivered.

CREDENTIALS: tuple[str, ...] = ("api_token",)
REQUIRED: tuple[str, ...] = ()
FORMATS: Mapping[str, tuple[str, str]] = {
    "api_token": (r"^lin_api_\S+$", "a personal API key (Settings > Security & access), starting lin_api_"),
}
DEFAULT_API_BASE = "https://api.linear.app"
MUTATION = "mutation CaseLink($input: CommentCreateInput!) { commentCreate(input: $input) { success } }"


def link_request(case: NewCase) -> Request | None:
    issue_id = _issue_uuid(case.payload)
    if issue_id is None:
        return None
    return json_request("POST", f"{api_base(case.options, DEFAULT_API_BASE)}/graphql", {
        "query": MUTATION, "variables": {"input": {"issueId": issue_id, "body": link_text(case, NOTE_TEXT)}},
    })


def _issue_uuid(payload: Any) -> str | None:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return None
    found = data.get("id") if payload.get("type") == "Issue" else data.get("issueId")
    return found if isinstance(found, str) and found else None


async def api_headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": option(options, "api_token", NAME)}


WRITEBACK = Writeback(CREDENTIALS, link_request, api_headers, REQUIRED, FORMATS)
