"""Zoho Desk: a webhook whose every delivery carries a JWT that Zoho signs (X-ZDesk-JWT).

Zoho signs with its own keys (RS256) and names your organization and the webhook in the
token; it lets you set no secret and no header. So the secret here is not a password:
it is your organization ID, the webhook's ID (or * for any webhook of your organization)
and Zoho's public keys, fetched from your data centre's Zoho Desk address
(desk.zoho.com, desk.zoho.eu, desk.zoho.in, desk.zoho.com.au, desk.zoho.jp, ...):

1. Zoho Desk: Setup (gear) > Developer Space > API. The Organization ID is at the
   bottom, under "Zoho Service Communication (ZSC) Key". Connect the source with it:
     tracker source add TENANT zohodesk \\
       --secret "ORG_ID:*:$(curl -s https://desk.zoho.com/.well-known/jwks.json)"
2. Setup > Developer Space > Webhooks > New Webhook (Professional edition and above).
   Name: tracker. URL to notify: the webhook URL above. Select events, module Tickets:
   Add; Update; Thread Add; Comment Add; Comment Update (all departments, or yours).
   Save. Zoho first checks the URL with an empty body; tracker accepts it.
3. Optional, stricter: accept this webhook only. Its ID is the "id" of the webhook in
   GET https://desk.zoho.com/api/v1/webhooks (Zoho Desk API, header orgId: ORG_ID);
   connect again with "ORG_ID:WEBHOOK_ID:$(curl -s .../.well-known/jwks.json)".
When Zoho signs with a key the secret does not hold (it changed its keys), deliveries
are refused (401) until you run the command of step 1 again.

Every delivery is checked: X-ZDesk-JWT signed by a key in the secret (RS256), issuer
orgId:ORG_ID, audience webhookId:WEBHOOK_ID, not expired and issued within the last 5
minutes. The JWT signs its claims, not the body. A retry is recognised by its event
type, resource id and eventTime, and stored once.

What the case page shows (the case id is Zoho's ticket id, the long number in the
ticket's address): statuses Open = in progress, our move (received when the ticket is
new); On Hold = waiting on the customer; Escalated = in progress, our move; Closed =
resolved (Zoho reopens a closed ticket on a reply). A custom status counts as its status
type (Open, On Hold, Closed) and is shown in your own wording. An agent's public reply
(an outgoing public thread that was sent) is a public update under the agent's name; a
customer's e-mail gives the move back to you and is not repeated. Private threads and
private comments are kept as activity without their text; public comments (shown in
the help centre) are updates. Drafts, failed sends and other modules' events are ignored.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
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
    equal,
    parse_time,
    plain_text,
    require_header,
    status_changes,
    text_of,
    unix_time,
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

NAME = "zohodesk"
ANSWER_STATUS = 200  # Zoho counts any other answer, 202 included, as a failed delivery
TITLE = "Zoho Desk"  # these four are this helpdesk's cells in the README's table
SIGNATURE = ("`X-ZDesk-JWT`, RS256 JWT by Zoho (issuer `orgId:`, audience `webhookId:`, 5 min); "
             "Zoho's public keys in the secret; the body is not signed")
DEDUPE = "event type + resource id + `eventTime`"
INTERNAL = "private comments and private threads"
OPTIONS = {  # tracker source add ... --option KEY=VALUE
    "client_id": "write-back: the Client ID of a Zoho API Console Self Client; each new ticket then gets a "
                 "private comment with its case link",
    "client_secret": "write-back: that client's Client Secret",
    "refresh_token": "write-back: a refresh token of that client, with the scope Desk.tickets.ALL",
    "org_id": "write-back: your Zoho Desk organization ID (Setup > Developer Space > API)",
    "api_base": "write-back: Zoho Desk of your data centre (default https://desk.zoho.com; e.g. https://desk.zoho.eu)",
    "accounts_base": "write-back: Zoho Accounts of your data centre (default: api_base with accounts. for desk.)",
    "link_text": LINK_TEXT_HELP,
}
TOLERANCE_SECONDS = 5 * 60  # how long after Zoho issued a token it is still taken
LEEWAY_SECONDS = 60  # clock difference allowed on exp and on an iat in the future
JWT_HEADER = "x-zdesk-jwt"
MAX_TOKEN_CHARS = 16_384

# Zoho Desk's system statuses, lower-cased -> (stage, waiting_on). Zoho has no "resolved":
# Closed is its end state, and a reply reopens it, which is what resolved means here.
STATUSES: Mapping[str, Move] = {
    "open": ("in_progress", "company"),
    "on hold": ("in_progress", "customer"),
    "escalated": ("in_progress", "company"),
    "closed": ("resolved", None),
}
# Every status, custom ones too, has one of three status types: a custom status counts as its type.
STATUS_TYPES: Mapping[str, Move] = {
    "open": ("in_progress", "company"),
    "on hold": ("in_progress", "customer"),
    "closed": ("resolved", None),
}
TICKET_EVENTS = ("Ticket_Add", "Ticket_Update")
THREAD_EVENTS = ("Ticket_Thread_Add",)
COMMENT_EVENTS = ("Ticket_Comment_Add", "Ticket_Comment_Update")
_ZOHO_ID = re.compile(r"^[0-9]{1,30}$")
_MENTION = re.compile(r"zsu\[@[a-z]+:[^\]]*\]zsu")  # @mentions in comment text


# --- Verification ---

@dataclass(frozen=True, slots=True)
class RsaKey:
    n: int
    e: int
    size: int  # bytes of the modulus


@dataclass(frozen=True, slots=True)
class Trust:
    """What the secret holds: whose tokens to take, and the keys that sign them."""

    org_id: str
    webhook_id: str | None  # None: any webhook of the organization
    keys: Mapping[str, RsaKey]  # by key id


SECRET_HELP = ("The secret of source 'zohodesk' must be ORG_ID:WEBHOOK_ID:KEYS (WEBHOOK_ID may be *), KEYS being "
               "Zoho's key set: tracker source add TENANT zohodesk --secret "
               "\"ORG_ID:*:$(curl -s https://desk.zoho.com/.well-known/jwks.json)\" (see docs/sources/zohodesk.md).")


def verify(headers: Headers, body: bytes, secret: str, now: datetime) -> None:
    if body.strip() == b"{}":
        return  # Zoho's check of a new webhook's URL: it carries nothing, and parse() stores nothing
    token = require_header(headers, JWT_HEADER, NAME).strip()
    trust = trust_of(secret)
    claims = verified_claims(token, trust.keys)
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not equal(issuer, f"orgId:{trust.org_id}"):
        raise Unauthorized(f"X-ZDesk-JWT was issued for another Zoho Desk organization ({str(issuer)[:40]!r}), not "
                           f"orgId:{trust.org_id}: check ORG_ID in the secret of source 'zohodesk'.")
    if trust.webhook_id is not None:
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if f"webhookId:{trust.webhook_id}" not in audiences:
            raise Unauthorized(f"X-ZDesk-JWT was issued for another webhook ({str(audience)[:60]!r}), not "
                               f"webhookId:{trust.webhook_id}: check WEBHOOK_ID in the secret (or use *).")
    check_times(claims, now)


@functools.lru_cache(maxsize=64)
def trust_of(secret: str) -> Trust:
    org_id, _, rest = secret.partition(":")
    webhook_id, _, key_set = rest.partition(":")
    if not _ZOHO_ID.match(org_id) or not (webhook_id == "*" or _ZOHO_ID.match(webhook_id)):
        raise Unauthorized(SECRET_HELP)
    try:
        document = json.loads(key_set)
    except ValueError:
        raise Unauthorized(SECRET_HELP) from None
    found = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(found, list):
        raise Unauthorized(SECRET_HELP)
    keys = {str(jwk.get("kid", "")): key for jwk in found if isinstance(jwk, dict) and (key := rsa_key(jwk))}
    if not keys:
        raise Unauthorized("The secret of source 'zohodesk' holds no RSA signing key of at least 2048 bits: "
                           + SECRET_HELP)
    return Trust(org_id, None if webhook_id == "*" else webhook_id, keys)


def rsa_key(jwk: Mapping[str, Any]) -> RsaKey | None:
    """An RSA signing key of a key set, or None for keys of another kind or use."""
    if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
        return None
    n, e = jwk.get("n"), jwk.get("e")
    if not isinstance(n, str) or not isinstance(e, str):
        return None
    try:
        modulus, exponent = int.from_bytes(b64url(n), "big"), int.from_bytes(b64url(e), "big")
    except ValueError:
        return None
    if modulus.bit_length() < 2048 or exponent < 3 or exponent % 2 == 0:
        return None
    return RsaKey(modulus, exponent, (modulus.bit_length() + 7) // 8)


def b64url(text: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def verified_claims(token: str, keys: Mapping[str, RsaKey]) -> dict[str, Any]:
    """The claims of an RS256 JWT signed by one of `keys`, or 401."""
    parts = token.split(".")
    if len(token) > MAX_TOKEN_CHARS or len(parts) != 3:
        raise Unauthorized("X-ZDesk-JWT is not a JSON Web Token (three base64url parts).")
    try:
        header, claims = (json.loads(b64url(part)) for part in parts[:2])
        signature = b64url(parts[2])
    except ValueError:
        raise Unauthorized("X-ZDesk-JWT is not a JSON Web Token (three base64url parts).") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise Unauthorized("X-ZDesk-JWT is not a JSON Web Token (its header and claims must be objects).")
    if header.get("alg") != "RS256":
        raise Unauthorized(f"X-ZDesk-JWT must be signed with RS256, not {str(header.get('alg'))[:20]!r}.")
    kid = header.get("kid")
    if isinstance(kid, str):
        if kid not in keys:
            raise Unauthorized(f"X-ZDesk-JWT is signed with key {kid[:60]!r}, which the secret of source 'zohodesk' "
                               "does not hold: Zoho has new keys. Connect again with the key set of step 1 "
                               "(docs/sources/zohodesk.md).")
        candidates = [keys[kid]]
    else:
        candidates = list(keys.values())
    message = f"{parts[0]}.{parts[1]}".encode("ascii")
    if not any(rs256_matches(key, message, signature) for key in candidates):
        raise Unauthorized("X-ZDesk-JWT's signature does not match the keys in the secret of source 'zohodesk'.")
    return claims


_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def rs256_matches(key: RsaKey, message: bytes, signature: bytes) -> bool:
    """RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017, 8.2.2): the signature, raised to the public
    exponent, must be exactly the padded digest of the message."""
    if len(signature) != key.size:
        return False
    value = int.from_bytes(signature, "big")
    if value >= key.n:
        return False
    encoded = pow(value, key.e, key.n).to_bytes(key.size, "big")
    digest = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    expected = b"\x00\x01" + b"\xff" * (key.size - len(digest) - 3) + b"\x00" + digest
    return equal(encoded, expected)


def check_times(claims: Mapping[str, Any], now: datetime) -> None:
    issued, expires = claim_time(claims, "iat"), claim_time(claims, "exp")
    if issued is None and expires is None:
        raise Unauthorized("X-ZDesk-JWT has neither iat nor exp: a token that never expires is not taken.")
    moment = now.timestamp()
    if expires is not None and moment > expires + LEEWAY_SECONDS:
        raise Unauthorized("X-ZDesk-JWT has expired: a replay, or a clock that is wrong.")
    if issued is not None and not -LEEWAY_SECONDS <= moment - issued <= TOLERANCE_SECONDS:
        raise Unauthorized(f"X-ZDesk-JWT was issued more than {TOLERANCE_SECONDS} s from our clock: a replay, "
                           "or a clock that is wrong.")


def claim_time(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate in seconds; Zoho documents milliseconds and shows seconds, so both are read."""
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise Unauthorized(f"X-ZDesk-JWT's {name} is not a time.")
    return value / 1000 if value > 100_000_000_000 else float(value)


