"""The one live connection of a page: `GET /live?c=TOKEN~SEQ&p=PUBLIC_ID~SEQ&r=LIST_TOKEN&s=TENANT`.

A browser allows six HTTP/1.1 connections per site, so a support page with ten cards, each
with a stream of its own, left cards without updates and its lookup form without an answer.
The widget opens this one stream instead, for everything it shows:
- `c` (a customer's case link token) and `p` (a public case id): one case each. `~SEQ`, the
  last revision the card has shown, is optional: with it the stream sends only what came
  after, without it the case as it is now.
- `r` (a customer's list link token, "My cases") and `s` (a tenant, its status page): a list,
  sent whole as a `list` frame each time the connection opens, then its members' changes
  (`k` says which); a customer's list also says `added` when a new case of theirs arrives.
The frames are described in `web/live.py`.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from tracker.errors import BadRequest, TrackerError
from tracker.web.case_data import LiveCase, live_customer_case, live_public_case
from tracker.web.cors import cors_headers
from tracker.web.live import Follow, Group, MultiplexStream, compact_json, labelled, wrapped
from tracker.web.my_cases import requester_group
from tracker.web.numbers import whole_number
from tracker.web.state import state_of
from tracker.web.status_page import status_group

MAX_ENTRIES = 100  # the widget opens another connection beyond this; keeps the URL in bounds
CASES: dict[str, Callable[[Request, str], Awaitable[LiveCase]]] = {"c": live_customer_case, "p": live_public_case}
LISTS: dict[str, Callable[[Request, str], Awaitable[Group]]] = {"r": requester_group, "s": status_group}


def wanted(request: Request) -> list[tuple[str, str, int | None]]:
    """(kind, id, revision) for each entry of the query, in order; 400 naming the field."""
    found = [(key, value) for key, value in request.query_params.multi_items() if key in CASES or key in LISTS]
    if not found:
        raise BadRequest("Name at least one case or list: c=LINK_TOKEN or p=PUBLIC_ID, each optionally ~REVISION; "
                         "r=LIST_TOKEN; s=TENANT.")
    if len(found) > MAX_ENTRIES:
        raise BadRequest(f"c, p, r, s: at most {MAX_ENTRIES} entries per connection; open another for the rest.")
    entries = []
    for position, (kind, value) in enumerate(found):
        ident, _, revision = value.partition("~")
        if not ident or (revision and (kind in LISTS or not whole_number(revision))):
            shape = "an id" if kind in LISTS else "an id, optionally ~ and a whole number"
            raise BadRequest(f"{kind} (entry {position}): expected {shape}, got {value[:40]!r}.")
        entries.append((kind, ident, int(revision) if revision else None))
    return entries


async def live(request: Request) -> Response:
    entries = wanted(request)
    follows: list[Follow] = []
    gone: list[tuple[bytes, bytes]] = []
    openings: list[bytes] = []
    channels: list[tuple[int, bytes]] = []
    member_indices = itertools.count(len(entries))  # a list's members follow the query's own entries
    for index, (kind, ident, revision) in enumerate(entries):
        label = labelled(index)
        try:
            if kind in CASES:
                case = await CASES[kind](request, ident)
                cors_headers(request, case.tenant)  # a company that allows other sites only
                follows.append(await Follow.of(index, case, revision))
                continue
            group = await LISTS[kind](request, ident)
            cors_headers(request, group.tenant)
        except TrackerError as error:
            gone.append((label, compact_json({"status": error.status, "error": error.message})))
            continue
        openings.append(wrapped("list", label, compact_json({"items": group.items})))
        for place, member in group.members:  # followed from what the list shows
            follows.append(await Follow.of(next(member_indices), member, member.head.seq, labelled(index, place)))
        if group.channel is not None:
            channels.append((group.channel, wrapped("added", label, b"{}")))
    # Readable from any site: each entry above was checked against its company's allowed sites.
    state = state_of(request)
    return MultiplexStream(state.streams, follows, gone, {"Access-Control-Allow-Origin": "*"}, openings, channels,
                           state.hub)
