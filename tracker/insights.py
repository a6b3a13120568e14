"""What the cases teach: `tracker insights` and GET /api/v1/insights.

Two halves. Each case's *facts* (`case_facts`) are worked out from the case when it is
written, and stored as columns of its row (a covering index holds them on SQLite), because
they need the case's histories, which SQL cannot read fast. The *report* (`report`) is SQL
aggregates over those columns, with the tenant's promise applied at query time, so changing
`promise_hours` changes the report at once; only the medians and percentiles are ranked in
Python, from one indexed read of the durations (see HOURS). `report()` returns plain data: the CLI prints it
as a table or CSV, the API as JSON, and a console page can draw it.

Which cases: those opened (the helpdesk's time of the case's first event) within `since` of
now, per source and, where the helpdesk gives one, per priority. For those cases:
- opened, resolved (now at `resolved` or `closed`), open;
- hours to the first public update (cases with one), and hours spent in each stage: `received`
  (until the case first moved on), `in_progress` (all its spells, for cases resolved since),
  `resolved` (until closed, for closed cases), and to resolution; each as median and 80th
  percentile (nearest rank: the smallest value at least half, or 80 %, of the cases reach);
- promises broken: cases that went quiet, i.e. spent longer than `promise_hours` without a
  public update while open (between two updates, or until resolved, or until now);
- silent work: cases where the team did something internal (a note: its time is kept, never
  its text) while the customer had heard nothing for at least `nudge_after_hours` (default
  half of `promise_hours`), the same rule as the `silent_work` nudge;
- the first expected time: of the resolved cases that were given one, how many were resolved
  by it (held), and the median and 80th percentile slip of the late ones, in hours;
- the customers' verdicts (solved / not solved) and ratings (count, average, one to five);
- the problems (linked cases) with the most affected customers: distinct requesters, or the
  case itself where the requester is unknown.

What storage keeps: every public update; the newest 32 stage and expected-time marks of a case
(cases.MAX_HISTORY_MARKS) and the newest 200 internal times. A case with more stage marks than
that has its earliest spells counted from the oldest mark kept, so `received` and the first
expected time are taken from `first_moved_at` and `first_expected`, which the case keeps for
good (cases.apply); cases stored before those existed fall back to their oldest mark kept.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tracker.cases import OPEN_STAGES, Case
from tracker.errors import BadRequest
from tracker.helpdesks import SOURCES
from tracker.nudges import settings_of
from tracker.storage.base import Store, Tenant
from tracker.tenant_options import option_value

DEFAULT_SINCE = "30d"
MAX_SINCE_DAYS = 3660
SINCE_PATTERN = re.compile(r"^([1-9][0-9]{0,5})([hdw])$")
SINCE_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
TOP_PROBLEMS = 10
# The figures with a median and 80th percentile, in hours: (name, column, the least value counted).
DURATIONS = (
    ("first_update", "first_update_hours", None),
    ("received", "received_hours", None),
    ("in_progress", "in_progress_hours", None),
    ("resolved", "resolved_hours", None),
    ("resolution", "resolution_hours", None),
    ("slip", "slip_hours", 0.0),  # the late cases' (more than zero)
)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the report needs of one case, as its row's columns (FACT_COLUMNS, in this order)."""

    opened_at: datetime
    resolved_at: datetime | None  # set while the case is resolved or closed: when it got there
    heard_at: datetime  # the customer's last public update, or the opening
    priority: str | None
    first_update_hours: float | None
    silence_hours: float  # the longest the customer waited for an update while open, up to the last one
    silent_work_hours: float | None  # the longest silence at a moment of internal activity
    received_hours: float | None
    in_progress_hours: float | None
    resolved_hours: float | None
    resolution_hours: float | None
    slip_hours: float | None  # resolution minus the first expected time (negative: early)
    verdict: str | None
    rating: int | None

    def row(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in FACT_COLUMNS)


FACT_COLUMNS = tuple(Facts.__dataclass_fields__)
FACT_TIMES = ("opened_at", "resolved_at", "heard_at")


