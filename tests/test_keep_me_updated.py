"""Keep me updated by e-mail, against a real SMTP server on loopback: subscribe (the same answer
for any address), nothing but a confirmation before the button is pressed, one mail per piece
of news with the headers mail clients need, coalesced by the digest interval, internal notes
never in a mail, and one-click unsubscribe."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, expect
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.browser import HostSite
from tests.conftest import SECRET, LiveServer, generic_payload, link_for, live_link, post
from tests.conftest import _setup_acme as setup_acme
from tests.mailbox import Mailbox, html_of, smtp_server, text_of
from tests.test_embed import publish
from tests.test_widget import snippet
from tracker.admin import add_source, add_tenant
from tracker.app import create_app
from tracker.clock import Clock
from tracker.config import Settings

NOTE = "INTERNAL-91c4: refund blocked by finance"


@pytest.fixture
def mailbox() -> Iterator[tuple[str, Mailbox]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def mailing(settings: Settings, clock: Clock, mailbox: tuple[str, Mailbox]) -> Iterator[TestClient]:
    url, _ = mailbox
    app = create_app(replace(settings, smtp_url=url, mail_from="ACME Support <support@acme.example>"), clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.portal.call(add_tenant, app.state.store, "acme", "ACME Support", "default",
                           {"notify_digest_minutes": "10"})
        client.portal.call(add_source, app.state.store, "acme", "generic", SECRET)
        yield client


def deliver_now(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, Starlette)
    client.portal.call(app.state.deliverer.run_once)


def manage_link(mail_text: str) -> str:
    [link] = re.findall(r"https?://\S+/n/\S+", mail_text)
    return urlsplit(link).path


def test_subscribe_confirm_be_told_and_unsubscribe_in_one_click(mailing: TestClient, mailbox: tuple[str, Mailbox]):
    _, box = mailbox
    post(mailing, generic_payload(title="Invoice export fails", stage="received"))
    link = link_for(mailing)
    answer = mailing.post(link + "/subscriptions", data={"email": "Ann@Example.COM"})
    other = mailing.post(link + "/subscriptions", json={"email": "nobody@example.org"})
    assert answer.status_code == other.status_code == 202 and "on its way" in other.json()["message"]
    deliver_now(mailing)
    confirmations = box.wait_for(2)
    confirm = next(m for m in confirmations if m["To"] == "Ann@example.com")
    assert confirm["Subject"] == "Confirm: updates about case 4711"
    assert confirm["Auto-Submitted"] == "auto-generated" and "List-Unsubscribe" not in confirm
    page = manage_link(text_of(confirm))
    assert "Yes, keep me updated" in mailing.get(page).text  # a scanner following the link confirms nothing

    post(mailing, {**generic_payload(stage="in_progress"), "message": {"id": "m1", "body": "On it.", "public": True,
                                                                     "author": "Dana"}})
    deliver_now(mailing)
    assert len(box.messages) == 2  # not confirmed yet: no news

    assert "You get a mail whenever this case moves." in mailing.post(page, data={"action": "confirm"}).text
    post(mailing, {**generic_payload(waiting_on="customer", status_label="Need your CSV"),
                   "message": {"id": "m2", "body": "Please send the CSV file.", "public": True, "author": "Dana"}})
    post(mailing, {**generic_payload(), "message": {"id": "n1", "body": NOTE, "public": False}})
    deliver_now(mailing)
    news = box.wait_for(3)[2]
    assert news["To"] == "Ann@example.com" and news["From"] == "ACME Support <support@acme.example>"
    assert news["Subject"] == "ACME Support: Case 4711 · In progress · Waiting on you"
    unsubscribe_header = str(news["List-Unsubscribe"]).strip()  # a long header is folded onto its next line
    # A page of this subscriber (signed anew for each mail, so not the same characters as `page`).
    assert re.fullmatch(r"<http://127\.0\.0\.1:\d+/n/[\w.-]+>", unsubscribe_header)
    assert news["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert news["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(r"<case-[0-9a-f]{20}@127\.0\.0\.1>", news["In-Reply-To"])
    assert news["References"] == news["In-Reply-To"]
    text = text_of(news)
    assert "Please send the CSV file." in text and "Dana" in text and "On it." not in text  # only news since confirming
    assert "/c/" in text  # the signed case link
    assert "Please send the CSV file." in html_of(news)
    assert all(NOTE not in m.as_string() for m in box.messages)

    # What a mail client does for its "Unsubscribe" button (RFC 8058).
    unsubscribe = urlsplit(unsubscribe_header.strip("<>")).path
    unsubscribed = mailing.post(unsubscribe, content=b"List-Unsubscribe=One-Click",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert unsubscribed.status_code == 200 and "no more mails" in unsubscribed.text
    post(mailing, {**generic_payload(stage="resolved")})
    app = mailing.app
    assert isinstance(app, Starlette)
    app.state.clock.advance(timedelta(minutes=30))
    deliver_now(mailing)
    assert len(box.messages) == 3


def test_news_within_the_digest_interval_waits_and_comes_as_one_mail(mailing: TestClient,
                                                                    mailbox: tuple[str, Mailbox]):
    _, box = mailbox
    app = mailing.app
    assert isinstance(app, Starlette)
    post(mailing, generic_payload(title="Printer", stage="received"))
    mailing.post(link_for(mailing) + "/subscriptions", data={"email": "ann@example.com"})
    deliver_now(mailing)
    mailing.post(manage_link(text_of(box.wait_for(1)[0])), data={"action": "confirm"})
    post(mailing, {**generic_payload(), "message": {"id": "m0", "body": "First.", "public": True}})
    deliver_now(mailing)
    first = box.wait_for(2)[1]  # at once: rendered before anything below was stored
    for n, body in ((1, "Second."), (2, "Third.")):
        post(mailing, {**generic_payload(), "message": {"id": f"m{n}", "body": body, "public": True}})
        deliver_now(mailing)
    time.sleep(0.5)
    assert len(box.messages) == 2  # within the interval: they wait
    assert "First." in text_of(first)
    app.state.clock.advance(timedelta(minutes=11))
    deliver_now(mailing)
    later = box.wait_for(3)[2]
    assert "Second." in text_of(later) and "Third." in text_of(later) and "First." not in text_of(later)
    app.state.clock.advance(timedelta(minutes=11))
    deliver_now(mailing)  # the other queued mails of the burst find nothing new: no mail twice
    assert len(box.messages) == 3


def test_a_public_page_subscriber_sees_the_public_view_and_private_again_ends_it(
        mailing: TestClient, mailbox: tuple[str, Mailbox]):
    _, box = mailbox
    post(mailing, generic_payload(title="Printer", stage="received"))
    public = publish(mailing)
    assert mailing.post(public + "/subscriptions", data={"email": "bob@example.com"}).status_code == 202
    deliver_now(mailing)
    mailing.post(manage_link(text_of(box.wait_for(1)[0])), data={"action": "confirm"})
    post(mailing, {**generic_payload(), "message": {"id": "m1", "body": "Call me at +49 30 1234567",
                                                   "public": True, "author": "Dana Surname"}})
    deliver_now(mailing)
    news = text_of(box.wait_for(2)[1])
    assert "1234567" not in news and "Surname" not in news and "/p/" in news and "/c/" not in news


@pytest.mark.parametrize("body, field", [({"email": "not an address"}, "email"), ({"email": "a@b"}, "email"),
                                         ({"email": "x@example.com\r\nBcc: y@example.com"}, "email"), ({}, "email")])
def test_a_bad_address_is_a_400_naming_the_field(mailing: TestClient, body: dict[str, str], field: str):
    post(mailing, generic_payload())
    answer = mailing.post(link_for(mailing) + "/subscriptions", json=body)
    assert answer.status_code == 400 and field in answer.json()["error"]


def test_without_smtp_the_case_offers_no_mail(client: TestClient):
    post(client, generic_payload())
    answer = client.post(link_for(client) + "/subscriptions", json={"email": "ann@example.com"})
    assert answer.status_code == 404


def test_the_case_page_offers_it_only_where_mail_is_on(mailing: TestClient, client: TestClient):
    for app_client, offered in ((mailing, True), (client, False)):
        post(app_client, generic_payload())
        link = link_for(app_client)
        page = app_client.get(link).text
        assert (f'<form class="subscribe" method="post" action="{link}/subscriptions"' in page) is offered
        assert ('type="email" name="email"' in page) is offered


async def test_a_refused_mail_is_retried_and_its_error_never_names_the_address():
    from aiosmtpd.controller import Controller

    from tests.conftest import free_port
    from tracker import mail
    from tracker.errors import DeliveryError

    class Refusing:
        async def handle_RCPT(self, server, session, envelope, address, options):
            return f"550 5.1.1 <{address}>: mailbox unavailable"

    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        message = mail.message("tracker@example.com", "ann.private@example.com", "Hi", "text", None, {}, "example.com")
        with pytest.raises(DeliveryError) as refused:
            await mail.send(mail.server_of(f"smtp://127.0.0.1:{port}"), message)
    finally:
        controller.stop()
    assert "ann.private" not in str(refused.value) and "[the subscriber]" in str(refused.value)


@pytest.mark.browser
def test_opt_in_and_unsubscribe_in_the_browser(settings: Settings, clock: Clock, mailbox: tuple[str, Mailbox],
                                               browser: Browser):
    """As a customer does it: the form on the case page, the link in the mail, the one button;
    then the unsubscribe link of a news mail."""
    url, box = mailbox
    app = create_app(replace(settings, smtp_url=url), clock)
    with LiveServer(app, settings.port) as live:
        live.call(setup_acme(app))
        with httpx.Client(base_url=live.url, timeout=10) as http:
            post(http, generic_payload(title="Invoice export fails", stage="received"))
        page = browser.new_page()
        host = HostSite()  # a company's support page with the widget: its card offers the same
        try:
            page.goto(host.page("/support", snippet(live.url, [live_link(live)])))
            offer = page.locator("tracker-case a[part=subscribe]")
            expect(offer).to_have_text("Keep me updated")
            offer.click()
        finally:
            host.close()
        page.wait_for_url(re.compile(r"/c/.+#follow-heading$"))
        page.get_by_label("Keep me updated").fill("ann@example.com")
        page.get_by_role("button", name="Yes, keep me updated").click()
        expect(page.get_by_role("status")).to_contain_text("a mail to confirm is on its way")
        manage = re.findall(r"https?://\S+/n/\S+", text_of(box.wait_for(1)[0]))[0]
        page.goto(manage)
        page.get_by_role("button", name="Yes, keep me updated").click()
        expect(page.get_by_role("status")).to_have_text("You get a mail whenever this case moves.")
        with httpx.Client(base_url=live.url, timeout=10) as http:
            post(http, {**generic_payload(stage="in_progress"),
                        "message": {"id": "m1", "body": "We are on it.", "public": True}})
        news = box.wait_for(2)[1]
        page.goto(str(news["List-Unsubscribe"]).strip().strip("<>"))
        page.get_by_role("button", name="Stop these mails").click()
        expect(page.get_by_role("status")).to_have_text("You will get no more mails about this case.")
        page.close()
        assert live.call(app.state.store.get_subscriber(1)) is None  # the address is gone with the row


def test_the_case_json_tells_the_widget_where_to_ask_for_mail(mailing: TestClient, client: TestClient):
    # Without mail, the page still offers notifications on the device (test_push has notify=off).
    for app_client, offered in ((mailing, True), (client, True)):
        post(app_client, generic_payload())
        link = link_for(app_client)
        where = app_client.get(link + "/case.json").json()["keep_me_updated"]
        assert (where is not None and where.endswith(f"{link}#follow-heading")) is offered


def test_a_case_gone_quiet_tells_its_subscribers_once(mailing: TestClient, mailbox: tuple[str, Mailbox]):
    _, box = mailbox
    app = mailing.app
    assert isinstance(app, Starlette)
    post(mailing, {**generic_payload(title="Printer", stage="in_progress"),
                   "message": {"id": "m1", "body": "On it.", "public": True}})
    mailing.post(link_for(mailing) + "/subscriptions", data={"email": "ann@example.com"})
    deliver_now(mailing)
    mailing.post(manage_link(text_of(box.wait_for(1)[0])), data={"action": "confirm"})
    quiet_watch = app.state.quiet_watch
    assert mailing.portal.call(quiet_watch.check) == 0  # not quiet yet
    app.state.clock.advance(timedelta(hours=25))  # past the promise of an update every 24 hours
    assert mailing.portal.call(quiet_watch.check) == 1
    assert mailing.portal.call(quiet_watch.check) == 0  # once per stretch of silence
    deliver_now(mailing)
    quiet = box.wait_for(2)[1]
    assert quiet["Subject"] == "ACME Support: Case 4711 · No public update for a while."
    assert "No public update for a while." in text_of(quiet) and quiet["List-Unsubscribe-Post"]


def test_a_title_with_a_line_break_and_an_ampersand_makes_a_one_line_subject(mailing: TestClient,
                                                                          mailbox: tuple[str, Mailbox]):
    _, box = mailbox
    app = mailing.app
    assert isinstance(app, Starlette)
    mailing.portal.call(add_tenant, app.state.store, "acme", "A & B\nSupport", None)
    post(mailing, generic_payload(title="Printer\nBcc: eve@example.com & more", stage="received"))
    mailing.post(link_for(mailing) + "/subscriptions", data={"email": "ann@example.com"})
    deliver_now(mailing)
    mailing.post(manage_link(text_of(box.wait_for(1)[0])), data={"action": "confirm"})
    post(mailing, {**generic_payload(stage="in_progress", title="Printer\r\nBcc: eve@example.com & more")})
    deliver_now(mailing)
    news = box.wait_for(2)[1]
    assert news["Subject"] == "A & B Support: Case 4711 · In progress" and news["Bcc"] is None
    assert all(rcpt == ["ann@example.com"] for _, rcpt in box.envelopes)
    assert "Printer Bcc: eve@example.com & more" not in news["Subject"]
    assert "& more" in text_of(news) and "&amp;" not in text_of(news)


@pytest.mark.parametrize(("notify", "offered"), [("email,push", True), ("email", True), ("push", False),
                                                 ("off", False)])
def test_the_tenant_chooses_how_its_customers_may_be_kept_updated(mailing: TestClient, notify: str, offered: bool):
    app = mailing.app
    assert isinstance(app, Starlette)
    mailing.portal.call(add_tenant, app.state.store, "acme", None, None, {"notify": notify})
    post(mailing, generic_payload())
    answer = mailing.post(link_for(mailing) + "/subscriptions", json={"email": "ann@example.com"})
    assert (answer.status_code == 202) is offered and (answer.status_code == 404) is not offered
