"""One live connection for every case on a page: `GET /live?c=TOKEN~SEQ&p=PUBLIC_ID~SEQ`.

A browser allows six HTTP/1.1 connections per site, so a support page with ten cards, each
with a stream of its own, left cards without updates and its lookup form without an answer.
The widget opens this one stream instead. Each `c` (a customer's case link token) and `p` (a
public case id) is one case; `~SEQ`, the last revision the card has shown, is optional: with
it the stream sends only what came after, without it the case as it is now.

Frames carry the case's index in the query (`s`, from 0) and the event the single-case stream
would send (`e`):

    event: case    data: {"s":0,"e":{"seq":7,"case":{...}}}
    event: change  data: {"s":0,"e":{"seq":8,"case":{...},"update":{...}}}
    event: gone    data: {"s":1,"e":{"status":410,"error":"This case link has expired."}}

A case that cannot be followed (a bad or expired link, a case made private, a site the
company does not allow) is `gone`, and the others go on. Frames carry no `id`: the widget
resumes by opening the stream again with each card's revision in the query.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send

from tracker.errors import BadRequest, TrackerError
from tracker.public import View
from tracker.storage.base import CaseHead
from tracker.web.case_data import LiveCase, live_customer_case, live_public_case
from tracker.web.cors import cors_headers
from tracker.web.numbers import whole_number
from tracker.web.state import state_of
from tracker.web.stream import (
    CLOSE,
    MAX_QUEUED_FRAMES,
    PING,
    READ_LIMIT,
    STREAM,
    Guard,
    LiveResponse,
    Outbox,
    Streams,
    Tap,
)

MAX_CASES = 100  # the widget opens another connection beyond this; keeps the URL in bounds
KINDS = {"c": live_customer_case, "p": live_public_case}
NO_LONGER_SHARED = json.dumps({"status": 404, "error": "This case is no longer shared."}).encode()


@dataclass
class Follow:
    """One case of a multiplexed stream: its channel, where the card stands, and the opening
    `case` data when it needs one. Only the case's head: a stream lives long."""

    index: int
    head: CaseHead
    view_name: str
    view: View
    guard: Guard | None
    last: int
    opening: bytes | None

    @classmethod
    async def of(cls, index: int, case: LiveCase, revision: int | None) -> Follow:
        stored = case.stored
        head = CaseHead(stored.key, stored.seq, stored.link_version)
        follow = cls(index, head, case.view_name, case.view, case.guard, stored.seq, None)
        if revision is not None and revision <= stored.seq:
            follow.last = revision
        else:
            opening = {"seq": stored.seq, "case": await case.snapshot()}
            follow.opening = json.dumps(opening, separators=(",", ":"), ensure_ascii=False).encode()
        return follow


def wrapped(event: str, index: int, data: bytes) -> bytes:
    # The event's JSON holds no line break (json.dumps escapes them), so it is one data line.
    return b"event: %s\r\ndata: {\"s\":%d,\"e\":%s}\r\n\r\n" % (event.encode(), index, data)


def wanted(request: Request) -> list[tuple[str, str, int | None]]:
    """(kind, id, revision) for each case in the query, in order; 400 naming the field."""
    found = [(key, value) for key, value in request.query_params.multi_items() if key in KINDS]
    if not found:
        raise BadRequest("Name at least one case: c=LINK_TOKEN or p=PUBLIC_ID, each optionally ~REVISION.")
    if len(found) > MAX_CASES:
        raise BadRequest(f"c, p: at most {MAX_CASES} cases per connection; open another for the rest.")
    cases = []
    for position, (kind, value) in enumerate(found):
        ident, _, revision = value.partition("~")
        if not ident or (revision and not whole_number(revision)):
            raise BadRequest(f"{kind} (case {position}): expected an id, optionally ~ and a whole number, "
                             f"got {value[:40]!r}.")
        cases.append((kind, ident, int(revision) if revision else None))
    return cases


async def live(request: Request) -> Response:
    follows: list[Follow] = []
    gone: list[tuple[int, bytes]] = []
    for index, (kind, ident, revision) in enumerate(wanted(request)):
        try:
            case = await KINDS[kind](request, ident)
            cors_headers(request, case.tenant)  # a company that allows other sites only
        except TrackerError as error:
            gone.append((index, json.dumps({"status": error.status, "error": error.message}).encode()))
            continue
        follows.append(await Follow.of(index, case, revision))
    # Readable from any site: each case above was checked against its company's allowed sites.
    headers = {"Access-Control-Allow-Origin": "*"}
    return MultiplexStream(state_of(request).streams, follows, gone, headers)


class MultiplexStream(LiveResponse):
    """The live changes of many cases on one connection, each marked with its index."""

    def __init__(self, streams: Streams, follows: list[Follow], gone: list[tuple[int, bytes]],
                 headers: Mapping[str, str]) -> None:
        super().__init__(streams, headers, queue_size=MAX_QUEUED_FRAMES + 4 * len(follows))
        self.follows = {follow.index: follow for follow in follows}
        self.gone = gone
        self.taps: dict[int, Tap] = {}

    def _join(self, outbox: Outbox) -> None:
        for index, follow in self.follows.items():
            tap = self.taps[index] = Tap(outbox, index)
            self.streams.join(follow.head, follow.view_name, follow.view, follow.guard, tap)

    def _leave(self, outbox: Outbox) -> None:
        for index, tap in self.taps.items():
            follow = self.follows[index]
            self.streams.leave(follow.head, follow.view_name, tap)

    async def _stop_following(self, send: Send, outbox: Outbox, index: int, data: bytes) -> None:
        if index not in self.follows:
            return  # stopped already: the catch-up found it private while its channel's END was queued
        await self._send(send, outbox, wrapped("gone", index, data))
        follow, tap = self.follows.pop(index, None), self.taps.pop(index, None)
        if follow is not None and tap is not None:
            self.streams.leave(follow.head, follow.view_name, tap)

    async def _pump(self, send: Send, outbox: Outbox) -> bool:
        for index, data in self.gone:
            await self._send(send, outbox, wrapped("gone", index, data))
        for follow in self.follows.values():
            if follow.opening is not None:
                await self._send(send, outbox, wrapped("case", follow.index, follow.opening))
                follow.opening = None
        # Joined before these reads, so the log and the queue overlap rather than leave a gap.
        for follow in list(self.follows.values()):
            while True:
                frames = await self.streams.frames_after(follow.head.key, follow.last, follow.view)
                if frames and follow.guard is not None and not await follow.guard():
                    await self._stop_following(send, outbox, follow.index, NO_LONGER_SHARED)
                    break
                for _, seq, _, data in frames:
                    await self._send(send, outbox, wrapped("change", follow.index, data))
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
                await self._send(send, outbox, frame)  # a ping
            elif seq == CLOSE:
                await self._stop_following(send, outbox, index, NO_LONGER_SHARED)
            elif (following := self.follows.get(index)) is not None and seq != PING and seq > following.last:
                await self._send(send, outbox, wrapped("change", index, data))
                following.last = seq