def _hours(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 3600


def case_facts(case: Case) -> Facts | None:
    """The case's facts; None for a case no event has touched."""
    if case.created_at is None:
        return None
    opened = case.created_at.astimezone(UTC)
    marks = sorted((m.at.astimezone(UTC), m.stage) for m in case.stage_history)
    resolved_at = _resolved_at(case, opened, marks)
    spells = _spells(case, opened, marks)
    end = resolved_at  # silences count while the case is open
    updates = sorted(u.at.astimezone(UTC) for u in case.updates)
    heard = [opened, *(at for at in updates if opened <= at and (end is None or at <= end))]
    gaps = [_hours(b, a) for a, b in zip(heard, [*heard[1:], *([end] if end else [])], strict=False)]
    silent_work = [_hours(at, heard[bisect.bisect_right(heard, at) - 1])
                   for at in sorted(t.astimezone(UTC) for t, _ in case.internal_times)
                   if at >= opened and (end is None or at <= end)]
    first_expected = case.first_expected
    slip = None
    if resolved_at is not None and first_expected is not None and first_expected.expected_by is not None:
        slip = _hours(resolved_at, first_expected.expected_by)
    return Facts(
        opened_at=opened, resolved_at=resolved_at, heard_at=max([opened, *updates]),
        priority=case.priority or None,
        first_update_hours=_hours(updates[0], opened) if updates else None,
        silence_hours=max(gaps, default=0.0),
        silent_work_hours=max(silent_work, default=None),
        received_hours=spells.get("received"),
        in_progress_hours=spells.get("in_progress", 0.0) if resolved_at is not None else None,
        resolved_hours=spells.get("resolved", 0.0) if case.stage == "closed" else None,
        resolution_hours=None if resolved_at is None else _hours(resolved_at, opened),
        slip_hours=slip, verdict=case.customer_verdict, rating=case.customer_rating,
    )


def _resolved_at(case: Case, opened: datetime, marks: list[tuple[datetime, str]]) -> datetime | None:
    """When the case, resolved or closed now, got there: the first such mark after its last open one."""
    if case.stage in OPEN_STAGES:
        return None
    last_open = max((at for at, stage in marks if stage in OPEN_STAGES), default=None)
    after_open = [at for at, stage in marks if stage not in OPEN_STAGES and (last_open is None or at > last_open)]
    if after_open:
        return min(after_open)
    # Resolved by no mark kept: the case's last change is the best there is.
    return (case.updated_at or opened).astimezone(UTC)


def _spells(case: Case, opened: datetime, marks: list[tuple[datetime, str]]) -> dict[str, float]:
    """Hours spent in each stage, over the spells that ended: `received` until the case first
    moved on (`first_moved_at`, kept for good), then each spell from the stage marks kept."""
    if case.first_moved_at is None:
        return {}
    moved = case.first_moved_at.astimezone(UTC)
    spells = {"received": _hours(moved, opened)}
    later = [(at, stage) for at, stage in marks if at >= moved]
    if not later:
        return spells
    since, stage = later[0]
    for at, new in later:
        if new != stage:
            if stage != "received":
                spells[stage] = spells.get(stage, 0.0) + _hours(at, since)
            stage, since = new, at
    return spells


# --- the report ---

def parse_since(text: str | None) -> timedelta:
    """`30d`, `12h` or `2w`: how far back the report looks (by when cases were opened)."""
    text = DEFAULT_SINCE if text is None else text.strip()
    match = SINCE_PATTERN.match(text)
    if match is None:
        raise BadRequest(f"since: {text[:20]!r} is not a period; write a whole number and h, d or w "
                         "(12h, 30d, 2w).")
    span = timedelta(**{SINCE_UNITS[match[2]]: int(match[1])})
    if span > timedelta(days=MAX_SINCE_DAYS):
        raise BadRequest(f"since: at most {MAX_SINCE_DAYS} days.")
    return span


@dataclass(frozen=True, slots=True)
class Query:
    """What a report asks storage for: the tenant's cases opened since `opened_since`, with the
    promise applied as of `now`."""

    tenant: str
    source: str | None
    opened_since: datetime
    now: datetime
    promise_hours: float
    nudge_after_hours: float

    @property
    def quiet_before(self) -> datetime:
        """An open case last told before this has gone quiet (quiet() in tracker.policy)."""
        return self.now - timedelta(hours=self.promise_hours)


# The SQL, one text for both backends: $1..$n numbered parameters (SQLite's ?NNN), no
# functions one of them lacks. $1 tenant, $2 source or NULL, $3 opened since, $4 promise_hours,
# $5 quiet_before, $6 nudge_after_hours. Counts come per source and priority (NULL: none given);
# a source's own totals are their sums.
_CHOSEN = "tenant = $1 AND source = coalesce($2, source) AND opened_at >= $3"
COUNTS = f"""
    SELECT source, priority, count(*), count(resolved_at),
        count(CASE WHEN silence_hours > $4 OR (resolved_at IS NULL AND heard_at < $5) THEN 1 END),
        count(CASE WHEN silent_work_hours >= $6 THEN 1 END),
        count(slip_hours), count(CASE WHEN slip_hours <= 0 THEN 1 END),
        count(CASE WHEN verdict = 'solved' THEN 1 END), count(CASE WHEN verdict = 'not_solved' THEN 1 END),
        count(rating), sum(rating),
        count(CASE WHEN rating = 1 THEN 1 END), count(CASE WHEN rating = 2 THEN 1 END),
        count(CASE WHEN rating = 3 THEN 1 END), count(CASE WHEN rating = 4 THEN 1 END),
        count(CASE WHEN rating = 5 THEN 1 END)
    FROM cases WHERE {_CHOSEN} GROUP BY source, priority
"""
# The durations, ranked in Python: SQLite has no percentile function, and ranking 100,000 cases
# with window functions (a sort per figure, per source and per priority) took 3.8 s where this
# one pass over the index and Python's sort take a tenth of that (bench/insights.py).
HOURS = f"""
    SELECT source, priority, {", ".join(column for _, column, _ in DURATIONS)} FROM cases WHERE {_CHOSEN}
"""
PROBLEMS = f"""
    SELECT problem, count(*), count(DISTINCT coalesce(requester, source || ':' || case_id)),
        count(CASE WHEN resolved_at IS NULL THEN 1 END)
    FROM cases WHERE {_CHOSEN} AND problem IS NOT NULL
    GROUP BY problem ORDER BY 3 DESC, 2 DESC, problem LIMIT {TOP_PROBLEMS}
"""
QUERIES = (COUNTS, HOURS, PROBLEMS)


def parameters(query: Query, time: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """The parameters of COUNTS ($1..$6; HOURS and PROBLEMS take the first three); `time`
    writes a time as the backend keeps it."""
    return (query.tenant, query.source, time(query.opened_since), query.promise_hours, time(query.quiet_before),
            query.nudge_after_hours)


def fact_values(case: Case, time: Callable[[datetime], Any]) -> tuple[Any, ...]:
    """The case's FACT_COLUMNS as its row holds them (all NULL for a case with no event yet)."""
    facts = case_facts(case)
    if facts is None:
        return (None,) * len(FACT_COLUMNS)
    return tuple(time(v) if isinstance(v, datetime) else v for v in facts.row())


@dataclass(frozen=True, slots=True)
class Rows:
    """What storage answers the report's three queries with, row by row."""

    counts: Sequence[Sequence[Any]]
    hours: Sequence[Sequence[Any]]
    problems: Sequence[Sequence[Any]]


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _group(source: str, priority: str | None) -> dict[str, Any]:
    return {"source": source, "priority": priority, "opened": 0, "resolved": 0, "open": 0,
            "hours": {name: _percentiles([]) for name, _, _ in DURATIONS},
            "gone_quiet": 0, "silent_work": 0,
            "expected": {"given": 0, "held": 0, "held_share": None},
            "verdicts": {"solved": 0, "not_solved": 0},
            "ratings": {"count": 0, "average": None, "by_score": {str(s): 0 for s in range(1, 6)}}}


def figures(rows: Rows) -> list[dict[str, Any]]:
    """The groups of the report, by source then priority (all priorities first)."""
    groups: dict[tuple[str, str | None], dict[str, Any]] = {}
    for source, priority, *counts in rows.counts:
        for key in [(source, None), *([(source, priority)] if priority is not None else [])]:
            _add_counts(groups.setdefault(key, _group(*key)), [int(n or 0) for n in counts])
    values: dict[tuple[str, str | None], list[list[float]]] = {key: [[] for _ in DURATIONS] for key in groups}
    by_key: dict[tuple[str, str | None], list[Sequence[Any]]] = {}
    for row in rows.hours:
        by_key.setdefault((row[0], row[1]), []).append(row)
    for (source, priority), found in by_key.items():  # column by column: 100,000 rows take 0.1 s, not 0.4
        columns = list(zip(*found, strict=True))[2:]
        for i, (column, (_, _, above)) in enumerate(zip(columns, DURATIONS, strict=True)):
            kept = [float(v) for v in column if v is not None and (above is None or v > above)]
            values[(source, None)][i] += kept
            if priority is not None:
                values[(source, priority)][i] += kept
    for key, group in groups.items():
        group["ratings"].pop("sum")
        for (name, _, _), figure in zip(DURATIONS, values[key], strict=True):
            group["hours"][name] = _percentiles(figure)
    return [groups[key] for key in sorted(groups, key=lambda k: (k[0], k[1] is not None, k[1] or ""))]


def _add_counts(group: dict[str, Any], counts: list[int]) -> None:
    opened, resolved, quiet, silent, given, held, solved, not_solved, rated, rating_sum, *scores = counts
    group["opened"] += opened
    group["resolved"] += resolved
    group["open"] = group["opened"] - group["resolved"]
    group["gone_quiet"] += quiet
    group["silent_work"] += silent
    expected = group["expected"]
    expected["given"] += given
    expected["held"] += held
    expected["held_share"] = round(expected["held"] / expected["given"], 3) if expected["given"] else None
    group["verdicts"]["solved"] += solved
    group["verdicts"]["not_solved"] += not_solved
    ratings = group["ratings"]
    ratings["sum"] = ratings.pop("sum", 0) + rating_sum
    ratings["count"] += rated
    ratings["average"] = round(ratings["sum"] / ratings["count"], 2) if ratings["count"] else None
    for score, n in enumerate(scores, start=1):
        ratings["by_score"][str(score)] += n


def _percentiles(values: list[float]) -> dict[str, Any]:
    """Median and 80th percentile by nearest rank: the smallest value at least that share of the
    cases reach (rank ceil(p * n), counted from one)."""
    n = len(values)
    if not n:
        return {"median": None, "p80": None, "cases": 0}
    ranked = sorted(values)
    return {"median": _round(ranked[(n + 1) // 2 - 1]), "p80": _round(ranked[(4 * n + 4) // 5 - 1]), "cases": n}


def check_source(source: str | None) -> str | None:
    if source is not None and source not in SOURCES:
        raise BadRequest(f"source: unknown source {source[:40]!r}. Known sources: {', '.join(sorted(SOURCES))}.")
    return source


async def report(store: Store, tenant: Tenant, since: str | None, source: str | None,
                 now: datetime) -> dict[str, Any]:
    """The tenant's report as plain data (JSON as it stands): see the module's docstring."""
    span, source = parse_since(since), check_source(source)
    promise = float(option_value(tenant.options, "promise_hours"))
    # Silent work as the silent_work nudge judges it.
    query = Query(tenant.slug, source, now - span, now, promise, settings_of(tenant.options).after_hours)
    rows = await store.insight_rows(query)
    problems = []
    for ref, cases, customers, still_open in rows.problems:
        problem_source, _, problem_id = ref.partition(":")
        notes = await store.get_problem_notes(tenant.slug, problem_source, problem_id)
        stored = await store.get_case(tenant.slug, problem_source, problem_id)
        problems.append({"problem": ref, "public_title": notes.public_title if notes else "",
                         "title": stored.case.title if stored else "", "customers": int(customers),
                         "cases": int(cases), "open": int(still_open)})
    return {"tenant": tenant.slug, "since": (since or DEFAULT_SINCE).strip(), "source": source,
            "opened_since": query.opened_since.isoformat(), "now": now.isoformat(),
            "promise_hours": promise, "nudge_after_hours": query.nudge_after_hours,
            "groups": figures(rows), "problems": problems}


def flat_rows(report_data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report's groups as flat rows (CSV, a console page's table): one column a figure."""
    rows = []
    for group in report_data["groups"]:
        row: dict[str, Any] = {name: group[name] for name in ("source", "priority", "opened", "resolved", "open",
                                                                "gone_quiet", "silent_work")}
        for name, hours in group["hours"].items():
            row |= {f"{name}_median_hours": hours["median"], f"{name}_p80_hours": hours["p80"],
                    f"{name}_cases": hours["cases"]}
        row |= {f"expected_{name}": value for name, value in group["expected"].items()}
        row |= {f"verdict_{name}": value for name, value in group["verdicts"].items()}
        ratings = group["ratings"]
        row |= {"ratings": ratings["count"], "rating_average": ratings["average"],
                **{f"rating_{score}": n for score, n in ratings["by_score"].items()}}
        rows.append(row)
    return rows
