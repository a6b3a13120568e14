"""The Store protocol and the records it returns; nothing backend-specific."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from tracker.cases import Case, Event

if TYPE_CHECKING:
    from tracker.insights import Query, Rows


@dataclass(frozen=True, slots=True)
class Tenant:
    slug: str
    name: str
    theme: str = "default"
    # Tenant settings by name (embed origins, branding, ...); tenant_options.TENANT_OPTIONS lists them.
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
    problem: str | None = None  # the problem it is linked to ("SOURCE:ID"): its moves change the page


@dataclass(frozen=True, slots=True)
class StoredEvent:
    case_key: int
    seq: int
    event: Event
    case_after: Case
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Appended:
    """An event stored by `ingest` (duplicates are not reported). `wake`: it queued work the
    delivery worker should start at once (the cases linked to a problem that moved)."""

    case_key: int
    seq: int
    wake: bool = False


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbound request: the tenant's own webhook, or a write-back into a helpdesk's API.

    `request` is what to send ({"method", "url", "body"}); credentials and signatures are added
    at send time, so a retry is signed afresh and no secret sits in the delivery log."""

    id: int
    tenant: str
    kind: str  # "webhook", or "writeback:<source>"
    event_type: str  # "case.quiet", "case.customer_verdict", "case.link", ...
    case_key: int | None
    request: Mapping[str, Any]
    status: str  # "pending", "delivered" or "failed"
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    tenant: str
    name: str
    key_hash: str  # sha256 of the key; the key itself is shown once and never stored
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Subscriber:
    """Someone who asked to be told of a case's news, by e-mail or on a device (Web Push). The
    address is for sending only: never shown on any surface or logged, and erased with the row
    on unsubscribing."""

    id: int
    tenant: str
    case_key: int
    audience: str  # "customer" (subscribed through the signed link) or "public"
    address: str
    language: str
    confirmed_at: datetime | None  # nothing but the confirmation mail is sent before this
    told_seq: int  # the case's revision the last mail told of
    told_at: datetime | None
    created_at: datetime
    channel: str = "email"  # or "push": `address` is then the browser's push endpoint
    push_keys: str | None = None  # a push subscription's keys, as the browser gave them (JSON)


@dataclass(frozen=True, slots=True)
class Receipt:
    """An inbound webhook delivery that stored nothing, and why: refused (4xx), a duplicate, or
    ignored (nothing for a case in it). Never its body. (Stored ones show in their cases.)"""

    tenant: str
    source: str
    received_at: datetime
    outcome: str  # refused, duplicate, ignored
    status: int
    detail: str
    delivery_id: str = ""


@dataclass(frozen=True, slots=True)
class ProblemNotes:
    """What the company says of a problem to customers: the case's own title and text never
    reach them, this does (and `listed` puts it on the status page)."""

    tenant: str
    source: str
    case_id: str
    public_title: str = ""
    summary: str = ""
    listed: bool = False
    updated_at: datetime | None = None

    @property
    def ref(self) -> str:
        return f"{self.source}:{self.case_id}"


@dataclass(frozen=True, slots=True)
class ForgetResult:
    """What `forget_requester` erased: the cases scrubbed of the requester (kept, with their
    stage, times and events), the events scrubbed, and the subscribers and mails deleted."""

    cases: int = 0
    events: int = 0
    subscribers: int = 0
    deliveries: int = 0


