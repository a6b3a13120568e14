"""Help Scout: the Webhooks app, signed with a secret key you choose.

1. Help Scout > Manage > Apps > Webhooks > Install (or Settings on the installed app).
2. Callback URL: the webhook URL above.
3. Secret Key: the secret printed above (Help Scout allows at most 40 characters; the
   default secret is shorter). To use a key you already have instead:
     tracker source add TENANT helpscout --secret <your key>
4. Events: Conversation Created, Assigned, Status Updated, Customer Reply,
   Agent Reply, Note Created (the note's text is dropped, see below). Save.

The case id is the conversation NUMBER shown in Help Scout (#349), the one customers see.
An agent's reply is shown as a public update under the agent's name; notes are kept as
activity without any text; the customer's own replies are not repeated back.
Statuses: a new conversation = received; Active = in progress, our move; Pending =
waiting on the customer; Closed = closed (a reply reopens it). Spam and deleted
conversations, and the app's test event, are acknowledged and ignored.
Every request is checked against X-HelpScout-Signature (base64 HMAC-SHA1 of the body).
Help Scout sends no timestamp and no delivery id: a retry is recognised by its identical
body; each change is dated with Help Scout's own time of the thread or update.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from tracker.cases import Event, Update
from tracker.errors import BadRequest, DeliveryError, Unauthorized
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
    text_of,
)
from tracker.helpdesks.writing import (
    NOTE_TEXT,
    TIMEOUT_SECONDS,
    USER_AGENT,
    NewCase,
    Request,
    Writeback,
    api_base,
    json_request,
    link_text,
    option,
)

NAME = "helpscout"
TITLE = "Help Scout"  # these four are the cells of this helpdesk's row in the README's table
SIGNATURE = "`X-HelpScout-Signature`, HMAC-SHA1 base64"
DEDUPE = "hash of the body"
INTERNAL = "notes"
OPTIONS = {  # tracker source add ... --option KEY=VALUE
    "app_id": "write-back: a private app's App ID (Your Profile > My Apps); with app_secret, each new "
              "conversation gets a note with its case link",
    "app_secret": "write-back: that app's App Secret",
    "api_base": "write-back: the API address (default https://api.helpscout.net)",
    "link_text": LINK_TEXT_HELP,
}

STATUSES: Mapping[str, Move] = {
    "active": ("in_progress", "company"),
    "open": ("in_progress", "company"),
    "pending": ("in_progress", "customer"),
    "closed": ("closed", None),
}
# Threads an agent sends to the customer: "reply" (API 2.0 name) and "message" (older name).
_AGENT_THREADS = ("reply", "message")


def verify(headers: Headers, body: bytes, secret: str, now: datetime) -> None:
    signature = require_header(headers, "x-helpscout-signature", NAME)
    if not hmac_matches(signature, secret, body, digest="sha1", encoding="base64"):
        raise Unauthorized("X-HelpScout-Signature does not match: the Webhooks app's secret key must be the "
                           "secret stored with `tracker source add TENANT helpscout`.")


def parse(payload: Any, headers: Headers, options: Options = NO_OPTIONS, *,
          received_at: datetime) -> list[Event]:
    event_type = headers.get("x-helpscout-event", "")
    if not event_type.startswith("convo.") or event_type == "convo.deleted":
        return []  # helpscout.test, customers, ratings, a deleted conversation: nothing to show
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object (a Help Scout conversation).")
    if not isinstance(payload.get("number"), str | int) or payload.get("number") == "":
        raise BadRequest("number is required (the conversation number).")
    status = text_of(payload.get("status"))
    if status == "spam":
        return []
    case_id = str(payload["number"])
    changes = _changes(payload, status, event_type)
    thread = _newest_thread(payload) if event_type in ("convo.agent.reply.created", "convo.note.created",
                                                       "convo.customer.reply.created") else None
    internal = event_type == "convo.note.created" or (thread is not None and thread.get("type") == "note")
    if thread is not None and thread.get("createdAt") is not None:
        occurred_at = parse_time(thread["createdAt"], "thread createdAt")
    else:
        occurred_at = _conversation_time(payload, received_at)
    update = None
    if thread is not None and not internal and thread.get("type") in _AGENT_THREADS:
        update = _update(thread, occurred_at)
    return [Event(case_id=case_id, delivery_id="", occurred_at=occurred_at, changes=changes,
                  update=update, internal=internal)]


def _changes(conversation: dict[str, Any], status: str, event_type: str) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    subject = text_of(conversation.get("subject")).strip()
    if subject:
        changes["title"] = subject
    customer = conversation.get("primaryCustomer") or conversation.get("customer")
    if isinstance(customer, dict):
        if isinstance(customer.get("email"), str) and customer["email"]:
            changes["requester_email"] = customer["email"]
        name = _person_name(customer)
        if name:
            changes["requester_name"] = name
    if status:
        changes["status_label"] = status.capitalize()
        changes.update(status_changes(STATUSES, status))
        # The event says more than the status: a new conversation is received, a customer's reply our move.
        if changes.get("stage") == "in_progress":
            if event_type == "convo.created":
                changes["stage"] = "received"
            elif event_type == "convo.customer.reply.created":
                changes["waiting_on"] = "company"
    return changes


def _newest_thread(conversation: dict[str, Any]) -> dict[str, Any] | None:
    embedded = conversation.get("_embedded")
    threads = embedded.get("threads") if isinstance(embedded, dict) else conversation.get("threads")
    if threads is None:
        return None
    if not isinstance(threads, list) or not all(isinstance(t, dict) for t in threads):
        raise BadRequest("_embedded.threads must be a list of objects.")
    dated = [t for t in threads if isinstance(t.get("createdAt"), str)]
    return max(dated, key=lambda t: parse_time(t["createdAt"], "thread createdAt"), default=None)


def _conversation_time(conversation: dict[str, Any], received_at: datetime) -> datetime:
    for key in ("userUpdatedAt", "userModifiedAt", "modifiedAt", "closedAt", "createdAt"):
        if isinstance(conversation.get(key), str):
            return parse_time(conversation[key], key)
    return received_at


def _update(thread: dict[str, Any], at: datetime) -> Update | None:
    body = plain_text(text_of(thread.get("body")))
    if not body:
        return None
    author = thread.get("createdBy")
    author = author if isinstance(author, dict) else {}
    return Update(id=str(thread.get("id") or at.isoformat()), at=at, body=body, author_display=_person_name(author))


def _person_name(person: dict[str, Any]) -> str:
    # API 2.0 says first/last, the older webhook object firstName/lastName.
    names = (text_of(person.get(k)) for k in ("first", "firstName", "last", "lastName"))
    return " ".join(n for n in names if n)


# --- Write-back ---
# Help Scout: a note in the conversation with the case link, for the agent to pass on.
#
# POST {api_base}/v2/conversations/{id}/notes with {"text"}; Help Scout answers 201. The case id
# is the conversation number customers see; the API wants the conversation's id, which the
# webhook body that created the case carries (`id`). Help Scout's API takes OAuth 2 tokens: a
# private app's App ID and App Secret are exchanged for an access token (client credentials,
# POST {api_base}/v2/oauth2/token), kept until shortly before it expires and sent as
# `Authorization: Bearer`.

CREDENTIALS: tuple[str, ...] = ("app_id", "app_secret")
REQUIRED: tuple[str, ...] = ()
FORMATS: Mapping[str, tuple[str, str]] = {}
DEFAULT_API_BASE = "https://api.helpscout.net"
RENEW_BEFORE_SECONDS = 300.0


def link_request(case: NewCase) -> Request | None:
    payload = case.payload
    if not isinstance(payload, dict) or str(payload.get("number")) != case.case_id:
        return None
    conversation = payload.get("id")
    if not isinstance(conversation, int) or isinstance(conversation, bool):
        return None
    return json_request("POST", f"{api_base(case.options, DEFAULT_API_BASE)}/v2/conversations/{conversation}/notes",
                        {"text": link_text(case, NOTE_TEXT)})


# An internal note (a nudge): the same note with the nudge's text (notes are seen by users only).
# Without the webhook body, the conversation's id is the one the link's note was written to.
# https://developer.helpscout.com/mailbox-api/endpoints/conversations/threads/note/
def note_request(case: NewCase, text: str) -> Request | None:
    conversation = _conversation_id(case)
    if conversation is None:
        return None
    return json_request("POST", f"{api_base(case.options, DEFAULT_API_BASE)}/v2/conversations/{conversation}/notes",
                        {"text": text})


def _conversation_id(case: NewCase) -> int | None:
    payload = case.payload
    if isinstance(payload, dict) and str(payload.get("number")) == case.case_id:
        found = payload.get("id")
        return found if isinstance(found, int) and not isinstance(found, bool) else None
    written = _WRITTEN_NOTE.search(str(case.link.get("url", ""))) if case.link else None
    return int(written.group(1)) if written else None


_WRITTEN_NOTE = re.compile(r"/v2/conversations/([0-9]+)/notes$")


async def api_headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    """A cached access token, or a new one (the cache is per deliverer, keyed by API and app)."""
    app_id, app_secret = option(options, "app_id", NAME), option(options, "app_secret", NAME)
    base = api_base(options, DEFAULT_API_BASE)
    key = f"{base} {app_id}"
    lock: asyncio.Lock = cache.setdefault(f"{key} lock", asyncio.Lock())
    async with lock:  # deliveries are sent together: one token request for all of them
        token, renew_at = cache.get(key, ("", 0.0))
        if not token or time.monotonic() >= renew_at:
            token, expires_seconds = await _access_token(base, app_id, app_secret)
            cache[key] = (token, time.monotonic() + max(0.0, expires_seconds - RENEW_BEFORE_SECONDS))
    return {"Authorization": f"Bearer {token}"}


async def _access_token(base: str, app_id: str, app_secret: str) -> tuple[str, float]:
    form = {"grant_type": "client_credentials", "client_id": app_id, "client_secret": app_secret}
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, headers={"User-Agent": USER_AGENT}) as http:
            response = await http.post(f"{base}/v2/oauth2/token", data=form)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"Help Scout token request failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise DeliveryError(f"Help Scout refused the app_id/app_secret (HTTP {response.status_code}): check the "
                            "private app's App ID and App Secret under Your Profile > My Apps.")
    try:
        answer = response.json()
        token, expires = answer["access_token"], answer.get("expires_in", 0)
    except (ValueError, KeyError, TypeError):
        raise DeliveryError("Help Scout's token answer has no access_token.") from None
    if not isinstance(token, str) or not token:
        raise DeliveryError("Help Scout's token answer has no access_token.")
    return token, float(expires) if isinstance(expires, int | float) else 0.0


WRITEBACK = Writeback(CREDENTIALS, link_request, api_headers, REQUIRED, FORMATS, note_request=note_request)
