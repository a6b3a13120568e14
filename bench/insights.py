"""What the cases teach: `tracker insights` over 100,000 cases on SQLite, against a target of one
second. The cases go in through the store's own ingest (so their facts are the ones the write
path keeps), in a temporary SQLite file: three to five events each (opened, taken up, answered,
an internal note for a third, resolved and rated for most), three sources, three priorities and
none, a tenth linked to one of 50 problems. Then the report is asked
for five times (the whole report: its three queries and the problems' titles) and the median
printed beside a bare baseline on the same table in the same run: a plain count of the same cases
(`SELECT count(*) ... WHERE tenant = ? AND opened_at >= ?`).

    python bench/insights.py [CASES]
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tracker` from this checkout

from tracker.cases import Event, Update
from tracker.clock import Clock
from tracker.insights import report
from tracker.storage import open_store
from tracker.storage.base import SourceConfig, Tenant

SOURCES = ("generic", "zendesk", "freshdesk")
PRIORITIES = ("low", "normal", "high", None)
RUNS = 5


def events_of(n: int, hours_ago: float, rng: random.Random, clock: Clock) -> list[Event]:
    """A case's life: opened, taken up, answered (after an internal note, now and then), resolved
    and rated; whatever of it lies in the past."""
    now = clock.now()
    opened = now - timedelta(hours=hours_ago)
    first: dict[str, object] = {"title": f"Case {n}", "stage": "received",
                                "requester_email": f"c{n % 40_000}@example.com",
                                "expected_by": opened + timedelta(hours=rng.uniform(4, 96))}
    if (priority := PRIORITIES[n % 4]) is not None:
        first["priority"] = priority
    if n % 10 == 0:
        first["problem"] = f"github:acme/app#{n // 10 % 50}"
    taken = opened + timedelta(hours=rng.expovariate(1 / 2))
    noted = taken + timedelta(hours=rng.expovariate(1 / 8))
    reply = taken + timedelta(hours=rng.expovariate(1 / 6))
    done = reply + timedelta(hours=rng.expovariate(1 / 24))
    events = [Event(case_id=str(n), delivery_id=f"o{n}", occurred_at=opened, changes=first),
              Event(case_id=str(n), delivery_id=f"t{n}", occurred_at=taken, changes={"stage": "in_progress"}),
              Event(case_id=str(n), delivery_id=f"r{n}", occurred_at=reply,
                    update=Update(f"u{n}", reply, "We have found the cause and are fixing it.", "Dana"))]
    if n % 3 == 0:
        events.append(Event(case_id=str(n), delivery_id=f"n{n}", occurred_at=noted, internal=True))
    if rng.random() < 0.7:
        events.append(Event(case_id=str(n), delivery_id=f"d{n}", occurred_at=done, changes={
            "stage": "resolved", "customer_verdict": rng.choice(("solved", "solved", "not_solved")),
            "customer_rating": rng.randint(1, 5)}))
    return [event for event in events if event.occurred_at < now]


async def fill(url: str, count: int, clock: Clock) -> None:
    store = await open_store(url, clock)
    await store.add_tenant(Tenant("acme", "ACME"))
    for source in SOURCES:
        await store.add_source(SourceConfig("acme", source, "whsec_x"))
    rng = random.Random(23)
    started = time.perf_counter()
    for start in range(0, count, 1000):
        by_source: dict[str, list[Event]] = {}
        for n in range(start, min(start + 1000, count)):
            by_source.setdefault(SOURCES[n % 3], []).extend(events_of(n, rng.uniform(0, 29 * 24), rng, clock))
        await asyncio.gather(*(store.ingest("acme", source, events) for source, events in by_source.items()))
    print(f"{count:,} cases stored through the ingest in {time.perf_counter() - started:.0f} s")
    await store.close()


async def measure(url: str, path: str, clock: Clock) -> None:
    store = await open_store(url, clock)
    tenant = await store.get_tenant("acme")
    assert tenant is not None
    timings, found = [], None
    for _ in range(RUNS):
        started = time.perf_counter()
        found = await report(store, tenant, "30d", None, clock.now())
        timings.append(time.perf_counter() - started)
    await store.close()
    assert found is not None
    db = sqlite3.connect(path)
    since = (clock.now() - timedelta(days=30)).isoformat()
    bare = []
    for _ in range(RUNS):
        started = time.perf_counter()
        (counted,) = db.execute("SELECT count(*) FROM cases WHERE tenant = ? AND opened_at >= ?",
                                ("acme", since)).fetchone()
        bare.append(time.perf_counter() - started)
    db.close()
    opened = sum(g["opened"] for g in found["groups"] if g["priority"] is None)
    assert opened == counted, (opened, counted)
    median, base = statistics.median(timings), statistics.median(bare)
    print(f"report over {opened:,} cases opened in 30 days ({len(found['groups'])} groups, "
          f"{len(found['problems'])} problems): median {median * 1000:.0f} ms of {RUNS} "
          f"(min {min(timings) * 1000:.0f}, max {max(timings) * 1000:.0f}); target < 1000 ms: "
          f"{'met' if median < 1 else 'missed'}")
    print(f"bare count of the same cases: median {base * 1000:.1f} ms; report / bare = {median / base:.0f}x")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "insights.db")
        url = f"sqlite:///{path}"
        asyncio.run(fill(url, count, clock))
        asyncio.run(measure(url, path, clock))


if __name__ == "__main__":
    main()
