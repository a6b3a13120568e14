"""What a company promises its customers, from its tenant options, with the defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PROMISE_HOURS = 24.0  # "a public update at least every 24 h"
CONFIRM_DAYS = 7.0  # a resolved case closes for the customer after this, unless they answer first


@dataclass(frozen=True, slots=True)
class Policy:
    promise_hours: float = PROMISE_HOURS
    show_activity: bool = True  # "3 internal actions today", from timestamps only
    confirm_days: float = CONFIRM_DAYS
    reminds: bool = False  # the company has a webhook, so a quiet case reminds the team


DEFAULT = Policy()


def policy_of(options: Mapping[str, str] | None) -> Policy:
    """The tenant's policy; its options were checked when they were set (admin.TENANT_OPTIONS)."""
    options = options or {}
    return Policy(
        promise_hours=float(options.get("promise_hours") or PROMISE_HOURS),
        show_activity=options.get("show_activity", "yes") != "no",
        confirm_days=float(options.get("confirm_days") or CONFIRM_DAYS),
        reminds=bool(options.get("webhook_url")),
    )
