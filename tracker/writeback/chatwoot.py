"""Chatwoot: a private note in the conversation with the case link, for the agent to pass on.

POST {api_base}/api/v1/accounts/{account_id}/conversations/{id}/messages with
{"content", "message_type": "outgoing", "private": true}; Chatwoot answers 200. The id in the
path is the conversation number shown in Chatwoot, which is the case id. An agent's access
token (Profile settings) goes in the `api_access_token` header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tracker.helpdesks.writing import NOTE_TEXT, NewCase, Options, Request, api_base, json_request, link_text, option

NAME = "chatwoot"
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


async def headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"api_access_token": option(options, "api_token", NAME)}
