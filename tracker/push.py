"""Web Push: the browser notifications of "Keep me updated" (RFC 8030, 8291 and 8292).

A subscription is what the browser's PushManager hands the page: an endpoint at the browser's
push service and two keys. The endpoint is user input, so it must name a host of
TRACKER_PUSH_SERVICES, and nothing is ever sent anywhere else. The payload is encrypted for
that browser alone (RFC 8291, aes128gcm, by http_ece: the part pywebpush is built on), and
each request is signed with tracker's VAPID key (RFC 8292), whose public half the page gives
the browser as `applicationServerKey`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any, Protocol
from urllib.parse import urlsplit

import http_ece
import httpx
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tracker.errors import BadRequest, ConfigError, DeliveryError

# Where Chrome, Edge, Firefox and Safari keep their subscriptions.
BROWSER_PUSH_SERVICES = "fcm.googleapis.com,*.notify.windows.com,updates.push.services.mozilla.com,web.push.apple.com"
SERVICE_PATTERN = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$")
GENERATED_VAPID_KEY = "generated_vapid_private_key"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
MAX_ENDPOINT_CHARS = 2048
TOKEN_HOURS = 12  # a VAPID token's lifetime (RFC 8292 allows up to 24 hours)
TTL_SECONDS = 4 * 24 * 3600  # how long a push service keeps a notification for a device that is off
TIMEOUT_SECONDS = 15.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Base64url with or without padding; ValueError for anything else."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except binascii.Error:
        raise ValueError("not base64url") from None


def vapid_key(name: str, raw: str) -> ec.EllipticCurvePrivateKey:
    """The P-256 private key of TRACKER_VAPID_PRIVATE_KEY (base64url of its 32 bytes)."""
    try:
        scalar = unb64url(raw.strip())
        if len(scalar) != 32:
            raise ValueError("not 32 bytes")
        return ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{name}: give the base64url P-256 private key (32 bytes), as "
                          "`npx web-push generate-vapid-keys` prints it.") from None


class Vapid:
    """Tracker's identity towards push services (RFC 8292)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, subject: str) -> None:
        self.private_key = private_key
        self.subject = subject  # a mailto: or https: URL the push service may contact
        self.public_key = b64url(private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))

    def authorization(self, endpoint: str, now: datetime) -> str:
        """The Authorization header for a request to this endpoint: `vapid t=JWT, k=KEY`."""
        parts = urlsplit(endpoint)
        claims = {"aud": f"{parts.scheme}://{parts.netloc}", "sub": self.subject,
                  "exp": int((now + timedelta(hours=TOKEN_HOURS)).timestamp())}
        signing_input = (b64url(json.dumps({"typ": "JWT", "alg": "ES256"}).encode()) + "."
                         + b64url(json.dumps(claims, separators=(",", ":")).encode()))
        r, s = decode_dss_signature(self.private_key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWS wants r||s, not DER
        return f"vapid t={signing_input}.{b64url(signature)}, k={self.public_key}"


class KeyStore(Protocol):
    async def get_meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str) -> None: ...


async def load_vapid(configured: str, store: KeyStore, subject: str) -> Vapid:
    """TRACKER_VAPID_PRIVATE_KEY, or else a key generated once and kept in the database: a
    browser's subscription is bound to the key, so it must outlive a restart."""
    raw = configured or await store.get_meta(GENERATED_VAPID_KEY)
    if not raw:
        raw = b64url(secrets.token_bytes(32))
        while True:  # a random 32 bytes is a valid P-256 key but for about 1 in 2**32
            try:
                vapid_key("generated", raw)
                break
            except ConfigError:
                raw = b64url(secrets.token_bytes(32))
        await store.set_meta(GENERATED_VAPID_KEY, raw)
    return Vapid(vapid_key("TRACKER_VAPID_PRIVATE_KEY", raw), subject)


def vapid_subject(mail_from: str, base_url: str) -> str:
    """Whom a push service may contact about our notifications: the mail sender, else our site."""
    address = parseaddr(mail_from)[1] if mail_from else ""
    return f"mailto:{address}" if address else base_url


