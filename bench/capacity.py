"""Streams per instance: N open /c/<token>/events streams spread over CASES cases on one tracker
process, then updates to those cases, each timed from its webhook until its `change` frame has
reached every stream of its case; plus the server's resident memory (RSS, from /proc) per stream.

    python bench/capacity.py [N] [CASES] [UPDATES]

Defaults: 40,000 streams over 100 cases, 200 updates (10 a second, each case in turn). Target
(issue "Faster where users feel it"): one update's p99 <= 1 s with 40,000 streams open, on two
cores. The server runs tracker's default heartbeat (a ping down every stream every 15 s), as an
instance in service does. BENCH_SERVER=granian|hypercorn runs it under another server (_util.py).

What the OS must allow, for N streams on one machine:
- open files: the server holds N sockets, so its hard RLIMIT_NOFILE must exceed N (the bench
  raises the soft limit to the hard one, but only root can raise the hard one: `ulimit -Hn
  100000` in a root shell, `LimitNOFILE=` under systemd, `--ulimit nofile=` for a container).
  The client sockets are spread over several processes, 10,000 each, so each needs 10,100.
- ports: the client's connections to the one server port come from 127.0.0.2, 127.0.0.3, ...,
  one source address per client process, each with the ephemeral range to itself
  (net.ipv4.ip_local_port_range: 28,000 ports by default; Linux answers all of 127/8 on `lo`).
- memory: a few GB for 40,000 streams on both sides together.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import resource
import socket
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench` and `tracker` from this checkout

from bench._util import SERVER_NAME, Server, load_average, raise_fd_limit, signed_webhook, tracker_env
from bench.fanout import MAX_CONNECTING, Stream, request, run_client
from tracker.cases import Event
from tracker.clock import Clock
from tracker.signing import Signer, case_url
from tracker.storage import open_store

STREAMS_PER_CLIENT = 10_000
IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h; not in Python's socket module before 3.12
UPDATES_PER_SECOND = 10
TARGET_P99_MS = 1000.0


async def prepare(env: dict[str, str], cases: int) -> list[str]:
    """CASES cases in the store; the stream path of each."""
    clock = Clock()
    store = await open_store(env["TRACKER_DATABASE_URL"], clock)
    signer = Signer((env["TRACKER_SECRET_KEYS"],), clock)
    await store.ingest("bench", "generic", [Event(f"C{i}", f"c{i}", clock.now(), {"stage": "in_progress"})
                                            for i in range(cases)])
    paths = []
    for i in range(cases):
        stored = await store.get_case("bench", "generic", f"C{i}")
        assert stored is not None
        paths.append(case_url("", signer, stored) + "/events")
    await store.close()
    return paths


def client(port: int, source: str, paths: list[str], control: Connection) -> None:
    """A client process: opens one stream per path from `source`, reports, then on request sends
    the arrival times of each stream's change frames, and closes them."""
    raise_fd_limit()
    run_client(_client(port, source, paths, control))


