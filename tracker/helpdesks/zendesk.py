"""Zendesk: a webhook signed by Zendesk, called by a trigger with the JSON body below.

1. Admin Center > Apps and integrations > Webhooks > Create webhook > "Trigger or automation".
   Endpoint URL: the webhook URL above. Request method POST, request format JSON,
   authentication None. Create it, open it and click "Reveal secret": Zendesk generates the
   signing secret. Store it here (the secret printed above is not used):
     tracker source add TENANT zendesk --secret <the revealed secret>
2. Admin Center > Objects and rules > Business rules > Triggers > Add trigger.
   Conditions, "Meet ANY": Ticket > Is > Created; Ticket > Is > Updated.
   Action: Notify by > Active webhook > the webhook of step 1, with this JSON body:

{"ticket": {"id": "{{ticket.id}}", "title": "{{ticket.title}}",
            "status": "{{ticket.status}}", "updated_at": "{{ticket.updated_at_with_timestamp}}",
            "requester_name": "{{ticket.requester.name}}",
            "requester_email": "{{ticket.requester.email}}"},
 "latest_comment_public": "{{ticket.latest_comment.is_public}}",
 "comment": {"id": "{{ticket.latest_public_comment.id}}",
             "author": "{{ticket.latest_public_comment.author.name}}",
             "author_email": "{{ticket.latest_public_comment.author.email}}",
             "body": "{{ticket.latest_public_comment.value}}"}}

Only the latest PUBLIC comment is sent, and only an agent's comment is shown to the
customer (a comment by the requester is not repeated back). An update whose latest comment
is internal is kept as activity without any text. Statuses: New = received; Open =
in progress, our move; Pending = waiting on the customer; On-hold = waiting on a third
party; Solved = resolved; Closed = closed (the English status names: keep the account's
language English, or the case shows Zendesk's wording without a stage).
Every request is checked against X-Zendesk-Webhook-Signature (HMAC-SHA256 of the signature
timestamp and the body, base64); requests more than 5 minutes old are rejected. A retried
delivery (same X-Zendesk-Webhook-Invocation-Id) is stored once.

Linked problems: "problem_id" in "ticket", the id of the problem ticket an incident is linked
to (the Tickets API's name), links the case to that ticket's case. We know of no Zendesk
placeholder for it, so the body above has none; if a number field of yours holds it, add
"problem_id": "{{ticket.ticket_field_FIELD_ID}}". Empty means no link, and never undoes one:
unlink with `tracker problem unlink` or the admin API.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from tracker.cases import Event, Update
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks.base import (
    NO_OPTIONS,
    Headers,
    Move,
    Options,
    hmac_matches,
    parse_time,
    problem_link,
    require_header,
    status_changes,
    text_of,
)
from tracker.helpdesks.writing import NewCase, Request, Writeback, api_base, basic, json_request, option

NAME = "zendesk"
TITLE = "Zendesk"  # these four are this helpdesk's cells in the README's table
SIGNATURE = "`X-Zendesk-Webhook-Signature`, HMAC-SHA256 of timestamp + body, 5 min"
DEDUPE = "`X-Zendesk-Webhook-Invocation-Id`"
INTERNAL = "non-public comments"
OPTIONS = {  # tracker source add ... --option KEY=VALUE
    "api_token": "write-back: a Zendesk API token; each new ticket then gets its case link in link_field_id",
    "api_email": "write-back: the e-mail address of the agent the token acts for",
    "api_base": "write-back: your Zendesk address, e.g. https://acme.zendesk.com",
    "link_field_id": "write-back: the id (a number) of the text ticket field for the link",
}
_TOLERANCE_SECONDS = 5 * 60  # Zendesk documents none; Standard Webhooks' choice
_TICKET_ID = re.compile(r"[1-9][0-9]{0,18}")  # Zendesk's ids are 64-bit integers, written in ASCII digits
_UNRENDERED = re.compile(r"\{\{.*\}\}")  # a placeholder Zendesk did not fill
_JSON_KINDS = {dict: "an object", list: "a list", bool: "true or false", float: "a decimal number"}

# {{ticket.status}} as rendered, lower-cased, "-" as a space -> (stage, waiting_on or None).
STATUSES: Mapping[str, Move] = {
    "new": ("received", "company"),
    "open": ("in_progress", "company"),
    "pending": ("in_progress", "customer"),
    "hold": ("in_progress", "third_party"),
    "on hold": ("in_progress", "third_party"),
    "solved": ("resolved", None),
    "closed": ("closed", None),
}


def verify(headers: Headers, body: bytes, secret: str, now: datetime) -> None:
    signature = require_header(headers, "x-zendesk-webhook-signature", NAME)
    timestamp = require_header(headers, "x-zendesk-webhook-signature-timestamp", NAME)
    try:
        sent = parse_time(timestamp, "x-zendesk-webhook-signature-timestamp")
    except BadRequest:
        raise Unauthorized("The X-Zendesk-Webhook-Signature-Timestamp header is not an ISO 8601 time.") from None
    if abs((now - sent).total_seconds()) > _TOLERANCE_SECONDS:
        raise Unauthorized(
            f"X-Zendesk-Webhook-Signature-Timestamp is more than {_TOLERANCE_SECONDS} s away from our clock: "
            "a replay, or a delayed retry; Zendesk signs each new attempt afresh."
        )
    if not hmac_matches(signature, secret, timestamp.encode() + body, encoding="base64"):
        raise Unauthorized("X-Zendesk-Webhook-Signature does not match: store the webhook's revealed signing "
                           "secret with `tracker source add TENANT zendesk --secret ...`.")


def parse(payload: Any, headers: Headers, options: Options = NO_OPTIONS, *,
          received_at: datetime) -> list[Event]:
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object (see the trigger template in the Zendesk setup).")
    ticket = _ticket(payload)
    case_id = str(ticket.get("id") or "").strip()
    if not case_id:
        raise BadRequest("ticket.id is required: the trigger body needs \"id\": \"{{ticket.id}}\".")
    occurred_at = _occurred_at(ticket.get("updated_at"), headers, received_at)
    changes: dict[str, Any] = {}
    for field in ("title", "requester_name", "requester_email"):
        value = text_of(ticket.get(field))
        if value:
            changes[field] = value
    status = text_of(ticket.get("status"))
    if status:
        changes["status_label"] = status
        changes.update(status_changes(STATUSES, status.lower().replace("-", " ")))
    problem = _problem(ticket.get("problem_id"), case_id)
    if problem:  # a payload only ever links: no value here is no news, not an unlink
        changes["problem"] = problem
    internal = text_of(payload.get("latest_comment_public")).lower() == "false"
    update = None if internal else _update(payload.get("comment"), ticket, occurred_at)
    return [Event(case_id=case_id, delivery_id=headers.get("x-zendesk-webhook-invocation-id", ""),
                  occurred_at=occurred_at, changes=changes, update=update, internal=internal)]


def _ticket(payload: dict[str, Any]) -> dict[str, Any]:
    """Our template nests the ticket; Zulip's widely copied template is flat (ticket_id, ...)."""
    ticket = payload.get("ticket")
    if isinstance(ticket, dict):
        return ticket
    if ticket is not None:
        raise BadRequest("ticket must be an object.")
    return {"id": payload.get("ticket_id"), "title": payload.get("ticket_title"),
            "status": payload.get("ticket_status"), "updated_at": payload.get("updated_at"),
            "requester_name": payload.get("requester_full_name") or payload.get("requester_name"),
            "requester_email": payload.get("requester_email")}


