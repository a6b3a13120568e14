"""The case as JSON and as a live stream: the page's data and nothing more."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tracker.public import case_view, event_view
from tracker.web.case_link import open_case_link
from tracker.web.stream import Streams, encode


async def case_json(request: Request) -> Response:
    stored, _ = await open_case_link(request)
    return JSONResponse(case_view(stored.case, stored.seq), headers={"Cache-Control": "private, no-cache"})


async def case_events(request: Request) -> Response:
    streams: Streams = request.app.state.streams
    stored, _ = await open_case_link(request)
    view = case_view(stored.case, stored.seq)
    return streams.response(
        stored, last_event_id(request), "customer", event_view,
        case_frame=encode("case", stored.seq, {"seq": stored.seq, "case": view}),
    )


def last_event_id(request: Request) -> int | None:
    """The header on a reconnect, or the query parameter: a browser cannot set the header
    on its first connection."""
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw)
