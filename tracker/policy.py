"""What a company promises its customers, from its tenant options, with the defaults; and what
follows from it for a case at a given time: the customer's stage, gone quiet, activity."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tracker.cases import OPEN_STAGES, Case
from tracker.problems import linked_problem
from tracker.tenant_options import option_value


@dataclass(frozen=True, slots=True)
class Policy:
    promise_hours: float  # a public update at least this often, or the case has gone quiet
    show_activity: bool  # "3 internal actions today", from timestamps only
    confirm_days: float  # a resolved case closes for the customer after this, unless they answer first
    reminds: bool  # the company has a webhook, so a quiet case reminds the team
    fix_resolves: bool = False  # a linked problem's fix out: its open cases show as resolved


def policy_of(options: Mapping[str, str] | None) -> Policy:
    """The tenant's policy, from its options or their defaults (tenant_options.TENANT_OPTIONS)."""
    options = options or {}
    return Policy(
        promise_hours=option_value(options, "promise_hours"),
        show_activity=option_value(options, "show_activity"),
        confirm_days=option_value(options, "confirm_days"),
        reminds=bool(options.get("webhook_url")),
        fix_resolves=option_value(options, "problem_fix_resolves"),
    )


DEFAULT = policy_of(None)


# What follows from the policy for one case, judged at `now`.

def stage_for_customer(case: Case, policy: Policy, now: datetime) -> str:
    """A resolved case is closed for the customer once they confirm it, or after the tenant's
    timeout; until then they are asked. Where the tenant says so, an open case whose linked
    problem's fix is out is resolved for its customer too, and closed by their word (the
    helpdesk's own stage is untouched: "Not solved yet" leaves the case where it was)."""
    if policy.fix_resolves and case.stage in OPEN_STAGES and (problem := linked_problem(case)) and problem["fix_out"]:
        return "closed" if case.customer_verdict == "solved" else "resolved"
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
