"""SQLite storage: WAL, one writer with group commit, reads through aiosqlite.

Ingest goes through group_commit.py: one writer task, one transaction per batch of webhooks.
The writer task runs each transaction on the event loop itself (plain sqlite3). On a thread
of its own it spent half its time waiting to win the GIL back from the busy loop after every
SQLite call, and a batch took twice its CPU time. What does wait for the disk, the WAL
checkpoint, runs on a thread between batches (see `_checkpoint`). Small writes (tenants,
deliveries, keys) run on that thread too, through a connection of their own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import aiosqlite

from tracker.cases import (
    Case,
    Event,
    dump_event,
    load_case,
    load_event,
    new_case,
)
from tracker.clock import Clock
from tracker.erasure import erase_case, is_theirs, names_address, names_in_states
from tracker.insights import FACT_COLUMNS, QUERIES, Query, Rows, fact_values, parameters
from tracker.storage.base import (
    RECEIPTS_KEPT,
    ApiKey,
    Appended,
    AuditEntry,
    CaseHead,
    ConsoleAccount,
    Delivery,
    ForgetResult,
    ProblemNotes,
    Receipt,
    SourceConfig,
    StoredCase,
    StoredEvent,
    Subscriber,
    Tenant,
)
from tracker.storage.group_commit import GroupCommit, Pending
from tracker.storage.ingest import (
    CaseRow,
    Ident,
    apply_batch,
    moved_cases,
    news_cases,
    relinked_cases,
    requester_of,
    with_wake,
)
from tracker.storage.rows import (
    API_KEY_COLUMNS,
    AUDIT_COLUMNS,
    CASE_COLUMNS,
    CONSOLE_ACCOUNT_COLUMNS,
    DELIVERY_COLUMNS,
    PROBLEM_COLUMNS,
    SUBSCRIBER_COLUMNS,
    api_key,
    audit_entry,
    console_account,
    delivery,
    problem_notes,
    stored_case,
    subscriber,
)

# Each entry moves the schema one version up (PRAGMA user_version); never edit a shipped one.
MIGRATIONS = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE tenants (
        slug TEXT PRIMARY KEY, name TEXT NOT NULL, theme TEXT NOT NULL, created_at TEXT NOT NULL
    );
    CREATE TABLE sources (
        tenant TEXT NOT NULL REFERENCES tenants(slug), source TEXT NOT NULL,
        secret TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (tenant, source)
    );
    CREATE TABLE cases (
        id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, source TEXT NOT NULL, case_id TEXT NOT NULL,
        seq INTEGER NOT NULL, link_version INTEGER NOT NULL DEFAULT 1, state TEXT NOT NULL,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        UNIQUE (tenant, source, case_id)
    );
    CREATE INDEX cases_by_tenant ON cases (tenant, updated_at);
    CREATE TABLE events (
        case_key INTEGER NOT NULL REFERENCES cases(id), seq INTEGER NOT NULL,
        tenant TEXT NOT NULL, source TEXT NOT NULL, delivery_id TEXT NOT NULL,
        received_at TEXT NOT NULL, event TEXT NOT NULL, case_after TEXT NOT NULL,
        PRIMARY KEY (case_key, seq), UNIQUE (tenant, source, delivery_id)
    ) WITHOUT ROWID;
    """,
    "ALTER TABLE sources ADD COLUMN options TEXT NOT NULL DEFAULT '{}'",
    """
    ALTER TABLE tenants ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE cases ADD COLUMN public_id TEXT;
    ALTER TABLE cases ADD COLUMN public_title TEXT;
    CREATE UNIQUE INDEX cases_by_public_id ON cases (public_id);
    """,
    """
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL, event_type TEXT NOT NULL,
        case_key INTEGER, request TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
        next_attempt_at TEXT NOT NULL, last_error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
    );
    CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
    CREATE INDEX deliveries_by_tenant ON deliveries (tenant, id);
    CREATE INDEX deliveries_by_case ON deliveries (tenant, event_type, case_key, id);
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY, tenant TEXT NOT NULL REFERENCES tenants(slug), name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT
    );
    """,
    # The event log as a rowid table: its rows are several KB, and in a WITHOUT ROWID table
    # ordered by case every insert lands mid-tree and splits pages; here inserts append.
    """
    CREATE TABLE events_v5 (
        id INTEGER PRIMARY KEY, case_key INTEGER NOT NULL REFERENCES cases(id), seq INTEGER NOT NULL,
        tenant TEXT NOT NULL, source TEXT NOT NULL, delivery_id TEXT NOT NULL,
        received_at TEXT NOT NULL, event TEXT NOT NULL, case_after TEXT NOT NULL,
        UNIQUE (case_key, seq), UNIQUE (tenant, source, delivery_id)
    );
    INSERT INTO events_v5 (case_key, seq, tenant, source, delivery_id, received_at, event, case_after)
        SELECT case_key, seq, tenant, source, delivery_id, received_at, event, case_after FROM events;
    DROP TABLE events;
    ALTER TABLE events_v5 RENAME TO events;
    """,
    """
    CREATE TABLE IF NOT EXISTS subscribers (
        id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, case_key INTEGER NOT NULL REFERENCES cases(id),
        audience TEXT NOT NULL, address TEXT NOT NULL, language TEXT NOT NULL, confirmed_at TEXT,
        told_seq INTEGER NOT NULL DEFAULT 0, told_at TEXT, created_at TEXT NOT NULL,
        UNIQUE (case_key, audience, address)
    );
    """,
    # While one worker mails a subscriber, no other does (two could each hold one of its mails).
    "ALTER TABLE subscribers ADD COLUMN sending_until TEXT",
    # Browser notifications: the address is then the push endpoint, and the keys its encryption's.
    "ALTER TABLE subscribers ADD COLUMN channel TEXT NOT NULL DEFAULT 'email'; "
    "ALTER TABLE subscribers ADD COLUMN push_keys TEXT;",
    # Linked problems: the case's link ("SOURCE:ID", from its state) as a column to find the
    # linked cases by, and what the company says of each problem to customers.
    """
    ALTER TABLE cases ADD COLUMN problem TEXT;
    CREATE INDEX IF NOT EXISTS cases_by_problem ON cases (tenant, problem) WHERE problem IS NOT NULL;
    CREATE TABLE IF NOT EXISTS problems (
        tenant TEXT NOT NULL, source TEXT NOT NULL, case_id TEXT NOT NULL, public_title TEXT NOT NULL,
        summary TEXT NOT NULL, listed INTEGER NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (tenant, source, case_id)
    );
    """,
    # My cases: the requester's address (lower case) as a column to list a customer's cases by.
    """
    ALTER TABLE cases ADD COLUMN requester TEXT;
    UPDATE cases SET requester = lower(trim(json_extract(state, '$.requester_email')))
        WHERE json_valid(state) AND json_extract(state, '$.requester_email') IS NOT NULL;
    CREATE INDEX IF NOT EXISTS cases_by_requester ON cases (tenant, requester) WHERE requester IS NOT NULL;
    """,
    # Why a webhook stored nothing: `tracker received`.
    """
    CREATE TABLE IF NOT EXISTS received (
        id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, source TEXT NOT NULL, received_at TEXT NOT NULL,
        outcome TEXT NOT NULL, status INTEGER NOT NULL, detail TEXT NOT NULL, delivery_id TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS received_by_tenant ON received (tenant, id);
    """,
    # Things told once per case, kind and period (a gone-quiet reminder), whatever the instances.
    """
    CREATE TABLE IF NOT EXISTS told_once (
        case_key INTEGER NOT NULL, kind TEXT NOT NULL, period TEXT NOT NULL, created_at TEXT NOT NULL,
        PRIMARY KEY (case_key, kind, period)
    );
    """,
    # What the cases teach (tracker/insights.py): each case's facts as columns, filled in for the
    # cases there are by `_fill_facts`, and an index that holds them all, so that the report
    # reads the index alone and never the case documents (kilobytes each, on overflow pages).
    """
    ALTER TABLE cases ADD COLUMN opened_at TEXT;
    ALTER TABLE cases ADD COLUMN resolved_at TEXT;
    ALTER TABLE cases ADD COLUMN heard_at TEXT;
    ALTER TABLE cases ADD COLUMN priority TEXT;
    ALTER TABLE cases ADD COLUMN first_update_hours REAL;
    ALTER TABLE cases ADD COLUMN silence_hours REAL;
    ALTER TABLE cases ADD COLUMN silent_work_hours REAL;
    ALTER TABLE cases ADD COLUMN received_hours REAL;
    ALTER TABLE cases ADD COLUMN in_progress_hours REAL;
    ALTER TABLE cases ADD COLUMN resolved_hours REAL;
    ALTER TABLE cases ADD COLUMN resolution_hours REAL;
    ALTER TABLE cases ADD COLUMN slip_hours REAL;
    ALTER TABLE cases ADD COLUMN verdict TEXT;
    ALTER TABLE cases ADD COLUMN rating INTEGER;
    CREATE INDEX IF NOT EXISTS cases_by_opening ON cases (
        tenant, opened_at, source, priority, resolved_at, heard_at, first_update_hours, silence_hours,
        silent_work_hours, received_hours, in_progress_hours, resolved_hours, resolution_hours, slip_hours,
        verdict, rating, problem, requester, case_id);
    """,
    # The company's console: who may sign in (one account per address), and what they changed.
    """
    CREATE TABLE IF NOT EXISTS console_accounts (
        id INTEGER PRIMARY KEY, tenant TEXT NOT NULL REFERENCES tenants(slug), email TEXT NOT NULL UNIQUE,
        password_hash TEXT, session_version INTEGER NOT NULL DEFAULT 1, setup_hash TEXT UNIQUE,
        setup_expires_at TEXT, created_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS console_audit (
        id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
        detail TEXT NOT NULL, at TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS console_audit_by_tenant ON console_audit (tenant, id);
    """,
    # The console's optional second factor (TOTP) and its recovery codes.
    """
    ALTER TABLE console_accounts ADD COLUMN totp_secret TEXT;
    ALTER TABLE console_accounts ADD COLUMN totp_step INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE console_accounts ADD COLUMN recovery_hashes TEXT NOT NULL DEFAULT '';
    """,
)
FACTS_MIGRATION = 13  # the schema version that added the case facts

