"""Live case streams (SSE): replay from the event log after Last-Event-ID, then live changes.

A lean ASGI stream rather than sse-starlette's response: that one runs four tasks per
connection and leaves reference cycles behind each closed stream, which at 10,000 open
streams means 45 KB each and second-long garbage collections. sse-starlette's
`ServerSentEvent` still does the wire format.

Flow, per process:
    one Channel per (case, view) with open streams: it subscribes to the hub once, and on
    each notification reads the log once, encodes each new event once, and puts the frame
    into every listener's bounded queue (a full queue drops that stream; its client resumes
    with Last-Event-ID).
    one heartbeat task puts a ping into every queue.
    each stream: join its channel -> `event: case` (or the events after Last-Event-ID, read
    from the log) -> send what its queue brings, skipping what it has sent already.

A page with many cards holds one multiplexed stream instead (`web/live.py`): its queue listens
to many channels, each through a `Tap` that marks the frames with the card's index.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

from sse_starlette import ServerSentEvent
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tracker.public import View
from tracker.pubsub.base import Hub
from tracker.storage.base import CaseHead, Store

log = logging.getLogger("tracker.stream")

# The send callable beneath the routing layers, set by the outermost middleware (cors.Preflight):
# each frame would otherwise pass through two more wrappers (a context variable, not the scope:
# the scope holding it would make a reference cycle with uvicorn's connection).
raw_send: contextvars.ContextVar[Send] = contextvars.ContextVar("tracker_raw_send")

PING = 0  # real sequence numbers start at 1
CLOSE = -1
RETRY_MS = 3000
READ_LIMIT = 1000  # events per read of the log
READ_RETRY_MIN_SECONDS, READ_RETRY_MAX_SECONDS = 0.1, 5.0
MAX_QUEUED_FRAMES = 64
# The heartbeat pings a thirtieth of the streams at a time, each once per ping_seconds: pinging
# all at once (a write each) held the loop for 0.3-1 s at 20,000 streams, and delayed every
# update that came meanwhile by as much.
PING_SLICES = 30
# (listener, seq, SSE frame, its JSON data): the listener is a multiplexed stream's index of
# the case (-1: the stream itself, as for pings and the end); the data is what a multiplexed
# stream wraps, so that each event is encoded once for every kind of stream.
Frame = tuple[int, int, bytes, bytes]
STREAM = -1
PING_FRAME: Frame = (STREAM, PING, b": ping\r\n\r\n", b"")
END: Frame = (STREAM, CLOSE, b"", b"")
# Asked on every notification: False ends the channel's streams (a case made private again).
Guard = Callable[[], Awaitable[bool]]
# What the streams of a problem's linked cases are sent when it moves: the data of a `problem`
# frame for an audience ("customer", "public"), from the problem's key; None: nothing to show.
ProblemData = Callable[[int, str], Awaitable[dict[str, Any] | None]]
ProblemFollow = tuple[int, str]  # the linked problem's key, and the audience its frames are for


def encode(event: str, seq: int, data: dict[str, Any]) -> bytes:
    return frame_of(event, seq, data)[2]


def frame_of(event: str, seq: int, data: dict[str, Any], listener: int = STREAM) -> Frame:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    sse = ServerSentEvent(data=text, event=event, id=str(seq), retry=RETRY_MS).encode()
    return (listener, seq, sse, text.encode())


class FrameQueue:
    """The part of asyncio.Queue a stream uses, for its one reader, in a third of the memory: an
    asyncio.Queue holds three deques (about 760 B each), and every open stream holds a queue."""

    __slots__ = ("_frames", "_size", "_waiter")

    def __init__(self, size: int) -> None:
        self._frames: collections.deque[Frame] = collections.deque()
        self._size = size
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, frame: Frame) -> bool:
        """False when full (the frame is not taken)."""
        if len(self._frames) >= self._size:
            return False
        self._frames.append(frame)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        return True

    async def get(self) -> Frame:
        while not self._frames:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._frames.popleft()


class Outbox:
    """One stream's bounded queue of frames, when its current send started (0: idle), and which
    of the heartbeat's slices it is in."""

    __slots__ = ("queue", "dropped", "task", "sending_since", "stalled", "ping_slice")

    def __init__(self, size: int = MAX_QUEUED_FRAMES, ping_slice: int = 0) -> None:
        self.ping_slice = ping_slice
        self.queue = FrameQueue(size)
        self.dropped = False
        self.task = asyncio.current_task()
        self.sending_since = 0.0
        self.stalled = False

    def put(self, frame: Frame) -> None:
        if not self.queue.put_nowait(frame):
            self.dropped = True  # a stream that is not reading; it sees this on its next get


