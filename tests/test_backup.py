"""`tracker backup` and `tracker restore` on real SQLite files: a backup taken while webhooks keep
arriving holds every one acknowledged before it began and is a sound database of the current
schema; a restore replaces the database only when told to and while nothing has it open, and
the service started on it serves the restored cases; what cannot be done is refused in one line,
and no half file is ever left under the target's name."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from tests.conftest import SECRET, LiveServer, _setup_acme, generic_payload, link_for, post
from tracker.admin import add_source, add_tenant
from tracker.app import create_app
from tracker.backup import BackupResult, backup, restore
from tracker.cases import Event
from tracker.clock import Clock
from tracker.config import Settings
from tracker.errors import ConfigError
from tracker.storage import open_store, sqlite_path
from tracker.storage.sqlite import CHECKPOINT_EVENTS, MIGRATIONS

DELIVERIES = 300
CASES = 40
BACKUP_AFTER = 100  # acknowledged deliveries; fewer than CHECKPOINT_EVENTS, so most of them are only in the WAL


def update(n: int) -> dict[str, Any]:
    """Delivery n: an update of one of CASES cases, its title naming the delivery."""
    return {**generic_payload(f"case-{n % CASES}", title=f"update {n}"),
            "message": {"id": f"m{n}", "body": f"update {n}", "public": True}}


class Sender(threading.Thread):
    """Posts DELIVERIES signed webhooks one after another, noting each delivery answered 202."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.acknowledged: list[int] = []
        self.failures: list[str] = []

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, timeout=10) as http:
                for n in range(DELIVERIES):
                    response = post(http, update(n))
                    if response.status_code != 202:
                        self.failures.append(f"delivery {n}: {response.status_code} {response.text}")
                        return
                    self.acknowledged.append(n)
        except Exception as exc:  # reported by the test, not lost in the thread
            self.failures.append(repr(exc))

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 30
        while len(self.acknowledged) < count and not self.failures:
            assert time.monotonic() < deadline, f"only {len(self.acknowledged)} deliveries acknowledged"
            time.sleep(0.002)


def test_a_backup_under_load_holds_every_acknowledged_delivery_and_opens(live: LiveServer, settings: Settings,
                                                                         clock: Clock, tmp_path: Path):
    assert BACKUP_AFTER < CHECKPOINT_EVENTS
    target = tmp_path / "backup.db"
    sender = Sender(live.url)
    sender.start()
    sender.wait_for(BACKUP_AFTER)
    before = set(sender.acknowledged)  # every 202 received before the backup starts
    result = backup(settings.database_url, target)
    acknowledged_by_then = len(sender.acknowledged)
    sender.join(60)
    assert sender.failures == [] and len(sender.acknowledged) == DELIVERIES
    assert acknowledged_by_then < DELIVERIES  # the webhooks went on arriving after the backup: it ran under load

    assert (result.path, result.size_bytes) == (target, target.stat().st_size)
    assert str(result) == f"{result.cases} case(s) and {result.events} event(s) in {target} " \
                          f"({target.stat().st_size:,} bytes)"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # it holds the signing key and the helpdesks' secrets
    assert not Path(f"{target}-wal").exists()  # one self-contained file
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
    with closing(sqlite3.connect(target)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)

    cases = asyncio.run(read_cases(f"sqlite:///{target}", clock))
    in_copy = {int(title.removeprefix("update ")) for events in cases.values() for title in events}
    assert before <= in_copy <= set(range(DELIVERIES))
    assert (result.cases, result.events) == (len(cases), len(in_copy))


async def read_cases(url: str, clock: Clock) -> dict[str, list[str]]:
    """Each case's event titles, through the store, checking each case agrees with its own event log
    (written in one transaction: a torn copy would show a case ahead of or behind its events)."""
    store = await open_store(url, clock)
    try:
        titles: dict[str, list[str]] = {}
        for stored in await store.list_cases("acme"):
            events = await store.events_after(stored.key, 0)
            assert [e.seq for e in events] == list(range(1, stored.seq + 1))
            assert events[-1].case_after == stored.case
            titles[stored.case.case_id] = [e.event.changes["title"] for e in events]
        return titles
    finally:
        await store.close()


