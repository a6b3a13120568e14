"""Zammad tickets and articles, signed with X-Hub-Signature (HMAC-SHA1).

1. Settings > Manage > Webhook > New Webhook:
     Name                         Case tracker
     Endpoint                     the webhook URL printed above
     HMAC SHA1 Signature Token    the secret printed above (Zammad takes any text you
                                  paste; to keep your own, connect with
                                  `tracker source add TENANT zammad --secret ...`)
     SSL Verification             yes
   Leave "Custom Payload" off: the tracker reads Zammad's default ticket/article body.
2. Settings > Manage > Trigger > New Trigger:
     Name            Case tracker
     Activated by    Action; Action execution: Always
     Conditions      Ticket > Action is created, updated
     Execute         Notification > Webhook: Case tracker
   Every ticket change and every new article is then sent; each delivery is verified
   with HMAC-SHA1 over the raw body and stored once per X-Zammad-Delivery id.

What the case page shows (the case id is the ticket number, e.g. 10081):
  new -> received; open -> in progress; pending reminder -> in progress, waiting on
  the customer; pending close -> resolved, waiting on the customer; closed, merged,
  removed -> closed; other states are shown by name only.
  Public agent articles are public updates (HTML reduced to plain text, the agent's
  name as author). Internal articles are kept as activity without their text;
  customer and system articles move the case but are not repeated on the page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tracker.cases import Event, Update
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks.base import (
    LINK_TEXT_HELP,
    NO_OPTIONS,
    Headers,
    Move,
    Options,
    hmac_matches,
    parse_time,
    plain_text,
    require_header,
    status_changes,
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

NAME = "zammad"
TITLE = "Zammad"  # these four are this helpdesk's cells in the README's table
SIGNATURE = "`X-Hub-Signature`, HMAC-SHA1 hex"
DEDUPE = "`X-Zammad-Delivery`"
INTERNAL = "`internal: true` articles"
OPTIONS = {  # tracker source add ... --option KEY=VALUE
    "api_token": "write-back: an access token with ticket.agent; each new ticket then gets an internal note with "
                 "its case link",
    "api_base": "write-back: your Zammad address, e.g. https://support.example.com",
    "link_text": LINK_TEXT_HELP,
}

# Zammad's default ticket states -> (stage, waiting_on); waiting_on None leaves it as it is.
STATUS_FIELD = "state"  # what the keys of STATUSES are, for the setup page
STATUSES: Mapping[str, Move] = {
    "new": ("received", "company"),
    "open": ("in_progress", "company"),
    "pending reminder": ("in_progress", "customer"),
    "pending close": ("resolved", "customer"),
    "closed": ("closed", None),
    "merged": ("closed", None),
    "removed": ("closed", None),
}


def verify(headers: Headers, body: bytes, secret: str, now: datetime) -> None:
    signature = require_header(headers, "x-hub-signature", NAME)
    if not hmac_matches(signature, secret, body, digest="sha1", prefix="sha1="):
        raise Unauthorized("X-Hub-Signature does not match for source 'zammad': paste the secret printed by "
                           "`tracker source add` into the webhook's HMAC SHA1 Signature Token field.")


def parse(payload: Any, headers: Headers, options: Options = NO_OPTIONS, *,
          received_at: datetime | None = None) -> list[Event]:  # every payload carries its time
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object.")
    ticket = payload.get("ticket")
    if not isinstance(ticket, dict):
        raise BadRequest("ticket is required (an object): turn off the webhook's Custom Payload.")
    number = ticket.get("number")
    if not isinstance(number, str | int) or number == "":
        raise BadRequest("ticket.number is required.")
    article = payload.get("article")
    article = article if isinstance(article, dict) and article else None  # {} when the trigger had none
    internal = article is not None and article.get("internal") is not False
    update = None
    if article is not None and not internal and article.get("sender") == "Agent":
        update = _update(article)
    return [Event(
        case_id=str(number),
        delivery_id=headers.get("x-zammad-delivery", ""),
        occurred_at=parse_time(ticket.get("updated_at"), "ticket.updated_at"),
        changes=_changes(ticket),
        update=update,
        internal=internal,
    )]


def _changes(ticket: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if isinstance(ticket.get("title"), str):
        changes["title"] = ticket["title"]
    state = ticket.get("state")
    state = state.get("name") if isinstance(state, dict) else state
    if isinstance(state, str):
        changes["status_label"] = state
        changes.update(status_changes(STATUSES, state.lower()))
    customer = ticket.get("customer")
    if isinstance(customer, dict):
        if isinstance(customer.get("email"), str) and customer["email"]:
            changes["requester_email"] = customer["email"]
        name = _name(customer)
        if name:
            changes["requester_name"] = name
    return changes


def _update(article: dict[str, Any]) -> Update:
    if not isinstance(article.get("id"), int):
        raise BadRequest("article.id is required (a number).")
    body = article.get("body")
    if not isinstance(body, str):
        raise BadRequest("article.body is required (a string).")
    if article.get("content_type") == "text/html":
        body = plain_text(body)
    author = article.get("created_by")
    return Update(id=str(article["id"]), at=parse_time(article.get("created_at"), "article.created_at"),
                  body=body, author_display=_name(author) if isinstance(author, dict) else "")


def _name(user: dict[str, Any]) -> str:
    parts = [user.get("firstname"), user.get("lastname")]
    return " ".join(p for p in parts if isinstance(p, str) and p)


# --- Write-back ---
# Zammad: an internal note on the ticket with the case link, for the agent to pass on.
#
# POST {api_base}/api/v1/ticket_articles with {"ticket_id", "body", "content_type": "text/plain",
# "type": "note", "internal": true}; Zammad answers 201. The case id is the ticket number
# customers see; the API wants the ticket's internal id, which the webhook body that created
# the case carries (`ticket.id`). An access token (permission ticket.agent) goes in
# `Authorization: Token token=...`.

CREDENTIALS: tuple[str, ...] = ("api_token",)
REQUIRED: tuple[str, ...] = ("api_base",)
FORMATS: Mapping[str, tuple[str, str]] = {"api_base": (r"^https?://[^\s/]+/?$", "your Zammad address, e.g. https://support.acme.example")}


def link_request(case: NewCase) -> Request | None:
    ticket = case.payload.get("ticket") if isinstance(case.payload, dict) else None
    if not isinstance(ticket, dict) or str(ticket.get("number")) != case.case_id:
        return None
    ticket_id = ticket.get("id")
    if not isinstance(ticket_id, int) or isinstance(ticket_id, bool):
        return None
    return json_request("POST", f"{api_base(case.options)}/api/v1/ticket_articles", {
        "ticket_id": ticket_id, "subject": "Case link", "body": link_text(case, NOTE_TEXT),
        "content_type": "text/plain", "type": "note", "internal": True,
    })


# An internal note (a nudge): the same internal article with the nudge's text. Without the
# webhook body, the ticket's id is the one the link's note was written to.
# https://docs.zammad.org/en/latest/api/ticket/articles.html
def note_request(case: NewCase, text: str) -> Request | None:
    ticket_id = _ticket_id(case)
    if ticket_id is None:
        return None
    return json_request("POST", f"{api_base(case.options)}/api/v1/ticket_articles", {
        "ticket_id": ticket_id, "subject": "tracker", "body": text, "content_type": "text/plain", "type": "note",
        "internal": True,
    })


def _ticket_id(case: NewCase) -> int | None:
    ticket = case.payload.get("ticket") if isinstance(case.payload, dict) else None
    if isinstance(ticket, dict) and str(ticket.get("number")) == case.case_id:
        found = ticket.get("id")
    else:
        try:
            found = json.loads(str(case.link.get("body", ""))).get("ticket_id") if case.link else None
        except (ValueError, AttributeError):
            found = None
    return found if isinstance(found, int) and not isinstance(found, bool) else None


async def api_headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Token token={option(options, 'api_token', NAME)}"}


WRITEBACK = Writeback(CREDENTIALS, link_request, api_headers, REQUIRED, FORMATS, note_request=note_request)
