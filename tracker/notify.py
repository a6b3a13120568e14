"""What is news to a customer who asked to be kept updated, and what the mail then says.

News: a public update, a stage change, the move becoming the customer's, the expected time
moving, the linked problem moving. Never an internal event (its content is not even stored). Everything else that
changes a case (a status label alone, activity) waits for the next piece of news.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracker.cases import Case, Event


def worth_telling(before: Case, after: Case, event: Event) -> bool:
    if event.internal:
        return False
    return (len(after.updates) != len(before.updates) or after.updates[-1:] != before.updates[-1:]
            or after.stage != before.stage
            or (after.waiting_on == "customer" and before.waiting_on != "customer")
            or after.expected_by != before.expected_by
            or problem_news(before.problem_state) != problem_news(after.problem_state))


def problem_news(state: Mapping[str, Any] | None) -> tuple[Any, ...] | None:
    """What of a linked problem is news: not how many others it affects, which moves often."""
    if state is None:
        return None
    return (state.get("title"), state.get("stage"), state.get("expected_by"), len(state.get("updates", ())))