def _problem(value: Any, case_id: str) -> str | None:
    """The incident's link to its problem ticket, as the case keeps it ("zendesk:ID"), or None."""
    problem_id = _problem_id(value)
    if problem_id is None:
        return None
    if problem_id == case_id:
        raise BadRequest("ticket.problem_id names the ticket itself: a ticket cannot be its own problem.")
    return problem_link({"source": NAME, "id": problem_id}, "ticket.problem_id")


def _problem_id(value: Any) -> str | None:
    """ticket.problem_id written as case ids are ("35436"); None when it names no ticket: absent,
    empty, 0, or a placeholder left as it was. BadRequest for anything else but a ticket id."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        value = str(value)
    text = value.strip() if isinstance(value, str) else None
    if value is None or (text is not None and _no_ticket(text)):
        return None
    if text is None or not _TICKET_ID.fullmatch(text):
        shown = repr(text[:40]) if text is not None else _JSON_KINDS.get(type(value), "a number out of range")
        raise BadRequest(f"ticket.problem_id must be the problem ticket's id (digits), or empty; got {shown}.")
    return text


def _no_ticket(text: str) -> bool:
    return text in ("", "0") or bool(_UNRENDERED.fullmatch(text))


def _occurred_at(updated_at: Any, headers: Headers, received_at: datetime) -> datetime:
    """{{ticket.updated_at_with_timestamp}} when the template has it, else the signing time.

    ({{ticket.updated_at}} renders a date without a time, too coarse to order two updates.)
    """
    for value in (updated_at, headers.get("x-zendesk-webhook-signature-timestamp")):
        try:
            return parse_time(value, "ticket.updated_at")
        except BadRequest:
            continue
    return received_at


def _update(comment: Any, ticket: dict[str, Any], occurred_at: datetime) -> Update | None:
    if comment is None:
        return None
    if not isinstance(comment, dict):
        raise BadRequest("comment must be an object.")
    body = text_of(comment.get("body")).strip()
    author_email = text_of(comment.get("author_email")).lower()
    if not body or (author_email and author_email == text_of(ticket.get("requester_email")).lower()):
        return None  # no public comment yet, or the requester's own words
    comment_id = text_of(comment.get("id")) or "sha256:" + hashlib.sha256(body.encode()).hexdigest()[:16]
    # Zendesk has no placeholder for a comment's exact time: the update is stamped with the
    # ticket's update time that carried it.
    return Update(id=comment_id, at=occurred_at, body=body, author_display=text_of(comment.get("author")))


# --- Write-back ---
# Zendesk: the case link in a ticket field, for macros and e-mail templates.
#
# PUT {api_base}/api/v2/tickets/{id}.json with
# {"ticket": {"custom_fields": [{"id": FIELD_ID, "value": URL}]}}; Zendesk answers 200. An API
# token authenticates as `{email}/token:{api_token}` in HTTP basic authentication. A macro or
# trigger e-mail then says `{{ticket.ticket_field_FIELD_ID}}`.

CREDENTIALS: tuple[str, ...] = ("api_token",)
REQUIRED: tuple[str, ...] = ("api_base", "api_email", "link_field_id")
FORMATS: Mapping[str, tuple[str, str]] = {
    "api_base": (r"^https?://[^\s/]+/?$", "your Zendesk address, e.g. https://acme.zendesk.com"),
    "link_field_id": (r"^[0-9]+$", "the ticket field's number, from Admin Center > Objects and rules > Tickets > "
                                   "Fields (the ID column)"),
}


def link_request(case: NewCase) -> Request | None:
    if not case.case_id.isdigit():
        return None
    field = {"id": int(case.options["link_field_id"]), "value": case.url}
    return json_request("PUT", f"{api_base(case.options)}/api/v2/tickets/{quote(case.case_id)}.json",
                        {"ticket": {"custom_fields": [field]}})


# An internal note (a nudge): a private comment, added by updating the ticket with
# {"ticket": {"comment": {"body": TEXT, "public": false}}} (the same PUT; Zendesk answers 200). Comments
# are created through the Tickets API; `public: false` makes it an internal note.
# https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/
def note_request(case: NewCase, text: str) -> Request | None:
    if not case.case_id.isdigit():
        return None
    return json_request("PUT", f"{api_base(case.options)}/api/v2/tickets/{quote(case.case_id)}.json",
                        {"ticket": {"comment": {"body": text, "public": False}}})


async def api_headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": basic(f"{option(options, 'api_email', NAME)}/token", option(options, "api_token", NAME))}


WRITEBACK = Writeback(CREDENTIALS, link_request, api_headers, REQUIRED, FORMATS, note_request=note_request)
