"""GitHub Issues: issue state, labels and comments, signed with X-Hub-Signature-256.

In the repository (or organization): Settings > Webhooks > Add webhook.
  Payload URL    the webhook URL printed above
  Content type   application/json (required: form-encoded deliveries are rejected)
  Secret         the secret printed above (GitHub takes any text you paste; to keep
                 your own, connect with `tracker source add TENANT github --secret ...`)
  SSL            keep "Enable SSL verification"
  Events         "Let me select individual events": tick Issues and Issue comments
                 (for linked problems also the sub_issues and issue_dependencies
                 events), untick Pushes. Active: ticked. Add webhook.
GitHub then sends a ping, which is answered 202 and stored as nothing.

What the case page shows:
  - the case id is the issue reference OWNER/REPO#NUMBER, e.g. octo/app#12, so one
    organization webhook can serve several repositories;
  - opened -> received; assigned -> in progress; reopened -> in progress;
    closed as completed -> resolved; closed as not planned or duplicate -> closed;
    deleted -> closed ("Deleted"); transferred -> closed ("Moved to another repository");
  - labels set whose move it is: "waiting for customer", "needs info" (and similar)
    -> the customer's; "blocked", "upstream", "waiting for third party" -> a third
    party's; removing them gives the move back to you; other labels are ignored;
  - every issue comment is a public update (an issue is public to whoever can read
    the repository); comments on pull requests are ignored;
  - an issue that gets a parent (sub_issues parent_issue_added) or a blocker
    (issue_dependencies blocked_by_added) is linked to that issue as its problem,
    github:OWNER/REPO#NUMBER; the newest link wins, and removing one in GitHub
    unlinks nothing (the admin API or `tracker problem unlink` does).
Each delivery is verified with HMAC-SHA256 over the raw body (X-Hub-Signature-256);
GitHub sends no timestamp, so a redelivery is recognised by its X-GitHub-Delivery id.
"""

from __future__ import annotations

import re
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
    hmac_matches,
    parse_time,
    problem_link,
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

NAME = "github"
TITLE = "GitHub"  # these four are this helpdesk's cells in the README's table
SIGNATURE = "`X-Hub-Signature-256`, HMAC-SHA256 hex"
DEDUPE = "`X-GitHub-Delivery`"
INTERNAL = "(issues are public)"
OPTIONS = {  # tracker source add ... --option KEY=VALUE
    "api_token": "write-back: a GitHub token that may comment on issues; each new issue then gets a comment "
                 "with its case link",
    "api_base": "write-back: https://HOST/api/v3 for GitHub Enterprise Server (default https://api.github.com)",
    "link_text": LINK_TEXT_HELP,
}

# Label names, normalised by _label_key, that say whose move it is.
_LABEL_WAITING_ON = {
    "waiting for customer": "customer",
    "waiting on customer": "customer",
    "awaiting customer": "customer",
    "needs info": "customer",
    "needs more info": "customer",
    "more info needed": "customer",
    "waiting for feedback": "customer",
    "awaiting feedback": "customer",
    "waiting for third party": "third_party",
    "waiting on third party": "third_party",
    "blocked": "third_party",
    "upstream": "third_party",
}


def verify(headers: Headers, body: bytes, secret: str, now: datetime) -> None:
    signature = require_header(headers, "x-hub-signature-256", NAME)
    if not hmac_matches(signature, secret, body, prefix="sha256="):
        raise Unauthorized("X-Hub-Signature-256 does not match for source 'github': paste the "
                           "secret printed by `tracker source add` into the webhook's Secret field.")


