"""GET /metrics: the Prometheus text of the app's registry (tracker/metrics.py), to a bearer
token equal to TRACKER_METRICS_TOKEN or, with none set, to clients on this machine only."""

from __future__ import annotations

import hmac
import ipaddress

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from tracker.errors import BearerRequired, Forbidden
from tracker.web.state import state_of


def allowed(request: Request, token: str) -> None:
    """A bearer token equal to TRACKER_METRICS_TOKEN, or (with none set) a client on loopback."""
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise BearerRequired("Send Authorization: Bearer <TRACKER_METRICS_TOKEN>.")
        return
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise Forbidden("Metrics are open to this machine only; set TRACKER_METRICS_TOKEN to read them from elsewhere.")


async def metrics(request: Request) -> Response:
    state = state_of(request)
    allowed(request, state.settings.metrics_token)
    waiting = await state.store.pending_deliveries()
    state.metrics.queue.clear()
    for kind, count in waiting.items():
        state.metrics.queue.labels(kind).set(count)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST,
                    headers={"Cache-Control": "no-store"})
