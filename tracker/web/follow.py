"""Following a case without an account: an Atom feed of its public updates, and a calendar entry
for the expected time that moves when the time does (same UID, higher SEQUENCE)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from tracker.errors import NotFound
from tracker.i18n import translations
from tracker.web.case_data import customer_case, open_public_case, public_case, tenant_of
from tracker.web.case_link import open_case_link
from tracker.web.pages import reader_language
from tracker.web.state import state_of

CALENDAR_EVENT_MINUTES = 30
MAX_ICS_LINE_OCTETS = 75


async def case_feed(request: Request) -> Response:
    stored, _ = await open_case_link(request)
    tenant = await tenant_of(request, stored)
    view = await customer_case(request, stored, tenant, with_estimate=False)
    return feed(request, view, tenant.name if tenant else "", f"/c/{request.path_params['token']}")


async def public_feed(request: Request) -> Response:
    stored = await open_public_case(request)
    tenant = await tenant_of(request, stored)
    return feed(request, await public_case(request, stored, tenant, with_estimate=False), tenant.name if tenant else "",
                f"/p/{stored.public_id}")


# Characters XML 1.0 forbids (C0 controls, lone surrogates, U+FFFE/FFFF): one in a title or an
# update would make the feed unreadable for every subscriber. They can only come from data.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def feed(request: Request, view: dict[str, Any], tenant_name: str, page_path: str) -> Response:
    templates = state_of(request).templates
    page_url = state_of(request).settings.base_url + page_path
    xml = NOT_XML.sub("", templates.render("default", "feed.atom", case=view, page_url=page_url,
                                           tenant_name=tenant_name, feed_url=page_url + "/feed.atom"))
    return Response(xml, media_type="application/atom+xml; charset=utf-8",
                    headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"})


async def case_calendar(request: Request) -> Response:
    stored, _ = await open_case_link(request)
    tenant = await tenant_of(request, stored)
    return calendar(request, await customer_case(request, stored, tenant, with_estimate=False), f"case-{stored.key}",
                    f"/c/{request.path_params['token']}", reader_language(request, tenant))


async def public_calendar(request: Request) -> Response:
    stored = await open_public_case(request)
    tenant = await tenant_of(request, stored)
    view = await public_case(request, stored, tenant, with_estimate=False)
    # Its own UID, from the public id: the private entry's is built from the internal case key.
    return calendar(request, view, f"public-{stored.public_id}", f"/p/{stored.public_id}",
                    reader_language(request, tenant))


def calendar(request: Request, view: dict[str, Any], uid: str, page_path: str, language: str) -> Response:
    if view["expected_by"] is None:
        raise NotFound("This case has no expected time yet; the calendar entry appears once it has one.")
    base_url = state_of(request).settings.base_url
    page_url = base_url + page_path
    start = datetime.fromisoformat(view["expected_by"]).astimezone(UTC)
    _ = translations(language).gettext
    case_number = _("Case %(id)s") % {"id": view["case_id"]}
    summary = _("Expected: %(title)s") % {"title": view["title"] or case_number}
    description = f"{case_number}: {page_url}"
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tracker//case calendar//EN", "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{uid}@{urlsplit(base_url).hostname}",
        # Every move of the expected time raises SEQUENCE, so calendars replace the old entry.
        f"SEQUENCE:{len(view['expected_moves'])}",
        f"DTSTAMP:{ics_time(state_of(request).clock.now())}",
        f"DTSTART:{ics_time(start)}",
        f"DTEND:{ics_time(start + timedelta(minutes=CALENDAR_EVENT_MINUTES))}",
        f"SUMMARY:{ics_text(summary)}",
        f"DESCRIPTION:{ics_text(description)}",
        f"URL:{ics_text(page_url)}",
        "END:VEVENT", "END:VCALENDAR",
    ]
    body = "".join(fold(line) + "\r\n" for line in lines)
    return Response(body, media_type="text/calendar; charset=utf-8", headers={
        "Cache-Control": "no-cache", "Content-Disposition": 'inline; filename="case.ics"'})


def ics_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def ics_text(value: str) -> str:
    """RFC 5545 TEXT: backslash, semicolon, comma and newlines escaped."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 3.1)."""
    encoded = line.encode()
    if len(encoded) <= MAX_ICS_LINE_OCTETS:
        return line
    parts: list[str] = []
    current = b""
    for char in line:
        piece = char.encode()
        limit = MAX_ICS_LINE_OCTETS if not parts else MAX_ICS_LINE_OCTETS - 1
        if len(current) + len(piece) > limit:
            parts.append(current.decode())
            current = b""
        current += piece
    parts.append(current.decode())
    return "\r\n ".join(parts)
