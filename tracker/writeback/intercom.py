"""Intercom: an internal note in the conversation with the case link, for the teammate to pass on.

POST {api_base}/conversations/{id}/reply with {"message_type": "note", "type": "admin",
"admin_id", "body"}; Intercom answers 200. The note is written in the name of the teammate
`admin_id`. The app's access token goes in `Authorization: Bearer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tracker.helpdesks.writing import NOTE_TEXT, NewCase, Options, Request, api_base, json_request, link_text, option

NAME = "intercom"
CREDENTIALS: tuple[str, ...] = ("api_token",)
REQUIRED: tuple[str, ...] = ("admin_id",)
FORMATS: Mapping[str, tuple[str, str]] = {
    "admin_id": (r"^[0-9]+$", "the teammate's id, the number in their Intercom profile's address"),
}
DEFAULT_API_BASE = "https://api.intercom.io"  # Europe: https://api.eu.intercom.io, Australia: https://api.au.intercom.io
API_VERSION = "2.11"


def link_request(case: NewCase) -> Request | None:
    text = link_text(case, NOTE_TEXT)
    return json_request("POST", f"{api_base(case.options, DEFAULT_API_BASE)}/conversations/"
                                f"{quote(case.case_id, safe='')}/reply", {
        "message_type": "note", "type": "admin", "admin_id": case.options["admin_id"], "body": text,
    })


async def headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {option(options, 'api_token', NAME)}", "Accept": "application/json",
            "Intercom-Version": API_VERSION}
