"""The one exception family and the one JSON error shape."""

from __future__ import annotations

from typing import Any


class TrackerError(Exception):
    """An error a user can act on; `status` is the HTTP status it maps to."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(TrackerError):
    status = 400


class Unauthorized(TrackerError):
    status = 401


class BearerRequired(Unauthorized):
    """A 401 of the admin API: the answer names the scheme in `WWW-Authenticate: Bearer`."""


class Forbidden(TrackerError):
    status = 403


class NotFound(TrackerError):
    status = 404


class Gone(TrackerError):
    status = 410


class PayloadTooLarge(TrackerError):
    status = 413


class TooManyRequests(TrackerError):
    status = 429

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ServiceUnavailable(TrackerError):
    """The database cannot be reached just now: nothing was stored, and a retry will do."""

    status = 503

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class DeliveryError(Exception):
    """An outbound delivery that cannot be sent as it stands (no secret, no credentials, a
    refused host): the attempt fails with this message, and is retried."""


class ConfigError(TrackerError):
    """Bad configuration or command-line input: the CLI prints it and exits 1."""


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"ok": False, "status": status, "error": message}
