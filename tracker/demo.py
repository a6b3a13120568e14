"""`tracker demo`: the real service plus a simulated helpdesk that posts signed webhooks to it.

The simulator goes through the real webhook path (HTTP, signature, storage, live streams),
so what a visitor sees is exactly what a connected helpdesk would produce. Each story also
sends internal notes, which must never show up on the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from html import escape
from typing import Any

import httpx
import uvicorn
from aiosmtpd.controller import Controller
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from tracker.admin import add_source
from tracker.app import create_app
from tracker.clock import Clock
from tracker.config import Settings
from tracker.sealing import Sealer
from tracker.serving import server_config
from tracker.signing import Signer, case_url, load_keys
from tracker.standard_webhooks import sign
from tracker.storage import open_store
from tracker.storage.base import StoredCase, Tenant

TENANT = "demo"

Step = dict[str, Any]


def hours(now: datetime, n: float) -> str:
    return (now + timedelta(hours=n)).isoformat(timespec="minutes")


def invoice_story(now: datetime) -> list[Step]:
    return [
        {"case": {"title": "Invoice export fails", "stage": "received", "waiting_on": "company",
                  "status_label": "New", "progress": 5, "requester_email": "ann@example.com",
                  "next_steps": [{"text": "Support reproduces the problem", "owner": "company"}]},
         "message": {"body": "Thanks for the report, Ann. We are looking into it now.", "author": "Dana"}},
        {"message": {"body": "INTERNAL: customer is on the legacy plan, check shard 7.", "public": False,
                     "author": "Dana"}},
        {"case": {"stage": "in_progress", "status_label": "Investigating", "progress": 30,
                  "expected_by": hours(now, 3),
                  "next_steps": [{"text": "Engineering reproduces the bug", "owner": "company"}]},
         "message": {"body": "I have escalated this to our Engineering team.", "author": "Dana"}},
        {"case": {"waiting_on": "customer", "status_label": "Waiting for your file", "progress": 40,
                  "next_steps": [{"text": "Engineering reproduces the bug", "owner": "company", "done": True},
                                 {"text": "Send us the exported CSV file", "owner": "customer"}]},
         "message": {"body": "Could you reply with the CSV file the export produced?", "author": "Dana"}},
        {"case": {"waiting_on": "company", "status_label": "Fix in progress", "progress": 70,
                  "expected_by": hours(now, 1),
                  "next_steps": [{"text": "Send us the exported CSV file", "owner": "customer", "done": True},
                                 {"text": "Deploy the fix", "owner": "company"}]},
         "message": {"body": "Thanks, the file helped: we found the bug. A fix is on its way.", "author": "Lee"}},
        {"case": {"stage": "resolved", "status_label": "Fixed", "progress": 100, "expected_by": None,
                  "next_steps": [{"text": "Deploy the fix", "owner": "company", "done": True},
                                 {"text": "Try the export again", "owner": "customer"}]},
         "message": {"body": "The fix is live. Please try the export again.", "author": "Lee"}},
        {"case": {"stage": "in_progress", "waiting_on": "company", "status_label": "Reopened",
                  "progress": 20, "expected_by": hours(now, 4), "next_steps": []},
         "message": {"body": "(Demo) The story starts again from here.", "author": "Dana"}},
    ]


def login_story(now: datetime) -> list[Step]:
    return [
        {"case": {"title": "Cannot sign in with single sign-on", "stage": "in_progress",
                  "waiting_on": "third_party", "status_label": "Waiting on identity provider",
                  "expected_by": hours(now, 6), "progress": 25,
                  "next_steps": [{"text": "Identity provider confirms the certificate", "owner": "third_party"},
                                 {"text": "We renew the SAML certificate", "owner": "company"}]},
         "message": {"body": "Your identity provider has to confirm a new certificate; we asked them.",
                     "author": "Sam"}},
        {"message": {"body": "INTERNAL: IdP ticket #99812, contact is on holiday.", "public": False}},
        {"case": {"expected_by": hours(now, 30), "expected_reason": "the identity provider needs another day"},
         "message": {"body": "The identity provider needs one more day to confirm; we will keep you posted.",
                     "author": "Sam"}},
        {"case": {"waiting_on": "company", "status_label": "Renewing certificate", "progress": 60,
                  "next_steps": [{"text": "Identity provider confirms the certificate", "owner": "third_party",
                                  "done": True},
                                 {"text": "We renew the SAML certificate", "owner": "company"}]},
         "message": {"body": "The identity provider confirmed. We are renewing the certificate.", "author": "Sam"}},
        {"case": {"stage": "resolved", "status_label": "Solved", "progress": 100, "expected_by": None,
                  "next_steps": []},
         "message": {"body": "Single sign-on works again.", "author": "Sam"}},
        {"case": {"stage": "in_progress", "waiting_on": "third_party", "status_label": "Reopened",
                  "progress": 25, "expected_by": hours(now, 6)},
         "message": {"body": "(Demo) The story starts again from here.", "author": "Sam"}},
    ]


STORIES = {"4711": invoice_story, "4712": login_story}


def signed_request(secret: str, payload: dict[str, Any], clock: Clock) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    msg_id, timestamp = f"msg_{uuid.uuid4().hex}", int(clock.timestamp())
    return body, {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def payload_for(case_id: str, step: Step, now: datetime) -> dict[str, Any]:
    message = step.get("message")
    payload: dict[str, Any] = {
        "type": "case.updated",
        "occurred_at": now.isoformat(),
        "case": {"id": case_id, **step.get("case", {})},
    }
    if message is not None:
        payload["message"] = {"id": f"m-{uuid.uuid4().hex[:12]}", "public": True, **message}
    return payload


def schedule(now: datetime) -> Iterator[tuple[str, Step]]:
    """Round robin over the cases; each story loops, its last step reopening the case."""
    stories = {case_id: itertools.cycle(make(now)) for case_id, make in STORIES.items()}
    while True:
        for case_id, story in stories.items():
            yield case_id, next(story)


async def prepare(settings: Settings, clock: Clock) -> str:
    """The demo tenant and its generic source; returns the source's secret."""
    store = await open_store(settings.database_url, clock)
    try:
        await store.add_tenant(Tenant(TENANT, "Demo Support", "default"))
        sealer = Sealer(await load_keys(settings.secret_keys, store))
        existing = await store.get_source(TENANT, "generic")
        if existing is not None:
            return sealer.open(existing.secret)
        return (await add_source(store, TENANT, "generic", None, sealer=sealer)).secret
    finally:
        await store.close()


