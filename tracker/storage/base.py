"""The Store protocol and the records it returns; nothing backend-specific."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from tracker.cases import Case, Event


@dataclass(frozen=True, slots=True)
class Tenant:
    slug: str
    name: str
    theme: str = "default"
    # Tenant settings by name (embed origins, branding, ...); admin.TENANT_OPTIONS lists them.
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SourceConfig:
    tenant: str
    source: str
    secret: str
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredCase:
    key: int  # storage's own id, used by pub/sub and the event log
    tenant: str
    source: str
    case: Case
    seq: int  # sequence of the newest event applied; the case's revision
    link_version: int
    public_id: str | None = None  # set while the customer has made the case public
    public_title: str | None = None  # the customer's own title for the public view


@dataclass(frozen=True, slots=True)
class CaseHead:
    """What a conditional request needs: the case's revision and link version, not its data."""

    key: int
    seq: int
    link_version: int
    public_id: str | None = None  # the page offers sharing, or shows the public snippets


@dataclass(frozen=True, slots=True)
class StoredEvent:
    case_key: int
    seq: int
    event: Event
    case_after: Case
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Appended:
    """An event stored by `ingest` (duplicates are not reported)."""

    case_key: int
    seq: int


class Store(Protocol):
    async def close(self) -> None: ...

    async def get_meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str) -> None: ...

    async def add_tenant(self, tenant: Tenant) -> None: ...
    async def get_tenant(self, slug: str) -> Tenant | None: ...
    async def add_source(self, config: SourceConfig) -> None: ...
    async def get_source(self, tenant: str, source: str) -> SourceConfig | None: ...
    async def list_sources(self, tenant: str) -> list[str]: ...

    async def ingest(self, tenant: str, source: str, events: list[Event]) -> list[Appended]:
        """Store new events and apply them to their cases in one committed transaction;
        returns only after the commit. Events already stored (same delivery id) are skipped."""
        ...

    async def get_case(self, tenant: str, source: str, case_id: str) -> StoredCase | None: ...
    async def get_case_head(self, tenant: str, source: str, case_id: str) -> CaseHead | None: ...
    async def find_cases(self, tenant: str, case_id: str) -> list[StoredCase]:
        """Cases of the tenant with this helpdesk id, in any source."""
        ...
    async def list_cases(self, tenant: str) -> list[StoredCase]:
        """Newest first."""
        ...
    async def events_after(self, case_key: int, seq: int, limit: int = 1000) -> list[StoredEvent]: ...
    async def bump_link_version(self, case_key: int) -> int: ...
    async def set_public(self, case_key: int, public_id: str | None, public_title: str | None) -> None:
        """Publish a case under `public_id` (unique), or make it private again with None."""
        ...
    async def get_public_case(self, public_id: str) -> StoredCase | None: ...