class Tap:
    """How a channel reaches a multiplexed stream: the frames marked with the case's index."""

    __slots__ = ("outbox", "index")

    def __init__(self, outbox: Outbox, index: int) -> None:
        self.outbox = outbox
        self.index = index

    def put(self, frame: Frame) -> None:
        self.outbox.put((self.index, *frame[1:]))


class Listener(Protocol):
    """An outbox, or a multiplexed stream's way into one."""

    def put(self, frame: Frame) -> None: ...


class Channel:
    """The streams of one case and view in this process, fed by one reader."""

    def __init__(self, streams: Streams, case_key: int, view: View, start_seq: int, guard: Guard | None) -> None:
        self.streams = streams
        self.case_key = case_key
        self.view = view
        self.guard = guard
        self.listeners: set[Listener] = set()
        self.last_seq = start_seq
        self.closed = False
        self.subscription = streams.hub.subscribe(case_key)
        self.task = asyncio.create_task(self._feed(), name=f"tracker-channel-{case_key}")

    def close(self) -> None:
        # Ended by a marker rather than cancelled: a cancelled task leaves reference cycles.
        self.closed = True
        self.subscription.offer(CLOSE)

    async def _feed(self) -> None:
        hub = self.streams.hub
        try:
            while not self.closed:
                await self._read_new()  # anything committed before this subscription
                while not (self.subscription.dropped or self.closed):
                    seq = await self.subscription.queue.get()
                    if seq != CLOSE and not await self._still_open():
                        for listener in self.listeners:
                            listener.put(END)
                    elif seq > self.last_seq:
                        await self._read_new()
                if self.subscription.dropped and not self.closed:
                    hub.unsubscribe(self.subscription)
                    self.subscription = hub.subscribe(self.case_key)
        finally:
            hub.unsubscribe(self.subscription)

    async def _still_open(self) -> bool:
        if self.guard is None:
            return True
        try:
            return await self.guard()
        except Exception:
            log.exception("could not check whether case %s may still be streamed", self.case_key)
            return True

    async def _read_new(self) -> None:
        # A failed read is tried again until it succeeds: after a database restart the hub asks
        # every channel to catch up, and a read that failed then (a pool's stale connection)
        # would otherwise leave the streams behind until the case's next event, maybe never.
        retry_in = READ_RETRY_MIN_SECONDS
        while not self.closed:
            try:
                events = await self.streams.store.events_after(self.case_key, self.last_seq, READ_LIMIT)
            except Exception as exc:
                log.warning("could not read the event log of case %s (%s); trying again in %.1f s",
                            self.case_key, exc, retry_in)
                await asyncio.sleep(retry_in)
                retry_in = min(retry_in * 2, READ_RETRY_MAX_SECONDS)
                continue
            for event in events:
                frame = frame_of("change", event.seq, self.view(event))
                for listener in self.listeners:
                    listener.put(frame)
                self.last_seq = event.seq
            if len(events) < READ_LIMIT:
                return


class ProblemChannel:
    """The streams in this process of the cases linked to one problem, for one audience: each
    move of the problem is one `problem` frame, rendered once for all of them. Writing the
    problem's snapshot into each linked case (`problems.Problems`) takes a write and a read per
    case; the frame reaches thousands of linked cases as fast as one case's change reaches its
    streams, and the snapshots follow as the cases' own changes."""

    def __init__(self, streams: Streams, problem_key: int, audience: str) -> None:
        self.streams = streams
        self.problem_key = problem_key
        self.audience = audience
        self.listeners: set[Listener] = set()
        self.closed = False
        self.frame: Frame | None = None  # the latest sent, for streams that join later
        self.subscription = streams.hub.subscribe(problem_key)
        # A first frame at once: a move between a stream's opening view and its joining is not lost.
        self.subscription.offer(PING)
        self.task = asyncio.create_task(self._feed(), name=f"tracker-problem-{problem_key}")

    def close(self) -> None:
        self.closed = True
        self.subscription.offer(CLOSE)

    async def _feed(self) -> None:
        hub = self.streams.hub
        sent = b""
        try:
            while not self.closed:
                await self.subscription.queue.get()
                if self.closed:
                    break
                if self.subscription.dropped:  # missed notifications: the frame below is current anyway
                    hub.unsubscribe(self.subscription)
                    self.subscription = hub.subscribe(self.problem_key)
                try:
                    data = await self.streams.problem_data(self.problem_key, self.audience)
                except Exception:
                    log.exception("could not read problem %s for its linked cases' streams", self.problem_key)
                    continue
                text = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
                if data is None or text == sent:
                    continue  # a move its customers do not see (an internal note on the problem, say)
                sent = text
                frame = self.frame = (STREAM, PING, b"event: problem\r\ndata: %s\r\n\r\n" % text, text)
                for listener in self.listeners:
                    listener.put(frame)
        finally:
            hub.unsubscribe(self.subscription)


