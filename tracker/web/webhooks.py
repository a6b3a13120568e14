"""POST /hooks/{tenant}/{source}: size cap -> verify -> parse -> store -> publish -> 202.

A case's first delivery also queues the write-back of its link into the helpdesk (writeback/).
A delivery that stores nothing (refused, a duplicate, nothing for a case in it) leaves a receipt
saying why, for `tracker received` and GET /api/v1/received; a stored one shows in its case."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import replace
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from tracker import helpdesks
from tracker.cases import Event
from tracker.errors import BadRequest, ConfigError, NotFound, PayloadTooLarge, TrackerError, Unauthorized
from tracker.helpdesks.base import DeliveryHeaders
from tracker.storage.base import Receipt
from tracker.web.my_cases import announce_new_cases
from tracker.web.state import state_of
from tracker.writeback.queue import queue_new_case_links

log = logging.getLogger("tracker.webhooks")
MAX_DETAIL_CHARS = 300
IGNORED = ("acknowledged; nothing in it for a case (a ping, or an event type or object tracker does not use: "
           "see the source's page in docs/sources)")
# Where helpdesks name a delivery's kind, to say which one was not used: headers first, then fields.
EVENT_TYPE_HEADERS = ("x-github-event", "x-gitlab-event", "x-event-key")
EVENT_TYPE_FIELDS = ("webhookEvent", "topic", "event_type", "event", "type")


async def receive_webhook(request: Request) -> Response:
    """The webhook, and its outcome kept when it stored nothing (`tracker received` says why)."""
    tenant, name = request.path_params["tenant"], request.path_params["source"]
    metrics = state_of(request).metrics
    label = name if name in helpdesks.SOURCES else "unknown"  # a metric's labels stay few
    started = time.perf_counter()
    try:
        response, stored, events, kind = await store_webhook(request)
    except TrackerError as error:
        log.info("webhook %s/%s: refused, %d", tenant, label, error.status)  # the reason is in `tracker received`
        metrics.webhooks.labels(label, "refused").inc()
        await keep_receipt(request, tenant, name, "refused", error.status, error.message)
        raise
    log.info("webhook %s/%s: %s", tenant, label, f"stored {stored} event(s)" if stored else
             "nothing for a case in it" if not events else "a duplicate")
    if stored:
        metrics.webhooks.labels(label, "stored").inc()
        metrics.events.labels(label).inc(stored)
        metrics.webhook_seconds.labels(label).observe(time.perf_counter() - started)
    elif not events:
        metrics.webhooks.labels(label, "ignored").inc()
        why = f"acknowledged; event type {kind!r} has nothing tracker uses (see docs/sources/{label}.md)"
        await keep_receipt(request, tenant, name, "ignored", response.status_code, why if kind else IGNORED)
    else:
        metrics.webhooks.labels(label, "duplicate").inc()
        await keep_receipt(request, tenant, name, "duplicate", response.status_code,
                           f"{len(events)} event(s) stored before (a retry of delivery {events[0].delivery_id[:80]})",
                           events[0].delivery_id)
    return response


async def keep_receipt(request: Request, tenant: str, source: str, outcome: str, status: int, detail: str,
                       delivery_id: str = "") -> None:
    state = state_of(request)
    store = state.store
    if state.receipts_limit.retry_after(f"{tenant}\n{source}\n{outcome}\n{status}"):
        return  # one a second per tenant, source, outcome and status: a flood of refusals is no flood of writes
    if await store.get_tenant(tenant) is None:
        return  # whose would it be? The 404 says what exists.
    receipt = Receipt(tenant, source[:40], state_of(request).clock.now(), outcome, status, detail[:MAX_DETAIL_CHARS],
                      delivery_id[:200])
    try:
        await store.add_receipt(receipt)
    except Exception:  # the answer to the helpdesk matters more than this log
        log.exception("could not keep the receipt of a webhook to %s/%s", tenant, source)


def event_type(payload: Any, headers: DeliveryHeaders) -> str:
    """The delivery's kind as its helpdesk names it ("ping", "jira:issue_deleted"), or ""."""
    for name in EVENT_TYPE_HEADERS:
        value = headers.get(name)
        if value:
            return value[:80]
    for field in EVENT_TYPE_FIELDS:
        value = payload.get(field) if isinstance(payload, dict) else None
        if isinstance(value, str) and value:
            return value[:80]
    return ""