def test_restore_replaces_the_database_only_when_told_and_the_service_serves_the_backup(
    settings: Settings, clock: Clock, tmp_path: Path,
):
    saved = tmp_path / "saved.db"
    app = create_app(settings, clock)
    with TestClient(app) as client:
        client.portal.call(_setup_acme, app)
        for case_id in ("1", "2"):
            assert post(client, generic_payload(case_id, title=f"kept {case_id}")).status_code == 202
        link = link_for(client, "1")
        backup(settings.database_url, saved)
        assert post(client, generic_payload("3", title="after the backup")).status_code == 202
        with pytest.raises(ConfigError, match=r"is in use \(is tracker still running\?\): stop the service first"):
            restore(settings.database_url, saved, force=True)

    with pytest.raises(ConfigError, match="There is already a database at .*: stop the service first, then restore "
                                          "with --force"):
        restore(settings.database_url, saved)
    result = restore(settings.database_url, saved, force=True)
    database = Path(sqlite_path(settings.database_url))
    assert result == BackupResult(database, database.stat().st_size, 2, 2)

    app = create_app(settings, clock)
    with TestClient(app) as client:
        cases = client.portal.call(app.state.store.list_cases, "acme")
        assert sorted(stored.case.case_id for stored in cases) == ["1", "2"]
        assert client.get(link + "/case.json").json()["title"] == "kept 1"  # links from before keep working
        assert post(client, generic_payload("1", title="after the restore")).json()["stored"] == 1
        assert client.get(link + "/case.json").json()["revision"] == 2


def make_database(url: str, clock: Clock, *case_ids: str) -> None:
    async def fill() -> None:
        store = await open_store(url, clock)
        try:
            await add_tenant(store, "acme", "ACME Support", "default")
            await add_source(store, "acme", "generic", SECRET)
            for case_id in case_ids:
                await store.ingest("acme", "generic", [Event(case_id, f"d-{case_id}", clock.now(),
                                                             {"title": f"case {case_id}"})])
        finally:
            await store.close()

    asyncio.run(fill())


