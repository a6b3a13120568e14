"""What the cases teach: the report's figures against a set of cases worked out by hand, on
both backends; the command line (table and CSV) and the admin API."""

from __future__ import annotations

import csv
import io
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from starlette.testclient import TestClient

from tests.conftest import BACKENDS, suite_clock
from tests.test_admin_api import add_globex, assert_error, bearer, make_key
from tests.test_openapi import required_fields
from tracker.cases import Event, Update, apply_all, dump_case, new_case
from tracker.insights import flat_rows, report
from tracker.storage import open_store, postgres, sqlite, sqlite_path
from tracker.storage.base import ProblemNotes, SourceConfig, Store, Tenant

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
PROMISE = {"promise_hours": "24"}  # so silent work is internal activity after 12 h without an update


class Cases:
    """Events of cases, each at `hours` before `now`."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.events: dict[str, list[Event]] = {}
        self.count = 0

    def add(self, source: str, case_id: str, hours: float, update: bool = False, internal: bool = False,
            **changes: Any) -> None:
        self.count += 1
        at = self.now - timedelta(hours=hours)
        if isinstance(changes.get("expected_by"), (int, float)):
            changes["expected_by"] = self.now - timedelta(hours=changes["expected_by"])
        self.events.setdefault(source, []).append(Event(
            case_id=case_id, delivery_id=f"d{self.count}", occurred_at=at, changes=changes, internal=internal,
            update=Update(f"u{self.count}", at, "We are on it.") if update else None))


async def hand_worked_cases(store: Store, now: datetime) -> None:
    """The cases the expected figures below were worked out from (hours before now)."""
    await store.add_tenant(Tenant("acme", "ACME", options=PROMISE))
    for source in ("generic", "zendesk", "github"):
        await store.add_source(SourceConfig("acme", source, "whsec_x"))
    c = Cases(now)
    # A: high; first update after 2 h, received 4 h, in progress 56 h, resolved 10 h after the first
    # expected time; a 38 h silence (quiet) with a note 28 h into another (silent work); solved, 5.
    c.add("generic", "A", 100, stage="received", priority="high", requester_email="carol@example.com",
          problem="github:acme/app#2")
    c.add("generic", "A", 98, update=True)
    c.add("generic", "A", 96, stage="in_progress", expected_by=50)
    c.add("generic", "A", 70, internal=True)
    c.add("generic", "A", 60, update=True)
    c.add("generic", "A", 40, stage="resolved")
    c.add("generic", "A", 30, customer_verdict="solved", customer_rating=5)
    # B: high; received 1 h, first update 2 h, in progress 29 h, resolved 30 h until closed, 30 h
    # before its expected time; silences of at most 18 h, a note 8 h in; not solved, 2.
    c.add("generic", "B", 80, stage="received", priority="high")
    c.add("generic", "B", 79, stage="in_progress", expected_by=20)
    c.add("generic", "B", 78, update=True)
    c.add("generic", "B", 70, internal=True)
    c.add("generic", "B", 60, update=True)
    c.add("generic", "B", 50, stage="resolved")
    c.add("generic", "B", 20, stage="closed", customer_verdict="not_solved", customer_rating=2)
    # C: no priority, never answered for 48 h: quiet now.
    c.add("generic", "C", 48, stage="received")
    # D: low; received 1 h, first update 2 h, a note 7 h after it; open.
    c.add("generic", "D", 10, stage="received", priority="low")
    c.add("generic", "D", 9, stage="in_progress", expected_by=-10)
    c.add("generic", "D", 8, update=True)
    c.add("generic", "D", 1, internal=True)
    # F: reopened once: in progress 1 h + 6 h, resolved at 20 h, 5 h after its first expected time
    # (a later one was given too); a note after it was resolved does not count; solved, 4.
    c.add("generic", "F", 30, stage="received")
    c.add("generic", "F", 29, update=True)
    c.add("generic", "F", 28, stage="in_progress", expected_by=25)
    c.add("generic", "F", 27, stage="resolved")
    c.add("generic", "F", 26, stage="in_progress")
    c.add("generic", "F", 24, expected_by=18)
    c.add("generic", "F", 21, internal=True)
    c.add("generic", "F", 20, stage="resolved", customer_verdict="solved", customer_rating=4)
    c.add("generic", "F", 15, internal=True)
    # E: opened 40 days ago, before the report's 30 days: in no figure.
    c.add("generic", "E", 40 * 24, stage="received", priority="high")
    c.add("generic", "E", 40 * 24 - 1, update=True, stage="resolved", customer_verdict="not_solved", customer_rating=1)
    # G, H, I: zendesk, linked to one problem (two customers); G has a note after 15 h of silence.
    c.add("zendesk", "G", 20, priority="high", requester_email="ann@example.com", problem="github:acme/app#1")
    c.add("zendesk", "G", 5, internal=True)
    c.add("zendesk", "H", 12, requester_email="Ann@Example.com", problem="github:acme/app#1")
    c.add("zendesk", "H", 11, update=True)
    c.add("zendesk", "I", 6, requester_email="bob@example.com", problem="github:acme/app#1")
    # The problem itself, a GitHub issue: never answered for 50 h.
    c.add("github", "acme/app#1", 50, title="Export crashes on large files")
    for source, events in c.events.items():
        for event in events:  # one delivery each, in order
            await store.ingest("acme", source, [event])
    await store.set_problem_notes(ProblemNotes("acme", "github", "acme/app#1", "Exports fail"))


def group(found: dict[str, Any], source: str, priority: str | None = None) -> dict[str, Any]:
    matching = [g for g in found["groups"] if g["source"] == source and g["priority"] == priority]
    assert len(matching) == 1, found["groups"]
    return matching[0]


def hours(found: dict[str, Any], source: str, priority: str | None = None) -> dict[str, tuple[Any, ...]]:
    return {name: (h["median"], h["p80"], h["cases"]) for name, h in group(found, source, priority)["hours"].items()}


async def test_the_figures_are_the_hand_worked_ones(store: Store):
    now = suite_clock().now()
    await hand_worked_cases(store, now)
    tenant = await store.get_tenant("acme")
    assert tenant is not None
    found = await report(store, tenant, "30d", None, now)
    assert [(g["source"], g["priority"]) for g in found["groups"]] == [
        ("generic", None), ("generic", "high"), ("generic", "low"), ("github", None), ("zendesk", None),
        ("zendesk", "high")]
    generic = group(found, "generic")
    assert (generic["opened"], generic["resolved"], generic["open"]) == (5, 3, 2)
    assert (generic["gone_quiet"], generic["silent_work"]) == (2, 1)  # A and C; A
    assert generic["expected"] == {"given": 3, "held": 1, "held_share": 0.333}
    assert generic["verdicts"] == {"solved": 2, "not_solved": 1}
    assert generic["ratings"] == {"count": 3, "average": 3.67,
                                  "by_score": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}}
    assert hours(found, "generic") == {
        "first_update": (2, 2, 4), "received": (1, 4, 4), "in_progress": (29, 56, 3), "resolved": (30, 30, 1),
        "resolution": (30, 60, 3), "slip": (5, 10, 2)}
    high = group(found, "generic", "high")
    assert (high["opened"], high["resolved"], high["gone_quiet"], high["silent_work"]) == (2, 2, 1, 1)
    assert high["expected"] == {"given": 2, "held": 1, "held_share": 0.5}
    assert high["ratings"]["average"] == 3.5
    assert hours(found, "generic", "high") == {
        "first_update": (2, 2, 2), "received": (1, 4, 2), "in_progress": (29, 56, 2), "resolved": (30, 30, 1),
        "resolution": (30, 60, 2), "slip": (10, 10, 1)}
    low = group(found, "generic", "low")
    assert (low["opened"], low["resolved"], low["open"], low["gone_quiet"], low["silent_work"]) == (1, 0, 1, 0, 0)
    assert low["expected"] == {"given": 0, "held": 0, "held_share": None}
    assert hours(found, "generic", "low")["in_progress"] == (None, None, 0)
    zendesk = group(found, "zendesk")
    assert (zendesk["opened"], zendesk["open"], zendesk["gone_quiet"], zendesk["silent_work"]) == (3, 3, 0, 1)
    assert hours(found, "zendesk")["first_update"] == (1, 1, 1)
    assert group(found, "zendesk", "high")["silent_work"] == 1
    assert group(found, "github")["gone_quiet"] == 1
    assert found["problems"] == [
        {"problem": "github:acme/app#1", "public_title": "Exports fail", "title": "Export crashes on large files",
         "customers": 2, "cases": 3, "open": 3},
        {"problem": "github:acme/app#2", "public_title": "", "title": "", "customers": 1, "cases": 1, "open": 0}]
    assert (found["promise_hours"], found["nudge_after_hours"]) == (24, 12)


async def test_the_tenants_promise_period_and_source_apply_when_asked(store: Store):
    now = suite_clock().now()
    await hand_worked_cases(store, now)
    # A longer promise: A's 38 h silence keeps it, C's 48 h does not; silent work needs 20 h now.
    await store.add_tenant(Tenant("acme", "ACME", options={"promise_hours": "40"}))
    tenant = await store.get_tenant("acme")
    assert tenant is not None
    found = await report(store, tenant, "30d", None, now)
    assert (group(found, "generic")["gone_quiet"], group(found, "generic")["silent_work"]) == (1, 1)
    assert group(found, "zendesk")["silent_work"] == 0  # G's note came 15 h into its silence
    # The last 40 hours: C (48 h), A, B and the problem are older.
    recent = await report(store, tenant, "40h", None, now)
    assert group(recent, "generic")["opened"] == 2  # D and F
    assert hours(recent, "generic")["first_update"] == (1, 2, 2)
    only = await report(store, tenant, "2w", "zendesk", now)
    assert [g["source"] for g in only["groups"]] == ["zendesk", "zendesk"]
    assert [p["problem"] for p in only["problems"]] == ["github:acme/app#1"]
    assert flat_rows(only)[0]["first_update_median_hours"] == 1


def test_the_command_line_prints_a_table_and_csv(client: TestClient, settings: Any, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]):
    now = suite_clock().now()
    client.portal.call(hand_worked_cases, client.app.state.store, now)  # type: ignore[attr-defined]
    from tracker.cli import main
    monkeypatch.setenv("TRACKER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TRACKER_SECRET_KEYS", "cli-key-0123456789abcdef")
    capsys.readouterr()
    assert main(["insights", "acme"]) == 0
    lines = capsys.readouterr().out.splitlines()
    generic = next(line.split() for line in lines if line.startswith("generic") and "(all)" in line)
    # source, priority, opened, resolved, open, quiet, silent, 1st update, received, in progress, ...
    assert generic[:12] == ["generic", "(all)", "5", "3", "2", "2", "1", "2/2", "1/4", "29/56", "30/30", "30/60"]
    assert generic[12:] == ["1/3", "5/10", "2", "1", "3.67", "(3)"]
    assert any("github:acme/app#1" in line and "2 customer(s)" in line and "Exports fail" in line for line in lines)
    assert main(["insights", "acme", "--csv", "--source", "zendesk"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["source"], r["priority"], r["opened"], r["silent_work"]) for r in rows] == [
        ("zendesk", "", "3", "1"), ("zendesk", "high", "1", "1")]
    assert main(["insights", "acme", "--since", "30 days"]) == 1
    assert "since:" in capsys.readouterr().err


def test_the_api_answers_the_tenants_key_only(client: TestClient):
    now = suite_clock().now()
    client.portal.call(hand_worked_cases, client.app.state.store, now)  # type: ignore[attr-defined]
    key = make_key(client)
    answer = client.get("/api/v1/insights?since=30d", headers=bearer(key))
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    found = answer.json()
    doc = client.get("/api/v1/openapi.json").json()
    assert required_fields(doc, doc["components"]["schemas"]["Insights"]) <= set(found)
    assert required_fields(doc, doc["components"]["schemas"]["InsightsGroup"]) <= set(found["groups"][0])
    assert group(found, "generic")["expected"] == {"given": 3, "held": 1, "held_share": 0.333}
    assert found["problems"][0]["customers"] == 2
    globex = client.get("/api/v1/insights", headers=bearer(add_globex(client))).json()
    assert [(g["source"], g["opened"]) for g in globex["groups"]] == [("generic", 1)]  # its own case only
    assert_error(client.get("/api/v1/insights"), 401, "tracker apikey")
    assert_error(client.get("/api/v1/insights?since=30", headers=bearer(key)), 400, "since")
    assert_error(client.get("/api/v1/insights?since=-2d", headers=bearer(key)), 400, "since")
    assert_error(client.get("/api/v1/insights?source=zendsk", headers=bearer(key)), 400, "source", "zendesk")


async def test_cases_stored_before_the_facts_were_kept_are_counted_after_the_migration(database_url: str):
    """A database of the schema before the facts: opening it fills them in from the case documents."""
    now = suite_clock().now()
    c = Cases(now)
    c.add("generic", "7", 10, stage="received", priority="high")
    c.add("generic", "7", 8, update=True)
    c.add("generic", "7", 4, stage="resolved")
    case = apply_all(new_case("7"), c.events["generic"])
    opened = (now - timedelta(hours=10)).isoformat()
    if database_url.startswith("sqlite"):
        with closing(sqlite3.connect(sqlite_path(database_url), isolation_level=None)) as db:
            for script in sqlite.MIGRATIONS[:sqlite.FACTS_MIGRATION - 1]:
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute("INSERT INTO tenants (slug, name, theme, created_at) VALUES ('acme', 'ACME', 'default', ?)",
                       (opened,))
            db.execute("INSERT INTO cases (tenant, source, case_id, seq, state, created_at, updated_at) "
                       "VALUES ('acme', 'generic', '7', 3, ?, ?, ?)", (dump_case(case), opened, opened))
            db.execute(f"PRAGMA user_version = {sqlite.FACTS_MIGRATION - 1}")
    else:
        db = await asyncpg.connect(database_url)
        try:
            await db.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
                             "applied_at timestamptz NOT NULL DEFAULT now())")
            for number, script in enumerate(postgres.MIGRATIONS[:postgres.FACTS_MIGRATION - 1], start=1):
                await db.execute(script)
                await db.execute("INSERT INTO schema_migrations (version) VALUES ($1)", number)
            await db.execute("INSERT INTO tenants (slug, name, theme) VALUES ('acme', 'ACME', 'default')")
            await db.execute("INSERT INTO cases (tenant, source, case_id, seq, state, created_at, updated_at) "
                             "VALUES ('acme', 'generic', '7', 3, $1::jsonb, $2, $2)", dump_case(case),
                             now - timedelta(hours=10))
        finally:
            await db.close()
    store = await open_store(database_url, suite_clock())
    try:
        tenant = await store.get_tenant("acme")
        assert tenant is not None
        found = await report(store, tenant, "1d", None, now)
    finally:
        await store.close()
    assert [(g["priority"], g["opened"], g["resolved"]) for g in found["groups"]] == [(None, 1, 1), ("high", 1, 1)]
    assert hours(found, "generic")["first_update"] == (2, 2, 1)
    assert hours(found, "generic")["resolution"] == (6, 6, 1)
