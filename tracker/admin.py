"""What an admin does to a tenant: add it, connect sources, mint and revoke case links.

The command line calls these (and later the admin API), so both say the same things.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping

from tracker import helpdesks, writeback
from tracker.errors import ConfigError
from tracker.i18n import languages
from tracker.storage.base import SourceConfig, Store, StoredCase, Tenant
from tracker.themes import theme_names
from tracker.urls import WEB_URL

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


# Tenant settings set with `tracker tenant add SLUG --option KEY=VALUE` (an empty value removes one).
TENANT_OPTIONS = {
    "embed_origins": "space-separated origins (https://support.example.com) allowed to embed the widget "
                     "and read case data from the browser; empty: any site",
    "language": "the language of pages when the reader's browser asks for none we have (en, de, ...)",
    "logo_url": "an https URL of the company's logo, shown on pages",
    "accent_colour": "the company's accent colour as #rrggbb, used by pages, widget and badge",
    "support_url": "the company's support site, linked from pages",
    "webhook_url": "where tracker sends the company's events (gone quiet, the customer's word), "
                   "signed the Standard Webhooks way",
    "webhook_secret": "the whsec_ secret those events are signed with (generated when webhook_url is set)",
    "promise_hours": "the longest a customer waits for a public update before the page says the case has "
                     "gone quiet and the company is reminded (default 24)",
    "show_activity": "yes or no: show how many internal actions the team took (times only, never content); "
                     "default yes",
    "confirm_days": "days after which a resolved case closes for the customer if they have not answered "
                    "(default 7)",
    "public_indexing": "yes or no: may search engines index the pages of cases their customers made public "
                       "(default yes: the customer chose to publish); private pages never are",
}
ORIGIN = re.compile(r"^https?://[^/\s]+$")
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
HTTPS_URL = re.compile(r"^https://[^\s\"'<>;,]+$")  # no ; or , either: logo_url goes into the page's CSP
POSITIVE_NUMBER = re.compile(r"^(?!0+(\.0*)?$)\d+(\.\d+)?$")


async def add_tenant(
    store: Store, slug: str, name: str | None, theme: str | None = None, options: Mapping[str, str] | None = None,
    themes_dir: str = "",
) -> Tenant:
    """Create a tenant, or update the name, theme and options given (the others are kept)."""
    if not SLUG.match(slug):
        raise ConfigError(f"Tenant slug {slug!r}: use lower-case letters, digits and dashes.")
    if theme is not None and theme not in theme_names(themes_dir):
        raise ConfigError(f"Unknown theme {theme!r}. Themes: {', '.join(theme_names(themes_dir))}.")
    check_tenant_options(options or {})
    existing = await store.get_tenant(slug)
    merged = {**(existing.options if existing else {}), **(options or {})}
    if merged.get("webhook_url") and not merged.get("webhook_secret"):
        merged["webhook_secret"] = new_secret()
    tenant = Tenant(
        slug,
        name or (existing.name if existing else slug),
        theme or (existing.theme if existing else "default"),
        {key: value for key, value in merged.items() if value},
    )
    await store.add_tenant(tenant)
    return tenant


def check_tenant_options(options: Mapping[str, str]) -> None:
    unknown = sorted(set(options) - set(TENANT_OPTIONS))
    if unknown:
        offered = "; ".join(f"{k}: {v}" for k, v in TENANT_OPTIONS.items())
        raise ConfigError(f"Tenants have no option {', '.join(unknown)}. Options: {offered}.")
    for origin in options.get("embed_origins", "").replace(",", " ").split():
        if not ORIGIN.match(origin):
            raise ConfigError(f"embed_origins: {origin!r} is not an origin; write it as https://host[:port].")
    language = options.get("language")
    if language and language not in languages():
        raise ConfigError(f"language: {language!r} has no translation. Languages: {', '.join(languages())}.")
    if options.get("accent_colour") and not COLOUR.match(options["accent_colour"]):
        raise ConfigError(f"accent_colour: write it as #rrggbb, not {options['accent_colour']!r}.")
    for key in ("logo_url", "support_url"):
        if options.get(key) and not HTTPS_URL.match(options[key]):
            raise ConfigError(f"{key}: give an https:// URL, not {options[key]!r}.")
    if options.get("webhook_url") and not WEB_URL.match(options["webhook_url"]):
        raise ConfigError(f"webhook_url: give an http:// or https:// URL, not {options['webhook_url']!r}.")
    for key in ("promise_hours", "confirm_days"):
        if options.get(key) and not POSITIVE_NUMBER.match(options[key]):
            raise ConfigError(f"{key}: give a positive number, not {options[key]!r}.")
    for key in ("show_activity", "public_indexing"):
        if options.get(key) not in (None, "", "yes", "no"):
            raise ConfigError(f"{key}: yes or no.")
    if options.get("webhook_secret") and not options["webhook_secret"].startswith("whsec_"):
        raise ConfigError("webhook_secret: a Standard Webhooks secret starts with whsec_ (omit it to get one).")


async def add_source(
    store: Store, tenant: str, source: str, secret: str | None, options: Mapping[str, str] | None = None,
) -> SourceConfig:
    """Connect (or reconnect: the secret and options are replaced) a helpdesk for a tenant."""
    module = helpdesks.get(source)  # an unknown source: the error names the known ones
    known: Mapping[str, str] = getattr(module, "OPTIONS", {})
    unknown = sorted(set(options or {}) - set(known))
    if unknown:
        offered = ", ".join(f"{k} ({v})" for k, v in known.items()) or "none"
        raise ConfigError(f"Source '{source}' has no option {', '.join(unknown)}. Its options: {offered}.")
    writeback.check_options(source, options or {})
    await require_tenant(store, tenant)
    config = SourceConfig(tenant, source, secret or new_secret(), dict(options or {}))
    await store.add_source(config)
    return config


async def require_tenant(store: Store, slug: str) -> Tenant:
    tenant = await store.get_tenant(slug)
    if tenant is None:
        raise ConfigError(f"Unknown tenant '{slug}'. Create it with: tracker tenant add {slug}")
    return tenant


async def resolve_case(store: Store, tenant: str, name: str) -> StoredCase:
    """`SOURCE:ID` names a case exactly; a bare `ID` when only one source has it."""
    await require_tenant(store, tenant)
    source, sep, case_id = name.partition(":")
    if sep and source in await store.list_sources(tenant):
        stored = await store.get_case(tenant, source, case_id)
        if stored is None:
            raise ConfigError(f"No case {name!r} for tenant '{tenant}'. See: tracker cases {tenant}")
        return stored
    found = await store.find_cases(tenant, name)
    if not found:
        raise ConfigError(f"No case {name!r} for tenant '{tenant}'. See: tracker cases {tenant}")
    if len(found) > 1:
        names = ", ".join(f"{c.source}:{name}" for c in found)
        raise ConfigError(f"Case id {name!r} exists in several sources; name one of: {names}.")
    return found[0]
