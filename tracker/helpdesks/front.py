"""Front: a shared rule that sends conversation events to a webhook (rule webhook).

1. Settings > Company > App store > Webhooks > Enable app, and turn on "Send Full Event
   Data" (without it Front sends no subject, status or message text).
2. Front signs rule webhooks with your company's API secret (Settings > Company >
   Developers, on older accounts Plugins & API > API): copy it and connect with
   `tracker source add TENANT front --secret THAT_SECRET`.
3. Settings > Rules > New shared rule.
   When: inbound message received, outbound message sent, outbound reply sent,
   conversation archived, reopened, assigned, unassigned, moved to trash, restored,
   and new comment added (kept as activity only).
   If: the inboxes whose conversations customers follow.
   Then: Send to a Webhook, target: the webhook URL above.
Front signs each delivery: X-Front-Signature is the base64 HMAC-SHA1 of the body.
Each event's id (evt_...) makes a repeated delivery count once.
A case is one conversation (cnv_...).  Replies sent to the customer are shown as
updates, signed with the teammate's name; the customer's own messages only put the
ball in your court; comments (teammate discussion) are never shown, only their time.
Conversation status: unassigned is "received", assigned "in progress", archived
"resolved", deleted "closed"; after your reply it is the customer's move.
Application webhooks (X-Front-Request-Timestamp, SHA-256) are not supported.
"""

from __future__ import annotations

import re
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
    plain_text,
    require_header,
    require_object,
    status_changes,
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

NAME = "front"
TITLE = "Front"  # these four are this helpdesk's cells in the README's table
SIGNATURE = "`X-Front-Signature`, HMAC-SHA1 base64 (rule webhooks)"
DEDUPE = "event id"
INTERNAL = "comments and mentions"
OPTIONS = {  # tracker source add ... --option KEY=VALUE
    "api_token": "write-back: a Front API token with the comments scope; each new conversation then gets a "
                 "comment with its case link",
    "api_base": "write-back: the API address (default https://api2.frontapp.com)",
    "link_text": LINK_TEXT_HELP,
}

_MESSAGE_EVENTS = ("inbound", "outbound", "out_reply")
_STATUS_EVENTS = ("archive", "reopen", "assign", "unassign", "trash", "restore")
_INTERNAL_EVENTS = ("comment", "mention")  # teammate discussion
# Conversation status -> (stage, waiting_on); whose move it is follows the messages instead.
STATUSES: Mapping[str, Move] = {
    "unassigned": ("received", None),
    "assigned": ("in_progress", None),
    "archived": ("resolved", None),
    "deleted": ("closed", None),
}
# An event preview may lack the conversation's status; these events say it themselves.
_STAGE_BY_EVENT = {"archive": "resolved", "trash": "closed"}


def verify(headers: Headers, body: bytes, secret: str, now: datetime) -> None:
    signature = require_header(headers, "x-front-signature", NAME)
    if hmac_matches(signature, secret, body, digest="sha1", encoding="base64"):
        return
    if "x-front-request-timestamp" in headers:
        raise Unauthorized("X-Front-Signature does not match: this looks like a Front application webhook, "
                           "which source 'front' does not support; send the events from a rule instead.")
    raise Unauthorized("X-Front-Signature does not match for source 'front': connect the source with your "
                       "Front company's API secret (--secret).")


def parse(payload: Any, headers: Headers, options: Options = NO_OPTIONS, *,
          received_at: datetime | None = None) -> list[Event]:  # every payload carries its time
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object.")
    kind = payload.get("type")
    if kind not in _MESSAGE_EVENTS + _STATUS_EVENTS + _INTERNAL_EVENTS:
        return []  # tags, moves, links, bounces...
    conversation = require_object(payload.get("conversation"), "conversation")
    case_id = conversation.get("id")
    if not isinstance(case_id, str) or not case_id:
        raise BadRequest("conversation.id is required.")
    occurred_at = unix_time(payload.get("emitted_at"), "emitted_at")
    event_id = payload.get("id")
    delivery = event_id if isinstance(event_id, str) else ""
    if kind in _INTERNAL_EVENTS:
        # The comment is dropped, not the conversation's subject: a case first heard of through
        # an internal comment should not start without a title.
        subject = conversation.get("subject")
        title = {"title": subject} if isinstance(subject, str) else {}
        return [Event(case_id=case_id, delivery_id=delivery, occurred_at=occurred_at, changes=title, internal=True)]
    changes = _changes(conversation, kind)
    update = None
    if kind in ("outbound", "out_reply"):
        update = _update(payload.get("target"), occurred_at)
    return [Event(case_id=case_id, delivery_id=delivery, occurred_at=occurred_at, changes=changes, update=update)]


