"""Following a known problem from the company's status page, without a case of one's own.

A follower (a subscriber of audience PROBLEM on the problem's case) is told what the status
page shows: the title and summary the company wrote for customers, the problem's stage and
expected fix. Never the problem's own text (its engineering title, comments, labels), and
only while the company lists the problem. News is the stage or the expected fix moving; the
problem's own comments, which move it often, are not.
"""

from __future__ import annotations

from typing import Any

from tracker.cases import Case
from tracker.signing import Signer
from tracker.storage.base import Store, StoredCase

PROBLEM = "problem"  # the subscribers' audience


def problem_key(signer: Signer, tenant: str, ref: str) -> str:
    """How the status page names a problem: stable, and telling nothing of its id in the helpdesk."""
    return signer.opaque_name(f"problem/{tenant}/{ref}")[:16]


async def follower_view(store: Store, signer: Signer, problem: StoredCase) -> dict[str, Any] | None:
    """The problem as its followers see it; None while the company does not list it."""
    notes = await store.get_problem_notes(problem.tenant, problem.source, problem.case.case_id)
    if notes is None or not notes.listed:
        return None
    case = problem.case
    return {"key": problem_key(signer, problem.tenant, notes.ref), "title": notes.public_title,
            "summary": notes.summary, "stage": case.stage, "progress": case.progress,
            "expected_by": case.expected_by.isoformat() if case.expected_by else None}


def moved(before: Case | None, after: Case) -> bool:
    """Whether the problem moved as its followers see it since `before` (None: unknown, so yes)."""
    return before is None or (before.stage, before.expected_by) != (after.stage, after.expected_by)
