"""Many cases on one connection: the framing and the stream behind `GET /live` (the endpoint is
`web/page_stream.py`), `/r/{token}/events` and `/s/{tenant}/events`.

Frames carry where the case stands in the request (`s`, from 0; a member of a list also `k`,
its place in the list's `list` frame) and the event the single-case stream would send (`e`):

    event: case    data: {"s":0,"e":{"seq":7,"case":{...}}}
    event: change  data: {"s":0,"e":{"seq":8,"case":{...},"update":{...}}}
    event: list    data: {"s":2,"e":{"items":[...]}}
    event: change  data: {"s":2,"k":5,"e":{"seq":3,"case":{...}}}
    event: added   data: {"s":2,"e":{}}
    event: gone    data: {"s":1,"e":{"status":410,"error":"This case link has expired."}}
    event: problem data: {"s":0,"e":{"problem":{...},"resolves":false,"asks":true}}

A `problem` frame says that the problem a case is linked to moved, ahead of the case's own
change that carries it (see `ProblemChannel`).

A case that cannot be followed (a bad or expired link, a case made private, a site the
company does not allow) is `gone`, and the others go on. Frames carry no `id`: the widget
resumes by opening the stream again with each card's revision in the query.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import Send

from tracker.public import View
from tracker.pubsub.base import Hub, Subscription
from tracker.storage.base import CaseHead, Tenant
from tracker.web.case_data import LiveCase
from tracker.web.stream import (
    CLOSE,
    MAX_QUEUED_FRAMES,
    PING,
    READ_LIMIT,
    STREAM,
    Frame,
    Guard,
    LiveResponse,
    Outbox,
    ProblemFollow,
    Streams,
    Tap,
)

NO_LONGER_SHARED = json.dumps({"status": 404, "error": "This case is no longer shared."}).encode()


@dataclass
class Follow:
    """One case of a multiplexed stream: its channel, where the card stands, and the opening
    `case` data when it needs one. Only the case's head: a stream lives long."""

    index: int
    label: bytes
    head: CaseHead
    view_name: str
    view: View
    guard: Guard | None
    last: int
    opening: bytes | None
    problem: ProblemFollow | None = None

    @classmethod
    async def of(cls, index: int, case: LiveCase, revision: int | None, label: bytes | None = None) -> Follow:
        """`index` is unique on the stream; `label` is what its frames say (the index by default)."""
        head = case.head
        follow = cls(index, label or labelled(index), head, case.view_name, case.view, case.guard, head.seq, None,
                     case.problem)
        if revision is not None and revision <= head.seq:
            follow.last = revision
        else:
            follow.opening = compact_json({"seq": head.seq, "case": await case.snapshot()})
        return follow


@dataclass
class Group:
    """A list followed as one entry of a stream (a customer's cases, a status page): its items
    as the `list` frame shows them, a LiveCase for each member that moves, and the pub/sub
    channel that says the list itself grew (None when it cannot)."""

    tenant: Tenant
    items: list[dict[str, Any]]
    members: list[tuple[int, LiveCase]]  # (place in items, the case)
    channel: int | None


def labelled(index: int, member: int | None = None) -> bytes:
    return b'"s":%d' % index if member is None else b'"s":%d,"k":%d' % (index, member)


def wrapped(event: str, label: bytes, data: bytes) -> bytes:
    # The event's JSON holds no line break (json.dumps escapes them), so it is one data line.
    return b"event: %s\r\ndata: {%s,\"e\":%s}\r\n\r\n" % (event.encode(), label, data)


def compact_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class ProblemTap:
    """How a problem channel reaches a multiplexed stream: its frame labelled with the card's place."""

    __slots__ = ("outbox", "label")

    def __init__(self, outbox: Outbox, label: bytes) -> None:
        self.outbox = outbox
        self.label = label

    def put(self, frame: Frame) -> None:
        self.outbox.put((STREAM, PING, wrapped("problem", self.label, frame[3]), b""))


