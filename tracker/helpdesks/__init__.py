"""SOURCES maps the URL segment of /hooks/{tenant}/{source} to its helpdesk module."""

from __future__ import annotations

from tracker.errors import NotFound
from tracker.helpdesks import (
    chatwoot,
    freshdesk,
    front,
    generic,
    github,
    gitlab,
    helpscout,
    intercom,
    jira,
    linear,
    zammad,
    zendesk,
)
from tracker.helpdesks.base import Source

SOURCES: dict[str, Source] = {
    "chatwoot": chatwoot,
    "freshdesk": freshdesk,
    "front": front,
    "generic": generic,
    "github": github,
    "gitlab": gitlab,
    "helpscout": helpscout,
    "intercom": intercom,
    "jira": jira,
    "linear": linear,
    "zammad": zammad,
    "zendesk": zendesk,
}


def get(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise NotFound(f"Unknown source '{name}'. Known sources: {', '.join(sorted(SOURCES))}.") from None