log = logging.getLogger("tracker.storage")
T = TypeVar("T")

# One mail delivery per case with news and confirmed subscribers, whatever their number: the
# worker fans it out, and each subscriber is told of everything since their last mail.
QUEUE_NEWS = """
    INSERT INTO deliveries (tenant, kind, event_type, case_key, request, status, attempts, next_attempt_at,
                            created_at, updated_at)
    SELECT s.tenant, 'mail', 'case.news', s.case_key, json_object('case', s.case_key), 'pending', 0, ?, ?, ?
    FROM subscribers s WHERE s.case_key IN ({marks}) AND s.confirmed_at IS NOT NULL GROUP BY s.tenant, s.case_key
"""

# The cases of a batch that are problems other cases are linked to: their linked cases are told
# (problems.Problems), by a delivery queued in the same transaction.
QUEUE_PROBLEM_MOVES = """
    INSERT INTO deliveries (tenant, kind, event_type, case_key, request, status, attempts, next_attempt_at,
                            created_at, updated_at)
    SELECT c.tenant, 'problem', 'problem.moved', c.id, json_object('problem', c.id), 'pending', 0, ?, ?, ?
    FROM cases c WHERE c.id IN ({marks}) AND EXISTS (
        SELECT 1 FROM cases l WHERE l.tenant = c.tenant AND l.problem = c.source || ':' || c.case_id)
    RETURNING case_key
"""
QUEUE_RELINKED = """
    INSERT INTO deliveries (tenant, kind, event_type, case_key, request, status, attempts, next_attempt_at,
                            created_at, updated_at)
    SELECT tenant, 'problem', 'case.relinked', id, json_object('case', id), 'pending', 0, ?, ?, ? FROM cases
    WHERE id IN ({marks}) AND problem IS NOT NULL
    RETURNING case_key
"""
OPEN_STAGE_SQL = "json_extract(state, '$.stage') IN ('received', 'in_progress')"
# Retention: the tenant's closed cases last written before a time (cases_by_tenant finds them).
PURGEABLE = "SELECT id FROM cases WHERE tenant = ? AND updated_at < ? AND json_extract(state, '$.stage') = 'closed'"

SET_FACTS = ", ".join(f"{name} = ?" for name in FACT_COLUMNS)
CHECKPOINT_EVENTS = 256  # about 1,000 pages of WAL (SQLite's own checkpoint interval) at ~8 KB an event
MAX_CACHED_LOOKUPS = 10_000
OTHER_WRITERS_SECONDS = 0.05  # how soon a write by another process (the CLI) is seen
LOCKED_WAIT_SECONDS = 5.0  # as long as a busy_timeout: then the webhook gets a 503 and is retried
CACHED_CASES = 2_000  # parsed cases the writer keeps between batches (a few KB each)


