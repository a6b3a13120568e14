"""The mails and browser notifications of "Keep me updated": the confirmation a new e-mail
subscriber gets, and a case's news.

Both are deliveries of kind "mail" in the outbox (storage's deliveries): news is queued in the
transaction that stores the event, a confirmation when someone subscribes. The deliverer hands
each to `Notifier.send`, which reads the subscriber and the case as they are *now*: a mail that
waited tells of everything since the subscriber's last one, and a subscriber who left gets
nothing. At most one news mail per `notify_digest_minutes`: a mail due sooner waits (`Later`),
unless the news is that it is now the customer's move. A subscriber on a device (Web Push,
`tracker.push`) gets the same news, told shorter, and no confirmation: the browser's own
permission prompt was theirs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from tracker import mail, push
from tracker.cases import OPEN_STAGES
from tracker.clock import Clock
from tracker.config import Settings
from tracker.errors import DeliveryError
from tracker.outbound import Later
from tracker.policy import policy_of
from tracker.problem_followers import PROBLEM, follower_view, moved
from tracker.public import case_view, public_case_view, public_update, update_view
from tracker.push import PushSubscription, SubscriptionGone, Vapid
from tracker.requester_links import sign_list_link
from tracker.signing import Signer, case_url
from tracker.storage.base import Delivery, Store, StoredCase, Subscriber, Tenant
from tracker.tenant_options import option_value

CONFIRM = "subscription.confirm"
NEWS = "case.news"
GONE_QUIET = "case.gone_quiet"  # queued by the quiet watch
LINKS = "requester.links"  # "e-mail me links to all my cases"
LINKS_DAYS = 30  # how long the list link in that mail works
MAX_EVENTS_PER_MAIL = 1000
CLAIM_SECONDS = 120.0  # as long as a delivery's lease: a worker that died lets go by then
BUSY_RETRY_SECONDS = 1.0
FAN_OUT = 50  # a case's mails handed to the SMTP server at once
MAX_LOCKS = 10_000
MAX_PUSH_TITLE_CHARS = 120
MAX_PUSH_BODY_CHARS = 400  # what a notification shows; the whole payload stays far below 4 KB
Render = Callable[..., str]  # Templates.render: (theme, template, language, **context) -> text


def mail_offered(settings: Settings, tenant: Tenant | None) -> bool:
    """Whether a case of this tenant offers "Keep me updated" by e-mail."""
    return bool(settings.smtp_url) and tenant is not None and "email" in option_value(tenant.options, "notify")


def push_offered(tenant: Tenant | None) -> bool:
    """Whether a case of this tenant offers "Notify me on this device" (Web Push)."""
    return tenant is not None and "push" in option_value(tenant.options, "notify")


class Notifier:
    def __init__(self, settings: Settings, store: Store, signer: Signer, render: Render, clock: Clock,
                 vapid: Vapid | None = None) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._client: httpx.AsyncClient | None = None
        self.vapid = vapid
        self.settings = settings
        self.store = store
        self.signer = signer
        self.render = render
        self.clock = clock
        self.domain = urlsplit(settings.base_url).hostname or "localhost"
        self.sender = settings.mail_from or f"tracker@{self.domain}"

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def send(self, delivery: Delivery) -> None:
        if "requester" in delivery.request:
            await self._links(delivery.tenant, str(delivery.request["requester"]), str(delivery.request["language"]))
        elif "case" in delivery.request:  # a case's news: one mail to each of its subscribers
            await self._fan_out(int(delivery.request["case"]), delivery.event_type)
        else:
            await self._send_once(int(delivery.request["subscriber"]), delivery.event_type)

    async def _links(self, tenant_slug: str, address: str, language: str) -> None:
        """The link to a requester's list of cases, to their address; nothing when they have none
        (the page answered the same either way, so the mail is all that tells)."""
        tenant = await self.store.get_tenant(tenant_slug)
        if tenant is None or not await self.store.requester_cases(tenant_slug, address, 1):
            return
        expires_at = self.clock.now() + timedelta(days=LINKS_DAYS)
        token = await sign_list_link(self.signer, self.store, tenant_slug, address, expires_at)
        context = {"tenant_name": tenant.name, "list_url": f"{self.settings.base_url}/r/{token}", "days": LINKS_DAYS}
        await self._mail(address, language, tenant, "links", context, {})

    async def _fan_out(self, case_key: int, event_type: str) -> None:
        """Each subscriber's mail in turn (FAN_OUT at a time). One that cannot go yet or fails
        makes the whole delivery come back; those told by then are not told twice (told_seq)."""
        subscribers = await self.store.confirmed_subscribers(case_key)
        gate = asyncio.Semaphore(FAN_OUT)

        async def one(subscriber_id: int) -> BaseException | None:
            async with gate:
                try:
                    await self._send_once(subscriber_id, event_type)
                except (DeliveryError, Later) as exc:
                    return exc
                return None

        outcomes = await asyncio.gather(*(one(s.id) for s in subscribers))
        failed = [o for o in outcomes if isinstance(o, DeliveryError)]
        if failed:
            raise DeliveryError(f"{len(failed)} of {len(subscribers)} mails failed, e.g. {failed[0]}")
        waiting = [o for o in outcomes if isinstance(o, Later)]
        if waiting:
            raise Later(min(o.at for o in waiting), str(waiting[0]))

    async def _send_once(self, subscriber_id: int, event_type: str) -> None:
        # One subscriber's mails one at a time: the first to go tells of every change since their
        # last mail (any other, re-reading the subscriber, then finds nothing new).
        async with self._locks.setdefault(subscriber_id, asyncio.Lock()):
            now = self.clock.now()
            if not await self.store.claim_subscriber(subscriber_id, now, now + timedelta(seconds=CLAIM_SECONDS)):
                raise Later(now + timedelta(seconds=BUSY_RETRY_SECONDS), "another instance is mailing this subscriber")
            try:
                await self._send_to(subscriber_id, event_type)
            finally:
                await self.store.release_subscriber(subscriber_id)
        if len(self._locks) > MAX_LOCKS:  # forget the idle ones
            self._locks = {key: lock for key, lock in self._locks.items() if lock.locked()}

    async def _send_to(self, subscriber_id: int, event_type: str) -> None:
        subscriber = await self.store.get_subscriber(subscriber_id)
        stored = await self.store.get_case_by_key(subscriber.case_key) if subscriber else None
        tenant = await self.store.get_tenant(stored.tenant) if stored else None
        if subscriber is None or stored is None or tenant is None:
            return  # unsubscribed (or the case is gone) meanwhile: nothing to tell
        if subscriber.audience == PROBLEM:
            await self._tell_follower(subscriber, stored, tenant, event_type)
        elif event_type == CONFIRM:
            await self._confirmation(subscriber, stored, tenant)
        elif subscriber.confirmed_at is None:
            return
        elif event_type == GONE_QUIET:
            view = self._view(subscriber, stored, tenant)
            if view["quiet"] is not None:  # still quiet when the mail goes
                await self._send(subscriber, tenant, "quiet", self._context(subscriber, stored, tenant, view))
        elif stored.seq > subscriber.told_seq:
            await self._news(subscriber, stored, tenant)

    async def _confirmation(self, subscriber: Subscriber, stored: StoredCase, tenant: Tenant) -> None:
        if subscriber.confirmed_at is not None:
            return
        context = self._context(subscriber, stored, tenant, self._view(subscriber, stored, tenant))
        await self._send(subscriber, tenant, "confirm", context)

    async def _tell_follower(self, subscriber: Subscriber, problem: StoredCase, tenant: Tenant,
                             event_type: str) -> None:
        """A status page follower: the confirmation, then the problem's moves (problem_followers)."""
        view = await follower_view(self.store, self.signer, problem)
        if view is None:
            return  # no longer listed: nothing to tell
        base = self.settings.base_url
        context = {"case": view, "tenant_name": tenant.name,
                   "page_url": f"{base}/s/{tenant.slug}#problem-{view['key']}",
                   "manage_url": f"{base}/n/{self.signer.sign_subscriber(subscriber.id)}"}
        if event_type == CONFIRM:
            if subscriber.confirmed_at is None:
                await self._send(subscriber, tenant, "problem_confirm", context)
            return
        if subscriber.confirmed_at is None or problem.seq <= subscriber.told_seq:
            return
        told = await self.store.events_after(problem.key, subscriber.told_seq - 1, 1)
        before = told[0].case_after if told and told[0].seq == subscriber.told_seq else None
        now = self.clock.now()
        if not moved(before, problem.case):
            return  # only its own comments since: nothing they follow (the next move is told against `before`)
        if (wait := self._digest_wait(subscriber, tenant, now)) is not None:
            raise Later(wait, "waiting for the digest interval")
        await self._send(subscriber, tenant, "problem_news", context)
        await self.store.mark_told(subscriber.id, problem.seq, now)

    def _digest_wait(self, subscriber: Subscriber, tenant: Tenant, now: datetime) -> datetime | None:
        """When the digest interval since the subscriber's last mail ends, if it has not yet."""
        digest = timedelta(minutes=float(option_value(tenant.options, "notify_digest_minutes")))
        if subscriber.told_at is not None and now < subscriber.told_at + digest:
            return subscriber.told_at + digest
        return None

    async def _news(self, subscriber: Subscriber, stored: StoredCase, tenant: Tenant) -> None:
        now = self.clock.now()
        wait = self._digest_wait(subscriber, tenant, now)
        if wait is not None and not await self._became_customers_move(subscriber, stored):
            raise Later(wait, "waiting for the digest interval")
        view = self._view(subscriber, stored, tenant)
        updates = await self._updates(subscriber, stored)
        context = {**self._context(subscriber, stored, tenant, view), "updates": updates}
        await self._send(subscriber, tenant, "news", context)
        await self.store.mark_told(subscriber.id, stored.seq, now)

    async def _became_customers_move(self, subscriber: Subscriber, stored: StoredCase) -> bool:
        """Whether the move has become the customer's since their last mail: that goes at once."""
        if stored.case.waiting_on != "customer" or stored.case.stage not in OPEN_STAGES:
            return False
        told = await self.store.events_after(stored.key, subscriber.told_seq - 1, 1)
        return not told or told[0].seq != subscriber.told_seq or told[0].case_after.waiting_on != "customer"

    async def _updates(self, subscriber: Subscriber, stored: StoredCase) -> list[dict[str, Any]]:
        """The public updates since the subscriber's last mail, oldest first (an edited one once)."""
        updates: dict[str, dict[str, Any]] = {}
        for logged in await self.store.events_after(stored.key, subscriber.told_seq, MAX_EVENTS_PER_MAIL):
            if logged.event.update is not None and not logged.event.internal and logged.seq <= stored.seq:
                shown = update_view(logged.event.update)
                updates[shown["id"]] = public_update(shown) if subscriber.audience == "public" else shown
        return list(updates.values())

    def _view(self, subscriber: Subscriber, stored: StoredCase, tenant: Tenant) -> dict[str, Any]:
        policy, now = policy_of(tenant.options), self.clock.now()
        if subscriber.audience == "public":
            return public_case_view(stored.case, stored.seq, stored.public_title, policy, now)
        return case_view(stored.case, stored.seq, policy, now)

    def _context(self, subscriber: Subscriber, stored: StoredCase, tenant: Tenant,
                 view: dict[str, Any]) -> dict[str, Any]:
        base = self.settings.base_url
        page = (f"{base}/p/{stored.public_id}" if subscriber.audience == "public"
                else case_url(base, self.signer, stored))
        return {"case": view, "tenant_name": tenant.name, "page_url": page,
                "manage_url": f"{base}/n/{self.signer.sign_subscriber(subscriber.id)}"}

    async def _send(self, subscriber: Subscriber, tenant: Tenant, kind: str, context: dict[str, Any]) -> None:
        """The mail (or notification, for a device) of this kind: confirm, news or quiet."""
        # One thread per case and subscriber, named without anything internal.
        thread = self.signer.opaque_name(f"mail-thread/{subscriber.case_key}/{subscriber.id}")
        if subscriber.channel == "push":
            await self._push(subscriber, tenant, kind, self._subject(tenant, kind, subscriber.language, context),
                             thread, context)
            return
        headers = {"In-Reply-To": f"<case-{thread}@{self.domain}>", "References": f"<case-{thread}@{self.domain}>"}
        if kind != "confirm":  # RFC 8058: one click, by POST, unsubscribes
            headers["List-Unsubscribe"] = f"<{context['manage_url']}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        await self._mail(subscriber.address, subscriber.language, tenant, kind, context, headers)

    async def _mail(self, address: str, language: str, tenant: Tenant, kind: str, context: dict[str, Any],
                    headers: dict[str, str]) -> None:
        """One mail of this kind from the theme's templates: subject, text and HTML parts."""
        if not self.settings.smtp_url:
            raise DeliveryError("TRACKER_SMTP_URL is not set: e-mail is off")
        subject = self._subject(tenant, kind, language, context)
        text = self.render(tenant.theme, f"mail_{kind}.txt", language, **context)
        html = self.render(tenant.theme, f"mail_{kind}.html", language, **context)
        message = mail.message(self.sender, address, subject, text, html, headers, self.domain)
        await mail.send(mail.server_of(self.settings.smtp_url), message)

    def _subject(self, tenant: Tenant, kind: str, language: str, context: dict[str, Any]) -> str:
        # One line, whatever a helpdesk's title holds (a line break in a header is an error).
        return " ".join(self.render(tenant.theme, f"mail_{kind}.subject", language, **context).split())

    async def _push(self, subscriber: Subscriber, tenant: Tenant, kind: str, title: str, thread: str,
                    context: dict[str, Any]) -> None:
        if self.vapid is None or subscriber.push_keys is None:
            raise DeliveryError("browser notifications are off")
        body = " ".join(self.render(tenant.theme, f"push_{kind}.txt", subscriber.language, **context).split())
        stop = self.render(tenant.theme, "push_stop.txt", subscriber.language).strip()
        # The service worker shows it (one per case: `tag`), opens `url`, and its one action stops them.
        message = {"title": title[:MAX_PUSH_TITLE_CHARS], "body": body[:MAX_PUSH_BODY_CHARS], "tag": thread,
                   "url": context["page_url"], "stop": context["manage_url"], "stop_text": stop}
        case = context["case"]
        urgent = case["waiting_on"] == "customer" and case["stage"] in OPEN_STAGES
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        try:
            await push.send(self._client, self.vapid, PushSubscription.stored(subscriber.address, subscriber.push_keys),
                            message, self.clock.now(), urgent)
        except SubscriptionGone:  # the browser unsubscribed: so do we
            await self.store.remove_subscriber(subscriber.id)
