"""Queue the write-back of a new case's link, from the webhook that created the case."""

from __future__ import annotations

import logging
from typing import Any

from tracker.cases import Event
from tracker.helpdesks.writing import NewCase
from tracker.signing import Signer, case_url
from tracker.storage.base import Appended, SourceConfig, Store
from tracker.writeback import KIND_PREFIX, WRITERS, enabled

log = logging.getLogger("tracker.writeback")
EVENT_TYPE = "case.link"


async def queue_new_case_links(store: Store, signer: Signer, base_url: str, config: SourceConfig,
                               events: list[Event], appended: list[Appended], payload: Any) -> int:
    """Queue one write-back per case this delivery created (its first event has seq 1), when the
    source has write-back credentials; returns how many were queued.

    The events are already stored: a failure here is logged, never turned into an error answer
    (the helpdesk's retry would be a duplicate and queue nothing either)."""
    new_keys = {item.case_key for item in appended if item.seq == 1}
    if not new_keys or not enabled(config.source, config.options):
        return 0
    writer = WRITERS[config.source]
    queued = 0
    try:
        for case_id in dict.fromkeys(event.case_id for event in events):
            stored = await store.get_case(config.tenant, config.source, case_id)
            if stored is None or stored.key not in new_keys:
                continue
            url = case_url(base_url, signer, stored)
            request = writer.link_request(NewCase(config.tenant, config.source, case_id, url, config.options,
                                                  payload))
            if request is None:
                log.warning("cannot write the link of %s:%s back into %s (tenant %s): the delivery does not name "
                            "the ticket the way its API needs", config.source, case_id, config.source, config.tenant)
                continue
            await store.add_delivery(config.tenant, KIND_PREFIX + config.source, EVENT_TYPE, stored.key, request)
            queued += 1
    except Exception:
        log.exception("queueing the write-back of a new case's link failed (tenant %s, source %s)",
                      config.tenant, config.source)
    return queued


VERDICT_EVENT = "case.customer_verdict"
VERDICT_WORDS = {"solved": "confirmed it is solved", "not_solved": "says it is not solved yet"}


async def queue_verdict_comment(store: Store, config: SourceConfig, case_id: str, case_key: int,
                                verdict: str, rating: int | None, comment: str | None) -> bool:
    """Tell the issue the customer's word, where the helpdesk takes comments through its API
    (GitHub and GitLab); other helpdesks hear it through the company's webhook only."""
    writer = WRITERS.get(config.source)
    comment_request = writer.comment_request if writer is not None else None
    if comment_request is None or not enabled(config.source, config.options):
        return False
    text = f"The customer {VERDICT_WORDS[verdict]}."
    if rating is not None:
        text += f" Rating: {rating}/5."
    if comment:
        text += "\n\n> " + "\n> ".join(comment.splitlines())
    request = comment_request(NewCase(config.tenant, config.source, case_id, "", config.options, None),
                              text + "\n\n(Added by tracker.)")
    if request is None:
        return False
    await store.add_delivery(config.tenant, KIND_PREFIX + config.source, VERDICT_EVENT, case_key, request)
    return True
