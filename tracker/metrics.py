"""Prometheus metrics, through the official client library, in a registry of the app's own (two
apps in one process, as in the tests, never count into each other). Labels never name a tenant
or a case: a source, an outcome, a kind of delivery.

`GET /metrics` (web/metrics_page.py) serves them.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
