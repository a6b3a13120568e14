"""Running it in production: readiness that follows storage and pub/sub."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from tests.conftest import LiveServer
from tests.postgres_server import PostgresServer
from tracker.app import create_app
from tracker.clock import Clock
from tracker.config import Settings


def test_ready_on_sqlite(client: TestClient):
    answer = client.get("/readyz")
    assert answer.status_code == 200 and answer.json() == {"ok": True, "storage": "ok", "pubsub": "ok"}
    assert client.get("/healthz").json() == {"ok": True}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_not_ready_while_postgresql_is_down_and_ready_again_after(settings: Settings, clock: Clock,
                                                                  postgres_server: PostgresServer):
    app = create_app(settings, clock)
    with LiveServer(app, settings.port) as live, httpx.Client(base_url=live.url, timeout=10) as http:
        assert http.get("/readyz").status_code == 200
        postgres_server.stop()
        try:
            down = http.get("/readyz")
            assert down.status_code == 503 and down.headers["retry-after"]
            body: dict[str, Any] = down.json()
            assert body["error"].startswith("storage: unreachable") and body["ok"] is False
            assert http.get("/healthz").status_code == 200  # the process is up, only not ready
        finally:
            postgres_server.start()
        deadline = time.monotonic() + 30
        while http.get("/readyz").status_code != 200:  # the pool and the LISTEN connection come back
            assert time.monotonic() < deadline, http.get("/readyz").json()
            time.sleep(0.5)


def test_sigterm_ends_the_streams_politely_and_exits_within_its_bound(tmp_path: Any):
    """`tracker serve` on SIGTERM: open streams end at once (their clients reconnect elsewhere)
    instead of holding the shutdown to its limit, and what was acknowledged is stored."""
    import os
    import signal
    import threading

    from tests.conftest import free_port, generic_payload, post
    from tests.test_mail_crash import serve, tracker
    from tracker.cli import SHUTDOWN_SECONDS

    port = free_port()
    env = {**os.environ, "TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 'stop.db'}",
           "TRACKER_SECRET_KEYS": "stop-key-0123456789abcdef", "TRACKER_BASE_URL": f"http://127.0.0.1:{port}"}
    tracker(env, "tenant", "add", "acme")
    secret = tracker(env, "source", "add", "acme", "generic").split("Secret:", 1)[1].split()[0]
    server = serve(env, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert post(http, generic_payload("1", title="Before the stop"), secret=secret).status_code == 202
            link = tracker(env, "link", "acme", "1").strip().splitlines()[-1]
            ended = threading.Event()

            def follow() -> None:
                with httpx.stream("GET", link + "/events", timeout=30) as stream:
                    for _ in stream.iter_lines():
                        pass
                ended.set()

            reader = threading.Thread(target=follow, daemon=True)
            reader.start()
            time.sleep(0.5)  # the stream is open
            started = time.monotonic()
            server.send_signal(signal.SIGTERM)
            assert ended.wait(5), "the stream was not ended at shutdown"
            # uvicorn re-raises the signal once it has shut down, as a process stopped by it should
            assert server.wait(SHUTDOWN_SECONDS + 5) in (0, -signal.SIGTERM)
            assert time.monotonic() - started < SHUTDOWN_SECONDS  # not held to the limit by the stream
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()
    assert tracker(env, "cases", "acme").split() == ["generic:1"]


def test_json_logs_carry_the_request_id_and_never_a_token_secret_or_address(tmp_path: Any):
    """`tracker serve` with TRACKER_LOG_FORMAT=json: every line of its output is one JSON object;
    the request's line and its webhook's line carry the caller's X-Request-ID; nothing secret."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import free_port, generic_payload, post
    from tests.test_mail_crash import tracker

    port = free_port()
    env = {**os.environ, "TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 'logs.db'}", "TRACKER_LOG_FORMAT": "json",
           "TRACKER_SECRET_KEYS": "logs-key-0123456789abcdef", "TRACKER_BASE_URL": f"http://127.0.0.1:{port}"}
    tracker(env, "tenant", "add", "acme")
    secret = tracker(env, "source", "add", "acme", "generic").split("Secret:", 1)[1].split()[0]
    log_file = tmp_path / "serve.log"
    with log_file.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "tracker", "serve", "--port", str(port)], env=env,
                                  stdout=out, stderr=out)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                deadline = time.monotonic() + 20
                while True:
                    try:
                        http.get("/healthz")
                        break
                    except httpx.TransportError:
                        assert time.monotonic() < deadline
                        time.sleep(0.1)
                payload = generic_payload("1", title="Private title", requester_email="ann.private@example.com")
                answer = post(http, payload, secret=secret, headers={"X-Request-ID": "req-7f3a"})
                assert answer.status_code == 202 and answer.headers["x-request-id"] == "req-7f3a"
                link = tracker(env, "link", "acme", "1").strip().splitlines()[-1]
                page = http.get(link, headers={"X-Request-ID": "bad id with spaces"})
                assert page.status_code == 200 and len(page.headers["x-request-id"]) == 32  # ours instead
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(20)
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
    mine = [line["message"] for line in lines if line["request_id"] == "req-7f3a"]
    assert "webhook acme/generic: stored 1 event(s)" in mine
    assert any(m.startswith("POST /hooks/acme/generic 202") for m in mine)
    assert any(line["message"].startswith("GET /c/*** 200") for line in lines)
    text = log_file.read_text()
    token = link.rsplit("/c/", 1)[1]
    for secret_thing in (token, secret, "ann.private", "Private title", "logs-key"):
        assert secret_thing not in text
