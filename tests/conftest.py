"""Shared fixtures: settings on a temp SQLite file, an app with its lifespan, a live uvicorn."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.browser import chromium
from tests.clock_of_suite import CLOCK_OFFSET_DAYS, suite_clock
from tests.postgres_server import PostgresServer
from tracker.admin import add_source, add_tenant
from tracker.app import create_app
from tracker.clock import Clock
from tracker.config import Settings
from tracker.demo import signed_request
from tracker.serving import server_config
from tracker.signing import case_url
from tracker.storage import open_store
from tracker.storage.base import Store

KEY = "test-signing-key-0123456789abcdef"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ROOT = Path(__file__).resolve().parent.parent
def from_now(**delta: float) -> str:
    """An ISO time relative to the suite's clock: from_now(days=30), from_now(hours=-2)."""
    return (suite_clock().now() + timedelta(**delta)).isoformat()


@pytest.fixture
def clock() -> Clock:
    return suite_clock()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Storage, pub/sub and webhook tests run on every backend:
#     pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL for the session (started on first use); each test gets its own database."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'tracker.db'}"
    elif backend == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()
        yield url
        if not server.running:  # a test that stopped the server and failed before starting it again
            server.start()
        server.drop_database(url)
    else:
        raise AssertionError(f"no test database for backend {backend!r}")


@pytest.fixture
async def store(database_url: str, clock: Clock) -> AsyncIterator[Store]:
    opened = await open_store(database_url, clock)
    yield opened
    await opened.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    port = free_port()
    return Settings(database_url=database_url, secret_keys=(KEY,), port=port, base_url=f"http://127.0.0.1:{port}",
                    ping_seconds=0.5, clock_offset_days=CLOCK_OFFSET_DAYS,
                    allow_private_hosts=True)  # the suite's webhook receivers listen on loopback


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    app = create_app(settings, clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        c.portal.call(_setup_acme, app)
        yield c


async def _setup_acme(app: Starlette) -> None:
    await add_tenant(app.state.store, "acme", "ACME Support", "default")
    await add_source(app.state.store, "acme", "generic", SECRET)


def generic_payload(case_id: str = "4711", **case: Any) -> dict[str, Any]:
    return {"type": "case.updated", "case": {"id": case_id, **case}}


def post(http: httpx.Client | TestClient, payload: dict[str, Any], secret: str = SECRET,
         tenant: str = "acme", headers: dict[str, str] | None = None) -> httpx.Response:
    """A signed generic webhook, stamped by the app's own clock (a test may have moved it)."""
    app = getattr(http, "app", None)
    clock = app.state.clock if isinstance(app, Starlette) else suite_clock()
    body, signed = signed_request(secret, payload, clock)
    return http.post(f"/hooks/{tenant}/generic", content=body, headers={**signed, **(headers or {})})


def link_for(client: TestClient, case_id: str = "4711", source: str = "generic") -> str:
    """The path of a freshly signed link to an acme case."""
    app = client.app
    assert isinstance(app, Starlette)

    async def mint() -> str:
        stored = await app.state.store.get_case("acme", source, case_id)
        assert stored is not None
        return case_url("", app.state.signer, stored)

    return str(client.portal.call(mint))


class _Server(uvicorn.Server):
    loop: asyncio.AbstractEventLoop

    async def serve(self, sockets: Any = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)


class LiveServer:
    """A real uvicorn on loopback in a thread, serving one app."""

    def __init__(self, app: Starlette, port: int, **bounds: float) -> None:
        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        # The protocol (and, unless a test shortens them, the bounds) `tracker serve` runs with.
        config = server_config(app, "127.0.0.1", port, log_level="warning", timeout_graceful_shutdown=1, **bounds)
        self.server = _Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def call(self, coro: Any) -> Any:
        """Run a coroutine on the server's own loop (its store belongs to that loop)."""
        return asyncio.run_coroutine_threadsafe(coro, self.server.loop).result(10)


@pytest.fixture
def live(settings: Settings, clock: Clock) -> Iterator[LiveServer]:
    app = create_app(settings, clock)
    with LiveServer(app, settings.port) as server:
        server.call(_setup_acme(app))
        yield server


def live_link(server: LiveServer, case_id: str = "4711") -> str:
    async def mint() -> str:
        stored = await server.app.state.store.get_case("acme", "generic", case_id)
        assert stored is not None
        return case_url(server.url, server.app.state.signer, stored)

    return str(server.call(mint()))


def sse_events(lines: Iterator[str], count: int) -> list[dict[str, Any]]:
    """Read `count` SSE events (comments skipped) as {"event", "id", "data"} dicts."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in lines:
        if line == "":
            if "data" in current:
                current["data"] = json.loads(current["data"])
                events.append(current)
                if len(events) == count:
                    return events
            current = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            current[field] = value.removeprefix(" ")
    raise AssertionError(f"stream ended after {len(events)} of {count} events")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module."""
    with chromium() as launched:
        yield launched