@dataclass(frozen=True, slots=True)
class ConsoleAccount:
    """A person who signs in to the company's console (/admin), in one tenant. Sessions carry
    `session_version`: bumping it signs the account out everywhere. The setup link is kept as
    its SHA-256 only, until it is used or replaced."""

    id: int
    tenant: str
    email: str  # lower case; one account per address, whatever the tenant
    password_hash: str | None  # argon2id; None until the setup link is used
    session_version: int
    setup_hash: str | None
    setup_expires_at: datetime | None
    created_at: datetime
    totp_secret: str | None = None  # the second factor's secret, sealed; None while there is none
    totp_step: int = 0  # the last step whose code was used (a code works once)
    recovery_hashes: str = ""  # SHA-256 of each unused recovery code, space-separated


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change made in the console: who, what, when (and to which thing, in `detail`)."""

    tenant: str
    actor: str  # the account's address
    action: str  # "signed_in", "password_set", "signed_out_everywhere", ...
    detail: str
    at: datetime


RECEIPTS_KEPT = 500  # per tenant: the latest refusals, duplicates and ignored deliveries


class Store(Protocol):
    async def close(self) -> None: ...
    async def ready(self) -> None:
        """Returns when the database answers a query now; raises what the driver raises otherwise."""
        ...

    async def get_meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str) -> None: ...

    async def add_tenant(self, tenant: Tenant) -> None: ...
    async def get_tenant(self, slug: str) -> Tenant | None: ...
    async def list_tenants(self) -> list[Tenant]: ...
    async def add_source(self, config: SourceConfig) -> None: ...
    async def get_source(self, tenant: str, source: str) -> SourceConfig | None: ...
    async def list_sources(self, tenant: str) -> list[str]: ...

    async def ingest(self, tenant: str, source: str, events: list[Event]) -> list[Appended]:
        """Store new events and apply them to their cases in one committed transaction;
        returns only after the commit. Events already stored (same delivery id) are skipped."""
        ...

    async def get_case(self, tenant: str, source: str, case_id: str) -> StoredCase | None: ...
    async def get_case_head(self, tenant: str, source: str, case_id: str) -> CaseHead | None: ...
    async def get_case_by_key(self, case_key: int) -> StoredCase | None: ...
    async def find_cases(self, tenant: str, case_id: str) -> list[StoredCase]:
        """Cases of the tenant with this helpdesk id, in any source."""
        ...
    async def list_cases(self, tenant: str) -> list[StoredCase]:
        """Newest first."""
        ...
    async def events_after(self, case_key: int, seq: int, limit: int = 1000) -> list[StoredEvent]: ...
    async def bump_link_version(self, case_key: int) -> int: ...
    async def set_public(self, case_key: int, public_id: str | None, public_title: str | None) -> None:
        """Publish a case under `public_id` (unique), or make it private again with None, which
        also ends its public subscribers."""
        ...
    async def get_public_case(self, public_id: str) -> StoredCase | None: ...

    async def add_delivery(self, tenant: str, kind: str, event_type: str, case_key: int | None,
                           request: Mapping[str, Any]) -> int:
        """Queue a delivery, due at once."""
        ...
    async def tell_once(self, case_key: int, kind: str, period: str) -> bool:
        """True for the first to ask, in any process or instance: that one tells (a reminder)."""
        ...

    async def pending_deliveries(self) -> dict[str, int]:
        """How many deliveries wait, by kind (for the metrics)."""
        ...

    async def claim_deliveries(self, now: datetime, lease_seconds: float, limit: int) -> list[Delivery]:
        """Pending deliveries due by `now`, each pushed `lease_seconds` ahead so that no other
        worker (or instance) takes it meanwhile."""
        ...
    async def finish_delivery(self, delivery_id: int, status: str, attempts: int, next_attempt_at: datetime,
                              last_error: str | None) -> None: ...
    async def get_delivery(self, delivery_id: int) -> Delivery | None: ...
    async def list_deliveries(self, tenant: str, limit: int = 50, event_type: str | None = None) -> list[Delivery]:
        """Newest first; only those of `event_type` when given."""
        ...
    async def last_delivery(self, tenant: str, event_type: str, case_key: int) -> Delivery | None:
        """The newest delivery of this type for this case."""
        ...
    async def last_delivery_at(self, tenant: str, event_type: str, case_key: int) -> datetime | None:
        """When the newest delivery of this type for this case was queued."""
        ...

    async def add_receipt(self, receipt: Receipt) -> None:
        """Keep it, and only the newest RECEIPTS_KEPT of the tenant."""
        ...

    async def receipts(self, tenant: str, source: str | None, limit: int) -> list[Receipt]:
        """The newest first."""
        ...

    async def stored_receipts(self, tenant: str, source: str | None, limit: int) -> list[Receipt]:
        """The newest stored events as receipts (outcome "stored", the case and revision in `detail`)."""
        ...

    async def set_problem_notes(self, notes: ProblemNotes) -> ProblemNotes: ...
    async def get_problem_notes(self, tenant: str, source: str, case_id: str) -> ProblemNotes | None: ...
    async def listed_problems(self, tenant: str) -> list[ProblemNotes]: ...
    async def linked_cases(self, tenant: str, problem: str, after_key: int = 0,
                           limit: int = 500) -> list[tuple[int, str, str]]:
        """The cases linked to a problem ("SOURCE:ID"), as (key, source, case id), by key."""
        ...

    async def requester_cases(self, tenant: str, email: str, limit: int = 500) -> list[StoredCase]:
        """A requester's cases in the tenant, from every source, the latest change first."""
        ...

    async def count_linked(self, tenant: str, problem: str) -> int:
        """How many open cases are linked to the problem."""
        ...

    async def add_subscriber(self, tenant: str, case_key: int, audience: str, address: str, language: str,
                             channel: str = "email", push_keys: str | None = None) -> Subscriber:
        """A new subscriber, or the one already there for this case, audience and address (an
        e-mail address, or for `channel="push"` a browser's push endpoint)."""
        ...
    async def get_subscriber(self, subscriber_id: int) -> Subscriber | None: ...
    async def confirmed_subscribers(self, case_key: int) -> list[Subscriber]: ...
    async def confirm_subscriber(self, subscriber_id: int, told_seq: int) -> bool:
        """Confirmed from now on, told of everything up to `told_seq`; False when it is gone."""
        ...
    async def remove_subscriber(self, subscriber_id: int) -> bool: ...
    async def mark_told(self, subscriber_id: int, told_seq: int, at: datetime) -> None: ...
    async def claim_subscriber(self, subscriber_id: int, now: datetime, until: datetime) -> bool:
        """True when nobody else is mailing this subscriber (their claim ran out, or there was
        none): then it is ours until `until` or `release_subscriber`."""
        ...
    async def release_subscriber(self, subscriber_id: int) -> None: ...

    async def forget_requester(self, tenant: str, email: str) -> ForgetResult:
        """Erase a requester (`email` trimmed and in lower case, as the `requester` column holds
        it) from the tenant, in one transaction: their address and name leave their cases and
        every event of those (the cases stay, with their stage, times and revisions), and their
        subscriptions and the mails naming their address are deleted. See tracker/erasure.py."""
        ...

    async def purge_closed(self, tenant: str, before: datetime) -> int:
        """Delete the tenant's closed cases last written before `before`, with their events,
        subscribers and deliveries, in one transaction; returns how many cases."""
        ...

    async def insight_rows(self, query: Query) -> Rows:
        """The answers of tracker.insights' queries (its QUERIES, over the case facts each case's
        row keeps), for `tracker insights` and GET /api/v1/insights."""
        ...

    async def add_api_key(self, tenant: str, name: str, key_hash: str) -> int: ...
    async def find_api_key(self, key_hash: str) -> ApiKey | None: ...
    async def list_api_keys(self, tenant: str) -> list[ApiKey]: ...
    async def revoke_api_key(self, tenant: str, name: str, now: datetime) -> bool:
        """False when the tenant has no unrevoked key of that name."""
        ...

    async def add_console_account(self, tenant: str, email: str, setup_hash: str,
                                  setup_expires_at: datetime) -> ConsoleAccount:
        """A new account of the tenant with this setup link, or the existing one (same tenant and
        address) with its setup link replaced; its password stays until the new link is used."""
        ...
    async def get_console_account(self, account_id: int) -> ConsoleAccount | None: ...
    async def find_console_account(self, email: str) -> ConsoleAccount | None: ...
    async def find_console_setup(self, setup_hash: str) -> ConsoleAccount | None: ...
    async def set_console_password(self, account_id: int, setup_hash: str, password_hash: str) -> bool:
        """Set the password by the setup link with this hash, which then stops working; every
        session of the account ends. False when that link is used or replaced already."""
        ...
    async def bump_console_sessions(self, account_id: int) -> int:
        """Every session of the account ends; returns the new session version."""
        ...
    async def set_console_totp(self, account_id: int, secret: str | None, step: int, recovery_hashes: str) -> None:
        """Turn the second factor on (a sealed secret, the step just used, the recovery codes'
        hashes) or off (None and "")."""
        ...
    async def use_console_totp_step(self, account_id: int, step: int) -> bool:
        """Record a step's code as used; False when it or a later one was used already."""
        ...
    async def use_console_recovery(self, account_id: int, before: str, after: str) -> bool:
        """Replace the recovery hashes `before` by `after` (one code used); False when they changed meanwhile."""
        ...
    async def add_audit(self, entry: AuditEntry) -> None: ...
    async def list_audit(self, tenant: str, limit: int = 100) -> list[AuditEntry]:
        """Newest first."""
        ...
