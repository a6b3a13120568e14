"""A real HTTP receiver on loopback for outbound calls: it answers from a script of behaviours
(a status, or "hang" to time the caller out) and records every request it got."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG_SECONDS = 3.0


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    script: list[int | str]  # consumed first to last; once empty, 200
    requests: list[Received] = field(default_factory=list)
    replies: dict[str, Any] = field(default_factory=dict)  # path -> JSON body answered with 2xx


@contextmanager
def receiver(*script: int | str) -> Iterator[Receiver]:
    state = Receiver("", list(script))

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.requests.append(Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                           body))
            behaviour = state.script.pop(0) if state.script else 200
            if behaviour == "hang":
                time.sleep(HANG_SECONDS)
                behaviour = 200
            reply = json.dumps(state.replies.get(self.path, {"ok": True})).encode()
            self.send_response(int(behaviour))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_POST = do_PUT = do_PATCH = do_GET = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
