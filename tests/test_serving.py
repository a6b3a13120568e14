"""Connections that never finish are closed within a bound, under the protocol `tracker serve`
runs: request heads that never end, and a live stream whose client stopped reading."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer, generic_payload, live_link, post
from tests.conftest import _setup_acme as setup_acme
from tracker.app import create_app
from tracker.clock import Clock
from tracker.config import Settings
from tracker.serving import server_config

HEAD_SECONDS = 1.0
ABORT_SECONDS = 1.0


@pytest.fixture
def bounded(settings: Settings, clock: Clock) -> Iterator[LiveServer]:
    """The live server with short bounds, so that the tests wait seconds, not minutes."""
    app = create_app(settings, clock)
    with LiveServer(app, settings.port, head_seconds=HEAD_SECONDS, abort_seconds=ABORT_SECONDS) as server:
        server.call(setup_acme(app))
        yield server


def connections(server: LiveServer) -> int:
    return len(server.server.server_state.connections)


def wait_for(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_request_heads_that_never_end_are_closed_and_others_are_answered_meanwhile(bounded: LiveServer):
    port = int(bounded.url.rsplit(":", 1)[1])
    slow = []
    for n in range(100):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.settimeout(HEAD_SECONDS * 5)
        if n % 2:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")  # a head that never ends
        slow.append(sock)  # the even ones send nothing at all
    try:
        assert wait_for(lambda: connections(bounded) >= 100, 5)
        with httpx.Client(base_url=bounded.url, timeout=5) as http:
            assert http.get("/healthz").status_code == 200
        assert wait_for(lambda: connections(bounded) == 0, HEAD_SECONDS * 4)
        assert all(closed_by_server(sock) for sock in slow)
    finally:
        for sock in slow:
            sock.close()


def test_a_head_that_ends_in_time_is_answered(bounded: LiveServer):
    port = int(bounded.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        time.sleep(HEAD_SECONDS / 2)
        sock.sendall(b"\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200")


def test_a_stream_ended_for_stalling_loses_its_socket(bounded: LiveServer):
    """Its sends block once the socket buffers fill; tracker ends the stream, and the server
    aborts the connection instead of waiting forever for the client to read."""
    streams = bounded.app.state.streams
    streams.send_timeout_seconds = 0.5
    port = int(bounded.url.rsplit(":", 1)[1])
    with httpx.Client(base_url=bounded.url, timeout=10) as http:
        post(http, generic_payload())
        path = live_link(bounded).removeprefix(bounded.url) + "/events"
        stalled = socket.create_connection(("127.0.0.1", port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        try:
            big = "x" * 200_000
            for n in range(40):
                post(http, generic_payload(title=f"{n} {big}"))
            assert wait_for(lambda: streams.open_count == 0, 10)
            http.close()  # its own connection: now only the stalled one is left
            assert wait_for(lambda: connections(bounded) == 0, ABORT_SECONDS * 4)
        finally:
            stalled.close()


def test_the_bounds_are_what_tracker_serve_runs_with():
    from tracker import serving

    config = server_config(None, "127.0.0.1", 0)
    assert issubclass(config.http, serving.BoundedHttpToolsProtocol)  # type: ignore[arg-type]
    assert (config.http.head_seconds, config.http.abort_seconds) == (  # type: ignore[union-attr]
        serving.HEAD_SECONDS, serving.ABORT_SECONDS)
