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
    hubspot,
    intercom,
    jira,
    linear,
    zammad,
    zendesk,
    zohodesk,
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
    hubspot,
    intercom,
    jira,
    linear,
    zammad,
    zendesk,
    zohodesk,
)
SOURCES: dict[str, Helpdesk] = {helpdesk.NAME: helpdesk for helpdesk in HELPDESKS}


def get(name: str) -> Helpdesk:
    try:
        return SOURCES[name]
    except KeyError:
        raise NotFound(f"Unknown source '{name}'. Known sources: {', '.join(sorted(SOURCES))}.") from None


def readme_table() -> str:
    """The README's table of helpdesks, from the modules (a test holds the README to it)."""
    rows = ["| source | setup | how a delivery is authenticated | duplicates recognised by | internal, never shown |",
            "| --- | --- | --- | --- | --- |"]
    for helpdesk in sorted(HELPDESKS, key=lambda h: (h.NAME != "generic", h.NAME)):
        setup = "above" if helpdesk.NAME == "generic" else f"[{helpdesk.TITLE}](docs/sources/{helpdesk.NAME}.md)"
        rows.append(f"| `{helpdesk.NAME}` | {setup} | {helpdesk.SIGNATURE} | {helpdesk.DEDUPE} | {helpdesk.INTERNAL} |")
    return "\n".join(rows)
