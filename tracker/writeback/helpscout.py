"""Help Scout: a note in the conversation with the case link, for the agent to pass on.

POST {api_base}/v2/conversations/{id}/notes with {"text"}; Help Scout answers 201. The case id
is the conversation number customers see; the API wants the conversation's id, which the
webhook body that created the case carries (`id`). Help Scout's API takes OAuth 2 tokens: a
private app's App ID and App Secret are exchanged for an access token (client credentials,
POST {api_base}/v2/oauth2/token), kept until shortly before it expires and sent as
`Authorization: Bearer`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import httpx

from tracker.errors import DeliveryError
from tracker.helpdesks.writing import (
    NOTE_TEXT,
    TIMEOUT_SECONDS,
    USER_AGENT,
    NewCase,
    Options,
    Request,
    api_base,
    json_request,
    link_text,
    option,
)

NAME = "helpscout"
CREDENTIALS: tuple[str, ...] = ("app_id", "app_secret")
REQUIRED: tuple[str, ...] = ()
FORMATS: Mapping[str, tuple[str, str]] = {}
DEFAULT_API_BASE = "https://api.helpscout.net"
RENEW_BEFORE_SECONDS = 300.0


def link_request(case: NewCase) -> Request | None:
    payload = case.payload
    if not isinstance(payload, dict) or str(payload.get("number")) != case.case_id:
        return None
    conversation = payload.get("id")
    if not isinstance(conversation, int) or isinstance(conversation, bool):
        return None
    return json_request("POST", f"{api_base(case.options, DEFAULT_API_BASE)}/v2/conversations/{conversation}/notes",
                        {"text": link_text(case, NOTE_TEXT)})


async def headers(options: Options, cache: dict[str, Any]) -> dict[str, str]:
    """A cached access token, or a new one (the cache is per deliverer, keyed by API and app)."""
    app_id, app_secret = option(options, "app_id", NAME), option(options, "app_secret", NAME)
    base = api_base(options, DEFAULT_API_BASE)
    key = f"{base} {app_id}"
    lock: asyncio.Lock = cache.setdefault(f"{key} lock", asyncio.Lock())
    async with lock:  # deliveries are sent together: one token request for all of them
        token, renew_at = cache.get(key, ("", 0.0))
        if not token or time.monotonic() >= renew_at:
            token, expires_seconds = await _access_token(base, app_id, app_secret)
            cache[key] = (token, time.monotonic() + max(0.0, expires_seconds - RENEW_BEFORE_SECONDS))
    return {"Authorization": f"Bearer {token}"}


async def _access_token(base: str, app_id: str, app_secret: str) -> tuple[str, float]:
    form = {"grant_type": "client_credentials", "client_id": app_id, "client_secret": app_secret}
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, headers={"User-Agent": USER_AGENT}) as http:
            response = await http.post(f"{base}/v2/oauth2/token", data=form)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"Help Scout token request failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise DeliveryError(f"Help Scout refused the app_id/app_secret (HTTP {response.status_code}): check the "
                            "private app's App ID and App Secret under Your Profile > My Apps.")
    try:
        answer = response.json()
        token, expires = answer["access_token"], answer.get("expires_in", 0)
    except (ValueError, KeyError, TypeError):
        raise DeliveryError("Help Scout's token answer has no access_token.") from None
    if not isinstance(token, str) or not token:
        raise DeliveryError("Help Scout's token answer has no access_token.")
    return token, float(expires) if isinstance(expires, int | float) else 0.0