async def store_webhook(request: Request) -> tuple[Response, int, list[Event], str]:
    """The webhook stored: the answer, how many events were new, the events, and (when it had
    none) the kind of delivery it was."""
    store = state_of(request).store
    hub = state_of(request).hub
    settings = state_of(request).settings
    tenant, name = request.path_params["tenant"], request.path_params["source"]
    source = helpdesks.get(name)
    config = await store.get_source(tenant, name)
    if config is None:
        if await store.get_tenant(tenant) is None:
            raise NotFound(f"Unknown tenant '{tenant}'. Create it with `tracker tenant add {tenant}`.")
        connected = ", ".join(await store.list_sources(tenant)) or "none"
        raise NotFound(f"Source '{name}' is not connected for tenant '{tenant}' (connected: {connected}). "
                       f"Connect it with `tracker source add {tenant} {name}`.")
    body = await read_body(request, settings.max_body_bytes)
    now = state_of(request).clock.now()
    query = request.url.query
    public_url = settings.base_url + request.url.path + (f"?{query}" if query else "")
    headers = DeliveryHeaders(request.headers, "POST", public_url)
    try:
        secret = state_of(request).sealer.open(config.secret)
    except ConfigError as exc:  # the keys were replaced: the helpdesk hears why, the log too
        raise Unauthorized(str(exc)) from None
    source.verify(headers, body, secret, now)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}.") from None
    events = with_delivery_ids(source.parse(payload, headers, config.options, received_at=now), body)
    appended = await store.ingest(tenant, name, events)
    for item in appended:
        await hub.publish(item.case_key, item.seq)
    await announce_new_cases(store, hub, appended)  # to the open lists of their requesters
    linked = await queue_new_case_links(store, state_of(request).signer, settings.base_url, config, events, appended,
                                        payload)
    nudged = await state_of(request).nudger.after_ingest(config, [item.case_key for item in appended], payload)
    if linked or nudged or any(item.wake for item in appended):  # (wake: a linked problem moved)
        state_of(request).deliverer.wake()
    # News mails the ingest queued go with the deliverer's next poll (within seconds): waking it
    # for every webhook would add a claim query to the ingest's hot path.
    answer = {"ok": True, "stored": len(appended), "duplicates": len(events) - len(appended)}
    # 202 unless the helpdesk counts only a 200 as delivered (Zoho Desk says so).
    status = getattr(source, "ANSWER_STATUS", 202)
    response = Response(orjson.dumps(answer), status_code=status, media_type="application/json")
    return response, len(appended), events, "" if events else event_type(payload, headers)


def with_delivery_ids(events: list[Event], body: bytes) -> list[Event]:
    """Sources without a delivery id get a stable hash of the body, so a retry is a duplicate."""
    if all(e.delivery_id for e in events):
        return events
    digest = hashlib.sha256(body).hexdigest()
    return [e if e.delivery_id else replace(e, delivery_id=f"sha256:{digest}:{i}") for i, e in enumerate(events)]


async def read_body(request: Request, max_body_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
        raise too_large(max_body_bytes, f"{declared} bytes")
    chunks: list[bytes] = []
    size = 0
    more_body = True
    while more_body:  # from receive() itself: Request.stream()'s generator cost more than the read
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk, more_body = message.get("body", b""), message.get("more_body", False)
        size += len(chunk)
        if size > max_body_bytes:
            raise too_large(max_body_bytes, f"over {max_body_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(limit: int, size: str) -> PayloadTooLarge:
    return PayloadTooLarge(f"Body is {size}; the limit is {limit} bytes (TRACKER_MAX_BODY_BYTES).")
