"""Languages: the gettext catalogs, choosing a reader's language, and formatting times per locale.

Catalogs are plain `.po` files under `tracker/locales/<lang>/LC_MESSAGES/tracker.po`, compiled in
memory when first used, so there is no build step. English is the source language. A reader's
language is, first to last: `?lang=`, their browser's `Accept-Language`, the tenant's default.
"""

from __future__ import annotations

import gettext
import io
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.dates import format_datetime, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "tracker"
SOURCE_LANGUAGE = "en"
RIGHT_TO_LEFT = {"ar", "he", "fa", "ur"}
MAX_ACCEPT_LANGUAGE_CHARS = 500


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated later, in the reader's language."""
    return message


@cache
def languages() -> tuple[str, ...]:
    """English plus every language with a catalog (found once: asked on every page view)."""
    found = sorted(p.parent.parent.name for p in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (SOURCE_LANGUAGE, *found)


@cache
def translations(language: str) -> gettext.NullTranslations:
    path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def choose_language(query: str | None, accept_language: str | None, tenant_default: str | None) -> str:
    available = languages()
    if query and query in available:
        return query
    wanted = parse_accept_language(accept_language or "")
    chosen = negotiate_locale(wanted, available, sep="-") if wanted else None
    if chosen:
        return str(chosen)
    if tenant_default in available:
        return str(tenant_default)
    return SOURCE_LANGUAGE


def parse_accept_language(header: str) -> list[str]:
    """Language tags by preference: 'de-CH, fr;q=0.8, en;q=0.5' -> ['de-CH', 'de', 'fr', 'en']."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header[:MAX_ACCEPT_LANGUAGE_CHARS].split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag))
    tags: list[str] = []
    for _, _, tag in sorted(weighted):
        for candidate in (tag, tag.split("-")[0]):
            if candidate not in tags:
                tags.append(candidate)
    return tags


def direction(language: str) -> str:
    return "rtl" if language.split("-")[0] in RIGHT_TO_LEFT else "ltr"


def language_name(language: str) -> str:
    """The language's name in itself: 'Deutsch', 'العربية'."""
    return str(Locale.parse(language).get_display_name(language)).capitalize()


def relative(value: str | datetime | None, language: str, now: datetime) -> str:
    """'in 3 hours' / '5 minutes ago' in the reader's language; the browser refreshes it."""
    if value is None:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    delta: timedelta = when - now
    return str(format_timedelta(delta, add_direction=True, threshold=1.0, locale=language))


def machine_time(value: str | datetime | None) -> str:
    """A <time datetime> value as HTML allows it: whole seconds in UTC (six digits of
    fraction, as isoformat writes them, are not a valid HTML date)."""
    if value is None:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clock(value: str | datetime | None, language: str) -> str:
    """'Tue 24 Nov, 14:00 UTC'; the browser rewrites it in the reader's own time zone."""
    if value is None:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return str(format_datetime(when, "EEE d MMM, HH:mm", tzinfo=UTC, locale=language)) + " UTC"