class _CaseCache:
    """The writer's parsed copy of recently written cases, each with the seq and requester it
    was written with.

    Parsing a case's JSON costs more than the rest of applying an event to it, and the cases a
    batch touches are mostly the ones the last batches touched. A copy is used only while the
    row's seq and requester still match, so a write by another process just means parsing
    again: an ingest moves the seq, and `tracker forget` clears the requester without one (a
    stale copy would write the erased requester back)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._cases: OrderedDict[int, tuple[int, str | None, Case]] = OrderedDict()

    def get(self, key: int, seq: int, requester: str | None) -> Case | None:
        cached = self._cases.get(key)
        if cached is None or cached[0] != seq or cached[1] != requester:
            return None
        self._cases.move_to_end(key)
        return cached[2]

    def put(self, rows: Iterable[CaseRow]) -> None:
        for row in rows:
            self._cases[row.key] = (row.seq, requester_of(row.case), row.case)
            self._cases.move_to_end(row.key)
        while len(self._cases) > self._size:
            self._cases.popitem(last=False)

    def drop(self, keys: Iterable[int]) -> None:
        for key in keys:
            self._cases.pop(key, None)


class _LookupCache:
    """Answers of the primary-key lookups on the loop (tenant, source, case revision), kept until
    the database changes: this store forgets them after each of its own writes, and
    `PRAGMA data_version`, which moves when another process commits (`tracker revoke`, say), is
    asked at most every OTHER_WRITERS_SECONDS. Starting a read costs SQLite about as much as the
    read itself, so an unchanged case's page used to spend a third of its time on two lookups."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._version = -1
        self._checked_at = 0.0
        self._answers: dict[tuple[str, ...], Any] = {}

    def forget(self) -> None:
        self._answers.clear()

    def get(self, key: tuple[str, ...], read: Callable[[], T]) -> T:
        now = time.monotonic()
        if now - self._checked_at > OTHER_WRITERS_SECONDS:
            self._checked_at = now
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._answers.clear()
                self._version = version
        if len(self._answers) >= MAX_CACHED_LOOKUPS:
            self._answers.clear()
        if key not in self._answers:
            self._answers[key] = read()
        return self._answers[key]  # type: ignore[no-any-return]


PRAGMAS = (
    "PRAGMA busy_timeout = 5000",
    "PRAGMA foreign_keys = ON",
    # NORMAL in WAL mode: a commit survives a crash of the process, not a power cut.
    "PRAGMA synchronous = NORMAL",
)


async def _connect_reader(path: str) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        await db.execute(pragma)
    return db


