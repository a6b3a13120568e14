"""Chatwoot conversations and messages, signed with X-Chatwoot-Signature.

In Chatwoot: Settings > Integrations > Webhooks > Add new webhook.
  Webhook URL   the webhook URL printed above
  Events        tick Conversation created, Conversation status changed,
                Message created and Message updated. Create.
Chatwoot generates the signing secret: open the webhook again, copy its secret and
connect (or reconnect) the source with it:
  tracker source add TENANT chatwoot --secret THE-CHATWOOT-SECRET
Needs a Chatwoot version that signs webhooks (added in February 2026): older ones
send no X-Chatwoot-Signature header and every delivery is refused with 401.
Each delivery is verified with HMAC-SHA256 over "{X-Chatwoot-Timestamp}.{raw body}";
a timestamp more than 5 minutes from our clock is refused (a replay, or a wrong clock);
a retry keeps its X-Chatwoot-Delivery id and is stored once.

What the case page shows (the case id is the conversation number shown in Chatwoot):
  new conversation -> received; pending -> received; open -> in progress;
  snoozed -> in progress, waiting on the customer; resolved -> resolved.
  Agents' public replies are public updates, with the agent's name. Private notes are
  kept as activity without their text. A customer message gives the move back to
  you but is not repeated on the page; activity and bot template messages are ignored.
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
    check_timestamp,
    hmac_matches,
    parse_time,
    require_header,
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

NAME = "chatwoot"
TITLE = "Chatwoot"  # these four are this helpdesk's cells in the README's table
SIGNATURE = "`X-Chatwoot-Signature`, HMAC-SHA256 of timestamp.body, 5 min"
DEDUPE = "`X-Chatwoot-Delivery`"
INTERNAL = "`private` messages"
OPTIONS = {  # tracker source add ... --option KEY=VALUE
    "api_token": "write-back: an agent's access token; each new conversation then gets a private note with its "
                 "case link",
    "account_id": "write-back: the number after /app/accounts/ in Chatwoot's address bar",
    "api_base": "write-back: your Chatwoot address when self-hosted (default https://app.chatwoot.com)",
    "link_text": LINK_TEXT_HELP,
}
TOLERANCE_SECONDS = 5 * 60

# Conversation status -> (stage, waiting_on).
STATUSES: Mapping[str, Move] = {
    "pending": ("received", "company"),
    "open": ("in_progress", "company"),
    "snoozed": ("in_progress", "customer"),
    "resolved": ("resolved", "customer"),
}


def verify(headers: Headers, body: bytes, secret: str, now: datetime) -> None:
    signature = require_header(headers, "x-chatwoot-signature", NAME)
    timestamp = require_header(headers, "x-chatwoot-timestamp", NAME)
    check_timestamp(timestamp, now, TOLERANCE_SECONDS, NAME)
    # The timestamp is inside the signed bytes, so it cannot be replaced on a replay.
    if not hmac_matches(signature, secret, timestamp.encode() + b"." + body, prefix="sha256="):
        raise Unauthorized("X-Chatwoot-Signature does not match for source 'chatwoot': connect the source with "
                           "the webhook's secret from Chatwoot (`tracker source add TENANT chatwoot --secret ...`).")


def parse(payload: Any, headers: Headers, options: Options = NO_OPTIONS, *,
          received_at: datetime | None = None) -> list[Event]:  # every payload carries its time
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object.")
    delivery = headers.get("x-chatwoot-delivery", "")
    kind = payload.get("event")
    event: Event | None
    if kind in ("conversation_created", "conversation_status_changed"):
        event = _conversation_event(payload, delivery, created=kind == "conversation_created")
    elif kind in ("message_created", "message_updated"):
        event = _message_event(payload, delivery)
    else:  # conversation_updated, contact events, widget events: nothing for the case page
        event = None
    return [] if event is None else [event]


def _conversation_event(conversation: dict[str, Any], delivery: str, created: bool) -> Event:
    status = conversation.get("status")
    if not isinstance(status, str):
        raise BadRequest("status is required (a string).")
    changes: dict[str, Any] = {"status_label": status.capitalize()}
    changes.update(status_changes(STATUSES, status))
    if created and status != "resolved":
        changes["stage"] = "received"
    changes.update(_requester(conversation))
    # updated_at (a float) is the change itself; older versions send only timestamp.
    at = conversation.get("updated_at") or conversation.get("timestamp")
    return Event(case_id=_id(conversation.get("id"), "id"), delivery_id=delivery,
                 occurred_at=_time(at, "updated_at"), changes=changes)


def _message_event(message: dict[str, Any], delivery: str) -> Event | None:
    conversation = message.get("conversation")
    if not isinstance(conversation, dict):
        raise BadRequest("conversation is required (an object).")
    case_id = _id(conversation.get("id"), "conversation.id")
    at = _time(message.get("created_at"), "created_at")
    kind = message.get("message_type")
    if message.get("private") is not False and kind != "incoming":
        # Private notes, and anything that does not say it is public, keep only their time.
        return Event(case_id=case_id, delivery_id=delivery, occurred_at=at, internal=True)
    if kind == "incoming":  # the customer wrote: the move is ours again
        return Event(case_id=case_id, delivery_id=delivery, occurred_at=at,
                     changes={"waiting_on": "company", **_requester(conversation)})
    if kind != "outgoing":
        return None  # activity ("resolved by Dana") and bot templates
    content = message.get("content")
    if not isinstance(content, str) or not content:
        return None  # an attachment without text
    sender = message.get("sender")
    author = (sender.get("available_name") or sender.get("name")) if isinstance(sender, dict) else None
    update = Update(id=_id(message.get("id"), "id"), at=at, body=content,
                    author_display=author if isinstance(author, str) else "")
    return Event(case_id=case_id, delivery_id=delivery, occurred_at=at, update=update)


def _requester(conversation: dict[str, Any]) -> dict[str, Any]:
    meta = conversation.get("meta")
    contact = meta.get("sender") if isinstance(meta, dict) else None
    if not isinstance(contact, dict):
        return {}
    found = {"requester_email": contact.get("email"), "requester_name": contact.get("name")}
    return {key: value for key, value in found.items() if isinstance(value, str) and value}


def _id(value: Any, where: str) -> str:
    if not isinstance(value, int | str) or isinstance(value, bool) or value == "":
        raise BadRequest(f"{where} is required (a number).")
    return str(value)


def _time(value: Any, where: str) -> datetime:
    # Message events carry ISO 8601 strings, conversation events Unix seconds.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return unix_time(value, where)
    return parse_time(value, where)


# --- Write-back ---
# Chatwoot: a private note in the conversation with the case link, for the agent to pass on.
#
# POST {api_base}/api/v1/accounts/{account_id}/conversations/{id}/messages with
# {"content", "message_type": "outgoing", "private": true}; Chatwoot answers 200. The id in the
# path is the conversation number shown in Chatwoot, which is the case id. An agent's access
# token (Profile settings) goes in the `api_access_token` header.

CREDENTIALS: tuple[str, ...] = ("api_token",)
REQUIRED: tuple[str, ...] = ("account_id",)
FORMATS: Mapping[str, tuple[str, str]] = {
    "account_id": (r"^[0-9]+$", "the number after /app/accounts/ in Chatwoot's address bar"),
}
DEFAULT_API_BASE = "https://app.chatwoot.com"  # self-hosted: your Chatwoot address


def link_request(case: NewCase) -> Request | None:
    if not case.case_id.isdigit():
        return None
    path = f"/api/v1/accounts/{quote(case.options['account_id'])}/conversations/{case.case_id}/messages"
    return json_request("POST", api_base(case.options, DEFAULT_API_BASE) + path,
                        {"content": link_text(case, NOTE_TEXT), "message_type": "outgoing", "private": True})


# An internal note (a nudge): the same private message with the nudge's text. `private: true`
# keeps it from the contact. https://developers.chatwoot.com/api-reference/messages/create-new-message
def note_request(case: NewCase, text: str) -> Request | None:
    if not case.case_id.isdigit():
        return None
    path = f"/api/v1/accounts/{quote(case.options['account_id'])}/conversations/{case.case_id}/messages"
    return json_request("POST", api_base(case.options, DEFAULT_API_BASE) + path,
                        {"content": text, "message_type": "outgoing", "private": True})


async def api_headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"api_access_token": option(options, "api_token", NAME)}


WRITEBACK = Writeback(CREDENTIALS, link_request, api_headers, REQUIRED, FORMATS, note_request=note_request)
