"""End to end as a company and a customer use it: the CLI sets up, `tracker serve` runs on
loopback, webhooks arrive, and the case page in Chromium changes without a reload."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser import chromium
from tests.conftest import SECRET, free_port, generic_payload, post, sse_events


def tracker(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "tracker", *args], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = {**os.environ, "TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}",
           "TRACKER_SECRET_KEYS": "e2e-key-0123456789abcdef", "TRACKER_PORT": str(port),
           "TRACKER_PING_SECONDS": "1"}
    tracker(env, "tenant", "add", "acme", "--name", "ACME Support")
    out = tracker(env, "source", "add", "acme", "generic", "--secret", SECRET)
    assert f"http://127.0.0.1:{port}/hooks/acme/generic" in out
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "tracker", "serve"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "tracker serve did not start"
            time.sleep(0.1)
    try:
        yield url, env
    finally:
        server.terminate()
        server.wait(15)
        log.close()


@pytest.mark.browser
def test_case_page_updates_live_in_chromium(served: tuple[str, dict[str, str]]):
    url, env = served
    with httpx.Client(base_url=url, timeout=10) as http:
        assert post(http, {**generic_payload(title="Invoice export fails", stage="received"),
                           "message": {"id": "m1", "body": "We are on it.", "public": True, "author": "Dana"}}
                    ).status_code == 202
        link = tracker(env, "link", "acme", "4711").strip().splitlines()[-1]
        assert link.startswith(url + "/c/")
        with chromium() as browser:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(link)
            expect(page.locator("h1")).to_have_text("Invoice export fails")
            expect(page.locator("[data-live-status]")).to_be_visible()
            page.evaluate("window.__sameDocument = true")
            post(http, {**generic_payload(stage="in_progress", waiting_on="customer",
                                          status_label="Need your CSV"),
                        "message": {"id": "m2", "body": "Please send the CSV file.", "public": True}})
            expect(page.locator(".turn-you")).to_contain_text("Waiting on you")
            expect(page.locator(".timeline li").first).to_contain_text("Please send the CSV file.")
            expect(page.locator('.step[aria-current="step"]')).to_have_text("In progress")
            assert page.evaluate("window.__sameDocument") is True  # changed without a reload
        assert errors == []

        # The stream resumes after Last-Event-ID with exactly the events missed meanwhile.
        with http.stream("GET", link + "/events") as stream:
            [first] = sse_events(stream.iter_lines(), 1)
        post(http, generic_payload(progress=50))
        post(http, generic_payload(progress=60))
        with http.stream("GET", link + "/events", headers={"Last-Event-ID": first["id"]}) as stream:
            missed = sse_events(stream.iter_lines(), 2)
        assert [e["data"]["case"]["progress"] for e in missed] == [50, 60]
        assert [int(e["id"]) for e in missed] == [int(first["id"]) + 1, int(first["id"]) + 2]
