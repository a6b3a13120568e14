"""GET /metrics: Prometheus' text format, read back with the client library's own parser; the
counters move with the webhooks, streams and deliveries they count; and only the token's holder
(or, with none set, this machine) reads them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from tests.conftest import SECRET, LiveServer, _setup_acme, generic_payload, post
from tracker.app import create_app
from tracker.clock import Clock
from tracker.config import Settings
from tracker.signing import case_url

TOKEN = "metrics-token-0123456789"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_count_what_happens(settings: Settings, clock: Clock):
    app = create_app(replace(settings, metrics_token=TOKEN), clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.portal.call(_setup_acme, app)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        post(client, generic_payload("1", title="Printer"))
        post(client, generic_payload("1", stage="in_progress"))
        post(client, generic_payload("2"), secret="whsec_" + "B" * 32)  # refused
        found = samples(client.get("/metrics", headers=auth).text)
        webhooks = {labels: value for (name, labels), value in found.items() if name == "tracker_webhooks_total"}
        assert webhooks[(("outcome", "stored"), ("source", "generic"))] == 2
        assert webhooks[(("outcome", "refused"), ("source", "generic"))] == 1
        assert found[("tracker_events_stored_total", (("source", "generic"),))] == 2
        assert found[("tracker_webhook_seconds_count", (("source", "generic"),))] == 2
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert SECRET not in client.get("/metrics", headers=auth).text


def test_without_a_token_only_this_machine_reads_them(settings: Settings, clock: Clock):
    app = create_app(settings, clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/metrics").status_code == 403  # the test client is not on loopback
    with LiveServer(create_app(settings, clock), settings.port) as live:
        live.call(_setup_acme(live.app))
        with httpx.Client(base_url=live.url, timeout=10) as http:
            post(http, generic_payload("1", title="Printer"))
            case = live.call(live.app.state.store.get_case("acme", "generic", "1"))
            link = case_url("", live.app.state.signer, case)
            with http.stream("GET", link + "/events") as stream:
                lines = stream.iter_lines()  # kept: closing the iterator would close the stream
                next(line for line in lines if line.startswith("data:"))
                with httpx.Client(base_url=live.url, timeout=10) as other:
                    answer = other.get("/metrics")
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
            assert samples(answer.text)[("tracker_open_streams", ())] == 1


def test_outbound_deliveries_are_counted_by_kind_and_outcome(client: TestClient, monkeypatch: Any):
    """The deliverer reports each outcome; a failing one retries, then gives up."""
    from tracker.outbound import Deliverer

    outcomes: list[tuple[str, str]] = []
    store = client.app.state.store  # type: ignore[attr-defined]
    clock = client.app.state.clock  # type: ignore[attr-defined]

    async def failing(delivery: Any) -> None:
        from tracker.errors import DeliveryError
        raise DeliveryError("the receiver said no")

    deliverer = Deliverer(store, clock, backoff_seconds=(0.0,), senders={"test": failing},
                          on_outcome=lambda kind, outcome: outcomes.append((kind, outcome)))
    client.portal.call(store.add_delivery, "acme", "test", "test.event", None, {})
    assert client.portal.call(store.pending_deliveries) == {"test": 1}
    client.portal.call(deliverer.run_once)
    client.portal.call(deliverer.run_once)
    assert outcomes == [("test", "retry"), ("test", "failed")]
    assert client.portal.call(store.pending_deliveries) == {}
    client.portal.call(deliverer.stop)
