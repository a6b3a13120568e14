"""Every helpdesk tracker speaks, one module each; SOURCES maps the URL segment of
/hooks/{tenant}/{source} to it."""

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
from tracker.helpdesks.base import Helpdesk

# Adding a helpdesk: its module, and one line here.
HELPDESKS: tuple[Helpdesk, ...] = (
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
SOURCES: dict[str, Helpdesk] = {helpdesk.NAME: helpdesk for helpdesk in HELPDESKS}


def get(name: str) -> Helpdesk:
    try:
        return SOURCES[name]
    except KeyError:
        raise NotFound(f"Unknown source '{name}'. Known sources: {', '.join(sorted(SOURCES))}.") from None