def _changes(conversation: dict[str, Any], kind: str) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if isinstance(conversation.get("subject"), str):
        changes["title"] = conversation["subject"]
    status = conversation.get("status")
    if isinstance(status, str):
        changes["status_label"] = status
        changes.update(status_changes(STATUSES, status))
    if kind in _STAGE_BY_EVENT:
        changes["stage"] = _STAGE_BY_EVENT[kind]
    if kind == "inbound":
        changes["waiting_on"] = "company"  # the customer wrote
    elif kind in ("outbound", "out_reply"):
        changes["waiting_on"] = "customer"  # the team answered
    recipient = conversation.get("recipient")
    handle = recipient.get("handle") if isinstance(recipient, dict) else None
    if isinstance(handle, str) and "@" in handle:  # handles are also phone numbers, social ids
        changes["requester_email"] = handle
    return changes


def _update(target: Any, occurred_at: datetime) -> Update:
    message = target.get("data") if isinstance(target, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("id"), str):
        raise BadRequest("target.data.id is required for a message event.")
    if isinstance(message.get("text"), str):
        body = message["text"].strip()
    elif isinstance(message.get("body"), str):
        body = plain_text(message["body"])
    else:
        raise BadRequest("target.data has no body: turn on \"Send Full Event Data\" in Front's Webhooks app.")
    at = unix_time(message["created_at"], "target.data.created_at") if "created_at" in message else occurred_at
    return Update(id=message["id"], at=at, body=body, author_display=_teammate_name(message.get("author")))


def _teammate_name(author: Any) -> str:
    if not isinstance(author, dict):
        return ""
    names = [author.get("first_name"), author.get("last_name")]
    full = " ".join(n for n in names if isinstance(n, str) and n)
    return full or str(author.get("username") or "")


# --- Write-back ---
# Front: a comment (teammates only) in the conversation with the case link.
#
# POST {api_base}/conversations/{cnv_id}/comments with {"body"}; Front answers 201. Without an
# author the comment is posted by the API token's own bot teammate. The API names a
# conversation `cnv_...`: the case id when it has that form, else the id in the conversation's
# `_links.self` of the webhook body that created the case. The API token (scope: comments)
# goes in `Authorization: Bearer`.

CREDENTIALS: tuple[str, ...] = ("api_token",)
REQUIRED: tuple[str, ...] = ()
FORMATS: Mapping[str, tuple[str, str]] = {}
DEFAULT_API_BASE = "https://api2.frontapp.com"
CONVERSATION_ID = re.compile(r"^cnv_[A-Za-z0-9]+$")


def link_request(case: NewCase) -> Request | None:
    conversation = case.case_id if CONVERSATION_ID.match(case.case_id) else _linked_id(case)
    if conversation is None:
        return None
    return json_request("POST", f"{api_base(case.options, DEFAULT_API_BASE)}/conversations/{conversation}/comments",
                        {"body": link_text(case, NOTE_TEXT)})


def _linked_id(case: NewCase) -> str | None:
    """Only the id is taken from the body: requests go to api_base, never to a URL a body names."""
    conversation = case.payload.get("conversation") if isinstance(case.payload, dict) else None
    if not isinstance(conversation, dict) or conversation.get("id") != case.case_id:
        return None
    links = conversation.get("_links")
    own = links.get("self") if isinstance(links, dict) else None
    found = own.rstrip("/").rpartition("/")[2] if isinstance(own, str) else ""
    return found if CONVERSATION_ID.match(found) else None


# An internal note (a nudge): the same comment with the nudge's text (comments are seen by
# teammates only). Without the webhook body, the conversation is the one the link was written to.
# https://dev.frontapp.com/reference/add-comment
def note_request(case: NewCase, text: str) -> Request | None:
    conversation = case.case_id if CONVERSATION_ID.match(case.case_id) else _linked_id(case)
    if conversation is None and case.link:
        found = _WRITTEN_COMMENT.search(str(case.link.get("url", "")))
        conversation = found.group(1) if found else None
    if conversation is None:
        return None
    return json_request("POST", f"{api_base(case.options, DEFAULT_API_BASE)}/conversations/{conversation}/comments",
                        {"body": text})


_WRITTEN_COMMENT = re.compile(r"/conversations/(cnv_[A-Za-z0-9]+)/comments$")


async def api_headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {option(options, 'api_token', NAME)}"}


WRITEBACK = Writeback(CREDENTIALS, link_request, api_headers, REQUIRED, FORMATS, note_request=note_request)
