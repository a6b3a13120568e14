"""Jira Cloud and Jira Service Management: an admin webhook, or an automation rule.

Webhook (recommended): Settings (gear) > System > WebHooks > Create a WebHook.
  URL: the webhook URL above.  Secret: paste the secret above (or let Jira generate
  one and connect with `tracker source add TENANT jira --secret THAT_SECRET`).
  Events: Issue created, Issue updated, Comment created, Comment updated; a JQL filter
  such as `project = SUP` limits it to your service project.
  Jira signs each delivery: X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>.
Or automation: Project settings > Automation > Create rule > THEN "Send web request".
  URL: the webhook URL above; method POST; Web request body: Custom data;
  header Authorization: Bearer <the secret above> (tick Hidden).
  Rule "Work item created" / "Work item transitioned", custom data:
    {"webhookEvent": "jira:issue_updated",
     "issue": {"key": "{{issue.key}}", "fields": {
       "summary": {{issue.summary.asJsonString}},
       "status": {"name": {{issue.status.name.asJsonString}},
                  "statusCategory": {"key": "{{issue.status.statusCategory.key}}"}},
       "updated": "{{issue.updated.jiraDateTime}}"}}}
  Rule "Work item commented": the same, with "webhookEvent": "comment_created" and
  this member beside "issue":
    "comment": {"id": "{{comment.id}}", "body": {{comment.body.asJsonString}},
      "author": {"displayName": {{comment.author.displayName.asJsonString}}},
      "created": "{{comment.created.jiraDateTime}}",
      "internal": "{{comment.internal}}",
      "visibility": {"type": "{{comment.visibility.type}}",
                     "value": "{{comment.visibility.value}}"}}
Customers see a comment only when Jira marks it public (JSM "Reply to customer":
jsdPublic true, or internal false from automation, and no role or group
visibility); every other comment is kept as activity without its text.
Status category To Do / In Progress / Done is the stage received / in progress /
resolved (Closed, Canceled, Declined: closed); "Waiting for customer" is the
customer's move, "Pending" a third party's.
A link "is caused by" another issue (Jira Service Management's Problem/Incident
link type) links the case to that issue as its problem; removing the link in Jira
unlinks nothing (use tracker problem unlink).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from tracker.cases import Event, Update
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks.base import (
    MAX_PROBLEM_ID_CHARS,
    NO_OPTIONS,
    Headers,
    Move,
    Options,
    equal,
    hmac_matches,
    parse_time,
    problem_link,
    require_object,
    status_changes,
)
from tracker.helpdesks.writing import NewCase, Request, Writeback, api_base, basic, json_request, option

NAME = "jira"
TITLE = "Jira Service Management"  # these four are the cells of this helpdesk's row in the README's table
SIGNATURE = "`X-Hub-Signature` HMAC-SHA256, or a bearer token from automation"
DEDUPE = "`X-Atlassian-Webhook-Identifier` or body hash"
INTERNAL = "`jsdPublic: false`, restricted visibility, unflagged comments"
OPTIONS = {  # tracker source add ... --option KEY=VALUE
    "api_token": "write-back: an Atlassian API token; each new issue then gets its case link in link_field",
    "api_email": "write-back: the e-mail address of the Atlassian account the token belongs to",
    "api_base": "write-back: your Jira site, e.g. https://acme.atlassian.net",
    "link_field": "write-back: the custom field (URL type) for the link, e.g. customfield_10050",
}

_ISSUE_EVENTS = ("jira:issue_created", "jira:issue_updated")
_COMMENT_EVENTS = ("comment_created", "comment_updated")
# Changelog fields the case shows; an update touching none of them (labels, sprint,
# rank...) means nothing for the case.
_CASE_FIELDS = ("status", "summary", "reporter", "resolution")
# Linked problems. In an issue's `issuelinks` each entry names the *other* issue, as `inwardIssue`
# (Jira labels the link with the type's `inward` words) or `outwardIssue` (its `outward` words).
# JSM's Problem/Incident type (and Jira's Causes) shows on the incident "is caused by" the problem:
# the case waits on that issue. "is blocked by" is left out: Blocks orders any work (approvals,
# changes, subtasks), and the customer would be told of a known problem that is none.
_CAUSED_BY = "is caused by"
_LINK_FIELD = "Link"  # the changelog item of an update that made or removed a link
# A status gives the stage by its category (STATUSES, keyed by statusCategory.key), and whose
# move it is by its name (_WAITING_ON_BY_STATUS_NAME, lower case; any other name: ours). A Done
# status named as in _CLOSED_NAMES is closed rather than resolved.
STATUS_FIELD = "status category"  # what the keys of STATUSES are, for the setup page
STATUSES: Mapping[str, Move] = {
    "new": ("received", None),
    "indeterminate": ("in_progress", None),
    "done": ("resolved", None),
}
_WAITING_ON_BY_STATUS_NAME = {
    "waiting for customer": "customer",
    "pending": "third_party",
    "waiting for third party": "third_party",
    "waiting for vendor": "third_party",
}
_CLOSED_NAMES = ("closed", "canceled", "cancelled", "declined", "won't do")
# Jira's wiki markup: `\\` is a line break, and a backslash before a markup character shows
# that character (`issue\!`). Other markup (`*bold*`, `{code}`) reads well enough as it is.
WIKI_BREAK = re.compile(r"\\\\[ \t]*")
WIKI_ESCAPE = re.compile(r"\\([!*_+\-^~?{}\[\]|#()\\])")


def verify(headers: Headers, body: bytes, secret: str, now: datetime) -> None:
    signature = headers.get("x-hub-signature")
    if signature:
        if not hmac_matches(signature, secret, body, prefix="sha256="):
            raise Unauthorized("X-Hub-Signature does not match for source 'jira': set the webhook's Secret "
                               "in Jira to this source's secret (or reconnect with --secret).")
        return
    # Automation's "Send web request" cannot sign: it sends the secret as a bearer token.
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        if not equal(token.strip(), secret):
            raise Unauthorized("The Authorization bearer token does not match for source 'jira': set the "
                               "automation's header to 'Bearer ' followed by this source's secret.")
        return
    raise Unauthorized("Missing X-Hub-Signature header (Jira webhook with a Secret) or Authorization: Bearer "
                       "header (automation Send web request): is this webhook configured as source 'jira'?")


def parse(payload: Any, headers: Headers, options: Options = NO_OPTIONS, *,
          received_at: datetime | None = None) -> list[Event]:  # every payload carries its time
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object.")
    kind = payload.get("webhookEvent")
    if kind not in _ISSUE_EVENTS + _COMMENT_EVENTS:
        return []  # comment_deleted, worklogs, sprints, projects...
    issue = require_object(payload.get("issue"), "issue")
    key = issue.get("key")
    if not isinstance(key, str) or not key:
        raise BadRequest("issue.key is required (e.g. \"SUP-12\").")
    fields = require_object(issue.get("fields", {}), "issue.fields")
    comment = payload.get("comment")
    changes = _changes(fields)
    # Only ever a link: a payload without one cannot tell "unlinked" from "never linked" (nor
    # from an automation body that leaves links out), and must not undo an admin's link.
    problem = _problem(fields, key)
    if problem is not None:
        changes["problem"] = problem
    linked = problem is not None  # then the update that made the link is worth storing
    if kind == "jira:issue_updated" and comment is None and not _touches_case(payload.get("changelog"), linked=linked):
        return []
    update: Update | None = None
    internal = False
    if comment is None:
        occurred_at = _issue_time(payload, fields)
    else:
        comment = require_object(comment, "comment")
        occurred_at = parse_time(comment.get("updated") or comment.get("created"), "comment.created")
        if _is_public(comment):
            update = _update(comment, occurred_at)
        else:
            internal = True  # keep the activity, never its text
    return [Event(
        case_id=key,
        delivery_id=headers.get("x-atlassian-webhook-identifier", ""),
        occurred_at=occurred_at,
        changes=changes,
        update=update,
        internal=internal,
    )]


def _changes(fields: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if isinstance(fields.get("summary"), str):
        changes["title"] = fields["summary"]
    status = fields.get("status")
    if isinstance(status, dict) and isinstance(status.get("name"), str):
        name = status["name"]
        changes["status_label"] = name
        changes["waiting_on"] = _WAITING_ON_BY_STATUS_NAME.get(name.lower(), "company")
        category = status.get("statusCategory")
        key = category.get("key") if isinstance(category, dict) else None
        if isinstance(key, str):  # a missing or unknown category keeps the stage, shows the wording
            changes.update(status_changes(STATUSES, key))
        if changes.get("stage") == "resolved" and name.lower() in _CLOSED_NAMES:
            changes["stage"] = "closed"
    reporter = fields.get("reporter")
    if isinstance(reporter, dict):
        if isinstance(reporter.get("emailAddress"), str) and reporter["emailAddress"]:  # hidden by privacy: none
            changes["requester_email"] = reporter["emailAddress"]
        if isinstance(reporter.get("displayName"), str):
            changes["requester_name"] = reporter["displayName"]
    return changes


def _is_public(comment: dict[str, Any]) -> bool:
    """Fail closed: only a comment Jira marks public and restricts to no role or group."""
    visibility = comment.get("visibility")
    if isinstance(visibility, dict) and any(visibility.get(k) for k in ("type", "value", "identifier")):
        return False
    if "internal" in comment:  # the automation template's {{comment.internal}}
        return comment["internal"] in (False, "false")
    return comment.get("jsdPublic") is True


def _update(comment: dict[str, Any], at: datetime) -> Update:
    if not isinstance(comment.get("id"), str | int) or comment.get("id") == "":
        raise BadRequest("comment.id is required.")
    author = comment.get("author")
    name = author.get("displayName") if isinstance(author, dict) else None
    return Update(id=str(comment["id"]), at=at, body=_text(comment.get("body")),
                  author_display=name if isinstance(name, str) else "")


def _wiki_text(body: str) -> str:
    return WIKI_ESCAPE.sub(r"\1", WIKI_BREAK.sub("\n", body))


def _text(body: Any) -> str:
    """Wiki-markup string bodies without their escapes; Atlassian Document Format as its text."""
    if isinstance(body, str):
        return _wiki_text(body)
    if isinstance(body, dict):
        if body.get("type") == "text" and isinstance(body.get("text"), str):
            return str(body["text"])
        parts = [_text(child) for child in body.get("content") or ()]
        return ("\n" if body.get("type") == "doc" else "").join(parts)
    raise BadRequest("comment.body must be a string or an Atlassian Document Format object.")


def _issue_time(payload: dict[str, Any], fields: dict[str, Any]) -> datetime:
    if "updated" in fields:
        return parse_time(fields["updated"], "issue.fields.updated")
    timestamp = payload.get("timestamp")  # milliseconds, when Jira built the delivery
    if isinstance(timestamp, int) and not isinstance(timestamp, bool) and 0 <= timestamp < 10**14:
        return datetime.fromtimestamp(timestamp / 1000, UTC)
    raise BadRequest("issue.fields.updated or timestamp is required.")


def _touches_case(changelog: Any, *, linked: bool) -> bool:
    """Whether the update changed what the case shows; a change of links counts when the issue
    now has a problem (the update Jira sends when the link is made)."""
    items = changelog.get("items") if isinstance(changelog, dict) else None
    if not isinstance(items, list) or not items:
        return True  # nothing says what changed: take the issue as it is now
    fields = _CASE_FIELDS + (_LINK_FIELD,) if linked else _CASE_FIELDS
    return any(isinstance(item, dict) and item.get("field") in fields for item in items)


def _problem(fields: dict[str, Any], own_key: str) -> str | None:
    """The problem the issue's links say it is caused by ("jira:KEY", the other issue's case),
    the first such link in Jira's order; None when there is none."""
    links = fields.get("issuelinks")
    if not isinstance(links, list):
        return None
    for index, link in enumerate(links):
        key = _caused_by_key(link)
        if key is not None and key != own_key:  # a case is never its own problem
            # The key is checked above, so this names the field but never raises.
            return problem_link({"source": NAME, "id": key}, f"issue.fields.issuelinks[{index}]")
    return None


