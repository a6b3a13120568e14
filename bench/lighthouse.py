"""Lighthouse (mobile, its default) on the pages customers see: their case, a public case, the
status page and their list of cases; performance, accessibility and best practices, each page
run a few times (performance moves with the machine's load), medians printed, and the audits
that cost a point named.

Lighthouse comes from npm into bench/.npm (installed on first use) and drives Debian's Chromium
through CHROME_PATH: it never downloads a browser.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench` and `tracker` from this checkout

from bench._util import ROOT, Server, cli, free_port, tracker_env
from tracker.demo import invoice_story, login_story, payload_for
from tracker.standard_webhooks import sign

LIGHTHOUSE_VERSION = "12.2.3"  # 12.3 and later want a newer Node than Debian's
NPM_PREFIX = ROOT / "bench" / ".npm"
LIGHTHOUSE = NPM_PREFIX / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
CATEGORIES = ("performance", "accessibility", "best-practices")
EMAIL = "ann@example.com"
PROBLEM = {"source": "generic", "id": "P-1"}


def install_lighthouse() -> None:
    installed = NPM_PREFIX / "node_modules" / "lighthouse" / "package.json"
    if LIGHTHOUSE.exists() and json.loads(installed.read_text())["version"] == LIGHTHOUSE_VERSION:
        return
    print(f"installing lighthouse@{LIGHTHOUSE_VERSION} into {NPM_PREFIX.relative_to(ROOT)} ...", flush=True)
    subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--no-save", "--no-package-lock",
                    "--prefix", str(NPM_PREFIX), f"lighthouse@{LIGHTHOUSE_VERSION}"], check=True, timeout=600)


def post(url: str, secret: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    msg_id, timestamp = f"lighthouse-{secrets.token_hex(8)}", int(time.time())
    httpx.post(url, content=body, timeout=10, headers={
        "content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body)}).raise_for_status()


def fill(server: Server, env: dict[str, str], secret: str) -> dict[str, str]:
    """The demo's two stories (less the step that restarts them) for one customer, the first one
    linked to a listed problem, the second made public by its customer; returns the pages' paths."""
    hook, now = f"{server.url}/hooks/bench/generic", datetime.now(UTC)
    post(hook, secret, payload_for(PROBLEM["id"], {"case": {
        "title": "Export worker crashes on large invoices", "stage": "in_progress", "waiting_on": "company",
        "progress": 40, "expected_by": now.replace(microsecond=0).isoformat()}}, now))
    cli(env, "problem", "describe", "bench", f"generic:{PROBLEM['id']}", "--title", "Exports fail for large invoices",
        "--summary", "We found the cause and are rolling out a fix.", "--listed", "yes")
    for case_id, story in (("4711", invoice_story(now)), ("4712", login_story(now))):
        for n, step in enumerate(story[:-1]):
            payload = payload_for(case_id, step, now)
            if n == 0:
                payload["case"]["requester_email"] = EMAIL
                if case_id == "4711":
                    payload["case"]["problem"] = PROBLEM
            post(hook, secret, payload)
    case = urlsplit(cli(env, "link", "bench", "generic:4711").strip().splitlines()[-1]).path
    shared = urlsplit(cli(env, "link", "bench", "generic:4712").strip().splitlines()[-1]).path
    form = httpx.get(server.url + shared, timeout=10).text
    token = re.search(r'action="[^"]*/public">\s*<input type="hidden" name="token" value="([^"]+)"', form)
    assert token, "no 'Make this case public' form on the case page"
    httpx.post(f"{server.url}{shared}/public", data={"token": token.group(1)}, timeout=10)
    public = re.search(r'id="share-link"[^>]* value="[^"]*(/p/[^"]+)"', httpx.get(server.url + shared, timeout=10).text)
    assert public, "the case did not become public"
    cases = urlsplit(cli(env, "cases-link", "bench", EMAIL).strip().splitlines()[-1]).path
    assert "Exports fail for large invoices" in httpx.get(f"{server.url}/s/bench", timeout=10).text, "no listed problem"
    listed = httpx.get(server.url + cases, timeout=10).text
    assert "Invoice export fails" in listed and "single sign-on" in listed, "the case list lacks a case"
    return {"case page": case, "public case": public.group(1), "status page": "/s/bench", "case list": cases}


def lighthouse(url: str, out: Path) -> dict[str, Any]:
    """One Lighthouse run with its defaults (mobile emulation, simulated throttling)."""
    subprocess.run([str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={out}",
                    f"--only-categories={','.join(CATEGORIES)}", "--chrome-flags=--headless=new --no-sandbox"],
                   env={**os.environ, "CHROME_PATH": CHROMIUM}, check=True, timeout=300)
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def scores(report: dict[str, Any]) -> dict[str, int]:
    return {name: round(report["categories"][name]["score"] * 100) for name in CATEGORIES}


def failing(report: dict[str, Any]) -> dict[str, str]:
    """Audits that weigh in a category and scored below 1: id -> title."""
    weighed = {ref["id"] for name in CATEGORIES for ref in report["categories"][name]["auditRefs"] if ref["weight"]}
    return {audit_id: audit["title"] for audit_id, audit in report["audits"].items()
            if audit_id in weighed and audit["score"] is not None and audit["score"] < 1}


def main(runs: int) -> None:
    install_lighthouse()
    tmp = Path(tempfile.mkdtemp(prefix="tracker-lighthouse-"))
    port = free_port()
    env, secret = tracker_env(tmp)
    env["TRACKER_BASE_URL"] = f"http://127.0.0.1:{port}"
    server = Server("tracker_app", env, tmp, port=port)
    results: dict[str, list[dict[str, int]]] = {}
    misses: dict[str, dict[str, str]] = {}
    loads: list[float] = []
    try:
        pages = fill(server, env, secret)
        for n in range(runs):  # round robin: drift in machine load hits every page alike
            for name, path in pages.items():
                loads.append(os.getloadavg()[0])
                report = lighthouse(server.url + path, tmp / f"{name.replace(' ', '-')}-{n}.json")
                scored = scores(report)
                results.setdefault(name, []).append(scored)
                if min(scored.values()) < 100:  # what cost the points, named once per page
                    misses.setdefault(name, {}).update(failing(report))
    finally:
        server.stop()

    print(f"Lighthouse {LIGHTHOUSE_VERSION}, mobile, Chromium at {CHROMIUM}; {runs} run(s) per page, medians; "
          f"1-minute load average {min(loads):.2f}-{max(loads):.2f} (on {os.cpu_count()} cores)")
    print(f"{'page':<14}" + "".join(f"{name:>16}" for name in CATEGORIES) + "   runs (perf/a11y/bp)")
    for name, scored in results.items():
        medians = {c: statistics.median(r[c] for r in scored) for c in CATEGORIES}
        each = "  ".join("/".join(str(r[c]) for c in CATEGORIES) for r in scored)
        print(f"{name:<14}" + "".join(f"{medians[c]:>16.0f}" for c in CATEGORIES) + f"   {each}")
    for name, audits in misses.items():
        for audit_id, title in sorted(audits.items()):
            print(f"  {name}: {audit_id}: {title}")
    below = sum(min(r.values()) < 100 for scored in results.values() for r in scored)
    print(f"target 100 / 100 / 100 on every page: {'met in every run' if not below else f'missed in {below} run(s)'}")
    shutil.rmtree(tmp, ignore_errors=True)  # the database, server log and reports; kept when a run fails


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
