"""Nudges: the team is told, once per case, kind and period, when the customer is left in the
dark: through the company's signed webhook `case.nudge` (a loopback receiver here) and as an
internal note through write-back (tests/test_writeback.py checks each helpdesk's request)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.conftest import BACKENDS, from_now, generic_payload, link_for, post
from tests.receiver import Receiver, receiver
from tracker.admin import add_tenant
from tracker.cases import Event, Update
from tracker.clock import Clock
from tracker.nudges import NUDGE_EVENT, Nudger
from tracker.outbound import Deliverer
from tracker.problems import Problems
from tracker.pubsub import open_hub
from tracker.quiet import QuietWatch
from tracker.signing import Signer
from tracker.storage import open_store
from tracker.storage.base import SourceConfig, Store

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
BASE_URL = "https://status.example.com"


def at(clock: Clock, hours_ago: float) -> Any:
    return clock.now() - timedelta(hours=hours_ago)


def replied(clock: Clock, case_id: str, hours_ago: float, **changes: Any) -> Event:
    """A public update `hours_ago`, with these changes."""
    when = at(clock, hours_ago)
    return Event(case_id, f"{case_id}-reply-{hours_ago}", when, {"stage": "in_progress", "title": f"Case {case_id}",
                                                                 **changes},
                 update=Update(f"u-{case_id}-{hours_ago}", when, "We are on it"))


def internal(clock: Clock, case_id: str, hours_ago: float) -> Event:
    return Event(case_id, f"{case_id}-note-{hours_ago}", at(clock, hours_ago), internal=True)


def sweeper(store: Store, clock: Clock) -> tuple[QuietWatch, Deliverer]:
    deliverer = Deliverer(store, clock, timeout_seconds=2, allow_private_hosts=True)
    nudger = Nudger(store, Signer(["k" * 32], clock), BASE_URL, clock)
    return QuietWatch(store, deliverer, clock, nudger=nudger), deliverer


async def acme(store: Store, hook: Receiver, **options: str) -> None:
    await add_tenant(store, "acme", "ACME", None, {"webhook_url": hook.url, "promise_hours": "24", **options})
    await store.add_source(SourceConfig("acme", "generic", "whsec_x"))


def nudges_of(hook: Receiver) -> list[dict[str, Any]]:
    bodies = [json.loads(r.body) for r in hook.requests]
    return [b["data"] for b in bodies if b["type"] == NUDGE_EVENT]


async def sweep(watch: QuietWatch, deliverer: Deliverer) -> None:
    await watch.check()
    await deliverer.run_once()


async def test_silent_work_nudges_the_team_once_per_promise_period(store: Store, clock: Clock):
    with receiver() as hook:
        await acme(store, hook)
        # The customer last heard 13 hours ago; five internal notes since. Another case is silent but idle.
        await store.ingest("acme", "generic", [replied(clock, "busy", 13), *(internal(clock, "busy", h)
                                                                            for h in (12, 9, 6, 3, 1)),
                                               replied(clock, "idle", 13), internal(clock, "idle", 14),
                                               replied(clock, "fresh", 2), internal(clock, "fresh", 1)])
        watch, deliverer = sweeper(store, clock)
        try:
            await sweep(watch, deliverer)
            [nudge] = nudges_of(hook)
            assert nudge["kind"] == "silent_work"
            assert nudge["case"]["case_id"] == "busy" and nudge["case"]["source"] == "generic"
            promised = (at(clock, 13) + timedelta(hours=24)).strftime("%a %d %b %H:%M UTC")
            assert nudge["text"].startswith("5 internal notes since the customer last heard from you, 13 hours ago; "
                                            f"their page promises an update by {promised}.")
            assert nudge["case_url"].startswith(f"{BASE_URL}/c/") and nudge["case_url"] in nudge["text"]
            await sweep(watch, deliverer)  # told already
            assert len(nudges_of(hook)) == 1
            clock.advance(timedelta(hours=24))  # a promise period later, still silent: once more
            await sweep(watch, deliverer)
            told = sorted((n["case"]["case_id"], n["kind"]) for n in nudges_of(hook))
            assert told == [("busy", "silent_work"), ("busy", "silent_work"), ("fresh", "silent_work")]
            again = [n for n in nudges_of(hook)[1:] if n["case"]["case_id"] == "busy"][0]
            assert again["text"].startswith("5 internal notes since the customer last heard from you, 37 hours ago; "
                                            "their page promised an update by")
        finally:
            await deliverer.stop()


async def test_an_expected_time_nudges_before_and_after_it_passes(store: Store, clock: Clock):
    with receiver() as hook:
        await acme(store, hook, nudge_before_hours="3")
        expected = at(clock, -2.5)  # in two and a half hours
        await store.ingest("acme", "generic", [replied(clock, "due", 4, expected_by=expected),
                                               replied(clock, "later", 4, expected_by=at(clock, -5)),
                                               # told the customer since it was set: nothing to nudge
                                               replied(clock, "told", 6, expected_by=at(clock, -1)),
                                               replied(clock, "told", 1)])
        watch, deliverer = sweeper(store, clock)
        try:
            await sweep(watch, deliverer)
            [passing] = nudges_of(hook)
            assert (passing["kind"], passing["case"]["case_id"]) == ("expected_passing", "due")
            assert "is 2 hours away, and they have heard nothing since it was set" in passing["text"]
            clock.advance(timedelta(hours=3))  # it has passed now; "later" is 2 hours away
            await sweep(watch, deliverer)
            told = {(n["kind"], n["case"]["case_id"]) for n in nudges_of(hook)}
            assert told == {("expected_passing", "due"), ("expected_passed", "due"), ("expected_passing", "later")}
            passed = next(n for n in nudges_of(hook) if n["kind"] == "expected_passed")
            assert "passed 30 minutes ago with no public update since it was set" in passed["text"]
        finally:
            await deliverer.stop()


async def test_not_solved_yet_nudges_on_ingest(store: Store, clock: Clock):
    with receiver() as hook:
        await acme(store, hook)
        nudger = Nudger(store, Signer(["k" * 32], clock), BASE_URL, clock)
        config = await store.get_source("acme", "generic")
        assert config is not None
        appended = await store.ingest("acme", "generic", [replied(clock, "4711", 2, stage="resolved")])
        assert await nudger.after_ingest(config, [a.case_key for a in appended]) == 0
        verdict = Event("4711", "customer:1", clock.now(), {"customer_verdict": "not_solved", "customer_rating": 2})
        appended = await store.ingest("acme", "generic", [verdict])
        assert await nudger.after_ingest(config, [a.case_key for a in appended]) == 1
        assert await nudger.after_ingest(config, [a.case_key for a in appended]) == 0  # once
        deliverer = Deliverer(store, clock, allow_private_hosts=True)
        try:
            await deliverer.run_once()
        finally:
            await deliverer.stop()
    [nudge] = nudges_of(hook)
    assert nudge["kind"] == "not_solved"
    assert nudge["text"].startswith('The customer answered "Not solved yet" 0 minutes ago (rating 2/5)')


async def test_a_problem_that_moves_nudges_its_linked_cases(store: Store, clock: Clock, database_url: str):
    with receiver() as hook:
        await acme(store, hook)
        await store.add_source(SourceConfig("acme", "github", "s"))
        hub = await open_hub(database_url)
        nudger = Nudger(store, Signer(["k" * 32], clock), BASE_URL, clock)
        problems = Problems(store, hub, clock, nudger)
        try:
            await store.ingest("acme", "github", [Event("acme/app#12", "p1", at(clock, 5), {"stage": "in_progress"})])
            await store.ingest("acme", "generic", [replied(clock, "4711", 4, problem="github:acme/app#12")])
            problem = await store.get_case("acme", "github", "acme/app#12")
            assert problem is not None
            await problems.tell_linked(problem.key)  # the first snapshot: linked, nothing moved
            await store.ingest("acme", "github", [Event("acme/app#12", "p2", at(clock, 1), {"title": "Logs"})])
            problem = await store.get_case("acme", "github", "acme/app#12")
            assert problem is not None
            await problems.tell_linked(problem.key)  # a change, but not of its stage
            assert [d for d in await store.list_deliveries("acme", 50) if d.event_type == NUDGE_EVENT] == []
            await store.ingest("acme", "github", [Event("acme/app#12", "p3", clock.now(), {"stage": "resolved"})])
            problem = await store.get_case("acme", "github", "acme/app#12")
            assert problem is not None
            await problems.tell_linked(problem.key)
            await problems.tell_linked(problem.key)  # told again (a retry): nudged once
            deliverer = Deliverer(store, clock, allow_private_hosts=True)
            try:
                await deliverer.run_once()
            finally:
                await deliverer.stop()
        finally:
            await hub.close()
    [nudge] = nudges_of(hook)
    assert nudge["kind"] == "problem_moved" and nudge["case"]["case_id"] == "4711"
    assert nudge["text"].startswith("The problem this case waits on (github:acme/app#12) is resolved: the fix is out.")


async def test_nudges_off_or_webhook_only(store: Store, clock: Clock):
    with receiver() as hook:
        await acme(store, hook, nudges="off")
        await store.ingest("acme", "generic", [replied(clock, "busy", 13), internal(clock, "busy", 1)])
        watch, deliverer = sweeper(store, clock)
        try:
            await sweep(watch, deliverer)
            assert nudges_of(hook) == []
            await acme(store, hook, nudges="note")  # the generic source has no write-back: nowhere to write
            await sweep(watch, deliverer)
            assert nudges_of(hook) == []
            await acme(store, hook, nudges="webhook")
            await sweep(watch, deliverer)
            assert [n["kind"] for n in nudges_of(hook)] == ["silent_work"]
        finally:
            await deliverer.stop()


async def test_instances_sweeping_together_nudge_and_remind_once(store: Store, clock: Clock, database_url: str):
    """Two instances (two stores on one database) sweep at the same moment, several times: each
    nudge and each quiet reminder is queued once."""
    with receiver() as hook:
        await acme(store, hook)
        events = []
        for n in range(5):  # quiet for 30 hours, with internal work: a quiet reminder and a nudge each
            events += [replied(clock, f"c{n}", 30), internal(clock, f"c{n}", 2)]
        await store.ingest("acme", "generic", events)
        other = await open_store(database_url, clock)
        sweepers = [sweeper(store, clock), sweeper(other, clock)]
        try:
            for _ in range(3):
                await asyncio.gather(*(watch.check() for watch, _ in sweepers))
            queued = await store.list_deliveries("acme", 100)
            assert sorted((d.event_type, d.case_key) for d in queued if d.event_type == NUDGE_EVENT) == sorted(
                (NUDGE_EVENT, d.case_key) for d in queued if d.event_type == "case.quiet")
            assert len([d for d in queued if d.event_type == NUDGE_EVENT]) == 5
            assert len([d for d in queued if d.event_type == "case.quiet"]) == 5
            await asyncio.gather(*(deliverer.run_once() for _, deliverer in sweepers))
            assert len(hook.requests) == 10
        finally:
            for _, deliverer in sweepers:
                await deliverer.stop()
            await other.close()


def test_tracker_nudges_lists_them(database_url: str, clock: Clock):
    async def setup() -> None:
        store = await open_store(database_url, clock)
        try:
            await acme(store, hook)
            await add_tenant(store, "beta", "Beta", None, {"nudges": "off"})
            await add_tenant(store, "gamma", "Gamma", None, {})
            await store.ingest("acme", "generic", [replied(clock, "busy", 13), internal(clock, "busy", 1)])
            watch, deliverer = sweeper(store, clock)
            try:
                await sweep(watch, deliverer)
            finally:
                await deliverer.stop()
        finally:
            await store.close()

    with receiver() as hook:
        asyncio.run(setup())
    env = {**os.environ, "TRACKER_DATABASE_URL": database_url, "TRACKER_SECRET_KEYS": "k" * 32}
    done = subprocess.run([sys.executable, "-m", "tracker", "nudges", "acme"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    first, text = done.stdout.splitlines()
    assert first.endswith("  generic:busy  silent_work  webhook: delivered")
    assert text.strip().startswith("1 internal note since the customer last heard from you, 13 hours ago")
    done = subprocess.run([sys.executable, "-m", "tracker", "nudges", "nobody"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0 and "nobody" in done.stderr
    # None yet: the command says why there may be none.
    for tenant, says in (("beta", "the tenant option nudges is off"), ("gamma", "needs the tenant's webhook_url")):
        done = subprocess.run([sys.executable, "-m", "tracker", "nudges", tenant], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0 and says in done.stdout, done.stdout + done.stderr


CANARY = "CANARY-nudge-41c9"  # in every internal note of the case


def test_nudges_and_internal_notes_never_reach_a_customer_surface(client: TestClient):
    """A case whose internal notes carry a canary calls for nudges (silent work, the expected time
    passing); the team gets them, and no customer surface shows the canary or a nudge's words."""
    app = client.app
    assert isinstance(app, Starlette)
    store = app.state.store
    with receiver() as hook:
        client.portal.call(add_tenant, store, "acme", None, None, {"webhook_url": hook.url})
        post(client, {**generic_payload("4711", title="Invoice export fails", stage="in_progress",
                                        expected_by=from_now(hours=1)),
                      "occurred_at": from_now(hours=-13),
                      "message": {"id": "m-1", "body": "We are looking into it.", "public": True, "author": "Dana"}})
        for n in (3, 2, 1):
            post(client, {**generic_payload("4711"), "occurred_at": from_now(hours=-n),
                          "message": {"id": f"n-{n}", "body": f"{CANARY} internal note {n}", "public": False,
                                      "author": f"{CANARY} Eve"}})
        client.portal.call(app.state.quiet_watch.check)
        client.portal.call(app.state.deliverer.run_once)
        told = nudges_of(hook)
    assert sorted(n["kind"] for n in told) == ["expected_passing", "silent_work"]
    silent = next(n for n in told if n["kind"] == "silent_work")
    # Judged on ingest: the first internal note after 12 hours of silence calls for it.
    assert silent["text"].startswith("1 internal note since the customer last heard from you, 13 hours ago")
    assert CANARY not in json.dumps(told)  # the note counts internal notes; it never quotes them
    stored = client.portal.call(store.get_case, "acme", "generic", "4711")
    client.portal.call(store.set_public, stored.key, "pub-nudge", None)
    link = link_for(client)
    surfaces = {path: client.get(path).text for path in (
        link, link + "/case.json", link + "/feed.atom", link + "/case.ics", "/p/pub-nudge", "/p/pub-nudge/case.json",
        "/p/pub-nudge/badge.svg", "/p/pub-nudge/badge.json", "/p/pub-nudge/feed.atom", "/p/pub-nudge/case.ics")}
    for path in (link + "/events", "/p/pub-nudge/events"):
        with client.stream("GET", path) as stream:
            surfaces[path] = next(line for line in stream.iter_lines() if line.startswith("data:"))
    assert "We are looking into it." in surfaces[link]  # the page is there, with its public update
    words = [CANARY, "internal note", "last heard from you", "Added by tracker", "customer does not see"]
    leaks = {path: word for path, text in surfaces.items() for word in words if word in text}
    assert leaks == {}


