"""Write-back: what a helpdesk module declares to take a new case's link, and what they share.

A writer turns a new case into one request on the helpdesk's own API that puts the case's
signed link into the ticket (a custom field, or a note the agent sees), and adds the
credentials to it at send time, so no token sits in the delivery log. Where the helpdesk has
private notes, it also writes any text the team alone sees (a nudge) as one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tracker.errors import DeliveryError
from tracker.helpdesks.base import Options

TIMEOUT_SECONDS = 10.0  # every outbound request of tracker: the company's webhook and write-back
USER_AGENT = "tracker-webhooks/1"
Request = dict[str, str]  # {"method", "url", "body"}: what a delivery sends

# Notes for agents, and public comments on GitHub and GitLab, where the author is the customer.
NOTE_TEXT = ("Live case page for the customer: {url}\n"
             "Paste this link into your reply: it shows the case's stage, whose move it is, updates and "
             "next steps, live. (Added by tracker.)")
COMMENT_TEXT = "You can follow this issue live, with its stage and next steps, here: {url}"
LINK_TEXT_OPTION = "link_text"


@dataclass(frozen=True, slots=True)
class NewCase:
    tenant: str
    source: str
    case_id: str  # as the source's parse() names it
    url: str  # the signed case link
    options: Options
    payload: Any  # the webhook body that created the case (for ids the case id does not carry)
    # The request that wrote the case's link, for those ids later, when no webhook body is at hand (a nudge).
    link: Mapping[str, Any] | None = None
    at: datetime | None = None  # when a note is written (HubSpot files its notes by their time)


@dataclass(frozen=True, slots=True)
class Writeback:
    """How a helpdesk takes a new case's link. `credentials` switch it on (all of them set);
    then `required` must be set too, and every option named in `formats` must match its
    pattern (the hint says how)."""

    credentials: tuple[str, ...]
    # The request that writes the link, or None when this case cannot be written back.
    link_request: Callable[[NewCase], Request | None]
    # Credentials for one attempt; the dict lives as long as the deliverer (for tokens).
    headers: Callable[[Options, dict[str, Any]], Awaitable[dict[str, str]]]
    required: tuple[str, ...] = ()
    formats: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # A comment on the ticket (GitHub and GitLab take the customer's verdict this way).
    comment_request: Callable[[NewCase, str], Request | None] | None = None
    # An internal note on the ticket that only the team sees (nudges); None where the helpdesk has
    # no private notes (GitHub, GitLab, Linear: their comments are public).
    note_request: Callable[[NewCase, str], Request | None] | None = None

    @property
    def option_names(self) -> set[str]:
        return {*self.credentials, *self.required, *self.formats}


def json_request(method: str, url: str, body: Any) -> Request:
    return {"method": method, "url": url, "body": json.dumps(body)}


def api_base(options: Options, default: str | None = None) -> str:
    base = options.get("api_base") or default
    if not base:  # check_options refuses this at `tracker source add`
        raise ValueError("api_base is required")
    return base.rstrip("/")


def link_text(case: NewCase, default: str) -> str:
    return (case.options.get(LINK_TEXT_OPTION) or default).replace("{url}", case.url)


def option(options: Options, name: str, source: str) -> str:
    """A credential at send time; its absence (removed since the link was queued) fails the attempt."""
    value = options.get(name)
    if not value:
        raise DeliveryError(f"source '{source}' has no {name} option: write-back needs it. Set it with "
                            f"`tracker source add TENANT {source} --secret SECRET --option {name}=...` (with the "
                            "source's other options again).")
    return value


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
