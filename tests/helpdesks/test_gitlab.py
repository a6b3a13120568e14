"""The gitlab source: X-Gitlab-Token, issue and note hooks from GitLab's docs and a recorded delivery."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import tracker.helpdesks
from tests.conftest import link_for, sse_events
from tracker.errors import BadRequest, Unauthorized
from tracker.helpdesks import gitlab
from tracker.storage.base import SourceConfig

FIXTURES = Path(__file__).parent.parent / "fixtures" / "gitlab"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
NOTE = "INTERNAL-5b2e"
EVENTS = {
    "issue.open.json": "Issue Hook",
    "issue.close.json": "Issue Hook",
    "note.issue.json": "Note Hook",
    "note.issue.confidential_note.json": "Confidential Note Hook",
}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def headers_for(name: str, uuid: str = "2a1f7d3c-5b8e-4c2a-9f0e-1d2c3b4a5f60") -> dict[str, str]:
    return {"x-gitlab-token": SECRET, "x-gitlab-event": EVENTS[name], "x-gitlab-event-uuid": uuid}


def parse(name: str, payload: dict[str, Any] | None = None) -> list[Any]:
    return gitlab.parse(load(name) if payload is None else payload, headers_for(name))


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_the_shared_token_is_accepted(name):
    body = (FIXTURES / name).read_bytes()
    gitlab.verify(headers_for(name), body, SECRET, NOW)


@pytest.mark.parametrize("name", sorted(EVENTS))
@pytest.mark.parametrize("token", ["wrong-token", SECRET + " ", SECRET[:-1], None])
def test_wrong_or_missing_token_is_rejected(name, token):
    headers = headers_for(name)
    if token is None:
        del headers["x-gitlab-token"]
    else:
        headers["x-gitlab-token"] = token
    with pytest.raises(Unauthorized, match="(?i)x-gitlab-token"):
        gitlab.verify(headers, (FIXTURES / name).read_bytes(), SECRET, NOW)


def test_opened_issue_is_received_with_the_reference_as_case_id():
    [event] = parse("issue.open.json")
    assert event.case_id == "gitlabhq/gitlab-test#23"
    assert event.occurred_at == datetime(2013, 12, 3, 17, 15, 43, tzinfo=UTC)
    assert event.changes == {"title": "New API: create/update/delete file", "stage": "received",
                             "waiting_on": "company", "status_label": "Open", "requester_name": "Administrator"}
    assert event.update is None and not event.internal


def test_recorded_close_is_resolved_at_its_utc_time():
    [event] = parse("issue.close.json")
    assert event.case_id == "tomaszkolek0/my-awesome-project#1"
    assert event.occurred_at == datetime(2016, 8, 18, 18, 14, 13, tzinfo=UTC)
    assert event.changes == {"title": "Issue title_new", "stage": "resolved", "status_label": "Closed"}


def test_closed_as_duplicate_is_closed():
    payload = load("issue.close.json")
    payload["object_attributes"]["duplicated_to_id"] = 2788275  # field from the documented schema
    [event] = parse("issue.close.json", payload)
    assert event.changes["stage"] == "closed"


def test_reopen_is_in_progress():
    payload = load("issue.open.json")
    payload["object_attributes"].update(action="reopen", updated_at="2013-12-04T09:00:00Z")
    [event] = parse("issue.open.json", payload)
    assert event.changes["stage"] == "in_progress" and event.changes["status_label"] == "Open"
    assert event.occurred_at == datetime(2013, 12, 4, 9, tzinfo=UTC)


def test_label_only_update_means_nothing_and_a_title_change_is_kept():
    payload = load("issue.open.json")  # its changes are updated_by_id, updated_at and labels
    payload["object_attributes"]["action"] = "update"
    assert parse("issue.open.json", payload) == []
    payload["changes"]["title"] = {"previous": "Old", "current": "New API: create/update/delete file"}
    [event] = parse("issue.open.json", payload)
    assert event.changes == {"title": "New API: create/update/delete file"}


def test_comment_is_a_public_update_with_the_commenters_name():
    [event] = parse("note.issue.json")
    assert event.case_id == "gitlab-org/gitlab-test#17" and not event.internal
    assert event.delivery_id == "2a1f7d3c-5b8e-4c2a-9f0e-1d2c3b4a5f60"
    assert event.update is not None
    assert (event.update.id, event.update.body, event.update.author_display) == ("1241", "Hello world", "Administrator")
    assert event.update.at == event.occurred_at == datetime(2015, 5, 17, 17, 6, 40, tzinfo=UTC)


def test_confidential_note_is_activity_without_text():
    [event] = parse("note.issue.confidential_note.json")
    # Only the issue's title (not the note's) is kept: a case first heard of this way has one.
    assert event.internal and event.update is None
    assert event.changes == {"title": load("note.issue.confidential_note.json")["issue"]["title"]}
    assert event.case_id == "gitlab-org/gitlab-test#17"
    assert NOTE not in repr(event)


@pytest.mark.parametrize("where", ["header", "issue"])
def test_note_on_a_confidential_issue_or_under_the_confidential_header_is_internal(where):
    payload = load("note.issue.json")
    headers = headers_for("note.issue.json")
    if where == "header":
        headers["x-gitlab-event"] = "Confidential Note Hook"
    else:
        payload["issue"]["confidential"] = True
    [event] = gitlab.parse(payload, headers)
    assert event.internal and event.update is None and "Hello world" not in repr(event)


@pytest.mark.parametrize("change", [{"noteable_type": "MergeRequest"}, {"system": True}])
def test_merge_request_and_system_notes_mean_nothing(change):
    payload = load("note.issue.json")
    payload["object_attributes"].update(change)
    assert parse("note.issue.json", payload) == []


def test_unknown_kinds_mean_nothing():
    assert gitlab.parse({"object_kind": "push"}, {}) == []


def test_idempotency_key_wins_over_the_event_uuid_and_neither_leaves_the_body_hash():
    [event] = gitlab.parse(load("note.issue.json"), {**headers_for("note.issue.json"), "idempotency-key": "k-1"})
    assert event.delivery_id == "k-1"
    [event] = gitlab.parse(load("note.issue.json"), {})
    assert event.delivery_id == ""


@pytest.mark.parametrize(("name", "mutate", "named"), [
    ("issue.open.json", lambda p: p.pop("object_attributes"), "object_attributes"),
    ("issue.open.json", lambda p: p["object_attributes"].pop("iid"), "object_attributes.iid"),
    ("issue.open.json", lambda p: p["project"].pop("path_with_namespace"), "project.path_with_namespace"),
    ("note.issue.json", lambda p: p.pop("issue"), "issue"),
    ("note.issue.json", lambda p: p["object_attributes"].update(created_at="yesterday"),
     "object_attributes.created_at"),
])
def test_malformed_payload_names_the_field(name, mutate, named):
    payload = load(name)
    mutate(payload)
    with pytest.raises(BadRequest, match=named.replace(".", r"\.")):
        parse(name, payload)


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_no_gitlab_payload_links_a_problem(name):
    """GitLab's issue and note hooks carry no related, blocking or parent issue (moved_to_id and
    duplicated_to_id are ids of other issues, not references): nothing links, nothing unlinks."""
    payload = load(name)
    if name.startswith("issue."):
        payload["object_attributes"].update(duplicated_to_id=2788275, moved_to_id=2788276)
    assert all("problem" not in event.changes for event in parse(name, payload))


# --- through the app ---

def post(client: TestClient, name: str, uuid: str) -> Any:
    body = (FIXTURES / name).read_bytes()
    response = client.post("/hooks/acme/gitlab", content=body, headers=headers_for(name, uuid))
    assert response.status_code == 202, response.text
    return response.json()




def test_deliveries_through_the_app(client: TestClient, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "gitlab", gitlab)
    client.portal.call(client.app.state.store.add_source, SourceConfig("acme", "gitlab", SECRET))
    wrong = client.post("/hooks/acme/gitlab", content=b"{}", headers={"x-gitlab-token": "nope"})
    assert wrong.status_code == 401
    assert post(client, "note.issue.json", "u-1") == {"ok": True, "stored": 1, "duplicates": 0}
    assert post(client, "note.issue.confidential_note.json", "u-2")["stored"] == 1
    assert post(client, "note.issue.json", "u-1") == {"ok": True, "stored": 0, "duplicates": 1}

    url = link_for(client, "gitlab-org/gitlab-test#17", "gitlab")
    with client.stream("GET", url + "/events?last_event_id=0") as stream:
        replayed = sse_events(stream.iter_lines(), 2)
    page, data = client.get(url).text, client.get(url + "/case.json").json()
    assert data["title"] == "test" and [u["body"] for u in data["updates"]] == ["Hello world"]
    assert "Hello world" in page
    assert replayed[-1]["data"]["seq"] == data["revision"]  # two events stored, the note's without text
    assert replayed[-1]["data"]["update"] is None
    for surface in (page, json.dumps(data), repr(replayed)):
        assert NOTE not in surface and "legacy plan" not in surface


def test_a_confidential_issue_shows_its_title_and_stage_as_the_readme_says():
    """Service Desk opens every issue confidential, for the customer who wrote in."""
    payload = load("issue.open.json")
    payload["object_attributes"]["confidential"] = True
    [event] = parse("issue.open.json", payload)
    assert event.changes["title"] == payload["object_attributes"]["title"]
    assert event.changes["stage"] == "received"
    readme = (Path(__file__).parent.parent.parent / "README.md").read_text()
    assert "every comment on a confidential issue (its title and stage are shown" in readme


# --- My cases: no requester's address ---

@pytest.mark.parametrize("name", sorted(EVENTS))
def test_the_acting_users_address_is_never_the_requesters(name):
    """`user.email` is whoever acted (a teammate, the Support Bot), with a public address or
    [REDACTED]: no GitLab hook names the customer's address."""
    assert load(name)["user"].get("email") in (None, "admin@example.com")
    for event in parse(name):
        assert "requester_email" not in event.changes