def test_not_solved_yet_on_the_page_nudges_the_team(client: TestClient):
    app = client.app
    assert isinstance(app, Starlette)
    with receiver() as hook:
        client.portal.call(add_tenant, app.state.store, "acme", None, None, {"webhook_url": hook.url})
        post(client, {**generic_payload("4711", title="Invoice export fails", stage="resolved"),
                      "message": {"id": "m-1", "body": "Fixed, please check.", "public": True, "author": "Dana"}})
        link = link_for(client)
        token = re.search(r'/verdict">\s*<input type="hidden" name="token" value="([^"]+)"', client.get(link).text)
        assert token, "no verdict form on a resolved case"
        answer = client.post(link + "/verdict", data={"token": token.group(1), "verdict": "not_solved", "rating": "2"},
                             follow_redirects=False)
        assert answer.status_code == 303
        deadline = time.monotonic() + 5
        while not nudges_of(hook):  # the deliverer was woken
            assert time.monotonic() < deadline, [d.event_type for d in client.portal.call(
                app.state.store.list_deliveries, "acme")]
            time.sleep(0.01)
        [nudge] = nudges_of(hook)
    assert nudge["kind"] == "not_solved" and nudge["case"]["case_id"] == "4711"
    assert nudge["text"].startswith('The customer answered "Not solved yet" 0 minutes ago (rating 2/5)')
