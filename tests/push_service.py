"""A push service on loopback, as a browser's would be: it holds subscriptions (a key pair and
an auth secret per "browser", made here as a browser makes them), checks each request's VAPID
signature (RFC 8292) and decrypts its payload (RFC 8291) with code of its own, written from the
RFCs and checked against their examples, not with the library tracker sends with."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def decrypt(body: bytes, private_key: ec.EllipticCurvePrivateKey, auth: bytes) -> bytes:
    """RFC 8291 section 3.4 and RFC 8188: one aes128gcm record, keyed by ECDH with the sender's
    key named in the header."""
    salt, record_size, id_length = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    sender = body[21:21 + id_length]
    records = body[21 + id_length:]
    assert len(records) <= record_size, "one record expected"
    shared = private_key.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender))
    receiver = private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    ikm = hkdf(auth, shared, b"WebPush: info\x00" + receiver + sender, 32)
    key = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    padded = AESGCM(key).decrypt(nonce, records, None)
    content = padded.rstrip(b"\x00")
    assert content.endswith(b"\x02"), "the last record ends with the delimiter 2"
    return content[:-1]


def check_vapid(authorization: str, audience: str, now: datetime) -> dict[str, Any]:
    """The claims of a valid `vapid t=JWT, k=KEY` header (RFC 8292); AssertionError otherwise."""
    scheme, _, rest = authorization.partition(" ")
    assert scheme == "vapid", authorization
    params = dict(part.strip().split("=", 1) for part in rest.split(","))
    header, claims, signature = params["t"].split(".")
    assert json.loads(unb64(header)) == {"typ": "JWT", "alg": "ES256"}
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(params["k"]))
    raw = unb64(signature)
    assert len(raw) == 64, "ES256 signatures are r||s, 64 bytes"
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if forged
    decoded: dict[str, Any] = json.loads(unb64(claims))
    assert decoded["aud"] == audience, decoded
    assert now.timestamp() < decoded["exp"] <= now.timestamp() + 24 * 3600, decoded
    assert decoded["sub"].startswith(("mailto:", "https:", "http:")), decoded
    return {**decoded, "k": params["k"]}


@dataclass
class Browser:
    """One subscription, as a browser holds it."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    gone: bool = False  # the browser unsubscribed: the service answers 410

    def subscription(self) -> dict[str, Any]:
        """The PushSubscription JSON a browser hands the page."""
        public = self.private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64(public), "auth": b64(self.auth)}}


@dataclass
class Received:
    browser: Browser
    message: dict[str, Any]
    headers: dict[str, str]
    claims: dict[str, Any]


class PushService:
    def __init__(self, url: str, now: Callable[[], datetime]) -> None:
        self.url = url
        self.now = now
        self.browsers: dict[str, Browser] = {}
        self.received: list[Received] = []
        self.refused: list[str] = []  # requests that failed a check, and why
        self.requests = 0
        self._arrived = threading.Condition()

    def browser(self) -> Browser:
        name = secrets.token_hex(8)
        self.browsers[name] = Browser(f"{self.url}/push/{name}")
        return self.browsers[name]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"{len(self.received)} notifications, not {count}; refused: {self.refused}")
            return list(self.received)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        self.requests += 1
        browser = self.browsers.get(path.removeprefix("/push/"))
        if browser is None or browser.gone:
            return 410
        try:
            assert headers.get("content-encoding") == "aes128gcm", headers
            assert int(headers["ttl"]) >= 0, headers
            claims = check_vapid(headers["authorization"], self.url, self.now())
            message = json.loads(decrypt(body, browser.private_key, browser.auth))
        except Exception as error:  # any failed check is a refusal the test reports
            self.refused.append(repr(error))
            return 400
        with self._arrived:
            self.received.append(Received(browser, message, headers, claims))
            self._arrived.notify_all()
        return 201


@contextmanager
def push_service(now: Callable[[], datetime]) -> Iterator[PushService]:
    holder: list[PushService] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = holder[0].handle(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(PushService(f"http://127.0.0.1:{server.server_address[1]}", now))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
