"""SOURCES maps the URL segment of /hooks/{tenant}/{source} to its helpdesk module."""

from __future__ import annotations

from tracker.errors import NotFound
from tracker.sources import generic
from tracker.sources.base import Source

SOURCES: dict[str, Source] = {
    "generic": generic,
}


def get(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise NotFound(f"Unknown source '{name}'. Known sources: {', '.join(sorted(SOURCES))}.") from None