# --- Parsing ---

def parse(payload: Any, headers: Headers, options: Options = NO_OPTIONS, *,
          received_at: datetime) -> list[Event]:
    if isinstance(payload, dict):
        items = [payload] if payload else []  # {}: Zoho's check of the URL
    elif isinstance(payload, list):
        items = payload
    else:
        raise BadRequest("The body must be a JSON array of Zoho Desk events.")
    events: list[Event] = []
    for index, item in enumerate(items):
        event = _event(item, f"[{index}]", received_at)
        if event is not None:
            events.append(event)
    return events


def _event(item: Any, where: str, received_at: datetime) -> Event | None:
    if not isinstance(item, dict):
        raise BadRequest(f"{where} must be an object (a Zoho Desk event).")
    kind = item.get("eventType")
    if not isinstance(kind, str):
        raise BadRequest(f"{where}.eventType is required (a string such as Ticket_Update).")
    if kind not in (*TICKET_EVENTS, *THREAD_EVENTS, *COMMENT_EVENTS):
        return None  # Ticket_Delete, attachments, contacts, tasks...: nothing for the case page
    body = item.get("payload")
    if not isinstance(body, dict):
        raise BadRequest(f"{where}.payload is required (an object).")
    sent_ms = _event_time_ms(item.get("eventTime"), f"{where}.eventTime")
    resource = text_of(body.get("id"))
    delivery = f"{kind}:{resource}:{sent_ms}" if resource and sent_ms is not None else ""
    if kind in TICKET_EVENTS:
        at = _when(sent_ms, body.get("modifiedTime"), f"{where}.payload.modifiedTime", received_at, where)
        return _ticket_event(body, kind == "Ticket_Add", where, delivery, at)
    if kind in THREAD_EVENTS:
        at = _when(sent_ms, body.get("createdTime"), f"{where}.payload.createdTime", received_at, where)
        return _thread_event(body, where, delivery, at)
    at = _when(sent_ms, body.get("modifiedTime") or body.get("commentedTime"), f"{where}.payload.commentedTime",
               received_at, where)
    return _comment_event(body, where, delivery, at)