def _connect_writer(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # we BEGIN/COMMIT
    for pragma in PRAGMAS:
        db.execute(pragma)
    _enable_wal(db)
    _migrate(db)
    return db


def _connect_ingest(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # we BEGIN/COMMIT
    for pragma in PRAGMAS:
        db.execute(pragma)
    db.execute("PRAGMA busy_timeout = 0")  # on the loop, never sleep in SQLite: `_begin` waits instead
    db.execute("PRAGMA wal_autocheckpoint = 0")  # `_checkpoint` does it, off the loop
    db.execute("PRAGMA cache_size = -32768")  # 32 MB: the indexes of a large event log stay in memory
    return db


def _enable_wal(db: sqlite3.Connection, wait_seconds: float = 5.0) -> None:
    """Switch a new file to WAL. The switch needs the file to itself and SQLite's busy timeout
    does not cover it, so when another process is opening the same new file, try again."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class SQLiteStore:
    def __init__(self, writer: sqlite3.Connection, thread: ThreadPoolExecutor, reader: aiosqlite.Connection,
                 path: str, clock: Clock) -> None:
        self._clock = clock
        self._writer = writer  # small writes and checkpoints
        self._thread = thread  # the only thread that touches `writer`
        self._reader = reader
        self._ingest_db = _connect_ingest(path)  # the batches, on the loop
        self._unchecked_events = 0  # written since the last checkpoint
        # Point lookups by primary key answer in microseconds; a hand-off to the reader thread
        # costs far more than that, so the lookups every page view and webhook starts with (case
        # revision, tenant, source) run on the loop.
        self._lookup = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # WAL readers are not blocked by the writer; if the file is busy anyway (recovery),
        # fail fast rather than stall every request on the loop.
        self._lookup.execute("PRAGMA busy_timeout = 50")
        self._lookups = _LookupCache(self._lookup)
        self._cases = _CaseCache(CACHED_CASES)  # the writer task's
        self._batches = GroupCommit(self._transaction, "tracker-sqlite-writer", after_batch=self._checkpoint_due)

    @classmethod
    async def open(cls, path: str, clock: Clock) -> SQLiteStore:
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracker-sqlite-writer")
        writer = await asyncio.get_running_loop().run_in_executor(thread, _connect_writer, path)
        return cls(writer, thread, await _connect_reader(path), path, clock)

    def _now(self) -> str:
        return self._clock.now().isoformat()

    async def ready(self) -> None:
        await self._all("SELECT count(*) FROM meta", ())  # the file is there, readable, with our schema

    async def close(self) -> None:
        await self._batches.close()
        await self._reader.close()
        self._lookup.close()
        self._ingest_db.close()
        await self._on_writer(self._writer.close)
        self._thread.shutdown()

    async def _on_writer(self, function: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)
        finally:
            self._lookups.forget()

    # --- small writes: on the writer thread, so they queue behind the batches ---

    async def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        def write() -> int:
            return self._writer.execute(sql, params).rowcount

        return await self._on_writer(write)

    async def get_meta(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str) -> None:
        await self._write("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                          (key, value))

    async def add_tenant(self, tenant: Tenant) -> None:
        await self._write(
            "INSERT INTO tenants (slug, name, theme, created_at, options) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (slug) DO UPDATE SET name = excluded.name, theme = excluded.theme, options = excluded.options",
            (tenant.slug, tenant.name, tenant.theme, self._now(), json.dumps(dict(tenant.options))),
        )

    async def add_source(self, config: SourceConfig) -> None:
        await self._write(
            "INSERT INTO sources (tenant, source, secret, created_at, options) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (tenant, source) DO UPDATE SET secret = excluded.secret, options = excluded.options",
            (config.tenant, config.source, config.secret, self._now(), json.dumps(dict(config.options))),
        )

    async def bump_link_version(self, case_key: int) -> int:
        def bump() -> Any:
            return self._writer.execute(
                "UPDATE cases SET link_version = link_version + 1 WHERE id = ? RETURNING link_version", (case_key,)
            ).fetchone()

        row = await self._on_writer(bump)
        if row is None:
            raise LookupError(f"no case with key {case_key}")
        return int(row[0])

    async def set_public(self, case_key: int, public_id: str | None, public_title: str | None) -> None:
        changed = await self._write("UPDATE cases SET public_id = ?, public_title = ? WHERE id = ?",
                                    (public_id, public_title, case_key))
        if not changed:
            raise LookupError(f"no case with key {case_key}")
        if public_id is None:
            await self._write("DELETE FROM subscribers WHERE case_key = ? AND audience = 'public'", (case_key,))

    async def tell_once(self, case_key: int, kind: str, period: str) -> bool:
        return bool(await self._write("INSERT INTO told_once (case_key, kind, period, created_at) VALUES (?, ?, ?, ?) "
                                      "ON CONFLICT DO NOTHING", (case_key, kind, period, self._now())))

    async def pending_deliveries(self) -> dict[str, int]:
        rows = await self._all("SELECT kind, count(*) FROM deliveries WHERE status = 'pending' GROUP BY kind", ())
        return {kind: int(count) for kind, count in rows}

    # --- received ---

    async def add_receipt(self, receipt: Receipt) -> None:
        r = receipt

        def add() -> None:
            self._writer.execute(
                "INSERT INTO received (tenant, source, received_at, outcome, status, detail, delivery_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (r.tenant, r.source, r.received_at.isoformat(), r.outcome, r.status, r.detail, r.delivery_id))
            self._writer.execute(
                "DELETE FROM received WHERE tenant = ? AND id <= (SELECT id FROM received WHERE tenant = ? "
                "ORDER BY id DESC LIMIT 1 OFFSET ?)", (r.tenant, r.tenant, RECEIPTS_KEPT))

        await self._on_writer(add)

    async def receipts(self, tenant: str, source: str | None, limit: int) -> list[Receipt]:
        rows = await self._all(
            "SELECT tenant, source, received_at, outcome, status, detail, delivery_id FROM received "
            "WHERE tenant = ? AND (? IS NULL OR source = ?) ORDER BY id DESC LIMIT ?", (tenant, source, source, limit))
        return [Receipt(t, s, datetime.fromisoformat(at), o, st, d, dl) for t, s, at, o, st, d, dl in rows]

    async def stored_receipts(self, tenant: str, source: str | None, limit: int) -> list[Receipt]:
        rows = await self._all(  # by rowid, newest first: the log's own order, no index needed
            "SELECT e.source, e.received_at, e.delivery_id, c.case_id, e.seq FROM events e "
            "JOIN cases c ON c.id = e.case_key WHERE e.tenant = ? AND (? IS NULL OR e.source = ?) "
            "ORDER BY e.rowid DESC LIMIT ?", (tenant, source, source, limit))
        return [Receipt(tenant, s, datetime.fromisoformat(at), "stored", 202, f"case {case_id}, revision {seq}", d)
                for s, at, d, case_id, seq in rows]

    # --- problems ---

    async def set_problem_notes(self, notes: ProblemNotes) -> ProblemNotes:
        now = self._now()
        await self._write(
            "INSERT INTO problems (tenant, source, case_id, public_title, summary, listed, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, source, case_id) DO UPDATE SET "
            "public_title = excluded.public_title, summary = excluded.summary, listed = excluded.listed, "
            "updated_at = excluded.updated_at",
            (notes.tenant, notes.source, notes.case_id, notes.public_title, notes.summary, int(notes.listed), now))
        return dataclasses.replace(notes, updated_at=datetime.fromisoformat(now))

    async def get_problem_notes(self, tenant: str, source: str, case_id: str) -> ProblemNotes | None:
        row = await self._one(f"SELECT {PROBLEM_COLUMNS} FROM problems WHERE tenant = ? AND source = ? AND case_id = ?",
                              (tenant, source, case_id))
        return None if row is None else problem_notes(row, datetime.fromisoformat)

    async def listed_problems(self, tenant: str) -> list[ProblemNotes]:
        rows = await self._all(f"SELECT {PROBLEM_COLUMNS} FROM problems WHERE tenant = ? AND listed = 1 "
                               "ORDER BY updated_at DESC", (tenant,))
        return [problem_notes(row, datetime.fromisoformat) for row in rows]

    async def linked_cases(self, tenant: str, problem: str, after_key: int = 0,
                           limit: int = 500) -> list[tuple[int, str, str]]:
        rows = await self._all("SELECT id, source, case_id FROM cases WHERE tenant = ? AND problem = ? AND id > ? "
                               "ORDER BY id LIMIT ?", (tenant, problem, after_key, limit))
        return [(key, source, case_id) for key, source, case_id in rows]

    async def requester_cases(self, tenant: str, email: str, limit: int = 500) -> list[StoredCase]:
        rows = await self._all(f"SELECT {CASE_COLUMNS} FROM cases WHERE tenant = ? AND requester = ? "
                               "ORDER BY updated_at DESC, id DESC LIMIT ?",
                               (tenant, email.strip().lower(), limit))
        return [stored_case(row) for row in rows]

    async def count_linked(self, tenant: str, problem: str) -> int:
        row = await self._one(f"SELECT count(*) FROM cases WHERE tenant = ? AND problem = ? AND {OPEN_STAGE_SQL}",
                              (tenant, problem))
        return int(row[0])

    # --- subscribers ---

    async def add_subscriber(self, tenant: str, case_key: int, audience: str, address: str, language: str,
                             channel: str = "email", push_keys: str | None = None) -> Subscriber:
        def add() -> Any:
            self._writer.execute(
                "INSERT INTO subscribers (tenant, case_key, audience, address, language, created_at, channel, "
                "push_keys) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (case_key, audience, address) DO NOTHING",
                (tenant, case_key, audience, address, language, self._now(), channel, push_keys))
            return self._writer.execute(f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE case_key = ? "
                                        "AND audience = ? AND address = ?", (case_key, audience, address)).fetchone()

        return subscriber(await self._on_writer(add), datetime.fromisoformat)

    async def get_subscriber(self, subscriber_id: int) -> Subscriber | None:
        row = await self._one(f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id = ?", (subscriber_id,))
        return None if row is None else subscriber(row, datetime.fromisoformat)

    async def confirmed_subscribers(self, case_key: int) -> list[Subscriber]:
        rows = await self._all(f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE case_key = ? "
                               "AND confirmed_at IS NOT NULL ORDER BY id", (case_key,))
        return [subscriber(row, datetime.fromisoformat) for row in rows]

    async def confirm_subscriber(self, subscriber_id: int, told_seq: int) -> bool:
        return bool(await self._write("UPDATE subscribers SET confirmed_at = COALESCE(confirmed_at, ?), "
                                      "told_seq = MAX(told_seq, ?) WHERE id = ?",
                                      (self._now(), told_seq, subscriber_id)))

    async def remove_subscriber(self, subscriber_id: int) -> bool:
        return bool(await self._write("DELETE FROM subscribers WHERE id = ?", (subscriber_id,)))

    async def claim_subscriber(self, subscriber_id: int, now: datetime, until: datetime) -> bool:
        return bool(await self._write("UPDATE subscribers SET sending_until = ? WHERE id = ? "
                                      "AND (sending_until IS NULL OR sending_until <= ?)",
                                      (until.isoformat(), subscriber_id, now.isoformat())))

    async def release_subscriber(self, subscriber_id: int) -> None:
        await self._write("UPDATE subscribers SET sending_until = NULL WHERE id = ?", (subscriber_id,))

    async def mark_told(self, subscriber_id: int, told_seq: int, at: datetime) -> None:
        await self._write("UPDATE subscribers SET told_seq = MAX(told_seq, ?), told_at = ? WHERE id = ?",
                          (told_seq, at.isoformat(), subscriber_id))

    # --- erasure and retention ---

    async def forget_requester(self, tenant: str, email: str) -> ForgetResult:
        """See Store.forget_requester. SQLite leaves deleted bytes in free pages, in the free space
        of pages and in the WAL. The transaction runs with secure_delete, which zeroes what it
        frees, but each ingest rewrote the case, and unless SQLite was built with SECURE_DELETE
        (Debian's is) older copies sit where those writes left them. So a VACUUM follows, which
        rewrites the file with none of that, and a TRUNCATE checkpoint, which copies the WAL into
        the file and empties it. The VACUUM holds the write lock while it copies the database
        (and needs as much free disk again, twice in WAL mode): webhooks wait meanwhile, and after
        LOCKED_WAIT_SECONDS are answered 503, to be retried. Forgetting is rare."""
        address = email.strip().lower()  # as the requester column holds it

        def erase() -> tuple[ForgetResult, list[int]]:
            return self._securely(lambda db: _erase_requester(db, tenant, address), compact=True)

        result, keys = await self._on_writer(erase)
        self._cases.drop(keys)  # the requester check would refuse them too; no need to keep them
        return result

    async def purge_closed(self, tenant: str, before: datetime) -> int:
        """See Store.purge_closed. The freed pages are zeroed (secure_delete); the WAL keeps its
        copies until checkpoints overwrite them."""
        def purge() -> list[int]:
            return self._securely(lambda db: _purge_closed(db, tenant, before), compact=False)

        keys = await self._on_writer(purge)
        self._cases.drop(keys)  # a deleted key can be given again to a new case
        return len(keys)

    def _securely(self, work: Callable[[sqlite3.Connection], T], compact: bool) -> T:
        """`work` in one transaction on the writer with secure_delete on, so that what it deletes
        is overwritten with zeros; with `compact`, then VACUUM and empty the WAL."""
        db = self._writer
        was = int(db.execute("PRAGMA secure_delete").fetchall()[0][0])
        db.execute("PRAGMA secure_delete = ON")  # VACUUM's temporary copy takes it over too
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                done = work(db)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            if compact:
                _compact(db)
            return done
        finally:
            db.execute(f"PRAGMA secure_delete = {was}")

    # --- outbound deliveries and API keys ---

    async def add_delivery(self, tenant: str, kind: str, event_type: str, case_key: int | None,
                           request: Mapping[str, Any]) -> int:
        now = self._now()

        def add() -> int:
            row = self._writer.execute(
                "INSERT INTO deliveries (tenant, kind, event_type, case_key, request, status, attempts, "
                "next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?) RETURNING id",
                (tenant, kind, event_type, case_key, json.dumps(dict(request)), now, now, now),
            ).fetchone()
            return int(row[0])

        return await self._on_writer(add)

    async def claim_deliveries(self, now: datetime, lease_seconds: float, limit: int) -> list[Delivery]:
        lease = (now + timedelta(seconds=lease_seconds)).isoformat()

        def claim() -> list[Any]:
            # One statement on the one writer: nothing else can claim the same rows meanwhile.
            return self._writer.execute(
                f"UPDATE deliveries SET next_attempt_at = ? WHERE id IN (SELECT id FROM deliveries "
                f"WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?) "
                f"RETURNING {DELIVERY_COLUMNS}",
                (lease, now.isoformat(), limit),
            ).fetchall()

        return sorted((delivery(r, datetime.fromisoformat) for r in await self._on_writer(claim)), key=lambda d: d.id)

    async def finish_delivery(self, delivery_id: int, status: str, attempts: int, next_attempt_at: datetime,
                              last_error: str | None) -> None:
        await self._write(
            "UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?, updated_at = ? "
            "WHERE id = ?",
            (status, attempts, next_attempt_at.isoformat(), last_error, self._now(), delivery_id),
        )

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        row = await self._one(f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?", (delivery_id,))
        return None if row is None else delivery(row, datetime.fromisoformat)

    async def list_deliveries(self, tenant: str, limit: int = 50, event_type: str | None = None) -> list[Delivery]:
        if event_type is not None:
            rows = await self._all(f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE tenant = ? AND event_type = ? "
                                   "ORDER BY id DESC LIMIT ?", (tenant, event_type, limit))
            return [delivery(row, datetime.fromisoformat) for row in rows]
        rows = await self._all(f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE tenant = ? ORDER BY id DESC LIMIT ?",
                               (tenant, limit))
        return [delivery(r, datetime.fromisoformat) for r in rows]

    async def last_delivery(self, tenant: str, event_type: str, case_key: int) -> Delivery | None:
        row = await self._one(f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE tenant = ? AND event_type = ? "
                              "AND case_key = ? ORDER BY id DESC LIMIT 1", (tenant, event_type, case_key))
        return None if row is None else delivery(row, datetime.fromisoformat)

    async def last_delivery_at(self, tenant: str, event_type: str, case_key: int) -> datetime | None:
        row = await self._one(
            "SELECT created_at FROM deliveries WHERE tenant = ? AND event_type = ? AND case_key = ? "
            "ORDER BY id DESC LIMIT 1", (tenant, event_type, case_key))
        return None if row is None else datetime.fromisoformat(row[0])

    async def insight_rows(self, query: Query) -> Rows:
        given = parameters(query, _utc_text)
        counts, hours, problems = [
            await self._all(text.replace("$", "?"), given if "$4" in text else given[:3]) for text in QUERIES]
        return Rows(counts, hours, problems)

    async def add_api_key(self, tenant: str, name: str, key_hash: str) -> int:
        def add() -> int:
            row = self._writer.execute(
                "INSERT INTO api_keys (tenant, name, key_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id",
                (tenant, name, key_hash, self._now())).fetchone()
            return int(row[0])

        return await self._on_writer(add)

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        row = await self._one(f"SELECT {API_KEY_COLUMNS} FROM api_keys "
                              "WHERE key_hash = ?", (key_hash,))
        return None if row is None else api_key(row, datetime.fromisoformat)

    async def list_api_keys(self, tenant: str) -> list[ApiKey]:
        rows = await self._all(f"SELECT {API_KEY_COLUMNS} FROM api_keys "
                               "WHERE tenant = ? ORDER BY id", (tenant,))
        return [api_key(r, datetime.fromisoformat) for r in rows]

    async def revoke_api_key(self, tenant: str, name: str, now: datetime) -> bool:
        changed = await self._write(
            "UPDATE api_keys SET revoked_at = ? WHERE tenant = ? AND name = ? AND revoked_at IS NULL",
            (now.isoformat(), tenant, name))
        return changed > 0

    # --- the console's accounts and audit log ---

    async def add_console_account(self, tenant: str, email: str, setup_hash: str,
                                  setup_expires_at: datetime) -> ConsoleAccount:
        def add() -> Any:
            return self._writer.execute(
                "INSERT INTO console_accounts (tenant, email, setup_hash, setup_expires_at, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (email) DO UPDATE SET setup_hash = excluded.setup_hash, "
                "setup_expires_at = excluded.setup_expires_at WHERE tenant = excluded.tenant "
                f"RETURNING {CONSOLE_ACCOUNT_COLUMNS}",
                (tenant, email, setup_hash, setup_expires_at.isoformat(), self._now())).fetchone()

        row = await self._on_writer(add)
        if row is None:
            raise LookupError(f"{email} has a console account in another tenant")
        return console_account(row, datetime.fromisoformat)

    async def get_console_account(self, account_id: int) -> ConsoleAccount | None:
        row = await self._one(f"SELECT {CONSOLE_ACCOUNT_COLUMNS} FROM console_accounts WHERE id = ?", (account_id,))
        return None if row is None else console_account(row, datetime.fromisoformat)

    async def find_console_account(self, email: str) -> ConsoleAccount | None:
        row = await self._one(f"SELECT {CONSOLE_ACCOUNT_COLUMNS} FROM console_accounts WHERE email = ?", (email,))
        return None if row is None else console_account(row, datetime.fromisoformat)

    async def find_console_setup(self, setup_hash: str) -> ConsoleAccount | None:
        row = await self._one(f"SELECT {CONSOLE_ACCOUNT_COLUMNS} FROM console_accounts WHERE setup_hash = ?",
                              (setup_hash,))
        return None if row is None else console_account(row, datetime.fromisoformat)

    async def set_console_password(self, account_id: int, setup_hash: str, password_hash: str) -> bool:
        changed = await self._write(
            "UPDATE console_accounts SET password_hash = ?, setup_hash = NULL, setup_expires_at = NULL, "
            "session_version = session_version + 1 WHERE id = ? AND setup_hash = ?",
            (password_hash, account_id, setup_hash))
        return changed > 0

    async def bump_console_sessions(self, account_id: int) -> int:
        def bump() -> Any:
            return self._writer.execute("UPDATE console_accounts SET session_version = session_version + 1 "
                                        "WHERE id = ? RETURNING session_version", (account_id,)).fetchone()

        row = await self._on_writer(bump)
        if row is None:
            raise LookupError(f"no console account {account_id}")
        return int(row[0])

    async def set_console_totp(self, account_id: int, secret: str | None, step: int, recovery_hashes: str) -> None:
        await self._write("UPDATE console_accounts SET totp_secret = ?, totp_step = ?, recovery_hashes = ? "
                          "WHERE id = ?", (secret, step, recovery_hashes, account_id))

    async def use_console_totp_step(self, account_id: int, step: int) -> bool:
        return bool(await self._write("UPDATE console_accounts SET totp_step = ? WHERE id = ? AND totp_step < ?",
                                      (step, account_id, step)))

    async def use_console_recovery(self, account_id: int, before: str, after: str) -> bool:
        return bool(await self._write("UPDATE console_accounts SET recovery_hashes = ? WHERE id = ? "
                                      "AND recovery_hashes = ?", (after, account_id, before)))

    async def add_audit(self, entry: AuditEntry) -> None:
        await self._write("INSERT INTO console_audit (tenant, actor, action, detail, at) VALUES (?, ?, ?, ?, ?)",
                          (entry.tenant, entry.actor, entry.action, entry.detail, entry.at.isoformat()))

    async def list_audit(self, tenant: str, limit: int = 100) -> list[AuditEntry]:
        rows = await self._all(f"SELECT {AUDIT_COLUMNS} FROM console_audit WHERE tenant = ? ORDER BY id DESC LIMIT ?",
                               (tenant, limit))
        return [audit_entry(r, datetime.fromisoformat) for r in rows]

    # --- reads ---

    async def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        rows = await self._all(sql, params)
        return rows[0] if rows else None

    async def _all(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        return list(await self._reader.execute_fetchall(sql, params))  # one hand-off, not two

    async def get_tenant(self, slug: str) -> Tenant | None:
        return self._lookups.get(("tenant", slug), lambda: self._read_tenant(slug))

    def _read_tenant(self, slug: str) -> Tenant | None:
        row = self._lookup.execute("SELECT slug, name, theme, options FROM tenants WHERE slug = ?", (slug,)).fetchone()
        if row is None:
            return None
        slug, name, theme, options = row
        return Tenant(slug, name, theme, json.loads(options))

    async def list_tenants(self) -> list[Tenant]:
        rows = await self._all("SELECT slug, name, theme, options FROM tenants ORDER BY slug", ())
        return [Tenant(slug, name, theme, json.loads(options)) for slug, name, theme, options in rows]

    async def get_source(self, tenant: str, source: str) -> SourceConfig | None:
        return self._lookups.get(("source", tenant, source), lambda: self._read_source(tenant, source))

    def _read_source(self, tenant: str, source: str) -> SourceConfig | None:
        # On the loop, like get_case_head: a primary-key read.
        row = self._lookup.execute(
            "SELECT tenant, source, secret, options FROM sources WHERE tenant = ? AND source = ?", (tenant, source)
        ).fetchone()
        if row is None:
            return None
        tenant_slug, name, secret, options = row
        return SourceConfig(tenant_slug, name, secret, json.loads(options))

    async def list_sources(self, tenant: str) -> list[str]:
        rows = await self._all("SELECT source FROM sources WHERE tenant = ? ORDER BY source", (tenant,))
        return [r[0] for r in rows]

    async def get_case(self, tenant: str, source: str, case_id: str) -> StoredCase | None:
        row = await self._one(
            f"SELECT {CASE_COLUMNS} FROM cases WHERE tenant = ? AND source = ? AND case_id = ?",
            (tenant, source, case_id),
        )
        return None if row is None else stored_case(row)

    async def get_case_by_key(self, case_key: int) -> StoredCase | None:
        row = await self._one(f"SELECT {CASE_COLUMNS} FROM cases WHERE id = ?", (case_key,))
        return None if row is None else stored_case(row)

    async def get_public_case(self, public_id: str) -> StoredCase | None:
        row = await self._one(f"SELECT {CASE_COLUMNS} FROM cases WHERE public_id = ?", (public_id,))
        return None if row is None else stored_case(row)

    async def get_case_head(self, tenant: str, source: str, case_id: str) -> CaseHead | None:
        return self._lookups.get(("head", tenant, source, case_id),
                                 lambda: self._read_case_head(tenant, source, case_id))

    def _read_case_head(self, tenant: str, source: str, case_id: str) -> CaseHead | None:
        row = self._lookup.execute(
            "SELECT id, seq, link_version, public_id, problem FROM cases "
            "WHERE tenant = ? AND source = ? AND case_id = ?",
            (tenant, source, case_id),
        ).fetchone()
        return None if row is None else CaseHead(*row)

    async def find_cases(self, tenant: str, case_id: str) -> list[StoredCase]:
        rows = await self._all(
            f"SELECT {CASE_COLUMNS} FROM cases WHERE tenant = ? AND case_id = ? ORDER BY source",
            (tenant, case_id),
        )
        return [stored_case(r) for r in rows]

    async def list_cases(self, tenant: str) -> list[StoredCase]:
        rows = await self._all(
            f"SELECT {CASE_COLUMNS} FROM cases WHERE tenant = ? ORDER BY updated_at DESC, id DESC", (tenant,)
        )
        return [stored_case(r) for r in rows]

    async def events_after(self, case_key: int, seq: int, limit: int = 1000) -> list[StoredEvent]:
        rows = await self._all(
            "SELECT seq, event, case_after, received_at FROM events WHERE case_key = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (case_key, seq, limit),
        )
        return [
            StoredEvent(case_key, s, load_event(e), load_case(c),
                        datetime.fromisoformat(r))
            for s, e, c, r in rows
        ]

    # --- ingest: group commit through one writer task ---

    async def ingest(self, tenant: str, source: str, events: list[Event]) -> list[Appended]:
        return await self._batches.submit(tenant, source, events)

    async def _transaction(self, batch: list[Pending]) -> list[list[Appended]]:
        db = self._ingest_db
        await self._begin()
        try:
            results, written, urgent = self._apply_batch(batch)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._cases.put(written)  # only once committed: a rolled-back case must be parsed again
        self._lookups.forget()
        self._unchecked_events += sum(len(r) for r in results)
        return with_wake(results, urgent)

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE, waiting without blocking the loop while another process (or our own
        small writes) holds the write lock; after LOCKED_WAIT_SECONDS the error goes up (a 503)."""
        deadline = time.monotonic() + LOCKED_WAIT_SECONDS
        while True:
            try:
                self._ingest_db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.005)

    async def _checkpoint_due(self) -> None:
        if self._unchecked_events >= CHECKPOINT_EVENTS:
            await self._checkpoint()  # the answers are out; the next batch waits for it

    async def _checkpoint(self) -> None:
        """Copy the WAL into the database on the writer thread, while the loop goes on parsing the
        next webhooks. The writer task waits for it: a checkpoint that no commit overtakes lets
        the next transaction start the WAL file over, so it stays a few MB. (Checkpoints left to
        run beside the commits never caught up, and the WAL grew by 60 MB a second.)"""
        def checkpoint() -> None:
            self._writer.execute("PRAGMA wal_checkpoint(PASSIVE)")

        try:
            await self._on_writer(checkpoint)
        except Exception:  # the batch is committed and answered: only the WAL stays longer
            log.exception("WAL checkpoint failed; the next one tries again")
        self._unchecked_events = 0

    def _apply_batch(self, batch: list[Pending]) -> tuple[list[list[Appended]], list[CaseRow], set[int]]:
        db = self._ingest_db
        deliveries = [(i.tenant, i.source, e.delivery_id) for i in batch for e in i.events]
        case_ids = {(i.tenant, i.source, e.case_id) for i in batch for e in i.events}
        seen = set(_select_in(db, "SELECT tenant, source, delivery_id FROM events", "delivery_id", deliveries))
        cases = self._load_cases(list(case_ids))
        now = self._now()

        def create(ident: Ident) -> CaseRow:
            row = db.execute("INSERT INTO cases (tenant, source, case_id, seq, state, created_at, updated_at) "
                             "VALUES (?, ?, ?, 0, '{}', ?, ?) RETURNING id", (*ident, now, now)).fetchone()
            return CaseRow(row[0], 0, new_case(ident[2]))

        results, logged = apply_batch(batch, cases, seen, create)
        db.executemany(
            "INSERT INTO events (case_key, seq, tenant, source, delivery_id, received_at, event, case_after) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(e.case_key, e.seq, e.tenant, e.source, e.event.delivery_id, now, dump_event(e.event), e.case_after)
             for e in logged])
        written = [row for row in cases.values() if row.changed]
        db.executemany(f"UPDATE cases SET seq = ?, state = ?, updated_at = ?, problem = ?, requester = ?, {SET_FACTS} "
                       "WHERE id = ?",
                       [(row.seq, row.state(), now, row.case.problem, requester_of(row.case),
                         *fact_values(row.case, _utc_text), row.key) for row in written])
        news = news_cases(logged)
        if news:  # in this transaction: a stored event's news is never lost (the outbox)
            marks = ", ".join("?" * len(news))
            db.execute(QUEUE_NEWS.format(marks=marks), (now, now, now, *news))
        urgent: set[int] = set()
        moved, relinked = moved_cases(logged), relinked_cases(logged)
        for query, keys in ((QUEUE_PROBLEM_MOVES, moved), (QUEUE_RELINKED, relinked)):
            for start in range(0, len(keys), 500):  # within SQLite's limit of bound values
                chunk = keys[start:start + 500]
                rows = db.execute(query.format(marks=", ".join("?" * len(chunk))), (now, now, now, *chunk))
                urgent.update(key for (key,) in rows.fetchall())
        return results, written, urgent

    def _load_cases(self, idents: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], CaseRow]:
        """The stored cases among `idents`, parsed, or taken from the cache when unchanged since."""
        heads = _select_in(self._ingest_db, "SELECT id, tenant, source, case_id, seq, requester FROM cases", "case_id",
                           idents)
        cases = {(tenant, source, case_id): (key, seq, self._cases.get(key, seq, requester))
                 for key, tenant, source, case_id, seq, requester in heads}
        stale = [key for key, _, cached in cases.values() if cached is None]
        states: dict[int, str] = {}
        if stale:
            marks = ", ".join("?" * len(stale))
            states = dict(self._ingest_db.execute(f"SELECT id, state FROM cases WHERE id IN ({marks})", stale))
        return {ident: CaseRow(key, seq, cached or load_case(states[key]))
                for ident, (key, seq, cached) in cases.items()}


