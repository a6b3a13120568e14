"""SQLite storage through aiosqlite: WAL, one writer with group commit, one reader.

Webhooks arrive concurrently, and a commit per webhook caps ingest at about 2k/s here. So
`ingest` puts its events on a queue and awaits its future; one writer task takes whatever is
queued, applies it in one transaction, commits once, and only then resolves every future. Each
caller is still acknowledged only after its own rows are committed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from tracker.cases import (
    Case,
    Event,
    apply,
    case_from_dict,
    case_to_dict,
    event_from_dict,
    event_to_dict,
    new_case,
)
from tracker.storage.base import Appended, SourceConfig, StoredCase, StoredEvent, Tenant

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
)

log = logging.getLogger("tracker.storage")

MAX_BATCH_EVENTS = 512
CASE_COLUMNS = "id, tenant, source, state, seq, link_version"


@dataclass
class _CaseRow:
    key: int
    seq: int
    case: Case
    changed: bool = False


@dataclass
class _Pending:
    tenant: str
    source: str
    events: list[Event]
    done: asyncio.Future[list[Appended]] = field(repr=False)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _stored_case(row: Iterable[Any]) -> StoredCase:
    key, tenant, source, state, seq, link_version = row
    return StoredCase(key, tenant, source, case_from_dict(json.loads(state)), seq, link_version)


async def _connect(path: str) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, isolation_level=None)  # we issue BEGIN/COMMIT ourselves
    await db.execute("PRAGMA busy_timeout = 5000")
    await db.execute("PRAGMA foreign_keys = ON")
    # NORMAL in WAL mode: a commit survives a crash of the process, not a power cut.
    await db.execute("PRAGMA synchronous = NORMAL")
    return db


class SQLiteStore:
    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._writer_task = asyncio.create_task(self._write_loop(), name="tracker-sqlite-writer")

    @classmethod
    async def open(cls, path: str) -> SQLiteStore:
        writer = await _connect(path)
        await writer.execute("PRAGMA journal_mode = WAL")
        await _migrate(writer)
        reader = await _connect(path)
        return cls(writer, reader)

    async def close(self) -> None:
        self._writer_task.cancel()
        try:
            await self._writer_task
        except asyncio.CancelledError:
            pass
        await self._reader.close()
        await self._writer.close()

    # --- small writes, serialised with the batches by one lock ---

    async def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        async with self._write_lock:
            cursor = await self._writer.execute(sql, params)
            return cursor.rowcount

    async def get_meta(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str) -> None:
        await self._write("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                          (key, value))

    async def add_tenant(self, tenant: Tenant) -> None:
        await self._write(
            "INSERT INTO tenants VALUES (?, ?, ?, ?) ON CONFLICT (slug) DO UPDATE "
            "SET name = excluded.name, theme = excluded.theme",
            (tenant.slug, tenant.name, tenant.theme, _now()),
        )

    async def add_source(self, config: SourceConfig) -> None:
        await self._write(
            "INSERT INTO sources VALUES (?, ?, ?, ?) ON CONFLICT (tenant, source) DO UPDATE "
            "SET secret = excluded.secret",
            (config.tenant, config.source, config.secret, _now()),
        )

    async def bump_link_version(self, case_key: int) -> int:
        async with self._write_lock:
            cursor = await self._writer.execute(
                "UPDATE cases SET link_version = link_version + 1 WHERE id = ? RETURNING link_version",
                (case_key,),
            )
            row = await cursor.fetchone()
        if row is None:
            raise LookupError(f"no case with key {case_key}")
        return int(row[0])

    # --- reads ---

    async def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        cursor = await self._reader.execute(sql, params)
        return await cursor.fetchone()

    async def _all(self, sql: str, params: tuple[Any, ...]) -> Iterable[Any]:
        cursor = await self._reader.execute(sql, params)
        return await cursor.fetchall()

    async def get_tenant(self, slug: str) -> Tenant | None:
        row = await self._one("SELECT slug, name, theme FROM tenants WHERE slug = ?", (slug,))
        return None if row is None else Tenant(*row)

    async def get_source(self, tenant: str, source: str) -> SourceConfig | None:
        row = await self._one("SELECT tenant, source, secret FROM sources WHERE tenant = ? AND source = ?",
                              (tenant, source))
        return None if row is None else SourceConfig(*row)

    async def list_sources(self, tenant: str) -> list[str]:
        rows = await self._all("SELECT source FROM sources WHERE tenant = ? ORDER BY source", (tenant,))
        return [r[0] for r in rows]

    async def get_case(self, tenant: str, source: str, case_id: str) -> StoredCase | None:
        row = await self._one(
            f"SELECT {CASE_COLUMNS} FROM cases WHERE tenant = ? AND source = ? AND case_id = ?",
            (tenant, source, case_id),
        )
        return None if row is None else _stored_case(row)

    async def find_cases(self, tenant: str, case_id: str) -> list[StoredCase]:
        rows = await self._all(
            f"SELECT {CASE_COLUMNS} FROM cases WHERE tenant = ? AND case_id = ? ORDER BY source",
            (tenant, case_id),
        )
        return [_stored_case(r) for r in rows]

    async def list_cases(self, tenant: str) -> list[StoredCase]:
        rows = await self._all(
            f"SELECT {CASE_COLUMNS} FROM cases WHERE tenant = ? ORDER BY updated_at DESC, id DESC", (tenant,)
        )
        return [_stored_case(r) for r in rows]

    async def case_seq(self, case_key: int) -> int | None:
        row = await self._one("SELECT seq FROM cases WHERE id = ?", (case_key,))
        return None if row is None else int(row[0])

    async def events_after(self, case_key: int, seq: int, limit: int = 1000) -> list[StoredEvent]:
        rows = await self._all(
            "SELECT seq, event, case_after, received_at FROM events WHERE case_key = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (case_key, seq, limit),
        )
        return [
            StoredEvent(case_key, s, event_from_dict(json.loads(e)), case_from_dict(json.loads(c)),
                        datetime.fromisoformat(r))
            for s, e, c, r in rows
        ]

    # --- ingest: group commit through one writer task ---

    async def ingest(self, tenant: str, source: str, events: list[Event]) -> list[Appended]:
        done: asyncio.Future[list[Appended]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(tenant, source, events, done))
        return await done

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            size = len(batch[0].events)
            while not self._queue.empty() and size < MAX_BATCH_EVENTS:
                item = self._queue.get_nowait()
                batch.append(item)
                size += len(item.events)
            async with self._write_lock:
                await self._write_batch(batch)

    async def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            results = await self._transaction(batch)
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            # One bad delivery must not fail its neighbours: retry each on its own.
            for item in batch:
                await self._write_batch([item])
            return
        for item, appended in zip(batch, results, strict=True):
            if not item.done.done():
                item.done.set_result(appended)

    async def _transaction(self, batch: list[_Pending]) -> list[list[Appended]]:
        db = self._writer
        await db.execute("BEGIN IMMEDIATE")
        try:
            results = await self._apply_batch(batch)
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        return results

    async def _apply_batch(self, batch: list[_Pending]) -> list[list[Appended]]:
        db = self._writer
        deliveries = [(i.tenant, i.source, e.delivery_id) for i in batch for e in i.events]
        case_ids = {(i.tenant, i.source, e.case_id) for i in batch for e in i.events}
        seen = set(await _select_in(db, "SELECT tenant, source, delivery_id FROM events",
                                    "(tenant, source, delivery_id)", deliveries))
        cases: dict[tuple[str, str, str], _CaseRow] = {}
        for key, tenant, source, case_id, seq, state in await _select_in(
            db, "SELECT id, tenant, source, case_id, seq, state FROM cases", "(tenant, source, case_id)",
            list(case_ids),
        ):
            cases[(tenant, source, case_id)] = _CaseRow(key, seq, case_from_dict(json.loads(state)))
        now = _now()
        event_rows: list[tuple[Any, ...]] = []
        results: list[list[Appended]] = []
        for item in batch:
            appended: list[Appended] = []
            for event in item.events:
                delivery = (item.tenant, item.source, event.delivery_id)
                if delivery in seen:
                    continue
                seen.add(delivery)
                ident = (item.tenant, item.source, event.case_id)
                if ident not in cases:
                    cursor = await db.execute(
                        "INSERT INTO cases (tenant, source, case_id, seq, state, created_at, updated_at) "
                        "VALUES (?, ?, ?, 0, '{}', ?, ?) RETURNING id",
                        (*ident, now, now),
                    )
                    row = await cursor.fetchone()
                    assert row is not None
                    cases[ident] = _CaseRow(row[0], 0, new_case(event.case_id))
                entry = cases[ident]
                entry.case = apply(entry.case, event)
                entry.seq += 1
                entry.changed = True
                event_rows.append((
                    entry.key, entry.seq, item.tenant, item.source, event.delivery_id, now,
                    json.dumps(event_to_dict(event)), json.dumps(case_to_dict(entry.case)),
                ))
                appended.append(Appended(entry.key, entry.seq))
            results.append(appended)
        await db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", event_rows)
        await db.executemany(
            "UPDATE cases SET seq = ?, state = ?, updated_at = ? WHERE id = ?",
            [(row.seq, json.dumps(case_to_dict(row.case)), now, row.key) for row in cases.values() if row.changed],
        )
        return results


async def _select_in(
    db: aiosqlite.Connection, select: str, columns: str, values: list[tuple[str, str, str]],
) -> list[Any]:
    """Rows whose `columns` match one of `values` (row-value IN, one query for the batch)."""
    if not values:
        return []
    placeholders = ", ".join(["(?, ?, ?)"] * len(values))
    cursor = await db.execute(f"{select} WHERE {columns} IN (VALUES {placeholders})",
                              [v for triple in values for v in triple])
    return list(await cursor.fetchall())


def _fail(item: _Pending, exc: Exception) -> None:
    log.error("could not store a delivery for %s/%s", item.tenant, item.source, exc_info=exc)
    if not item.done.done():
        item.done.set_exception(exc)


async def _migrate(db: aiosqlite.Connection) -> None:
    cursor = await db.execute("PRAGMA user_version")
    row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        await db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
