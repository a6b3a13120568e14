"""The jira source: X-Hub-Signature (admin webhooks) or a bearer token (automation), status
categories, public JSM replies, internal comments kept without their text."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import tracker.helpdesks
from tests.conftest import link_for, sse_events
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks import jira
from tracker.storage.base import SourceConfig

FIXTURES = Path(__file__).parent.parent / "fixtures" / "jira"
SECRET = "jira-test-secret-4f1c"
NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
NAMES = ["jira_issue_updated.status.json", "comment_created.public.json", "comment_created.internal.json",
         "automation.comment_created.json"]
MARKER = "INTERNAL-7f3a"
PUBLIC_REPLY = "We found the cause: the export times out on invoices with more than 500 lines."
CET = timezone(timedelta(hours=1))


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def parse(payload: dict[str, Any]) -> list[Any]:
    return jira.parse(payload, {"x-atlassian-webhook-identifier": "d-1"})


# --- verify ---

@pytest.mark.parametrize("name", NAMES)
def test_signed_fixture_verifies(name):
    body = (FIXTURES / name).read_bytes()
    jira.verify({"x-hub-signature": sign(body)}, body, SECRET, NOW)


@pytest.mark.parametrize("name", NAMES)
def test_automation_bearer_token_verifies(name):
    body = (FIXTURES / name).read_bytes()
    jira.verify({"authorization": f"Bearer {SECRET}"}, body, SECRET, NOW)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("change", ["body", "secret", "sha1", "missing"])
def test_wrong_or_missing_signature_is_rejected(name, change):
    body = (FIXTURES / name).read_bytes()
    headers = {"x-hub-signature": sign(body)}
    secret = SECRET
    if change == "body":
        body = body.replace(b"TEST-1", b"TEST-2")
    elif change == "secret":
        secret = "another secret"
    elif change == "sha1":
        headers = {"x-hub-signature": "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()}
    else:
        headers = {}
    with pytest.raises(Unauthorized, match="X-Hub-Signature"):
        jira.verify(headers, body, secret, NOW)


@pytest.mark.parametrize("value", ["Bearer wrong-secret", f"Basic {SECRET}", "Bearer "])
def test_wrong_bearer_token_is_rejected(value):
    body = (FIXTURES / NAMES[0]).read_bytes()
    with pytest.raises(Unauthorized, match="(?i)bearer"):
        jira.verify({"authorization": value}, body, SECRET, NOW)


# --- parse ---

def test_status_change_maps_the_category_and_keeps_the_wording():
    [event] = parse(load("jira_issue_updated.status.json"))
    assert event.case_id == "TEST-1" and event.delivery_id == "d-1"
    assert event.occurred_at == datetime(2017, 1, 30, 18, 32, 14, 716000, tzinfo=CET)
    assert event.changes == {"title": "Fix That", "stage": "in_progress", "status_label": "In Progress",
                             "waiting_on": "company", "requester_email": "kolaszek@tlen.pl",
                             "requester_name": "James Williams"}
    assert event.update is None and not event.internal


@pytest.mark.parametrize(("category", "name", "stage", "waiting_on"), [
    ("new", "Open", "received", "company"),
    ("new", "Waiting for support", "received", "company"),
    ("indeterminate", "Waiting for customer", "in_progress", "customer"),
    ("indeterminate", "Pending", "in_progress", "third_party"),
    ("done", "Resolved", "resolved", "company"),
    ("done", "Done", "resolved", "company"),
    ("done", "Closed", "closed", "company"),
    ("done", "Canceled", "closed", "company"),
])
def test_status_mapping(category, name, stage, waiting_on):
    payload = load("jira_issue_updated.status.json")
    payload["issue"]["fields"]["status"] = {"name": name, "statusCategory": {"key": category}}
    [event] = parse(payload)
    assert (event.changes["stage"], event.changes["waiting_on"], event.changes["status_label"]) == \
        (stage, waiting_on, name)


def test_unknown_status_category_keeps_the_stage_but_shows_the_wording():
    payload = load("jira_issue_updated.status.json")
    payload["issue"]["fields"]["status"] = {"name": "Triage", "statusCategory": {"key": "undefined"}}
    [event] = parse(payload)
    assert "stage" not in event.changes and event.changes["status_label"] == "Triage"


def test_update_of_fields_the_case_does_not_show_means_nothing():
    payload = load("jira_issue_updated.status.json")
    payload["changelog"]["items"] = [{"field": "labels", "fromString": "", "toString": "billing"}]
    assert parse(payload) == []


def test_public_jsm_reply_is_an_update_by_the_agent():
    [event] = parse(load("comment_created.public.json"))
    assert event.case_id == "TEST-1" and not event.internal
    assert event.update is not None
    assert event.update.id == "10100" and event.update.author_display == "Dana Agent"
    assert event.update.body.startswith(PUBLIC_REPLY)
    assert event.update.at == event.occurred_at == datetime(2017, 1, 30, 18, 42, 0, 503000, tzinfo=CET)
    assert event.changes["status_label"] == "Waiting for customer"
    assert event.changes["waiting_on"] == "customer"


def test_internal_jsm_comment_is_activity_without_text():
    [event] = parse(load("comment_created.internal.json"))
    assert event.internal and event.update is None
    assert MARKER not in repr(event) and "legacy plan" not in repr(event)


@pytest.mark.parametrize("change", [
    {"visibility": {"type": "role", "value": "Administrators", "identifier": "Administrators"}},
    {"visibility": {"type": "group", "value": "jira-servicedesk-users"}},
    {"jsdPublic": None},  # no flag at all (Jira Software, Jira Server): never shown
])
def test_restricted_or_unflagged_comment_is_internal(change):
    payload = load("comment_created.public.json")
    payload["comment"].update(change)
    payload["comment"] = {k: v for k, v in payload["comment"].items() if v is not None}
    [event] = parse(payload)
    assert event.internal and event.update is None
    assert PUBLIC_REPLY not in repr(event)


def test_automation_comment_is_accepted():
    [event] = jira.parse(load("automation.comment_created.json"), {})
    assert event.delivery_id == ""  # no delivery header: the endpoint uses the body hash
    assert event.update is not None and event.update.body == "The fix is live: please try the export again."
    assert event.changes["stage"] == "resolved" and event.changes["status_label"] == "Resolved"
    assert event.occurred_at == datetime(2017, 1, 30, 18, 50, 12, tzinfo=CET)


@pytest.mark.parametrize("internal", ["true", ""])  # "" when the smart value renders nothing
def test_automation_internal_or_unknown_comment_is_internal(internal):
    payload = load("automation.comment_created.json")
    payload["comment"]["internal"] = internal
    [event] = jira.parse(payload, {})
    assert event.internal and event.update is None


def _rendered(template: str) -> str:
    """Fill the docstring's smart values the way Jira renders them."""
    template = re.sub(r"\{\{[^}]*asJsonString\}\}", '"Some text"', template)
    template = re.sub(r"\{\{[^}]*jiraDateTime\}\}", "2026-11-20T11:00:00.0+0100", template)
    template = template.replace("{{comment.internal}}", "false").replace("{{issue.key}}", "SUP-7")
    template = template.replace("{{comment.id}}", "10200")
    template = template.replace("{{issue.status.statusCategory.key}}", "indeterminate")
    return re.sub(r"\{\{[^}]*\}\}", "", template)


