"""The case lookup of a company's support page: case number plus the requester's e-mail.

A match answers with a fresh signed link (valid for LINK_DAYS); anything else answers the same
404, whether the case does not exist, has no e-mail on record, or the e-mail is wrong, so the
lookup cannot tell anyone which cases exist. Nor can its timing: a case that exists is read and
decoded, one that does not is not, so every answer waits until ANSWER_AFTER_SECONDS have passed
since the request came (a person at a form does not notice). Attempts are limited per client
and per case.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections import deque
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tracker.errors import BadRequest, NotFound, TooManyRequests
from tracker.signing import case_url
from tracker.web.cors import cors_headers
from tracker.web.forms import read_form
from tracker.web.state import state_of

LINK_DAYS = 7
CLIENT_ATTEMPTS_PER_MINUTE = 10
CASE_ATTEMPTS_PER_MINUTE = 5
WINDOW_SECONDS = 60.0
MAX_FIELD_CHARS = 320
NO_MATCH = "No case matches this number and e-mail address."
ANSWER_AFTER_SECONDS = 0.2


class RateLimiter:
    """At most `limit` attempts per key in any window of `window_seconds` (sliding, in memory:
    each instance counts its own)."""

    def __init__(self, limit: int, max_keys: int = 100_000, window_seconds: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self.window_seconds = window_seconds
        self._attempts: dict[str, deque[float]] = {}

    def retry_after(self, key: str, now: float | None = None) -> int:
        """Record an attempt; 0 when allowed, else the seconds until the next one is."""
        now = time.monotonic() if now is None else now
        attempts = self._attempts.get(key)
        if attempts is None:
            if len(self._attempts) >= self.max_keys:
                self._forget_idle(now)
            attempts = self._attempts[key] = deque()
        while attempts and attempts[0] <= now - self.window_seconds:
            attempts.popleft()
        if len(attempts) >= self.limit:
            return max(1, int(attempts[0] + self.window_seconds - now + 0.999))
        attempts.append(now)
        return 0

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, a in self._attempts.items() if not a or a[-1] <= now - self.window_seconds]:
            del self._attempts[key]


class Lookup:
    def __init__(self) -> None:
        self.by_client = RateLimiter(CLIENT_ATTEMPTS_PER_MINUTE)
        self.by_case = RateLimiter(CASE_ATTEMPTS_PER_MINUTE)

    def check(self, client: str, tenant: str, case_id: str) -> None:
        wait = self.by_client.retry_after(client) or self.by_case.retry_after(f"{tenant}\n{case_id}")
        if wait:
            raise TooManyRequests("Too many attempts. Try again in a minute.", wait)


async def lookup_case(request: Request) -> Response:
    answer_at = time.monotonic() + ANSWER_AFTER_SECONDS
    try:
        return await _look_up(request)
    finally:
        await asyncio.sleep(answer_at - time.monotonic())


async def _look_up(request: Request) -> Response:
    store = state_of(request).store
    signer = state_of(request).signer
    limits = state_of(request).lookup
    tenant = await store.get_tenant(request.path_params["tenant"])
    if tenant is None:
        raise NotFound(f"Unknown tenant '{request.path_params['tenant']}'.")
    headers = cors_headers(request, tenant)
    form = await read_form(request)
    case_id = form.get("case", "").strip().lstrip("#")
    email = form.get("email", "").strip().lower()
    if not case_id or not email or len(case_id) > MAX_FIELD_CHARS or len(email) > MAX_FIELD_CHARS:
        raise BadRequest("Give the case number as `case` and the e-mail address as `email`.")
    limits.check(request.client.host if request.client else "", tenant.slug, case_id)
    match = None
    for stored in await store.find_cases(tenant.slug, case_id):
        on_record = (stored.case.requester_email or "").strip().lower()
        if on_record and hmac.compare_digest(on_record.encode(), email.encode()):
            match = stored
    if match is None:
        raise NotFound(NO_MATCH)
    base_url = state_of(request).settings.base_url
    url = case_url(base_url, signer, match, state_of(request).clock.now() + timedelta(days=LINK_DAYS))
    return JSONResponse({"ok": True, "url": url}, headers={"Cache-Control": "no-store", **headers})
