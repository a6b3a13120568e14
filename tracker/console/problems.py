"""Problems in the console: the problems the tenant's cases are linked to, and for each what
customers are told (public title, summary, listed on the status page) and who is affected;
with the functions the admin API and `tracker problem describe` use."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from tracker import helpdesks, linking
from tracker.console.audit import record
from tracker.console.csrf import checked_form
from tracker.console.pages import tenant_of
from tracker.console.refusals import Refused
from tracker.console.responses import render, see_other
from tracker.console.sessions import signed_in
from tracker.errors import BadRequest, NotFound
from tracker.storage.base import ProblemNotes
from tracker.web.state import state_of

LISTED_AFFECTED = 200


async def problems_page(request: Request) -> Response:
    """GET /admin/problems: every problem a case is linked to, and every listed one."""
    who = await signed_in(request)
    if who is None:
        return see_other("/admin")
    session, account = who
    tenant = await tenant_of(request, account)
    store = state_of(request).store
    refs = {stored.case.problem for stored in await store.list_cases(tenant.slug) if stored.case.problem}
    refs |= {notes.ref for notes in await store.listed_problems(tenant.slug)}
    problems = []
    for ref in sorted(refs):
        source, _, case_id = ref.partition(":")
        notes = (await store.get_problem_notes(tenant.slug, source, case_id)
                 or ProblemNotes(tenant.slug, source, case_id))
        problems.append((notes, await store.count_linked(tenant.slug, ref)))
    return render(request, "problems.html", session=session, tenant=tenant, account=account, problems=problems)


async def problem_page(request: Request) -> Response:
    """GET /admin/problems/{source}/{case_id}: what customers are told, and who is affected; POST
    changes what they are told (every linked case's customer sees it within seconds)."""
    who = await signed_in(request)
    if who is None:
        return see_other("/admin")
    session, account = who
    tenant = await tenant_of(request, account)
    state = state_of(request)
    source, case_id = request.path_params["source"], request.path_params["case_id"]
    try:
        helpdesks.get(source)
    except NotFound:
        raise Refused(404, "not_found") from None
    notes = await state.store.get_problem_notes(tenant.slug, source, case_id) or ProblemNotes(tenant.slug, source,
                                                                                              case_id)
    problem = await state.store.get_case(tenant.slug, source, case_id)
    affected = await state.store.linked_cases(tenant.slug, notes.ref, limit=LISTED_AFFECTED)
    if problem is None and not affected and notes.updated_at is None:
        raise Refused(404, "not_found")  # neither a case nor a problem of this tenant
    saved = False
    if request.method == "POST":
        form_session, form = await checked_form(request)
        if form_session != session:
            raise Refused(403, "form_expired")
        given = {"public_title": form.get("public_title", "").strip(), "summary": form.get("summary", "").strip(),
                 "listed": form.get("listed") == "yes"}
        try:
            notes = await state.store.set_problem_notes(linking.changed_notes(notes, given))
        except BadRequest:
            return render(request, "problem.html", session=session, tenant=tenant, account=account, notes=notes,
                          problem=problem, affected=affected, open_count=0, saved=False, too_long=True, status=400)
        if problem is not None:  # the linked cases are told by the worker, as when the problem moves
            await state.store.add_delivery(tenant.slug, "problem", "problem.notes", problem.key,
                                           {"problem": problem.key})
            state.deliverer.wake()
        await record(state.store, state.clock, account, "problem_described",
                     f"{notes.ref}: {notes.public_title}{' (listed)' if notes.listed else ''}")
        saved = True
    open_count = await state.store.count_linked(tenant.slug, notes.ref)
    return render(request, "problem.html", session=session, tenant=tenant, account=account, notes=notes,
                  problem=problem, affected=affected, open_count=open_count, saved=saved, too_long=False)
