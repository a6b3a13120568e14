"""open_hub(url): the URL scheme picks the pub/sub backend."""

from __future__ import annotations

from urllib.parse import urlsplit

from tracker.config import POSTGRES_SCHEMES
from tracker.errors import ConfigError
from tracker.pubsub.base import Hub


async def open_hub(url: str) -> Hub:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from tracker.pubsub.memory import MemoryHub

        return MemoryHub()
    if scheme in POSTGRES_SCHEMES:
        from tracker.pubsub.postgres import PostgresHub

        return await PostgresHub.open(url)
    raise ConfigError(f"TRACKER_DATABASE_URL: no pub/sub backend for {scheme!r}; "
                      "use sqlite:///path or postgresql://user:pw@host:port/db.")