def _ticket_event(ticket: dict[str, Any], created: bool, where: str, delivery: str, at: datetime) -> Event:
    case_id = _zoho_id(ticket.get("id"), f"{where}.payload.id")
    changes: dict[str, Any] = {}
    subject = text_of(ticket.get("subject")).strip()
    if subject:
        changes["title"] = subject
    status = text_of(ticket.get("status")).strip()
    if status:
        changes["status_label"] = status
        moves = status_changes(STATUSES, status.lower()) or status_changes(
            STATUS_TYPES, text_of(ticket.get("statusType")).strip().lower())
        changes.update(moves)
        if created and changes.get("stage") == "in_progress" and changes.get("waiting_on") == "company":
            changes["stage"] = "received"
    priority = text_of(ticket.get("priority")).strip()
    if priority:
        changes["priority"] = priority
    changes.update(_requester(ticket))
    return Event(case_id=case_id, delivery_id=delivery, occurred_at=at, changes=changes)


def _requester(ticket: dict[str, Any]) -> dict[str, str]:
    contact = ticket.get("contact")
    contact = contact if isinstance(contact, dict) else {}
    found: dict[str, str] = {}
    name = " ".join(part for key in ("firstName", "lastName") if (part := text_of(contact.get(key)).strip()))
    if name:
        found["requester_name"] = name
    email = text_of(contact.get("email")).strip() or text_of(ticket.get("email")).strip()
    if "@" in email:
        found["requester_email"] = email
    return found


