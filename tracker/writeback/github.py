"""GitHub: a comment on the issue with the case link.

GitHub has no internal comments, and the issue's author is the customer: the comment is public
and GitHub notifies them. POST {api_base}/repos/{owner}/{repo}/issues/{number}/comments with
{"body": ...}; GitHub answers 201. The token (fine-grained: Issues read and write on the
repositories; classic: public_repo or repo) goes in `Authorization: Bearer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tracker.helpdesks.writing import COMMENT_TEXT, NewCase, Options, Request, api_base, json_request, link_text, option

NAME = "github"
CREDENTIALS: tuple[str, ...] = ("api_token",)
REQUIRED: tuple[str, ...] = ()
FORMATS: Mapping[str, tuple[str, str]] = {}
DEFAULT_API_BASE = "https://api.github.com"  # GitHub Enterprise Server: https://HOST/api/v3
API_VERSION = "2022-11-28"


def link_request(case: NewCase) -> Request | None:
    return comment_request(case, link_text(case, COMMENT_TEXT))


def comment_request(case: NewCase, text: str) -> Request | None:
    """A comment on the issue the case is (also used for the customer's verdict)."""
    repository, sep, number = case.case_id.rpartition("#")  # OWNER/REPO#NUMBER
    owner, slash, repo = repository.partition("/")
    if not sep or not slash or not owner or not repo or not number.isdigit():
        return None
    path = f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}/issues/{number}/comments"
    return json_request("POST", api_base(case.options, DEFAULT_API_BASE) + path, {"body": text})


async def headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {option(options, 'api_token', NAME)}",
            "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
