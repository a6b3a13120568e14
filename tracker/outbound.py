"""Outbound deliveries: the company's own webhook, and write-backs into helpdesk APIs.

Every delivery is queued in storage first (so nothing is lost when the process stops), then sent
by one worker per process: claimed with a lease, so that several instances never send one twice
at once, retried with backoff, and kept as a log that `tracker deliveries` shows and redelivers.

The tenant's webhook is signed the Standard Webhooks way (the scheme tracker itself accepts),
afresh on every attempt, with the same `webhook-id` each time so the receiver can dedupe.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from tracker.clock import Clock
from tracker.errors import DeliveryError
from tracker.helpdesks.writing import TIMEOUT_SECONDS, USER_AGENT
from tracker.standard_webhooks import sign
from tracker.storage.base import Delivery, Store, Tenant

log = logging.getLogger("tracker.outbound")

# Seconds to wait after each failed attempt; after the last, the delivery is marked failed.
BACKOFF_SECONDS = (10.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 3 * 3600.0, 6 * 3600.0)
LEASE_SECONDS = 120.0  # longer than one attempt can take
CLAIM_LIMIT = 50
MAX_ERROR_CHARS = 300


class Later(Exception):
    """Not yet: send this delivery at `at` instead (not a failure: no attempt is counted)."""

    def __init__(self, at: datetime, reason: str) -> None:
        super().__init__(reason)
        self.at = at


# Sends a delivery that is not an HTTP request (kind "mail"); raises DeliveryError or Later.
Sender = Callable[[Delivery], Awaitable[None]]

# Adds credentials to a delivery's request at send time: (delivery, store) -> extra headers.
# One per delivery kind: "webhook" here, "writeback:<source>" for each helpdesk written back to.
Authenticator = Callable[[Delivery, Store], Awaitable[dict[str, str]]]


async def queue_webhook(store: Store, tenant: Tenant, event_type: str, case_key: int | None,
                        data: Mapping[str, Any], now: datetime) -> int | None:
    """Queue a call of the tenant's webhook, if it has one; returns the delivery id."""
    url = tenant.options.get("webhook_url")
    if not url:
        return None
    body = json.dumps({"type": event_type, "timestamp": now.isoformat(), "data": dict(data)})
    return await store.add_delivery(tenant.slug, "webhook", event_type, case_key,
                                    {"method": "POST", "url": url, "body": body})


def webhook_signer(clock: Clock) -> Authenticator:
    """Signs the company's webhooks (Standard Webhooks) with the tenant's secret, stamped by `clock`."""

    async def sign_webhook(delivery: Delivery, store: Store) -> dict[str, str]:
        tenant = await store.get_tenant(delivery.tenant)
        secret = tenant.options.get("webhook_secret") if tenant else None
        if not secret:
            raise DeliveryError(f"tenant '{delivery.tenant}' has no webhook_secret")
        msg_id = f"msg_{delivery.tenant}_{delivery.id}"
        timestamp = int(clock.timestamp())
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, str(delivery.request.get("body", "")).encode()),
        }

    return sign_webhook