def test_a_restore_leaves_nothing_of_the_old_database_beside_the_new_one(settings: Settings, clock: Clock,
                                                                         tmp_path: Path):
    """A service killed mid-work leaves a WAL of committed changes behind; replayed into the restored
    file it would mix the old database into the new one."""
    saved = tmp_path / "saved.db"
    make_database(settings.database_url, clock, "1")
    backup(settings.database_url, saved)
    database = sqlite_path(settings.database_url)
    crash = ("import os, sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None); "
             "db.execute('PRAGMA wal_autocheckpoint = 0'); "
             "db.execute(\"INSERT INTO meta (key, value) VALUES ('crashed', 'yes')\"); os._exit(0)")
    subprocess.run([sys.executable, "-c", crash, database], check=True, timeout=30)
    assert Path(f"{database}-wal").stat().st_size > 0
    Path(f"{database}-journal").write_bytes(b"not a journal of the restored file")

    restore(settings.database_url, saved, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved.db", "tracker.db"]
    with closing(sqlite3.connect(database)) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'crashed'").fetchall() == []
        assert db.execute("SELECT case_id FROM cases").fetchall() == [("1",)]
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_a_database_of_an_older_schema_is_restored_and_migrated_when_opened(tmp_path: Path, clock: Clock):
    old = tmp_path / "old.db"
    with closing(sqlite3.connect(old, isolation_level=None)) as db:
        for script in MIGRATIONS[:3]:
            for statement in script.split(";"):
                if statement.strip():
                    db.execute(statement)
        db.execute("INSERT INTO tenants (slug, name, theme, created_at) "
                   "VALUES ('acme', 'ACME Support', 'default', '2025-01-01T00:00:00+00:00')")
        db.execute("PRAGMA user_version = 3")
    url = f"sqlite:///{tmp_path / 'new' / 'tracker.db'}"
    (tmp_path / "new").mkdir()
    assert restore(url, old) == BackupResult(tmp_path / "new" / "tracker.db", old.stat().st_size, 0, 0)

    async def opened() -> tuple[str | None, int]:
        store = await open_store(url, clock)
        try:
            tenant = await store.get_tenant("acme")
            return tenant and tenant.name, len(await store.list_cases("acme"))
        finally:
            await store.close()

    assert asyncio.run(opened()) == ("ACME Support", 0)
    with closing(sqlite3.connect(tmp_path / "new" / "tracker.db")) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def refused(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as refusal:
        call(*args, **kwargs)
    message = refusal.value.message
    assert "\n" not in message
    return message


def test_backup_refuses_to_overwrite_a_file_unless_forced(settings: Settings, clock: Clock, tmp_path: Path):
    make_database(settings.database_url, clock, "1", "2")
    target = tmp_path / "backup.db"
    target.write_bytes(b"yesterday's backup")
    assert "backup.db already exists: name a new file" in refused(backup, settings.database_url, target)
    assert target.read_bytes() == b"yesterday's backup"
    assert backup(settings.database_url, target, force=True).cases == 2
    database = Path(sqlite_path(settings.database_url))
    assert "is the database itself" in refused(backup, settings.database_url, database, force=True)
    assert f"{tmp_path} is a directory: name a file in it" in refused(backup, settings.database_url, tmp_path)


def test_a_failed_backup_leaves_the_target_as_it_was(settings: Settings, clock: Clock, tmp_path: Path):
    """A database damaged on disk: the copy fails its check and is thrown away, and the previous
    backup under the target's name stays whole."""
    make_database(settings.database_url, clock, *(str(n) for n in range(200)))
    database = Path(sqlite_path(settings.database_url))
    with database.open("r+b") as damaged:  # page 1 (the header) intact, a page of the tables overwritten
        damaged.seek(database.stat().st_size // 2)
        damaged.write(b"\xff" * 4096)
    target = tmp_path / "backup.db"
    target.write_bytes(b"the last good backup")
    assert "The copy is damaged" in refused(backup, settings.database_url, target, force=True)
    assert target.read_bytes() == b"the last good backup"
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_postgresql_is_pointed_to_its_own_tools_without_showing_the_password(tmp_path: Path):
    url = "postgresql://tracker:hidden@db.example:5432/tracker"
    target = tmp_path / "tracker.dump"
    said = refused(backup, url, target)
    assert f'pg_dump --format=custom --file={target} "$TRACKER_DATABASE_URL"' in said
    assert f'pg_restore --clean --if-exists --no-owner --single-transaction --dbname="$TRACKER_DATABASE_URL" ' \
           f'{target}' in said
    target.write_bytes(b"a dump")
    said_on_restore = refused(restore, url, target, force=True)
    assert "stop every instance, then restore with pg_restore" in said_on_restore
    assert "hidden" not in said + said_on_restore
    assert "no storage backend for 'mysql'" in refused(backup, "mysql://db/tracker", target)


def test_what_is_not_there_is_named(tmp_path: Path):
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    assert f"No SQLite database at {tmp_path / 'none.db'}" in refused(backup, missing, tmp_path / "backup.db")
    assert f"No backup at {tmp_path / 'none.db'}" in refused(restore, missing, tmp_path / "none.db")
    (tmp_path / "live.db").write_bytes(b"")
    assert f"No directory {tmp_path / 'gone'}" in refused(backup, f"sqlite:///{tmp_path / 'live.db'}",
                                                          tmp_path / "gone" / "backup.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.db"]  # nothing was created


def sqlite_file(path: Path, user_version: int) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE t (x)")
        db.execute(f"PRAGMA user_version = {user_version}")


@pytest.mark.parametrize("kind, reason", [
    ("text", "is not a SQLite database: name a file that tracker backup wrote"),
    ("foreign", "is a SQLite database but not tracker's"),
    ("newer", f"was written by a newer tracker (schema version {len(MIGRATIONS) + 1}; this one knows up to "
              f"{len(MIGRATIONS)}): restore it with that version of tracker"),
])
def test_restore_refuses_a_file_it_cannot_serve_and_keeps_the_database(kind: str, reason: str, settings: Settings,
                                                                        clock: Clock, tmp_path: Path):
    make_database(settings.database_url, clock, "1")
    source = tmp_path / f"{kind}.db"
    if kind == "text":
        source.write_text("case,title\n1,not a database\n" * 10)
    else:
        sqlite_file(source, 0 if kind == "foreign" else len(MIGRATIONS) + 1)
    assert reason in refused(restore, settings.database_url, source, force=True)
    with closing(sqlite3.connect(sqlite_path(settings.database_url))) as db:
        assert db.execute("SELECT case_id FROM cases").fetchall() == [("1",)]
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_backup_refuses_a_live_file_that_is_not_a_database(tmp_path: Path):
    live = tmp_path / "live.db"
    live.write_text("not a database\n" * 100)
    assert "live.db is not a SQLite database" in refused(backup, f"sqlite:///{live}", tmp_path / "backup.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.db"]


def test_the_command_line_backs_up_and_restores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]):
    from tests.test_cli import in_process

    def cli(*args: str) -> Any:
        return in_process(tmp_path, monkeypatch, capsys, *args)

    assert cli("tenant", "add", "acme").returncode == 0
    made = cli("backup", str(tmp_path / "copy.db"))
    assert made.returncode == 0 and made.stdout.startswith("Backed up ") and "copy.db" in made.stdout
    refused = cli("restore", str(tmp_path / "copy.db"))
    assert refused.returncode != 0 and "--force" in refused.stderr and refused.stderr.count("\n") == 1
    restored = cli("restore", str(tmp_path / "copy.db"), "--force")
    assert restored.returncode == 0 and restored.stdout.startswith("Restored ")
    assert cli("tenant", "add", "acme").returncode == 0  # the restored database is a working one
