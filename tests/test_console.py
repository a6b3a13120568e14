"""The company's console (/admin) over HTTP: accounts and their setup link, signing in and out,
the session cookie, CSRF on every form, rate-limited sign-in, the audit log, and one tenant's
people never reaching another tenant's things. The browser side: test_console_browser.py."""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from markupsafe import escape
from starlette.testclient import TestClient

from tests.conftest import BACKENDS, SECRET, generic_payload, link_for, post
from tests.receiver import Receiver, receiver
from tests.test_problems import deliver_now
from tracker import apikeys, insights
from tracker.admin import add_source, add_tenant
from tracker.app import create_app
from tracker.clock import Clock
from tracker.config import Settings
from tracker.console import totp
from tracker.console.accounts import add_account, token_hash
from tracker.console.attempts import ACCOUNT_ATTEMPTS, CLIENT_ATTEMPTS, WINDOW_SECONDS
from tracker.console.sessions import COOKIE
from tracker.errors import ConfigError
from tracker.helpdesks import zendesk
from tracker.outbound import queue_webhook
from tracker.sealing import SEALED
from tracker.storage.base import AuditEntry, Store

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


# Storage, on both backends -----------------------------------------------------------------

@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
async def test_accounts_and_the_audit_log_are_stored(store: Store, clock: Clock):
    await add_tenant(store, "acme", "ACME")
    await add_tenant(store, "globex", "Globex")
    expires = clock.now() + timedelta(days=3)
    ann = await store.add_console_account("acme", "ann@example.com", "hash-1", expires)
    assert (ann.tenant, ann.email, ann.password_hash, ann.setup_hash) == ("acme", "ann@example.com", None, "hash-1")
    assert await store.find_console_setup("hash-1") == ann == await store.find_console_account("ann@example.com")
    again = await store.add_console_account("acme", "ann@example.com", "hash-2", expires)  # a new link
    assert (again.id, again.setup_hash) == (ann.id, "hash-2") and await store.find_console_setup("hash-1") is None
    with pytest.raises(LookupError):  # one address, one tenant
        await store.add_console_account("globex", "ann@example.com", "hash-3", expires)

    assert not await store.set_console_password(ann.id, "hash-1", "argon-hash")  # the replaced link
    assert await store.set_console_password(ann.id, "hash-2", "argon-hash")
    assert not await store.set_console_password(ann.id, "hash-2", "another")  # once only
    done = await store.get_console_account(ann.id)
    assert done is not None and (done.password_hash, done.setup_hash, done.session_version) == ("argon-hash", None, 2)
    assert await store.bump_console_sessions(ann.id) == 3
    assert await store.get_console_account(ann.id + 100) is None

    now = clock.now()
    for n, action in enumerate(("signed_in", "signed_out")):
        await store.add_audit(AuditEntry("acme", "ann@example.com", action, f"d{n}", now + timedelta(seconds=n)))
    await store.add_audit(AuditEntry("globex", "bob@example.com", "signed_in", "", now))
    log = await store.list_audit("acme")
    assert [(e.action, e.detail) for e in log] == [("signed_out", "d1"), ("signed_in", "d0")]
    assert [e.at for e in log] == [now + timedelta(seconds=1), now]


# The command line --------------------------------------------------------------------------

def test_admin_add_prints_a_setup_link_last(tmp_path: Path):
    env = {**os.environ, "TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "TRACKER_SECRET_KEYS": "k" * 32,
           "TRACKER_BASE_URL": "https://track.example.com"}

    def tracker(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tracker", *args], env=env, capture_output=True, text=True,
                              timeout=60)

    assert tracker("tenant", "add", "acme").returncode == 0
    added = tracker("admin", "add", "acme", "Ann@Example.com")
    assert added.returncode == 0, added.stderr
    assert re.fullmatch(r"https://track\.example\.com/admin/setup/[A-Za-z0-9_-]{40,}",
                        added.stdout.strip().splitlines()[-1])
    assert "ann@example.com" in added.stdout
    unknown = tracker("admin", "add", "nope", "ann@example.com")
    assert unknown.returncode == 1 and "Unknown tenant 'nope'" in unknown.stderr
    bad = tracker("admin", "add", "acme", "not-an-address")
    assert bad.returncode == 1 and "is not an e-mail address" in bad.stderr


async def test_an_address_signs_in_to_one_tenant_only(store: Store, clock: Clock):
    await add_tenant(store, "acme", "ACME")
    await add_tenant(store, "globex", "Globex")
    await add_account(store, clock, "acme", "ann@example.com")
    with pytest.raises(ConfigError, match="another tenant"):
        await add_account(store, clock, "globex", "ANN@example.com ")


# The web side ------------------------------------------------------------------------------

