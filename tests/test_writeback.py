"""Write-back: a new case's link goes into the helpdesk through its own API.

Each helpdesk's real webhook fixture goes through the webhook endpoint, signed as that helpdesk
signs; the app's own deliverer then calls a loopback receiver that stands in for the
helpdesk's API (answering with the documented status), and the request it gets is checked:
method, path, credentials and body, whose link opens the case. Retries and failures are driven
with Deliverer.run_once() as tests/test_outbound.py does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.conftest import BACKENDS, suite_clock
from tests.receiver import Received, Receiver, receiver
from tracker import helpdesks, writeback
from tracker.admin import add_source, add_tenant
from tracker.cases import Event
from tracker.nudges import Nudge
from tracker.outbound import Deliverer
from tracker.signing import Signer, case_url
from tracker.storage.base import SourceConfig, Store
from tracker.web.webhooks import with_delivery_ids
from tracker.writeback.queue import queue_new_case_links

RECEIVED_AT = suite_clock().now()  # when tracker received the delivery (payloads without a time)

FIXTURES = Path(__file__).parent / "fixtures"
on_every_backend = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
SECRET = "writeback-test-secret-5d2e"
FAST = (0.0, 0.0, 0.0)
WAIT_SECONDS = 5.0


def hex_hmac(digest: Any, message: bytes) -> str:
    return hmac.new(SECRET.encode(), message, digest).hexdigest()


def b64_hmac(digest: Any, message: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), message, digest).digest()).decode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def zendesk_headers(body: bytes) -> dict[str, str]:
    stamp = suite_clock().now().strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"x-zendesk-webhook-signature": b64_hmac(hashlib.sha256, stamp.encode() + body),
            "x-zendesk-webhook-signature-timestamp": stamp, "x-zendesk-webhook-invocation-id": str(uuid.uuid4())}


def chatwoot_headers(body: bytes) -> dict[str, str]:
    stamp = str(int(suite_clock().timestamp()))
    return {"x-chatwoot-signature": "sha256=" + hex_hmac(hashlib.sha256, stamp.encode() + b"." + body),
            "x-chatwoot-timestamp": stamp, "x-chatwoot-delivery": str(uuid.uuid4())}


def fresh_linear(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "webhookTimestamp": int(suite_clock().timestamp() * 1000)}


@dataclass
class Helpdesk:
    """One helpdesk: a fixture that creates a case, how it is signed, the write-back settings,
    and the request its API must get."""

    source: str
    fixture: str
    sign: Callable[[bytes], dict[str, str]]
    options: dict[str, str]  # api_base is added: the receiver
    method: str
    path: str
    auth: dict[str, str]  # headers the API authenticates by
    body: Callable[[str], Any]  # the link -> the JSON body the API must get
    status: int = 200  # what the real API answers on success
    prepare: Callable[[dict[str, Any]], dict[str, Any]] = field(default=lambda payload: payload)


def note_with(link: str) -> Callable[[Any], bool]:
    return lambda text: isinstance(text, str) and link in text


HELPDESKS = [
    Helpdesk("github", "issues.opened.json",
             lambda b: {"x-hub-signature-256": "sha256=" + hex_hmac(hashlib.sha256, b), "x-github-event": "issues",
                        "x-github-delivery": str(uuid.uuid4())},
             {"api_token": "github_pat_x"}, "POST", "/repos/Codertocat/Hello-World/issues/1/comments",
             {"authorization": "Bearer github_pat_x", "x-github-api-version": "2022-11-28",
              "accept": "application/vnd.github+json"},
             lambda link: {"body": f"You can follow this issue live, with its stage and next steps, here: {link}"},
             status=201),
    Helpdesk("gitlab", "issue.open.json",
             lambda b: {"x-gitlab-token": SECRET, "x-gitlab-event": "Issue Hook",
                        "x-gitlab-event-uuid": str(uuid.uuid4())},
             {"api_token": "glpat-x", "link_text": "Follow it live: {url}"}, "POST",
             "/projects/gitlabhq%2Fgitlab-test/issues/23/notes", {"private-token": "glpat-x"},
             lambda link: {"body": f"Follow it live: {link}"}, status=201),
    Helpdesk("zammad", "ticket.article.agent_reply.json",
             lambda b: {"x-hub-signature": "sha1=" + hex_hmac(hashlib.sha1, b), "x-zammad-delivery": str(uuid.uuid4())},
             {"api_token": "zammad-token"}, "POST", "/api/v1/ticket_articles",
             {"authorization": "Token token=zammad-token"},
             lambda link: {"ticket_id": 81, "subject": "Case link", "body": note_with(link),
                           "content_type": "text/plain", "type": "note", "internal": True}, status=201),
    Helpdesk("chatwoot", "message_created.outgoing.reply.json", chatwoot_headers,
             {"api_token": "cw-token", "account_id": "1"}, "POST", "/api/v1/accounts/1/conversations/11791/messages",
             {"api_access_token": "cw-token"},
             lambda link: {"content": note_with(link), "message_type": "outgoing", "private": True}),
    Helpdesk("jira", "jira_issue_updated.status.json",
             lambda b: {"x-hub-signature": "sha256=" + hex_hmac(hashlib.sha256, b),
                        "x-atlassian-webhook-identifier": str(uuid.uuid4())},
             {"api_token": "atl-token", "api_email": "bot@acme.example", "link_field": "customfield_10050"},
             "PUT", "/rest/api/3/issue/TEST-1", {"authorization": basic("bot@acme.example", "atl-token")},
             lambda link: {"fields": {"customfield_10050": link}}, status=204),
    Helpdesk("zendesk", "trigger.ticket_create_update.json", zendesk_headers,
             {"api_token": "zd-token", "api_email": "bot@acme.example", "link_field_id": "360001234567"},
             "PUT", "/api/v2/tickets/7.json", {"authorization": basic("bot@acme.example/token", "zd-token")},
             lambda link: {"ticket": {"custom_fields": [{"id": 360001234567, "value": link}]}}),
    Helpdesk("freshdesk", "ticket_created.json", lambda b: {"x-tracker-token": SECRET},
             {"api_token": "fd-key", "link_field": "cf_case_link"}, "PUT", "/api/v2/tickets/11",
             {"authorization": basic("fd-key", "X")}, lambda link: {"custom_fields": {"cf_case_link": link}}),
    Helpdesk("helpscout", "convo.created.json",
             lambda b: {"x-helpscout-signature": b64_hmac(hashlib.sha1, b), "x-helpscout-event": "convo.created"},
             {"app_id": "hs-app", "app_secret": "hs-secret"}, "POST", "/v2/conversations/291938/notes",
             {"authorization": "Bearer hs-access-token"}, lambda link: {"text": note_with(link)}, status=201),
    Helpdesk("intercom", "conversation.user.created.json",
             lambda b: {"x-hub-signature": "sha1=" + hex_hmac(hashlib.sha1, b)},
             {"api_token": "ic-token", "admin_id": "814860"}, "POST", "/conversations/21321941764/reply",
             {"authorization": "Bearer ic-token", "intercom-version": "2.11"},
             lambda link: {"message_type": "note", "type": "admin", "admin_id": "814860", "body": note_with(link)}),
    Helpdesk("front", "inbound.json", lambda b: {"x-front-signature": b64_hmac(hashlib.sha1, b)},
             {"api_token": "front-token"}, "POST", "/conversations/cnv_keocka/comments",
             {"authorization": "Bearer front-token"}, lambda link: {"body": note_with(link)}, status=201),
    Helpdesk("linear", "Issue.create.json",
             lambda b: {"linear-signature": hex_hmac(hashlib.sha256, b), "linear-delivery": str(uuid.uuid4())},
             {"api_token": "lin_api_x"}, "POST", "/graphql", {"authorization": "lin_api_x"},
             lambda link: {"query": lambda q: "commentCreate" in q, "variables": {"input": {
                 "issueId": "a4344dc7-7d8d-4b28-a93c-553ac9aba41a", "body": note_with(link)}}},
             prepare=fresh_linear),
]
BY_SOURCE = {h.source: h for h in HELPDESKS}
TOKEN_REPLY = {"token_type": "bearer", "access_token": "hs-access-token", "expires_in": 172800}


def matches(expected: Any, actual: Any) -> bool:
    """Equal, where a callable in `expected` is a check of the value."""
    if callable(expected):
        return bool(expected(actual))
    if isinstance(expected, dict):
        return isinstance(actual, dict) and expected.keys() == actual.keys() and all(
            matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(map(matches, expected, actual))
    return bool(expected == actual)


@pytest.fixture(scope="module")
def shared_api() -> Iterator[Receiver]:
    """One stand-in helpdesk API for the module (a receiver takes half a second to stop)."""
    with receiver() as state:
        yield state


@pytest.fixture
def api(shared_api: Receiver) -> Receiver:
    shared_api.requests.clear()
    shared_api.script.clear()
    shared_api.replies.clear()
    return shared_api


@contextmanager
def scripted(api: Receiver, *script: int | str) -> Iterator[Receiver]:
    """The API answers these statuses, in order (then 200)."""
    api.script[:] = list(script)
    yield api


def app_of(client: TestClient) -> Starlette:
    assert isinstance(client.app, Starlette)
    return client.app


def connect(client: TestClient, helpdesk: Helpdesk, api_base: str | None) -> None:
    options = {**helpdesk.options, **({"api_base": api_base} if api_base else {})}
    client.portal.call(add_source, app_of(client).state.store, "acme", helpdesk.source, SECRET, options)


def deliver(client: TestClient, helpdesk: Helpdesk, fixture: str | None = None) -> None:
    payload = helpdesk.prepare(json.loads((FIXTURES / helpdesk.source / (fixture or helpdesk.fixture)).read_text()))
    body = json.dumps(payload).encode()
    answer = client.post(f"/hooks/acme/{helpdesk.source}", content=body,
                         headers={"content-type": "application/json", **helpdesk.sign(body)})
    assert answer.status_code == 202, answer.text


def wait_for(api: Receiver, count: int) -> list[Received]:
    deadline = time.monotonic() + WAIT_SECONDS
    while len(api.requests) < count:
        assert time.monotonic() < deadline, f"{len(api.requests)} of {count} requests reached the helpdesk API"
        time.sleep(0.01)
    return api.requests


def deliveries(client: TestClient) -> list[Any]:
    return list(client.portal.call(app_of(client).state.store.list_deliveries, "acme", 100))


@on_every_backend
@pytest.mark.parametrize("helpdesk", HELPDESKS, ids=[h.source for h in HELPDESKS])
def test_a_new_case_gets_its_link_written_into_the_helpdesk(client: TestClient, helpdesk: Helpdesk, api: Receiver):
    script = [200, helpdesk.status] if helpdesk.source == "helpscout" else [helpdesk.status]
    with scripted(api, *script):
        api.replies["/v2/oauth2/token"] = TOKEN_REPLY
        connect(client, helpdesk, api.url)
        deliver(client, helpdesk)
        requests = wait_for(api, len(script))
        if helpdesk.source == "helpscout":  # the app's credentials are exchanged for a token first
            token = requests.pop(0)
            assert (token.method, token.path) == ("POST", "/v2/oauth2/token")
            assert parse_qs(token.body.decode()) == {"grant_type": ["client_credentials"], "client_id": ["hs-app"],
                                                      "client_secret": ["hs-secret"]}
        [sent] = requests
        assert (sent.method, sent.path) == (helpdesk.method, helpdesk.path)
        assert {k: sent.headers.get(k) for k in helpdesk.auth} == helpdesk.auth
        assert sent.headers["content-type"] == "application/json"
        body = json.loads(sent.body)
        found_link = re.search(r"http://[^\s\"\\]+/c/[A-Za-z0-9_.-]+", sent.body.decode())
        assert found_link, body
        link = found_link.group()
        assert matches(helpdesk.body(link), body), body
        page = client.get(urlsplit(link).path)  # the link opens the case
        assert page.status_code == 200
        deadline = time.monotonic() + WAIT_SECONDS
        while (found := deliveries(client))[0].status != "delivered":
            assert time.monotonic() < deadline, found
            time.sleep(0.01)
        assert (found[0].kind, found[0].event_type, found[0].attempts) == (f"writeback:{helpdesk.source}",
                                                                           "case.link", 1)
        logged = json.dumps(dict(found[0].request))  # no credential sits in the delivery log
        credentials = writeback.WRITERS[helpdesk.source].credentials
        assert not [name for name in credentials if helpdesk.options[name] in logged]


@on_every_backend
def test_only_the_first_delivery_of_a_case_writes_back(client: TestClient, api: Receiver):
    github = BY_SOURCE["github"]
    with scripted(api, 201):
        connect(client, github, api.url)
        deliver(client, github)
        deliver(client, github)  # the same delivery again: a duplicate
        deliver(client, github, "issues.labeled.json")  # a later change of the same issue
        assert len(deliveries(client)) == 1
        wait_for(api, 1)


@on_every_backend
def test_nothing_is_written_back_without_credentials(client: TestClient):
    zendesk = BY_SOURCE["zendesk"]
    client.portal.call(add_source, app_of(client).state.store, "acme", "zendesk", SECRET, {})
    deliver(client, zendesk)
    assert deliveries(client) == []
    assert client.portal.call(app_of(client).state.store.get_case, "acme", "zendesk", "7") is not None


@on_every_backend
def test_a_delivery_that_does_not_name_the_ticket_as_the_api_needs_queues_nothing(client: TestClient,
                                                                                 api: Receiver):
    zammad = BY_SOURCE["zammad"]
    with scripted(api):
        connect(client, zammad, api.url)
        payload = json.loads((FIXTURES / "zammad" / zammad.fixture).read_text())
        del payload["ticket"]["id"]
        body = json.dumps(payload).encode()
        assert client.post("/hooks/acme/zammad", content=body, headers=zammad.sign(body)).status_code == 202
        assert deliveries(client) == []


# --- retries, failures and credentials at send time, on the store with a fast deliverer ---


async def ingest(store: Store, config: SourceConfig, payload: dict[str, Any]) -> int:
    """What the webhook does after verifying: parse, store, queue the write-back; returns how many were queued."""
    headers = {"x-github-event": "issues", "x-helpscout-event": "convo.created"}
    parsed = helpdesks.get(config.source).parse(payload, headers, config.options, received_at=RECEIVED_AT)
    events = with_delivery_ids(parsed, json.dumps(payload).encode())
    appended = await store.ingest("acme", config.source, events)
    signer = Signer(["k" * 32], suite_clock())
    return await queue_new_case_links(store, signer, "https://tracker.example", config, events, appended, payload)


async def new_case(store: Store, source: str, options: dict[str, str], api_base: str) -> int:
    """Connect the source and feed it the helpdesk's fixture; returns how many write-backs were queued."""
    helpdesk = BY_SOURCE[source]
    if await store.get_tenant("acme") is None:
        await add_tenant(store, "acme", "ACME", None)
    config = await add_source(store, "acme", source, SECRET, {**options, "api_base": api_base})
    return await ingest(store, config, helpdesk.prepare(json.loads((FIXTURES / source / helpdesk.fixture).read_text())))


