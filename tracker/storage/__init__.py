"""open_store(url): the URL scheme picks the storage backend."""

from __future__ import annotations

from urllib.parse import urlsplit

from tracker.clock import Clock
from tracker.config import POSTGRES_SCHEMES
from tracker.errors import ConfigError
from tracker.storage.base import Store


async def open_store(url: str, clock: Clock) -> Store:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from tracker.storage.sqlite import SQLiteStore

        return await SQLiteStore.open(sqlite_path(url), clock)
    if scheme in POSTGRES_SCHEMES:
        from tracker.storage.postgres import PostgresStore

        return await PostgresStore.open(url, clock)
    raise ConfigError(f"TRACKER_DATABASE_URL: no storage backend for {scheme!r}; "
                      "use sqlite:///path or postgresql://user:pw@host:port/db.")


def unavailable_errors() -> tuple[type[Exception], ...]:
    """Errors that mean the database cannot be reached just now (a locked or unreachable
    database, a restarting server): answered 503 with Retry-After, not as a bug."""
    import sqlite3

    import asyncpg  # type: ignore[import-untyped]

    return (sqlite3.OperationalError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
            asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError, ConnectionError)


def sqlite_path(url: str) -> str:
    """`sqlite:///tracker.db` is relative to the working directory, `sqlite:////abs/path` absolute."""
    path = url.removeprefix("sqlite://")
    return path[1:] if path.startswith("/") else path
