"""The customer's word on a resolved case: solved or not yet, a rating and a short comment.

It is stored as an event of the case (so it is in the log, ordered and deduplicated like any
other), shown on the page at once, and sent to the company as an outbound webhook.
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tracker.cases import VERDICTS, Event
from tracker.errors import BadRequest
from tracker.outbound import queue_webhook
from tracker.problems import linked_problem
from tracker.web.case_link import open_case_link
from tracker.web.forms import read_form
from tracker.web.state import state_of
from tracker.writeback.queue import VERDICT_EVENT, queue_verdict_comment

MAX_COMMENT_CHARS = 500


async def give_verdict(request: Request) -> Response:
    store = state_of(request).store
    signer = state_of(request).signer
    stored, _ = await open_case_link(request)
    form = await read_form(request)
    signer.check_action(form.get("token", ""), stored.key, stored.link_version, "verdict")
    verdict = form.get("verdict", "")
    if verdict not in VERDICTS:
        raise BadRequest(f"verdict must be one of {', '.join(VERDICTS)}.")
    problem = linked_problem(stored.case)
    if stored.case.stage != "resolved" and not (problem and problem["fix_out"]):
        raise BadRequest("The team has not marked this case (or the problem it waits on) as resolved yet.")
    rating_text = form.get("rating", "")
    rating = int(rating_text) if rating_text in ("1", "2", "3", "4", "5") else None
    comment = form.get("comment", "").strip()[:MAX_COMMENT_CHARS] or None
    event = Event(case_id=stored.case.case_id, delivery_id=f"customer:{uuid.uuid4()}",
                  occurred_at=state_of(request).clock.now(),
                  changes={"customer_verdict": verdict, "customer_rating": rating, "customer_comment": comment})
    appended = await store.ingest(stored.tenant, stored.source, [event])
    hub = state_of(request).hub
    for item in appended:
        await hub.publish(item.case_key, item.seq)
    tenant = await store.get_tenant(stored.tenant)
    config = await store.get_source(stored.tenant, stored.source)
    queued = False
    if tenant is not None:
        data = {"source": stored.source, "case_id": stored.case.case_id, "verdict": verdict, "rating": rating,
                "comment": comment}
        queued = await queue_webhook(store, tenant, VERDICT_EVENT, stored.key, data,
                                     state_of(request).clock.now()) is not None
    if config is not None:
        queued = await queue_verdict_comment(store, config, stored.case.case_id, stored.key, verdict, rating,
                                             comment) or queued
        # "Not solved yet": the team hears it in its helpdesk too.
        queued = await state_of(request).nudger.after_ingest(config, [item.case_key for item in appended]) > 0 \
            or queued
    if queued:
        deliverer = state_of(request).deliverer
        deliverer.wake()
    return RedirectResponse(f"/c/{request.path_params['token']}#verdict", status_code=303)
