"""HubSpot (Service Hub tickets): webhooks of a private app, signed with its client secret.

1. In HubSpot (super admin): Development > Legacy apps > Create legacy app > Private
   (older accounts: Settings > Integrations > Private Apps > Create a private app).
   Name it "tracker"; Scopes: tickets. Create the app.
2. In the app: Webhooks tab > Edit webhooks. Target URL: the webhook URL above, exactly
   (HubSpot signs the URL it calls, so it must be tracker's TRACKER_BASE_URL and path).
   Create subscription: object type Tickets, events Created, Deleted and Property changed,
   with the properties hs_pipeline_stage (Ticket status) and subject (Ticket name).
   Activate the subscriptions and commit the changes.
3. HubSpot generates the signing secret: Auth tab > Client secret. Store it here (the secret
   printed above is not used):
     tracker source add TENANT hubspot --secret <the client secret>
A case is one ticket, named by its ticket id (the number in the ticket's address).
Shown to the customer: the ticket name, and the status of the default Support Pipeline:
New = received; Waiting on contact = in progress, waiting on the customer; Waiting on us =
in progress, our move; Closed = resolved. A deleted ticket closes the case ("Deleted").
Statuses of your own pipelines change nothing on the page (their ids are your account's own).
Never read: the ticket's description, notes, e-mails, conversations and every other property
or object; HubSpot sends none of their text for these subscriptions.
Every request is checked against X-HubSpot-Signature-v3 (base64 HMAC-SHA256 of the method,
the URL, the body and X-HubSpot-Request-Timestamp); requests more than 5 minutes old are
rejected. A retried event (same eventId) is stored once.
Write-back (the case link in a ticket property): see docs/sources/hubspot.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from tracker.cases import Event
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks.base import (
    EARLIEST,
    LATEST,
    NO_OPTIONS,
    Headers,
    Move,
    Options,
    check_timestamp,
    hmac_matches,
    require_header,
    require_object,
    status_changes,
    text_of,
)
from tracker.helpdesks.writing import NewCase, Request, Writeback, api_base, json_request, option

NAME = "hubspot"
TITLE = "HubSpot (Service Hub tickets)"
SIGNATURE = ("`X-HubSpot-Signature-v3`, base64 HMAC-SHA256 of method + URL + body + `X-HubSpot-Request-Timestamp`, "
             "5 min")
DEDUPE = "each event's `eventId` (with its subscription, ticket and time)"
INTERNAL = ("everything but the ticket's name and status: descriptions, notes, e-mails and other properties are "
            "never read")
OPTIONS = {  # tracker source add ... --option KEY=VALUE
    "api_token": "write-back: the private app's access token (Auth tab); each new ticket then gets its case link "
                 "in link_property",
    "link_property": "write-back: the internal name of the single-line text ticket property for the link, "
                     "e.g. case_link",
    "api_base": "write-back: the API address (default https://api.hubapi.com)",
}
TOLERANCE_SECONDS = 5 * 60  # HubSpot: "Reject the request if the timestamp is older than 5 minutes"

# hs_pipeline_stage of HubSpot's default Support Pipeline -> (stage, whose move). Stages of an
# account's own pipelines have ids of that account: they leave the stage as it was.
STATUS_FIELD = "pipeline stage id"  # what the keys of STATUSES are, for the setup page
STATUSES: Mapping[str, Move] = {
    "1": ("received", "company"),  # New
    "2": ("in_progress", "customer"),  # Waiting on contact
    "3": ("in_progress", "company"),  # Waiting on us
    "4": ("resolved", None),  # Closed
}
STATUS_LABELS: Mapping[str, str] = {"1": "New", "2": "Waiting on contact", "3": "Waiting on us", "4": "Closed"}

TICKET_TYPE_ID = "0-5"  # objectTypeId of tickets in the generic ("object.*") subscriptions
_ACTIONS = ("creation", "propertyChange", "deletion")  # merges, restores, associations: nothing to show
_PROPERTIES = ("hs_pipeline_stage", "subject")
# The characters HubSpot decodes in the request URI before signing it (the `?` of the query included).
_DECODED = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
            "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}
_ENCODED = re.compile("|".join(_DECODED), re.IGNORECASE)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST_MS = int((LATEST - EARLIEST).total_seconds()) * 1000


def verify(headers: Headers, body: bytes, secret: str, now: datetime) -> None:
    signature = require_header(headers, "x-hubspot-signature-v3", NAME)
    timestamp = require_header(headers, "x-hubspot-request-timestamp", NAME).strip()
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise Unauthorized("X-HubSpot-Request-Timestamp is not a Unix time in milliseconds.")
    check_timestamp(str(int(timestamp) // 1000), now, TOLERANCE_SECONDS, NAME)
    url = headers.get(":url")
    if not url:
        raise Unauthorized("X-HubSpot-Signature-v3 signs the URL HubSpot called, and this request does not say it.")
    method = headers.get(":method") or "POST"
    message = (method + signed_uri(url)).encode() + body + timestamp.encode()
    if not hmac_matches(signature, secret, message, encoding="base64"):
        raise Unauthorized("X-HubSpot-Signature-v3 does not match: store the app's client secret (Auth tab) with "
                           "`tracker source add TENANT hubspot --secret ...`, and give HubSpot the webhook URL "
                           "exactly as tracker prints it (HubSpot signs the URL it calls).")


def signed_uri(url: str) -> str:
    """The URL as HubSpot signs it: the characters of HubSpot's table decoded, nothing else."""
    return _ENCODED.sub(lambda found: _DECODED[found.group().upper()], url)