async def _no_problems(problem_key: int, audience: str) -> None:
    return None


AnyChannel = TypeVar("AnyChannel", Channel, ProblemChannel)


def _leave(channels: dict[tuple[int, str], AnyChannel], key: tuple[int, str], listener: Listener) -> None:
    """The listener leaves its channel, which closes when it was the last."""
    channel = channels.get(key)
    if channel is None:
        return
    channel.listeners.discard(listener)
    if not channel.listeners:
        del channels[key]
        channel.close()


class Streams:
    """This process's open streams: their channels and one heartbeat for all."""

    def __init__(self, store: Store, hub: Hub, ping_seconds: float, send_timeout_seconds: float = 10.0,
                 problem_data: ProblemData = _no_problems) -> None:
        self.store = store
        self.hub = hub
        self.ping_seconds = ping_seconds
        self.send_timeout_seconds = send_timeout_seconds
        self.problem_data = problem_data
        self._channels: dict[tuple[int, str], Channel] = {}
        self._problem_channels: dict[tuple[int, str], ProblemChannel] = {}
        self._outboxes: set[Outbox] = set()
        self._opened = 0  # streams opened so far: deals them into the heartbeat's slices in turn
        self._heartbeat: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat(), name="tracker-heartbeat")

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        for outbox in self._outboxes:
            outbox.put(END)
        for channel in self._channels.values():
            channel.close()
        for problem_channel in self._problem_channels.values():
            problem_channel.close()
        self._channels.clear()
        self._problem_channels.clear()

    @property
    def open_count(self) -> int:
        return len(self._outboxes)

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        ping_slice = 0
        while True:
            await asyncio.sleep(self.ping_seconds / PING_SLICES)
            ping_slice = (ping_slice + 1) % PING_SLICES
            stalled_before = loop.time() - self.send_timeout_seconds
            for outbox in [outbox for outbox in self._outboxes if outbox.ping_slice == ping_slice]:
                if 0 < outbox.sending_since < stalled_before and outbox.task is not None:
                    # A client that stopped reading: its send would wait forever.
                    outbox.stalled = True
                    outbox.task.cancel()
                else:
                    outbox.put(PING_FRAME)

    def open(self, size: int = MAX_QUEUED_FRAMES) -> Outbox:
        """A stream's queue, which the heartbeat pings (and cancels when its client stalls)."""
        outbox = Outbox(size, self._opened % PING_SLICES)
        self._opened += 1
        self._outboxes.add(outbox)
        return outbox

    def close(self, outbox: Outbox) -> None:
        self._outboxes.discard(outbox)

    def join(self, stored: CaseHead, view_name: str, view: View, guard: Guard | None, listener: Listener) -> None:
        key = (stored.key, view_name)
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = Channel(self, stored.key, view, stored.seq, guard)
        channel.listeners.add(listener)

    def leave(self, stored: CaseHead, view_name: str, listener: Listener) -> None:
        _leave(self._channels, (stored.key, view_name), listener)

    def join_problem(self, problem_key: int, audience: str, listener: Listener) -> None:
        key = (problem_key, audience)
        channel = self._problem_channels.get(key)
        if channel is None:
            channel = self._problem_channels[key] = ProblemChannel(self, problem_key, audience)
        elif channel.frame is not None:
            listener.put(channel.frame)  # it may be newer than the stream's opening view; clients skip what is not
        channel.listeners.add(listener)

    def leave_problem(self, problem_key: int, audience: str, listener: Listener) -> None:
        _leave(self._problem_channels, (problem_key, audience), listener)

    async def frames_after(self, case_key: int, seq: int, view: View) -> list[Frame]:
        events = await self.store.events_after(case_key, seq, READ_LIMIT)
        return [frame_of("change", e.seq, view(e)) for e in events]

    def response(
        self, stored: CaseHead, last_event_id: int | None, view_name: str, view: View,
        case_frame: bytes, headers: Mapping[str, str] | None = None, guard: Guard | None = None,
        problem: ProblemFollow | None = None,
    ) -> EventStream:
        return EventStream(self, stored, last_event_id, view_name, view, case_frame, headers or {}, guard, problem)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass  # the (empty) request body of a GET


