"""Prometheus metrics, through the official client library, in a registry of the app's own (two
apps in one process, as in the tests, never count into each other). Labels never name a tenant
or a case: a source, an outcome, a kind of delivery.

`GET /metrics` answers a bearer token equal to TRACKER_METRICS_TOKEN; with none set, only clients
on this machine (loopback) may read it.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from tracker.errors import BearerRequired, Forbidden
from tracker.web.state import state_of

# Seconds to answer a webhook: verify, parse, commit, publish. The group commit puts most near 5-20 ms.
WEBHOOK_BUCKETS = (0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.webhooks = Counter("tracker_webhooks", "Inbound webhook deliveries, by outcome (stored, duplicate, "
                                "ignored, refused)", ["source", "outcome"], registry=registry)
        self.webhook_seconds = Histogram("tracker_webhook_seconds", "Time to answer a webhook that was stored",
                                         ["source"], buckets=WEBHOOK_BUCKETS, registry=registry)
        self.events = Counter("tracker_events_stored", "Events stored from webhooks", ["source"], registry=registry)
        self.deliveries = Counter("tracker_outbound_deliveries", "Outbound deliveries (the company's webhook, "
                                  "write-backs, mails, notifications, problem fan-outs) by kind and outcome "
                                  "(delivered, retry, failed)", ["kind", "outcome"], registry=registry)
        self.open_streams = Gauge("tracker_open_streams", "Live streams open on this instance", registry=registry)
        self.queue = Gauge("tracker_outbound_queue", "Outbound deliveries waiting, by kind", ["kind"],
                           registry=registry)

    def delivery_outcome(self, kind: str, outcome: str) -> None:
        self.deliveries.labels(kind, outcome).inc()

    def count_streams(self, count: Callable[[], int]) -> None:
        self.open_streams.set_function(lambda: float(count()))


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
