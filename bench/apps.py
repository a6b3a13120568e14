"""ASGI app factories for the benchmarks: tracker itself, a bare Starlette baseline, a bare SSE broadcaster."""

from __future__ import annotations

import asyncio
import gc
import os
from typing import Any

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

App = Any  # an ASGI callable


def tune_gc() -> None:
    # Same as `tracker serve` (tracker/cli.py), applied to every app so comparisons are fair.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def with_gc_endpoint(app: App) -> App:
    """Wrap `app` with GET /_bench/gc -> "<gc.collect() now> <collected by automatic runs since the last call>".

    The second number matters: with a 50,000 threshold an automatic collection may already have
    freed the garbage we are looking for."""
    seen = [0]

    def auto_collected() -> int:
        total = sum(generation["collected"] for generation in gc.get_stats())
        since, seen[0] = total - seen[0], total
        return since

    async def wrapper(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/_bench/gc":
            auto = auto_collected()
            now = gc.collect()
            auto_collected()  # so the next call counts from here
            body = f"{now} {auto}".encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return wrapper


def _maybe_gc_endpoint(app: App) -> App:
    return with_gc_endpoint(app) if os.environ.get("BENCH_GC_ENDPOINT") == "1" else app


def tracker_app() -> App:
    from tracker.app import create_app
    from tracker.config import Settings

    tune_gc()
    return _maybe_gc_endpoint(create_app(Settings.from_env(os.environ)))


def bare_app() -> App:
    async def ok(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    tune_gc()
    return _maybe_gc_endpoint(Starlette(routes=[Route("/", ok, methods=["GET", "POST"])]))


def bare_sse_app() -> App:
    """GET /events: an initial event, then every published frame; POST /publish: body -> one frame to all."""
    queues: set[asyncio.Queue[bytes | None]] = set()
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-store")]

    async def events(receive: Any, send: Any) -> None:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        queues.add(queue)
        # Like tracker: one task per stream waits for the disconnect (after the request body).
        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            queue.put_nowait(None)
        watcher = asyncio.ensure_future(watch())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            frame: bytes | None = b"event: hello\r\ndata: {}\r\n\r\n"
            while frame is not None:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                frame = await queue.get()
        except OSError:
            pass
        finally:
            queues.discard(queue)
            watcher.cancel()

    async def publish(receive: Any, send: Any) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        frame = b"event: change\r\ndata: " + body + b"\r\n\r\n"
        for queue in queues:
            queue.put_nowait(frame)
        await send({"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        elif scope["path"] == "/events":
            await events(receive, send)
        elif scope["path"] == "/publish" and scope["method"] == "POST":
            await publish(receive, send)
        else:
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})

    tune_gc()
    return _maybe_gc_endpoint(app)