def _erase_requester(db: sqlite3.Connection, tenant: str, email: str) -> tuple[ForgetResult, list[int]]:
    """The erasure's writes (see tracker/erasure.py); the result and the keys of the cases."""
    cases = db.execute("SELECT id, state FROM cases WHERE tenant = ? AND requester = ? ORDER BY id",
                       (tenant, email)).fetchall()
    names = {email, *names_in_states(state for _, state in cases)}
    events = 0
    for key, state in cases:
        logged = db.execute("SELECT seq, event, case_after FROM events WHERE case_key = ? ORDER BY seq",
                            (key,)).fetchall()
        erased = erase_case(state, logged, names)
        db.execute("UPDATE cases SET state = ?, requester = NULL WHERE id = ?", (erased.state, key))
        db.executemany("UPDATE events SET event = ?, case_after = ? WHERE case_key = ? AND seq = ?",
                       [(event, after, key, seq) for seq, event, after in erased.events])
        events += len(erased.events)
    subscribers = [key for key, address in db.execute(
        "SELECT id, address FROM subscribers WHERE tenant = ? AND channel = 'email'", (tenant,)).fetchall()
        if is_theirs(email, address)]
    mails = [key for key, request, error in db.execute(
        "SELECT id, request, last_error FROM deliveries WHERE tenant = ? AND kind = 'mail'", (tenant,)).fetchall()
        if names_address(email, request, error)]
    _delete_keys(db, "subscribers", subscribers)
    _delete_keys(db, "deliveries", mails)
    return ForgetResult(len(cases), events, len(subscribers), len(mails)), [key for key, _ in cases]