async def due_now(store: Store) -> None:
    for delivery in await store.list_deliveries("acme", 100):
        if delivery.status == "pending":
            await store.finish_delivery(delivery.id, "pending", delivery.attempts,
                                        suite_clock().now() - timedelta(seconds=1), delivery.last_error)


@on_every_backend
async def test_a_write_back_is_retried_through_rate_limits_and_errors(store: Store, api: Receiver):
    zendesk = BY_SOURCE["zendesk"]
    with scripted(api, 429, 503, 200):
        assert await new_case(store, "zendesk", zendesk.options, api.url) == 1
        deliverer = Deliverer(store, suite_clock(), authenticators=writeback.authenticators(), allow_private_hosts=True,
                              backoff_seconds=FAST,
                              timeout_seconds=0.5)
        try:
            for _ in range(3):
                assert await deliverer.run_once() == 1
                await due_now(store)
            assert await deliverer.run_once() == 0
        finally:
            await deliverer.stop()
    [delivery] = await store.list_deliveries("acme")
    assert delivery.status == "delivered" and delivery.attempts == 3
    assert [r.path for r in api.requests] == ["/api/v2/tickets/7.json"] * 3
    assert all(r.headers["authorization"] == zendesk.auth["authorization"] for r in api.requests)
    assert len({r.body for r in api.requests}) == 1  # the same link on every attempt


