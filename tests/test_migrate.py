"""`tracker migrate`: a SQLite installation moves to PostgreSQL and every link, secret, public
page and event log carries over; a target that already has cases is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from starlette.testclient import TestClient

from tests.conftest import CLOCK_OFFSET_DAYS, SECRET, generic_payload, post, sse_events
from tests.postgres_server import PostgresServer
from tracker.app import create_app
from tracker.config import Settings
from tracker.sealing import SEALED
from tracker.storage.base import AuditEntry, SourceConfig


def tracker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracker", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def update(n: int) -> dict[str, object]:
    return {**generic_payload(title=f"v{n}"), "message": {"id": f"m{n}", "body": f"update {n}", "public": True}}


def test_a_sqlite_installation_moves_to_postgresql_and_its_links_keep_working(
    tmp_path: Path, postgres_server: PostgresServer,
):
    old = f"sqlite:///{tmp_path / 'old.db'}"
    new = postgres_server.create_database("migrate")
    # No TRACKER_SECRET_KEYS: links are signed with the key generated into the database, which must move too.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")} | {"TRACKER_DATABASE_URL": old}
    try:
        ok(tracker(env, "tenant", "add", "acme", "--name", "ACME Support"))
        ok(tracker(env, "source", "add", "acme", "generic", "--secret", SECRET))
        ok(tracker(env, "source", "add", "acme", "linear", "--secret", "lin", "--option", "public_comments=yes"))
        app = create_app(Settings(database_url=old, clock_offset_days=CLOCK_OFFSET_DAYS))
        with TestClient(app) as client:
            for n in range(1, 5):
                assert post(client, update(n)).status_code == 202
            post(client, generic_payload("4712", title="Another case"))
            store = app.state.store
            stored = client.portal.call(store.get_case, "acme", "generic", "4711")
            client.portal.call(store.set_public, stored.key, "pub-4711", "My export")
            client.portal.call(store.add_api_key, "acme", "zapier", "hash-1")
            setup_until = app.state.clock.now() + timedelta(days=3)
            client.portal.call(store.add_console_account, "acme", "lead@example.com", "setup-1", setup_until)
            client.portal.call(store.add_audit, AuditEntry("acme", "lead@example.com", "signed_in", "", setup_until))
            delivery = client.portal.call(store.add_delivery, "acme", "webhook", "case.quiet", stored.key,
                                          {"method": "POST", "url": "https://hooks.example/x"})
        revoked = urlsplit(ok(tracker(env, "link", "acme", "4711")).strip().splitlines()[-1]).path
        ok(tracker(env, "revoke", "acme", "4711"))
        link = urlsplit(ok(tracker(env, "link", "acme", "generic:4711")).strip().splitlines()[-1]).path

        moved = ok(tracker({**env, "TRACKER_DATABASE_URL": new}, "migrate", "--from", old))
        assert moved.strip() == (f"Copied 1 tenant(s), 2 source(s), 2 case(s), 5 event(s), 1 outbound deliveries, "
                                 f"1 API key(s) and 0 subscriber(s); 1 console account(s) with their audit log "
                                 f"from {old}.")

        app = create_app(Settings(database_url=new, clock_offset_days=CLOCK_OFFSET_DAYS))
        with TestClient(app) as client:
            page = client.get(link)
            assert page.status_code == 200 and "v4" in page.text
            assert client.get(revoked).status_code == 410  # revoked before the move, still revoked
            view = client.get(link + "/case.json").json()
            assert (view["title"], view["revision"]) == ("v4", 4)
            with client.stream("GET", link + "/events", headers={"Last-Event-ID": "1"}) as stream:
                replay = sse_events(stream.iter_lines(), 3)
            assert [(e["event"], e["id"], e["data"]["update"]["body"]) for e in replay] == [
                ("change", "2", "update 2"), ("change", "3", "update 3"), ("change", "4", "update 4")]
            public = client.get("/p/pub-4711/case.json")
            assert public.status_code == 200 and public.json()["title"] == "My export"
            store = app.state.store
            copied = client.portal.call(store.get_source, "acme", "linear")
            assert copied is not None and copied.secret.startswith(SEALED)  # copied sealed, as it was stored
            expected = SourceConfig("acme", "linear", "lin", {"public_comments": "yes"})
            assert app.state.sealer.open_source(copied) == expected
            # Ingest goes on where SQLite left off: the next revision, and new cases get new keys.
            assert post(client, update(5)).json()["stored"] == 1
            assert client.get(link + "/case.json").json()["revision"] == 5
            assert post(client, generic_payload("4713")).status_code == 202
            keys = [c.key for c in client.portal.call(store.list_cases, "acme")]
            assert len(set(keys)) == 3
            found = client.portal.call(store.find_api_key, "hash-1")
            assert found is not None and found.name == "zapier"
            copied = client.portal.call(store.get_delivery, delivery)
            assert copied is not None and copied.request["url"] == "https://hooks.example/x"
            assert copied.case_key == stored.key and copied.status == "pending"
            assert client.portal.call(store.add_delivery, "acme", "webhook", "case.quiet", None, {}) > delivery
            account = client.portal.call(store.find_console_setup, "setup-1")  # the setup link still works
            assert account is not None and account.email == "lead@example.com"
            assert [e.action for e in client.portal.call(store.list_audit, "acme")] == ["signed_in"]

        again = tracker({**env, "TRACKER_DATABASE_URL": new}, "migrate", old)
        assert again.returncode == 1 and "already has cases" in again.stderr and again.stderr.count("\n") == 1
    finally:
        postgres_server.drop_database(new)


def test_migrate_says_what_it_needs(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    (tmp_path / "empty.db").touch()
    cases = [
        ({"TRACKER_DATABASE_URL": "postgresql://u@127.0.0.1:1/x"}, [], "Name one database to copy from"),
        ({"TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}"}, [f"sqlite:///{tmp_path / 'b.db'}"],
         "must be the postgresql:// database"),
        ({"TRACKER_DATABASE_URL": "postgresql://u@127.0.0.1:1/x"}, [f"sqlite:///{tmp_path / 'none.db'}"],
         "No SQLite database at"),
        ({"TRACKER_DATABASE_URL": "postgresql://u:hidden@127.0.0.1:1/x"},
         ["--from", f"sqlite:///{tmp_path / 'empty.db'}"], "cannot connect to PostgreSQL at 127.0.0.1:1/x"),
    ]
    for extra, args, reason in cases:
        done = tracker(env | extra, "migrate", *args)
        assert done.returncode == 1 and reason in done.stderr and done.stderr.count("\n") == 1, done.stderr
        assert "hidden" not in done.stderr
