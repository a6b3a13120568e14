"""N streams connecting at once (a reconnect storm: a restart, a network blip), until each has its
first frame, against the bare SSE app in the same run: tracker's `/c/<token>/events` of one case
(the link checked, the case read and viewed, the stream joined), the bare app's `/events`.

    python bench/connect_storm.py [N] [REPEATS]

Prints each run and the medians; target (issue "Faster where users feel it"): at most 2x bare.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench` and `tracker` from this checkout

from bench._util import Server, case_link, raise_fd_limit, signed_webhook, tracker_env
from bench.fanout import MAX_CONNECTING, Stream, request, run_client


async def storm(port: int, path: str, ready_marker: bytes, n: int) -> float:
    """Seconds until all N streams have their first frame (MAX_CONNECTING connecting at a time)."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(MAX_CONNECTING)
    get = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()

    async def connect() -> Stream:
        async with gate:
            _, stream = await loop.create_connection(lambda: Stream(get, ready_marker), "127.0.0.1", port)
            await asyncio.wait_for(stream.ready, 120)
            return stream

    started = time.perf_counter()
    streams = await asyncio.gather(*(connect() for _ in range(n)))
    took = time.perf_counter() - started
    for stream in streams:
        stream.transport.close()
    return took


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    raise_fd_limit()
    tmp = Path(tempfile.mkdtemp(prefix="tracker-bench-"))
    env, secret = tracker_env(tmp)
    env = {**env, "TRACKER_PING_SECONDS": "600"}

    async def create_case() -> None:
        server = Server("tracker_app", env, tmp)
        try:
            headers, body = signed_webhook(secret, "7", 0)
            assert (await request(server.port, "POST", "/hooks/bench/generic", body, headers))[1] == 202
        finally:
            server.stop()

    asyncio.run(create_case())
    targets = [("bare", "bare_sse_app", "/events", b"event: hello"),
               ("tracker", "tracker_app", case_link(env, "7") + "/events", b"event: case")]
    runs: dict[str, list[float]] = {name: [] for name, *_ in targets}
    for _ in range(repeats):
        for name, factory, path, marker in targets:
            server = Server(factory, env, tmp)  # a fresh server each run
            try:
                runs[name].append(run_client(storm(server.port, path, marker, n)))
            finally:
                server.stop()
            print(f"N={n} {name:<8} {runs[name][-1]:6.2f} s", flush=True)
    bare, tracker = statistics.median(runs["bare"]), statistics.median(runs["tracker"])
    ratio = tracker / bare
    print(f"medians: bare {bare:.2f} s, tracker {tracker:.2f} s: {ratio:.1f}x (target <= 2: "
          f"{'ok' if ratio <= 2 else 'MISSED'})")


if __name__ == "__main__":
    main()
