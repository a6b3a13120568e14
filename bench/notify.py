"""Keep me updated: one change to a case with 1,000 subscribers, until every mail is handed to a
local SMTP server (aiosmtpd on loopback), through the real store, outbox and delivery worker.
Beside it, as the bare baseline on the same machine and in the same run, the same number of
mails handed to the same server with aiosmtplib alone (no tracker): the ratio is what tracker's
queueing, rendering and bookkeeping add.

    python bench/notify.py [SUBSCRIBERS]
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tracker` from this checkout

from tracker.admin import add_tenant
from tracker.cases import Event, Update
from tracker.clock import Clock
from tracker.config import Settings
from tracker.notifier import Notifier
from tracker.outbound import Deliverer
from tracker.signing import Signer
from tracker.storage import open_store
from tracker.web.templates import Templates


class Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_for(sink: Sink, count: int) -> None:
    while sink.count < count:  # noqa: ASYNC110 (the sink counts on aiosmtpd's own thread and loop)
        await asyncio.sleep(0.005)


async def bare(port: int, sink: Sink, count: int, concurrency: int) -> float:
    """The same number of small mails sent with aiosmtplib directly, `concurrency` at a time."""
    start = sink.count
    began = time.perf_counter()
    for first in range(0, count, concurrency):
        messages = []
        for n in range(first, min(first + concurrency, count)):
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = "a@example.com", f"s{n}@example.com", "Hi"
            message.set_content("Case 4711 moved on.")
            messages.append(aiosmtplib.send(message, hostname="127.0.0.1", port=port))
        await asyncio.gather(*messages)
    await wait_for(sink, start + count)
    return time.perf_counter() - began


async def tracker_run(port: int, sink: Sink, count: int, folder: str) -> float:
    clock = Clock()
    settings = Settings(database_url=f"sqlite:///{folder}/bench.db", secret_keys=("bench-key-0123456789abcdef",),
                        smtp_url=f"smtp://127.0.0.1:{port}")
    store = await open_store(settings.database_url, clock)
    await add_tenant(store, "acme", "ACME", None)
    [first] = await store.ingest("acme", "generic", [Event("4711", "d0", clock.now(), {"title": "Printer"})])
    for n in range(count):
        subscriber = await store.add_subscriber("acme", first.case_key, "customer", f"s{n}@example.com", "en")
        await store.confirm_subscriber(subscriber.id, first.seq)
    notifier = Notifier(settings, store, Signer(settings.secret_keys, clock), Templates(clock).render, clock)
    deliverer = Deliverer(store, clock, senders={"mail": notifier.send})
    start = sink.count
    began = time.perf_counter()
    update = Update("m1", clock.now(), "We found the cause and are fixing it.", "Dana")
    await store.ingest("acme", "generic", [Event("4711", "d1", clock.now(), {"stage": "in_progress"}, update)])
    while sink.count < start + count:
        if not await deliverer.run_once():
            await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - began
    await deliverer.stop()
    await store.close()
    return elapsed


async def main(count: int) -> None:
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            baseline = await bare(port, sink, count, concurrency=50)  # the deliverer sends 50 at a time too
            elapsed = await tracker_run(port, sink, count, folder)
    finally:
        controller.stop()
    print(f"{count} subscribers, one change: every mail handed to the SMTP server in {elapsed:.2f} s "
          f"({count / elapsed:.0f} mails/s)")
    print(f"bare aiosmtplib, same server, same count: {baseline:.2f} s; ratio tracker/bare: {elapsed / baseline:.2f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