def parse(payload: Any, headers: Headers, options: Options = NO_OPTIONS, *,
          received_at: datetime | None = None) -> list[Event]:  # every payload carries its time
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object (set the webhook's content type to application/json).")
    kind = headers.get("x-github-event")
    if not kind:
        raise BadRequest("The x-github-event header is missing: is this webhook configured as source 'github'?")
    delivery = headers.get("x-github-delivery", "")
    if kind == "issues":
        event = _issue_event(payload, delivery, received_at)
    elif kind == "issue_comment":
        event = _comment_event(payload, delivery)
    elif kind in ("sub_issues", "issue_dependencies"):
        event = _link_event(payload, kind, delivery, received_at)
    else:  # ping and every event we were not asked for
        event = None
    return [] if event is None else [event]


def _issue_event(payload: dict[str, Any], delivery: str, received_at: datetime | None) -> Event | None:
    issue = require_object(payload.get("issue"), "issue")
    action = payload.get("action")
    changes: dict[str, Any] = {"title": require_text(issue.get("title"), "issue.title")}
    at = parse_time(issue.get("updated_at"), "issue.updated_at")
    if action == "opened":
        at = parse_time(issue.get("created_at"), "issue.created_at")
        changes.update(stage="received", waiting_on=_labels_waiting_on(issue), status_label="Open",
                       requester_name=_login(issue.get("user")))
    elif action == "closed":
        at = parse_time(issue.get("closed_at") or issue.get("updated_at"), "issue.closed_at")
        reason = issue.get("state_reason")
        if reason in ("not_planned", "duplicate"):
            changes.update(stage="closed", status_label=f"Closed as {reason.replace('_', ' ')}")
        else:  # "completed", or null from before GitHub recorded a reason
            changes.update(stage="resolved", status_label="Closed as completed")
    elif action == "reopened":
        changes.update(stage="in_progress", waiting_on=_labels_waiting_on(issue), status_label="Reopened")
    elif action == "assigned" and issue.get("state") == "open":
        changes.update(stage="in_progress")
    elif action in ("labeled", "unlabeled"):
        label = require_object(payload.get("label"), "label")
        if _label_key(label.get("name")) not in _LABEL_WAITING_ON:
            return None
        changes.update(waiting_on=_labels_waiting_on(issue))
    elif action == "edited" and "title" in (payload.get("changes") or {}):
        pass  # the new title is already in changes
    elif action in ("deleted", "transferred"):
        # The issue is gone from this repository, so the case ends here (a transferred issue
        # goes on under another number, which this case cannot follow). Neither payload says
        # when: the delivery's arrival is the best time we have.
        at = received_at or at
        moved = action == "transferred"
        changes.update(stage="closed", status_label="Moved to another repository" if moved else "Deleted")
    else:
        return None
    return Event(case_id=_case_id(payload, issue), delivery_id=delivery, occurred_at=at, changes=changes)


def _comment_event(payload: dict[str, Any], delivery: str) -> Event | None:
    issue = require_object(payload.get("issue"), "issue")
    if issue.get("pull_request") is not None or payload.get("action") not in ("created", "edited"):
        return None  # pull requests are not cases; a deleted comment cannot be unshown
    comment = require_object(payload.get("comment"), "comment")
    if not isinstance(comment.get("id"), int):
        raise BadRequest("comment.id is required (a number).")
    # An edit keeps the comment id and carries a newer updated_at, so the edit wins.
    field = "updated_at" if comment.get("updated_at") else "created_at"
    at = parse_time(comment.get(field), f"comment.{field}")
    update = Update(id=str(comment["id"]), at=at, body=require_text(comment.get("body"), "comment.body"),
                    author_display=_login(comment.get("user")) or "")
    return Event(case_id=_case_id(payload, issue), delivery_id=delivery, occurred_at=at,
                 changes={"title": require_text(issue.get("title"), "issue.title")}, update=update)


# The deliveries that link a case to the problem it waits on, by (event, action): the payload's
# keys of the waiting issue (the case) and of the issue it waits on. Each relationship also has
# a delivery from the other end (sub_issue_added, blocking_added): those are left out, so that
# the problem's side never makes a case of an issue in a repository nobody follows.
_LINKS = {
    ("sub_issues", "parent_issue_added"): ("sub_issue", "parent_issue"),
    ("issue_dependencies", "blocked_by_added"): ("blocked_issue", "blocking_issue"),
}
# An issue's repository_url: https://api.github.com/repos/OWNER/REPO (GHES: https://HOST/api/v3/repos/...).
_REPOSITORY_URL = re.compile(r"^https?://[^/]+(?:/[^/]+)*?/repos/([A-Za-z0-9-]+/[A-Za-z0-9._-]+)$")


def _link_event(payload: dict[str, Any], kind: str, delivery: str, received_at: datetime | None) -> Event | None:
    ends = _LINKS.get((kind, str(payload.get("action"))))
    if ends is None:
        # Removals too: a case keeps one problem, and a removal cannot tell whether it is the
        # one the case is linked to now (another blocker, a new parent, an admin's link).
        return None
    waiting, awaited = ends
    issue = require_object(payload.get(waiting), waiting)
    case_id, problem_id = _issue_ref(issue, waiting), _issue_ref(payload.get(awaited), awaited)
    if problem_id == case_id:
        return None  # a case cannot wait on itself
    # The payload does not say when the link was made: its arrival is the best time we have.
    at = received_at or parse_time(issue.get("updated_at"), f"{waiting}.updated_at")
    changes = {"title": require_text(issue.get("title"), f"{waiting}.title"),
               "problem": problem_link({"source": NAME, "id": problem_id}, awaited)}
    return Event(case_id=case_id, delivery_id=delivery, occurred_at=at, changes=changes)


def _issue_ref(value: Any, where: str) -> str:
    """OWNER/REPO#NUMBER of an issue object, from its own repository_url: the two ends of a
    relationship may be in different repositories, and `repository` names only one."""
    issue = require_object(value, where)
    url, number = issue.get("repository_url"), issue.get("number")
    match = _REPOSITORY_URL.match(url) if isinstance(url, str) else None
    if match is None:
        raise BadRequest(f"{where}.repository_url is required (the issue's API URL, .../repos/OWNER/REPO).")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise BadRequest(f"{where}.number is required (a number).")
    return f"{match.group(1)}#{number}"


def _case_id(payload: dict[str, Any], issue: dict[str, Any]) -> str:
    # Issue numbers count per repository: the full reference keeps two repositories apart.
    repository = require_object(payload.get("repository"), "repository")
    name, number = repository.get("full_name"), issue.get("number")
    if not isinstance(name, str) or not name:
        raise BadRequest("repository.full_name is required.")
    if not isinstance(number, int):
        raise BadRequest("issue.number is required (a number).")
    return f"{name}#{number}"


def _labels_waiting_on(issue: dict[str, Any]) -> str:
    labels = issue.get("labels") or []
    found = {_LABEL_WAITING_ON.get(_label_key(label.get("name"))) for label in labels if isinstance(label, dict)}
    for party in ("customer", "third_party"):
        if party in found:
            return party
    return "company"


def _label_key(name: Any) -> str:
    """"Status: Waiting-for-customer" -> "waiting for customer"."""
    if not isinstance(name, str):
        return ""
    words = re.sub(r"[\s_:/-]+", " ", name.lower()).split()
    if words[:1] == ["status"]:
        words = words[1:]
    return " ".join(words)


def _login(user: Any) -> str | None:
    login = user.get("login") if isinstance(user, dict) else None
    return login if isinstance(login, str) else None


# --- Write-back ---
# GitHub: a comment on the issue with the case link.
#
# GitHub has no internal comments, and the issue's author is the customer: the comment is public
# and GitHub notifies them. POST {api_base}/repos/{owner}/{repo}/issues/{number}/comments with
# {"body": ...}; GitHub answers 201. The token (fine-grained: Issues read and write on the
# repositories; classic: public_repo or repo) goes in `Authorization: Bearer`.

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


async def api_headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {option(options, 'api_token', NAME)}",
            "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}


WRITEBACK = Writeback(CREDENTIALS, link_request, api_headers, REQUIRED, FORMATS, comment_request=comment_request)
