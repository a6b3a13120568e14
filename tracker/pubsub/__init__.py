"""open_hub(url): the URL scheme picks the pub/sub backend."""

from __future__ import annotations

from urllib.parse import urlsplit

from tracker.errors import ConfigError
from tracker.pubsub.base import Hub


async def open_hub(url: str) -> Hub:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from tracker.pubsub.memory import MemoryHub

        return MemoryHub()
    raise ConfigError(f"TRACKER_DATABASE_URL: no pub/sub backend for {scheme!r} yet; use sqlite:///path.")
