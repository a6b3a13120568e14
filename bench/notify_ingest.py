"""What Keep me updated costs the ingest: the same stream of news events (a public update and a
stage change each) stored through the SQLite store's group commit, once with no subscribers
and once with SUBSCRIBERS confirmed subscribers on each of the 100 cases, whose mails are then
queued in each ingest transaction. Only the store is measured (HTTP, signatures and parsing
are the same either way): events per second, and the ratio with notifications on against off.

    python bench/notify_ingest.py [SUBSCRIBERS] [EVENTS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tracker` from this checkout

from tracker.admin import add_tenant
from tracker.cases import Event, Update
from tracker.clock import Clock
from tracker.storage import open_store

CASES = 100
SENDERS = 64  # webhooks in flight at once, as the HTTP ingest benchmark has
REPEATS = 3


def news(n: int, clock: Clock) -> Event:
    case_id = str(n % CASES)
    stage = "in_progress" if (n // CASES) % 2 else "received"
    update = Update(f"m{n // CASES % 2}", clock.now(), "We are on it. " * 20, "Dana")
    return Event(case_id, f"d{n}", clock.now(), {"stage": stage, "title": f"Case {case_id}"}, update)


async def events_per_second(database: Path, subscribers: int, count: int) -> float:
    clock = Clock()
    store = await open_store(f"sqlite:///{database}", clock)
    await add_tenant(store, "acme", "ACME", None)
    for case in range(CASES):
        [first] = await store.ingest("acme", "generic", [Event(str(case), f"c{case}", clock.now(), {"title": "x"})])
        for s in range(subscribers):
            added = await store.add_subscriber("acme", first.case_key, "customer", f"s{s}@example.com", "en")
            await store.confirm_subscriber(added.id, first.seq)
    queue = iter(range(count))

    async def sender() -> None:
        for n in queue:
            await store.ingest("acme", "generic", [news(n, clock)])

    began = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(SENDERS)))
    elapsed = time.perf_counter() - began
    await store.close()
    return count / elapsed


async def main(subscribers: int, count: int) -> None:
    off, on = [], []
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(REPEATS):  # alternated, so that drift in machine speed hits both alike
            off.append(await events_per_second(Path(folder) / f"off-{repeat}.db", 0, count))
            on.append(await events_per_second(Path(folder) / f"on-{repeat}.db", subscribers, count))
    print(f"ingest of {count} news events over {CASES} cases, {SENDERS} at a time, SQLite, medians of {REPEATS}:")
    print(f"  no subscribers: {statistics.median(off):,.0f} events/s")
    print(f"  {subscribers} subscribers per case: {statistics.median(on):,.0f} events/s "
          f"(ratio {statistics.median(on) / statistics.median(off):.2f}; target >= 0.9)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10, int(sys.argv[2]) if len(sys.argv) > 2 else 5000))
