"""What a company promises its customers, from its tenant options, with the defaults; and what
follows from it for a case at a given time: the customer's stage, gone quiet, activity."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tracker.cases import OPEN_STAGES, Case

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


# What follows from the policy for one case, judged at `now`.

def stage_for_customer(case: Case, policy: Policy, now: datetime) -> str:
    """A resolved case is closed for the customer once they confirm it, or after the tenant's
    timeout; until then they are asked."""
    if case.stage != "resolved":
        return case.stage
    if case.customer_verdict == "solved":
        return "closed"
    resolved_at = _entered(case, "resolved")
    if resolved_at is not None and now - resolved_at > timedelta(days=policy.confirm_days) \
            and case.customer_verdict is None:
        return "closed"
    return "resolved"


def _entered(case: Case, stage: str) -> datetime | None:
    """When the case last entered `stage`."""
    times = [m.at for m in case.stage_history if m.stage == stage]
    return max(times) if times else None


def last_public_update(case: Case) -> datetime | None:
    return case.updates[-1].at if case.updates else case.created_at


def quiet(case: Case, policy: Policy, now: datetime) -> dict[str, Any] | None:
    """Set when an open case has had no public update for longer than the company promised."""
    since = last_public_update(case)
    if case.stage not in OPEN_STAGES or since is None:
        return None
    silent = now - since
    if silent <= timedelta(hours=policy.promise_hours):
        return None
    return {"since": since.isoformat(), "hours": int(silent.total_seconds() // 3600),
            "promise_hours": policy.promise_hours, "reminded": policy.reminds}


def activity(case: Case, now: datetime) -> dict[str, Any] | None:
    """How much the team did behind the scenes in the last 24 hours: counts and times only."""
    day_ago = now - timedelta(hours=24)
    recent = [at for at, _ in case.internal_times if day_ago <= at <= now]
    if not recent:
        return None
    return {"count": len(recent), "last_at": max(recent).isoformat()}
