"""Notify me on this device (Web Push), against a push service on loopback that checks each
request's VAPID signature and decrypts its payload as a browser would: subscribe, be told of
news (never of an internal note), the digest (but "waiting on you" at once), a 410 that ends
the subscription, endpoints that are refused before any request, and the page in Chromium."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.conftest import SECRET, LiveServer, generic_payload, link_for, live_link, post
from tests.push_service import PushService, b64, decrypt, push_service, unb64
from tests.test_keep_me_updated import deliver_now
from tracker import push
from tracker.admin import add_source, add_tenant
from tracker.app import create_app
from tracker.clock import Clock
from tracker.config import Settings
from tracker.errors import BadRequest, ConfigError

NOTE = "INTERNAL-5d1e: customer is on the watch list"


@pytest.fixture
def service(clock: Clock) -> Iterator[PushService]:
    with push_service(clock.now) as running:
        yield running


def pushing_app(settings: Settings, clock: Clock, service: PushService) -> Starlette:
    return create_app(replace(settings, push_services=(service.url.removeprefix("http://"),)), clock)


@pytest.fixture
def pushing(settings: Settings, clock: Clock, service: PushService) -> Iterator[TestClient]:
    app = pushing_app(settings, clock, service)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.portal.call(add_tenant, app.state.store, "acme", "ACME Support", "default",
                           {"notify_digest_minutes": "10"})
        client.portal.call(add_source, app.state.store, "acme", "generic", SECRET)
        yield client


def update(message_id: str, body: str, **case: Any) -> dict[str, Any]:
    return {**generic_payload(**case), "message": {"id": message_id, "body": body, "public": True, "author": "Dana"}}


def subscribe(client: TestClient, service: PushService, link: str) -> tuple[Any, dict[str, Any]]:
    browser = service.browser()
    answer = client.post(link + "/subscriptions", json={"push": browser.subscription()})
    assert answer.status_code == 201, answer.text
    return browser, answer.json()


def test_the_push_service_reads_the_example_of_rfc_8291():
    """Appendix A of RFC 8291: the test's own decryption is right before it judges tracker's."""
    from cryptography.hazmat.primitives.asymmetric import ec
    receiver = ec.derive_private_key(int.from_bytes(unb64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"), "big"),
                                     ec.SECP256R1())
    body = unb64("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wE"
                 "qKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")
    assert decrypt(body, receiver, unb64("BTBZMqHH6r4Tts7J_aSIgg")) == b"When I grow up, I want to be a watermelon"


def test_tracker_encrypts_for_that_browser_alone(service: PushService):
    browser, other = service.browser(), service.browser()
    subscription = push.PushSubscription.from_json(browser.subscription(), (service.url.removeprefix("http://"),))
    body = push.encrypt("Ünïcode ✓".encode(), subscription)
    assert decrypt(body, browser.private_key, browser.auth).decode() == "Ünïcode ✓"
    assert body != push.encrypt("Ünïcode ✓".encode(), subscription)  # a fresh key and salt each time
    with pytest.raises(Exception):  # noqa: B017 - any failure to decrypt will do
        decrypt(body, other.private_key, other.auth)


def test_subscribe_a_device_and_be_told_of_news_but_never_of_internal_notes(pushing: TestClient,
                                                                            service: PushService):
    post(pushing, generic_payload(title="Invoice export fails", stage="received"))
    link = link_for(pushing)
    page = pushing.get(link).text
    [key] = re.findall(r'class="push-subscribe" data-key="([^"]+)"', page)
    browser, answer = subscribe(pushing, service, link)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/n/\S+", answer["manage"])
    deliver_now(pushing)
    assert service.requests == 0  # no confirmation on a device: the browser's prompt was the opt-in

    post(pushing, {**update("m1", "We found the cause and are fixing it.", stage="in_progress"),
                   "note": {"id": "n1", "body": NOTE}})
    post(pushing, {**generic_payload(stage="in_progress"), "message": {"id": "n2", "body": NOTE, "public": False}})
    deliver_now(pushing)
    [told] = service.wait_for(1)
    assert told.browser is browser and told.claims["k"] == key  # signed with the key the page gave
    message = told.message
    assert message["title"] == "ACME Support: Case 4711 · In progress"
    assert message["body"] == "Dana: We found the cause and are fixing it."
    # The case's link, signed anew when the notification was made (so compared by what it opens).
    signer = pushing.app.state.signer  # type: ignore[attr-defined]
    opened = signer.read_case_link(message["url"].rsplit("/c/", 1)[1])
    assert (opened.tenant, opened.source, opened.case_id) == ("acme", "generic", "4711")
    assert message["url"].startswith("http://127.0.0.1:") and message["stop"] == answer["manage"]
    assert message["stop_text"] == "Stop these notifications"
    assert told.headers["urgency"] == "normal"
    assert NOTE not in json.dumps(message) and "INTERNAL" not in json.dumps(message)
    deliver_now(pushing)
    assert len(service.received) == 1  # told once


def test_news_within_the_digest_waits_but_the_customers_move_goes_at_once(pushing: TestClient,
                                                                          service: PushService, clock: Clock):
    post(pushing, generic_payload(title="Printer", stage="in_progress"))
    subscribe(pushing, service, link_for(pushing))
    post(pushing, update("m1", "First look done.", stage="in_progress"))
    deliver_now(pushing)
    service.wait_for(1)
    post(pushing, update("m2", "Still digging.", stage="in_progress"))
    deliver_now(pushing)
    assert len(service.received) == 1  # within notify_digest_minutes: it waits
    post(pushing, update("m3", "Which printer model is it?", stage="in_progress", waiting_on="customer"))
    clock.advance(timedelta(seconds=30))  # the waiting rows' next try
    deliver_now(pushing)
    received = service.wait_for(2)
    assert received[1].message["body"] == "Waiting on you. Dana: Which printer model is it?"
    assert received[1].headers["urgency"] == "high"
    clock.advance(timedelta(minutes=11))
    deliver_now(pushing)
    assert len(service.received) == 2  # the waiting news was in that one: nothing twice


def test_a_push_service_saying_gone_ends_the_subscription(pushing: TestClient, service: PushService):
    post(pushing, generic_payload(title="Router", stage="in_progress"))
    browser, _ = subscribe(pushing, service, link_for(pushing))
    browser.gone = True  # the customer turned notifications off in the browser
    post(pushing, update("m1", "Replacement shipped.", stage="in_progress"))
    deliver_now(pushing)
    assert service.requests == 1
    app = pushing.app
    assert isinstance(app, Starlette)
    assert pushing.portal.call(app.state.store.get_subscriber, 1) is None  # the endpoint is erased
    post(pushing, update("m2", "Delivered.", stage="resolved"))
    deliver_now(pushing)
    assert service.requests == 1


def test_the_notifications_stop_action_unsubscribes_in_one_click(pushing: TestClient, service: PushService):
    post(pushing, generic_payload(stage="in_progress"))
    _, answer = subscribe(pushing, service, link_for(pushing))
    manage = re.sub(r"^https?://[^/]+", "", answer["manage"])
    assert "This device gets a notification whenever this case moves." in pushing.get(manage).text
    stopped = pushing.post(manage, data={"List-Unsubscribe": "One-Click"})
    assert stopped.status_code == 200 and "This device gets no more notifications" in stopped.text
    post(pushing, update("m1", "Done.", stage="resolved"))
    deliver_now(pushing)
    assert service.requests == 0


@pytest.mark.parametrize(("change", "field"), [
    (lambda s: {**s, "endpoint": "https://push.attacker.example/x"}, "push.endpoint"),
    (lambda s: {**s, "endpoint": "http://169.254.169.254/latest/meta-data"}, "push.endpoint"),
    (lambda s: {**s, "endpoint": s["endpoint"].replace("127.0.0.1", "localhost")}, "push.endpoint"),
    (lambda s: {**s, "endpoint": "https://" + "x" * 3000}, "push.endpoint"),
    (lambda s: {**s, "endpoint": 12}, "push.endpoint"),
    (lambda s: {**s, "keys": {**s["keys"], "p256dh": b64(b"\x04" + b"\x01" * 64)}}, "push.keys.p256dh"),
    (lambda s: {**s, "keys": {**s["keys"], "p256dh": "٣٣٣"}}, "push.keys.p256dh"),
    (lambda s: {**s, "keys": {**s["keys"], "auth": b64(b"short")}}, "push.keys.auth"),
    (lambda s: {**s, "keys": None}, "push.keys.p256dh"),
    (lambda s: [[[[s]]]], "push"),
    (lambda s: "yes please", "push"),
])
def test_a_subscription_to_anywhere_else_is_refused_and_nothing_is_sent(pushing: TestClient, service: PushService,
                                                                        change: Any, field: str):
    post(pushing, generic_payload(stage="in_progress"))
    with push_service(service.now) as elsewhere:  # a real server, not one of TRACKER_PUSH_SERVICES
        subscription = elsewhere.browser().subscription()
        subscription["endpoint"] = subscription["endpoint"].replace(elsewhere.url, service.url)
        answer = pushing.post(link_for(pushing) + "/subscriptions", json={"push": change(subscription)})
        assert answer.status_code == 400 and answer.json()["error"].startswith(field + ":"), answer.text
        other = pushing.post(link_for(pushing) + "/subscriptions", json={"push": elsewhere.browser().subscription()})
        assert other.status_code == 400 and other.json()["error"].startswith("push.endpoint:")
        post(pushing, update("m1", "Done.", stage="resolved"))
        deliver_now(pushing)
        assert elsewhere.requests == 0 and service.requests == 0


def test_a_deeply_nested_body_is_a_400(pushing: TestClient):
    post(pushing, generic_payload(stage="in_progress"))
    body = '{"push": ' + "[" * 100_000 + "]" * 100_000 + "}"
    answer = pushing.post(link_for(pushing) + "/subscriptions", content=body,
                          headers={"Content-Type": "application/json"})
    assert answer.status_code in (400, 413) and "error" in answer.json()


def test_where_the_company_turned_it_off_nothing_offers_it(pushing: TestClient, service: PushService):
    app = pushing.app
    assert isinstance(app, Starlette)
    for notify, offered in (("email,push", True), ("email", False), ("off", False)):
        pushing.portal.call(add_tenant, app.state.store, "acme", None, None, {"notify": notify})
        post(pushing, generic_payload(stage="in_progress"))
        link = link_for(pushing)
        assert ('class="push-subscribe"' in pushing.get(link).text) is offered
        assert (pushing.get(link + "/case.json").json()["keep_me_updated"] is not None) is offered
        answer = pushing.post(link + "/subscriptions", json={"push": service.browser().subscription()})
        assert answer.status_code == (201 if offered else 404)


def test_push_services_and_the_vapid_key_are_checked_settings():
    base = {"TRACKER_SECRET_KEYS": "k" * 20}
    assert Settings.from_env(base).push_services == tuple(push.BROWSER_PUSH_SERVICES.split(","))
    with pytest.raises(ConfigError, match="TRACKER_PUSH_SERVICES"):
        Settings.from_env({**base, "TRACKER_PUSH_SERVICES": "push.example/path"})
    with pytest.raises(ConfigError, match="TRACKER_VAPID_PRIVATE_KEY"):
        Settings.from_env({**base, "TRACKER_VAPID_PRIVATE_KEY": "not-a-key"})
    key = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"  # RFC 8291's example key
    assert Settings.from_env({**base, "TRACKER_VAPID_PRIVATE_KEY": key}).vapid_private_key == key
    assert "yfWP" not in str(Settings.from_env({**base, "TRACKER_VAPID_PRIVATE_KEY": key}).masked())


@pytest.mark.parametrize(("endpoint", "allowed"), [
    ("https://fcm.googleapis.com/fcm/send/abc", True),
    ("https://wns2-par02p.notify.windows.com/w/?token=x", True),
    ("https://notify.windows.com.attacker.example/w", False),
    ("https://attackernotify.windows.com/w", False),
    ("https://fcm.googleapis.com:8443/fcm/send/abc", False),
    ("http://fcm.googleapis.com/fcm/send/abc", False),
    ("https://fcm.googleapis.com@attacker.example/x", False),
    ("https://[::1/x", False),
])
def test_only_the_push_services_named_are_reached(endpoint: str, allowed: bool):
    assert push.service_allowed(endpoint, push.BROWSER_PUSH_SERVICES.split(",")) is allowed


async def test_the_generated_vapid_key_outlives_a_restart(store: Any):
    first = await push.load_vapid("", store, "mailto:support@acme.example")
    again = await push.load_vapid("", store, "mailto:support@acme.example")
    assert first.public_key == again.public_key and len(unb64(first.public_key)) == 65


def test_a_bad_key_is_refused_when_read():
    with pytest.raises(BadRequest, match="push.keys.auth"):
        push.key_field({"auth": "A" * 10}, "auth", 16)


@pytest.mark.browser
def test_the_page_asks_only_after_the_click_and_the_worker_shows_the_news(settings: Settings, clock: Clock,
                                                                         service: PushService, browser: Browser):
    """As a customer does it in Chromium: the button, the browser's permission, the service
    worker from tracker's origin. Chromium without a network cannot reach a real push service,
    so the page's PushManager.subscribe is given the loopback service's subscription."""
    app = pushing_app(settings, clock, service)
    device = service.browser()
    with LiveServer(app, settings.port) as live:
        from tests.conftest import _setup_acme
        live.call(_setup_acme(app))
        with httpx.Client(base_url=live.url, timeout=10) as http:
            post(http, generic_payload(title="Invoice export fails", stage="received"))
        context = browser.new_context()
        context.add_init_script(f"const subscription = {json.dumps(device.subscription())};" + """
            window.__asked = 0;
            const ask = Notification.requestPermission.bind(Notification);
            Notification.requestPermission = function () { window.__asked++; return ask(); };
            PushManager.prototype.subscribe = function (options) {
              window.__serverKey = btoa(String.fromCharCode.apply(null, new Uint8Array(options.applicationServerKey)));
              return Promise.resolve({ toJSON: function () { return subscription; } });
            };""")
        context.grant_permissions(["notifications"], origin=live.url)
        page = context.new_page()
        try:
            page.goto(live_link(live))
            button = page.get_by_role("button", name="Notify me on this device")
            expect(button).to_be_visible()
            assert page.evaluate("window.__asked") == 0  # nothing asked on arrival
            button.click()
            expect(page.locator("[data-push-status]")).to_have_text("Notifications are on for this device.")
            assert page.evaluate("window.__asked") == 1
            given = base64.b64decode(page.evaluate("window.__serverKey"))
            assert given == unb64(app.state.vapid.public_key)  # the key that signs what the service gets
            worker = page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.active.scriptURL)")
            assert worker == f"{live.url}/push-worker.js"
            with httpx.Client(base_url=live.url, timeout=10) as http:
                post(http, update("m1", "We are on it.", stage="in_progress"))
            live.call(app.state.deliverer.run_once())
            [told] = service.wait_for(1)
            assert told.message["body"] == "Dana: We are on it."
            # The worker, given that payload as the browser would, shows it as one notification per case.
            cdp = context.new_cdp_session(page)
            registered: list[dict[str, Any]] = []
            cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registered.extend(event["registrations"]))
            cdp.send("ServiceWorker.enable")
            page.wait_for_timeout(200)
            [registration] = [r for r in registered if r["scopeURL"] == live.url + "/"]
            cdp.send("ServiceWorker.deliverPushMessage", {"origin": live.url, "registrationId":
                                                          registration["registrationId"],
                                                          "data": json.dumps(told.message)})
            shown = page.wait_for_function("""navigator.serviceWorker.ready
                .then(r => r.getNotifications()).then(list => list.length ? list.map(n => [n.title, n.body, n.tag,
                n.actions.map(a => a.title)]) : null)""", timeout=10_000).json_value()
            assert shown == [[told.message["title"], "Dana: We are on it.", told.message["tag"],
                              ["Stop these notifications"]]]
        finally:
            context.close()
