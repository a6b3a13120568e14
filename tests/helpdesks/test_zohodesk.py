"""Zoho Desk: the X-ZDesk-JWT that Zoho signs (RS256, org and webhook in its claims), the event
array of its webhooks, the private comment that carries the case link, and the app."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from starlette.testclient import TestClient

import tracker.helpdesks
from tests.conftest import link_for, sse_events, suite_clock
from tests.receiver import receiver
from tracker.errors import BadRequest, DeliveryError, Unauthorized
from tracker.helpdesks import zohodesk
from tracker.helpdesks.writing import NOTE_TEXT, NewCase
from tracker.storage.base import SourceConfig

FIXTURES = Path(__file__).parent.parent / "fixtures" / "zohodesk"
NOW = suite_clock().now()  # when the delivery arrives; Zoho issues its token just before
RECEIVED_AT = NOW
ORG, WEBHOOK = "700123456", "214630000000412001"
TICKET = "214630000000351001"
NOTE_MARKER = "INTERNAL-ZOHO-7f3a"
REPLY = "We reproduced the export bug: exports of more than 500 rows were cut off."
ALL = ["ticket_add.json", "ticket_update.on_hold.json", "thread_add.agent_reply.json",
       "thread_add.customer_email.json", "comment_add.private.json", "batch.closed_with_reply.json"]

# The RSA key of RFC 7515, Appendix A.2 (a published test vector) stands in for Zoho's signing key.
A2_N = ("ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yR"
        "T-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXB"
        "dQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9ia"
        "GNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ")
A2_D = ("Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46su"
        "i395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4"
        "qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB"
        "4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ")
A2_TOKEN = ("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19"
            "yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt"
            "_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb"
            "1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI"
            "8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw")
KID = "zd-2025-08"
JWKS = {"keys": [{"kty": "RSA", "kid": "zd-enc", "use": "enc", "n": A2_N, "e": "AQAB"},
                 {"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256", "n": A2_N, "e": "AQAB"}]}
SECRET = f"{ORG}:*:{json.dumps(JWKS)}"
PINNED = f"{ORG}:{WEBHOOK}:{json.dumps(JWKS)}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def number(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def rs256(message: bytes, private: int = number(A2_D)) -> str:
    """RSASSA-PKCS1-v1_5 with SHA-256, as Zoho signs (reproduces RFC 7515 A.2's signature exactly)."""
    modulus = number(A2_N)
    size = (modulus.bit_length() + 7) // 8
    digest = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(message).digest()
    encoded = b"\x00\x01" + b"\xff" * (size - len(digest) - 3) + b"\x00" + digest
    return b64(pow(int.from_bytes(encoded, "big"), private, modulus).to_bytes(size, "big"))


def token(at: datetime = NOW, *, private: int = number(A2_D), header: dict[str, Any] | None = None,
          **claims: Any) -> str:
    issued = int(at.timestamp()) - 2
    values = {"iss": f"orgId:{ORG}", "aud": f"webhookId:{WEBHOOK}", "iat": issued, "exp": issued + 60, **claims}
    values = {key: value for key, value in values.items() if value is not None}
    head = b64(json.dumps(header or {"alg": "RS256", "typ": "JWT", "kid": KID}).encode())
    signing_input = f"{head}.{b64(json.dumps(values).encode())}"
    return f"{signing_input}.{rs256(signing_input.encode(), private)}"


def headers(at: datetime = NOW, **claims: Any) -> dict[str, str]:
    return {"x-zdesk-jwt": token(at, **claims), "content-type": "application/json"}


def body_of(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load(name: str) -> list[dict[str, Any]]:
    return list(json.loads(body_of(name)))


def parse(payload: Any) -> list[Any]:
    return zohodesk.parse(payload, {}, received_at=RECEIVED_AT)


def one(payload: Any) -> Any:
    [event] = parse(payload)
    return event


def at_ms(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)


# --- Verification ---

@pytest.mark.parametrize("secret", [SECRET, PINNED], ids=["any webhook", "this webhook"])
@pytest.mark.parametrize("name", ALL)
def test_every_fixture_verifies_with_zohos_token(name, secret):
    zohodesk.verify(headers(), body_of(name), secret, NOW)


def test_rs256_is_checked_as_rfc_7515_a2_specifies():
    key = zohodesk.rsa_key({"kty": "RSA", "n": A2_N, "e": "AQAB"})
    assert key is not None and key.n.bit_length() == 2048
    assert zohodesk.verified_claims(A2_TOKEN, {"": key})["iss"] == "joe"  # no kid: every key is tried
    assert A2_TOKEN.endswith(rs256(A2_TOKEN.rsplit(".", 1)[0].encode()))  # the tests sign as the RFC does
    head, claims, signature = A2_TOKEN.split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    flipped = b64(raw[:-1] + bytes([raw[-1] ^ 1]))
    with pytest.raises(Unauthorized, match="signature does not match"):
        zohodesk.verified_claims(f"{head}.{claims}.{flipped}", {"": key})


def forged(claims: str) -> str:
    head, _, signature = token().split(".")
    return f"{head}.{claims}.{signature}"


@pytest.mark.parametrize(("change", "named"), [
    ("missing", "x-zdesk-jwt"),
    ("other organization", "another Zoho Desk organization"),
    ("other webhook", "another webhook"),
    ("signed by another key", "signature does not match"),
    ("claims changed after signing", "signature does not match"),
    ("key Zoho rotated in", "Zoho has new keys"),
    ("alg none", "RS256"),
    ("alg HS256", "RS256"),
    ("not a JWT", "JSON Web Token"),
    ("bad base64", "JSON Web Token"),
    ("expired", "expired"),
    ("issued too long ago", "more than 300 s"),
    ("issued in the future", "more than 300 s"),
    ("no time at all", "neither iat nor exp"),
    ("a time that is no number", "iat is not a time"),
])
def test_wrong_or_missing_token_is_rejected(change, named):
    body = body_of("ticket_add.json")
    sent: dict[str, str] = {
        "missing": {},
        "other organization": headers(iss="orgId:700999999"),
        "other webhook": headers(aud="webhookId:214630000000412999"),
        "signed by another key": headers(private=number(A2_D) + 2),
        "claims changed after signing": {"x-zdesk-jwt": forged(b64(json.dumps(
            {"iss": "orgId:700123456", "aud": f"webhookId:{WEBHOOK}", "iat": 4102444800}).encode()))},
        "key Zoho rotated in": {"x-zdesk-jwt": token(header={"alg": "RS256", "kid": "zd-2026-02"})},
        "alg none": {"x-zdesk-jwt": f"{b64(json.dumps({'alg': 'none'}).encode())}.{token().split('.')[1]}."},
        "alg HS256": {"x-zdesk-jwt": token(header={"alg": "HS256", "kid": KID})},
        "not a JWT": {"x-zdesk-jwt": "Bearer something"},
        "bad base64": {"x-zdesk-jwt": "a.b!.c"},
        "expired": headers(NOW - timedelta(minutes=3)),
        "issued too long ago": headers(iat=int(NOW.timestamp()) - 400, exp=int(NOW.timestamp()) + 60),
        "issued in the future": headers(iat=int(NOW.timestamp()) + 120),
        "no time at all": headers(iat=None, exp=None),
        "a time that is no number": headers(iat="now"),
    }[change]
    secret = PINNED if change == "other webhook" else SECRET
    with pytest.raises(Unauthorized, match=named):
        zohodesk.verify(sent, body, secret, NOW)


def test_zoho_times_in_milliseconds_and_a_list_of_audiences_are_read():
    issued_ms = int(NOW.timestamp() * 1000) - 2000
    sent = headers(iat=issued_ms, exp=issued_ms + 60_000, aud=[f"webhookId:{WEBHOOK}", "other"])
    zohodesk.verify(sent, body_of("ticket_add.json"), PINNED, NOW)
    with pytest.raises(Unauthorized, match="expired"):
        zohodesk.verify(sent, body_of("ticket_add.json"), PINNED, NOW + timedelta(minutes=2))


def test_zohos_check_of_a_new_webhook_url_passes_and_stores_nothing():
    # Zoho posts {} when the webhook is saved, before the admin may have the keys in place.
    zohodesk.verify({}, b" {}\n", "whsec_not-yet-the-zoho-secret", NOW)
    assert parse({}) == []
    with pytest.raises(Unauthorized, match="x-zdesk-jwt"):  # only the empty object goes without a token
        zohodesk.verify({}, b"[]", SECRET, NOW)


SMALL_KEY = {"kty": "RSA", "kid": KID, "n": b64(((1 << 1023) | 1).to_bytes(128, "big")), "e": "AQAB"}
EC_KEY = {"kty": "EC", "kid": KID, "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
          "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}


@pytest.mark.parametrize("secret", [
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # the generated default: not yet connected with Zoho's keys
    f"{ORG}:*:not json",
    f"acme:*:{json.dumps(JWKS)}",
    f"{ORG}:hook:{json.dumps(JWKS)}",
    f"{ORG}:*:{{}}",
    f"{ORG}:*:{json.dumps({'keys': [SMALL_KEY, EC_KEY]})}",
    f"{ORG}:*:{json.dumps({'keys': [{'kty': 'RSA', 'kid': KID, 'n': '!!', 'e': 'AQAB'}]})}",
])
def test_a_secret_that_is_not_org_webhook_and_keys_says_what_it_must_be(secret):
    with pytest.raises(Unauthorized, match="ORG_ID:WEBHOOK_ID:KEYS"):
        zohodesk.verify(headers(), body_of("ticket_add.json"), secret, NOW)


# --- Parsing ---

def test_new_ticket_is_received_with_its_requester():
    event = one(load("ticket_add.json"))
    assert event.case_id == TICKET
    assert event.changes == {"title": "Invoice export stops at 500 rows", "status_label": "Open",
                             "stage": "received", "waiting_on": "company", "priority": "High",
                             "requester_name": "Ann Requester", "requester_email": "ann.requester@example.com"}
    assert event.occurred_at == datetime(2025, 8, 18, 7, 54, 12, tzinfo=UTC)  # eventTime, in milliseconds
    assert event.delivery_id == f"Ticket_Add:{TICKET}:1755503652000"
    assert event.update is None and not event.internal


def test_on_hold_is_the_customers_move():
    event = one(load("ticket_update.on_hold.json"))
    assert event.changes["status_label"] == "On Hold"
    assert event.changes["stage"] == "in_progress" and event.changes["waiting_on"] == "customer"
    assert event.delivery_id == f"Ticket_Update:{TICKET}:1755505241000"


def test_agent_reply_is_a_public_update_in_plain_text():
    event = one(load("thread_add.agent_reply.json"))
    assert event.case_id == TICKET and not event.internal and event.changes == {}
    assert event.update is not None
    assert event.update.id == "214630000000352005" and event.update.author_display == "Dana Agent"
    assert event.update.body == (f"Hi Ann,\n\n{REPLY} A fix is going out tonight; I will write again once it is "
                                 "live & tested.\n\nDana")
    assert event.update.at == event.occurred_at == datetime(2025, 8, 18, 9, 2, 7, tzinfo=UTC)


def test_customer_email_gives_the_move_back_without_its_text():
    event = one(load("thread_add.customer_email.json"))
    assert event.changes == {"waiting_on": "company"} and event.update is None and not event.internal
    assert "workaround" not in repr(event)


def test_private_comment_keeps_only_its_time():
    event = one(load("comment_add.private.json"))
    assert event.internal and event.update is None and event.changes == {}
    assert event.occurred_at == datetime(2025, 8, 18, 9, 5, 33, tzinfo=UTC)
    assert NOTE_MARKER not in repr(event) and "refund" not in repr(event)


@pytest.mark.parametrize("visibility", ["private", None, "PUBLIC-ish"])
def test_a_thread_that_does_not_say_it_is_public_keeps_no_text(visibility):
    payload = load("thread_add.agent_reply.json")
    payload[0]["payload"]["visibility"] = visibility
    event = one(payload)
    assert event.internal and event.update is None and "reproduced" not in repr(event)


def test_public_comment_is_an_update_and_the_customers_own_is_not_repeated():
    payload = load("comment_add.private.json")
    comment = payload[0]["payload"]
    comment.update(isPublic=True, content="<p>Workaround: export by month. zsu[@user:60012345]zsu will confirm.</p>")
    event = one(payload)
    assert event.update is not None and event.update.body == "Workaround: export by month. will confirm."
    assert event.update.author_display == "Dana Agent" and event.update.id == "214630000000352019"
    comment["commenter"] = {"name": "Ann Requester", "type": "END_USER"}
    event = one(payload)
    assert event.update is None and event.changes == {"waiting_on": "company"}
    comment.update(isPublic="true")  # anything but true is private
    assert one(payload).internal


@pytest.mark.parametrize("change", ["draft", "failed", "no direction", "no text", "deleted ticket", "contact"])
def test_deliveries_that_mean_nothing_for_the_case(change):
    payload = load("thread_add.agent_reply.json")
    thread = payload[0]["payload"]
    if change == "draft":
        thread["status"] = "DRAFT"
    elif change == "failed":
        thread["status"] = "FAILED"
    elif change == "no direction":
        del thread["direction"]
    elif change == "no text":
        thread.update(content="<div><br></div>", summary="")
    elif change == "deleted ticket":
        payload = [{"payload": {"id": TICKET}, "eventTime": "1755598370000", "eventType": "Ticket_Delete",
                    "orgId": ORG}]
    else:
        payload[0]["eventType"] = "Contact_Add"
    assert parse(payload) == []


@pytest.mark.parametrize(("status", "status_type", "stage", "waiting_on"), [
    ("Open", "Open", "in_progress", "company"),
    ("On Hold", "On Hold", "in_progress", "customer"),
    ("Escalated", "Open", "in_progress", "company"),
    ("Closed", "Closed", "resolved", None),
    ("Waiting for vendor", "On Hold", "in_progress", "customer"),  # custom statuses count as their type
    ("Fix deployed", "Closed", "resolved", None),
    ("Archiviert", None, None, None),
])
def test_status_mapping(status, status_type, stage, waiting_on):
    payload = [{"payload": {"id": TICKET, "status": status, "statusType": status_type},
                "eventTime": "1755505241000", "eventType": "Ticket_Update", "orgId": ORG}]
    event = one(payload)
    assert event.changes["status_label"] == status
    assert event.changes.get("stage") == stage and event.changes.get("waiting_on") == waiting_on


def test_a_batch_is_one_event_each():
    closed, reply = parse(load("batch.closed_with_reply.json"))
    assert closed.changes["stage"] == "resolved" and closed.changes["status_label"] == "Closed"
    assert reply.update is not None and reply.update.body.startswith("Hi Ann,\n\nThe fix is live")
    assert closed.delivery_id != reply.delivery_id and closed.occurred_at < reply.occurred_at


def test_without_event_time_the_resource_dates_it_and_the_body_hash_dedupes():
    payload = load("ticket_update.on_hold.json")
    del payload[0]["eventTime"]
    event = one(payload)
    assert event.occurred_at == datetime(2025, 8, 18, 8, 20, 41, tzinfo=UTC)  # modifiedTime
    assert event.delivery_id == ""  # the webhook endpoint hashes the body
    del payload[0]["payload"]["modifiedTime"]
    assert one(payload).occurred_at == RECEIVED_AT


def ticket(**change: Any) -> list[dict[str, Any]]:
    payload = load("ticket_add.json")
    payload[0].update(change)
    return payload


def ticket_field(**change: Any) -> list[dict[str, Any]]:
    payload = load("ticket_add.json")
    payload[0]["payload"].update(change)
    return payload


def thread_field(**change: Any) -> list[dict[str, Any]]:
    payload = load("thread_add.agent_reply.json")
    payload[0]["payload"].update(change)
    return payload


@pytest.mark.parametrize(("payload", "named"), [
    ("Ticket_Add", "JSON array"),
    ([7], r"\[0\] must be an object"),
    ([{"payload": {}}], r"\[0\].eventType"),
    ([{"eventType": "Ticket_Add", "payload": "7"}], r"\[0\].payload is required"),
    (ticket_field(id="../../7"), r"\[0\].payload.id"),
    (ticket_field(id=None), r"\[0\].payload.id"),
    (ticket_field(id=True), r"\[0\].payload.id"),
    (ticket(eventTime="soon"), r"\[0\].eventTime"),
    (ticket(eventTime=True), r"\[0\].eventTime"),
    (ticket(eventTime="999999999999999"), r"\[0\].eventTime is out of range"),  # the year 33658
    (ticket(eventTime="12345678901234567"), r"\[0\].eventTime"),
    (ticket(eventTime=None, payload={"id": TICKET, "modifiedTime": "yesterday"}), r"\[0\].payload.modifiedTime"),
    (thread_field(ticketId=None), r"\[0\].payload.ticketId"),
    ([{"eventType": "Ticket_Comment_Add", "payload": {"ticketId": {}, "isPublic": False}}],
     r"\[0\].payload.ticketId"),
    ([*load("ticket_add.json"), {"eventType": 5}], r"\[1\].eventType"),
])
def test_malformed_body_names_the_field(payload, named):
    with pytest.raises(BadRequest, match=named):
        parse(payload)


# --- Write-back ---

def new_case(case_id: str = TICKET, **options: str) -> NewCase:
    return NewCase("acme", "zohodesk", case_id, "https://tracker.example/c/abc", {"org_id": ORG, **options},
                   load("ticket_add.json"))


def test_the_link_is_a_private_comment_on_the_ticket():
    request = zohodesk.link_request(new_case())
    assert request is not None
    assert request["method"] == "POST"
    assert request["url"] == f"https://desk.zoho.com/api/v1/tickets/{TICKET}/comments"
    assert json.loads(request["body"]) == {"isPublic": False, "contentType": "plainText",
                                           "content": NOTE_TEXT.replace("{url}", "https://tracker.example/c/abc")}
    own = zohodesk.link_request(new_case(api_base="https://desk.zoho.eu/", link_text="Your page: {url}"))
    assert own is not None and own["url"].startswith("https://desk.zoho.eu/api/v1/tickets/")
    assert json.loads(own["body"])["content"] == "Your page: https://tracker.example/c/abc"
    assert zohodesk.link_request(new_case("not-a-ticket")) is None


def test_a_nudge_is_a_private_comment_on_the_ticket():
    """Zoho Desk's documented private comment (isPublic false), as for the link, with the nudge's text."""
    request = zohodesk.note_request(new_case(), "No public update for 26 hours.")
    assert request is not None
    assert (request["method"], request["url"]) == ("POST", f"https://desk.zoho.com/api/v1/tickets/{TICKET}/comments")
    assert json.loads(request["body"]) == {"isPublic": False, "contentType": "plainText",
                                           "content": "No public update for 26 hours."}
    assert zohodesk.note_request(new_case("not-a-ticket"), "text") is None


@pytest.mark.parametrize(("options", "accounts"), [
    ({}, "https://accounts.zoho.com"),
    ({"api_base": "https://desk.zoho.eu"}, "https://accounts.zoho.eu"),
    ({"api_base": "https://desk.zohocloud.ca/"}, "https://accounts.zohocloud.ca"),
    ({"api_base": "https://desk.zoho.eu", "accounts_base": "https://accounts.zoho.com/"}, "https://accounts.zoho.com"),
    ({"api_base": "http://127.0.0.1:8080"}, "http://127.0.0.1:8080"),  # a proxy (or a test) that serves both
])
def test_zoho_accounts_of_the_data_centre(options, accounts):
    assert zohodesk.accounts_base(options) == accounts


async def test_the_refresh_token_is_exchanged_once_for_an_access_token():
    with receiver() as accounts:
        accounts.replies["/oauth/v2/token"] = {"access_token": "1000.0f3c", "expires_in": 3600,
                                               "api_domain": "https://www.zohoapis.com", "token_type": "Bearer"}
        options = {"client_id": "1000.CLIENT", "client_secret": "shh", "refresh_token": "1000.refresh",
                   "org_id": ORG, "api_base": accounts.url}
        cache: dict[str, Any] = {}
        first = await zohodesk.api_headers(options, cache)
        assert first == {"Authorization": "Zoho-oauthtoken 1000.0f3c", "orgId": ORG}
        assert await zohodesk.api_headers(options, cache) == first
        [sent] = accounts.requests
        assert sent.method == "POST" and sent.path == "/oauth/v2/token"
        assert parse_qs(sent.body.decode()) == {"grant_type": ["refresh_token"], "client_id": ["1000.CLIENT"],
                                                "client_secret": ["shh"], "refresh_token": ["1000.refresh"]}
        accounts.replies["/oauth/v2/token"] = {"error": "invalid_code"}  # Zoho's refusal comes with a 200
        with pytest.raises(DeliveryError, match="invalid_code"):
            await zohodesk.api_headers(options, {})
        with pytest.raises(DeliveryError, match="no refresh_token option"):
            await zohodesk.api_headers({**options, "refresh_token": ""}, {})


def test_every_write_back_setting_is_an_option():
    assert zohodesk.WRITEBACK.option_names <= set(zohodesk.OPTIONS)
    assert "api_base" in zohodesk.OPTIONS


# --- Through the app ---

def test_through_the_app_private_comment_never_reaches_the_customer(client: TestClient, monkeypatch):
    monkeypatch.setitem(tracker.helpdesks.SOURCES, "zohodesk", zohodesk)
    client.portal.call(client.app.state.store.add_source, SourceConfig("acme", "zohodesk", SECRET))

    def deliver(content: bytes, sent: dict[str, str]) -> dict[str, Any]:
        response = client.post("/hooks/acme/zohodesk", content=content, headers=sent)
        assert response.status_code == 200, response.text  # Zoho takes only a 200
        return dict(response.json())

    assert deliver(b"{}", {}) == {"ok": True, "stored": 0, "duplicates": 0}  # Zoho checks the URL
    now = suite_clock().now()
    for name in ["ticket_add.json", "ticket_update.on_hold.json", "thread_add.agent_reply.json",
                 "comment_add.private.json"]:
        assert deliver(body_of(name), headers(now))["stored"] == 1, name
    # A retry (a new token, the same event) is stored once.
    assert deliver(body_of("comment_add.private.json"), headers(now)) == {"ok": True, "stored": 0, "duplicates": 1}
    for refused in [{}, headers(now, iss="orgId:700999999")]:
        response = client.post("/hooks/acme/zohodesk", content=body_of("comment_add.private.json"), headers=refused)
        assert response.status_code == 401, response.text

    url = link_for(client, TICKET, "zohodesk")
    with client.stream("GET", url + "/events?last_event_id=0") as stream:
        replayed = sse_events(stream.iter_lines(), 4)
    case_json = client.get(url + "/case.json").json()
    assert case_json["status_label"] == "On Hold" and case_json["waiting_on"] == "customer"
    assert case_json["title"] == "Invoice export stops at 500 rows"
    surfaces = {"page": client.get(url).text, "json": json.dumps(case_json), "stream": json.dumps(replayed)}
    for surface, text in surfaces.items():
        assert "We reproduced the export bug" in text, surface
        assert NOTE_MARKER not in text and "refund" not in text, f"the comment leaked into the {surface}"


# --- My cases: the requester's address ---

def test_the_requester_address_falls_back_to_the_tickets_email():
    payload = load("ticket_add.json")
    del payload[0]["payload"]["contact"]["email"]
    assert one(payload).changes["requester_email"] == "ann.requester@example.com"  # the ticket's own email
    payload[0]["payload"]["email"] = "not an address"
    assert "requester_email" not in one(payload).changes


@pytest.mark.parametrize("name", ["thread_add.agent_reply.json", "thread_add.customer_email.json",
                                  "comment_add.private.json"])
def test_threads_and_comments_set_no_requester(name):
    for event in parse(load(name)):
        assert "requester_email" not in event.changes