class LiveResponse(Response):
    """An endless SSE response fed by an outbox: subclasses say which channels it listens to
    and what it sends."""

    def __init__(self, streams: Streams, headers: Mapping[str, str], queue_size: int = MAX_QUEUED_FRAMES) -> None:
        # Not Response.__init__: it would declare Content-Length: 0 for an endless body.
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),  # tells nginx not to buffer the stream
            *[(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        ]
        self.streams = streams
        self.queue_size = queue_size

    def _join(self, outbox: Outbox) -> None:
        raise NotImplementedError

    def _leave(self, outbox: Outbox) -> None:
        raise NotImplementedError

    async def _pump(self, send: Send, outbox: Outbox) -> bool:
        """Returns True when the stream should be ended politely (server stopping, dropped)."""
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        streams = self.streams
        outbox = streams.open(self.queue_size)
        self._join(outbox)
        disconnect = asyncio.ensure_future(_disconnected(receive))
        disconnect.add_done_callback(lambda _: outbox.put(END))
        # Frames go out from a task of their own, straight to the send beneath the routing
        # layers: resuming this task would resume every middleware's coroutine above it, and
        # each frame would pass through two more send wrappers (together, at 1,000 streams,
        # about a third of the cost of a frame).
        pump = outbox.task = asyncio.ensure_future(self._pump(raw_send.get(send), outbox))
        try:
            finished = await pump
        except OSError:
            finished = False  # the client went away
        except asyncio.CancelledError:
            pump.cancel()
            if not outbox.stalled or asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise
            finished = False  # our own cancel of a stalled stream, not a shutdown
        finally:
            self._leave(outbox)
            streams.close(outbox)
            if not disconnect.done():
                disconnect.cancel()
        if finished:
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _send(send: Send, outbox: Outbox, frame: bytes) -> None:
        # The heartbeat cancels a send that takes longer than send_timeout_seconds; a timer
        # per send would cost more than the send itself at thousands of streams.
        outbox.sending_since = asyncio.get_running_loop().time()
        await send({"type": "http.response.body", "body": frame, "more_body": True})
        outbox.sending_since = 0.0


class EventStream(LiveResponse):
    """The SSE stream of one case; `case_frame` is the `event: case` frame for a fresh connection."""

    def __init__(
        self, streams: Streams, stored: CaseHead, last_event_id: int | None,
        view_name: str, view: View, case_frame: bytes, headers: Mapping[str, str], guard: Guard | None,
        problem: ProblemFollow | None = None,
    ) -> None:
        super().__init__(streams, headers)
        self.guard = guard
        self.problem = problem
        # Only the case's key and revision: a stream lives long, and the whole case is not needed.
        self.stored = stored
        self.last_event_id = last_event_id
        self.view_name = view_name
        self.view = view
        self.case_frame = case_frame

    def _join(self, outbox: Outbox) -> None:
        self.streams.join(self.stored, self.view_name, self.view, self.guard, outbox)
        if self.problem is not None:
            self.streams.join_problem(*self.problem, outbox)

    def _leave(self, outbox: Outbox) -> None:
        self.streams.leave(self.stored, self.view_name, outbox)
        if self.problem is not None:
            self.streams.leave_problem(*self.problem, outbox)

    async def _pump(self, send: Send, outbox: Outbox) -> bool:
        resume = self.last_event_id
        if resume is not None and 0 <= resume <= self.stored.seq:
            last = resume
        else:
            await self._send(send, outbox, self.case_frame)
            last = self.stored.seq
        self.case_frame = b""  # sent (or not needed): not kept for the stream's life
        # Joined before this read, so the log and the queue overlap rather than leave a gap.
        while True:
            frames = await self.streams.frames_after(self.stored.key, last, self.view)
            if frames and self.guard is not None and not await self.guard():
                return True  # made private since the stream opened
            for _, seq, frame, _ in frames:
                await self._send(send, outbox, frame)
                last = seq
            if len(frames) < READ_LIMIT:
                break
        queue = outbox.queue
        while True:
            _, seq, frame, _ = await queue.get()
            if seq == CLOSE or outbox.dropped:
                return True
            if seq == PING or seq > last:
                await self._send(send, outbox, frame)
                last = max(last, seq)