@on_every_backend
async def test_a_refused_write_back_fails_after_the_last_retry_with_the_helpdesks_answer(store: Store, api: Receiver):
    with scripted(api, 401, 401, 401, 401):
        await new_case(store, "github", BY_SOURCE["github"].options, api.url)
        deliverer = Deliverer(store, suite_clock(), authenticators=writeback.authenticators(), allow_private_hosts=True,
                              backoff_seconds=FAST,
                              timeout_seconds=0.5)
        try:
            for _ in range(4):
                await deliverer.run_once()
                await due_now(store)
        finally:
            await deliverer.stop()
    [delivery] = await store.list_deliveries("acme")
    assert delivery.status == "failed" and delivery.attempts == 4
    assert delivery.last_error is not None and delivery.last_error.startswith("HTTP 401")


@on_every_backend
async def test_credentials_are_read_when_sent(store: Store, api: Receiver):
    """A token removed after the link was queued fails the attempt and names the option; set again, the
    next attempt carries the new one."""
    with scripted(api, 201):
        await new_case(store, "github", {"api_token": "old-token"}, api.url)
        await add_source(store, "acme", "github", SECRET, {"api_base": api.url})
        deliverer = Deliverer(store, suite_clock(), authenticators=writeback.authenticators(), allow_private_hosts=True,
                              backoff_seconds=FAST,
                              timeout_seconds=0.5)
        try:
            await deliverer.run_once()
            [waiting] = await store.list_deliveries("acme")
            assert waiting.status == "pending" and waiting.last_error is not None
            assert "no api_token option" in waiting.last_error and "tracker source add" in waiting.last_error
            assert api.requests == []
            await add_source(store, "acme", "github", SECRET, {"api_base": api.url, "api_token": "new-token"})
            await due_now(store)
            await deliverer.run_once()
        finally:
            await deliverer.stop()
    [sent] = api.requests
    assert sent.headers["authorization"] == "Bearer new-token"
    assert (await store.list_deliveries("acme"))[0].status == "delivered"


