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
from tracker.sealing import Sealer
from tracker.storage.base import SourceConfig, Store, StoredCase, Tenant
from tracker.tenant_options import check_tenant_options
from tracker.themes import theme_names

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


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


async def add_source(
    store: Store, tenant: str, source: str, secret: str | None, options: Mapping[str, str] | None = None,
    sealer: Sealer | None = None,
) -> SourceConfig:
    """Connect (or reconnect: the secret and options are replaced) a helpdesk for a tenant; with a
    sealer its secrets are stored sealed (sealing.py). Returns them readable, to be shown once."""
    module = helpdesks.get(source)  # an unknown source: the error names the known ones
    known: Mapping[str, str] = getattr(module, "OPTIONS", {})
    unknown = sorted(set(options or {}) - set(known))
    if unknown:
        offered = ", ".join(f"{k} ({v})" for k, v in known.items()) or "none"
        raise ConfigError(f"Source '{source}' has no option {', '.join(unknown)}. Its options: {offered}.")
    writeback.check_options(source, options or {})
    await require_tenant(store, tenant)
    config = SourceConfig(tenant, source, secret or new_secret(), dict(options or {}))
    await store.add_source(sealer.seal_source(config) if sealer else config)
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
