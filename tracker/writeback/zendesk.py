"""Zendesk: the case link in a ticket field, for macros and e-mail templates.

PUT {api_base}/api/v2/tickets/{id}.json with
{"ticket": {"custom_fields": [{"id": FIELD_ID, "value": URL}]}}; Zendesk answers 200. An API
token authenticates as `{email}/token:{api_token}` in HTTP basic authentication. A macro or
trigger e-mail then says `{{ticket.ticket_field_FIELD_ID}}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tracker.helpdesks.writing import NewCase, Options, Request, api_base, basic, json_request, option

NAME = "zendesk"
CREDENTIALS: tuple[str, ...] = ("api_token",)
REQUIRED: tuple[str, ...] = ("api_base", "api_email", "link_field_id")
FORMATS: Mapping[str, tuple[str, str]] = {
    "api_base": (r"^https?://[^\s/]+/?$", "your Zendesk address, e.g. https://acme.zendesk.com"),
    "link_field_id": (r"^[0-9]+$", "the ticket field's number, from Admin Center > Objects and rules > Tickets > "
                                   "Fields (the ID column)"),
}


def link_request(case: NewCase) -> Request | None:
    if not case.case_id.isdigit():
        return None
    field = {"id": int(case.options["link_field_id"]), "value": case.url}
    return json_request("PUT", f"{api_base(case.options)}/api/v2/tickets/{quote(case.case_id)}.json",
                        {"ticket": {"custom_fields": [field]}})


async def headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": basic(f"{option(options, 'api_email', NAME)}/token", option(options, "api_token", NAME))}