@on_every_backend
async def test_help_scout_keeps_its_access_token_and_reports_refused_app_credentials(store: Store, api: Receiver):
    helpscout = BY_SOURCE["helpscout"]
    with scripted(api, 200, 201, 201):
        api.replies["/v2/oauth2/token"] = TOKEN_REPLY
        await new_case(store, "helpscout", helpscout.options, api.url)
        payload = json.loads((FIXTURES / "helpscout" / helpscout.fixture).read_text())
        config = await store.get_source("acme", "helpscout")
        assert config is not None
        assert await ingest(store, config, {**payload, "id": 291939, "number": 350}) == 1
        deliverer = Deliverer(store, suite_clock(), authenticators=writeback.authenticators(), allow_private_hosts=True,
                              timeout_seconds=0.5)
        try:
            assert await deliverer.run_once() == 2
        finally:
            await deliverer.stop()
    paths = sorted(r.path for r in api.requests)  # one token for both notes
    assert paths == ["/v2/conversations/291938/notes", "/v2/conversations/291939/notes", "/v2/oauth2/token"]
    with scripted(api, 401):  # a new deliverer has no token yet, and Help Scout refuses the app
        assert await ingest(store, config, {**payload, "id": 291940, "number": 351}) == 1
        deliverer = Deliverer(store, suite_clock(), authenticators=writeback.authenticators(), allow_private_hosts=True,
                              timeout_seconds=0.5)
        try:
            assert await deliverer.run_once() == 1
        finally:
            await deliverer.stop()
    failed = (await store.list_deliveries("acme"))[0]
    assert failed.status == "pending" and failed.last_error is not None
    assert "Help Scout refused the app_id/app_secret (HTTP 401)" in failed.last_error
    assert [r.path for r in api.requests[3:]] == ["/v2/oauth2/token"]