def _delete_keys(db: sqlite3.Connection, table: str, keys: list[int]) -> None:
    for start in range(0, len(keys), 500):  # within SQLite's limit of bound values
        chunk = keys[start:start + 500]
        db.execute(f"DELETE FROM {table} WHERE id IN ({', '.join('?' * len(chunk))})", chunk)


def _compact(db: sqlite3.Connection) -> None:
    """Rewrite the file without free pages, and copy the WAL into it and empty it."""
    db.execute("VACUUM")
    busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()[0]
    if busy:  # a reader of another process held on to an older snapshot past the busy timeout
        log.warning("the WAL could not be emptied after an erasure; the next checkpoints overwrite it")


def _purge_closed(db: sqlite3.Connection, tenant: str, before: datetime) -> list[int]:
    """Delete the purgeable cases and what refers to them; their keys. One transaction, so the
    selection is the same in each statement."""
    params = (tenant, before.astimezone(UTC).isoformat())  # as stored: the clock's UTC time
    for table in ("events", "subscribers", "deliveries"):
        db.execute(f"DELETE FROM {table} WHERE case_key IN ({PURGEABLE})", params)
    return [key for (key,) in db.execute(f"DELETE FROM cases WHERE id IN ({PURGEABLE}) RETURNING id",
                                         params).fetchall()]


