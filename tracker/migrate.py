"""`tracker migrate`: copy a SQLite database into PostgreSQL, so that nothing a customer holds breaks.

What is copied, in one transaction on the target (all or nothing):
- meta, with the signing key generated when TRACKER_SECRET_KEYS was unset: links signed with
  it keep working;
- tenants and sources, with their secrets and options (the helpdesks need no new secret);
- cases with their keys, sequence, link version (revoked links stay revoked), public id and
  title (public pages and badges keep their address) and state;
- the whole event log, so a stream resumes by Last-Event-ID as if nothing had moved;
- outbound deliveries (pending ones are sent from the new database) and API keys;
- the console's accounts (passwords and unused setup links keep working) and its audit log.
The target must have no cases, deliveries or API keys yet; tenants or sources already there
are updated. A SQLite table this module does not know stops the copy before it starts.

This is the one module that knows both schemas: it reads the SQLite file directly (after
`open_store` has brought it to the newest schema) and writes with PostgreSQL's COPY.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]

from tracker.clock import Clock
from tracker.config import POSTGRES_SCHEMES
from tracker.errors import ConfigError
from tracker.insights import FACT_COLUMNS, FACT_TIMES
from tracker.storage import open_store, sqlite_path
from tracker.storage.postgres import where

CHUNK_ROWS = 5000
# Copied with COPY, ids kept: (table, columns, the columns that are times).
COPIED = (
    ("cases", ("id", "tenant", "source", "case_id", "seq", "link_version", "state", "public_id", "public_title",
               "created_at", "updated_at", "problem", "requester", *FACT_COLUMNS),
     ("created_at", "updated_at", *FACT_TIMES)),
    ("events", ("case_key", "seq", "tenant", "source", "delivery_id", "received_at", "event", "case_after"),
     ("received_at",)),
    ("deliveries", ("id", "tenant", "kind", "event_type", "case_key", "request", "status", "attempts",
                    "next_attempt_at", "last_error", "created_at", "updated_at"),
     ("next_attempt_at", "created_at", "updated_at")),
    ("api_keys", ("id", "tenant", "name", "key_hash", "created_at", "revoked_at"), ("created_at", "revoked_at")),
    ("subscribers", ("id", "tenant", "case_key", "audience", "address", "language", "confirmed_at", "told_seq",
                     "told_at", "created_at", "channel", "push_keys"), ("confirmed_at", "told_at", "created_at")),
    ("console_accounts", ("id", "tenant", "email", "password_hash", "session_version", "setup_hash",
                          "setup_expires_at", "created_at", "totp_secret", "totp_step", "recovery_hashes"),
     ("setup_expires_at", "created_at")),
    ("console_audit", ("id", "tenant", "actor", "action", "detail", "at"), ("at",)),
)
# `received` and `told_once` are not copied: the log of refused deliveries is the old
# installation's own, and a reminder told there may be told once more.
KNOWN_TABLES = {"meta", "tenants", "sources", "problems", "received", "told_once",
                *(table for table, _, _ in COPIED)}


@dataclass(frozen=True, slots=True)
class Copied:
    meta: int
    tenants: int
    sources: int
    cases: int
    events: int
    deliveries: int
    api_keys: int
    subscribers: int
    console_accounts: int = 0

    def __str__(self) -> str:
        console = f"; {self.console_accounts} console account(s) with their audit log" if self.console_accounts else ""
        return (f"{self.tenants} tenant(s), {self.sources} source(s), {self.cases} case(s), {self.events} event(s), "
                f"{self.deliveries} outbound deliveries, {self.api_keys} API key(s) "
                f"and {self.subscribers} subscriber(s){console}")


def migrate(source_url: str, target_url: str, clock: Clock) -> Copied:
    """Copy the SQLite database at `source_url` into the PostgreSQL database at `target_url`."""
    if urlsplit(source_url).scheme != "sqlite":
        raise ConfigError(f"Copy from a sqlite:///path database, not {source_url!r}.")
    if urlsplit(target_url).scheme not in POSTGRES_SCHEMES:
        raise ConfigError("TRACKER_DATABASE_URL must be the postgresql:// database to copy into.")
    path = Path(sqlite_path(source_url))
    if not path.is_file():
        raise ConfigError(f"No SQLite database at {path}.")
    return asyncio.run(_migrate(source_url, path.resolve().as_uri(), target_url, clock))


async def _migrate(source_url: str, source_uri: str, target_url: str, clock: Clock) -> Copied:
    for url in (source_url, target_url):  # both at the newest schema
        store = await open_store(url, clock)
        await store.close()
    source = sqlite3.connect(source_uri + "?mode=ro", uri=True)
    target = await asyncpg.connect(target_url)
    try:
        tables = {name for (name,) in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        unknown = sorted(tables - KNOWN_TABLES)
        if unknown:  # a table added to the SQLite store and not here yet: better no copy than half a copy
            raise ConfigError(f"This version of tracker migrate cannot copy the table(s) {', '.join(unknown)}.")
        async with target.transaction():
            await target.execute("LOCK TABLE cases, deliveries, api_keys, subscribers IN EXCLUSIVE MODE")  # no writes
            for table, _, _ in COPIED:
                if await target.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
                    raise ConfigError(f"The database at {where(target_url)} already has {table.replace('_', ' ')}; "
                                      "copy into an empty one.")
            return await _copy(source, target, clock.now())
    finally:
        await target.close()
        source.close()


async def _copy(source: sqlite3.Connection, target: Any, now: datetime) -> Copied:
    meta = source.execute("SELECT key, value FROM meta").fetchall()
    await target.executemany(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", meta
    )
    tenants = [(slug, name, theme, options, _time(created, now))
               for slug, name, theme, options, created
               in source.execute("SELECT slug, name, theme, options, created_at FROM tenants")]
    await target.executemany(
        "INSERT INTO tenants (slug, name, theme, options, created_at) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (slug) DO UPDATE SET name = excluded.name, theme = excluded.theme, options = excluded.options",
        tenants,
    )
    sources = [(tenant, name, secret, options, _time(created, now))
               for tenant, name, secret, options, created
               in source.execute("SELECT tenant, source, secret, options, created_at FROM sources")]
    await target.executemany(
        "INSERT INTO sources (tenant, source, secret, options, created_at) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (tenant, source) DO UPDATE SET secret = excluded.secret, options = excluded.options",
        sources,
    )
    counts = {table: await _copy_rows(source, target, table, columns, times, now) for table, columns, times in COPIED}
    problems = [(tenant, name, case_id, title, summary, bool(listed), _time(updated, now))  # listed: 0/1 there
                for tenant, name, case_id, title, summary, listed, updated
                in source.execute("SELECT tenant, source, case_id, public_title, summary, listed, updated_at "
                                  "FROM problems")]
    await target.executemany(
        "INSERT INTO problems (tenant, source, case_id, public_title, summary, listed, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)", problems)
    for table in ("cases", "deliveries", "api_keys", "subscribers", "console_accounts", "console_audit"):
        # new rows get ids after the copied ones
        await target.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), greatest(max(id), 1), "
                             f"max(id) IS NOT NULL) FROM {table}")
    return Copied(len(meta), len(tenants), len(sources), counts["cases"], counts["events"], counts["deliveries"],
                  counts["api_keys"], counts["subscribers"], counts["console_accounts"])


async def _copy_rows(source: sqlite3.Connection, target: Any, table: str, columns: tuple[str, ...],
                     times: tuple[str, ...], now: datetime) -> int:
    """COPY every row of `table` in chunks; `times` are ISO text in SQLite, timestamptz here."""
    positions = [columns.index(name) for name in times]
    count = 0
    for chunk in _chunks(source.execute(f"SELECT {', '.join(columns)} FROM {table}")):
        rows = [list(row) for row in chunk]
        for row in rows:
            for i in positions:
                row[i] = _time(row[i], now)
        await target.copy_records_to_table(table, records=rows, columns=list(columns))
        count += len(rows)
    return count


def _chunks(cursor: sqlite3.Cursor) -> Iterator[list[Any]]:
    while chunk := cursor.fetchmany(CHUNK_ROWS):
        yield chunk


def _time(text: str | None, now: datetime) -> datetime | None:
    """SQLite keeps times as ISO text in UTC; the oldest rows of a first-release database may not
    (those get `now`, the time of the copy)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return now
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
