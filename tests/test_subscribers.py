"""Subscribers and the news outbox in storage, on both backends: a stored event that is news
queues one mail delivery for its case (when it has confirmed subscribers), in the same
transaction; an internal event or a change that is not news queues nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import BACKENDS, suite_clock
from tracker.admin import add_tenant
from tracker.cases import Event, Update
from tracker.storage.base import Store

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)


def event(delivery: str, internal: bool = False, update: str | None = None, **changes: object) -> Event:
    now = suite_clock().now()
    return Event("4711", delivery, now, dict(changes), None if update is None else Update(delivery, now, update),
                 internal)


async def mails(store: Store) -> list[tuple[str, int]]:
    """The pending mail deliveries: (event type, the case whose subscribers it is for)."""
    return sorted((d.event_type, d.request["case"]) for d in await store.list_deliveries("acme")
                  if d.kind == "mail" and d.status == "pending")


async def test_news_queues_one_mail_per_confirmed_subscriber_in_the_ingest(store: Store):
    await add_tenant(store, "acme", "ACME", None)
    [first] = await store.ingest("acme", "generic", [event("d1", title="Printer")])
    ann = await store.add_subscriber("acme", first.case_key, "customer", "ann@example.com", "en")
    bob = await store.add_subscriber("acme", first.case_key, "public", "bob@example.com", "de")
    assert (await store.add_subscriber("acme", first.case_key, "customer", "ann@example.com", "en")).id == ann.id
    assert await store.confirm_subscriber(ann.id, first.seq)

    case = first.case_key
    await store.ingest("acme", "generic", [event("d2", stage="in_progress")])
    assert await mails(store) == [("case.news", case)]  # one for the case: the worker mails each subscriber
    await store.ingest("acme", "generic", [event("d3", update="We are on it.")])
    assert await mails(store) == [("case.news", case)] * 2  # one each; the first sent tells of both

    assert await store.confirm_subscriber(bob.id, 3)
    await store.ingest("acme", "generic", [event("d4", internal=True), event("d5", status_label="Triage")])
    assert await mails(store) == [("case.news", case)] * 2  # an internal note and a label are not news
    await store.ingest("acme", "generic", [event("d6", waiting_on="customer")])
    assert await mails(store) == [("case.news", case)] * 3  # one per news event, whatever the subscribers
    other = await store.ingest("acme", "generic", [Event("4712", "e1", suite_clock().now(), {"title": "x"})])
    assert await mails(store) == [("case.news", case)] * 3  # a case without subscribers queues nothing
    assert other

    stored = await store.get_subscriber(ann.id)
    assert stored is not None and stored.confirmed_at is not None and stored.told_seq == first.seq
    await store.mark_told(ann.id, 6, suite_clock().now())
    assert (await store.get_subscriber(ann.id)).told_seq == 6  # type: ignore[union-attr]


async def test_making_a_case_private_ends_its_public_subscribers(store: Store):
    await add_tenant(store, "acme", "ACME", None)
    [first] = await store.ingest("acme", "generic", [event("d1", title="Printer")])
    await store.set_public(first.case_key, "pub-1", None)
    public = await store.add_subscriber("acme", first.case_key, "public", "bob@example.com", "en")
    customer = await store.add_subscriber("acme", first.case_key, "customer", "ann@example.com", "en")
    await store.set_public(first.case_key, None, None)
    assert await store.get_subscriber(public.id) is None
    assert await store.get_subscriber(customer.id) is not None
    assert await store.remove_subscriber(customer.id) and await store.get_subscriber(customer.id) is None
    assert not await store.remove_subscriber(customer.id)


async def test_one_worker_at_a_time_mails_a_subscriber(store: Store):
    """Two instances may each hold one of a subscriber's mails: the claim lets one send at a time,
    and a claim whose worker died runs out."""
    await add_tenant(store, "acme", "ACME", None)
    [first] = await store.ingest("acme", "generic", [event("d1", title="Printer")])
    ann = await store.add_subscriber("acme", first.case_key, "customer", "ann@example.com", "en")
    now = suite_clock().now()
    assert await store.claim_subscriber(ann.id, now, now + timedelta(seconds=120))
    assert not await store.claim_subscriber(ann.id, now, now + timedelta(seconds=120))
    assert await store.claim_subscriber(ann.id, now + timedelta(seconds=121), now + timedelta(seconds=240))
    await store.release_subscriber(ann.id)
    assert await store.claim_subscriber(ann.id, now, now + timedelta(seconds=120))
