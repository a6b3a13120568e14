"""My cases, as a property of the store: a requester's list holds exactly their cases in the
tenant, from every source, whatever case and surrounding spaces each helpdesk wrote the address
in; never another tenant's case or another requester's; and a case whose requester changes
moves from one list to the other."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.clock_of_suite import suite_clock
from tracker.cases import Event
from tracker.storage import open_store
from tracker.storage.base import Store, Tenant

TENANTS = ("acme", "globex")
SOURCES = ("generic", "zendesk")
CASE_IDS = ("1", "2", "3")
# Alike on purpose: one differs only in its domain, one is the other's prefix.
PEOPLE = ("ann@example.com", "ann@example.org", "bob@example.com", "bob@example.co")
SPACES = ("", " ", "  ", "\t", "\n")

Key = tuple[str, str, str]  # (tenant, source, case id): one case


@dataclass(frozen=True)
class Assignment:
    """One delivery naming a case's requester as `written`; `person` None: on nobody's list."""

    key: Key
    person: str | None
    written: str | None


@st.composite
def spelled(draw: st.DrawFn, person: str, spaces: bool = True) -> str:
    """The address as a helpdesk might report it: any letter in either case, spaces around."""
    flips = draw(st.lists(st.booleans(), min_size=len(person), max_size=len(person)))
    word = "".join(c.upper() if flip else c for c, flip in zip(person, flips, strict=True))
    if not spaces:
        return word
    return draw(st.sampled_from(SPACES)) + word + draw(st.sampled_from(SPACES))


@st.composite
def assignments(draw: st.DrawFn) -> Assignment:
    key = (draw(st.sampled_from(TENANTS)), draw(st.sampled_from(SOURCES)), draw(st.sampled_from(CASE_IDS)))
    person = draw(st.one_of(st.none(), st.sampled_from(PEOPLE)))
    if person is None:  # cleared, or an address of nothing but spaces: on nobody's list
        return Assignment(key, None, draw(st.sampled_from((None, "", " ", "\t"))))
    return Assignment(key, person, draw(spelled(person)))


def event(assignment: Assignment, index: int, start: datetime) -> Event:
    # Each delivery a second after the one before: the latest-dated names the requester.
    at = start + timedelta(seconds=index)
    return Event(assignment.key[2], f"d-{index}", at, {"requester_email": assignment.written})


def expected(history: list[Assignment]) -> dict[Key, str | None]:
    """Each case's requester: the latest-dated delivery's (later in the list = later in time)."""
    return {a.key: a.person for a in history}


async def lists(store: Store, query: dict[str, str]) -> dict[tuple[str, str], set[Key]]:
    """Every (tenant, person) list as the store answers it, asked with the spelling in `query`."""
    answers: dict[tuple[str, str], set[Key]] = {}
    for tenant in TENANTS:
        for person in PEOPLE:
            found = await store.requester_cases(tenant, query[person])
            answers[tenant, person] = {(c.tenant, c.source, c.case.case_id) for c in found}
    return answers


def model(requesters: dict[Key, str | None]) -> dict[tuple[str, str], set[Key]]:
    return {(tenant, person): {key for key, who in requesters.items() if key[0] == tenant and who == person}
            for tenant in TENANTS for person in PEOPLE}


async def ingest(store: Store, history: list[Assignment], order: list[int], start: datetime) -> None:
    for index in order:  # any arrival order: the store applies each change by its date
        tenant, source, _ = history[index].key
        await store.ingest(tenant, source, [event(history[index], index, start)])


async def scenario(history: list[Assignment], order: list[int], query: dict[str, str], mover: int,
                   new_spelling: dict[str, str]) -> None:
    clock = suite_clock()
    with tempfile.TemporaryDirectory() as folder:
        store = await open_store(f"sqlite:///{Path(folder) / 'tracker.db'}", clock)
        try:
            for tenant in TENANTS:
                await store.add_tenant(Tenant(tenant, tenant.title()))
            start = clock.now()
            await ingest(store, history, order, start)
            requesters = expected(history)
            assert await lists(store, query) == model(requesters)

            # Move one case to another requester: it leaves the old list and joins the new one.
            key = sorted(requesters)[mover % len(requesters)]
            before = requesters[key]
            after = PEOPLE[(PEOPLE.index(before) + 1) % len(PEOPLE)] if before else PEOPLE[0]
            move = Assignment(key, after, new_spelling[after])
            await store.ingest(key[0], key[1], [event(move, len(history), start)])
            requesters[key] = after
            moved = await lists(store, query)
            assert key in moved[key[0], after]
            assert before is None or key not in moved[key[0], before]
            assert moved == model(requesters)
        finally:
            await store.close()


def spellings(spaces: bool) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries({person: spelled(person, spaces) for person in PEOPLE})


# The list is asked for in any case but without surrounding spaces: the link's token holds the
# address trimmed (Signer.sign_requester), and the store's requester_cases() lowers it, not trims it.
@settings(max_examples=25, deadline=None)
@given(history=st.lists(assignments(), min_size=1, max_size=10), data=st.data(),
       query=spellings(spaces=False), new_spelling=spellings(spaces=True), mover=st.integers(0, 30))
def test_a_requesters_list_holds_exactly_their_cases_in_the_tenant(
    history: list[Assignment], data: st.DataObject, query: dict[str, str], new_spelling: dict[str, str],
    mover: int,
) -> None:
    order = data.draw(st.permutations(range(len(history))), label="arrival order")
    asyncio.run(scenario(history, order, query, mover, new_spelling))
