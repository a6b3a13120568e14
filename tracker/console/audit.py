"""The console's audit log: every change made in the console, with who, what and when, kept in
storage and shown to the tenant's people on /admin/audit."""

from __future__ import annotations

from tracker.clock import Clock
from tracker.storage.base import AuditEntry, ConsoleAccount, Store

# What the log says of each action (the page words them: console/audit.html).
ACTIONS = ("signed_in", "signed_out", "signed_out_everywhere", "password_set", "source_connected", "source_changed",
           "link_minted", "links_revoked", "problem_linked", "problem_unlinked", "problem_described", "key_added",
           "key_revoked", "webhook_changed", "delivery_resent", "look_changed",
           "totp_enabled", "totp_disabled", "test_sent")


async def record(store: Store, clock: Clock, account: ConsoleAccount, action: str, detail: str = "") -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    await store.add_audit(AuditEntry(account.tenant, account.email, action, detail, clock.now()))
