"""Case page throughput (200 from the render cache, and 304) vs a bare Starlette endpoint, same uvicorn and wrk."""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench` and `tracker` from this checkout

from bench._util import ROOT, Server, case_link, median_run, row, signed_webhook, tracker_env, wrk

WARMUP_SECONDS, RUN_SECONDS, REPEATS = 2, 10, 3
LUA = ROOT / "bench" / "status.lua"
CASE = "42"


def if_none_match(etag: str) -> str:
    # The ETag ends with the current minute (tracker/web/pages.py), so a 10 s run can cross into the
    # next one; offering both tags keeps every request on the 304 path.
    head, minute = etag.strip('"').rsplit(".", 1)
    return f'{etag}, "{head}.{int(minute) + 1}"'


def run(url: str, seconds: int, *options: str) -> dict:
    result = wrk(url, seconds, "-s", str(LUA), *options)
    result["statuses"] = {int(s): int(n) for s, n in re.findall(r"STATUS (\d+) (\d+)", result["output"])}
    return result


async def render_cost(env: dict[str, str], samples: int = 300) -> float:
    """Milliseconds for one full render of case.html, outside the server: what a cache miss costs."""
    from tracker.public import case_view
    from tracker.storage import open_store
    from tracker.web.pages import page_html
    from tracker.web.templates import Templates

    store = await open_store(env["TRACKER_DATABASE_URL"])
    try:
        stored = await store.get_case("bench", "generic", CASE)
        assert stored is not None
        templates = Templates()
        page_html(templates, "http://bench", None, "en", case_view(stored.case, stored.seq), "/c/bench", None)
        started = time.perf_counter()
        for _ in range(samples):
            # case_view is part of the miss too: the handler builds it before rendering.
            page_html(templates, "http://bench", None, "en", case_view(stored.case, stored.seq), "/c/bench", None)
        return (time.perf_counter() - started) / samples * 1e3
    finally:
        await store.close()


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="tracker-bench-"))
    env, secret = tracker_env(tmp)
    bare, tracker = Server("bare_app", env, tmp), Server("tracker_app", env, tmp)
    try:
        for n in range(5):  # a case with a few public updates, like a real one
            headers, body = signed_webhook(secret, CASE, n)
            httpx.post(f"{tracker.url}/hooks/bench/generic", content=body, headers=headers).raise_for_status()
        page = tracker.url + case_link(env, CASE)
        first = httpx.get(page)
        first.raise_for_status()
        print(f"page: {len(first.content)} bytes of HTML; ETag {first.headers['etag']}")
        urls = {"bare": bare.url + "/", "page 200": page, "page 304": page}
        runs: dict[str, list[dict]] = {kind: [] for kind in urls}
        # Alternate the three kinds so that drift in machine speed hits all alike; first pass warms up.
        for n, seconds in enumerate([WARMUP_SECONDS] + [RUN_SECONDS] * REPEATS):
            for kind, url in urls.items():
                options: tuple[str, ...] = ()
                if kind == "page 304":  # a fresh ETag: it changes every minute
                    options = ("-H", f"If-None-Match: {if_none_match(httpx.get(page).headers['etag'])}")
                result = run(url, seconds, *options)
                if n:
                    runs[kind].append(result)
    finally:
        bare.stop()
        tracker.stop()

    m = {kind: median_run(r) for kind, r in runs.items()}
    print(f"page: wrk -t1 -c64 -d{RUN_SECONDS}s, {REPEATS} runs after a {WARMUP_SECONDS}s warm-up, medians")
    print(row("bare", m["bare"]))
    print(row("page 200", m["page 200"], m["bare"], target=0.08))
    print(row("page 304", m["page 304"], m["bare"], target=0.40))
    for kind in ("page 200", "page 304"):
        statuses: dict[int, int] = {}
        for r in runs[kind]:
            for status, count in r["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
        print(f"{kind} statuses: {dict(sorted(statuses.items()))}")
    render_ms = statistics.median(asyncio.run(render_cost(env)) for _ in range(3))
    print(f"uncached render (case_view + case.html, in-process, no HTTP): {render_ms:.3f} ms/page "
          f"= {1e3 / render_ms:.0f} pages/s on one core, {1e3 / render_ms / m['bare']['rps']:.3f} x bare req/s")
    shutil.rmtree(tmp, ignore_errors=True)  # the database and server logs; kept when a run fails


if __name__ == "__main__":
    main()
