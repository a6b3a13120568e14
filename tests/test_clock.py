"""Time is an input: one clock reads the wall clock, everything else asks it, and
TRACKER_CLOCK_OFFSET_DAYS moves it in every process (servers the suite starts included)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import ROOT, generic_payload, link_for, post
from tracker.cases import Event
from tracker.clock import Clock
from tracker.config import Settings
from tracker.errors import ConfigError
from tracker.signing import Signer
from tracker.storage import open_store

# Python's and the databases' ways to ask for the time. SQL now() is allowed only as a column
# default in the schema, which every query overrides with the clock's time.
WALL_CLOCK_READS = re.compile(r"datetime\.now\(|datetime\.utcnow\(|date\.today\(|time\.time\(|"
                              r"(?<![.\w])now\(\)(?<!DEFAULT now\(\))|CURRENT_TIMESTAMP|datetime\('now'\)")


def test_only_the_clock_module_reads_the_wall_clock():
    readers = []
    for path in sorted((ROOT / "tracker").rglob("*.py")):
        if path.name == "clock.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if WALL_CLOCK_READS.search(code):
                readers.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert readers == []


def test_the_clock_is_the_wall_clock_shifted_by_its_offset():
    wall = datetime.now(UTC)
    shifted = Clock.shifted_days(400).now()
    assert timedelta(days=400) <= shifted - wall < timedelta(days=400, seconds=5)
    assert shifted.tzinfo is not None
    assert abs(Clock.shifted_days(400).timestamp() - shifted.timestamp()) < 5


@pytest.mark.parametrize("raw", ["soon", "nan", "inf", "1e9", "-40000"])
def test_a_bad_offset_names_the_variable(raw: str):
    with pytest.raises(ConfigError, match="TRACKER_CLOCK_OFFSET_DAYS"):
        Settings.from_env({"TRACKER_CLOCK_OFFSET_DAYS": raw})


def test_moving_the_clock_moves_what_the_customer_sees(client: TestClient, clock: Clock):
    """A case resolved now is closed for the customer after confirm_days (7), by the clock alone."""
    post(client, {**generic_payload(stage="resolved"), "occurred_at": clock.now().isoformat()})
    url = link_for(client)
    assert client.get(url + "/case.json").json()["awaiting_verdict"] is True
    clock.advance(timedelta(days=8))
    view = client.get(url + "/case.json").json()
    assert view["stage"] == "closed" and view["awaiting_verdict"] is False


def test_the_command_line_takes_the_offset_too(tmp_path: Path):
    """`tracker link --expires-days 1` under a clock 400 days ahead expires 401 days from the wall's now."""
    env = {**os.environ, "TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
           "TRACKER_SECRET_KEYS": "clock-test-key-0123456789", "TRACKER_CLOCK_OFFSET_DAYS": "400"}

    def tracker(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "tracker", *args], env=env, capture_output=True, text=True,
                              timeout=60, check=True)
        return done.stdout

    tracker("tenant", "add", "acme")
    tracker("source", "add", "acme", "generic")
    settings = Settings.from_env(env)
    app_clock = Clock.shifted_days(400)

    async def ingest() -> None:
        store = await open_store(settings.database_url, app_clock)
        try:
            await store.ingest("acme", "generic", [Event("1", "d1", app_clock.now(), {"title": "t"})])
        finally:
            await store.close()

    asyncio.run(ingest())
    url = tracker("link", "acme", "1", "--expires-days", "1").strip().splitlines()[-1]
    link = Signer(settings.secret_keys, app_clock).read_case_link(url.rsplit("/", 1)[1])
    assert link.expires_at is not None
    ahead = link.expires_at - datetime.now(UTC)
    assert timedelta(days=400, hours=23) < ahead < timedelta(days=401, minutes=1)
