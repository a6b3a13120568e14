"""One problem change reaching every case linked to it: the SQLite store, a problem with
LINKED linked cases (10,000 by default). Measures the linking (one event per case), then one
change of the problem told to every linked case by tracker's fan-out (problems.Problems: a
snapshot event per case, CHUNK at a time), against the bare cost of the same writes: the store
ingesting one plain event per case in the same chunks, in the same run (the ratio is what the
fan-out adds: reading the linked cases, the snapshot, the outbox rows).

    python bench/problem_fanout.py [LINKED]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tracker` from this checkout

from tracker.admin import add_tenant
from tracker.cases import Event
from tracker.clock import Clock
from tracker.problems import CHUNK, Problems
from tracker.pubsub.memory import MemoryHub
from tracker.storage import open_store


async def run(folder: Path, linked: int) -> None:
    clock = Clock()
    store = await open_store(f"sqlite:///{folder / 'bench.db'}", clock)
    await add_tenant(store, "acme", "ACME", None)
    [problem] = await store.ingest("acme", "github", [Event("acme/app#12", "p0", clock.now(), {"stage": "received"})])
    started = time.perf_counter()
    for start in range(0, linked, CHUNK):
        await store.ingest("acme", "generic", [Event(str(n), f"l{n}", clock.now(), {"problem": "github:acme/app#12"})
                                               for n in range(start, min(start + CHUNK, linked))])
    linking = time.perf_counter() - started
    problems = Problems(store, MemoryHub(), clock)
    await store.ingest("acme", "github", [Event("acme/app#12", "p1", clock.now(), {"stage": "in_progress"})])
    started = time.perf_counter()
    told = await problems.tell_linked(problem.case_key)
    fan_out = time.perf_counter() - started
    started = time.perf_counter()
    for start in range(0, linked, CHUNK):  # the bare writes: one plain event per case, as many, as chunked
        await store.ingest("acme", "generic", [Event(str(n), f"b{n}", clock.now(), {"progress": 50})
                                               for n in range(start, min(start + CHUNK, linked))])
    bare = time.perf_counter() - started
    await store.close()
    assert told == linked, (told, linked)
    print(f"linking {linked} cases: {linking:.2f} s ({linked / linking:,.0f} cases/s)")
    print(f"one problem change told to {told} linked cases: {fan_out:.2f} s")
    print(f"bare: {linked} plain events in chunks of {CHUNK}: {bare:.2f} s; ratio fan-out/bare: {fan_out / bare:.2f}")


def main() -> None:
    linked = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(Path(folder), linked))


if __name__ == "__main__":
    main()
