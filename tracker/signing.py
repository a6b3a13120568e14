"""Signed tokens, one salt per purpose, with key rotation (the last key signs, all verify).

A case link carries the case's link version: `tracker revoke` bumps the version stored with
the case, and every token signed with an older one stops working. A customer action (making
the case public or private) carries a token of its own purpose, bound to the case and link
version, that the case page puts in its forms: a page of another site cannot forge it.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from tracker.clock import Clock
from tracker.errors import Forbidden, Gone, NotFound
from tracker.storage.base import StoredCase

log = logging.getLogger("tracker.signing")

CASE_LINK = "tracker.case-link"
CUSTOMER_ACTION = "tracker.customer-action"
SUBSCRIBER = "tracker.subscriber"
REQUESTER = "tracker.requester-cases"  # a customer's list of cases: opens no single case, and no case link opens it
CONSOLE_SESSION = "tracker.console-session"  # the console's cookie: who is signed in (tracker/console/)
CONSOLE_FORM = "tracker.console-form"  # a console form's CSRF token, bound to its session
ACTION_MAX_AGE_SECONDS = 7 * 86400  # a case page left open for a week still works
MAX_VERIFIED_LINKS = 10_000


@dataclass(frozen=True, slots=True)
class CaseLink:
    tenant: str
    source: str
    case_id: str
    link_version: int
    signed_at: datetime
    expires_at: datetime | None


class Signer:
    def __init__(self, keys: Sequence[str], clock: Clock) -> None:
        if not keys:
            raise ValueError("at least one signing key is needed")
        self._keys = list(keys)
        self._clock = clock
        self._timestamp_signer = _timestamp_signer(clock)
        self._serializers: dict[str, URLSafeTimedSerializer] = {}
        # Tokens already verified with these keys: a page view, its 304s and its stream each
        # present the same token, and checking the signature is most of what a 304 costs.
        self._verified: dict[str, CaseLink] = {}

    def _serializer(self, salt: str) -> URLSafeTimedSerializer:
        serializer = self._serializers.get(salt)
        if serializer is None:  # built once per purpose: each one derives its keys
            serializer = self._serializers[salt] = URLSafeTimedSerializer(self._keys, salt=salt,
                                                                         signer=self._timestamp_signer)
        return serializer

    def sign_case_link(
        self, tenant: str, source: str, case_id: str, link_version: int,
        expires_at: datetime | None = None,
    ) -> str:
        expires = 0 if expires_at is None else int(expires_at.timestamp())
        return str(self._serializer(CASE_LINK).dumps([tenant, source, case_id, link_version, expires]))

    def read_case_link(self, token: str) -> CaseLink:
        """The link's contents; NotFound when tampered, Gone when expired."""
        link = self._verified.get(token)
        if link is None:
            link = self._verify_case_link(token)
            if len(self._verified) >= MAX_VERIFIED_LINKS:
                self._verified.clear()
            self._verified[token] = link
        if link.expires_at is not None and self._clock.now() >= link.expires_at:
            raise LinkGone(link, "expired")
        return link

    def _verify_case_link(self, token: str) -> CaseLink:
        try:
            payload, signed_at = self._serializer(CASE_LINK).loads(token, return_timestamp=True)
            tenant, source, case_id, version, expires = payload
        except (BadSignature, ValueError, TypeError):
            raise NotFound("No such case link.") from None
        expires_at = datetime.fromtimestamp(expires, UTC) if expires else None
        return CaseLink(str(tenant), str(source), str(case_id), int(version), signed_at, expires_at)


    def sign_requester(self, tenant: str, email: str, expires_at: datetime | None = None, version: int = 0) -> str:
        """The token of a requester's list of cases (/r/{token}), by their address in lower case,
        with the version of their links (requester_links.py)."""
        expires = 0 if expires_at is None else int(expires_at.timestamp())
        return str(self._serializer(REQUESTER).dumps([tenant, email.strip().lower(), expires, version]))

    def read_requester(self, token: str) -> tuple[str, str, datetime | None, int]:
        """(tenant, address, expiry, version) of a requester link; NotFound when tampered, Gone
        when expired."""
        try:
            tenant, email, expires, *rest = self._serializer(REQUESTER).loads(token)
            expires_at = datetime.fromtimestamp(int(expires), UTC) if expires else None
            version = int(rest[0]) if rest else 0  # issued before links could be revoked
        except (BadSignature, ValueError, TypeError, OverflowError):
            raise NotFound("No such list of cases.") from None
        if expires_at is not None and self._clock.now() >= expires_at:
            raise Gone("This link to your cases has expired. Ask the support team for a new one.")
        return str(tenant), str(email), expires_at, version

    def sign_action(self, case_key: int, link_version: int, action: str) -> str:
        return str(self._serializer(CUSTOMER_ACTION).dumps([case_key, link_version, action]))

    def opaque_name(self, text: str) -> str:
        """A stable name for `text` that tells nothing of it (a keyed hash with the signing key):
        a mail thread's id, say, without the internal keys it is made from."""
        return hmac.new(self._keys[-1].encode(), text.encode(), "sha256").hexdigest()[:20]

    def sign_subscriber(self, subscriber_id: int) -> str:
        """The token of a subscriber's confirm and unsubscribe page (/n/{token}); it lasts as long
        as the subscription (a removed subscriber's token finds nothing)."""
        return str(self._serializer(SUBSCRIBER).dumps(subscriber_id))

    def read_subscriber(self, token: str) -> int:
        try:
            subscriber_id = self._serializer(SUBSCRIBER).loads(token)
        except BadSignature:
            subscriber_id = None
        if not isinstance(subscriber_id, int) or isinstance(subscriber_id, bool):
            raise NotFound("No such subscription. It may have ended already.")
        return subscriber_id

    def sign_console_session(self, nonce: str, account_id: int, session_version: int, pending: bool = False) -> str:
        return str(self._serializer(CONSOLE_SESSION).dumps([nonce, account_id, session_version, int(pending)]))

    def read_console_session(self, token: str, max_age_seconds: int) -> tuple[str, int, int, bool] | None:
        """(nonce, account id, session version, second factor pending) of a console cookie; None
        when tampered or too old."""
        try:
            nonce, account_id, version, pending = self._serializer(CONSOLE_SESSION).loads(token,
                                                                                         max_age=max_age_seconds)
            return str(nonce), int(account_id), int(version), bool(pending)
        except (BadSignature, ValueError, TypeError):
            return None

    def sign_console_form(self, nonce: str) -> str:
        return str(self._serializer(CONSOLE_FORM).dumps(nonce))

    def check_console_form(self, token: str, nonce: str, max_age_seconds: int) -> bool:
        """Whether `token` was signed for the session with this nonce, within `max_age_seconds`."""
        try:
            signed = self._serializer(CONSOLE_FORM).loads(token, max_age=max_age_seconds)
        except BadSignature:
            return False
        return isinstance(signed, str) and hmac.compare_digest(signed.encode(), nonce.encode())

    def check_action(self, token: str, case_key: int, link_version: int, action: str) -> None:
        """Forbidden unless `token` was signed for this action on this case and link version."""
        try:
            payload = self._serializer(CUSTOMER_ACTION).loads(token, max_age=ACTION_MAX_AGE_SECONDS)
        except BadSignature:
            payload = None
        if payload != [case_key, link_version, action]:
            raise Forbidden("This form has expired. Reload the case page and try again.")


