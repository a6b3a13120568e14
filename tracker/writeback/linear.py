"""Linear: a comment on the issue with the case link (Linear comments are workspace-internal).

POST {api_base}/graphql with the `commentCreate` mutation, naming the issue by its UUID, which
the webhook body that created the case carries (`data.id` of an Issue event, `data.issueId` of
a Comment event). A personal API key goes in `Authorization` as it is (no "Bearer").
GraphQL reports some errors in an `errors` list of a 200 answer: a 2xx answer counts as
delivered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracker.helpdesks.writing import NOTE_TEXT, NewCase, Options, Request, api_base, json_request, link_text, option

NAME = "linear"
CREDENTIALS: tuple[str, ...] = ("api_token",)
REQUIRED: tuple[str, ...] = ()
FORMATS: Mapping[str, tuple[str, str]] = {
    "api_token": (r"^lin_api_\S+$", "a personal API key (Settings > Security & access), starting lin_api_"),
}
DEFAULT_API_BASE = "https://api.linear.app"
MUTATION = "mutation CaseLink($input: CommentCreateInput!) { commentCreate(input: $input) { success } }"


def link_request(case: NewCase) -> Request | None:
    issue_id = _issue_uuid(case.payload)
    if issue_id is None:
        return None
    return json_request("POST", f"{api_base(case.options, DEFAULT_API_BASE)}/graphql", {
        "query": MUTATION, "variables": {"input": {"issueId": issue_id, "body": link_text(case, NOTE_TEXT)}},
    })


def _issue_uuid(payload: Any) -> str | None:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return None
    found = data.get("id") if payload.get("type") == "Issue" else data.get("issueId")
    return found if isinstance(found, str) and found else None


async def headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": option(options, "api_token", NAME)}
