"""Freshdesk: automation rules that trigger a webhook with the JSON body below.

Freshdesk does not sign webhooks, so the secret above is a shared token that Freshdesk
sends with every request; keep it as secret as a password.
In Admin > Workflows > Automations make three rules, each with the action "Trigger webhook":
  A. "Ticket creation" tab: every new ticket.
  B. "Ticket updates" tab, event "Status is changed".
  C. "Ticket updates" tab, event "Reply is sent" (an agent's public reply).
Action settings: request type POST, URL: the webhook URL above, encoding JSON, and ONE of
  - "Add custom headers": {"X-Tracker-Token": "<the secret above>"}   (recommended)
  - "Requires authentication" > username and password: any username, password = the secret
Content "Advanced", for rules A and B:

{"freshdesk_webhook": {"ticket_id": "{{ticket.id}}", "ticket_subject": "{{ticket.subject}}",
  "ticket_status": "{{ticket.status}}", "requester_name": "{{ticket.requester.name}}",
  "requester_email": "{{ticket.requester.email}}", "triggered_event": "{{triggered_event}}",
  "tracker_ticket_id": "{{ticket.tracker_ticket_id}}"}}

and for rule C the same with two more fields inside freshdesk_webhook:
  "ticket_latest_public_comment": "{{ticket.latest_public_comment}}",
  "ticket_agent_name": "{{ticket.agent.name}}"
A body with ticket_latest_public_comment becomes a public update under the assigned agent's
name (Freshdesk has no placeholder for a comment's author), so send it from rule C only.
Never send {{ticket.latest_private_comment}}; a delivery whose triggered_event is a private
note is kept as activity without any text.
Statuses: Open = in progress, our move (received on rule A); Pending and Waiting on
Customer = waiting on the customer; Waiting on Third Party = waiting on a third party;
Resolved = resolved; Closed = closed; a custom status shows its name only.
Linked problems: a ticket linked to a tracker ticket sends the tracker's id in
tracker_ticket_id, and its case is linked to the case freshdesk:<tracker id> (the tracker
ticket's own case, from the same rules). An empty tracker_ticket_id links nothing and
unlinks nothing: unlink with the admin API or `tracker problem unlink`.
Freshdesk sends no delivery id and no timestamp: a retry is recognised by its identical
body, and a change is dated when it arrives.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
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
    equal,
    plain_text,
    problem_link,
    status_changes,
    text_of,
)
from tracker.helpdesks.writing import NewCase, Request, Writeback, api_base, basic, json_request, option

NAME = "freshdesk"
TITLE = "Freshdesk"  # these four are this helpdesk's cells in the README's table
SIGNATURE = "no signing in Freshdesk: `X-Tracker-Token` header or basic-auth password"
DEDUPE = "hash of the body"
INTERNAL = "private notes"
OPTIONS = {  # tracker source add ... --option KEY=VALUE
    "api_token": "write-back: an agent's Freshdesk API key; each new ticket then gets its case link in link_field",
    "api_base": "write-back: your Freshdesk address, e.g. https://acme.freshdesk.com",
    "link_field": "write-back: the API name of the custom ticket field for the link, e.g. cf_case_link",
}
_TOKEN_HEADER = "x-tracker-token"
_TICKET_NUMBER = re.compile(r"[0-9]+")  # what {{ticket.id}} and {{ticket.tracker_ticket_id}} render

# {{ticket.status}} names (and the numbers in triggered_event) -> (stage, waiting_on).
STATUSES: Mapping[str, Move] = {
    "open": ("in_progress", "company"),
    "pending": ("in_progress", "customer"),
    "resolved": ("resolved", None),
    "closed": ("closed", None),
    "waiting on customer": ("in_progress", "customer"),
    "waiting on third party": ("in_progress", "third_party"),
}


def verify(headers: Headers, body: bytes, secret: str, now: datetime) -> None:
    token = headers.get(_TOKEN_HEADER)
    if token is None:
        token = _basic_auth_password(headers.get("authorization", ""))
    if token is None:
        raise Unauthorized("Missing X-Tracker-Token header (or basic authentication): add it to the Freshdesk "
                           "rule's \"Trigger webhook\" action, see `tracker source add TENANT freshdesk`.")
    if not equal(token, secret):
        raise Unauthorized("The X-Tracker-Token header (or basic-auth password) does not match this tenant's "
                           "Freshdesk secret: paste the secret printed by `tracker source add` into the rule.")


def _basic_auth_password(authorization: str) -> str | None:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("The Authorization header is not valid HTTP basic authentication.") from None
    return decoded.partition(":")[2]


def parse(payload: Any, headers: Headers, options: Options = NO_OPTIONS, *,
          received_at: datetime) -> list[Event]:
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object (see the Freshdesk template).")
    ticket = payload.get("freshdesk_webhook", payload)
    if not isinstance(ticket, dict):
        raise BadRequest("freshdesk_webhook must be an object.")
    case_id = text_of(ticket.get("ticket_id")).strip()
    if not case_id:
        raise BadRequest("freshdesk_webhook.ticket_id is required: the template needs "
                         "\"ticket_id\": \"{{ticket.id}}\".")
    # No timestamp placeholder exists: the moment we received it.
    occurred_at = received_at
    triggered = text_of(ticket.get("triggered_event")).replace(" ", "").lower()
    changes: dict[str, Any] = {}
    for field, key in (("title", "ticket_subject"), ("requester_name", "requester_name"),
                       ("requester_email", "requester_email")):
        value = text_of(ticket.get(key)).strip()
        if value:
            changes[field] = value
    changes.update(_problem(ticket, case_id))
    status = text_of(ticket.get("ticket_status")).strip()
    if status:
        changes["status_label"] = status
        changes.update(status_changes(STATUSES, status.lower()))
        if status.lower() == "open" and "ticket_action:created" in triggered:
            changes["stage"] = "received"  # rule A: a new ticket
    internal = "note_type:private" in triggered
    update = None if internal else _update(ticket, case_id, occurred_at)
    return [Event(case_id=case_id, delivery_id="", occurred_at=occurred_at, changes=changes,
                  update=update, internal=internal)]


def _problem(ticket: dict[str, Any], case_id: str) -> dict[str, Any]:
    """The tracker ticket this ticket is linked to, as its problem: {{ticket.tracker_ticket_id}}
    renders the tracker's number, or nothing when the ticket is not linked. An empty value
    links nothing and unlinks nothing: "unlinked in Freshdesk" looks like "never linked", and
    a link an admin made in tracker must stay."""
    tracker_id = text_of(ticket.get("tracker_ticket_id")).strip()
    if not tracker_id:
        return {}
    if not _TICKET_NUMBER.fullmatch(tracker_id):
        raise BadRequest("freshdesk_webhook.tracker_ticket_id must be a ticket number: the template needs "
                         "\"tracker_ticket_id\": \"{{ticket.tracker_ticket_id}}\".")
    if tracker_id == case_id:
        raise BadRequest("freshdesk_webhook.tracker_ticket_id names the ticket itself: a case cannot be its own "
                         "problem (send {{ticket.tracker_ticket_id}}, not {{ticket.id}}).")
    return {"problem": problem_link({"source": NAME, "id": tracker_id}, "freshdesk_webhook.tracker_ticket_id")}


def _update(ticket: dict[str, Any], case_id: str, occurred_at: datetime) -> Update | None:
    body = plain_text(text_of(ticket.get("ticket_latest_public_comment")))
    if not body:
        return None
    # No comment id either: the same comment text on the same ticket is the same update.
    digest = hashlib.sha256(f"{case_id}\n{body}".encode()).hexdigest()[:16]
    return Update(id=f"sha256:{digest}", at=occurred_at, body=body,
                  author_display=text_of(ticket.get("ticket_agent_name")).strip())


# --- Write-back ---
# Freshdesk: the case link in a custom ticket field, for canned responses and e-mail templates.
#
# PUT {api_base}/api/v2/tickets/{id} with {"custom_fields": {"cf_...": URL}}; Freshdesk answers
# 200. The agent's API key is the user name of HTTP basic authentication, with any password
# ("X"). A canned response then says `{{ticket.cf_...}}`.

CREDENTIALS: tuple[str, ...] = ("api_token",)
REQUIRED: tuple[str, ...] = ("api_base", "link_field")
FORMATS: Mapping[str, tuple[str, str]] = {
    "api_base": (r"^https?://[^\s/]+/?$", "your Freshdesk address, e.g. https://acme.freshdesk.com"),
    "link_field": (r"^cf_[a-z0-9_]+$", "the field's API name, which starts with cf_ (e.g. cf_case_link)"),
}


def link_request(case: NewCase) -> Request | None:
    if not case.case_id.isdigit():
        return None
    return json_request("PUT", f"{api_base(case.options)}/api/v2/tickets/{quote(case.case_id)}",
                        {"custom_fields": {case.options["link_field"]: case.url}})


# An internal note (a nudge): POST {api_base}/api/v2/tickets/{id}/notes with {"body": HTML,
# "private": true}; Freshdesk answers 201. The body is HTML: the text is escaped, its lines kept.
# https://developers.freshdesk.com/api/#add_note_to_a_ticket
def note_request(case: NewCase, text: str) -> Request | None:
    if not case.case_id.isdigit():
        return None
    body = "<br>".join(html.escape(line) for line in text.splitlines())
    return json_request("POST", f"{api_base(case.options)}/api/v2/tickets/{quote(case.case_id)}/notes",
                        {"body": body, "private": True})


async def api_headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": basic(option(options, "api_token", NAME), "X")}


WRITEBACK = Writeback(CREDENTIALS, link_request, api_headers, REQUIRED, FORMATS, note_request=note_request)
