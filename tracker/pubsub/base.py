"""The Hub protocol: tell every subscriber of a case that it has a new event.

A notification carries only the case key and its sequence; storage is the source of truth,
so a subscriber that was dropped (or missed one) catches up by reading the event log.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

MAX_QUEUED = 64  # notifications a subscriber may have waiting before it is dropped


class Subscription:
    """A bounded queue of sequence numbers for one case; `dropped` once it overflowed."""

    __slots__ = ("case_key", "queue", "dropped")

    def __init__(self, case_key: int, max_queued: int = MAX_QUEUED) -> None:
        self.case_key = case_key
        self.queue: asyncio.Queue[int] = asyncio.Queue(max_queued)
        self.dropped = False

    def offer(self, seq: int) -> bool:
        """Queue `seq` without waiting; a full queue drops the subscriber instead of slowing others."""
        try:
            self.queue.put_nowait(seq)
        except asyncio.QueueFull:
            self.dropped = True
            return False
        return True

    def catch_up(self) -> None:
        """Notifications may have been missed (the hub reconnected): the reader must re-read the
        log. Marked like an overflow, and woken with a ping (seq 0) in case it is waiting."""
        self.dropped = True
        with contextlib.suppress(asyncio.QueueFull):  # a full queue: the reader is busy and sees `dropped`
            self.queue.put_nowait(0)


class Hub(Protocol):
    def subscribe(self, case_key: int) -> Subscription: ...
    def unsubscribe(self, subscription: Subscription) -> None: ...
    async def publish(self, case_key: int, seq: int) -> None: ...
    def ready(self) -> bool:
        """Whether other instances' events reach this one now."""
        ...

    async def close(self) -> None: ...