async def _client(port: int, source: str, paths: list[str], control: Connection) -> None:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(MAX_CONNECTING)

    async def connect(path: str) -> Stream:
        get = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
        async with gate:
            sock = socket.socket()
            # The port is chosen at connect(), for this address and the server's: bind() alone would
            # search for a port free of every connection, slower with each one (seconds per thousand).
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source, 0))
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", port))
            _, stream = await loop.create_connection(lambda: Stream(get, b"event: case"), sock=sock)
            await asyncio.wait_for(stream.ready, 120)
            return stream

    opened = await asyncio.gather(*(connect(path) for path in paths), return_exceptions=True)
    streams = [s if isinstance(s, Stream) else None for s in opened]
    errors = sorted({repr(e) for e in opened if isinstance(e, BaseException)})[:3]
    control.send(("open", sum(s is not None for s in streams), errors))
    while await loop.run_in_executor(None, control.recv) == "count":
        control.send(sum(len(s.times) for s in streams if s is not None))
    control.send([s.times if s is not None else None for s in streams])
    for s in streams:
        if s is not None:
            s.transport.close()
    await asyncio.sleep(1)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40_000
    cases = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    updates = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    raise_fd_limit(n + 1000)
    allowed = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if allowed < n + 100:
        raise SystemExit(f"{n:,} streams need about {n + 100:,} open files in the server, and this shell allows "
                         f"{allowed:,} (hard limit). Raise it as root (`ulimit -Hn {n + 1000}`), or ask for fewer "
                         f"streams: python bench/capacity.py {allowed - 500}")
    tmp = Path(tempfile.mkdtemp(prefix="tracker-bench-"))
    env, secret = tracker_env(tmp)
    env = {**env, "BENCH_GC_ENDPOINT": "1"}
    paths = asyncio.run(prepare(env, cases))
    case_of = [i % cases for i in range(n)]  # stream i follows case i % CASES
    clients = max(1, math.ceil(n / STREAMS_PER_CLIENT))
    # Signed up front, so that the clock measures the server only.
    bodies = [signed_webhook(secret, f"C{u % cases}", u + 1, message_id="m-live") for u in range(updates)]
    print(f"capacity: {n:,} streams over {cases} cases on one {SERVER_NAME} process, from {clients} client "
          f"processes; {updates} updates, {UPDATES_PER_SECOND}/s; load average {load_average()}", flush=True)

    server = Server("tracker_app", env, tmp)
    workers: list[tuple[multiprocessing.Process, Connection, list[int]]] = []
    try:
        asyncio.run(request(server.port, "GET", "/_bench/gc"))  # start from a collected heap
        rss_before = server.rss_kb()
        started = time.perf_counter()
        for c in range(clients):
            mine = list(range(c, n, clients))
            ours, theirs = multiprocessing.Pipe()
            process = multiprocessing.Process(target=client, args=(
                server.port, f"127.0.0.{c + 2}", [paths[case_of[i]] for i in mine], theirs))
            process.start()
            workers.append((process, ours, mine))
        opened, errors = 0, []
        for _, control, _ in workers:
            if not control.poll(600):
                raise SystemExit("a client process did not open its streams in 10 minutes")
            _, count, its_errors = control.recv()
            opened += count
            errors += its_errors
        connect_s = time.perf_counter() - started
        time.sleep(2)  # let the last streams settle (their first reads of the log)
        rss_open = server.rss_kb()
        print(f"open: {opened:,} of {n:,} in {connect_s:.1f} s{f' (errors: {errors})' if errors else ''}; "
              f"server RSS {rss_before / 1024:.0f} MB before, {rss_open / 1024:.0f} MB open: "
              f"{(rss_open - rss_before) / max(1, opened):.1f} KB/stream; load average {load_average()}", flush=True)

        sent = asyncio.run(send_updates(server.port, bodies))
        expected = sum(n // cases + (1 if u % cases < n % cases else 0) for u in range(updates))
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            for _, control, _ in workers:
                control.send("count")
            if sum(control.recv() for _, control, _ in workers) >= expected:
                break
            time.sleep(0.5)
        rss_end = server.rss_kb()
        times: list[list[float] | None] = [None] * n
        for _, control, mine in workers:
            control.send("times")
            for i, stream_times in zip(mine, control.recv(), strict=True):
                times[i] = stream_times
    finally:
        for process, _, _ in workers:
            process.join(30)
            if process.is_alive():
                process.kill()
        server.stop()
    log = server.tail()
    if "Traceback" in log or "ERROR" in log:
        print(f"--- server log ---\n{log}\n---")
    report(n, cases, case_of, sent, times, rss_end)


async def send_updates(port: int, bodies: list[tuple[dict[str, str], bytes]]) -> list[float]:
    """Each update on a fixed schedule, whether or not the ones before have reached everyone; the
    time each was written."""
    tasks = []
    for headers, body in bodies:
        tasks.append(asyncio.create_task(request(port, "POST", "/hooks/bench/generic", body, headers)))
        await asyncio.sleep(1 / UPDATES_PER_SECOND)
    answers = await asyncio.gather(*tasks)
    statuses = sorted({status for _, status, _, _ in answers})
    assert statuses == [202], f"webhooks answered {statuses}"
    return [written for written, _, _, _ in answers]


def report(n: int, cases: int, case_of: list[int], sent: list[float], times: list[list[float] | None],
           rss_end_kb: int) -> None:
    """The k-th change frame on a stream of case c is the k-th update sent to case c."""
    per_update: list[list[float]] = [[] for _ in sent]
    missing = 0
    for i, stream_times in enumerate(times):
        if stream_times is None:
            continue
        mine = range(case_of[i], len(sent), cases)
        for k, u in enumerate(mine):
            if k < len(stream_times):
                per_update[u].append((stream_times[k] - sent[u]) * 1e3)
            else:
                missing += 1
    every = sorted(x for latencies in per_update for x in latencies)
    update_p99 = sorted(sorted(lat)[int(len(lat) * 0.99)] for lat in per_update if lat)
    update_all = sorted(max(lat) for lat in per_update if lat)
    p99 = every[int(len(every) * 0.99)]
    print(f"latency over every (stream, update): p50 {statistics.median(every):.0f} ms, p99 {p99:.0f} ms, "
          f"worst {every[-1]:.0f} ms; missing frames {missing}")
    print(f"per update: p99 until 99% of its case's streams had it: median {statistics.median(update_p99):.0f} ms, "
          f"worst {update_p99[-1]:.0f} ms; until all had it: median {statistics.median(update_all):.0f} ms, "
          f"worst {update_all[-1]:.0f} ms")
    print(f"server RSS at the end {rss_end_kb / 1024:.0f} MB; load average {load_average()}")
    print(f"one update's p99 <= {TARGET_P99_MS / 1000:.0f} s with {n:,} streams open: "
          f"{'ok' if p99 <= TARGET_P99_MS and not missing else 'MISSED'}")


if __name__ == "__main__":
    main()
