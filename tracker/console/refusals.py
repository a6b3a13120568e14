"""The one exception of the console: a request refused, with the reason its page gives."""

from __future__ import annotations

from tracker.errors import TrackerError


class Refused(TrackerError):
    """A console request refused: the page says why in the reader's language (`reason` is the
    template's code for it: form_expired, not_found, too_many, setup_gone)."""

    def __init__(self, status: int, reason: str, retry_after_seconds: int = 0) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after_seconds = retry_after_seconds
