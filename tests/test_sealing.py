"""Secrets at rest: a source's webhook secret and API credentials are stored sealed, so the
database file alone does not give them away; tracker opens them with its keys, through a key
rotation, and says clearly when no key does."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.clock_of_suite import suite_clock
from tests.conftest import generic_payload, post
from tracker import writeback
from tracker.admin import add_source, add_tenant
from tracker.app import create_app
from tracker.config import Settings
from tracker.errors import ConfigError
from tracker.sealing import SEALED, Sealer
from tracker.storage import open_store
from tracker.storage.base import Delivery

OLD, NEW = "old-signing-key-0123456789", "new-signing-key-0123456789"


def test_seal_open_rotate_and_refuse():
    sealed = Sealer([OLD]).seal("whsec_abc")
    assert sealed.startswith(SEALED) and "whsec_abc" not in sealed and Sealer([OLD]).seal("whsec_abc") != sealed
    assert Sealer([OLD, NEW]).open(sealed) == "whsec_abc"  # the old key still opens after a rotation
    assert Sealer([OLD, NEW]).seal("x").startswith(SEALED) and Sealer([NEW]).open(Sealer([OLD, NEW]).seal("x")) == "x"
    assert Sealer([NEW]).open("whsec_plain") == "whsec_plain"  # stored before sealing: read as it is
    with pytest.raises(ConfigError, match="TRACKER_SECRET_KEYS"):
        Sealer([NEW]).open(sealed)  # the keys were replaced, not rotated
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(ConfigError, match="TRACKER_SECRET_KEYS"):
        Sealer([OLD]).open(tampered)
    with pytest.raises(ConfigError):
        Sealer([OLD]).open(SEALED + "not base64 at all!")


async def test_the_database_file_alone_holds_no_secret_and_tracker_still_uses_them(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'sealed.db'}"
    store = await open_store(url, suite_clock())
    await add_tenant(store, "acme", "ACME")
    sealer = Sealer([OLD])
    token = "zendesk-api-token-7f3a91"
    config = await add_source(store, "acme", "zendesk", "zendesk-webhook-secret-4c2e",
                              {"api_token": token, "api_email": "bot@acme.example",
                               "api_base": "https://acme.zendesk.com", "link_field_id": "360001"}, sealer)
    assert config.secret == "zendesk-webhook-secret-4c2e"  # shown once, readable
    stored = await store.get_source("acme", "zendesk")
    assert stored is not None and stored.secret.startswith(SEALED) and stored.options["api_token"].startswith(SEALED)
    assert stored.options["api_base"] == "https://acme.zendesk.com"  # not a secret: readable
    authenticate = writeback.authenticators(sealer)["writeback:zendesk"]
    delivery = Delivery(1, "acme", "writeback:zendesk", "case.link", None, {}, "pending", 0, suite_clock().now(), None,
                        suite_clock().now(), suite_clock().now())
    headers = await authenticate(delivery, store)
    assert base64.b64decode(headers["Authorization"].split()[1]).decode() == f"bot@acme.example/token:{token}"
    await store.close()
    everything = b"".join(p.read_bytes() for p in tmp_path.iterdir()  # noqa: ASYNC240 - a test, after close
                          if p.name.startswith("sealed.db"))
    assert token.encode() not in everything and b"zendesk-webhook-secret-4c2e" not in everything


def test_webhooks_verify_with_the_sealed_secret_and_a_replaced_key_says_why(settings: Settings):
    app = create_app(settings, suite_clock())
    with TestClient(app, raise_server_exceptions=False) as client:
        client.portal.call(add_tenant, app.state.store, "acme", "ACME")
        secret = client.portal.call(add_source, app.state.store, "acme", "generic", None, None, app.state.sealer).secret
        assert post(client, generic_payload("1"), secret=secret).status_code == 202
    other = create_app(Settings(**{**vars_of(settings), "secret_keys": ("a-completely-new-key-0123",)}), suite_clock())
    with TestClient(other, raise_server_exceptions=False) as client:
        answer = post(client, generic_payload("1"), secret=secret)
        assert answer.status_code == 401 and "TRACKER_SECRET_KEYS" in answer.json()["error"]


def vars_of(settings: Settings) -> dict[str, object]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}
