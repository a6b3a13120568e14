"""The command line: each command's output, and a one-line reason with a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
               "TRACKER_SECRET_KEYS": "cli-key-0123456789abcdef", **env}
    return subprocess.run([sys.executable, "-m", "tracker", *args], env=environ, capture_output=True,
                          text=True, timeout=60)


def test_setup_link_revoke_and_cases(tmp_path: Path):
    assert run(tmp_path, "tenant", "add", "acme").returncode == 0
    added = run(tmp_path, "source", "add", "acme", "generic")
    assert "http://127.0.0.1:8000/hooks/acme/generic" in added.stdout and "whsec_" in added.stdout
    assert "webhook-signature" in added.stdout  # the setup instructions for this source
    linear = run(tmp_path, "source", "add", "acme", "linear", "--secret", "s", "--option", "public_comments=yes")
    assert "Option:      public_comments=yes" in linear.stdout
    missing = run(tmp_path, "link", "acme", "4711")
    assert missing.returncode == 1 and "No case '4711'" in missing.stderr
    assert run(tmp_path, "cases", "acme").stdout == ""


def test_tenant_options_are_kept_when_the_tenant_is_updated(tmp_path: Path):
    origins = "embed_origins=https://help.acme.example http://localhost:3000"
    assert "Option: " + origins in run(tmp_path, "tenant", "add", "acme", "--option", origins).stdout
    renamed = run(tmp_path, "tenant", "add", "acme", "--name", "ACME Inc").stdout
    assert "Option: " + origins in renamed
    cleared = run(tmp_path, "tenant", "add", "acme", "--option", "embed_origins=").stdout
    assert "Option:" not in cleared


@pytest.mark.parametrize(("args", "env", "reason"), [
    (("tenant", "add", "Bad Slug"), {}, "Tenant slug"),
    (("tenant", "add", "acme", "--theme", "neon"), {}, "Unknown theme 'neon'"),
    (("tenant", "add", "acme", "--option", "colour=red"), {}, "Tenants have no option colour"),
    (("tenant", "add", "acme", "--option", "embed_origins=help.acme.example"), {}, "is not an origin"),
    (("source", "add", "nobody", "generic"), {}, "Unknown tenant 'nobody'"),
    (("source", "add", "acme", "zendsk"), {}, "Known sources: chatwoot"),
    (("source", "add", "acme", "generic", "--option", "x=1"), {}, "Source 'generic' has no option x"),
    (("source", "add", "acme", "linear", "--option", "public=yes"), {}, "Its options: public_comments"),
    (("settings",), {"TRACKER_PORT": "eighty"}, "TRACKER_PORT='eighty'"),
    (("settings",), {"TRACKER_DATABASE_URL": "mysql://x"}, "TRACKER_DATABASE_URL"),
    (("settings",), {"TRACKER_SECRET_KEYS": "short"}, "TRACKER_SECRET_KEYS"),
])
def test_bad_input_exits_non_zero_with_one_line(tmp_path: Path, args, env, reason):
    done = run(tmp_path, *args, **env)
    assert done.returncode == 1
    assert reason in done.stderr and done.stderr.count("\n") == 1


def test_settings_masks_secrets(tmp_path: Path):
    shown = run(tmp_path, "settings").stdout
    assert "TRACKER_SECRET_KEYS=1 key(s)" in shown and "cli-key" not in shown


def test_deliveries_lists_the_log_and_redelivers(tmp_path: Path):
    import asyncio

    from tracker.admin import add_tenant
    from tracker.outbound import queue_webhook
    from tracker.storage import open_store

    async def queue() -> int:
        store = await open_store(f"sqlite:///{tmp_path / 'cli.db'}")
        try:
            tenant = await add_tenant(store, "acme", "ACME", None, {"webhook_url": "http://127.0.0.1:9/hook"})
            delivery_id = await queue_webhook(store, tenant, "case.quiet", None, {})
            assert delivery_id is not None
            await store.finish_delivery(delivery_id, "failed", 9, datetime.now(UTC), "HTTP 500: boom")
            return delivery_id
        finally:
            await store.close()

    delivery_id = asyncio.run(queue())
    listed = run(tmp_path, "deliveries", "acme").stdout
    assert f"{delivery_id}" in listed and "failed" in listed and "case.quiet" in listed and "HTTP 500: boom" in listed
    again = run(tmp_path, "deliveries", "acme", "--redeliver", str(delivery_id))
    assert again.returncode == 0 and "queued again" in again.stdout
    assert "pending" in run(tmp_path, "deliveries", "acme").stdout
    missing = run(tmp_path, "deliveries", "acme", "--redeliver", "999")
    assert missing.returncode == 1 and "No delivery 999" in missing.stderr
