"""A customer's list links ("My cases"), and taking them back: each link carries the version of
its requester's links, kept in the store's meta table; revoking raises it, so every list link
issued before stops working, as a case's link version does for the case's links."""

from __future__ import annotations

import hashlib
from datetime import datetime

from tracker.errors import Gone
from tracker.signing import KeyStore, Signer


def _version_key(tenant: str, email: str) -> str:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]  # no address in the meta table
    return f"requester-links:{tenant}:{digest}"


async def links_version(store: KeyStore, tenant: str, email: str) -> int:
    return int(await store.get_meta(_version_key(tenant, email)) or 0)


async def revoke_list_links(store: KeyStore, tenant: str, email: str) -> int:
    """Every list link issued so far for this requester stops working; the new version."""
    version = await links_version(store, tenant, email) + 1
    await store.set_meta(_version_key(tenant, email), str(version))
    return version


async def sign_list_link(signer: Signer, store: KeyStore, tenant: str, email: str,
                         expires_at: datetime | None) -> str:
    return signer.sign_requester(tenant, email, expires_at, await links_version(store, tenant, email))


async def read_list_link(signer: Signer, store: KeyStore, token: str) -> tuple[str, str, datetime | None]:
    """(tenant, address, expiry); NotFound when tampered, Gone when expired or revoked."""
    tenant, email, expires_at, version = signer.read_requester(token)
    if version != await links_version(store, tenant, email):
        raise Gone("This link to your cases was withdrawn. Ask the support team for a new one.")
    return tenant, email, expires_at
