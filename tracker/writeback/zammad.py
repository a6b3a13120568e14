"""Zammad: an internal note on the ticket with the case link, for the agent to pass on.

POST {api_base}/api/v1/ticket_articles with {"ticket_id", "body", "content_type": "text/plain",
"type": "note", "internal": true}; Zammad answers 201. The case id is the ticket number
customers see; the API wants the ticket's internal id, which the webhook body that created
the case carries (`ticket.id`). An access token (permission ticket.agent) goes in
`Authorization: Token token=...`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracker.helpdesks.writing import NOTE_TEXT, NewCase, Options, Request, api_base, json_request, link_text, option

NAME = "zammad"
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


async def headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Token token={option(options, 'api_token', NAME)}"}
