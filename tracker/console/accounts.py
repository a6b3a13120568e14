"""Console accounts: made by `tracker admin add` with a one-time setup link, given a password
there, and checked at sign-in.

Passwords are hashed with argon2id (argon2-cffi, its RFC 9106 low-memory profile). The setup
link's token is random and stored as its SHA-256 only, like an API key: a copy of the database
opens nothing. Hashing runs on a thread: it takes tens of milliseconds of CPU by design.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tracker.admin import require_tenant
from tracker.clock import Clock
from tracker.errors import ConfigError
from tracker.storage.base import ConsoleAccount, Store

SETUP_DAYS = 3
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256
MAX_EMAIL_CHARS = 254
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_BYTES = 32


@cache
def hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def unknown_hash() -> str:
    """What an unknown address's attempt is checked against, so that it costs what a known one does."""
    return hasher().hash(secrets.token_urlsafe(16))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normal_email(email: str) -> str:
    return email.strip().lower()


def setup_url(base_url: str, token: str) -> str:
    return f"{base_url}/admin/setup/{token}"


async def add_account(store: Store, clock: Clock, tenant: str, email: str) -> tuple[ConsoleAccount, str]:
    """A new console account (or a new setup link for an existing one, to reset its password);
    returns the account and the setup link's token, valid for SETUP_DAYS and once."""
    await require_tenant(store, tenant)
    address = normal_email(email)
    if len(address) > MAX_EMAIL_CHARS or not EMAIL.match(address):
        raise ConfigError(f"{email!r} is not an e-mail address.")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        account = await store.add_console_account(tenant, address, token_hash(token),
                                                  clock.now() + timedelta(days=SETUP_DAYS))
    except LookupError:
        raise ConfigError(f"{address} has a console account in another tenant already; one address signs in "
                          "to one tenant. Use another address.") from None
    return account, token


async def open_setup(store: Store, clock: Clock, token: str) -> ConsoleAccount | None:
    """The account whose setup link this is, while the link works."""
    account = await store.find_console_setup(token_hash(token))
    if account is None or account.setup_expires_at is None or clock.now() >= account.setup_expires_at:
        return None
    return account


def password_problem(password: str, repeated: str, email: str) -> str | None:
    """Why this password will not do (a code the page words in the reader's language), or None."""
    if password != repeated:
        return "mismatch"
    if len(password) < MIN_PASSWORD_CHARS:
        return "short"
    if len(password) > MAX_PASSWORD_CHARS:
        return "long"
    if password.strip().lower() == email:
        return "email"
    return None


async def set_password(store: Store, account: ConsoleAccount, token: str, password: str) -> bool:
    """Set the password by the setup link, which then stops working (as every session of the
    account does); False when the link was used meanwhile."""
    hashed = await asyncio.to_thread(hasher().hash, password)
    return await store.set_console_password(account.id, token_hash(token), hashed)


async def check_sign_in(store: Store, email: str, password: str) -> ConsoleAccount | None:
    """The account, when the address and password are right. An unknown address, or one whose
    setup link is not used yet, is checked against a hash all the same and answers the same None."""
    if len(password) > MAX_PASSWORD_CHARS:
        return None
    account = await store.find_console_account(normal_email(email)[:MAX_EMAIL_CHARS])
    stored = account.password_hash if account is not None and account.password_hash else unknown_hash()
    try:
        right: bool = await asyncio.to_thread(hasher().verify, stored, password)
    except (VerificationError, InvalidHashError):
        right = False
    return account if right and account is not None and account.password_hash else None
