"""The jira source: X-Hub-Signature (admin webhooks) or a bearer token (automation), status
categories, public JSM replies, internal comments kept without their text, and "is caused by"
issue links read as the case's problem."""

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
from tests.test_problems import deliver_now
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks import jira
from tracker.storage.base import SourceConfig

FIXTURES = Path(__file__).parent.parent / "fixtures" / "jira"
SECRET = "jira-test-secret-4f1c"
NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
CAUSED_BY = "jira_issue_updated.caused_by.json"
NAMES = ["jira_issue_updated.status.json", "comment_created.public.json", "comment_created.internal.json",
         "automation.comment_created.json", CAUSED_BY]
MARKER = "INTERNAL-7f3a"
PROBLEM_MARKER = "PROBLEM-SUMMARY-9c4d"  # the linked issue's summary in CAUSED_BY: never shown
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


# --- linked problems: "is caused by" issue links ---

def link(key: str = "ENG-12", side: str = "inward", inward: str = "is caused by", outward: str = "causes",
         name: str = "Problem/Incident") -> dict[str, Any]:
    """An `issuelinks` entry as Jira writes it on this issue: the other issue on one side."""
    return {"id": "10300", "type": {"id": "10006", "name": name, "inward": inward, "outward": outward},
            f"{side}Issue": {"id": "10012", "key": key, "fields": {"summary": "Other issue"}}}


def with_links(*links: Any, changed: str = "status") -> dict[str, Any]:
    payload = load("jira_issue_updated.status.json")
    payload["issue"]["fields"]["issuelinks"] = list(links)
    payload["changelog"]["items"][0]["field"] = changed
    return payload


def test_a_caused_by_link_makes_the_other_issue_the_cases_problem():
    [event] = parse(load(CAUSED_BY))
    assert event.case_id == "TEST-1"
    assert event.changes["problem"] == "jira:ENG-12"  # the issue key: the jira source's case id
    assert event.changes["stage"] == "in_progress" and event.changes["title"] == "Fix That"
    assert PROBLEM_MARKER not in repr(event)  # only the key is read, never the problem's own text


def test_a_created_issue_with_a_caused_by_link_is_linked():
    payload = with_links(link())
    payload["webhookEvent"] = "jira:issue_created"
    payload.pop("changelog")
    [event] = parse(payload)
    assert event.changes["problem"] == "jira:ENG-12"


@pytest.mark.parametrize("entry", [
    link(name="Relates", inward="relates to", outward="relates to"),
    link(name="Blocks", inward="is blocked by", outward="blocks"),  # ordering work, not a known problem
    link(name="Duplicate", inward="is duplicated by", outward="duplicates"),
    link(side="outward"),  # this issue *causes* ENG-12: it is the problem, not the case waiting on one
], ids=["relates", "blocked-by", "duplicated-by", "causes"])
def test_other_links_link_nothing(entry):
    [event] = parse(with_links(entry))
    assert "problem" not in event.changes
    assert parse(with_links(entry, changed="Link")) == []  # a link change that names no problem means nothing


def test_the_problem_may_be_named_on_either_side_by_the_words_jira_shows():
    [event] = parse(with_links(link(key="ENG-40", side="outward", inward="causes", outward=" Is Caused By ")))
    assert event.changes["problem"] == "jira:ENG-40"


def test_of_several_problems_the_first_in_jiras_order_wins():
    [event] = parse(with_links(link(name="Relates", inward="relates to"), link("ENG-12"), link("ENG-13")))
    assert event.changes["problem"] == "jira:ENG-12"
    [event] = parse(with_links(link("ENG-13"), link("ENG-12")))
    assert event.changes["problem"] == "jira:ENG-13"


def test_no_link_in_the_payload_never_unlinks():
    [event] = parse(load("jira_issue_updated.status.json"))  # "issuelinks": []
    assert "problem" not in event.changes
    payload = load("jira_issue_updated.status.json")
    payload["issue"]["fields"].pop("issuelinks")
    [event] = parse(payload)
    assert "problem" not in event.changes


def test_the_link_change_itself_is_an_update_worth_storing():
    [event] = parse(with_links(link(), changed="Link"))
    assert event.changes["problem"] == "jira:ENG-12"


HUGE = "x" * 1_000_000
MALFORMED_LINKS = [
    "is caused by ENG-12", None, 42, [], [[[[["ENG-12"]]]]], {},
    {"type": "Problem/Incident", "inwardIssue": {"key": "ENG-12"}},
    {"type": {"inward": 42}, "inwardIssue": {"key": "ENG-12"}},
    {"type": {"inward": ["is caused by"]}, "inwardIssue": {"key": "ENG-12"}},
    {"type": {"inward": HUGE}, "inwardIssue": {"key": "ENG-12"}},
    {"type": {"inward": "is caused by"}},
    {"type": {"inward": "is caused by", "outward": "is caused by"}, "inwardIssue": {"key": "ENG-12"},
     "outwardIssue": {"key": "ENG-13"}},
    {"type": {"inward": "is caused by"}, "inwardIssue": "ENG-12"},
    {"type": {"inward": "is caused by"}, "inwardIssue": None},
    {"type": {"inward": "is caused by"}, "inwardIssue": {"id": "10012"}},
    {"type": {"inward": "is caused by"}, "inwardIssue": {"key": 10012}},
    {"type": {"inward": "is caused by"}, "inwardIssue": {"key": ""}},
    {"type": {"inward": "is caused by"}, "inwardIssue": {"key": "ENG-12\n"}},
    {"type": {"inward": "is caused by"}, "inwardIssue": {"key": "eng 12; drop"}},
    {"type": {"inward": "is caused by"}, "inwardIssue": {"key": "ENG-" + "1" * 300}},
    {"type": {"inward": "is caused by"}, "inwardIssue": {"key": HUGE}},
    {"type": {"inward": "is caused by"}, "inwardIssue": {"key": [[[[["ENG-12"]]]]]}},
    {"type": {"inward": "is caused by"}, "inwardIssue": {"key": "TEST-1"}},  # itself: never its own problem
]


