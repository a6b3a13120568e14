"""Nothing lost, nothing twice but the one in flight: `tracker serve` killed with SIGKILL while
it hands a news mail to the SMTP server sends that mail after it starts again (the outbox row
outlived the process), and sends it at most twice."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from aiosmtpd.controller import Controller

from tests.clock_of_suite import CLOCK_OFFSET_DAYS, suite_clock
from tests.conftest import SECRET, free_port, generic_payload
from tests.mailbox import Mailbox, text_of
from tracker.clock import Clock
from tracker.demo import signed_request

KEY = "crash-key-0123456789abcdef"


class StallingMailbox(Mailbox):
    """Keeps every mail; holds its answer to the one whose subject says `stall_on` until released,
    so that tracker is killed while that mail is in flight."""

    def __init__(self, stall_on: str) -> None:
        super().__init__()
        self.stall_on = stall_on
        self.in_flight = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if self.stall_on in self.messages[-1]["Subject"] and not self.in_flight.is_set():
            self.in_flight.set()
            while not self.release.is_set():  # noqa: ASYNC110 (released from the test's thread)
                await asyncio.sleep(0.05)
        return answer


def serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    server = subprocess.Popen([sys.executable, "-m", "tracker", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server
        except httpx.TransportError:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "tracker serve did not start"
            time.sleep(0.1)


def tracker(env: dict[str, str], *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "tracker", *args], env=env, capture_output=True, text=True,
                          check=True, timeout=60).stdout


def test_a_mail_in_flight_when_the_server_is_killed_is_sent_after_the_restart(tmp_path: Path):
    box = StallingMailbox(stall_on="In progress")
    smtp_port, port = free_port(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    env = {**os.environ, "TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 'crash.db'}", "TRACKER_SECRET_KEYS": KEY,
           "TRACKER_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}", "TRACKER_BASE_URL": f"http://127.0.0.1:{port}"}
    tracker(env, "tenant", "add", "acme", "--name", "ACME Support")
    tracker(env, "source", "add", "acme", "generic", "--secret", SECRET)
    hook = f"http://127.0.0.1:{port}/hooks/acme/generic"
    clock = suite_clock()

    def deliver(payload: dict[str, Any], at: Clock = clock) -> None:
        body, headers = signed_request(SECRET, payload, at)
        assert httpx.post(hook, content=body, headers=headers, timeout=10).status_code == 202

    server = serve(env, port)
    try:
        deliver(generic_payload(title="Printer", stage="received"))
        link = tracker(env, "link", "acme", "4711").strip().splitlines()[-1]
        assert httpx.post(link + "/subscriptions", data={"email": "ann@example.com"}, timeout=10).status_code == 202
        [manage] = re.findall(r"https?://\S+/n/\S+", text_of(box.wait_for(1)[0]))
        httpx.post(manage, data={"action": "confirm"}, timeout=10)
        deliver({**generic_payload(stage="in_progress"), "message": {"id": "m1", "body": "On it.", "public": True}})
        assert box.in_flight.wait(20), "the news mail never reached the SMTP server"
        server.send_signal(signal.SIGKILL)  # while the server waits for the SMTP answer
        server.wait(10)
        if server.stderr:
            server.stderr.close()
        box.release.set()
        # Back a day later (the clock is an input): the dead process's leases have run out.
        later = {**env, "TRACKER_CLOCK_OFFSET_DAYS": str(CLOCK_OFFSET_DAYS + 1)}
        server = serve(later, port)
        news = [m for m in box.wait_for(3, seconds=30)[1:] if "In progress" in m["Subject"]]
        time.sleep(1)  # anything more would come now
        copies = [m for m in box.messages if "In progress" in m["Subject"]]
        assert news and 1 <= len(copies) <= 2  # the one in flight may go twice, no more
        assert "On it." in text_of(copies[-1]) and f"{urlsplit(link).netloc}/c/" in text_of(copies[-1])
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(15)
        if server.stderr:
            server.stderr.close()
        controller.stop()