def _thread_event(thread: dict[str, Any], where: str, delivery: str, at: datetime) -> Event | None:
    case_id = _zoho_id(thread.get("ticketId"), f"{where}.payload.ticketId")
    if text_of(thread.get("visibility")).lower() != "public":
        # Private threads, and any that do not say they are public, keep only their time.
        return Event(case_id=case_id, delivery_id=delivery, occurred_at=at, internal=True)
    direction = text_of(thread.get("direction")).lower()
    if direction == "in":  # the customer wrote: the move is ours again
        return Event(case_id=case_id, delivery_id=delivery, occurred_at=at, changes={"waiting_on": "company"})
    sent = text_of(thread.get("status")).upper() in ("", "SUCCESS")
    if direction != "out" or not sent:
        return None  # drafts, failed or pending sends
    text = plain_text(text_of(thread.get("content")) or text_of(thread.get("summary")))
    if not text:
        return None  # an attachment without text
    author = thread.get("author")
    name = text_of(author.get("name")).strip() if isinstance(author, dict) else ""
    update = Update(id=_update_id(thread, case_id, text), at=at, body=text, author_display=name)
    return Event(case_id=case_id, delivery_id=delivery, occurred_at=at, update=update)


def _comment_event(comment: dict[str, Any], where: str, delivery: str, at: datetime) -> Event | None:
    case_id = _zoho_id(comment.get("ticketId"), f"{where}.payload.ticketId")
    if comment.get("isPublic") is not True:
        return Event(case_id=case_id, delivery_id=delivery, occurred_at=at, internal=True)
    commenter = comment.get("commenter")
    commenter = commenter if isinstance(commenter, dict) else {}
    if text_of(commenter.get("type")).upper() == "END_USER":  # the customer's own comment in the help centre
        return Event(case_id=case_id, delivery_id=delivery, occurred_at=at, changes={"waiting_on": "company"})
    text = plain_text(_MENTION.sub("", text_of(comment.get("content"))))
    if not text:
        return None
    name = text_of(commenter.get("name")).strip()
    update = Update(id=_update_id(comment, case_id, text), at=at, body=text, author_display=name)
    return Event(case_id=case_id, delivery_id=delivery, occurred_at=at, update=update)