def _caused_by_key(link: Any) -> str | None:
    """The key of the issue this link entry says this one is caused by. Any other link, and an
    entry that is not a well-formed link, gives None: skipped, so the rest of the update holds."""
    if not isinstance(link, dict) or not isinstance(link.get("type"), dict):
        return None
    sides = [side for side in ("inward", "outward") if f"{side}Issue" in link]
    if len(sides) != 1:
        return None  # an issue's link names the other issue once
    label = link["type"].get(sides[0])
    if not isinstance(label, str) or label.strip().lower() != _CAUSED_BY:
        return None
    other = link[f"{sides[0]}Issue"]
    key = other.get("key") if isinstance(other, dict) else None
    if not isinstance(key, str) or len(key) > MAX_PROBLEM_ID_CHARS or not ISSUE_KEY.fullmatch(key):
        return None  # not an issue key, the form of this source's case ids
    return key


# --- Write-back ---
# Jira Cloud and Jira Service Management: the case link in a custom field of the issue.
#
# PUT {api_base}/rest/api/3/issue/{key} with {"fields": {"customfield_NNNNN": URL}}; Jira answers
# 204. The field (type URL, or a short text) must be on the issue's edit screen. An API token
# authenticates as `{email}:{api_token}` in HTTP basic authentication. Automation and JSM
# replies then say `{{issue.customfield_NNNNN}}`.

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


# An internal note (a nudge): Jira Service Management's internal comment, POST
# {api_base}/rest/servicedeskapi/request/{key}/comment with {"body": TEXT, "public": false}; Jira
# answers 201. Agents may write internal comments; customers never see them. (A Jira Software
# project has no customers and no internal comments: there, this request is refused and the nudge
# reaches the team through the company's webhook.)
# https://developer.atlassian.com/cloud/jira/service-desk/rest/api-group-request/#api-rest-servicedeskapi-request-issueidorkey-comment-post
def note_request(case: NewCase, text: str) -> Request | None:
    if not ISSUE_KEY.match(case.case_id):
        return None
    return json_request("POST", f"{api_base(case.options)}/rest/servicedeskapi/request/{quote(case.case_id)}/comment",
                        {"body": text, "public": False})


async def api_headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": basic(option(options, "api_email", NAME), option(options, "api_token", NAME)),
            "Accept": "application/json"}


WRITEBACK = Writeback(CREDENTIALS, link_request, api_headers, REQUIRED, FORMATS, note_request=note_request)