def test_every_write_back_setting_is_an_option_of_its_source():
    for name in writeback.WRITERS:
        offered = set(getattr(helpdesks.get(name), "OPTIONS", {}))
        assert writeback.option_names(name) <= offered, name
        assert "api_base" in offered, name
    assert set(writeback.WRITERS) == set(helpdesks.SOURCES) - {"generic"}


def test_each_helpdesk_page_says_how_the_link_gets_to_the_customer():
    root = Path(__file__).resolve().parent.parent
    for name in helpdesks.SOURCES:
        if name == "generic":
            continue
        page = (root / "docs" / "sources" / f"{name}.md").read_text()
        section = page.partition("## Getting the link to the customer")[2]
        assert section, name
        for option in writeback.option_names(name):
            assert f"`{option}" in section, (name, option)


@pytest.mark.parametrize("source", ["github", "gitlab"])
def test_the_customers_word_becomes_a_comment_on_the_issue(client: TestClient, api: Receiver, source: str):
    helpdesk = BY_SOURCE[source]
    with scripted(api, helpdesk.status, helpdesk.status):
        connect(client, helpdesk, api.url)
        deliver(client, helpdesk)
        wait_for(api, 1)
        store = app_of(client).state.store
        [stored] = client.portal.call(store.list_cases, "acme")
        resolved = Event(stored.case.case_id, "resolved-1", suite_clock().now(), {"stage": "resolved"})
        client.portal.call(store.ingest, "acme", source, [resolved])
        link = client.portal.call(_link, client, stored.case.case_id, source)
        page = client.get(link).text
        token = re.search(r'/verdict">\s*<input type="hidden" name="token" value="([^"]+)"', page)
        assert token, "no verdict form on a resolved case"
        client.post(link + "/verdict", data={"token": token.group(1), "verdict": "not_solved", "rating": "2",
                                             "comment": "Still crashes on start"})
        comment = wait_for(api, 2)[1]
    assert (comment.method, comment.path) == (helpdesk.method, helpdesk.path)
    assert {k: comment.headers.get(k) for k in helpdesk.auth} == helpdesk.auth
    text = json.loads(comment.body)["body"]
    assert "The customer says it is not solved yet. Rating: 2/5." in text and "> Still crashes on start" in text
    assert "/c/" not in text  # the signed link is not repeated in a public comment


