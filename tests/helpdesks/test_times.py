"""Every source, every real payload, every time field: absurd values (huge, negative, not a
number, not finite, odd digits) are a 400 that names the field, never a crash."""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.clock_of_suite import suite_clock
from tracker import helpdesks
from tracker.errors import BadRequest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TIME_KEY = re.compile(r"(?i)(^at$|_at$|At$|^timestamp$|^date$|time$)")
ABSURD_TIMES = st.one_of(
    st.sampled_from([1e20, -1e20, 10**30, -(10**30), -1, 2**63, math.inf, -math.inf, math.nan, True,
                     "1e20", "²", "①", "", "soon", "9999-99-99T99:99:99Z", "99999-01-01T00:00:00Z",
                     "0001-01-01T00:00:00-23:59", "9999-12-31T23:59:59-23:59", [], {}, None]),
    st.integers(), st.floats(), st.text(max_size=30),
)


def payloads() -> Iterator[tuple[str, str, Any]]:
    for folder in sorted(FIXTURES.iterdir()):
        if folder.name not in helpdesks.SOURCES:
            continue
        for path in sorted(folder.glob("*.json")):
            yield folder.name, path.stem, json.loads(path.read_text())


def time_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if TIME_KEY.search(str(key)) and not isinstance(item, dict | list):
                yield (*path, key)
            yield from time_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from time_paths(item, (*path, index))


def replaced(payload: Any, path: tuple[Any, ...], value: Any) -> Any:
    changed = copy.deepcopy(payload)
    holder = changed
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value
    return changed


def headers_for(stem: str) -> dict[str, str]:
    """The event headers the sources read, from the fixture's name (issues.opened -> issues)."""
    event = stem.split(".")[0]
    return {"x-github-event": event, "x-gitlab-event": "Issue Hook", "x-helpscout-event": stem.split(".internal")[0],
            "linear-event": event, "x-chatwoot-delivery": "d-1", "x-github-delivery": "d-1"}


CASES = [(name, stem, payload, path) for name, stem, payload in payloads() for path in time_paths(payload)]


def test_the_fixtures_have_time_fields_in_every_source():
    covered = {name for name, *_ in CASES}
    assert covered >= {"chatwoot", "front", "intercom", "github", "gitlab", "linear", "zammad", "jira"}, covered


@pytest.mark.parametrize(("name", "stem", "payload", "path"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{'.'.join(map(str, c[3]))}" for c in CASES])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=ABSURD_TIMES)
def test_an_absurd_time_is_a_400_naming_the_field(name: str, stem: str, payload: Any, path: tuple[Any, ...],
                                                   value: Any):
    source = helpdesks.get(name)
    try:
        events = source.parse(replaced(payload, path, value), headers_for(stem), received_at=suite_clock().now())
    except BadRequest as error:
        assert error.status == 400 and str(path[-1]) in error.message, (path, value, error.message)
    else:
        for event in events:  # a value taken as a time is a real one, usable in arithmetic
            assert 1970 <= event.occurred_at.year <= 9000
