"""Logs: one line per request and per webhook outcome, each with the request's id, as text or as
one JSON object a line (TRACKER_LOG_FORMAT). uvicorn's own loggers write through the same
handler; its access log is replaced by ours, which masks the signed tokens in paths.

Never in a line: a secret, a token, an address or a case's text. Paths are logged with their
tokens masked; handlers log tenants, sources, outcomes and counts.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("tracker_request_id", default="-")
GIVEN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")  # an X-Request-ID worth keeping: no spaces, quotes or newlines
# The signed parts of a path: a case link, a list link, a subscription, an admin setup token.
TOKEN_IN_PATH = re.compile(r"^/(c|r|n|admin/setup)/[^/]+")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
access = logging.getLogger("tracker.access")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, and the exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                                "logger": record.name, "message": record.getMessage(),
                                "request_id": getattr(record, "request_id", "-")}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(log_format: str, level: int = logging.INFO) -> None:
    """The root logger's one handler, in the chosen format; uvicorn's loggers write through it."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per outbound request says too much


def masked_path(path: str) -> str:
    return TOKEN_IN_PATH.sub(lambda m: f"/{m.group(1)}/***", path)


class RequestLog:
    """Gives each request an id (the caller's X-Request-ID when it is a sane one), answers it in
    X-Request-ID, and logs one line when the request ends: method, masked path, status, time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if GIVEN_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access.info("%s %s %d %.1f ms", scope["method"], masked_path(scope["path"]), status or 500,
                        (time.perf_counter() - started) * 1000)
            request_id.reset(token)