def _timestamp_signer(clock: Clock) -> type[TimestampSigner]:
    """itsdangerous' timestamp signer, reading the time from `clock` (when a token was signed,
    and how old it is)."""

    class ClockedTimestampSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock.timestamp())

    return ClockedTimestampSigner


class LinkGone(Gone):
    """An expired or revoked link: the page says when it was issued and what to do."""

    def __init__(self, link: CaseLink, reason: str) -> None:
        super().__init__(f"This case link has {reason}. Ask the support team for a new one.")
        self.link = link
        self.reason = reason


GENERATED_KEY = "generated_secret_key"


async def load_keys(configured: Sequence[str], store: KeyStore) -> tuple[str, ...]:
    """TRACKER_SECRET_KEYS, or else a key generated once and kept in the database, so that a
    fresh install (and `tracker demo`) works and its links survive a restart."""
    if configured:
        return tuple(configured)
    key = await store.get_meta(GENERATED_KEY)
    if key is None:
        key = secrets.token_urlsafe(32)
        await store.set_meta(GENERATED_KEY, key)
    log.warning("TRACKER_SECRET_KEYS is not set: signing with a key generated and stored in the "
                "database. Set TRACKER_SECRET_KEYS for production.")
    return (key,)


class KeyStore(Protocol):
    async def get_meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str) -> None: ...


def case_url(base_url: str, signer: Signer, stored: StoredCase, expires_at: datetime | None = None) -> str:
    """The customer's link to a case: the page at /c/<signed token>."""
    token = signer.sign_case_link(stored.tenant, stored.source, stored.case.case_id, stored.link_version, expires_at)
    return f"{base_url}/c/{token}"
