"""One problem change reaching N customers who have their linked case open, against one case
change reaching N streams of that one case, in the same run on the same server build.

Linked: N cases linked to one problem, one open /c/<token>/events stream each; the trigger is
the problem's own webhook, and a stream's latency runs until the `problem` frame that shows the
move arrives (rendered once by the problem's channel; the snapshots the delivery worker then
writes into each case follow as the cases' own changes, not timed here). One case: N streams of
one case; the trigger is that case's webhook (bench/fanout.py's path). Target: p99 at most 1.5x
the one-case figure.

    python bench/problem_streams.py [N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench` and `tracker` from this checkout

from bench._util import Server, raise_fd_limit, signed_webhook, tracker_env
from bench.fanout import MAX_CONNECTING, Stream, request, run_client
from tracker.cases import Event
from tracker.clock import Clock
from tracker.signing import Signer, case_url
from tracker.storage import open_store

EVENTS, SPACING = 5, 1.0


async def prepare(env: dict[str, str], n: int) -> tuple[list[str], str]:
    """N linked cases and one plain case; their stream paths (N linked, then the plain case's)."""
    clock = Clock()
    store = await open_store(env["TRACKER_DATABASE_URL"], clock)
    signer = Signer((env["TRACKER_SECRET_KEYS"],), clock)
    await store.ingest("bench", "generic", [Event("P", "p0", clock.now(), {"stage": "in_progress"})])
    paths = []
    for start in range(0, n, 500):
        await store.ingest("bench", "generic", [Event(f"L{i}", f"l{i}", clock.now(), {"problem": "generic:P"})
                                                for i in range(start, min(start + 500, n))])
    for i in range(n):
        stored = await store.get_case("bench", "generic", f"L{i}")
        assert stored is not None
        paths.append(case_url("", signer, stored) + "/events")
    await store.ingest("bench", "generic", [Event("7", "c0", clock.now(), {"stage": "in_progress"})])
    plain = await store.get_case("bench", "generic", "7")
    assert plain is not None
    await store.close()
    return paths, case_url("", signer, plain) + "/events"


async def measure(port: int, paths: list[str], secret: str, case_id: str, counted: bytes) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(MAX_CONNECTING)

    async def connect(path: str) -> Stream:
        get = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
        async with gate:
            _, stream = await loop.create_connection(lambda: Stream(get, b"event: case", counted), "127.0.0.1", port)
            await asyncio.wait_for(stream.ready, 60)
            return stream

    started = time.perf_counter()
    streams = await asyncio.gather(*(connect(path) for path in paths))
    connected = time.perf_counter() - started
    if case_id != "7":  # linked cases: their first snapshots (the worker's relinked rows) come in first
        deadline = time.perf_counter() + 120
        while time.perf_counter() < deadline and any(not s.changes for s in streams):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    await asyncio.sleep(2)
    for stream in streams:
        stream.times.clear()
    sent = []
    for i in range(EVENTS):
        headers, body = signed_webhook(secret, case_id, 100 + i, message_id="m-live")
        sent.append((await request(port, "POST", "/hooks/bench/generic", body, headers))[0])
        await asyncio.sleep(SPACING)
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline and any(len(s.times) < EVENTS for s in streams):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    latencies = sorted((s.times[i] - sent[i]) * 1e3 for s in streams for i in range(min(EVENTS, len(s.times))))
    for stream in streams:
        stream.transport.close()
    return {"p50": statistics.median(latencies), "p99": latencies[int(len(latencies) * 0.99)],
            "worst": latencies[-1], "missing": len(streams) * EVENTS - len(latencies), "connected": connected}


async def snapshots_written(env: dict[str, str]) -> None:
    """Until the server's delivery worker has told each linked case its problem (one delivery
    per case linked anew): streams opened before that read the problem live, a backlog's cost."""
    store = await open_store(env["TRACKER_DATABASE_URL"], Clock())
    try:
        deadline = time.perf_counter() + 300
        while any(d.kind == "problem" and d.status == "pending" for d in await store.list_deliveries("bench", 5000)):
            assert time.perf_counter() < deadline, "the linked cases' snapshots were not written in 5 minutes"
            await asyncio.sleep(0.5)
    finally:
        await store.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    raise_fd_limit()
    tmp = Path(tempfile.mkdtemp(prefix="tracker-bench-"))
    env, secret = tracker_env(tmp)
    env = {**env, "TRACKER_PING_SECONDS": "600"}
    linked_paths, plain_path = asyncio.run(prepare(env, n))
    server = Server("tracker_app", env, tmp)
    try:
        one_case = run_client(measure(server.port, [plain_path] * n, secret, "7", b"event: change"))
        asyncio.run(snapshots_written(env))
        linked = run_client(measure(server.port, linked_paths, secret, "P", b"event: problem"))
    finally:
        server.stop()
    for name, r in (("one case, N streams", one_case), ("N linked cases, a stream each", linked)):
        print(f"N={n} {name:<30} p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  worst {r['worst']:7.1f} ms  "
              f"missing {r['missing']:.0f}  (all connected in {r['connected']:.1f} s)")
    ratio = linked["p99"] / one_case["p99"]
    print(f"linked/one case: p99 {ratio:.2f}x (target <= 1.5: {'ok' if ratio <= 1.5 else 'MISSED'})")


if __name__ == "__main__":
    main()
