"""Group commit, for both backends: webhooks wait in one queue, one writer task stores whatever
is waiting in one transaction, and each caller is answered only after its own rows are committed.

A commit per webhook caps ingest at about 2k/s here; a transaction per batch does not. A batch
that fails is retried one delivery at a time, so a bad delivery fails alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tracker.cases import Event
from tracker.storage.base import Appended

log = logging.getLogger("tracker.storage")

MAX_BATCH_EVENTS = 512


@dataclass
class Pending:
    tenant: str
    source: str
    events: list[Event]
    done: asyncio.Future[list[Appended]] = field(repr=False)


Write = Callable[[list[Pending]], Awaitable[list[list[Appended]]]]  # one transaction: results per item


class GroupCommit:
    def __init__(self, write: Write, name: str, after_batch: Callable[[], Awaitable[None]] | None = None) -> None:
        self._write = write
        self._after_batch = after_batch  # runs once a batch is answered, before the next is taken
        self._queue: asyncio.Queue[Pending] = asyncio.Queue()
        self._task = asyncio.create_task(self._loop(), name=name)

    async def submit(self, tenant: str, source: str, events: list[Event]) -> list[Appended]:
        if not events:
            return []
        done: asyncio.Future[list[Appended]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(Pending(tenant, source, events, done))
        return await done

    async def close(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    async def _loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # One turn of the loop first, so webhooks already received join this batch rather
            # than wait for the next (fewer, larger transactions).
            await asyncio.sleep(0)
            size = len(batch[0].events)
            while not self._queue.empty() and size < MAX_BATCH_EVENTS:
                item = self._queue.get_nowait()
                batch.append(item)
                size += len(item.events)
            await self._write_batch(batch)
            if self._after_batch is not None:
                await self._after_batch()

    async def _write_batch(self, batch: list[Pending]) -> None:
        try:
            results = await self._write(batch)
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            # One bad delivery must not fail its neighbours: retry each on its own.
            for item in batch:
                await self._write_batch([item])
            return
        for item, appended in zip(batch, results, strict=True):
            if not item.done.done():
                item.done.set_result(appended)


def _fail(item: Pending, exc: Exception) -> None:
    log.error("could not store a delivery for %s/%s", item.tenant, item.source, exc_info=exc)
    if not item.done.done():
        item.done.set_exception(exc)