def parse(payload: Any, headers: Headers, options: Options = NO_OPTIONS, *,
          received_at: datetime | None = None) -> list[Event]:  # every event carries its time
    if not isinstance(payload, list):
        raise BadRequest("The body must be a JSON array of HubSpot webhook events.")
    events: list[Event] = []
    for index, item in enumerate(payload):
        event = _event(require_object(item, f"[{index}]"), f"[{index}]")
        if event is not None:
            events.append(event)
    return events


def _event(item: dict[str, Any], where: str) -> Event | None:
    """One element of the batch: an Event, or None for what means nothing to the customer. Only
    elements that matter are checked further, so that one odd event of another object does not
    refuse (and make HubSpot retry) the whole batch."""
    kind = item.get("subscriptionType")
    if not isinstance(kind, str):
        raise BadRequest(f"{where}.subscriptionType is required (a string such as ticket.creation).")
    object_name, _, action = kind.partition(".")
    is_ticket = object_name == "ticket" or (object_name == "object" and item.get("objectTypeId") == TICKET_TYPE_ID)
    if not is_ticket or action not in _ACTIONS:
        return None  # contacts, notes, conversations...; merges, restores, associations
    changes: dict[str, Any] = {}
    if action == "propertyChange":
        name = item.get("propertyName")
        if name not in _PROPERTIES:
            return None  # the description, owner, priority...: never read
        value = item.get("propertyValue")
        if value is None:
            value = ""  # the property was cleared
        if not isinstance(value, str):
            raise BadRequest(f"{where}.propertyValue must be a string.")
        if name == "subject":
            changes["title"] = value
        else:
            changes = status_changes(STATUSES, value)
            if not changes:
                return None  # a status of the account's own pipelines
            changes["status_label"] = STATUS_LABELS[value]
    elif action == "deletion":
        changes = {"stage": "closed", "status_label": "Deleted"}
    # creation: the case exists (received, our move) and carries nothing else; its status and
    # name arrive as property changes of the same moment, which must not be outranked.
    case_id = text_of(item.get("objectId"))
    if not (case_id.isascii() and case_id.isdigit()):
        raise BadRequest(f"{where}.objectId is required (the ticket's id, a number).")
    event_id = text_of(item.get("eventId"))
    if not event_id:
        raise BadRequest(f"{where}.eventId is required (a number).")
    occurred_ms = _milliseconds(item.get("occurredAt"), f"{where}.occurredAt")
    # HubSpot does not promise eventIds unique: the subscription, ticket and time make the id
    # one event's, and all of them are the same in every retry (only attemptNumber changes).
    delivery_id = f"{event_id}:{text_of(item.get('subscriptionId'))}:{case_id}:{occurred_ms}"
    return Event(case_id=case_id, delivery_id=delivery_id, occurred_at=_EPOCH + timedelta(milliseconds=occurred_ms),
                 changes=changes)


def _milliseconds(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"{where} must be a Unix time in milliseconds (a whole number), not {str(value)[:40]!r}.")
    if not 0 <= value < _LATEST_MS:
        raise BadRequest(f"{where} is out of range: {str(value)[:40]} (give Unix milliseconds from 1970 to 8999).")
    return value


# --- Write-back ---
# HubSpot: the case link in a ticket property, on the ticket record for agents.
#
# PATCH {api_base}/crm/v3/objects/tickets/{ticketId} with {"properties": {PROPERTY: URL}};
# HubSpot answers 200. The private app's access token is a Bearer token (scope `tickets`).
# tracker does not subscribe to that property, so the write causes no webhook of its own.

CREDENTIALS: tuple[str, ...] = ("api_token",)
REQUIRED: tuple[str, ...] = ("link_property",)
FORMATS: Mapping[str, tuple[str, str]] = {
    "link_property": (r"^[A-Za-z][A-Za-z0-9_]{0,99}$",
                      "the property's internal name (Settings > Properties > Ticket properties > the property), "
                      "e.g. case_link"),
}
DEFAULT_API_BASE = "https://api.hubapi.com"


def link_request(case: NewCase) -> Request | None:
    if not (case.case_id.isascii() and case.case_id.isdigit()):
        return None
    url = f"{api_base(case.options, DEFAULT_API_BASE)}/crm/v3/objects/tickets/{quote(case.case_id)}"
    return json_request("PATCH", url, {"properties": {case.options["link_property"]: case.url}})


# An internal note (a nudge): a CRM note on the ticket's timeline, which only HubSpot users see:
# POST {api_base}/crm/v3/objects/notes with {"properties": {"hs_timestamp", "hs_note_body"},
# "associations": [{"to": {"id": TICKET}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
# "associationTypeId": 228}]}]} (228: note to ticket); HubSpot answers 201. hs_timestamp is
# required: it places the note on the timeline. https://developers.hubspot.com/docs/api-reference/crm-notes-v3/guide
NOTE_TO_TICKET = 228


def note_request(case: NewCase, text: str) -> Request | None:
    if not (case.case_id.isascii() and case.case_id.isdigit()) or case.at is None:
        return None
    return json_request("POST", f"{api_base(case.options, DEFAULT_API_BASE)}/crm/v3/objects/notes", {
        "properties": {"hs_timestamp": case.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                       "hs_note_body": text},
        "associations": [{"to": {"id": case.case_id},
                          "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_TICKET}]}],
    })


async def api_headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": "Bearer " + option(options, "api_token", NAME)}


WRITEBACK = Writeback(CREDENTIALS, link_request, api_headers, REQUIRED, FORMATS, note_request=note_request)
