"""API keys for the admin API: made, listed, revoked and checked per tenant.

A key is `trk_<tenant>_<random>`, shown once when it is made; storage keeps only its SHA-256,
so a copy of the database opens nothing. The command line makes and revokes keys, the admin
API checks them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

from tracker.errors import ConfigError
from tracker.storage.base import ApiKey, Store

PREFIX = "trk_"
KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
RANDOM_BYTES = 32


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(tenant: str) -> str:
    return f"{PREFIX}{tenant}_{secrets.token_urlsafe(RANDOM_BYTES)}"


async def add_key(store: Store, tenant: str, name: str) -> str:
    """Make a key named `name` for the tenant; returns the key, which is never shown again."""
    if not KEY_NAME.match(name):
        raise ConfigError(f"Key name {name!r}: use letters, digits, dots, dashes and underscores.")
    if any(k.name == name and k.revoked_at is None for k in await store.list_api_keys(tenant)):
        raise ConfigError(f"Tenant '{tenant}' already has a key named {name!r}. Choose another --name, or "
                          f"revoke it first: tracker apikey revoke {tenant} {name}")
    key = new_key(tenant)
    await store.add_api_key(tenant, name, key_hash(key))
    return key


async def revoke_key(store: Store, tenant: str, name: str, now: datetime) -> None:
    if not await store.revoke_api_key(tenant, name, now):
        raise ConfigError(f"Tenant '{tenant}' has no active key named {name!r}. See: tracker apikey list {tenant}")


async def find_key(store: Store, key: str) -> ApiKey | None:
    """The active key this is, or None.

    The lookup is by hash: an attacker cannot steer the hash of a guess, so the index lookup
    leaks nothing about stored keys; the stored hash is then compared in constant time, and the
    tenant named in the key must be the key's own."""
    tenant = key.removeprefix(PREFIX).partition("_")[0] if key.startswith(PREFIX) else ""
    digest = key_hash(key)
    found = await store.find_api_key(digest)
    if found is None or not hmac.compare_digest(found.key_hash, digest):
        return None
    if found.revoked_at is not None or found.tenant != tenant:
        return None
    return found