async def simulate(hook_url: str, secret: str, steps: Iterator[tuple[str, Step]], count: int | None,
                   interval_seconds: float, clock: Clock) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        for n, (case_id, step) in enumerate(steps):
            if count is not None and n >= count:
                return
            body, headers = signed_request(secret, payload_for(case_id, step, clock.now()), clock)
            response = await client.post(hook_url, content=body, headers=headers)
            response.raise_for_status()
            if count is None:
                await asyncio.sleep(interval_seconds)


class DemoMailbox:
    """The demo's own SMTP server on loopback (aiosmtpd) and a page listing what it received, so
    that "Keep me updated" can be tried without any mail setup."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.controller: Controller | None = None

    def start(self, host: str) -> str:
        """Starts the server; returns its TRACKER_SMTP_URL."""
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        self.controller = Controller(self, hostname=host, port=port)
        self.controller.start()
        return f"smtp://{host}:{port}"

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"

    async def page(self, request: Request) -> Response:
        items = []
        for mail in reversed(self.messages):
            part = mail.get_body(preferencelist=("plain",))
            text = part.get_content() if part is not None else ""
            items.append(f"<li><p><strong>{escape(str(mail['Subject']))}</strong><br>to {escape(str(mail['To']))}, "
                         f"{escape(str(mail['Date']))}</p><pre>{escape(text)}</pre></li>")
        body = "".join(items) or "<li>Nothing yet: subscribe on a case page (Keep me updated).</li>"
        html = (f"<!doctype html><html lang=en><meta charset=utf-8><title>Demo mailbox</title>"
                f"<h1>Demo mailbox</h1><p>The mails tracker sent, newest first.</p><ol>{body}</ol></html>")
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})


async def run(settings: Settings, interval_seconds: float) -> None:
    clock = settings.clock()
    secret = await prepare(settings, clock)
    mailbox = DemoMailbox()
    if not settings.smtp_url:
        settings = replace(settings, smtp_url=mailbox.start(settings.host))
    app = create_app(settings, clock)
    app.add_route("/demo/mailbox", mailbox.page)
    server = uvicorn.Server(server_config(app, settings.host, settings.port, log_level="warning",
                                          timeout_graceful_shutdown=2))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # the server could not start (port taken?): raise its error
            return
        await asyncio.sleep(0.05)
    hook_url = f"http://{settings.host}:{settings.port}/hooks/{TENANT}/generic"
    steps = schedule(clock.now())
    # The first step of every story, so each case exists before its link is printed.
    await simulate(hook_url, secret, steps, len(STORIES), interval_seconds, clock)
    signer = Signer(await load_keys(settings.secret_keys, app.state.store), clock)
    print(f"tracker demo is running at {settings.base_url} (Ctrl+C stops it).")
    if mailbox.controller is not None:
        print(f"Mails it sends (Keep me updated on a case page) arrive here: {settings.base_url}/demo/mailbox")
    print("Open a case and watch it change every few seconds:")
    for case_id in STORIES:
        stored: StoredCase | None = await app.state.store.get_case(TENANT, "generic", case_id)
        assert stored is not None
        print(f"  case {case_id}: {case_url(settings.base_url, signer, stored)}", flush=True)
    feeding = asyncio.create_task(simulate(hook_url, secret, steps, None, interval_seconds, clock))
    try:
        await serving
    finally:
        mailbox.stop()
        feeding.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await feeding
