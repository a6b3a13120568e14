"""The README's demo command, run as written, prints a link that works and keeps changing."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.test_docs import ROOT, readme_commands


def test_readme_demo_command_prints_a_working_live_case_link(tmp_path: Path):
    port = free_port()
    env = {**os.environ, "TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}", "TRACKER_PORT": str(port)}
    env.pop("TRACKER_SECRET_KEYS", None)  # the demo must work on a machine with nothing set
    command = readme_commands()[0].replace("tracker demo", "tracker demo --interval-seconds 0.3")
    demo = subprocess.Popen(["bash", "-c", command], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        assert demo.stdout is not None
        link = None
        deadline = time.monotonic() + 120
        for line in demo.stdout:
            found = re.search(rf"http://127\.0\.0\.1:{port}/c/\S+", line)
            if found:
                link = found.group(0)
                break
            assert time.monotonic() < deadline
        assert link, "the demo printed no case link"
        page = httpx.get(link, timeout=10)
        assert page.status_code == 200 and "Invoice export fails" in page.text
        assert "INTERNAL" not in page.text
        first = httpx.get(link + "/case.json", timeout=10).json()["revision"]
        deadline = time.monotonic() + 15
        while httpx.get(link + "/case.json", timeout=10).json()["revision"] == first:
            assert time.monotonic() < deadline, "the demo case did not change"
            time.sleep(0.2)

        # Keep me updated works out of the box: the demo's own mailbox receives the confirmation.
        assert 'name="email"' in page.text
        mailbox = f"http://127.0.0.1:{port}/demo/mailbox"
        answer = httpx.post(link + "/subscriptions", data={"email": "newcomer@example.com"}, timeout=10)
        assert answer.status_code == 202
        deadline = time.monotonic() + 15
        while "Confirm: updates about case 4711" not in httpx.get(mailbox, timeout=10).text:
            assert time.monotonic() < deadline, "no confirmation mail reached the demo mailbox"
            time.sleep(0.2)
    finally:
        os.killpg(demo.pid, 15)
        demo.wait(15)
        if demo.stdout:
            demo.stdout.close()
