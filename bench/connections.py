"""The connection findings of "Green at any date", checked from outside against a running server:
uvicorn as `tracker serve` runs it (its bounds: tracker/serving.py, tests/test_serving.py), or
tracker's app under the server BENCH_SERVER names (granian, hypercorn; bench/_util.py).

1. Request heads that never end: 50 connections send half a head, 50 send nothing; another
   request is answered meanwhile; how long until the server has closed all 100 (tracker serve:
   10 s).
2. A stalled stream: a client opens a case's stream with a tiny receive buffer and stops
   reading while large updates fill the socket buffers; tracker ends the stream (its send is
   stuck for 10 s); how long until the server has let go of the socket (tracker serve: 10 s
   after that).

The server's side is read from /proc (its open sockets; the stalled connection's entry in
/proc/net/tcp, whose inode is 0 once no process holds it), so the figures are the server's,
whatever the client does.

    python bench/connections.py
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench` and `tracker` from this checkout

from bench._util import SERVER_NAME, TRACKER_CLI, Server, case_link, load_average, tracker_env
from bench.fanout import request
from tracker.standard_webhooks import sign

WAIT_SECONDS = 60  # how long a server is given to close what it should


def big_update(secret: str, n: int) -> tuple[dict[str, str], bytes]:
    body = json.dumps({"type": "case.updated", "occurred_at": datetime.now(UTC).isoformat(),
                       "case": {"id": "7", "title": f"{n} " + "x" * 200_000, "stage": "in_progress"}}).encode()
    msg_id, timestamp = f"bench-{n}-{secrets.token_hex(4)}", int(time.time())
    return {"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body)}, body


def post_update(server: Server, secret: str, n: int) -> int:
    headers, body = big_update(secret, n)
    return asyncio.run(request(server.port, "POST", "/hooks/bench/generic", body, headers))[1]


def seconds_until(condition: object) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < WAIT_SECONDS:
        if condition():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.25)
    return None


def heads_that_never_end(server: Server) -> str:
    base = server.sockets()
    slow = []
    for n in range(100):
        sock = socket.create_connection(("127.0.0.1", server.port))
        if n % 2:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        slow.append(sock)
    try:
        held = seconds_until(lambda: server.sockets() >= base + 100)
        answered = asyncio.run(request(server.port, "GET", "/healthz"))[1]
        closed = seconds_until(lambda: server.sockets() <= base)
        left = server.sockets() - base
    finally:
        for sock in slow:
            sock.close()
    verdict = f"all closed {closed:.1f} s later" if closed is not None else f"{left} still open after {WAIT_SECONDS} s"
    return f"100 unfinished heads (accepted: {held is not None}), /healthz meanwhile {answered}: {verdict}"


def held_by_a_process(server_port: int, client_port: int) -> bool:
    """Whether the server's end of the connection from `client_port` is still some process's socket."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            return inode != "0"
    return False


def stalled_stream(server: Server, secret: str, path: str) -> str:
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", server.port))
    stalled.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    client_port = stalled.getsockname()[1]
    try:
        for n in range(40):
            assert post_update(server, secret, n) == 202
        gone = seconds_until(lambda: not held_by_a_process(server.port, client_port))
        answered = asyncio.run(request(server.port, "GET", "/healthz"))[1]
    finally:
        stalled.close()
    verdict = f"its socket closed {gone:.1f} s after the last update" if gone is not None else \
        f"still open after {WAIT_SECONDS} s"
    return f"a stalled stream: {verdict}; /healthz then {answered}"


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="tracker-bench-"))
    env, secret = tracker_env(tmp)
    env = {**env, "TRACKER_PING_SECONDS": "1"}
    # uvicorn: `tracker serve` itself, with the protocol it configures.
    command = [str(TRACKER_CLI), "serve", "--host", "127.0.0.1", "--port", "{port}"] \
        if SERVER_NAME == "uvicorn" else None
    server = Server("tracker_app", env, tmp, command)
    try:
        assert post_update(server, secret, -1) == 202
        path = case_link(env, "7") + "/events"
        print(f"{SERVER_NAME}: {heads_that_never_end(server)}; load average {load_average()}", flush=True)
        print(f"{SERVER_NAME}: {stalled_stream(server, secret, path)}; load average {load_average()}", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
