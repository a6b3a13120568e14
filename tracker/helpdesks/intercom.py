"""Intercom: conversation webhooks of an Intercom app, signed with the app's client secret.

1. Intercom Developer Hub (app.intercom.com/a/apps/_/developer-hub) > your app (create a
   private app for your workspace if you have none) > Configure > Webhooks.
2. Endpoint URL: the webhook URL above.
3. Topics: conversation.user.created, conversation.user.replied,
   conversation.admin.replied, conversation.admin.noted, conversation.admin.closed,
   conversation.admin.opened, conversation.admin.snoozed, conversation.admin.unsnoozed,
   conversation.admin.assigned; and ticket.created, ticket.state.updated if you link
   conversations to tracker tickets. Save.
4. Intercom signs every notification with the app's client secret, which Intercom
   generates: copy it from Configure > Basic information > "Client secret" and store it
   here (the secret printed above is not used):
     tracker source add TENANT intercom --secret <client secret>

The case id is the conversation id. Teammates' replies (comment and assignment parts with
a body) are shown as public updates; internal notes (part_type "note") are kept as
activity without any text; the customer's own messages are not repeated back.
States: a new conversation = received; open = in progress (our move after the customer
wrote, the customer's move after a teammate replied); snoozed = in progress; closed =
closed (a later reply reopens it).
Linked problems: a conversation linked to a tracker ticket (linked_objects, Intercom API
version 2.10 or later) is linked to the case intercom:ticket-<ticket id>. A tracker ticket is a case
of its own, so that its conversations follow it: its title and ticket state (submitted =
received, in progress, waiting on customer, resolved); never its notes or replies. Customer
and back-office tickets, and other objects, are acknowledged and ignored.
Every request is checked against X-Hub-Signature (sha1=, hex HMAC-SHA1 of the body).
Intercom sends no timestamp header; a retried notification (same notification id
notif_...) is stored once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from tracker.cases import Event, Update
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks.base import (
    LINK_TEXT_HELP,
    NO_OPTIONS,
    Headers,
    Move,
    Options,
    hmac_matches,
    plain_text,
    problem_link,
    require_header,
    status_changes,
    text_of,
    unix_time,
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

NAME = "intercom"
TITLE = "Intercom"  # these four are the cells of this helpdesk's row in the README's table
SIGNATURE = "`X-Hub-Signature`, HMAC-SHA1 hex"
DEDUPE = "notification id"
INTERNAL = "`part_type: note`"
OPTIONS = {  # tracker source add ... --option KEY=VALUE
    "api_token": "write-back: your Intercom app's access token; each new conversation then gets an internal "
                 "note with its case link",
    "admin_id": "write-back: the id of the teammate the note is written as",
    "api_base": "write-back: https://api.eu.intercom.io or https://api.au.intercom.io outside the US "
                "(default https://api.intercom.io)",
    "link_text": LINK_TEXT_HELP,
}

# A conversation's state gives the stage; whose move it is comes from the topic (who wrote last).
STATUS_FIELD = "state"  # what the keys of STATUSES are, for the setup page
STATUSES: Mapping[str, Move] = {
    "open": ("in_progress", None),
    "snoozed": ("in_progress", None),
    "closed": ("closed", None),
}
# Parts a teammate writes that the customer receives (an assignment can carry a reply).
_PUBLIC_PARTS = ("comment", "assignment", "open", "close", "snoozed")
# Intercom's category of a ticket that tracks one problem for many conversations and customer tickets.
TRACKER = "Tracker"
# Tickets and conversations are numbered apart: a tracker ticket's case is "ticket-ID", so that it
# never meets a conversation of the same number.
TICKET_PREFIX = "ticket-"
# A tracker ticket's state category -> (stage, whose move): the problem's own progress.
TICKET_STATES: Mapping[str, Move] = {
    "submitted": ("received", "company"),
    "in_progress": ("in_progress", "company"),
    "waiting_on_customer": ("in_progress", "customer"),
    "resolved": ("resolved", None),
}


def verify(headers: Headers, body: bytes, secret: str, now: datetime) -> None:
    signature = require_header(headers, "x-hub-signature", NAME)
    if not hmac_matches(signature, secret, body, digest="sha1", prefix="sha1="):
        raise Unauthorized("X-Hub-Signature does not match: store your Intercom app's client secret with "
                           "`tracker source add TENANT intercom --secret ...`.")


def parse(payload: Any, headers: Headers, options: Options = NO_OPTIONS, *,
          received_at: datetime | None = None) -> list[Event]:  # every payload carries its time
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object (an Intercom notification).")
    topic = payload.get("topic")
    if not isinstance(topic, str):
        raise BadRequest("topic is required (an Intercom notification names its topic).")
    if topic.startswith("ticket."):
        return _tracker_ticket(payload)
    if not topic.startswith("conversation."):
        return []  # ping, contacts: nothing for a case
    item = _item(payload)
    case_id = _item_id(item, "the conversation id")
    delivery = text_of(payload.get("id"))  # notif_...: the same on every retry
    changes = _changes(item, topic)
    parts = _parts(item)
    if not parts:
        at = unix_time(item.get("updated_at") or payload.get("created_at"), "data.item.updated_at")
        return [Event(case_id=case_id, delivery_id=delivery, occurred_at=at, changes=changes)]
    events = []
    for index, part in enumerate(parts):
        at = unix_time(part.get("created_at"), f"conversation_parts[{index}].created_at")
        internal = part.get("part_type") == "note"
        events.append(Event(
            case_id=case_id,
            # One notification, several parts: each gets its own id so none is taken for a duplicate.
            delivery_id=f"{delivery}:{part.get('id', index)}" if delivery and len(parts) > 1 else delivery,
            occurred_at=at, changes=changes,
            update=None if internal else _update(part, at), internal=internal,
        ))
    return events


def _item(payload: dict[str, Any]) -> Any:
    data = payload.get("data")
    return data.get("item") if isinstance(data, dict) else None


def _item_id(item: Any, what: str) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str | int) or item.get("id") == "":
        raise BadRequest(f"data.item.id is required ({what}).")
    return str(item["id"])


def _tracker_ticket(payload: dict[str, Any]) -> list[Event]:
    """A tracker ticket: the problem its linked conversations wait on. Customer and back-office
    tickets mean nothing here (a customer ticket's conversation is the case)."""
    item = _item(payload)
    if not _is_tracker(item):
        return []
    case_id = TICKET_PREFIX + _item_id(item, "the ticket id")
    at = unix_time(item.get("updated_at") or payload.get("created_at"), "data.item.updated_at")
    # Its notes and replies are the team's own work on the problem: never taken.
    return [Event(case_id=case_id, delivery_id=text_of(payload.get("id")), occurred_at=at,
                  changes=_ticket_changes(item))]


def _is_tracker(item: Any) -> bool:
    if not isinstance(item, dict) or item.get("type") != "ticket":
        return False
    ticket_type = item.get("ticket_type")
    type_category = ticket_type.get("category") if isinstance(ticket_type, dict) else None
    return TRACKER in (item.get("category"), type_category)


def _ticket_changes(item: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    attributes = item.get("ticket_attributes")
    title = text_of(attributes.get("_default_title_")).strip() if isinstance(attributes, dict) else ""
    if title:
        changes["title"] = title
    # API 2.12 on: an object with a category and labels; 2.10 and 2.11: the category itself.
    state = item.get("ticket_state")
    category = state.get("category") if isinstance(state, dict) else state
    label = state.get("external_label") if isinstance(state, dict) else item.get("ticket_state_external_label")
    if text_of(label).strip():
        changes["status_label"] = text_of(label).strip()
    changes.update(status_changes(TICKET_STATES, text_of(category)))
    return changes


def _problem(item: dict[str, Any]) -> dict[str, Any]:
    """The tracker ticket the conversation is linked to (Intercom allows one) as the case's
    problem. No link in the payload links nothing: it never unlinks what an admin linked."""
    linked = item.get("linked_objects")
    entries = linked.get("data") if isinstance(linked, dict) else None
    if not isinstance(entries, list):
        return {}  # API versions before 2.10 send no linked_objects
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and entry.get("type") == "ticket" and entry.get("category") == TRACKER:
            where = f"data.item.linked_objects.data[{index}]"
            ticket_id = entry.get("id")
            if isinstance(ticket_id, int) and not isinstance(ticket_id, bool):
                ticket_id = str(ticket_id)
            if not isinstance(ticket_id, str) or not ticket_id.strip():
                raise BadRequest(f"{where}.id: give the tracker ticket's id.")
            return {"problem": problem_link({"source": NAME, "id": TICKET_PREFIX + ticket_id}, where)}
    return {}  # linked conversations and back-office tickets are not problems


def _changes(item: dict[str, Any], topic: str) -> dict[str, Any]:
    changes: dict[str, Any] = _problem(item)
    message = item.get("conversation_message") or item.get("source") or {}
    title = plain_text(text_of(message.get("subject"))) if isinstance(message, dict) else ""
    if title:
        changes["title"] = title
    user = item.get("user") or (message.get("author") if isinstance(message, dict) else None)
    if isinstance(user, dict) and user.get("type") in ("user", "lead", "contact"):
        for field, key in (("requester_email", "email"), ("requester_name", "name")):
            if isinstance(user.get(key), str) and user[key]:  # an anonymous lead's email is ""
                changes[field] = user[key]
    state = text_of(item.get("state"))
    if state:
        changes["status_label"] = state.capitalize()
    if topic == "conversation.user.created":  # a new conversation, whatever its state
        changes.update(stage="received", waiting_on="company")
        return changes
    changes.update(status_changes(STATUSES, state))
    if changes.get("stage") == "in_progress":  # whose move: the other side of who wrote last
        if topic == "conversation.user.replied":
            changes["waiting_on"] = "company"
        elif topic == "conversation.admin.replied":
            changes["waiting_on"] = "customer"
    return changes


def _parts(item: dict[str, Any]) -> list[dict[str, Any]]:
    container = item.get("conversation_parts")
    parts = container.get("conversation_parts") if isinstance(container, dict) else None
    if parts is None:
        return []
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise BadRequest("data.item.conversation_parts.conversation_parts must be a list of objects.")
    return parts


def _update(part: dict[str, Any], at: datetime) -> Update | None:
    author = part.get("author")
    author = author if isinstance(author, dict) else {}
    body = plain_text(text_of(part.get("body")))
    if not body or part.get("part_type") not in _PUBLIC_PARTS or author.get("type") not in ("admin", "bot"):
        return None  # a state change without words, or the customer's own message
    return Update(id=str(part.get("id", "")), at=at, body=body, author_display=text_of(author.get("name")))


# --- Write-back ---
# Intercom: an internal note in the conversation with the case link, for the teammate to pass on.
#
# POST {api_base}/conversations/{id}/reply with {"message_type": "note", "type": "admin",
# "admin_id", "body"}; Intercom answers 200. The note is written in the name of the teammate
# `admin_id`. The app's access token goes in `Authorization: Bearer`.

CREDENTIALS: tuple[str, ...] = ("api_token",)
REQUIRED: tuple[str, ...] = ("admin_id",)
FORMATS: Mapping[str, tuple[str, str]] = {
    "admin_id": (r"^[0-9]+$", "the teammate's id, the number in their Intercom profile's address"),
}
DEFAULT_API_BASE = "https://api.intercom.io"  # Europe: https://api.eu.intercom.io, Australia: https://api.au.intercom.io
API_VERSION = "2.11"


def link_request(case: NewCase) -> Request | None:
    if _is_tracker(_item(case.payload) if isinstance(case.payload, dict) else None):
        return None  # a tracker ticket has no customer to pass a link to
    text = link_text(case, NOTE_TEXT)
    return json_request("POST", f"{api_base(case.options, DEFAULT_API_BASE)}/conversations/"
                                f"{quote(case.case_id, safe='')}/reply", {
        "message_type": "note", "type": "admin", "admin_id": case.options["admin_id"], "body": text,
    })


# An internal note (a nudge): the same reply of message_type "note", with the nudge's text; notes
# are seen by teammates only. https://developers.intercom.com/docs/references/rest-api/api.intercom.io/conversations/replyconversation
def note_request(case: NewCase, text: str) -> Request | None:
    if case.case_id.startswith(TICKET_PREFIX):
        return None  # a tracker ticket: no conversation to write into
    return json_request("POST", f"{api_base(case.options, DEFAULT_API_BASE)}/conversations/"
                                f"{quote(case.case_id, safe='')}/reply", {
        "message_type": "note", "type": "admin", "admin_id": case.options["admin_id"], "body": text,
    })


async def api_headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {option(options, 'api_token', NAME)}", "Accept": "application/json",
            "Intercom-Version": API_VERSION}


WRITEBACK = Writeback(CREDENTIALS, link_request, api_headers, REQUIRED, FORMATS, note_request=note_request)