@pytest.mark.parametrize("entry", MALFORMED_LINKS, ids=range(len(MALFORMED_LINKS)))
def test_a_malformed_link_entry_is_skipped(entry):
    [event] = parse(with_links(entry))
    assert "problem" not in event.changes
    [event] = parse(with_links(entry, link("ENG-77")))  # the next, well-formed link still counts
    assert event.changes["problem"] == "jira:ENG-77"


@pytest.mark.parametrize("links", ["ENG-12", {"0": link()}, 42, None, [[[[[link()]]]]]])
def test_issuelinks_that_is_not_a_list_links_nothing(links):
    payload = load("jira_issue_updated.status.json")
    payload["issue"]["fields"]["issuelinks"] = links
    [event] = parse(payload)
    assert "problem" not in event.changes


def post_json(client: TestClient, payload: dict[str, Any], delivery: str) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    headers = {"x-hub-signature": sign(body), "x-atlassian-webhook-identifier": delivery,
               "content-type": "application/json"}
    response = client.post("/hooks/acme/jira", content=body, headers=headers)
    assert response.status_code == 202, response.text
    return dict(response.json())


def problem_issue(status: str, category: str, updated: str) -> dict[str, Any]:
    """ENG-12 itself, as its own issue_updated delivery: the engineering issue behind TEST-1."""
    payload = load("jira_issue_updated.status.json")
    payload["issue"].update(key="ENG-12", id="10012")
    fields = payload["issue"]["fields"]
    fields.update(summary=f"{PROBLEM_MARKER} export worker runs out of memory", updated=updated,
                  status={"name": status, "statusCategory": {"key": category}})
    return payload


def test_a_linked_case_shows_its_jira_problem_through_the_app(client: TestClient, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "jira", jira)
    client.portal.call(client.app.state.store.add_source, SourceConfig("acme", "jira", SECRET))
    assert post(client, CAUSED_BY, "d-linked")["stored"] == 1
    assert post_json(client, problem_issue("In Progress", "indeterminate", "2017-01-30T18:40:00.000+0100"),
                     "d-problem")["stored"] == 1
    deliver_now(client)
    url = link_for(client, "TEST-1", "jira")
    problem = client.get(url + "/case.json").json()["problem"]
    assert problem is not None and problem["stage"] == "in_progress" and not problem["fix_out"]
    assert problem["title"] == ""  # no title written for customers, and the problem's own is private

    assert post_json(client, problem_issue("Done", "done", "2017-01-30T19:10:00.000+0100"), "d-fixed")["stored"] == 1
    deliver_now(client)
    data = client.get(url + "/case.json").json()
    assert data["problem"]["stage"] == "resolved" and data["problem"]["fix_out"]
    page = client.get(url).text
    assert "Linked to a known problem" in page
    for surface in (page, json.dumps(data)):
        assert PROBLEM_MARKER not in surface


def test_malformed_links_through_the_app_are_no_500(client: TestClient, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "jira", jira)
    client.portal.call(client.app.state.store.add_source, SourceConfig("acme", "jira", SECRET))
    small = [entry for entry in MALFORMED_LINKS if HUGE not in json.dumps(entry)]  # the body cap is 1 MiB
    assert post_json(client, with_links(*small, changed="Link"), "d-junk") == {"ok": True, "stored": 0,
                                                                               "duplicates": 0}
    assert post_json(client, with_links(*small), "d-junk-status")["stored"] == 1
    assert client.get(link_for(client, "TEST-1", "jira") + "/case.json").json()["problem"] is None
    body = json.dumps(with_links()).replace('"issuelinks": []', '"issuelinks": ' + "[" * 5000 + "]" * 5000).encode()
    deep = client.post("/hooks/acme/jira", content=body, headers={"x-hub-signature": sign(body)})
    assert deep.status_code == 400  # nesting past the JSON parser's bound: a 400, never a 500


# --- My cases: the requester's address ---

def test_the_requester_address_is_the_reporters_never_the_actors():
    payload = load("jira_issue_updated.status.json")  # recorded: othello@ acted, kolaszek@ reported
    assert payload["user"]["emailAddress"] == "othello@zulip.com"
    [event] = parse(payload)
    assert event.changes["requester_email"] == "kolaszek@tlen.pl"


@pytest.mark.parametrize("value", [None, "", 42])
def test_a_hidden_reporter_address_sets_none(value):
    payload = load("jira_issue_updated.status.json")
    payload["issue"]["fields"]["reporter"]["emailAddress"] = value  # privacy settings: null, or no field
    [event] = parse(payload)
    assert "requester_email" not in event.changes
    del payload["issue"]["fields"]["reporter"]["emailAddress"]
    assert "requester_email" not in parse(payload)[0].changes


def test_the_automation_body_names_no_requester():
    [event] = jira.parse(load("automation.comment_created.json"), {})
    assert "requester_email" not in event.changes