@pytest.fixture
def console(settings: Settings, clock: Clock) -> Iterator[Console]:
    app = create_app(settings, clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Console(client, clock)


class Console:
    """The app, with tenants acme (case 4711) and globex (case 9001) and a helper per step."""

    def __init__(self, client: TestClient, clock: Clock) -> None:
        self.client = client
        self.clock = clock
        self.store: Store = client.app.state.store  # type: ignore[attr-defined]
        for slug in ("acme", "globex"):
            client.portal.call(add_tenant, self.store, slug, slug.upper())
            client.portal.call(add_source, self.store, slug, "generic", SECRET)
        assert post(client, generic_payload("4711", title="Invoice export fails")).status_code == 202
        assert post(client, generic_payload("9001", title="Globex secret"), tenant="globex").status_code == 202

    def setup_link(self, email: str = "ann@example.com", tenant: str = "acme") -> str:
        _, token = self.client.portal.call(add_account, self.store, self.clock, tenant, email)
        return f"/admin/setup/{token}"

    def browser(self) -> TestClient:
        """Another browser (its own cookies) on the same app."""
        other = TestClient(self.client.app, raise_server_exceptions=False)
        other.portal = self.client.portal  # type: ignore[misc]  # the same running app
        return other

    def account(self, email: str = "ann@example.com", tenant: str = "acme", client: TestClient | None = None) -> None:
        """An account with PASSWORD, signed in on `client`."""
        client = client or self.client
        link = self.setup_link(email, tenant)
        answer = client.post(link, data={"csrf": token(client, link), "password": PASSWORD, "repeat": PASSWORD},
                             follow_redirects=False)
        assert answer.status_code == 303, answer.text

    def sign_in(self, client: TestClient, email: str = "ann@example.com", password: str = PASSWORD) -> Any:
        return client.post("/admin/sign-in", data={"csrf": token(client), "email": email, "password": password},
                           follow_redirects=False)


def token(client: TestClient, path: str = "/admin") -> str:
    found = CSRF.search(client.get(path).text)
    assert found, f"no form token on {path}"
    return found.group(1)


def signed_in(client: TestClient) -> bool:
    page = client.get("/admin")
    assert page.status_code == 200
    return "Signed in as" in page.text


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_the_setup_link_sets_a_password_once_and_signs_in(console: Console):
    client = console.client
    link = console.setup_link()
    page = client.get(link)
    assert page.status_code == 200 and 'value="ann@example.com"' in page.text
    assert 'type="password"' in page.text and 'autocomplete="new-password"' in page.text
    csrf = token(client, link)
    short = client.post(link, data={"csrf": csrf, "password": "short", "repeat": "short"})
    assert short.status_code == 400 and "at least 12 characters" in short.text
    differ = client.post(link, data={"csrf": csrf, "password": PASSWORD, "repeat": PASSWORD + "!"})
    assert differ.status_code == 400 and "The two passwords differ" in differ.text
    done = client.post(link, data={"csrf": csrf, "password": PASSWORD, "repeat": PASSWORD}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/admin"
    assert signed_in(client)
    assert client.get(link).status_code == 410  # once only
    account = client.portal.call(console.store.find_console_account, "ann@example.com")
    assert account.password_hash.startswith("$argon2id$") and PASSWORD not in account.password_hash


def test_a_setup_link_expires(console: Console):
    link = console.setup_link()
    console.clock.advance(timedelta(days=3, seconds=1))
    gone = console.client.get(link)
    assert gone.status_code == 410 and "works once, for a few days" in gone.text
    assert console.client.get("/admin/setup/not-a-token").status_code == 410


def test_the_sign_in_form_and_the_session_cookie(console: Console):
    first = console.client.get("/admin")
    assert first.status_code == 200 and 'type="email"' in first.text and 'type="password"' in first.text
    assert first.headers["x-robots-tag"] == "noindex, nofollow" and first.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in first.headers["content-security-policy"]
    console.account(client=console.browser())  # ann has a password; this browser signs in by the form
    signed = console.sign_in(console.client)
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path=/admin", "samesite=lax"} <= flags and "secure" not in flags  # http base URL
    assert signed_in(console.client)


def test_the_cookie_is_secure_when_the_base_url_is_https(settings: Settings, clock: Clock):
    app = create_app(dataclasses.replace(settings, base_url="https://track.example.com"), clock)
    with TestClient(app, base_url="https://track.example.com") as client:
        cookie = client.get("/admin").headers["set-cookie"]
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(console: Console):
    console.account(client=console.browser())
    answers = [console.sign_in(console.client, email, password)
               for email, password in (("ann@example.com", "wrong password!"), ("nobody@example.com", PASSWORD))]
    assert [a.status_code for a in answers] == [200, 200]
    texts = [CSRF.sub("", a.text).replace('value="nobody@example.com"', 'value="ann@example.com"') for a in answers]
    assert texts[0] == texts[1] and "Wrong e-mail address or password." in texts[0]
    assert not signed_in(console.client)


def test_every_form_needs_its_sessions_token(console: Console):
    client, other = console.client, console.browser()
    console.account()  # signed in on client
    assert client.post("/admin/sign-in", data={"email": "ann@example.com", "password": PASSWORD}).status_code == 403
    foreign = token(other)  # a token of another session
    for path in ("/admin/sign-out", "/admin/sign-out-everywhere"):
        for data in ({}, {"csrf": foreign}, {"csrf": "forged"}):
            refused = client.post(path, data=data, follow_redirects=False)
            assert refused.status_code == 403 and "This form has expired" in refused.text
    assert signed_in(client)  # nothing happened
    link = console.setup_link("bob@example.com")
    assert other.post(link, data={"password": PASSWORD, "repeat": PASSWORD}).status_code == 403
    assert other.get(link).status_code == 200  # the link still works


def test_another_tenants_ids_find_nothing(console: Console):
    console.account()
    client = console.client
    assert client.get("/admin/cases/generic/4711").status_code == 200
    for path in ("/admin/cases/generic/9001", "/admin/cases/nope/4711", "/admin/cases/generic/4711%2F..%2F9001"):
        missing = client.get(path)
        assert missing.status_code == 404 and "Globex secret" not in missing.text
    overview = client.get("/admin").text
    assert "Invoice export fails" in overview and "Globex secret" not in overview and "9001" not in overview
    assert "/hooks/acme/generic" in overview and "/hooks/globex" not in overview
    client.portal.call(apikeys.add_key, console.store, "globex", "theirs")
    assert "0 active keys" in client.get("/admin").text  # globex's key is not counted here


def test_a_cookie_from_before_sign_in_is_not_the_signed_in_one(console: Console):
    """Session fixation: whoever planted the visitor's cookie is not signed in by their signing in."""
    console.account(client=console.browser())
    attacker = console.browser()
    known_token = token(attacker)  # the attacker's form token, for the session they plant
    planted = attacker.cookies[COOKIE]
    victim = console.client
    victim.cookies.set(COOKIE, planted, domain="testserver.local", path="/admin")
    signed = console.sign_in(victim)
    assert signed.status_code == 303 and victim.cookies[COOKIE] != planted
    assert signed_in(victim) and not signed_in(attacker)
    forged = victim.post("/admin/sign-out-everywhere", data={"csrf": known_token}, follow_redirects=False)
    assert forged.status_code == 403 and signed_in(victim)  # the signed-in session has a nonce of its own


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_sign_out_and_sign_out_everywhere(console: Console):
    laptop, phone = console.client, console.browser()
    console.account(client=laptop)
    assert console.sign_in(phone).status_code == 303 and signed_in(phone)
    stolen = phone.cookies[COOKIE]
    assert phone.post("/admin/sign-out", data={"csrf": token(phone)}, follow_redirects=False).status_code == 303
    assert not signed_in(phone) and signed_in(laptop)
    everywhere = laptop.post("/admin/sign-out-everywhere", data={"csrf": token(laptop)}, follow_redirects=False)
    assert everywhere.status_code == 303 and not signed_in(laptop)
    phone.cookies.set(COOKIE, stolen, domain="testserver.local", path="/admin")  # a copy of a cookie from before
    assert not signed_in(phone)
    assert console.sign_in(laptop).status_code == 303 and signed_in(laptop)  # the password still works


def test_sign_in_attempts_are_limited_per_address_and_per_client(console: Console):
    console.account(client=console.browser())
    client = console.client
    for _ in range(ACCOUNT_ATTEMPTS):
        assert console.sign_in(client, password="wrong password!").status_code == 200
    limited = console.sign_in(client)  # the right password too
    assert limited.status_code == 429 and "Too many sign-in attempts" in limited.text
    assert int(limited.headers["retry-after"]) > 0
    unknown = [console.sign_in(client, "nobody@example.com", "guess").status_code for _ in range(ACCOUNT_ATTEMPTS + 1)]
    assert unknown == [200] * ACCOUNT_ATTEMPTS + [429]  # the same for an address nobody has
    console.clock.advance(timedelta(seconds=WINDOW_SECONDS + 1))
    assert console.sign_in(client).status_code == 303 and signed_in(client)

    console.clock.advance(timedelta(seconds=WINDOW_SECONDS + 1))
    spread = [console.sign_in(client, f"guess{n}@example.com", "guess").status_code for n in range(CLIENT_ATTEMPTS + 1)]
    assert spread == [200] * CLIENT_ATTEMPTS + [429]  # many addresses from one client


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_the_audit_log_says_who_did_what_when(console: Console):
    console.account()
    client = console.client
    client.post("/admin/sign-out", data={"csrf": token(client)})
    assert console.sign_in(client).status_code == 303
    page = client.get("/admin/audit")
    assert page.status_code == 200
    rows = re.findall(r"<tr><td><time datetime=\"([^\"]+)\">.*?<td dir=\"ltr\">([^<]+)</td>\s*<td>([^<]+)", page.text,
                      re.S)
    assert [(who, what) for _, who, what in rows] == [("ann@example.com", "Signed in"),
                                                     ("ann@example.com", "Signed out"),
                                                     ("ann@example.com", "Chose a password")]
    when = datetime.strptime(rows[0][0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(when - console.clock.now()) < timedelta(seconds=60)
    console.account("bob@example.com", "globex", console.browser())
    assert "bob@example.com" not in client.get("/admin/audit").text  # another tenant's log


def test_pages_need_a_signed_in_account(console: Console):
    for path in ("/admin/audit", "/admin/cases/generic/4711"):
        answer = console.client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/admin"
    stored = console.client.portal.call(console.store.find_console_setup, token_hash("nothing"))
    assert stored is None


@pytest.mark.parametrize("language", ["de", "es", "fr", "ar"])
def test_console_pages_speak_the_readers_language(console: Console, language: str):
    console.account()
    for path in ("/admin", "/admin/audit", "/admin/cases/generic/4711"):
        page = console.client.get(path, headers={"Accept-Language": language})
        assert f'<html lang="{language}" dir="{"rtl" if language == "ar" else "ltr"}">' in page.text
        assert "Sign out everywhere" not in page.text and ">Audit log<" not in page.text  # translated


# Connecting a helpdesk ---------------------------------------------------------------------

def test_connecting_a_helpdesk_shows_its_url_secret_and_setup_steps(console: Console):
    console.account()
    client = console.client
    listing = client.get("/admin/sources")
    assert listing.status_code == 200 and "/admin/sources/zendesk" in listing.text
    page = client.get("/admin/sources/zendesk")
    assert page.status_code == 200 and "Not connected yet" in page.text
    connected = client.post("/admin/sources/zendesk", data={"csrf": token(client), "action": "connect"})
    assert connected.status_code == 200
    stored = client.portal.call(console.store.get_source, "acme", "zendesk")
    assert stored is not None and stored.secret.startswith(SEALED)  # kept sealed, as the command line keeps it
    secret = client.app.state.sealer.open(stored.secret)  # type: ignore[attr-defined]
    assert f'value="{secret}"' in connected.text
    assert f'value="{client.app.state.settings.base_url}/hooks/acme/zendesk"' in connected.text  # type: ignore[attr-defined]
    assert str(escape(inspect.getdoc(zendesk) or "")) in connected.text  # what `tracker source add` prints
    assert "Connected a helpdesk: <span dir=\"auto\">zendesk</span>" in client.get("/admin/audit").text
    assert client.get("/admin/sources/zendsk").status_code == 404
    assert client.post("/admin/sources/zendesk", data={"action": "connect"}).status_code == 403


def test_write_back_credentials_are_checked_as_the_command_line_checks_them(console: Console):
    console.account()
    client = console.client
    client.post("/admin/sources/zendesk", data={"csrf": token(client), "action": "connect"})
    half = client.post("/admin/sources/zendesk", data={"csrf": token(client), "option_api_token": "tok-1"})
    assert half.status_code == 400 and "Write-back to zendesk also needs the option api_base" in half.text
    full = {"option_api_token": "tok-1", "option_api_email": "agent@acme.example",
            "option_api_base": "https://acme.zendesk.com", "option_link_field_id": "360001"}
    saved = client.post("/admin/sources/zendesk", data={"csrf": token(client), **full})
    assert saved.status_code == 200 and "Saved." in saved.text and "tok-1" not in saved.text  # never shown back
    kept = client.post("/admin/sources/zendesk", data={"csrf": token(client), **full, "option_api_token": "",
                                                       "secret": "zendesk-made-secret"})
    assert kept.status_code == 200
    opened = client.app.state.sealer.open_source(  # type: ignore[attr-defined]
        client.portal.call(console.store.get_source, "acme", "zendesk"))
    assert opened.options["api_token"] == "tok-1" and opened.secret == "zendesk-made-secret"
    assert "Changed a helpdesk's settings: <span dir=\"auto\">zendesk: secret</span>" in client.get(
        "/admin/audit").text


def test_the_latest_deliveries_say_why_one_was_refused(console: Console):
    console.account()
    client = console.client
    assert post(client, generic_payload("4712"), secret="whsec_" + "A" * 32).status_code == 401
    page = client.get("/admin/sources/generic")
    assert "Refused (401)" in page.text and "Signature does not match" in page.text
    assert "Stored (202)" in page.text and "case 4711, revision 1" in page.text
    assert "9001" not in page.text  # globex's delivery


# Cases and problems ------------------------------------------------------------------------

LINK = re.compile(r'id="case-link"[^>]*value="([^"]+)"')


def test_cases_are_searched_by_number_title_and_customer(console: Console):
    console.account()
    client = console.client
    bob = generic_payload("4712", title="Cannot log in", requester_email="Bob@Example.com")
    assert post(client, bob).status_code == 202
    searches = (("4712", ["4712"]), ("invoice", ["4711"]), ("bob@example", ["4712"]), ("generic:", ["4712", "4711"]))
    for query, found in searches:
        page = client.get("/admin/cases", params={"q": query})
        assert re.findall(r">generic:(\d+)</a>", page.text) == found, query
    assert "No case matches this search." in client.get("/admin/cases", params={"q": "9001"}).text  # globex's


def test_a_lead_mints_and_revokes_a_customer_link(console: Console):
    console.account()
    client = console.client
    assert client.post("/admin/cases/generic/4711", data={"action": "mint"}).status_code == 403
    minted = client.post("/admin/cases/generic/4711", data={"csrf": token(client), "action": "mint",
                                                            "expires_days": "7"})
    assert minted.status_code == 200
    link = LINK.search(minted.text).group(1)  # type: ignore[union-attr]
    path = urlsplit(link).path
    assert client.get(path).status_code == 200 and "Invoice export fails" in client.get(path).text
    console.clock.advance(timedelta(days=7, seconds=1))
    assert client.get(path).status_code == 410  # it expires as asked
    console.clock.advance(timedelta(days=-7, seconds=-1))
    lasting = LINK.search(client.post("/admin/cases/generic/4711", data={  # type: ignore[union-attr]
        "csrf": token(client), "action": "mint"}).text).group(1)
    assert client.get(urlsplit(lasting).path).status_code == 200
    wrong = client.post("/admin/cases/generic/4711", data={"csrf": token(client), "action": "mint",
                                                           "expires_days": "0"})
    assert wrong.status_code == 400 and "whole number from 1 to 3650" in wrong.text
    revoked = client.post("/admin/cases/generic/4711", data={"csrf": token(client), "action": "revoke"})
    assert revoked.status_code == 200 and "stops working" in revoked.text
    assert client.get(urlsplit(lasting).path).status_code == 410
    log = client.get("/admin/audit").text
    assert "Revoked a case&#39;s links" not in log and "Revoked a case's links" in log
    assert 'Made a customer link: <span dir="auto">generic:4711, 7 d</span>' in log
    other = client.post("/admin/cases/generic/9001", data={"csrf": token(client), "action": "revoke"})
    assert other.status_code == 404  # globex's case: nothing happens
    globex = client.portal.call(console.store.get_case, "globex", "generic", "9001")
    assert globex.link_version == 1


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_a_lead_links_a_case_to_a_problem_and_tells_its_customers(console: Console):
    console.account()
    client = console.client
    assert post(client, generic_payload("12", title="Exports bug")).status_code == 202
    refused = client.post("/admin/cases/generic/4711", data={"csrf": token(client), "action": "link",
                                                             "problem": "not a problem"})
    assert refused.status_code == 400 and "SOURCE:ID" in refused.text
    itself = client.post("/admin/cases/generic/4711", data={"csrf": token(client), "action": "link",
                                                            "problem": "generic:4711"})
    assert itself.status_code == 400 and "cannot be its own problem" in itself.text
    linked = client.post("/admin/cases/generic/4711", data={"csrf": token(client), "action": "link",
                                                            "problem": "generic:12"}, follow_redirects=False)
    assert linked.status_code == 303
    assert client.portal.call(console.store.get_case, "acme", "generic", "4711").case.problem == "generic:12"
    listing = client.get("/admin/problems").text
    assert "/admin/problems/generic/12" in listing and "<td>1</td>" in listing
    described = client.post("/admin/problems/generic/12", data={"csrf": token(client), "public_title": "Exports fail",
                                                                "summary": "A fix ships today.", "listed": "yes"})
    assert described.status_code == 200 and "Saved." in described.text
    assert "1 open case is linked to it." in described.text and "/admin/cases/generic/4711" in described.text
    notes = client.portal.call(console.store.get_problem_notes, "acme", "generic", "12")
    assert (notes.public_title, notes.summary, notes.listed) == ("Exports fail", "A fix ships today.", True)
    assert "Exports fail" in client.get("/s/acme").text  # on the status page
    deliver_now(client)  # the snapshot with the new title (the app's own worker may hold it)
    view = client.get(link_for(client) + "/case.json").json()
    assert view["problem"]["title"] == "Exports fail"  # what the linked case's customer sees
    unlisted = client.post("/admin/problems/generic/12", data={"csrf": token(client), "public_title": "Exports fail",
                                                               "summary": ""})
    assert unlisted.status_code == 200 and "Exports fail" not in client.get("/s/acme").text
    unlinked = client.post("/admin/cases/generic/4711", data={"csrf": token(client), "action": "unlink"},
                           follow_redirects=False)
    assert unlinked.status_code == 303
    assert client.portal.call(console.store.get_case, "acme", "generic", "4711").case.problem is None
    assert client.get("/admin/problems/generic/9001").status_code == 404  # globex's case
    assert client.get("/admin/problems/nope/12").status_code == 404


# Keys and hooks ----------------------------------------------------------------------------

NEW_KEY = re.compile(r'id="new-key"[^>]*value="([^"]+)"')


def test_api_keys_are_made_shown_once_and_revoked(console: Console):
    console.account()
    client = console.client
    made = client.post("/admin/keys", data={"csrf": token(client), "name": "zapier"})
    assert made.status_code == 200
    key = NEW_KEY.search(made.text).group(1)  # type: ignore[union-attr]
    assert key.startswith("trk_acme_")
    assert client.get("/api/v1/cases", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    listing = client.get("/admin/keys").text
    assert key not in listing and ">zapier<" in listing  # shown once
    twice = client.post("/admin/keys", data={"csrf": token(client), "name": "zapier"})
    assert twice.status_code == 400 and "already has a key named" in twice.text
    bad = client.post("/admin/keys", data={"csrf": token(client), "name": "no spaces"})
    assert bad.status_code == 400 and "use letters, digits" in bad.text
    revoked = client.post("/admin/keys", data={"csrf": token(client), "name": "zapier", "action": "revoke"})
    assert revoked.status_code == 200 and "Revoked" in revoked.text
    assert client.get("/api/v1/cases", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    globex_key = client.portal.call(apikeys.add_key, console.store, "globex", "theirs")
    foreign = client.post("/admin/keys", data={"csrf": token(client), "name": "theirs", "action": "revoke"})
    assert foreign.status_code == 400 and "has no active key" in foreign.text  # not globex's key
    assert client.get("/api/v1/cases", headers={"Authorization": f"Bearer {globex_key}"}).status_code == 200
    log = client.get("/admin/audit").text
    assert 'Made an API key: <span dir="auto">zapier</span>' in log and "Revoked an API key" in log


def sent(client: TestClient, hook: Receiver, count: int) -> None:
    """Wait until the hook has had `count` requests (the app's worker sends, or this nudges it)."""
    deadline = time.monotonic() + 10
    while len(hook.requests) < count:
        assert time.monotonic() < deadline, f"{len(hook.requests)} of {count} requests arrived"
        client.portal.call(client.app.state.deliverer.run_once)  # type: ignore[attr-defined]
        time.sleep(0.05)
    assert len(hook.requests) == count


def test_the_company_webhook_is_set_and_its_deliveries_sent_again(console: Console):
    console.account()
    client = console.client
    wrong = client.post("/admin/hooks", data={"csrf": token(client), "webhook_url": "ftp://example.com/x"})
    assert wrong.status_code == 400 and "give an http:// or https:// URL" in wrong.text
    with receiver() as hook:
        saved = client.post("/admin/hooks", data={"csrf": token(client), "webhook_url": hook.url})
        assert saved.status_code == 200 and "Saved." in saved.text
        tenant = client.portal.call(console.store.get_tenant, "acme")
        assert tenant.options["webhook_url"] == hook.url and tenant.options["webhook_secret"].startswith("whsec_")
        assert f'value="{tenant.options["webhook_secret"]}"' in saved.text
        queued = client.portal.call(queue_webhook, console.store, tenant, "case.quiet", None, {"case_id": "4711"},
                                    console.clock.now())
        sent(client, hook, 1)
        page = client.get("/admin/hooks").text
        assert "case.quiet" in page and "Delivered" in page
        again = client.post("/admin/hooks", data={"csrf": token(client), "action": "redeliver", "id": str(queued)})
        assert again.status_code == 200 and "Queued again" in again.text
        sent(client, hook, 2)
        globex = client.portal.call(console.store.get_tenant, "globex")
        theirs = client.portal.call(queue_webhook, console.store, globex, "case.quiet", None, {}, console.clock.now())
    assert theirs is None  # globex has no webhook: nothing queued
    theirs = client.portal.call(console.store.add_delivery, "globex", "webhook", "case.quiet", None,
                                {"method": "POST", "url": "https://globex.example/hook", "body": {}})
    foreign = client.post("/admin/hooks", data={"csrf": token(client), "action": "redeliver", "id": str(theirs)})
    assert foreign.status_code == 404
    for wrong in ("9" * 30, "-1", "x"):
        assert client.post("/admin/hooks", data={"csrf": token(client), "action": "redeliver",
                                                 "id": wrong}).status_code == 404
    removed = client.post("/admin/hooks", data={"csrf": token(client), "webhook_url": ""})
    assert removed.status_code == 200
    assert "webhook_url" not in client.portal.call(console.store.get_tenant, "acme").options
    assert "Sent a delivery again" in client.get("/admin/audit").text


# Look and words ----------------------------------------------------------------------------

LOOK = {"name": "ACME Support", "theme": "dark", "logo_url": "https://acme.example/logo.png",
        "accent_colour": "#0b5cad", "support_url": "https://acme.example/help", "language": "de",
        "promise_hours": "8", "confirm_days": "5", "notify": "email", "notify_digest_minutes": "15"}


def test_the_look_and_words_are_saved_with_the_command_lines_checks(console: Console):
    console.account()
    client = console.client
    client.headers["accept-language"] = "en"  # the console too follows the tenant's language otherwise
    saved = client.post("/admin/look", data={"csrf": token(client), **LOOK})
    assert saved.status_code == 200 and "Saved." in saved.text and "contrast of" not in saved.text
    tenant = client.portal.call(console.store.get_tenant, "acme")
    assert (tenant.name, tenant.theme) == ("ACME Support", "dark")
    assert {name: tenant.options[name] for name in LOOK if name not in ("name", "theme")} == {
        name: value for name, value in LOOK.items() if name not in ("name", "theme")}
    page = client.get(link_for(client))
    assert "/themes/dark/theme.css" in page.text and 'lang="de"' in page.text  # the customer's page follows
    for field, value, message in (("logo_url", "http://acme.example/logo.png", "give an https:// URL"),
                                  ("support_url", "javascript:alert(1)", "give an https:// URL"),
                                  ("accent_colour", "blue", "write it as #rrggbb"),
                                  ("language", "xx", "has no translation"),
                                  ("promise_hours", "-1", "promise_hours"),
                                  ("theme", "nope", "Unknown theme")):
        refused = client.post("/admin/look", data={"csrf": token(client), **LOOK, field: value})
        assert refused.status_code == 400 and message in refused.text, field
    assert client.portal.call(console.store.get_tenant, "acme").options == tenant.options  # nothing changed
    pale = client.post("/admin/look", data={"csrf": token(client), **LOOK, "accent_colour": "#ffdd00"})
    assert pale.status_code == 200 and "contrast of 1.3:1" in pale.text  # saved, with a warning
    cleared = client.post("/admin/look", data={"csrf": token(client), **LOOK, "language": "", "logo_url": ""})
    assert cleared.status_code == 200
    options = client.portal.call(console.store.get_tenant, "acme").options
    assert "language" not in options and "logo_url" not in options
    assert 'Changed the look and words: <span dir="auto">accent_colour, confirm_days' in client.get("/admin/audit").text


# The second factor -------------------------------------------------------------------------

TOTP_KEY = re.compile(r'id="totp-key"[^>]*value="([A-Z2-7]+)"')
RECOVERY = re.compile(r"<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>")


def code_now(secret: str, clock: Clock) -> str:
    return totp.totp(totp.secret_bytes(secret), clock.timestamp())


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_a_second_factor_with_recovery_codes(console: Console):
    console.account()
    client = console.client
    started = client.post("/admin/account", data={"csrf": token(client), "action": "start"})
    secret = TOTP_KEY.search(started.text).group(1)  # type: ignore[union-attr]
    assert "otpauth://totp/" in started.text and f"secret={secret}" in started.text
    wrong = client.post("/admin/account", data={"csrf": token(client), "action": "enable", "secret": secret,
                                                "code": "000000" if code_now(secret, console.clock) != "000000"
                                                else "111111"})
    assert wrong.status_code == 400 and "wrong or used already" in wrong.text
    enabled = client.post("/admin/account", data={"csrf": token(client), "action": "enable", "secret": secret,
                                                  "code": code_now(secret, console.clock)})
    codes = RECOVERY.findall(enabled.text)
    assert enabled.status_code == 200 and len(codes) == 10
    stored = client.portal.call(console.store.find_console_account, "ann@example.com")
    assert stored.totp_secret.startswith(SEALED) and secret not in stored.totp_secret
    assert codes[0] not in stored.recovery_hashes
    assert not RECOVERY.findall(client.get("/admin/account").text)  # shown once

    client.post("/admin/sign-out", data={"csrf": token(client)})
    assert console.sign_in(client).status_code == 303
    halfway = client.get("/admin")
    assert "The code from your authenticator app" in halfway.text and "Signed in as" not in halfway.text
    assert client.get("/admin/audit", follow_redirects=False).status_code == 303  # not signed in yet
    assert 'action="/admin/sign-out"' in halfway.text  # a way back to the sign-in form
    replayed = client.post("/admin/sign-in/code", data={"csrf": token(client), "code": code_now(secret, console.clock)})
    assert "wrong or used already" in replayed.text  # the code that turned it on, seen over a shoulder
    console.clock.advance(timedelta(seconds=totp.STEP_SECONDS))
    done = client.post("/admin/sign-in/code", data={"csrf": token(client), "code": code_now(secret, console.clock)},
                       follow_redirects=False)
    assert done.status_code == 303 and signed_in(client)

    client.post("/admin/sign-out", data={"csrf": token(client)})
    console.sign_in(client)
    by_recovery = client.post("/admin/sign-in/code", data={"csrf": token(client), "code": codes[0].upper()},
                              follow_redirects=False)
    assert by_recovery.status_code == 303 and signed_in(client)
    assert "9 recovery codes are left" in client.get("/admin/account").text
    client.post("/admin/sign-out", data={"csrf": token(client)})
    console.sign_in(client)
    again = client.post("/admin/sign-in/code", data={"csrf": token(client), "code": codes[0]})
    assert "wrong or used already" in again.text and not signed_in(client)
    for _ in range(ACCOUNT_ATTEMPTS):  # guessing codes is limited as guessing passwords is
        client.post("/admin/sign-in/code", data={"csrf": token(client), "code": "123456"})
    assert client.post("/admin/sign-in/code", data={"csrf": token(client), "code": codes[1]}).status_code == 429

    console.clock.advance(timedelta(seconds=WINDOW_SECONDS + 1))
    assert client.post("/admin/sign-in/code", data={"csrf": token(client), "code": codes[1]},
                       follow_redirects=False).status_code == 303
    off = client.post("/admin/account", data={"csrf": token(client), "action": "disable",
                                              "code": code_now(secret, console.clock)})
    assert off.status_code == 200 and "The second factor is off." in off.text
    client.post("/admin/sign-out", data={"csrf": token(client)})
    assert console.sign_in(client).status_code == 303 and signed_in(client)  # the password alone again
    log = client.get("/admin/audit").text
    assert "Turned the second factor on" in log and "Turned the second factor off" in log
    assert 'Signed in: <span dir="auto">recovery code</span>' in log


def test_a_language_picked_in_the_footer_stays_while_browsing(console: Console):
    console.account()
    client = console.client
    picked = client.get("/admin/audit", params={"lang": "fr"})
    assert '<html lang="fr"' in picked.text and 'href="/admin/audit?lang=de"' in picked.text
    assert '<html lang="fr"' in client.get("/admin/cases", headers={"Accept-Language": "de"}).text  # kept
    assert '<html lang="ar" dir="rtl"' in client.get("/admin/cases", params={"lang": "ar"}).text
    assert '<html lang="ar" dir="rtl"' in client.get("/admin").text
    assert '<html lang="ar"' in client.get("/admin", params={"lang": "xx"}).text  # not a language we have


def test_the_look_page_previews_the_case_page_the_widget_and_a_mail(console: Console):
    console.account()
    client = console.client
    client.headers["accept-language"] = "en"
    note = {**generic_payload("4711"), "message": {"id": "n1", "body": "Internal: VIP", "public": False}}
    assert post(client, note).status_code == 202
    public = {**generic_payload("4711"), "message": {"id": "m1", "body": "We found the cause.", "public": True}}
    assert post(client, public).status_code == 202
    client.post("/admin/look", data={"csrf": token(client), **LOOK, "accent_colour": "#8a2be2"})
    look = client.get("/admin/look")
    assert "frame-src 'self'" in look.headers["content-security-policy"]
    assert 'src="/admin/look/preview"' in look.text and 'src="/admin/look/mail"' in look.text
    assert "ACME Support: Case 4711 · " in look.text  # the mail's subject
    case = client.get("/admin/look/preview")
    assert case.status_code == 200 and "Invoice export fails" in case.text and "We found the cause." in case.text
    assert "/themes/dark/theme.css" in case.text  # the saved look
    assert "/admin/look/brand.css?accent_colour=%238a2be2" in case.text
    assert "Internal: VIP" not in case.text and "frame-ancestors 'self'" in case.headers["content-security-policy"]
    assert "/public" not in re.sub(r"/themes/[^\"]+", "", case.text)  # no share controls acting on the real case
    widget = client.get("/admin/look/widget")
    link = re.search(r'class="tracker-case" href="([^"]+)"', widget.text).group(1)  # type: ignore[union-attr]
    assert client.get(urlsplit(link).path).status_code == 200 and '<script async src="/widget.js">' in widget.text
    console.clock.advance(timedelta(minutes=61))
    assert client.get(urlsplit(link).path).status_code == 410  # a short-lived link
    mail = client.get("/admin/look/mail")
    assert "We found the cause." in mail.text and "Internal: VIP" not in mail.text
    assert "script-src" not in mail.headers["content-security-policy"]
    other = console.browser()
    for path in ("/admin/look/preview", "/admin/look/widget", "/admin/look/mail"):
        assert other.get(path).status_code == 404  # signed in only


def test_unsaved_values_are_previewed_and_not_saved(console: Console):
    console.account()
    client = console.client
    client.headers["accept-language"] = "en"
    previewed = client.post("/admin/look", data={"csrf": token(client), **LOOK, "accent_colour": "#112233",
                                                 "action": "preview"})
    assert previewed.status_code == 200 and "Not saved yet" in previewed.text
    assert 'value="#112233"' in previewed.text  # the form keeps what is previewed
    assert "accent_colour=%23112233" in previewed.text and "theme=dark" in previewed.text  # the frames show it
    assert "accent_colour" not in client.portal.call(console.store.get_tenant, "acme").options  # nothing saved
    case = client.get("/admin/look/preview", params={"theme": "dark", "accent_colour": "#112233", "name": "Preview Co"})
    assert "/themes/dark/theme.css" in case.text and "/admin/look/brand.css?accent_colour=%23112233" in case.text
    assert "Preview Co" in case.text
    css = client.get("/admin/look/brand.css", params={"accent_colour": "#112233"})
    assert css.status_code == 200 and css.text == ":root, :host { --tracker-accent: #112233; }\n"
    assert client.get("/admin/look/brand.css", params={"accent_colour": "red;}x{"}).status_code == 404
    ignored = client.get("/admin/look/preview", params={"theme": "nope", "accent_colour": "blue",
                                                        "logo_url": "http://insecure.example/logo.png"})
    assert "/themes/default/theme.css" in ignored.text and "/themes/nope" not in ignored.text
    assert "brand.css" not in ignored.text and "insecure.example" not in ignored.text  # what saving would refuse
    widget = client.get("/admin/look/widget", params={"theme": "dark", "language": "fr"},
                        headers={"accept-language": "zu"})  # a language we have not: the company's default
    assert 'data-theme="dark" data-lang="fr"' in widget.text


def test_a_test_delivery_that_cannot_reach_the_base_url_says_so(console: Console):
    """The test client serves no port: TRACKER_BASE_URL leads nowhere, as a wrong one would."""
    console.account()
    client = console.client
    sent = client.post("/admin/sources/generic", data={"csrf": token(client), "action": "test"})
    assert sent.status_code == 502 and "could not be reached" in sent.text and "TRACKER_BASE_URL" in sent.text
    assert "Send a test delivery" not in client.get("/admin/sources/zendesk").text  # generic only
    assert "Sent a test delivery" in client.get("/admin/audit").text


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_a_nul_in_a_form_or_an_address_is_refused_not_a_crash(console: Console):
    console.account()
    client = console.client
    for path in ("/admin/cases/generic/47%0011", "/admin/problems/generic/1%002", "/admin/cases?q=a%00b"):
        assert client.get(path).status_code == 404, path
    other = console.browser()
    refused = other.post("/admin/sign-in", data={"csrf": token(other), "email": "a\x00@example.com", "password": "x"})
    assert refused.status_code == 400
    assert client.post("/admin/keys", data={"csrf": token(client), "name": "a\x00b"}).status_code == 400


# Insights -------------------------------------------------------------------------------------

@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_insights_show_the_reports_figures_as_charts_and_a_table_of_this_tenant_only(console: Console):
    client = console.client
    assert client.get("/admin/insights", follow_redirects=False).status_code == 303  # signed out
    console.account()
    for n in range(3):  # four acme cases in all: 4711 and three more, one resolved; globex's is not counted
        assert post(client, generic_payload(f"50{n}", stage="resolved" if n == 0 else "in_progress",
                                            priority="high")).status_code == 202
    page = client.get("/admin/insights")
    assert page.status_code == 200
    expected = client.portal.call(insights.report, console.store,
                                  client.portal.call(console.store.get_tenant, "acme"), None, None,
                                  console.clock.now())
    [everything, *_] = expected["groups"]
    assert (everything["opened"], everything["resolved"]) == (4, 1)
    charts = re.findall(r'<figure class="chart">.*?</figure>', page.text, re.S)
    assert len(charts) == 5 and all('<svg role="img" aria-labelledby=' in chart for chart in charts)
    opened = re.findall(r"<text[^>]*>(\d+)</text>", charts[0])
    assert opened[0] == "4" and "9001" not in page.text and "globex" not in page.text
    assert "<td>4</td><td>1</td>" in page.text  # the table's opened and resolved
    bad = client.get("/admin/insights?since=forever")
    assert bad.status_code == 400 and "since:" in bad.text
    assert "No case was opened in this period." in client.get("/admin/insights?source=zammad").text
