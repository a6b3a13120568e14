"""Jira Cloud and Jira Service Management: the case link in a custom field of the issue.

PUT {api_base}/rest/api/3/issue/{key} with {"fields": {"customfield_NNNNN": URL}}; Jira answers
204. The field (type URL, or a short text) must be on the issue's edit screen. An API token
authenticates as `{email}:{api_token}` in HTTP basic authentication. Automation and JSM
replies then say `{{issue.customfield_NNNNN}}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tracker.helpdesks.writing import NewCase, Options, Request, api_base, basic, json_request, option

NAME = "jira"
CREDENTIALS: tuple[str, ...] = ("api_token",)
REQUIRED: tuple[str, ...] = ("api_base", "api_email", "link_field")
FORMATS: Mapping[str, tuple[str, str]] = {
    "api_base": (r"^https?://[^\s/]+/?$", "your Jira site, e.g. https://acme.atlassian.net"),
    "link_field": (r"^customfield_[0-9]+$", "the field's id, customfield_ and a number (e.g. customfield_10050)"),
}
ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]*-[0-9]+$")


def link_request(case: NewCase) -> Request | None:
    if not ISSUE_KEY.match(case.case_id):
        return None
    return json_request("PUT", f"{api_base(case.options)}/rest/api/3/issue/{quote(case.case_id)}",
                        {"fields": {case.options["link_field"]: case.url}})


async def headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": basic(option(options, "api_email", NAME), option(options, "api_token", NAME)),
            "Accept": "application/json"}
