"""Front: a comment (teammates only) in the conversation with the case link.

POST {api_base}/conversations/{cnv_id}/comments with {"body"}; Front answers 201. Without an
author the comment is posted by the API token's own bot teammate. The API names a
conversation `cnv_...`: the case id when it has that form, else the id in the conversation's
`_links.self` of the webhook body that created the case. The API token (scope: comments)
goes in `Authorization: Bearer`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tracker.helpdesks.writing import NOTE_TEXT, NewCase, Options, Request, api_base, json_request, link_text, option

NAME = "front"
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


async def headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {option(options, 'api_token', NAME)}"}
