"""One update fanned out to N open SSE streams: tracker's /c/<token>/events vs a bare ASGI broadcaster."""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench` and `tracker` from this checkout

from bench._util import Server, case_link, raise_fd_limit, signed_webhook, tracker_env

SIZES = (1000, 10_000)
EVENTS, SPACING = 5, 0.5
REPEATS = 3
MAX_CONNECTING = 256  # connects (until the first frame) in flight at once
CHANGE = b"event: change"  # both servers label the update frame so
BARE_FRAME_DATA = b'{"seq":1,"case":{' + b'"x":"' + b"y" * 1500 + b'"}}'  # about the size of tracker's frame


class Stream(asyncio.Protocol):
    """One SSE client: `ready` once its first frame is in, then the arrival time of each
    `counted` frame (change frames unless told otherwise), and how many change frames came."""

    def __init__(self, request: bytes, ready_marker: bytes, counted: bytes = CHANGE) -> None:
        self.request, self.ready_marker, self.counted = request, ready_marker, counted
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.buffer = b""  # everything up to the first frame, then only a tail to catch split markers
        self.times: list[float] = []
        self.changes = 0
        self.change_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if not self.ready.done():
            self.buffer += data
            if self.ready_marker in self.buffer:
                self.ready.set_result(None)
                self.buffer = b""
            return
        text = self.buffer + data
        self.times.extend([now] * text.count(self.counted))
        self.changes += text.count(CHANGE)
        self.buffer = text[-(max(len(CHANGE), len(self.counted)) - 1):]
        self.change_bytes += len(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before the first frame"))


async def request(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                  ) -> tuple[float, int, bytes, float]:
    """One HTTP/1.1 request on its own connection: (time written, status, body, time answered)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}", "Connection: close",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    sent = time.perf_counter()
    writer.write("\r\n".join(lines).encode() + b"\r\n\r\n" + body)
    response = await asyncio.wait_for(reader.read(), 30)
    answered = time.perf_counter()
    writer.close()
    head, _, content = response.partition(b"\r\n\r\n")
    return sent, int(head.split()[1]), content, answered


@dataclass
class Target:
    name: str
    factory: str
    stream_path: str
    ready_marker: bytes
    trigger: object  # update number -> (method, path, body, headers)


async def measure(target: Target, server: Server, n: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    port = server.port
    await request(port, "GET", "/_bench/gc")  # start from a collected heap
    rss_before = server.rss_kb()
    gate = asyncio.Semaphore(MAX_CONNECTING)
    get = f"GET {target.stream_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()

    async def connect() -> Stream:
        async with gate:
            _, stream = await loop.create_connection(lambda: Stream(get, target.ready_marker), "127.0.0.1", port)
            await asyncio.wait_for(stream.ready, 30)
            return stream

    started = time.perf_counter()
    opened = await asyncio.wait_for(asyncio.gather(*(connect() for _ in range(n)), return_exceptions=True), 120)
    connect_seconds = time.perf_counter() - started
    streams = [s for s in opened if isinstance(s, Stream)]
    rss_after = server.rss_kb()

    triggers = []
    for i in range(EVENTS):  # a fixed schedule, whether or not the previous event has reached everyone
        triggers.append(asyncio.create_task(request(port, *target.trigger(i))))  # type: ignore[operator]
        await asyncio.sleep(SPACING)
    sent = await asyncio.gather(*triggers)
    deadline = time.perf_counter() + 20
    # Polling (bounded) keeps Stream free of bookkeeping on the hot path.
    while time.perf_counter() < deadline and any(len(s.times) < EVENTS for s in streams):  # noqa: ASYNC110
        await asyncio.sleep(0.05)

    latencies = [(s.times[i] - sent[i][0]) * 1e3 for s in streams for i in range(min(EVENTS, len(s.times)))]
    missing = n * EVENTS - len(latencies)
    # Garbage made while streaming, then garbage made by the streams ending (each: now + automatic).
    garbage_open = sum(map(int, (await request(port, "GET", "/_bench/gc"))[2].split()))
    for s in streams:
        s.transport.close()
    await asyncio.sleep(2)  # let the server notice every disconnect and finish its streams
    garbage_closed = sum(map(int, (await request(port, "GET", "/_bench/gc"))[2].split()))
    latencies.sort()
    return {
        "connect_s": connect_seconds, "failed": n - len(streams), "missing": missing,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
        "worst": latencies[-1] if latencies else float("nan"),
        "rss_kb_per_stream": (rss_after - rss_before) / n,
        "gc_open": garbage_open, "gc_after": garbage_closed,
        "trigger_statuses": sorted({status for _, status, _, _ in sent}),
        # How long the trigger itself took to answer (for tracker: verify, commit, publish).
        "trigger_ms": statistics.median((answered - start) * 1e3 for start, _, _, answered in sent),
        "bytes_per_change": sum(s.change_bytes for s in streams) / max(1, len(streams)) / EVENTS,
    }


def run(target: Target, env: dict[str, str], tmp: Path, n: int) -> dict[str, Any]:
    server = Server(target.factory, env, tmp)  # a fresh process per N, so RSS and garbage are this run's only
    try:
        result = run_client(measure(target, server, n))
    finally:
        server.stop()
    log = server.tail()  # after stop(): shutdown errors count too
    if "Traceback" in log or "ERROR" in log:
        print(f"--- {target.name} server log (N={n}) ---\n{log}\n---")
    return result


def run_client(coroutine):  # type: ignore[no-untyped-def]
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def main() -> None:
    raise_fd_limit()  # this process holds N client sockets
    tmp = Path(tempfile.mkdtemp(prefix="tracker-bench-"))
    env, secret = tracker_env(tmp)
    # BENCH_GC_ENDPOINT adds GET /_bench/gc (bench/apps.py); heartbeats are pushed past the run so that
    # only the measured updates travel down the streams.
    env = {**env, "BENCH_GC_ENDPOINT": "1", "TRACKER_PING_SECONDS": "600"}

    async def create_case() -> None:
        headers, body = signed_webhook(secret, "7", 0)
        server = Server("tracker_app", env, tmp)
        try:
            _, status, _, _ = await request(server.port, "POST", "/hooks/bench/generic", body, headers)
            assert status == 202, status
        finally:
            server.stop()

    asyncio.run(create_case())

    def tracker_trigger(i: int) -> tuple[str, str, bytes, dict[str, str]]:
        # Signed before the clock starts; one message id, so the case (and its frame) stays the same size.
        headers, body = signed_webhook(secret, "7", i + 1, message_id="m-live")
        return "POST", "/hooks/bench/generic", body, headers

    targets = [
        Target("bare", "bare_sse_app", "/events", b"event: hello",
               lambda i: ("POST", "/publish", BARE_FRAME_DATA, {})),
        Target("tracker", "tracker_app", case_link(env, "7") + "/events", b"event: case", tracker_trigger),
    ]
    print(f"fanout: {EVENTS} updates {SPACING}s apart to N open streams; latency = trigger sent -> change frame "
          f"received, over every (stream, update); {REPEATS} runs per N, a fresh server each, medians")
    for n in SIZES:
        runs: dict[str, list[dict[str, Any]]] = {target.name: [] for target in targets}
        for _ in range(REPEATS):  # alternate, so that drift in machine speed hits both alike
            for target in targets:
                runs[target.name].append(run(target, env, tmp, n))
        results = {name: summary(r) for name, r in runs.items()}
        for name, r in results.items():
            print(f"N={n:<6} {name:<8} p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  worst {r['worst']:7.1f} ms  "
                  f"(p99 per run: {', '.join(f'{x:.0f}' for x in r['p99_runs'])})  connect {r['connect_s']:4.1f} s  "
                  f"failed {r['failed']}  missing {r['missing']}  RSS {r['rss_kb_per_stream']:4.1f} KB/stream  "
                  f"gc while open {r['gc_open']}, after close {r['gc_after']}  trigger status {r['trigger_statuses']} "
                  f"answered in {r['trigger_ms']:.1f} ms  "
                  f"~{r['bytes_per_change']:.0f} B/update/stream")
        bare, tracker = results["bare"], results["tracker"]
        p99, worst = tracker["p99"] / bare["p99"], tracker["worst"] / bare["worst"]
        print(f"N={n:<6} tracker/bare: p99 {p99:.2f}x (target <= 1.5: {'ok' if p99 <= 1.5 else 'MISSED'}), "
              f"worst {worst:.2f}x (target <= 2: {'ok' if worst <= 2 else 'MISSED'}), "
              f"RSS {tracker['rss_kb_per_stream']:.1f} KB/stream (target <= 30: "
              f"{'ok' if tracker['rss_kb_per_stream'] <= 30 else 'MISSED'}), "
              f"gc after close {tracker['gc_after']} (target ~0)")
    shutil.rmtree(tmp, ignore_errors=True)  # the database and server logs; kept when a run fails


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the timings and sizes; the worst case of the counts that should be zero."""
    timings = ("p50", "p99", "worst", "connect_s", "rss_kb_per_stream", "bytes_per_change", "trigger_ms")
    out: dict[str, Any] = {k: statistics.median(r[k] for r in runs) for k in timings}
    out.update({k: max(r[k] for r in runs) for k in ("gc_open", "gc_after")})
    out.update({k: sum(r[k] for r in runs) for k in ("failed", "missing")})
    out["trigger_statuses"] = sorted({s for r in runs for s in r["trigger_statuses"]})
    out["p99_runs"] = [r["p99"] for r in runs]
    return out


if __name__ == "__main__":
    main()