def _update_id(resource: dict[str, Any], case_id: str, text: str) -> str:
    found = text_of(resource.get("id"))
    return found or "sha256:" + hashlib.sha256(f"{case_id}\n{text}".encode()).hexdigest()[:16]


def _zoho_id(value: Any, where: str) -> str:
    found = text_of(value).strip()
    if not _ZOHO_ID.match(found):
        raise BadRequest(f"{where} is required: a Zoho Desk id (digits), not {str(value)[:40]!r}.")
    return found


def _event_time_ms(value: Any, where: str) -> int | None:
    """eventTime: Unix milliseconds, which Zoho sends as a string of digits."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise BadRequest(f"{where} must be Unix milliseconds (digits), not {str(value)[:40]!r}.")


def _when(sent_ms: int | None, fallback: Any, fallback_where: str, received_at: datetime, where: str) -> datetime:
    """The event's own time; without eventTime the resource's time; without either, arrival."""
    if sent_ms is not None:
        return unix_time(sent_ms / 1000, f"{where}.eventTime")
    if fallback is not None:
        return parse_time(fallback, fallback_where)
    return received_at


# --- Write-back ---
# Zoho Desk: a private comment on the ticket with the case link, for the agent to pass on.
#
# POST {api_base}/api/v1/tickets/{id}/comments with {"isPublic": false, "contentType":
# "plainText", "content"}; Zoho answers 200. The case id is the ticket id the API wants. Zoho's
# API takes OAuth tokens only: a Self Client's refresh token is exchanged for an access token
# (POST {accounts_base}/oauth/v2/token, grant_type=refresh_token; an hour's life), kept until
# shortly before it expires and sent as `Authorization: Zoho-oauthtoken ...` with the `orgId`
# header. The comment comes back as a Ticket_Comment_Add: a private one, so activity only.

CREDENTIALS: tuple[str, ...] = ("client_id", "client_secret", "refresh_token")
REQUIRED: tuple[str, ...] = ("org_id",)
FORMATS: Mapping[str, tuple[str, str]] = {
    "org_id": (r"^[0-9]+$", "your organization ID, a number (Zoho Desk: Setup > Developer Space > API)"),
    "accounts_base": (r"^https?://[^\s/]+/?$", "Zoho Accounts of your data centre, e.g. https://accounts.zoho.eu"),
}
DEFAULT_API_BASE = "https://desk.zoho.com"
RENEW_BEFORE_SECONDS = 300.0


def link_request(case: NewCase) -> Request | None:
    if not _ZOHO_ID.match(case.case_id):
        return None
    return json_request("POST", f"{api_base(case.options, DEFAULT_API_BASE)}/api/v1/tickets/{case.case_id}/comments",
                        {"isPublic": False, "contentType": "plainText", "content": link_text(case, NOTE_TEXT)})


# An internal note (a nudge): the same private comment with the nudge's text.
# https://desk.zoho.com/support/APIDocument.do#TicketsComments#TicketsComments_Createaticketcomment
def note_request(case: NewCase, text: str) -> Request | None:
    if not _ZOHO_ID.match(case.case_id):
        return None
    return json_request("POST", f"{api_base(case.options, DEFAULT_API_BASE)}/api/v1/tickets/{case.case_id}/comments",
                        {"isPublic": False, "contentType": "plainText", "content": text})


def accounts_base(options: Options) -> str:
    """Zoho Accounts of the data centre: given, or the Desk address with accounts. for desk.
    (https://desk.zoho.eu -> https://accounts.zoho.eu); any other address serves both."""
    given = options.get("accounts_base")
    if given:
        return given.rstrip("/")
    return api_base(options, DEFAULT_API_BASE).replace("://desk.", "://accounts.", 1)


async def api_headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    """A cached access token, or a new one (the cache is per deliverer, keyed by Accounts and client)."""
    client_id, client_secret = option(options, "client_id", NAME), option(options, "client_secret", NAME)
    refresh_token, org_id = option(options, "refresh_token", NAME), option(options, "org_id", NAME)
    accounts = accounts_base(options)
    key = f"{accounts} {client_id} {hashlib.sha256(refresh_token.encode()).hexdigest()[:16]}"
    lock: asyncio.Lock = cache.setdefault(f"{key} lock", asyncio.Lock())
    async with lock:  # deliveries are sent together: one token request for all of them
        token, renew_at = cache.get(key, ("", 0.0))
        if not token or time.monotonic() >= renew_at:
            token, expires_seconds = await _access_token(accounts, client_id, client_secret, refresh_token)
            cache[key] = (token, time.monotonic() + max(0.0, expires_seconds - RENEW_BEFORE_SECONDS))
    return {"Authorization": f"Zoho-oauthtoken {token}", "orgId": org_id}


async def _access_token(accounts: str, client_id: str, client_secret: str, refresh_token: str) -> tuple[str, float]:
    form = {"grant_type": "refresh_token", "client_id": client_id, "client_secret": client_secret,
            "refresh_token": refresh_token}
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, headers={"User-Agent": USER_AGENT}) as http:
            response = await http.post(f"{accounts}/oauth/v2/token", data=form)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"Zoho token request failed: {type(exc).__name__}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    # Zoho answers a refused refresh token with 200 and {"error": "invalid_code"}.
    error = answer.get("error") if isinstance(answer, dict) else None
    if response.status_code != 200 or error:
        raise DeliveryError(f"Zoho refused the client_id/client_secret/refresh_token (HTTP {response.status_code}"
                            f"{', ' + str(error)[:60] if error else ''}): check the Self Client in the API Console "
                            "of your data centre and the refresh token's scope.")
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise DeliveryError("Zoho's token answer has no access_token.")
    expires = answer.get("expires_in", 0) if isinstance(answer, dict) else 0
    return token, float(expires) if isinstance(expires, int | float) and not isinstance(expires, bool) else 0.0


WRITEBACK = Writeback(CREDENTIALS, link_request, api_headers, REQUIRED, FORMATS, note_request=note_request)
