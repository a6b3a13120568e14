"""Several `tracker serve` processes on one PostgreSQL database, as behind a load balancer:
webhooks arrive at any instance, live streams are open on every instance, and each stream sees
every event of its case exactly once and in order, also while the database restarts."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import SECRET, free_port, generic_payload, sse_events, suite_clock
from tests.postgres_server import PostgresServer
from tracker.cases import Event, apply, case_to_dict, event_to_dict, new_case
from tracker.demo import signed_request
from tracker.storage import open_store
from tracker.storage.base import SourceConfig, Tenant
from tracker.storage.postgres import MIGRATIONS

INSTANCES = 3
CASES = ("4711", "4712")
SUBSCRIBERS_PER_CASE_AND_INSTANCE = 2
BEFORE_RESTART, AROUND_RESTART = 10, 20  # webhooks per case


def tracker(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "tracker", *args], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Cluster:
    urls: list[str]
    env: dict[str, str]
    logs: list[Path]
    links: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def cluster(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[Cluster]:
    database = postgres_server.create_database("multi")
    env = {**os.environ, "TRACKER_DATABASE_URL": database, "TRACKER_SECRET_KEYS": "multi-key-0123456789abcdef",
           "TRACKER_PING_SECONDS": "1", "TRACKER_BASE_URL": "https://status.example.com"}
    servers: list[subprocess.Popen[bytes]] = []
    ports = [free_port() for _ in range(INSTANCES)]
    logs = [tmp_path / f"serve-{port}.log" for port in ports]
    try:
        for port, log in zip(ports, logs, strict=True):  # all at once, on an empty database: one migrates
            with log.open("wb") as out:
                servers.append(subprocess.Popen([sys.executable, "-m", "tracker", "serve"], stdout=out, stderr=out,
                                                env={**env, "TRACKER_PORT": str(port)}))
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        deadline = time.monotonic() + 30
        for url, log in zip(urls, logs, strict=True):
            while True:
                try:
                    if httpx.get(url + "/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, f"{url} did not start:\n{log.read_text()}"
                    time.sleep(0.1)
        tracker(env, "tenant", "add", "acme")
        tracker(env, "source", "add", "acme", "generic", "--secret", SECRET)
        yield Cluster(urls, env, logs)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(15)
        if not postgres_server.running:
            postgres_server.start()
        postgres_server.drop_database(database)


def deliver(url: str, payload: dict[str, Any], deadline_seconds: float = 30.0) -> None:
    """POST a signed webhook like a helpdesk: on a 5xx or no answer, send the same delivery again."""
    body, headers = signed_request(SECRET, payload, suite_clock())
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            response = httpx.post(f"{url}/hooks/acme/generic", content=body, headers=headers, timeout=10)
            if response.status_code < 500:
                assert response.status_code == 202, response.text
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} did not accept a webhook for {deadline_seconds} s"
        time.sleep(0.1)


def update(case_id: str, n: int) -> dict[str, Any]:
    return {**generic_payload(case_id, progress=n), "message": {"id": f"m{n}", "body": f"{case_id}/{n}",
                                                                "public": True}}


class Subscriber(threading.Thread):
    """An EventSource: reads the stream, and when it ends reconnects with Last-Event-ID."""

    def __init__(self, url: str, last_seq: int) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.last_seq = last_seq  # stop after this event
        self.ready = threading.Event()
        self.events: list[dict[str, Any]] = []
        self.reconnects = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._read()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _read(self) -> None:
        last_id: str | None = None
        with httpx.Client(timeout=httpx.Timeout(10, read=15)) as http:
            while True:
                headers = {} if last_id is None else {"Last-Event-ID": last_id}
                try:
                    with http.stream("GET", self.url, headers=headers) as stream:
                        if stream.status_code != 200:
                            raise httpx.TransportError(f"status {stream.status_code}")
                        lines = stream.iter_lines()
                        while True:
                            [event] = sse_events(lines, 1)
                            self.events.append(event)
                            self.ready.set()
                            last_id = event["id"]
                            if int(last_id) >= self.last_seq:
                                return
                except (httpx.TransportError, AssertionError):  # AssertionError: the stream ended
                    self.reconnects += 1
                    time.sleep(0.2)


def test_every_stream_on_every_instance_sees_every_event_once_in_order_through_a_database_restart(
    cluster: Cluster, postgres_server: PostgresServer,
):
    instances = itertools.cycle(cluster.urls)
    for case_id in CASES:
        deliver(next(instances), update(case_id, 1))
        link = tracker(cluster.env, "link", "acme", case_id).strip().splitlines()[-1]
        cluster.links[case_id] = link.removeprefix(cluster.env["TRACKER_BASE_URL"])
    total = 1 + BEFORE_RESTART + AROUND_RESTART
    subscribers = {
        (case_id, url, n): Subscriber(f"{url}{cluster.links[case_id]}/events", total)
        for case_id in CASES for url in cluster.urls for n in range(SUBSCRIBERS_PER_CASE_AND_INSTANCE)
    }
    for subscriber in subscribers.values():
        subscriber.start()
    for subscriber in subscribers.values():
        assert subscriber.ready.wait(10), subscriber.error

    updates = [(case_id, n) for n in range(2, total + 1) for case_id in CASES]
    with ThreadPoolExecutor(4) as senders:  # concurrent, round-robin over the instances
        list(senders.map(lambda u: deliver(next(instances), update(*u)), updates[:2 * BEFORE_RESTART]))
        pending = [senders.submit(deliver, next(instances), update(*u)) for u in updates[2 * BEFORE_RESTART:]]
        time.sleep(0.05)  # some of these are on their way while the database goes down
        postgres_server.restart()
        for future in pending:
            future.result()

    deadline = time.monotonic() + 30
    for subscriber in subscribers.values():
        subscriber.join(max(0.1, deadline - time.monotonic()))
    for (case_id, url, _), subscriber in subscribers.items():
        assert subscriber.error is None, subscriber.error
        assert not subscriber.is_alive(), f"{url} stream of case {case_id} got {len(subscriber.events)} events"
        first, *changes = subscriber.events
        assert (first["event"], first["id"]) == ("case", "1")
        assert [c["id"] for c in changes] == [str(n) for n in range(2, total + 1)]  # once each, in order
        bodies = sorted(c["data"]["update"]["body"] for c in changes)
        assert bodies == sorted(f"{case_id}/{n}" for n in range(2, total + 1))
    for log in cluster.logs:  # each instance lost its LISTEN connection and listened again
        assert "listening again" in log.read_text()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_instances_starting_together_migrate_the_schema_once(database_url: str):
    stores = await asyncio.gather(*(open_store(database_url, suite_clock()) for _ in range(4)))
    for store in stores:
        await store.close()
    connection = await asyncpg.connect(database_url)
    try:
        versions = [r[0] for r in await connection.fetch("SELECT version FROM schema_migrations ORDER BY version")]
    finally:
        await connection.close()
    assert versions == list(range(1, len(MIGRATIONS) + 1))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_duplicate_committed_while_waiting_for_the_case_lock_is_stored_once(
    database_url: str, caplog: pytest.LogCaptureFixture,
):
    """Another instance holds the case's lock and stores the same delivery; this instance's batch
    waits, then meets the unique delivery key, retries, and reports the delivery as a duplicate."""
    store = await open_store(database_url, suite_clock())
    other = await asyncpg.connect(database_url)
    try:
        await store.add_tenant(Tenant("acme", "ACME"))
        await store.add_source(SourceConfig("acme", "generic", SECRET))
        first, second = (Event(case_id="1", delivery_id=f"d{n}", occurred_at=suite_clock().now(),
                               changes={"progress": n}) for n in (1, 2))
        [stored] = await store.ingest("acme", "generic", [first])
        after = apply(apply(new_case("1"), first), second)
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SELECT 1 FROM cases WHERE id = $1 FOR UPDATE", stored.case_key)
        await other.execute(
            "INSERT INTO events VALUES ($1, 2, 'acme', 'generic', 'd2', now(), $2, $3)",
            stored.case_key, json.dumps(event_to_dict(second)), json.dumps(case_to_dict(after)))
        await other.execute("UPDATE cases SET seq = 2, state = $2 WHERE id = $1", stored.case_key,
                            json.dumps(case_to_dict(after)))
        with caplog.at_level(logging.INFO, "tracker.storage"):
            waiting = asyncio.create_task(store.ingest("acme", "generic", [second]))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # blocked on the case's lock
            await transaction.commit()
            assert await waiting == []
        assert "retrying an ingest transaction (UniqueViolationError)" in caplog.text
        case = await store.get_case("acme", "generic", "1")
        assert case is not None and case.seq == 2 and case.case.progress == 2
    finally:
        await other.close()
        await store.close()


def test_a_problems_move_reaches_the_streams_of_its_linked_cases_on_every_instance(cluster: Cluster):
    """The problem's webhook arrives at one instance; every instance's problem channel hears of
    it (LISTEN/NOTIFY) and sends its linked streams the `problem` frame."""
    deliver(cluster.urls[0], {**generic_payload("P-9", stage="in_progress", title="Engineering: OOM in export"),
                              "message": {"id": "p1", "body": "internal-ish engineering chatter", "public": True}})
    deliver(cluster.urls[0], generic_payload("4711", stage="in_progress", problem={"source": "generic", "id": "P-9"}))
    link = tracker(cluster.env, "link", "acme", "4711").strip().splitlines()[-1]
    path = link.removeprefix(cluster.env["TRACKER_BASE_URL"]) + "/events"
    frames: dict[str, dict[str, Any]] = {}
    opened = threading.Barrier(len(cluster.urls) + 1, timeout=20)

    def listen(url: str) -> None:
        with httpx.Client(timeout=httpx.Timeout(10, read=20)) as http, http.stream("GET", url + path) as stream:
            lines = stream.iter_lines()
            assert "event: case" in lines  # read up to the opening frame
            opened.wait()
            for line in lines:  # the first problem frame is the problem as the stream joins it
                if line == "event: problem":
                    frame = json.loads(next(lines).removeprefix("data:"))
                    if frame["problem"]["stage"] == "resolved":
                        frames[url] = frame
                        return

    with ThreadPoolExecutor(len(cluster.urls)) as readers:
        reading = [readers.submit(listen, url) for url in cluster.urls]
        opened.wait()
        deliver(cluster.urls[0], generic_payload("P-9", stage="resolved", progress=100))
        for future in reading:
            future.result(30)
    assert set(frames) == set(cluster.urls)
    for frame in frames.values():
        assert (frame["problem"]["stage"], frame["problem"]["progress"], frame["problem"]["fix_out"]) == \
            ("resolved", 100, True)
        assert "OOM" not in json.dumps(frame) and "chatter" not in json.dumps(frame)
