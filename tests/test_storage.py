"""SQLite storage: versioned schema, durable acknowledgements, batches that isolate bad items."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import SECRET, generic_payload, suite_clock
from tracker.cases import Event
from tracker.config import Settings
from tracker.demo import signed_request
from tracker.insights import FACT_COLUMNS
from tracker.storage import open_store, sqlite_path
from tracker.storage.base import SourceConfig, Tenant
from tracker.storage.sqlite import MIGRATIONS, OTHER_WRITERS_SECONDS

T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)


EVENTS_V4 = """CREATE TABLE events (
    case_key INTEGER NOT NULL REFERENCES cases(id), seq INTEGER NOT NULL,
    tenant TEXT NOT NULL, source TEXT NOT NULL, delivery_id TEXT NOT NULL,
    received_at TEXT NOT NULL, event TEXT NOT NULL, case_after TEXT NOT NULL,
    PRIMARY KEY (case_key, seq), UNIQUE (tenant, source, delivery_id)
) WITHOUT ROWID"""


def event(n: int, case_id: str = "1", **changes: object) -> Event:
    return Event(case_id=case_id, delivery_id=f"d{n}", occurred_at=T0, changes=changes)


async def test_schema_version_is_recorded_and_reopening_keeps_data(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = await open_store(url, suite_clock())
    await store.add_tenant(Tenant("acme", "ACME"))
    await store.close()
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store = await open_store(url, suite_clock())
    assert await store.get_tenant("acme") == Tenant("acme", "ACME", "default")
    await store.close()


async def test_ingest_returns_only_after_the_rows_are_committed(tmp_path: Path):
    store = await open_store(f"sqlite:///{tmp_path / 's.db'}", suite_clock())
    await store.add_tenant(Tenant("acme", "ACME"))
    await store.add_source(SourceConfig("acme", "generic", "x"))
    results = await asyncio.gather(*(store.ingest("acme", "generic", [event(n, str(n % 3))]) for n in range(50)))
    # A separate connection (another process, in effect) sees every acknowledged row.
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 50
    assert sorted(r[0].seq for r in results if r[0].case_key == results[0][0].case_key) == list(range(1, 18))
    await store.close()


async def test_a_bad_delivery_fails_alone_not_its_batch(tmp_path: Path):
    store = await open_store(f"sqlite:///{tmp_path / 's.db'}", suite_clock())
    unstorable = event(99, title=object())  # cannot be written as JSON
    results = await asyncio.gather(
        *(store.ingest("acme", "generic", [event(n)]) for n in range(5)),
        store.ingest("acme", "generic", [unstorable]),
        store.ingest("acme", "generic", [event(7), event(7)]),  # a duplicate inside one delivery
        return_exceptions=True,
    )
    assert [len(r) for r in results[:5]] == [1] * 5
    assert isinstance(results[5], TypeError)
    assert len(results[6]) == 1  # type: ignore[arg-type]
    [case] = await store.find_cases("acme", "1")
    assert case.seq == 6
    await store.close()


async def test_a_database_of_an_older_schema_is_migrated_in_place(tmp_path: Path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # a database as the first release left it
        db.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
        db.execute("INSERT INTO tenants VALUES ('acme', 'ACME', 'default', 'x')")
        db.execute("INSERT INTO sources VALUES ('acme', 'generic', 'whsec_x', 'x')")
    store = await open_store(f"sqlite:///{path}", suite_clock())
    assert await store.get_source("acme", "generic") == SourceConfig("acme", "generic", "whsec_x", {})
    await store.add_source(SourceConfig("acme", "linear", "s", {"public_comments": "yes"}))
    assert (await store.get_source("acme", "linear")).options == {"public_comments": "yes"}  # type: ignore[union-attr]
    await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 15


async def test_an_event_log_of_schema_4_is_moved_to_the_rowid_table_intact(tmp_path: Path):
    path = tmp_path / "v4.db"
    store = await open_store(f"sqlite:///{path}", suite_clock())
    await store.add_tenant(Tenant("acme", "ACME"))
    await store.ingest("acme", "generic", [event(1, title="First"), event(2, progress=20)])
    await store.close()
    facts = "".join(f"ALTER TABLE cases DROP COLUMN {name}; " for name in FACT_COLUMNS)
    with sqlite3.connect(path) as db:  # put the log back the way schema 4 kept it, as schema 4 was
        db.executescript(f"ALTER TABLE events RENAME TO old; {EVENTS_V4}; INSERT INTO events "
                         "SELECT case_key, seq, tenant, source, delivery_id, received_at, event, case_after FROM old; "
                         "DROP TABLE old; DROP TABLE subscribers; DROP TABLE problems; DROP INDEX cases_by_problem; "
                         f"DROP INDEX cases_by_opening; {facts}"
                         "DROP INDEX cases_by_requester; ALTER TABLE cases DROP COLUMN problem; "
                         "ALTER TABLE cases DROP COLUMN requester; DROP TABLE received; DROP TABLE told_once; "
                         "DROP TABLE console_accounts; DROP TABLE console_audit; PRAGMA user_version = 4;")
    store = await open_store(f"sqlite:///{path}", suite_clock())
    [case] = await store.find_cases("acme", "1")
    assert [e.event.delivery_id for e in await store.events_after(case.key, 0)] == ["d1", "d2"]
    assert await store.ingest("acme", "generic", [event(2, progress=20)]) == []  # still a duplicate
    [appended] = await store.ingest("acme", "generic", [event(3, progress=30)])
    assert appended.seq == 3
    await store.close()


async def test_a_case_written_by_another_process_is_read_again_not_taken_from_the_cache(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    # two processes on one file
    first, second = await open_store(url, suite_clock()), await open_store(url, suite_clock())
    await first.ingest("acme", "generic", [event(1, title="Refund")])
    await second.ingest("acme", "generic", [event(2, progress=50)])
    await first.ingest("acme", "generic", [event(3, status_label="Approved")])
    [case] = await first.find_cases("acme", "1")
    assert (case.seq, case.case.title, case.case.progress, case.case.status_label) == (3, "Refund", 50, "Approved")
    await first.close()
    await second.close()


async def test_two_processes_opening_a_new_file_at_once_both_work(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    first, second = await asyncio.gather(open_store(url, suite_clock()), open_store(url, suite_clock()))
    await first.add_tenant(Tenant("acme", "ACME"))
    assert await second.get_tenant("acme") is not None
    await first.close()
    await second.close()


@pytest.fixture
def client_on_file(client: TestClient, settings: Settings) -> tuple[TestClient, Path]:
    return client, Path(sqlite_path(settings.database_url))


def test_a_locked_database_answers_503_and_the_retry_is_stored_once(client_on_file: tuple[TestClient, Path]):
    client, path = client_on_file
    payload = generic_payload(title="Stored after all")
    body, headers = signed_request(SECRET, payload, suite_clock())
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the file (a backup, a migration)
    try:
        refused = client.post("/hooks/acme/generic", content=body, headers=headers)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    assert "nothing was stored" in refused.json()["error"]
    retried = client.post("/hooks/acme/generic", content=body, headers=headers)  # the helpdesk's retry
    assert retried.status_code == 202 and retried.json()["stored"] == 1
    assert client.post("/hooks/acme/generic", content=body, headers=headers).json()["duplicates"] == 1


async def test_a_write_lock_held_elsewhere_is_waited_for_without_blocking_the_loop(tmp_path: Path):
    store = await open_store(f"sqlite:///{tmp_path / 's.db'}", suite_clock())
    holder = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    ingest = asyncio.create_task(store.ingest("acme", "generic", [event(1)]))
    await asyncio.sleep(0.3)
    assert not ingest.done() and ticks >= 10  # waiting, and the loop still runs
    holder.execute("COMMIT")
    [appended] = await asyncio.wait_for(ingest, 2)
    assert appended.seq == 1
    ticker.cancel()
    holder.close()
    await store.close()


async def test_the_wal_file_is_checkpointed_and_started_over_as_events_arrive(tmp_path: Path):
    store = await open_store(f"sqlite:///{tmp_path / 's.db'}", suite_clock())
    body = "An update of about two kilobytes. " * 60
    for start in range(0, 3000, 100):
        await asyncio.gather(*(store.ingest("acme", "generic", [event(n, str(n % 50), title=body)])
                               for n in range(start, start + 100)))
    # 3,000 events of ~6 KB (event, log copy, case row) would be ~20 MB of WAL never started over.
    assert (tmp_path / "s.db-wal").stat().st_size < 8_000_000
    await store.close()


async def test_lookups_answer_the_newest_values_whichever_process_changed_them(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    # the server, and the CLI in another process
    store, cli = await open_store(url, suite_clock()), await open_store(url, suite_clock())
    await store.add_tenant(Tenant("acme", "ACME"))
    await store.add_source(SourceConfig("acme", "generic", "first"))
    await store.ingest("acme", "generic", [event(1)])
    assert (await store.get_source("acme", "generic")).secret == "first"  # type: ignore[union-attr]
    head = await store.get_case_head("acme", "generic", "1")
    assert head is not None and (head.seq, head.link_version) == (1, 1)
    await cli.add_source(SourceConfig("acme", "generic", "second"))
    await cli.add_tenant(Tenant("acme", "ACME Inc", "dark"))
    await cli.bump_link_version(head.key)  # `tracker revoke`
    await asyncio.sleep(OTHER_WRITERS_SECONDS)
    assert (await store.get_source("acme", "generic")).secret == "second"  # type: ignore[union-attr]
    assert await store.get_tenant("acme") == Tenant("acme", "ACME Inc", "dark")
    assert (await store.get_case_head("acme", "generic", "1")).link_version == 2  # type: ignore[union-attr]
    await store.ingest("acme", "generic", [event(2)])
    assert (await store.get_case_head("acme", "generic", "1")).seq == 2  # type: ignore[union-attr]
    await cli.close()
    await store.close()