class MultiplexStream(LiveResponse):
    """The live changes of many cases on one connection, each frame labelled with where its
    case stands in the request. `openings` go first (a list's `list` frame); a message on one
    of `channels` (pub/sub keys, through `hub`) sends that channel's frame as it is."""

    def __init__(self, streams: Streams, follows: list[Follow], gone: list[tuple[bytes, bytes]],
                 headers: Mapping[str, str], openings: Sequence[bytes] = (),
                 channels: Sequence[tuple[int, bytes]] = (), hub: Hub | None = None) -> None:
        super().__init__(streams, headers, queue_size=MAX_QUEUED_FRAMES + 4 * len(follows))
        self.follows = {follow.index: follow for follow in follows}
        self.gone = gone
        self.openings = openings
        self.channels = channels
        self.hub = hub
        self.taps: dict[int, Tap] = {}
        self.problem_taps: dict[int, ProblemTap] = {}
        self.forwarding: list[tuple[Subscription, asyncio.Future[None]]] = []

    def _join(self, outbox: Outbox) -> None:
        for index, follow in self.follows.items():
            tap = self.taps[index] = Tap(outbox, index)
            self.streams.join(follow.head, follow.view_name, follow.view, follow.guard, tap)
            if follow.problem is not None:
                problem_tap = self.problem_taps[index] = ProblemTap(outbox, follow.label)
                self.streams.join_problem(*follow.problem, problem_tap)
        for channel, frame in self.channels:
            assert self.hub is not None, "channels need the hub"
            subscription = self.hub.subscribe(channel)
            self.forwarding.append((subscription, asyncio.ensure_future(forward(subscription, outbox, frame))))

    def _leave(self, outbox: Outbox) -> None:
        for subscription, forwarding in self.forwarding:
            forwarding.cancel()
            self.hub.unsubscribe(subscription)  # type: ignore[union-attr]
        for index, tap in self.taps.items():
            follow = self.follows[index]
            self.streams.leave(follow.head, follow.view_name, tap)
            self._leave_problem(follow)

    def _leave_problem(self, follow: Follow) -> None:
        problem_tap = self.problem_taps.pop(follow.index, None)
        if problem_tap is not None and follow.problem is not None:
            self.streams.leave_problem(*follow.problem, problem_tap)

    async def _stop_following(self, send: Send, outbox: Outbox, index: int, data: bytes) -> None:
        follow = self.follows.pop(index, None)
        if follow is None:
            return  # stopped already: the catch-up found it private while its channel's END was queued
        await self._send(send, outbox, wrapped("gone", follow.label, data))
        tap = self.taps.pop(index, None)
        if tap is not None:
            self.streams.leave(follow.head, follow.view_name, tap)
        self._leave_problem(follow)

    async def _pump(self, send: Send, outbox: Outbox) -> bool:
        for label, data in self.gone:
            await self._send(send, outbox, wrapped("gone", label, data))
        for frame in self.openings:
            await self._send(send, outbox, frame)
        for follow in self.follows.values():
            if follow.opening is not None:
                await self._send(send, outbox, wrapped("case", follow.label, follow.opening))
                follow.opening = None
        # Joined before these reads, so the log and the queue overlap rather than leave a gap.
        for follow in list(self.follows.values()):
            while True:
                frames = await self.streams.frames_after(follow.head.key, follow.last, follow.view)
                if frames and follow.guard is not None and not await follow.guard():
                    await self._stop_following(send, outbox, follow.index, NO_LONGER_SHARED)
                    break
                for _, seq, _, data in frames:
                    await self._send(send, outbox, wrapped("change", follow.label, data))
                    follow.last = seq
                if len(frames) < READ_LIMIT:
                    break
            await asyncio.sleep(0)  # many cases: let other requests in between
        queue = outbox.queue
        while True:
            index, seq, frame, data = await queue.get()
            if outbox.dropped or (index == STREAM and seq == CLOSE):
                return True
            if index == STREAM:
                await self._send(send, outbox, frame)  # a ping, or a channel's frame
            elif seq == CLOSE:
                await self._stop_following(send, outbox, index, NO_LONGER_SHARED)
            elif (following := self.follows.get(index)) is not None and seq != PING and seq > following.last:
                await self._send(send, outbox, wrapped("change", following.label, data))
                following.last = seq


async def forward(subscription: Subscription, outbox: Outbox, frame: bytes) -> None:
    while True:
        await subscription.queue.get()
        outbox.put((STREAM, PING, frame, b""))  # sent as it is, as pings are
