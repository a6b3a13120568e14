"""The customer's public opt-in: a redacted public page, JSON, stream and badge; CSRF; revoke."""

from __future__ import annotations

import re
import threading
from html import unescape
from urllib.parse import urlsplit

import httpx
from starlette.testclient import TestClient

from tests.conftest import LiveServer, generic_payload, link_for, live_link, post, sse_events

NOTE = "INTERNAL-9c1e: VIP, offer a discount"


def private_details_case(http: httpx.Client | TestClient) -> None:
    post(http, {**generic_payload(
        title="Printer jams for ann@example.com", stage="in_progress", waiting_on="customer",
        status_label="Call +49 30 1234567", requester_email="ann@example.com", requester_name="Ann Privatename",
        next_steps=[{"text": "Mail the log to support@acme.example", "owner": "customer"}]),
        "message": {"id": "m1", "body": "Reach me on (555) 123-4567 please", "public": True, "author": "Dana Surname"}})
    # A signed link that came back in a public comment (write-back on GitHub, say).
    post(http, {**generic_payload(), "message": {"id": "m2", "public": True, "author": "bot",
                                                 "body": "Follow it here: http://t.example/c/WyJhY21lIl0.abc.def"}})
    post(http, {**generic_payload(), "message": {"id": "n1", "body": NOTE, "public": False}})


def form_token(html: str, action: str) -> str:
    match = re.search(rf'action="[^"]*/{action}">\s*<input type="hidden" name="token" value="([^"]+)"', html)
    assert match, f"no {action} form on the page"
    return match.group(1)


def make_public(client: TestClient, url: str, title: str = "") -> str:
    token = form_token(client.get(url).text, "public")
    answer = client.post(url + "/public", data={"token": token, "title": title}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].endswith("#share")
    match = re.search(r'value="(http://[^"]+/p/[^"]+)"', client.get(url).text)
    assert match, "the page shows no public link after opting in"
    return urlsplit(match.group(1)).path


def test_a_private_case_has_no_public_surface_and_offers_to_share(client: TestClient):
    private_details_case(client)
    html = client.get(link_for(client)).text
    assert "Make this case public" in html and "Make private again" not in html
    assert client.get("/p/anything").status_code == 404


def test_public_surfaces_are_redacted(client: TestClient):
    private_details_case(client)
    url = link_for(client)
    public = make_public(client, url)
    with client.stream("GET", public + "/events?last_event_id=0") as stream:
        replayed = sse_events(stream.iter_lines(), 2)
    surfaces = {
        "page": client.get(public).text,
        "json": client.get(public + "/case.json").text,
        "stream": repr(replayed),
        "badge": client.get(public + "/badge.svg").text,
        "badge.json": client.get(public + "/badge.json").text,
    }
    for name, text in surfaces.items():
        assert "4711" in text, name
        for secret in ("ann@example.com", "Privatename", "Surname", "1234567", "123-4567", "support@acme.example",
                       NOTE, "INTERNAL-9c1e", "/c/WyJhY21lIl0"):
            assert secret not in text, f"{secret!r} leaked into the public {name}"
    page = surfaces["page"]
    assert "Dana" in page and "[phone number hidden]" in page and "[e-mail hidden]" in page
    assert "Make this case public" not in page and "Make private again" not in page


def test_the_customer_title_replaces_the_helpdesk_title(client: TestClient):
    private_details_case(client)
    public = make_public(client, link_for(client), title="My <b>printer</b>")
    body = client.get(public + "/case.json").json()
    assert body["title"] == "My <b>printer</b>"
    assert "My &lt;b&gt;printer&lt;/b&gt;" in client.get(public).text


def test_sharing_needs_the_page_token(client: TestClient):
    private_details_case(client)
    url = link_for(client)
    for token in ("", "forged", form_token(client.get(url).text, "public")[:-2] + "xx"):
        answer = client.post(url + "/public", data={"token": token}, follow_redirects=False)
        assert answer.status_code == 403, token
    token = form_token(client.get(url).text, "public")  # a token for "public" cannot make it private
    assert client.post(url + "/private", data={"token": token}, follow_redirects=False).status_code == 403
    assert "Make this case public" in client.get(url).text


def test_snippets_are_offered_and_making_private_ends_every_public_surface(client: TestClient):
    private_details_case(client)
    url = link_for(client)
    public = make_public(client, url)
    html = client.get(url).text
    for snippet in map(unescape, ("/badge.svg", "[![Case 4711 status]", 'class="tracker-case"', "/widget.js")):
        assert snippet in unescape(html), snippet
    token = form_token(html, "private")
    assert client.post(url + "/private", data={"token": token}, follow_redirects=False).status_code == 303
    for path in ("", "/case.json", "/events", "/badge.svg", "/badge.json"):
        assert client.get(public + path).status_code == 404, path
    again = make_public(client, url)
    assert again != public  # a new public id: the old one stays dead


def test_making_private_ends_open_public_streams(live: LiveServer):
    with httpx.Client(base_url=live.url, timeout=10) as http:
        post(http, generic_payload(title="Streaming"))
        url = live_link(live)

        async def publish() -> str:
            store = live.app.state.store
            stored = await store.get_case("acme", "generic", "4711")
            await store.set_public(stored.key, "streamed-public-id", None)
            return str(live.app.state.signer.sign_action(stored.key, stored.link_version, "private"))

        token = live.call(publish())
        ended = threading.Event()

        def follow() -> None:
            with http.stream("GET", "/p/streamed-public-id/events") as stream:
                for _ in stream.iter_lines():
                    pass
            ended.set()

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        assert not ended.wait(1.0)  # the stream is open
        assert http.post(url + "/private", data={"token": token}).status_code == 303
        assert ended.wait(5), "the public stream stayed open after the case was made private"
