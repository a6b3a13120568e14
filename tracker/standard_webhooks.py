"""Standard Webhooks signatures (https://www.standardwebhooks.com): what the generic source
verifies and what the company's own webhook is signed with."""

from __future__ import annotations

import base64
import binascii
import functools
import hmac

from tracker.errors import Unauthorized


@functools.lru_cache(maxsize=256)  # decoded once per secret, not on every webhook
def secret_key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        raise Unauthorized("The stored secret is not whsec_<base64>.") from None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value a sender puts on `body`: tracker's own webhooks, the demo, tests."""
    digest = hmac.digest(secret_key(secret), f"{msg_id}.{timestamp}.".encode() + body, "sha256")
    return "v1," + base64.b64encode(digest).decode()
