"""GitLab: a comment (note) on the issue with the case link.

The issue's author is the customer, so the note is an ordinary comment they are notified of.
POST {api_base}/projects/{url-encoded path}/issues/{iid}/notes with {"body": ...}; GitLab
answers 201. The token (a project or personal access token with the `api` scope, role Reporter
or above) goes in the `PRIVATE-TOKEN` header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tracker.helpdesks.writing import COMMENT_TEXT, NewCase, Options, Request, api_base, json_request, link_text, option

NAME = "gitlab"
CREDENTIALS: tuple[str, ...] = ("api_token",)
REQUIRED: tuple[str, ...] = ()
FORMATS: Mapping[str, tuple[str, str]] = {}
DEFAULT_API_BASE = "https://gitlab.com/api/v4"  # self-managed: https://HOST/api/v4


def link_request(case: NewCase) -> Request | None:
    return comment_request(case, link_text(case, COMMENT_TEXT))


def comment_request(case: NewCase, text: str) -> Request | None:
    """A note on the issue the case is (also used for the customer's verdict)."""
    project, sep, iid = case.case_id.rpartition("#")  # GROUP/PROJECT#IID
    if not sep or not project or not iid.isdigit():
        return None
    path = f"/projects/{quote(project, safe='')}/issues/{iid}/notes"
    return json_request("POST", api_base(case.options, DEFAULT_API_BASE) + path, {"body": text})


async def headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"PRIVATE-TOKEN": option(options, "api_token", NAME)}
