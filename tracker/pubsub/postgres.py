"""PostgreSQL hub: LISTEN/NOTIFY, so every instance hears every other instance's new events.

`publish` sends `pg_notify(CHANNEL, "case_key:seq")`: one sender task takes every publish
waiting and sends them with one statement (webhooks arrive together, and a statement per event
would cost the database more than the events themselves). One dedicated connection (not from a
pool) LISTENs and hands each notification to this process's subscribers of that case, as the
in-process hub does.

NOTIFY is fire-and-forget: whatever is sent while the listening connection is down is lost.
So when that connection goes away (a server restart, a failover, a network cut found by a
periodic check) the hub reconnects with backoff, LISTENs again, and then tells every open
subscription to catch up from the event log, which is the source of truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from tracker.pubsub.base import Subscription
from tracker.pubsub.memory import MemoryHub

CHANNEL = "tracker_events"
CONNECT_TIMEOUT_SECONDS = 5.0
CHECK_SECONDS = 30.0  # an idle listener is checked this often (a silently cut connection sends no EOF)
RECONNECT_MIN_SECONDS, RECONNECT_MAX_SECONDS = 0.1, 2.0
PUBLISH_ATTEMPTS = 2
MAX_BATCH_NOTIFICATIONS = 1000
NOTIFY = "SELECT pg_notify($1, payload) FROM unnest($2::text[]) WITH ORDINALITY AS n (payload, i) ORDER BY i"
CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

log = logging.getLogger("tracker.pubsub")


class PostgresHub:
    def __init__(self, url: str, pool: Any) -> None:
        self._url = url
        self._pool = pool  # for the sender
        self._outgoing: asyncio.Queue[tuple[str, asyncio.Future[None]]] = asyncio.Queue()
        self._sender = asyncio.create_task(self._send_loop(), name="tracker-pg-notify")
        self._local = MemoryHub()  # this process's subscribers, by case
        self._listener: Any = None  # the LISTEN connection
        self._lost = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.reconnects = 0

    @classmethod
    async def open(cls, url: str) -> PostgresHub:
        pool = await asyncpg.create_pool(url, min_size=0, max_size=1, timeout=CONNECT_TIMEOUT_SECONDS)
        hub = cls(url, pool)
        try:
            await hub._listen()
        except BaseException:
            await hub.close()
            raise
        hub._task = asyncio.create_task(hub._keep_listening(), name="tracker-pg-listener")
        return hub

    def ready(self) -> bool:
        listener = self._listener
        return listener is not None and not listener.is_closed() and not self._lost.is_set()

    # --- local subscriptions: the in-process hub's ---

    def subscribe(self, case_key: int) -> Subscription:
        return self._local.subscribe(case_key)

    def unsubscribe(self, subscription: Subscription) -> None:
        self._local.unsubscribe(subscription)

    # --- across instances ---

    async def publish(self, case_key: int, seq: int) -> None:
        """Tell every instance; returns once sent. The event is stored already, so a failure is logged,
        not raised: a database that cannot take a NOTIFY has cut the listeners too, and they catch up."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outgoing.put_nowait((f"{case_key}:{seq}", done))
        await done

    async def _send_loop(self) -> None:
        while True:
            batch = [await self._outgoing.get()]
            while not self._outgoing.empty() and len(batch) < MAX_BATCH_NOTIFICATIONS:
                batch.append(self._outgoing.get_nowait())
            await self._send([payload for payload, _ in batch])
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _send(self, payloads: list[str]) -> None:
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):  # a second try on a fresh connection
            try:
                await self._pool.execute(NOTIFY, CHANNEL, payloads)
                return
            except CONNECTION_ERRORS as exc:
                if attempt == PUBLISH_ATTEMPTS:
                    log.warning("could not publish %d event(s) (%s): %s", len(payloads), ", ".join(payloads[:5]), exc)

    def _on_notification(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        key, _, seq = payload.partition(":")
        try:
            self._local.deliver(int(key), int(seq))
        except ValueError:
            log.warning("ignored a notification on %s that is not 'case_key:seq': %r", channel, payload)

    def _on_terminated(self, connection: Any) -> None:
        if not self._closing and connection is self._listener:
            self._lost.set()

    async def _listen(self) -> None:
        connection = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT_SECONDS)
        try:
            connection.add_termination_listener(self._on_terminated)
            await connection.add_listener(CHANNEL, self._on_notification)
        except BaseException:
            connection.remove_termination_listener(self._on_terminated)
            await _close(connection)
            raise
        self._listener = connection
        self._lost.clear()
        if connection.is_closed():  # lost before the termination listener was in place
            self._lost.set()

    async def _keep_listening(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._lost.wait(), CHECK_SECONDS)
            except TimeoutError:
                if await self._alive():
                    continue
            log.warning("lost the LISTEN connection to PostgreSQL; reconnecting")
            await self._drop_listener()
            delay = RECONNECT_MIN_SECONDS
            while True:
                try:
                    await self._listen()
                    break
                except Exception as exc:  # whatever it is, keep trying: without a listener nothing is live
                    log.info("PostgreSQL not reachable yet (%s); next try in %.1f s", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RECONNECT_MAX_SECONDS)
            self.reconnects += 1
            log.warning("listening again; every open stream catches up from the event log")
            self._local.catch_up_all()

    async def _alive(self) -> bool:
        try:
            await self._listener.fetchval("SELECT 1", timeout=CONNECT_TIMEOUT_SECONDS)
        except CONNECTION_ERRORS:
            return False
        return True

    async def _drop_listener(self) -> None:
        connection, self._listener = self._listener, None
        if connection is not None:
            connection.remove_termination_listener(self._on_terminated)
            await _close(connection)

    async def close(self) -> None:
        self._closing = True
        for task in (self._task, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._drop_listener()
        await self._pool.close()
        await self._local.close()


async def _close(connection: Any) -> None:
    """Close politely if the server still answers, else just drop the socket."""
    if connection.is_closed():
        return
    try:
        await asyncio.wait_for(connection.close(), 1.0)
    except CONNECTION_ERRORS:
        connection.terminate()