class Deliverer:
    """Sends due deliveries: on a poll, and at once when woken after a delivery is queued."""

    def __init__(self, store: Store, clock: Clock, authenticators: Mapping[str, Authenticator] | None = None,
                 poll_seconds: float = 5.0, backoff_seconds: tuple[float, ...] = BACKOFF_SECONDS,
                 timeout_seconds: float = TIMEOUT_SECONDS, allow_private_hosts: bool = False,
                 senders: dict[str, Sender] | None = None,
                 on_outcome: Callable[[str, str], None] | None = None) -> None:
        self.store = store
        self.on_outcome = on_outcome or (lambda kind, outcome: None)  # (kind, delivered | retry | failed)
        self.senders = senders or {}
        self.allow_private_hosts = allow_private_hosts
        self.clock = clock
        self.authenticators: dict[str, Authenticator] = {"webhook": webhook_signer(clock), **(authenticators or {})}
        self.poll_seconds = poll_seconds
        self.backoff_seconds = backoff_seconds
        self.http = httpx.AsyncClient(timeout=timeout_seconds, headers={"User-Agent": USER_AGENT},
                                      follow_redirects=False)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tracker-deliverer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.http.aclose()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("the delivery worker failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()

    async def run_once(self) -> int:
        """Send every delivery due now; returns how many were attempted."""
        due = await self.store.claim_deliveries(self.clock.now(), LEASE_SECONDS, CLAIM_LIMIT)
        await asyncio.gather(*(self.attempt(d) for d in due))
        return len(due)

    async def attempt(self, delivery: Delivery) -> None:
        attempts = delivery.attempts + 1
        try:
            error = await self._send(delivery)
        except Later as later:
            await self.store.finish_delivery(delivery.id, "pending", delivery.attempts, later.at, str(later))
            return
        now = self.clock.now()
        if error is None:
            await self.store.finish_delivery(delivery.id, "delivered", attempts, now, None)
            self.on_outcome(delivery.kind, "delivered")
            log.info("delivered %s %s #%d", delivery.kind, delivery.event_type, delivery.id)
            return
        if attempts > len(self.backoff_seconds):
            await self.store.finish_delivery(delivery.id, "failed", attempts, now, error)
            self.on_outcome(delivery.kind, "failed")
            log.error("gave up on %s %s #%d after %d attempts: %s", delivery.kind, delivery.event_type,
                      delivery.id, attempts, error)
            return
        retry_at = now + timedelta(seconds=self.backoff_seconds[attempts - 1])
        await self.store.finish_delivery(delivery.id, "pending", attempts, retry_at, error)
        self.on_outcome(delivery.kind, "retry")
        log.warning("%s %s #%d failed (%s); retrying at %s", delivery.kind, delivery.event_type, delivery.id,
                    error, retry_at.isoformat())

    async def _send(self, delivery: Delivery) -> str | None:
        """None when the receiver took it (2xx), else what went wrong."""
        sender = self.senders.get(delivery.kind)
        if sender is not None:
            try:
                await sender(delivery)
            except DeliveryError as exc:
                return str(exc)
            except Later:
                raise
            except Exception as exc:  # a bug must not stop the worker: the delivery fails and is retried
                log.exception("sending %s %s #%d failed", delivery.kind, delivery.event_type, delivery.id)
                return f"{type(exc).__name__}"
            return None
        request = delivery.request
        authenticate = self.authenticators.get(delivery.kind)
        try:
            if authenticate is None:
                raise DeliveryError(f"no way to send a delivery of kind {delivery.kind!r}")
            if not self.allow_private_hosts:
                await refuse_private_hosts(str(request["url"]))
            headers = {"Content-Type": "application/json", **await authenticate(delivery, self.store)}
            response = await self.http.request(str(request.get("method", "POST")), str(request["url"]),
                                               content=str(request.get("body", "")).encode(), headers=headers)
        except DeliveryError as exc:
            return str(exc)
        except httpx.TimeoutException:
            return "timed out"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}: {response.text[:MAX_ERROR_CHARS]}"


async def refuse_private_hosts(url: str) -> None:
    """DeliveryError unless every address the URL's host resolves to is a public one: a tenant's
    webhook_url must not make tracker call its own machine, its network or the cloud's metadata
    service (169.254.169.254), nor show what they answer. Checked at send time, since a name's
    addresses change; the operator may allow such hosts (TRACKER_ALLOW_PRIVATE_HOSTS=yes)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return  # the request itself will fail, and say why
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise DeliveryError(f"refused: {host} is at {ip}, a private address; "
                                "an operator can allow such hosts with TRACKER_ALLOW_PRIVATE_HOSTS=yes")


async def redeliver(store: Store, delivery: Delivery, now: datetime) -> None:
    """Send again at once (a failed one, or a delivered one the receiver lost)."""
    await store.finish_delivery(delivery.id, "pending", delivery.attempts, now, delivery.last_error)
