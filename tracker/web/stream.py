"""Live case streams (SSE): replay from the event log after Last-Event-ID, then live changes.

A lean ASGI stream rather than sse-starlette's response: that one runs four tasks per
connection and leaves reference cycles behind each closed stream, which at 10,000 open
streams means 45 KB each and second-long garbage collections. Here each stream is one
coroutine plus one task waiting for the disconnect, the heartbeat is one timer for all
streams, and every frame is encoded once per process however many streams carry it
(sse-starlette's `ServerSentEvent` still does the wire format).

Flow of one stream:
    subscribe to the case -> `event: case` (or the missed events after Last-Event-ID)
    -> catch up from storage -> wait on the subscription queue: a sequence number means
    "read the log after what I sent", PING sends a comment, CLOSE ends the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from sse_starlette import ServerSentEvent
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tracker.pubsub.base import Hub, Subscription
from tracker.storage.base import Store, StoredCase, StoredEvent

log = logging.getLogger("tracker.stream")

PING = 0  # real sequence numbers start at 1
CLOSE = -1
PING_FRAME = b": ping\r\n\r\n"
RETRY_MS = 3000
READ_LIMIT = 1000  # events per read of the log
Frame = tuple[int, bytes]
View = Callable[[StoredEvent], dict[str, Any]]


def encode(event: str, seq: int, data: dict[str, Any]) -> bytes:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return ServerSentEvent(data=text, event=event, id=str(seq), retry=RETRY_MS).encode()


class Streams:
    """This process's open streams: one heartbeat for all, and event-log reads shared by
    every stream waiting for the same case and sequence."""

    def __init__(self, store: Store, hub: Hub, ping_seconds: float, send_timeout_seconds: float = 10.0) -> None:
        self.store = store
        self.hub = hub
        self.ping_seconds = ping_seconds
        self.send_timeout_seconds = send_timeout_seconds
        self._open: set[Subscription] = set()
        self._reads: dict[tuple[int, int, str], asyncio.Task[list[Frame]]] = {}
        self._heartbeat: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat(), name="tracker-heartbeat")

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        for subscription in list(self._open):
            _wake(subscription, CLOSE)

    @property
    def open_count(self) -> int:
        return len(self._open)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.ping_seconds)
            for subscription in list(self._open):
                _wake(subscription, PING)

    async def frames_after(self, case_key: int, seq: int, view_name: str, view: View) -> list[Frame]:
        key = (case_key, seq, view_name)
        task = self._reads.get(key)
        if task is None:
            task = asyncio.create_task(self._read(case_key, seq, view))
            self._reads[key] = task
            task.add_done_callback(lambda _: self._reads.pop(key, None))
        return await asyncio.shield(task)

    async def _read(self, case_key: int, seq: int, view: View) -> list[Frame]:
        events = await self.store.events_after(case_key, seq, READ_LIMIT)
        return [(e.seq, encode("change", e.seq, view(e))) for e in events]

    def response(
        self, stored: StoredCase, last_event_id: int | None, view_name: str, view: View,
        case_frame: bytes,
    ) -> EventStream:
        return EventStream(self, stored, last_event_id, view_name, view, case_frame)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass  # the (empty) request body of a GET


def _wake(subscription: Subscription, marker: int) -> None:
    # A full queue is a stream that is not reading: it is dropped and its client reconnects.
    subscription.offer(marker)


class EventStream(Response):
    """One SSE response; `case_frame` is the `event: case` frame for a fresh connection."""

    def __init__(
        self, streams: Streams, stored: StoredCase, last_event_id: int | None,
        view_name: str, view: View, case_frame: bytes,
    ) -> None:
        # Not Response.__init__: it would declare Content-Length: 0 for an endless body.
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),  # tells nginx not to buffer the stream
        ]
        self.streams = streams
        self.stored = stored
        self.last_event_id = last_event_id
        self.view_name = view_name
        self.view = view
        self.case_frame = case_frame

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        streams = self.streams
        subscription = streams.hub.subscribe(self.stored.key)
        streams._open.add(subscription)
        disconnect = asyncio.ensure_future(_disconnected(receive))
        disconnect.add_done_callback(lambda _: _wake(subscription, CLOSE))
        try:
            finished = await self._pump(send, subscription)
        except (OSError, TimeoutError):
            finished = False  # the client went away or stopped reading
        finally:
            streams.hub.unsubscribe(subscription)
            streams._open.discard(subscription)
            if not disconnect.done():
                disconnect.cancel()
        if finished:
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b""})

    async def _send(self, send: Send, frame: bytes) -> None:
        async with asyncio.timeout(self.streams.send_timeout_seconds):
            await send({"type": "http.response.body", "body": frame, "more_body": True})

    async def _catch_up(self, send: Send, last: int) -> int:
        """Send the logged events after `last`; one read (shared by every stream of the case)
        unless the log holds more than a read returns."""
        while True:
            frames = await self.streams.frames_after(self.stored.key, last, self.view_name, self.view)
            for seq, frame in frames:
                await self._send(send, frame)
                last = seq
            if len(frames) < READ_LIMIT:
                return last

    async def _pump(self, send: Send, subscription: Subscription) -> bool:
        """Returns True when the stream should be ended politely (server stopping, dropped)."""
        resume = self.last_event_id
        if resume is not None and 0 <= resume <= self.stored.seq:
            last = await self._catch_up(send, resume)
        else:
            await self._send(send, self.case_frame)
            last = await self._catch_up(send, self.stored.seq)
        queue = subscription.queue
        while True:
            if subscription.dropped:
                return True
            item = await queue.get()
            if item == CLOSE:
                return True
            if item == PING:
                await self._send(send, PING_FRAME)
            elif item > last:
                last = await self._catch_up(send, last)
