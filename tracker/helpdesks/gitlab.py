"""GitLab issues and their comments, authenticated by the webhook's secret token.

In the project (or group): Settings > Webhooks > Add new webhook.
  URL           the webhook URL printed above
  Secret token  the secret printed above (GitLab takes any text you paste; to keep
                your own, connect with `tracker source add TENANT gitlab --secret ...`)
  Trigger       tick "Issues events", "Comments" and, if your team writes internal
                notes, "Confidential comments" (they are counted, never shown)
  SSL           keep "Enable SSL verification". Add webhook.
GitLab sends the secret token back unchanged in the X-Gitlab-Token header: it is a
shared password, not a signature, so serve the tracker over HTTPS only. Each delivery
is checked against it in constant time. GitLab sends no timestamp; a retry carries the
same Idempotency-Key (or X-Gitlab-Event-UUID) and is stored once.

What the case page shows:
  - the case id is the issue reference GROUP/PROJECT#IID, e.g. acme/app#23, so one
    group webhook can serve several projects;
  - opened -> received; assigned -> in progress; reopened -> in progress;
    closed -> resolved (closed as a duplicate or moved -> closed);
  - comments on the issue are public updates, with the commenter's name; internal
    notes and every comment on a confidential issue are kept as activity without
    their text; system notes and comments on merge requests are ignored.
GitLab's newer signing token (webhook-signature headers) is not used yet: leave it empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from tracker.cases import Event, Update
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks.base import (
    LINK_TEXT_HELP,
    NO_OPTIONS,
    Headers,
    Options,
    equal,
    parse_time,
    require_header,
    require_object,
    require_text,
)
from tracker.helpdesks.writing import (
    COMMENT_TEXT,
    NewCase,
    Request,
    Writeback,
    api_base,
    json_request,
    link_text,
    option,
)

NAME = "gitlab"
TITLE = "GitLab"  # these four are the cells of this helpdesk's row in the README's table
SIGNATURE = "`X-Gitlab-Token` shared token"
DEDUPE = "`Idempotency-Key` / `X-Gitlab-Event-UUID`"
INTERNAL = ("internal notes and every comment on a confidential issue (its title and stage are shown to the link's "
            "holder: Service Desk issues are confidential)")
OPTIONS = {  # tracker source add ... --option KEY=VALUE
    "api_token": "write-back: an access token with the api scope (Reporter or above); each new issue then gets "
                 "a comment with its case link",
    "api_base": "write-back: https://HOST/api/v4 for self-managed GitLab (default https://gitlab.com/api/v4)",
    "link_text": LINK_TEXT_HELP,
}


def verify(headers: Headers, body: bytes, secret: str, now: datetime) -> None:
    token = require_header(headers, "x-gitlab-token", NAME)
    if not equal(token, secret):
        raise Unauthorized("X-Gitlab-Token does not match for source 'gitlab': paste the secret printed by "
                           "`tracker source add` into the webhook's Secret token field.")


def parse(payload: Any, headers: Headers, options: Options = NO_OPTIONS, *,
          received_at: datetime | None = None) -> list[Event]:  # every payload carries its time
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object.")
    # Idempotency-Key stays the same on retries; older GitLab sends only the event UUID.
    delivery = headers.get("idempotency-key") or headers.get("x-gitlab-event-uuid") or ""
    kind = payload.get("object_kind")
    if kind == "issue":
        event = _issue_event(payload, delivery)
    elif kind == "note":
        event = _note_event(payload, headers, delivery)
    else:  # merge requests, pushes, pipelines, ...
        event = None
    return [] if event is None else [event]


def _issue_event(payload: dict[str, Any], delivery: str) -> Event | None:
    issue = require_object(payload.get("object_attributes"), "object_attributes")
    action = issue.get("action")
    changes: dict[str, Any] = {"title": require_text(issue.get("title"), "object_attributes.title")}
    at = _time(issue.get("updated_at"), "object_attributes.updated_at")
    if action == "open":
        at = _time(issue.get("created_at"), "object_attributes.created_at")
        changes.update(stage="received", waiting_on="company", status_label="Open")
        user = payload.get("user")
        if isinstance(user, dict) and isinstance(user.get("name"), str):
            changes["requester_name"] = user["name"]  # on "open" the acting user is the author
    elif action == "close":
        if issue.get("closed_at"):
            at = _time(issue["closed_at"], "object_attributes.closed_at")
        if issue.get("duplicated_to_id") or issue.get("moved_to_id"):
            changes.update(stage="closed", status_label="Closed")
        else:
            changes.update(stage="resolved", status_label="Closed")
    elif action == "reopen":
        changes.update(stage="in_progress", waiting_on="company", status_label="Open")
    elif action == "update":
        updated = payload.get("changes") or {}
        if "assignees" in updated and payload.get("assignees") and issue.get("state") == "opened":
            changes["stage"] = "in_progress"
        elif "title" not in updated:
            return None  # labels, description, weight, ...: nothing the customer sees
    else:
        return None
    project = require_object(payload.get("project"), "project")
    return Event(case_id=_case_id(project, issue.get("iid"), "object_attributes.iid"),
                 delivery_id=delivery, occurred_at=at, changes=changes)


def _note_event(payload: dict[str, Any], headers: Headers, delivery: str) -> Event | None:
    note = require_object(payload.get("object_attributes"), "object_attributes")
    if note.get("noteable_type") != "Issue" or note.get("system"):
        return None
    issue = require_object(payload.get("issue"), "issue")
    case_id = _case_id(require_object(payload.get("project"), "project"), issue.get("iid"), "issue.iid")
    at = _time(note.get("created_at"), "object_attributes.created_at")
    # GitLab marks internal notes, and every note on a confidential issue, confidential_note.
    internal = (payload.get("event_type") == "confidential_note"
                or headers.get("x-gitlab-event") == "Confidential Note Hook"
                or note.get("internal") is True or note.get("confidential") is True
                or issue.get("confidential") is True)
    if internal:
        # The note's text is dropped; the issue's title is not the note's, and a case first
        # heard of through an internal note should not start without one.
        title = {"title": issue["title"]} if isinstance(issue.get("title"), str) else {}
        return Event(case_id=case_id, delivery_id=delivery, occurred_at=at, changes=title, internal=True)
    if not isinstance(note.get("id"), int):
        raise BadRequest("object_attributes.id is required (a number).")
    if note.get("action") == "update" and note.get("updated_at"):
        at = _time(note["updated_at"], "object_attributes.updated_at")  # the edit wins
    user = payload.get("user")
    author = user.get("name") if isinstance(user, dict) else None
    update = Update(id=str(note["id"]), at=at, body=require_text(note.get("note"), "object_attributes.note"),
                    author_display=author if isinstance(author, str) else "")
    return Event(case_id=case_id, delivery_id=delivery, occurred_at=at,
                 changes={"title": require_text(issue.get("title"), "issue.title")}, update=update)


def _case_id(project: dict[str, Any], iid: Any, where: str) -> str:
    # Issue iids count per project: the full reference keeps two projects apart.
    path = project.get("path_with_namespace")
    if not isinstance(path, str) or not path:
        raise BadRequest("project.path_with_namespace is required.")
    if not isinstance(iid, int):
        raise BadRequest(f"{where} is required (a number).")
    return f"{path}#{iid}"


def _time(value: Any, where: str) -> datetime:
    # Issue hooks send "2013-12-03T17:15:43Z", note hooks "2015-05-17 17:06:40 UTC".
    if isinstance(value, str) and value.endswith(" UTC"):
        value = value.removesuffix(" UTC") + "+00:00"
    return parse_time(value, where)


# --- Write-back ---
# GitLab: a comment (note) on the issue with the case link.
#
# The issue's author is the customer, so the note is an ordinary comment they are notified of.
# POST {api_base}/projects/{url-encoded path}/issues/{iid}/notes with {"body": ...}; GitLab
# answers 201. The token (a project or personal access token with the `api` scope, role Reporter
# or above) goes in the `PRIVATE-TOKEN` header.

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


async def api_headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"PRIVATE-TOKEN": option(options, "api_token", NAME)}


WRITEBACK = Writeback(CREDENTIALS, link_request, api_headers, REQUIRED, FORMATS, comment_request=comment_request)