async def _link(client: TestClient, case_id: str, source: str) -> str:
    app = app_of(client)
    stored = await app.state.store.get_case("acme", source, case_id)
    return case_url("", app.state.signer, stored)


# --- nudges: an internal note that only the team sees ---

NUDGE = "Five internal notes since the customer last heard from you, 26 hours ago."


def nudge_note(text: Any) -> bool:
    return isinstance(text, str) and text.startswith(NUDGE) and "/c/" in text and "customer does not see" in text


@dataclass
class Note:
    """The request a helpdesk's API must get for an internal note, from its documentation (the
    page is named beside each `note_request` in tracker/helpdesks/)."""

    method: str
    path: str
    body: Any
    status: int


NOTES = {
    "zendesk": Note("PUT", "/api/v2/tickets/7.json", {"ticket": {"comment": {"body": nudge_note, "public": False}}},
                    200),
    "freshdesk": Note("POST", "/api/v2/tickets/11/notes",
                      {"body": lambda html: nudge_note(html) and "<" not in html.replace("<br>", ""),
                       "private": True}, 201),
    "jira": Note("POST", "/rest/servicedeskapi/request/TEST-1/comment", {"body": nudge_note, "public": False}, 201),
    "zammad": Note("POST", "/api/v1/ticket_articles", {"ticket_id": 81, "subject": "tracker", "body": nudge_note,
                                                       "content_type": "text/plain", "type": "note",
                                                       "internal": True}, 201),
    "chatwoot": Note("POST", "/api/v1/accounts/1/conversations/11791/messages",
                     {"content": nudge_note, "message_type": "outgoing", "private": True}, 200),
    "helpscout": Note("POST", "/v2/conversations/291938/notes", {"text": nudge_note}, 201),
    "intercom": Note("POST", "/conversations/21321941764/reply",
                     {"message_type": "note", "type": "admin", "admin_id": "814860", "body": nudge_note}, 200),
    "front": Note("POST", "/conversations/cnv_keocka/comments", {"body": nudge_note}, 201),
}