def test_the_docstring_automation_templates_are_accepted():
    doc = jira.__doc__ or ""
    issue_template = doc[doc.index('{"webhookEvent"'):doc.index('Rule "Work item commented"')]
    comment_member = doc[doc.index('"comment": {'):doc.index("Customers see")]
    issue_body = json.loads(_rendered(issue_template))
    [event] = jira.parse(issue_body, {})
    assert event.case_id == "SUP-7" and event.changes["stage"] == "in_progress"
    comment_body = {**issue_body, "webhookEvent": "comment_created",
                    **json.loads("{" + _rendered(comment_member) + "}")}
    [event] = jira.parse(comment_body, {})
    assert event.update is not None and event.update.body == "Some text" and not event.internal
    assert event.update.id == "10200"


def test_atlassian_document_format_body_becomes_text():
    payload = load("comment_created.public.json")
    payload["comment"]["body"] = {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "First line."}]},
        {"type": "paragraph", "content": [{"type": "text", "text": "Second "},
                                          {"type": "text", "text": "line.", "marks": [{"type": "strong"}]}]}]}
    [event] = parse(payload)
    assert event.update is not None and event.update.body == "First line.\nSecond line."


@pytest.mark.parametrize("kind", ["comment_deleted", "jira:worklog_updated", "sprint_started", None])
def test_other_events_mean_nothing(kind):
    payload = load("comment_created.public.json")
    payload["webhookEvent"] = kind
    assert parse(payload) == []


