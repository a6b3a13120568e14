"""Time-based one-time passwords (RFC 6238, on HOTP of RFC 4226), the console's optional second
factor, and its recovery codes.

Thirty-second steps, six digits, HMAC-SHA1: what every authenticator app reads from an
`otpauth://` link. A code is accepted one step early or late (clocks drift), and only for a
step after the last one used, so a code seen over a shoulder cannot be replayed. A few lines of
the standard library's hmac do it; a package would add nothing but a dependency.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
SECRET_BYTES = 20  # 160 bits, as RFC 4226 recommends for SHA-1
RECOVERY_CODES = 10
RECOVERY_BYTES = 8


def new_secret() -> str:
    """A secret as authenticator apps take it: base32, without padding."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def secret_bytes(secret: str) -> bytes:
    text = secret.replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def hotp(key: bytes, counter: int, digits: int = DIGITS, digest: str = "sha1") -> str:
    """RFC 4226: the HMAC of the counter, dynamically truncated to `digits` decimal digits."""
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def step_at(timestamp: float) -> int:
    return int(timestamp // STEP_SECONDS)


def totp(key: bytes, timestamp: float, digits: int = DIGITS, digest: str = "sha1") -> str:
    """RFC 6238: HOTP of the number of steps since the epoch."""
    return hotp(key, step_at(timestamp), digits, digest)


def matching_step(secret: str, code: str, timestamp: float, last_step: int) -> int | None:
    """The step whose code this is, within the drift and after `last_step`; else None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    key = secret_bytes(secret)
    now = step_at(timestamp)
    found = None
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):  # every step compared: no early exit
        if step > last_step and hmac.compare_digest(hotp(key, step), code):
            found = step
    return found


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The `otpauth://` link authenticator apps read (Google's Key Uri Format)."""
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS,
                       "period": STEP_SECONDS})
    return f"otpauth://totp/{label}?{query}"


def new_recovery_codes() -> list[str]:
    """Codes for when the phone is gone: each works once. Shown once; only their hashes are kept."""
    codes = []
    for _ in range(RECOVERY_CODES):
        text = base64.b32encode(secrets.token_bytes(RECOVERY_BYTES)).decode().rstrip("=").lower()
        codes.append(f"{text[:5]}-{text[5:10]}")
    return codes


def recovery_hash(code: str) -> str:
    return hashlib.sha256(code.strip().lower().replace(" ", "").encode()).hexdigest()


def remaining_after(hashes: str, code: str) -> str | None:
    """The stored hashes (space-separated) without this code's, or None when it is not one of them."""
    given = recovery_hash(code)
    kept = hashes.split()
    matched = [h for h in kept if hmac.compare_digest(h, given)]
    if not matched:
        return None
    return " ".join(h for h in kept if h != matched[0])