@on_every_backend
@pytest.mark.parametrize("source", sorted(NOTES))
def test_a_nudge_is_written_into_the_helpdesk_as_an_internal_note(client: TestClient, api: Receiver, source: str):
    """Told later, by the sweep, with no webhook body at hand: the note finds the ticket all the same."""
    helpdesk, note = BY_SOURCE[source], NOTES[source]
    first = [200, helpdesk.status] if source == "helpscout" else [helpdesk.status]
    with scripted(api, *first, note.status):
        api.replies["/v2/oauth2/token"] = TOKEN_REPLY
        connect(client, helpdesk, api.url)
        deliver(client, helpdesk)
        wait_for(api, len(first))
        app = app_of(client)
        store = app.state.store
        [stored] = client.portal.call(store.list_cases, "acme")
        tenant = client.portal.call(store.get_tenant, "acme")
        config = client.portal.call(store.get_source, "acme", source)
        told = client.portal.call(app.state.nudger.tell, tenant, config, stored,
                                  [Nudge("silent_work", "test", NUDGE)])
        assert told == 1
        client.portal.call(app.state.deliverer.wake)
        sent = wait_for(api, len(first) + 1)[-1]
    assert (sent.method, sent.path) == (note.method, note.path)
    assert {k: sent.headers.get(k) for k in helpdesk.auth} == helpdesk.auth
    assert sent.headers["content-type"] == "application/json"
    body = json.loads(sent.body)
    assert matches(note.body, body), body
    deadline = time.monotonic() + WAIT_SECONDS
    while (found := deliveries(client))[0].status != "delivered":
        assert time.monotonic() < deadline, found
        time.sleep(0.01)
    assert (found[0].kind, found[0].event_type) == (f"writeback:{source}", "case.nudge")
    credentials = writeback.WRITERS[source].credentials
    assert not [name for name in credentials if helpdesk.options[name] in json.dumps(dict(found[0].request))]
    page = client.get(urlsplit(re.search(r"http://[^\s\"\\<]+/c/[A-Za-z0-9_.-]+", sent.body.decode()).group()).path)
    assert page.status_code == 200 and NUDGE not in page.text  # the customer's page: never the note


def test_helpdesks_whose_comments_are_public_get_no_notes():
    with_notes = {name for name, writer in writeback.WRITERS.items() if writer.note_request is not None}
    assert with_notes == {*NOTES, "zohodesk", "hubspot"}
    assert {"github", "gitlab", "linear"}.isdisjoint(with_notes)


def test_each_helpdesk_page_says_where_nudges_go():
    root = Path(__file__).resolve().parent.parent
    for name, writer in writeback.WRITERS.items():
        page = (root / "docs" / "sources" / f"{name}.md").read_text()
        section = page.partition("## Nudges for the team")[2].partition("\n## ")[0]
        assert "`case.nudge`" in section, name
        if writer.note_request is None:
            assert "(`case.nudge`) only" in section, name
        else:
            assert "With write-back on" in section and f"writeback:{name}" in section, name