def test_no_delivery_header_leaves_the_body_hash_to_the_endpoint():
    [event] = jira.parse(load("jira_issue_updated.status.json"), {})
    assert event.delivery_id == ""


@pytest.mark.parametrize(("mutate", "named"), [
    (lambda p: p.pop("issue"), "issue"),
    (lambda p: p["issue"].pop("key"), "issue.key"),
    (lambda p: p["issue"].update(fields=[]), "issue.fields"),
    (lambda p: p["issue"]["fields"].update(updated="yesterday"), "issue.fields.updated"),
    (lambda p: (p["issue"]["fields"].pop("updated"), p.pop("timestamp")), "timestamp"),
])
def test_malformed_issue_names_the_field(mutate, named):
    payload = load("jira_issue_updated.status.json")
    mutate(payload)
    with pytest.raises(BadRequest, match=named.replace(".", r"\.")):
        parse(payload)


@pytest.mark.parametrize(("mutate", "named"), [
    (lambda c: c.pop("created"), "comment.created"),
    (lambda c: c.pop("id"), "comment.id"),
    (lambda c: c.update(body=42), "comment.body"),
])
def test_malformed_comment_names_the_field(mutate, named):
    payload = load("comment_created.public.json")
    mutate(payload["comment"])
    payload["comment"].pop("updated")
    with pytest.raises(BadRequest, match=named.replace(".", r"\.")):
        parse(payload)


# --- through the app ---

def post(client: TestClient, name: str, delivery: str) -> dict[str, Any]:
    body = (FIXTURES / name).read_bytes()
    headers = {"x-hub-signature": sign(body), "x-atlassian-webhook-identifier": delivery,
               "content-type": "application/json"}
    response = client.post("/hooks/acme/jira", content=body, headers=headers)
    assert response.status_code == 202, response.text
    return dict(response.json())




def test_deliveries_through_the_app(client: TestClient, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "jira", jira)
    client.portal.call(client.app.state.store.add_source, SourceConfig("acme", "jira", SECRET))
    assert post(client, "jira_issue_updated.status.json", "d-status") == {"ok": True, "stored": 1, "duplicates": 0}
    assert post(client, "comment_created.public.json", "d-public")["stored"] == 1
    assert post(client, "comment_created.internal.json", "d-internal")["stored"] == 1
    assert post(client, "comment_created.internal.json", "d-internal") == {"ok": True, "stored": 0, "duplicates": 1}
    unsigned = client.post("/hooks/acme/jira", content=(FIXTURES / NAMES[0]).read_bytes())
    assert unsigned.status_code == 401 and "X-Hub-Signature" in unsigned.json()["error"]

    url = link_for(client, "TEST-1", "jira")
    with client.stream("GET", url + "/events?last_event_id=0") as stream:
        replayed = sse_events(stream.iter_lines(), 3)
    page, data = client.get(url).text, client.get(url + "/case.json").json()
    assert data["title"] == "Fix That" and data["status_label"] == "Waiting for customer"
    assert data["stage"] == "in_progress" and data["waiting_on"] == "customer"
    assert [u["body"][:len(PUBLIC_REPLY)] for u in data["updates"]] == [PUBLIC_REPLY]
    assert "Dana Agent" in page and "export times out" in page
    assert replayed[-1]["data"]["seq"] == data["revision"]
    for surface in (page, json.dumps(data), repr(replayed)):
        assert MARKER not in surface and "legacy plan" not in surface


def test_wiki_markup_escapes_and_line_breaks_read_as_text():
    payload = load("comment_created.public.json")
    payload["comment"]["body"] = "We fixed the issue\\! See \\[KB-12\\] and \\{code\\}.\\\\Thanks, Dana"
    [event] = parse(payload)
    assert event.update.body == "We fixed the issue! See [KB-12] and {code}.\nThanks, Dana"
