"""Signed generic-webhook ingest throughput vs a bare Starlette endpoint, under the same uvicorn and wrk."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench` and `tracker` from this checkout

from bench._util import ROOT, Server, median_run, row, tracker_env, wrk
from tracker.standard_webhooks import sign

CASES = 100
REQUESTS_PER_FILE = 150_000  # more than one 10 s run can send; ingest.lua reports a wrap-around
WARMUP_SECONDS, RUN_SECONDS, REPEATS = 2, 10, 3
LUA = ROOT / "bench" / "ingest.lua"


def bodies() -> list[bytes]:
    """One ~2 KB body per case. The message id is fixed per case, so a case's update list stays one
    entry long: otherwise every event re-serialises an ever-growing case and we'd measure that."""
    now = datetime.now(UTC).isoformat()
    out = []
    for n in range(1, CASES + 1):
        payload = {
            "type": "case.updated", "occurred_at": now,
            "case": {"id": str(n), "title": f"Invoice {n} charged twice", "stage": "in_progress",
                     "status_label": "Refund requested", "waiting_on": "company", "progress": 40,
                     "requester_name": "Sam Doe", "requester_email": "sam@example.com",
                     "next_steps": [{"text": "Finance approves the refund", "owner": "company"},
                                    {"text": "Check your statement", "owner": "customer"}]},
            "message": {"id": f"m-{n}", "body": "", "public": True, "author": "Dana"},
        }
        filler = 2048 - len(json.dumps(payload))
        payload["message"]["body"] = ("We have asked finance to refund the duplicate charge. " * 40)[:filler]
        out.append(json.dumps(payload).encode())
    return out


def write_requests(path: Path, secret: str, prefix: str) -> None:
    """Pre-signed requests for ingest.lua: unique webhook-ids, so none is a duplicate delivery."""
    timestamp = int(time.time())  # written just before its run: well inside the 5-minute tolerance
    payloads = bodies()
    lines = [str(timestamp), str(len(payloads)), *(b.decode() for b in payloads)]
    for i in range(REQUESTS_PER_FILE):
        msg_id = f"{prefix}-{i}"
        body_no = i % CASES
        lines.append(f"{msg_id} {sign(secret, msg_id, timestamp, payloads[body_no])} {body_no + 1}")
    path.write_text("\n".join(lines) + "\n")


def run(url: str, seconds: int, data: Path) -> dict:
    result = wrk(url, seconds, "-s", str(LUA), script_args=(str(data),))
    out = result["output"]
    result["statuses"] = {int(s): int(n) for s, n in re.findall(r"STATUS (\d+) (\d+)", out)}
    result["wrapped"] = int(re.search(r"WRAPPED (\d+)", out).group(1))  # type: ignore[union-attr]
    return result


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="tracker-bench-"))
    env, secret = tracker_env(tmp)
    bare_data = tmp / "bare.txt"
    write_requests(bare_data, secret, "bare")  # bare ignores the headers; same bytes on the wire
    bare, tracker = Server("bare_app", env, tmp), Server("tracker_app", env, tmp)
    hook = f"{tracker.url}/hooks/bench/generic"
    tracker_runs, bare_runs = [], []
    try:
        # Alternate bare and tracker runs so that drift in machine speed hits both alike.
        for n, seconds in enumerate([WARMUP_SECONDS] + [RUN_SECONDS] * REPEATS):
            bare_result = run(bare.url + "/", seconds, bare_data)
            data = tmp / f"tracker-{n}.txt"
            write_requests(data, secret, f"run{n}")
            tracker_result = run(hook, seconds, data)
            if n:  # the first pass is the warm-up
                bare_runs.append(bare_result)
                tracker_runs.append(tracker_result)
            else:
                warmup = tracker_result
        time.sleep(1)  # let requests cut off at wrk's deadline finish committing
    finally:
        bare.stop()
        tracker.stop()
    events = sqlite3.connect(tmp / "bench.db").execute("SELECT count(*) FROM events").fetchone()[0]

    b, t = median_run(bare_runs), median_run(tracker_runs)
    print(f"ingest: wrk -t1 -c64 -d{RUN_SECONDS}s, {REPEATS} runs after a {WARMUP_SECONDS}s warm-up, medians; "
          f"~2 KB signed bodies over {CASES} cases")
    print(row("bare", b))
    print(row("tracker", t, b, target=0.20))
    # Per-run figures: a falling series means ingest slows down as the events table grows.
    print("per run req/s: bare " + ", ".join(f"{r['rps']:.0f}" for r in bare_runs)
          + "; tracker " + ", ".join(f"{r['rps']:.0f}" for r in tracker_runs))
    statuses: dict[int, int] = {}
    for r in [warmup, *tracker_runs]:
        for status, count in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    accepted = statuses.get(202, 0)
    wraps = sum(r["wrapped"] for r in [warmup, *tracker_runs])
    print(f"tracker statuses (all runs incl. warm-up): {dict(sorted(statuses.items()))}; id wrap-arounds: {wraps}")
    verdict = "ok" if accepted <= events else "FAILED: some 202s have no committed row"
    print(f"202 responses {accepted} <= committed event rows {events}: {verdict}")
    shutil.rmtree(tmp, ignore_errors=True)  # the database and server logs; kept when a run fails


if __name__ == "__main__":
    main()
