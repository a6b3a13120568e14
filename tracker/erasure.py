"""Erasure: `tracker forget TENANT --email ADDRESS` takes a customer out of a tenant.

In every case whose requester is that address, the requester's address and name go (from the
case, from every event of it and from the case after each event), and where the requester wrote
an update, its author becomes a neutral "Customer"; the cases themselves stay, with their stage,
times and revisions, for the company's statistics. Their subscriptions to any case of the
tenant and the mails that name their address are deleted. The stores do it in one transaction
(`Store.forget_requester`); what leaves a stored document is decided here, once for both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from tracker.errors import ConfigError
from tracker.storage.base import ForgetResult, Store

# Lenient on purpose: the helpdesks' addresses are stored as they reported them, and every one
# of those must be erasable. (Any text with one @ and no blanks.)
ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")
MAX_ADDRESS_CHARS = 254
NEUTRAL_AUTHOR = "Customer"  # the author of the requester's own updates, once their name is gone
REQUESTER_FIELDS = ("requester_email", "requester_name")
# An address inside free text (an SMTP error: "<ann@example.com>: recipient rejected").
ADDRESS_IN_TEXT = re.compile(r"[^\s<>\"',;:()\[\]]+@[^\s<>\"',;:()\[\]]+")

Text = str | bytes
EventRow = tuple[int, Text, Text]  # (seq, event, case_after) as stored


async def forget(store: Store, tenant: str, email: str) -> ForgetResult:
    """Erase the requester `email` from the tenant; ConfigError for an unknown tenant or an
    `email` that is no address."""
    address = requester_address(email)
    if await store.get_tenant(tenant) is None:
        raise ConfigError(f"Unknown tenant '{tenant}'. Create it with: tracker tenant add {tenant}")
    return await store.forget_requester(tenant, address)


def requester_address(email: str) -> str:
    """The address as the `requester` column holds it: trimmed, in lower case."""
    address = email.strip().lower()
    if len(address) > MAX_ADDRESS_CHARS or not ADDRESS.match(address):
        raise ConfigError(f"--email {email!r}: give the requester's e-mail address, e.g. ann@example.com.")
    return address


@dataclass
class ErasedCase:
    """A case's stored documents with the requester taken out: its state, and the events that
    changed (seq, event, case_after)."""

    state: str
    events: list[tuple[int, str, str]] = field(default_factory=list)


def erase_case(state: Text, events: Sequence[EventRow], names: Iterable[str]) -> ErasedCase:
    """The case and its events without the requester. `names`: what the requester went by
    elsewhere (their address, the names in their other cases); the names this case's own
    documents give are added."""
    case = orjson.loads(state)
    logged = [(seq, orjson.loads(event), orjson.loads(after)) for seq, event, after in events]
    known = _folded({*names, *_names_in(case), *(n for _, e, a in logged for n in (*_names_in(e["changes"]),
                                                                                   *_names_in(a)))})
    _erase_case_document(case, known)
    erased = ErasedCase(_dump(case))
    for seq, event, after in logged:
        if _erase_event_document(event, known) | _erase_case_document(after, known):
            erased.events.append((seq, _dump(event), _dump(after)))
    return erased


def names_in_states(states: Iterable[Text]) -> set[str]:
    """The requester's names and addresses in these case states."""
    return {name for state in states for name in _names_in(orjson.loads(state))}


def is_theirs(address: str, subscriber_address: str) -> bool:
    """Whether a subscriber's address is the requester's (compared as the requester column is)."""
    return subscriber_address.strip().lower() == address


def names_address(address: str, request: Text, last_error: str | None) -> bool:
    """Whether an outbound mail's request ({"requester": ...}) or its last error names `address`."""
    if any(value.strip().lower() == address for value in _strings(orjson.loads(request))):
        return True
    return any(found.lower() == address for found in ADDRESS_IN_TEXT.findall(last_error or ""))


def _erase_case_document(case: dict[str, Any], names: set[str]) -> bool:
    changed = _clear_requester(case)
    return _neutral_authors(case.get("updates") or (), names) or changed


def _erase_event_document(event: dict[str, Any], names: set[str]) -> bool:
    changed = _clear_requester(event.get("changes") or {})
    update = event.get("update")
    return (update is not None and _neutral_authors((update,), names)) or changed


def _clear_requester(fields: dict[str, Any]) -> bool:
    """Null the requester fields where set; a field absent stays absent (an event that never
    set it must not start setting it)."""
    present = [name for name in REQUESTER_FIELDS if fields.get(name) is not None]
    for name in present:
        fields[name] = None
    return bool(present)


def _neutral_authors(updates: Iterable[dict[str, Any]], names: set[str]) -> bool:
    changed = False
    for update in updates:
        author = update.get("author_display")
        if isinstance(author, str) and author.strip().casefold() in names:
            update["author_display"] = NEUTRAL_AUTHOR
            changed = True
    return changed


def _names_in(fields: Mapping[str, Any]) -> list[str]:
    return [value for name in REQUESTER_FIELDS if isinstance(value := fields.get(name), str)]


def _folded(names: Iterable[str]) -> set[str]:
    """Names compared trimmed and case-folded; an empty one matches nothing (an update with no
    author is the team's)."""
    return {folded for name in names if (folded := name.strip().casefold())}


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _dump(document: Mapping[str, Any]) -> str:
    return orjson.dumps(document).decode()
