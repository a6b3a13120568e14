"""A job that runs every `interval_seconds` in the background of each instance (the quiet watch,
retention), from a random moment of its first interval: instances started together would
otherwise all run it at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

log = logging.getLogger("tracker.periodic")


class Periodic:
    name = "tracker-periodic"

    def __init__(self, interval_seconds: float) -> None:
        self.interval_seconds = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        await asyncio.sleep(random.uniform(0, self.interval_seconds))
        while True:
            try:
                await self.tick()
            except Exception:  # the next run tries again
                log.exception("%s failed", self.name)
            await asyncio.sleep(self.interval_seconds)
