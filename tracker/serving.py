"""How tracker runs under uvicorn: its HTTP/1.1 protocol with the two time bounds it lacks.

uvicorn holds a connection whose request head never ends for as long as the client likes
(300 such connections held a server's descriptors with none closed after 30 s), and closes a
connection politely even when its client has stopped reading, so a live stream that tracker
ends for stalling keeps its socket until the client goes. Here:

- a request head must arrive whole within `head_seconds` of its first byte (or of the
  connection, for the first request), else the connection is closed;
- a connection closed while data still waits for its client is aborted `abort_seconds` later
  if the client has not taken it by then.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_SECONDS = 10.0
ABORT_SECONDS = 10.0


class AbortingTransport:
    """A transport whose close() turns into abort() when the client never takes what is left."""

    def __init__(self, transport: asyncio.Transport, abort_seconds: float) -> None:
        self._transport = transport
        self._abort_seconds = abort_seconds

    def close(self) -> None:
        transport = self._transport
        transport.close()
        if transport.get_write_buffer_size() > 0:
            asyncio.get_running_loop().call_later(self._abort_seconds, transport.abort)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    head_seconds = HEAD_SECONDS
    abort_seconds = ABORT_SECONDS
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(AbortingTransport(transport, self.abort_seconds))  # type: ignore[arg-type]
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:
            self._start_head_timer()

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        super().on_headers_complete()

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_seconds, self._head_too_slow)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def bounded_protocol(head_seconds: float = HEAD_SECONDS,
                     abort_seconds: float = ABORT_SECONDS) -> type[BoundedHttpToolsProtocol]:
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,),
                {"head_seconds": head_seconds, "abort_seconds": abort_seconds})


def server_config(app: Any, host: str, port: int, head_seconds: float = HEAD_SECONDS,
                  abort_seconds: float = ABORT_SECONDS, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, http=bounded_protocol(head_seconds, abort_seconds), **options)


class GracefulServer(uvicorn.Server):
    """`tracker serve`'s server. On SIGTERM uvicorn stops accepting and lets the requests in flight
    finish (a webhook is answered only once stored, so none acknowledged is lost); but a live
    stream never finishes by itself, and would hold the shutdown to its time limit. So the streams
    are ended first, politely: their clients reconnect at once (to another instance, behind a
    balancer) and resume where they were."""

    async def shutdown(self, sockets: Any = None) -> None:
        state = getattr(self.config.app, "state", None)
        streams = getattr(state, "streams", None)
        if streams is not None:
            await streams.stop()
        await super().shutdown(sockets)