def _select_in(db: sqlite3.Connection, select: str, column: str, keys: list[tuple[str, str, str]]) -> list[Any]:
    """Rows whose (tenant, source, `column`) is one of `keys`: one indexed query per source.

    (Not a row-value `IN (VALUES ...)`: SQLite scans the whole index for that.)"""
    by_source: dict[tuple[str, str], list[str]] = {}
    for tenant, source, value in keys:
        by_source.setdefault((tenant, source), []).append(value)
    rows: list[Any] = []
    for (tenant, source), values in by_source.items():
        marks = ", ".join("?" * len(values))
        rows += db.execute(f"{select} WHERE tenant = ? AND source = ? AND {column} IN ({marks})",
                           (tenant, source, *values)).fetchall()
    return rows


def _migrate(db: sqlite3.Connection) -> None:
    # IMMEDIATE: of two processes opening a new file at once, one migrates and the other waits,
    # then finds the schema current. (Statement by statement: executescript would commit first.)
    db.execute("BEGIN IMMEDIATE")
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in script.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
            if number == FACTS_MIGRATION:
                _fill_facts(db)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _utc_text(value: datetime) -> str:
    """A time as this store's columns hold it: ISO text in UTC, which sorts as the times do."""
    return value.astimezone(UTC).isoformat()


def _fill_facts(db: sqlite3.Connection) -> None:
    """The facts of the cases stored before they were kept, from their documents."""
    last = 0
    while rows := db.execute("SELECT id, state FROM cases WHERE id > ? AND seq > 0 ORDER BY id LIMIT 1000",
                             (last,)).fetchall():
        db.executemany(f"UPDATE cases SET {SET_FACTS} WHERE id = ?",
                       [(*fact_values(load_case(state), _utc_text), key) for key, state in rows])
        last = rows[-1][0]
