"""The case page: everything visible without JavaScript, ETag/304, 404 and 410 pages."""

from __future__ import annotations

from datetime import timedelta

from starlette.testclient import TestClient

from tests.conftest import generic_payload, link_for, post, suite_clock

EXPECTED = (suite_clock().now() + timedelta(days=30)).replace(hour=14, minute=0, second=0, microsecond=0)


def full_case(client: TestClient) -> str:
    post(client, {**generic_payload(
        title="Invoice export fails", stage="in_progress", status_label="Need your file", waiting_on="customer",
        progress=40, expected_by=EXPECTED.isoformat(),
        next_steps=[{"text": "Send the CSV file", "owner": "customer"},
                    {"text": "Engineering reproduces", "owner": "company", "done": True}]),
        "message": {"id": "m1", "body": "Please send the <b>file</b>.", "public": True, "author": "Dana"}})
    return link_for(client)


def test_page_shows_the_whole_case_without_javascript(client: TestClient):
    page = client.get(full_case(client))
    assert page.status_code == 200
    html = page.text
    expected = f"{EXPECTED:%a} {EXPECTED.day} {EXPECTED:%b}, 14:00 UTC"
    for text in ("Invoice export fails", "Waiting on you", "Need your file", "40%", "Send the CSV file",
                 "Engineering reproduces", "Dana", "Expected by", expected, 'aria-current="step"'):
        assert text in html, text
    assert "Please send the &lt;b&gt;file&lt;/b&gt;." in html  # escaped, not markup
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_unchanged_page_is_304_and_a_change_gives_a_new_etag(client: TestClient):
    url = full_case(client)
    etag = client.get(url).headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    post(client, generic_payload(status_label="Thanks, got it"))
    fresh = client.get(url, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and "Thanks, got it" in fresh.text


def test_tampered_link_is_a_plain_404_page(client: TestClient):
    url = full_case(client)
    page = client.get(url[:-3] + "abc")
    assert page.status_code == 404 and "Not found" in page.text
    assert "Invoice" not in page.text


def test_revoked_link_is_a_friendly_410(client: TestClient):
    url = full_case(client)
    app = client.app

    async def revoke() -> None:
        stored = await app.state.store.get_case("acme", "generic", "4711")  # type: ignore[attr-defined]
        await app.state.store.bump_link_version(stored.key)  # type: ignore[attr-defined]

    client.portal.call(revoke)
    page = client.get(url)
    assert page.status_code == 410
    assert "This link no longer works" in page.text and "It was issued on" in page.text
    gone = client.get(url + "/case.json")
    assert gone.status_code == 410 and gone.json()["status"] == 410
    assert client.get(link_for(client)).status_code == 200  # a new link works


def test_healthz(client: TestClient):
    assert client.get("/healthz").json() == {"ok": True}
