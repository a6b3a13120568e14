"""Freshdesk: the case link in a custom ticket field, for canned responses and e-mail templates.

PUT {api_base}/api/v2/tickets/{id} with {"custom_fields": {"cf_...": URL}}; Freshdesk answers
200. The agent's API key is the user name of HTTP basic authentication, with any password
("X"). A canned response then says `{{ticket.cf_...}}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tracker.helpdesks.writing import NewCase, Options, Request, api_base, basic, json_request, option

NAME = "freshdesk"
CREDENTIALS: tuple[str, ...] = ("api_token",)
REQUIRED: tuple[str, ...] = ("api_base", "link_field")
FORMATS: Mapping[str, tuple[str, str]] = {
    "api_base": (r"^https?://[^\s/]+/?$", "your Freshdesk address, e.g. https://acme.freshdesk.com"),
    "link_field": (r"^cf_[a-z0-9_]+$", "the field's API name, which starts with cf_ (e.g. cf_case_link)"),
}


def link_request(case: NewCase) -> Request | None:
    if not case.case_id.isdigit():
        return None
    return json_request("PUT", f"{api_base(case.options)}/api/v2/tickets/{quote(case.case_id)}",
                        {"custom_fields": {case.options["link_field"]: case.url}})


async def headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": basic(option(options, "api_token", NAME), "X")}