def service_allowed(endpoint: str, services: Sequence[str]) -> bool:
    """Whether the endpoint is on a host of TRACKER_PUSH_SERVICES (`host`, `host:port`, `*.domain`),
    by https (or http to a loopback push service of one's own, for testing)."""
    try:
        parts = urlsplit(endpoint)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return False
    if parts.scheme != "https" and not (parts.scheme == "http" and host in LOOPBACK_HOSTS):
        return False
    port = port or (443 if parts.scheme == "https" else 80)
    for service in services:
        pattern, _, wanted_port = service.partition(":")
        if wanted_port and int(wanted_port) != port or not wanted_port and port != 443:
            continue
        if host == pattern or pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


@dataclass(frozen=True, slots=True)
class PushSubscription:
    endpoint: str
    p256dh: bytes  # the browser's public key (an uncompressed P-256 point)
    auth: bytes  # the browser's 16-byte authentication secret

    @classmethod
    def from_json(cls, data: Any, services: Sequence[str]) -> PushSubscription:
        """The browser's PushSubscription JSON; BadRequest naming the field that is wrong."""
        if not isinstance(data, Mapping):
            raise BadRequest("push: give the browser's PushSubscription, as JSON.")
        endpoint = data.get("endpoint")
        if not isinstance(endpoint, str) or not endpoint or len(endpoint) > MAX_ENDPOINT_CHARS:
            raise BadRequest("push.endpoint: give the push service's URL.")
        if not service_allowed(endpoint, services):
            raise BadRequest("push.endpoint: not a push service this server sends to (TRACKER_PUSH_SERVICES).")
        keys = data.get("keys")
        keys = keys if isinstance(keys, Mapping) else {}
        return cls(endpoint, key_field(keys, "p256dh", 65), key_field(keys, "auth", 16))

    @classmethod
    def stored(cls, endpoint: str, keys: str) -> PushSubscription:
        data = json.loads(keys)
        return cls(endpoint, unb64url(data["p256dh"]), unb64url(data["auth"]))

    def keys_json(self) -> str:
        return json.dumps({"p256dh": b64url(self.p256dh), "auth": b64url(self.auth)})


def key_field(keys: Mapping[str, Any], name: str, size: int) -> bytes:
    value = keys.get(name)
    try:
        raw = unb64url(value) if isinstance(value, str) else b""
        if len(raw) != size:
            raise ValueError(f"not {size} bytes")
        if name == "p256dh":  # a point on the curve, or encrypting for it would fail later
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise BadRequest(f"push.keys.{name}: give the browser's key ({size} bytes, base64url).") from None
    return raw


def encrypt(payload: bytes, subscription: PushSubscription) -> bytes:
    """The payload as only that browser can read it (RFC 8291): a fresh key pair and salt each time."""
    sender = ec.generate_private_key(ec.SECP256R1())
    body: bytes = http_ece.encrypt(payload, private_key=sender, dh=subscription.p256dh,
                                   auth_secret=subscription.auth, version="aes128gcm")
    return body


class SubscriptionGone(Exception):
    """The push service says the subscription has ended (404 or 410): the browser unsubscribed."""


async def send(client: httpx.AsyncClient, vapid: Vapid, subscription: PushSubscription, message: Mapping[str, Any],
               now: datetime, urgent: bool = False) -> None:
    """One notification. DeliveryError (retried later) for anything but the push service's yes
    or its "gone"; the error never names the endpoint, which is as private as an address."""
    host = urlsplit(subscription.endpoint).hostname
    headers = {"TTL": str(TTL_SECONDS), "Content-Encoding": "aes128gcm", "Content-Type": "application/octet-stream",
               "Urgency": "high" if urgent else "normal",
               "Authorization": vapid.authorization(subscription.endpoint, now)}
    body = encrypt(json.dumps(message, ensure_ascii=False).encode("utf-8"), subscription)
    try:
        response = await client.post(subscription.endpoint, content=body, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"push service {host}: {type(exc).__name__}") from None
    if response.status_code in (404, 410):
        raise SubscriptionGone()
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"push service {host} answered {response.status_code}")
