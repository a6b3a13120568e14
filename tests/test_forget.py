"""`tracker forget`: a requester erased from a tenant, on both backends. Their address and name
leave their cases and every event of those, their subscriptions and the mails naming them go,
and the cases keep their shape for the company's statistics; on SQLite the bytes are gone from
the database file and its WAL too."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.clock_of_suite import suite_clock
from tests.conftest import BACKENDS
from tracker.admin import add_tenant
from tracker.cases import Event, Update, dump_case, dump_event
from tracker.clock import Clock
from tracker.erasure import NEUTRAL_AUTHOR, forget
from tracker.errors import ConfigError
from tracker.storage import open_store, sqlite_path
from tracker.storage.base import ForgetResult, Store
from tracker.storage.sqlite import SQLiteStore

both_backends = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ANN = {"requester_email": "Ann@Example.com", "requester_name": "Ann Smith"}
BOB = {"requester_email": "bob@example.com", "requester_name": "Bob Jones"}
TRACES = re.compile(rb"(?<![\w.+-])ann@example\.com|ann smith", re.I)  # of Ann, in any case (not joann@)


class Log:
    """Events for the test's cases, one second apart on the test's clock."""

    def __init__(self, clock: Clock) -> None:
        self.start = clock.now()
        self.count = 0

    def event(self, case_id: str, update: tuple[str, str] | None = None, **changes: object) -> Event:
        self.count += 1
        at = self.start + timedelta(seconds=self.count)
        delivery = f"d{self.count}"
        written = None if update is None else Update(delivery, at, update[1], update[0])
        return Event(case_id, delivery, at, changes, written)


async def seed(store: Store, log: Log, updates: int = 1) -> dict[str, int]:
    """Two cases of Ann's (one in zendesk), one of Bob's, with updates by Ann and by the team;
    Ann subscribed to her case and to Bob's; mails queued for both. The keys of the cases by
    name, and of the subscribers by address."""
    await add_tenant(store, "acme", "ACME", None)
    await add_tenant(store, "globex", "Globex", None)
    keys: dict[str, int] = {}
    for name, source, who in (("1", "generic", ANN), ("2", "zendesk", ANN), ("3", "generic", BOB)):
        author = who["requester_name"]
        [first] = await store.ingest("acme", source, [log.event(name, title=f"Case {name}", stage="received", **who)])
        keys[name] = first.case_key
        for n in range(updates):
            theirs = log.event(name, (author, f"Any news? {n} " + "x" * 3000))
            await store.ingest("acme", source, [theirs, log.event(name, ("Sam from Support", f"Reply {n}"),
                                                                   stage="in_progress")])
    await store.ingest("globex", "generic", [log.event("9", title="Elsewhere", **ANN)])  # another tenant's
    for name, address in (("1", "ann@example.com"), ("3", "ANN@example.com "), ("3", "bob@example.com")):
        keys[address] = (await store.add_subscriber("acme", keys[name], "customer", address, "en")).id
    for address in ("Ann@Example.com", "bob@example.com", "joann@example.com"):  # "e-mail me links to my cases"
        await store.add_delivery("acme", "mail", "requester.links", None, {"requester": address, "language": "en"})
    bounced = await store.add_delivery("acme", "mail", "case.news", keys["3"], {"subscriber": keys["ANN@example.com "]})
    await store.finish_delivery(bounced, "failed", 1, log.start, "550 5.1.1 <ann@example.com>: Recipient address "
                                                                  "rejected")
    return keys


def traces(text: str) -> list[str]:
    return [m.decode() for m in TRACES.findall(text.encode())]


async def all_text(store: Store, key: int) -> str:
    """The case and every event of it (and the case after each), as stored."""
    stored = await store.get_case_by_key(key)
    assert stored is not None
    logged = await store.events_after(key, 0)
    return "\n".join([dump_case(stored.case), *(dump_event(e.event) + dump_case(e.case_after) for e in logged)])


@both_backends
async def test_forgetting_a_requester_erases_them_and_keeps_the_shape_of_their_cases(store: Store, clock: Clock):
    keys = await seed(store, Log(clock))
    before = {name: await store.get_case_by_key(keys[name]) for name in ("1", "2")}
    bob_before = await all_text(store, keys["3"])

    result = await forget(store, "acme", "  ANN@example.COM ")

    assert result == ForgetResult(cases=2, events=6, subscribers=2, deliveries=2)
    for name in ("1", "2"):
        after = await store.get_case_by_key(keys[name])
        old = before[name]
        assert after is not None and old is not None
        assert (after.seq, after.case.stage, after.case.created_at, after.case.updated_at, len(after.case.updates)) \
            == (old.seq, old.case.stage, old.case.created_at, old.case.updated_at, len(old.case.updates))
        assert (after.case.requester_email, after.case.requester_name) == (None, None)
        assert [u.author_display for u in after.case.updates] == [NEUTRAL_AUTHOR, "Sam from Support"]
        logged = await store.events_after(keys[name], 0)
        assert len(logged) == old.seq
        assert all(e.case_after.requester_email is None and e.case_after.requester_name is None for e in logged)
        assert "requester_email" in logged[0].event.changes  # the first event still set it: to nothing
        assert traces(await all_text(store, keys[name])) == []
    assert await store.requester_cases("acme", "ann@example.com") == []

    assert await all_text(store, keys["3"]) == bob_before  # Bob is untouched
    [bobs] = await store.requester_cases("acme", "bob@example.com")
    assert bobs.case.requester_email == BOB["requester_email"]
    assert sorted(d.request["requester"] for d in await store.list_deliveries("acme")) == [
        "bob@example.com", "joann@example.com"]  # not hers: an address is compared whole
    for address in ("ann@example.com", "ANN@example.com "):  # on any case of the tenant
        assert await store.get_subscriber(keys[address]) is None
    assert await store.get_subscriber(keys["bob@example.com"]) is not None
    [elsewhere] = await store.requester_cases("globex", "ann@example.com")  # another tenant's is its own
    assert elsewhere.case.requester_name == "Ann Smith"

    assert await forget(store, "acme", "ann@example.com") == ForgetResult()  # nothing left to erase


@both_backends
async def test_a_later_event_does_not_bring_the_erased_requester_back(store: Store, clock: Clock):
    log = Log(clock)
    keys = await seed(store, log)
    await forget(store, "acme", "ann@example.com")
    await store.ingest("acme", "generic", [log.event("1", stage="resolved")])  # the writer had the case cached
    after = await store.get_case_by_key(keys["1"])
    assert after is not None and after.case.stage == "resolved"
    assert traces(await all_text(store, keys["1"])) == []


@sqlite_only
async def test_forgetting_in_another_process_is_not_undone_by_the_servers_cached_case(database_url: str,
                                                                                       clock: Clock):
    """`tracker forget` runs beside `tracker serve`: the server's writer holds the case parsed,
    at the same revision, and must not write the erased requester back with the next event."""
    log = Log(clock)
    server = await open_store(database_url, clock)
    try:
        keys = await seed(server, log)
        cli = await open_store(database_url, clock)
        try:
            assert (await forget(cli, "acme", "ann@example.com")).cases == 2
        finally:
            await cli.close()
        await server.ingest("acme", "generic", [log.event("1", stage="resolved")])
        assert traces(await all_text(server, keys["1"])) == []
    finally:
        await server.close()


@sqlite_only
async def test_on_sqlite_the_erased_bytes_are_in_no_file(database_url: str, clock: Clock):
    """Neither in the database file (where earlier writes left older copies of her cases in free
    pages and free space) nor in its WAL, while the store runs and once it is closed."""
    store = await open_store(database_url, clock)
    path = Path(sqlite_path(database_url))
    try:
        without_secure_delete(store)
        await seed(store, Log(clock), updates=150)  # past a few checkpoints
        await forget(store, "acme", "ann@example.com")
        await forget(store, "globex", "ann@example.com")  # her case there too, so that no byte may be left
        await store.add_delivery("acme", "webhook", "case.quiet", None, {})  # the store goes on writing
        assert traces_in_files(path) == {}
    finally:
        await store.close()
    assert traces_in_files(path) == {}
    assert b"bob@example.com" in database_bytes(path)  # what must stay, stayed


def without_secure_delete(store: Store) -> None:
    """As on a SQLite built without SECURE_DELETE (Debian's has it on): deleted bytes stay in the
    file, so the erasure has to see to them itself."""
    assert isinstance(store, SQLiteStore)
    for db in (store._ingest_db, store._writer):
        db.execute("PRAGMA secure_delete = OFF")


def database_bytes(path: Path) -> bytes:
    return path.read_bytes()


def traces_in_files(path: Path) -> dict[str, int]:
    """How often Ann's address or name is in the database file, its WAL and its shared memory."""
    files = [file for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if file.exists()]
    found = {file.name: len(TRACES.findall(file.read_bytes())) for file in files}
    return {name: count for name, count in found.items() if count}


@both_backends
@pytest.mark.parametrize("email", ["", "   ", "ann", "ann@", "@example.com", "ann smith@example.com",
                                   "a@b@example.com", "x" * 250 + "@example.com"])
async def test_an_invalid_address_is_refused(store: Store, email: str):
    await add_tenant(store, "acme", "ACME", None)
    with pytest.raises(ConfigError, match="--email"):
        await forget(store, "acme", email)


@both_backends
async def test_an_unknown_tenant_is_refused(store: Store):
    with pytest.raises(ConfigError, match="Unknown tenant 'nope'"):
        await forget(store, "nope", "ann@example.com")


def test_the_command_line_forgets(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    import asyncio

    from tests.test_cli import in_process

    def cli(*args: str) -> Any:
        return in_process(tmp_path, monkeypatch, capsys, *args)

    assert cli("tenant", "add", "acme").returncode == 0

    async def ann_writes() -> None:
        store = await open_store(f"sqlite:///{tmp_path / 'cli.db'}", suite_clock())
        await store.ingest("acme", "generic",
                           [Event("1", "d1", suite_clock().now(), {"requester_email": "ann@example.com"})])
        await store.close()

    asyncio.run(ann_writes())
    done = cli("forget", "acme", "--email", "ANN@example.com")
    assert done.returncode == 0 and done.stdout.startswith("Erased: 1 case(s) and their 1 event(s)")
    assert b"ann@example.com" not in (tmp_path / "cli.db").read_bytes()
    refused = cli("forget", "acme", "--email", "not an address")
    assert refused.returncode != 0 and "--email" in refused.stderr
