"""The company's status page, `/s/{tenant}`: the problems it lists, as it describes them to
customers, with their stage, expected time, progress, how many open cases they affect, and when
their stage moved. Fed by the real work (the problem cases' own webhooks), never by hand; the
problems' own text stays out as on linked cases. Also as JSON (`problems.json`), an Atom feed
(an entry each time a listed problem's stage moves) and a live stream (`events`: one frame per
change of a listed problem, the way `/live` marks many cases on one connection).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from tracker.cases import Case
from tracker.errors import NotFound
from tracker.notifier import mail_offered
from tracker.problem_followers import PROBLEM, problem_key
from tracker.storage.base import ProblemNotes, StoredCase, StoredEvent, Tenant
from tracker.web.case_data import LiveCase
from tracker.web.follow import NOT_XML
from tracker.web.live import Follow, Group, MultiplexStream
from tracker.web.pages import page_policy, reader_language
from tracker.web.state import state_of
from tracker.web.subscriptions import fields_of, subscribe_by_mail

MAX_LISTED = 100  # as many as one live connection follows (live.MAX_CASES)
COUNT_SECONDS = 10.0
MAX_COUNTS = 10_000


def problem_item(notes: ProblemNotes, case: Case | None, key: str) -> dict[str, Any]:
    """A listed problem as customers see it: the company's words, and the problem's state. `key`
    names it stably without its id in the helpdesk (an engineering tracker's key is internal)."""
    times = [t for t in (case.updated_at if case else None, notes.updated_at) if t is not None]
    return {
        "key": key, "title": notes.public_title, "summary": notes.summary,
        "stage": case.stage if case else None,
        "expected_by": case.expected_by.isoformat() if case and case.expected_by else None,
        "progress": case.progress if case else None,
        "history": [{"at": mark.at.isoformat(), "stage": mark.stage} for mark in (case.stage_history if case else ())],
        "updated_at": max(times).isoformat() if times else None,
    }


async def listed(request: Request, tenant: Tenant) -> list[tuple[ProblemNotes, StoredCase | None]]:
    store = state_of(request).store
    return [(notes, await store.get_case(tenant.slug, notes.source, notes.case_id))
            for notes in (await store.listed_problems(tenant.slug))[:MAX_LISTED]]


def public_key(request: Request, notes: ProblemNotes) -> str:
    return problem_key(state_of(request).signer, notes.tenant, notes.ref)


async def listed_problems(request: Request, tenant: Tenant) -> list[dict[str, Any]]:
    return (await status_group(request, tenant.slug)).items


async def open_cases(request: Request, notes: ProblemNotes) -> int:
    """How many open cases a problem affects, counted at most every COUNT_SECONDS: the page is
    public, and a problem with thousands of linked cases is a count worth keeping a moment."""
    counts = state_of(request).problem_counts
    key, now = (notes.tenant, notes.ref), time.monotonic()
    cached = counts.get(key)
    if cached is None or now - cached[0] > COUNT_SECONDS:
        if len(counts) > MAX_COUNTS:
            counts.clear()
        cached = counts[key] = (now, await state_of(request).store.count_linked(notes.tenant, notes.ref))
    return cached[1]


async def tenant_named(request: Request, slug: str | None = None) -> Tenant:
    tenant = await state_of(request).store.get_tenant(slug or request.path_params["tenant"])
    if tenant is None:
        raise NotFound("There is no status page at this address.")
    return tenant


OPEN_TO_ALL = {"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"}  # the company publishes it


async def status_json(request: Request) -> Response:
    tenant = await tenant_named(request)
    return JSONResponse({"tenant": tenant.name, "problems": await listed_problems(request, tenant)},
                        headers=OPEN_TO_ALL)


async def status_page(request: Request) -> Response:
    state = state_of(request)
    tenant = await tenant_named(request)
    language = reader_language(request, tenant)
    html = state.templates.render(tenant.theme, "status.html", language, tenant_name=tenant.name,
                                  tenant_slug=tenant.slug, problems=await listed_problems(request, tenant),
                                  offer_links=mail_offered(state.settings, tenant))
    return HTMLResponse(html, headers={"Cache-Control": "no-cache", "Vary": "Accept-Language",
                                       "Content-Security-Policy": page_policy(tenant, "*")})


async def follow_problem(request: Request) -> Response:
    """POST /s/{tenant}/follow (form or JSON): `problem`, the key the page names it by, and
    `email`. Mails about a listed problem for someone without a case of their own
    (problem_followers), after they confirm; the same 202 whatever the address."""
    state = state_of(request)
    tenant = await tenant_named(request)
    if not mail_offered(state.settings, tenant):
        raise NotFound("Following a problem by e-mail is not offered here.")
    fields = await fields_of(request)
    chosen = [problem for notes, problem in await listed(request, tenant)
              if problem is not None and public_key(request, notes) == fields.get("problem")]
    if not chosen:
        raise NotFound("problem: no such problem on this status page.")
    return await subscribe_by_mail(request, tenant, chosen[0].key, PROBLEM, fields)


async def status_feed(request: Request) -> Response:
    """Atom: an entry each time a listed problem's stage moved, newest first."""
    state = state_of(request)
    tenant = await tenant_named(request)
    page_url = f"{state.settings.base_url}/s/{tenant.slug}"
    entries = sorted(({"problem": item, "at": mark["at"], "stage": mark["stage"]}
                      for item in await listed_problems(request, tenant) for mark in item["history"]),
                     key=lambda entry: entry["at"], reverse=True)
    xml = state.templates.render("default", "status.atom", reader_language(request, tenant), entries=entries,
                                 tenant_name=tenant.name, page_url=page_url, feed_url=page_url + "/feed.atom")
    return Response(NOT_XML.sub("", xml), media_type="application/atom+xml; charset=utf-8", headers=OPEN_TO_ALL)


def live_problem(tenant: Tenant, notes: ProblemNotes, problem: StoredCase, key: str) -> LiveCase:
    """A listed problem as a stream follows it; a channel per problem and wording (the notes' time)."""
    def view(stored: StoredEvent) -> dict[str, Any]:
        return {"seq": stored.seq, "case": problem_item(notes, stored.case_after, key)}

    async def snapshot() -> dict[str, Any]:
        return problem_item(notes, problem.case, key)

    stamp = notes.updated_at.isoformat() if notes.updated_at else ""
    return LiveCase.of(problem, tenant, f"status:{notes.ref}:{stamp}", view, snapshot)


async def status_group(request: Request, tenant_slug: str) -> Group:
    """The status page as `/live?s=TENANT` follows it: problems.json's items, and each listed
    problem received so far from what they show."""
    tenant = await tenant_named(request, tenant_slug)
    items, members = [], []
    for place, (notes, problem) in enumerate(await listed(request, tenant)):
        key = public_key(request, notes)
        items.append({**problem_item(notes, problem.case if problem else None, key),
                      "open_cases": await open_cases(request, notes)})
        if problem is not None:  # a problem not received yet has nothing to stream
            members.append((place, live_problem(tenant, notes, problem, key)))
    return Group(tenant, items, members, None)


async def status_events(request: Request) -> Response:
    """The listed problems live, framed as `/live` frames cases: `case` (as each is now), then
    `change`, each `{"s": index in problems.json, "e": {"seq": ..., "case": <the problem>}}`."""
    state = state_of(request)
    group = await status_group(request, request.path_params["tenant"])
    follows = [await Follow.of(place, member, None) for place, member in group.members]
    return MultiplexStream(state.streams, follows, [], OPEN_TO_ALL)
