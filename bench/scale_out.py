"""Two tracker instances on one PostgreSQL vs one on SQLite: delivery latency across instances and ingest.

- latency: a signed webhook POSTed to instance A, until its change frame arrives on a stream
  open on instance B (across instances, through LISTEN/NOTIFY) and on A itself; beside it, the
  same on one SQLite process. Sequential webhooks on an idle system, one stream per case and
  instance.
- ingest: signed ~2 KB generic webhooks with unique ids (bench/ingest.py's requests), wrk with
  64 connections in all: one wrk against the SQLite process, two wrk at once (32 each) against
  the two PostgreSQL instances, and one against a single PostgreSQL instance for reference.
  Every 202 must be backed by a committed event row.

PostgreSQL is a throwaway server started here (tests/postgres_server.py: Debian's binaries,
fsync off, so commits cost what they cost with a battery-backed disk cache).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench`, `tests` and `tracker` from this checkout

from bench import ingest
from bench._util import Server, case_link, cli, median_run, row, signed_webhook, tracker_env, wrk
from bench.fanout import Stream, request, run_client
from tests.postgres_server import PostgresServer

LATENCY_CASES, LATENCY_UPDATES, LATENCY_GAP_SECONDS = 4, 40, 0.02  # updates per case
WARMUP_SECONDS, RUN_SECONDS, REPEATS = 2, 8, 2
ingest.REQUESTS_PER_FILE = 60_000  # more than one 8 s run sends (SQLite: ~45,000); fewer to sign than ingest.py's


async def latencies(post_to: Server, watch: list[Server], env: dict[str, str], secret: str) -> dict[str, list[float]]:
    """ms from sending each webhook to `post_to` until its change frame arrives, per watched server."""
    cases = [f"lat-{n}" for n in range(LATENCY_CASES)]
    for case in cases:
        headers, body = signed_webhook(secret, case, 0, message_id="m-live")
        assert (await request(post_to.port, "POST", "/hooks/bench/generic", body, headers))[1] == 202
    loop = asyncio.get_running_loop()
    streams: dict[tuple[str, int], Stream] = {}
    for case in cases:
        path = case_link(env, case) + "/events"
        get = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
        for server in watch:
            _, stream = await loop.create_connection(lambda g=get: Stream(g, b"event: case"), "127.0.0.1", server.port)
            await asyncio.wait_for(stream.ready, 10)
            streams[(case, server.port)] = stream
    sent: dict[str, list[float]] = {case: [] for case in cases}
    for n in range(1, LATENCY_UPDATES + 1):
        for case in cases:
            # One message id per case, so the case (and its frame) keeps its size.
            headers, body = signed_webhook(secret, case, n, message_id="m-live")
            started, status, _, _ = await request(post_to.port, "POST", "/hooks/bench/generic", body, headers)
            assert status == 202, status
            sent[case].append(started)
            await asyncio.sleep(LATENCY_GAP_SECONDS)
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline and any(len(s.times) < LATENCY_UPDATES for s in streams.values()):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    out: dict[str, list[float]] = {}
    for server in watch:
        samples = out.setdefault("same instance" if server is post_to else "other instance", [])
        for case in cases:
            times = streams[(case, server.port)].times
            assert len(times) == LATENCY_UPDATES, f"{len(times)} of {LATENCY_UPDATES} frames arrived"
            samples += [(arrived - posted) * 1e3 for arrived, posted in zip(times, sent[case], strict=True)]
    for stream in streams.values():
        stream.transport.close()
    return out


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    return (f"p50 {statistics.median(ordered):6.2f} ms  p99 {ordered[int(len(ordered) * 0.99)]:6.2f} ms  "
            f"(n={len(ordered)})")


def wrk_ingest(url: str, seconds: int, data: Path, connections: int) -> dict[str, Any]:
    result = wrk(url, seconds, f"-c{connections}", "-s", str(ingest.LUA), script_args=(str(data),))
    out = result["output"]
    result["statuses"] = {int(s): int(n) for s, n in re.findall(r"STATUS (\d+) (\d+)", out)}
    result["wrapped"] = int(re.search(r"WRAPPED (\d+)", out).group(1))  # type: ignore[union-attr]
    return result


def throughput(servers: list[Server], secret: str, tmp: Path, label: str) -> tuple[dict[str, float], int, int]:
    """req/s summed over the servers (64 connections split between them); medians over the runs.
    Returns the medians, the 202s and the id wrap-arounds over every run, warm-up included."""
    runs, accepted, wraps = [], 0, 0
    for n, seconds in enumerate([WARMUP_SECONDS] + [RUN_SECONDS] * REPEATS):
        files = []
        for i in range(len(servers)):
            files.append(tmp / f"{label}-{n}-{i}.txt")
            ingest.write_requests(files[-1], secret, f"{label}-{n}-{i}")
        with ThreadPoolExecutor(len(servers)) as pool:
            jobs = [pool.submit(wrk_ingest, f"{s.url}/hooks/bench/generic", seconds, f, 64 // len(servers))
                    for s, f in zip(servers, files, strict=True)]
            results = [job.result() for job in jobs]
        for r in results:
            accepted += r["statuses"].get(202, 0)
            wraps += r["wrapped"]
        combined = {"rps": sum(r["rps"] for r in results), "p50": max(r["p50"] for r in results),
                    "p99": max(r["p99"] for r in results), "non2xx": sum(r["non2xx"] for r in results),
                    "socket_errors": sum(r["socket_errors"] for r in results)}
        if n:
            runs.append(combined)
    time.sleep(1)  # let requests cut off at wrk's deadline finish committing
    return median_run(runs), accepted, wraps


def main() -> None:
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="tracker-bench-"))
    env, secret = tracker_env(tmp)  # SQLite
    figures: list[str] = []

    server = Server("tracker_app", env, tmp)
    try:
        lat = run_client(latencies(server, [server], env, secret))
        sqlite_ingest, sqlite_202, sqlite_wraps = throughput([server], secret, tmp, "sqlite")
    finally:
        server.stop()
    sqlite_events = sqlite3.connect(tmp / "bench.db").execute("SELECT count(*) FROM events").fetchone()[0]
    figures.append(f"sqlite, 1 process       POST -> SSE, same process:    {percentiles(lat['same instance'])}")

    with PostgresServer() as postgres:
        pg_env = {**env, "TRACKER_DATABASE_URL": postgres.create_database("bench")}
        cli(pg_env, "tenant", "add", "bench")
        cli(pg_env, "source", "add", "bench", "generic", "--secret", secret)
        a, b = Server("tracker_app", pg_env, tmp), Server("tracker_app", pg_env, tmp)
        try:
            lat = run_client(latencies(a, [a, b], pg_env, secret))
            pg_ingest, pg_202, pg_wraps = throughput([a, b], secret, tmp, "pg2")
            b.stop()
            pg1_ingest, pg1_202, pg1_wraps = throughput([a], secret, tmp, "pg1")
        finally:
            a.stop()
            b.stop()
        [(pg_events,)] = postgres.fetch("SELECT count(*) FROM events", pg_env["TRACKER_DATABASE_URL"].rsplit("/", 1)[1])
    figures.append(f"postgresql, 2 instances POST -> SSE, same instance:   {percentiles(lat['same instance'])}")
    figures.append(f"postgresql, 2 instances POST -> SSE, other instance:  {percentiles(lat['other instance'])}")

    print(f"scale_out: latency = webhook sent to instance A -> its change frame received; {LATENCY_CASES} cases x "
          f"{LATENCY_UPDATES} sequential updates, {LATENCY_GAP_SECONDS * 1e3:.0f} ms apart")
    for line in figures:
        print(line)
    print(f"ingest: wrk, 64 connections in all, {REPEATS} runs of {RUN_SECONDS}s after a {WARMUP_SECONDS}s warm-up, "
          f"medians; ~2 KB signed bodies over {ingest.CASES} cases")
    print(row("sqlite x1", sqlite_ingest))
    print(row("postgres x2", pg_ingest, sqlite_ingest) + "  (ratio: against sqlite x1)")
    print(row("postgres x1", pg1_ingest, sqlite_ingest) + "  (ratio: against sqlite x1)")
    for name, accepted, events, wraps in (("sqlite", sqlite_202, sqlite_events, sqlite_wraps),
                                          ("postgres", pg_202 + pg1_202, pg_events, pg_wraps + pg1_wraps)):
        verdict = "ok" if accepted <= events and not wraps else "FAILED: some 202s have no committed row"
        print(f"{name}: 202 responses {accepted} <= committed event rows {events}, id wrap-arounds {wraps}: {verdict}")
    print(f"(whole run {time.monotonic() - started:.0f} s)")
    shutil.rmtree(tmp, ignore_errors=True)  # the databases and server logs; kept when a run fails


if __name__ == "__main__":
    main()
