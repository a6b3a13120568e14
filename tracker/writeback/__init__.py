"""Write-back of a new case's link into its helpdesk: which helpdesks take it (WRITERS), and
their credentials at send time.

Write-back is on for a source when its credential options are set (`tracker source add ...
--option api_token=...`); `queue.py` queues the request when a case first appears, and the
authenticators here add the credentials when the deliverer sends it. Sources without a writer
(generic) get the link through the admin API or the lookup widget.
"""

from __future__ import annotations

import re
from typing import Any

from tracker.errors import ConfigError, DeliveryError
from tracker.helpdesks import HELPDESKS
from tracker.helpdesks.base import Options
from tracker.helpdesks.writing import LINK_TEXT_OPTION, Writeback
from tracker.outbound import Authenticator
from tracker.sealing import Sealer
from tracker.storage.base import Delivery, Store
from tracker.urls import WEB_URL

# The helpdesks whose API takes the link: each declares it in its module (WRITEBACK).
WRITERS: dict[str, Writeback] = {h.NAME: h.WRITEBACK for h in HELPDESKS if h.WRITEBACK is not None}
KIND_PREFIX = "writeback:"


def enabled(source: str, options: Options) -> bool:
    writer = WRITERS.get(source)
    return writer is not None and all(options.get(name) for name in writer.credentials)


def check_options(source: str, options: Options) -> None:
    """At `tracker source add`: write-back settings that cannot work are refused there, not at send time."""
    writer = WRITERS.get(source)
    if writer is None:
        return
    given = [name for name in writer.credentials if options.get(name)]
    if not given:
        return
    command = f"tracker source add TENANT {source} --secret SECRET --option NAME=VALUE ..."
    if len(given) < len(writer.credentials):
        missing = sorted(set(writer.credentials) - set(given))
        raise ConfigError(f"Write-back to {source} needs {' and '.join(writer.credentials)}; add {', '.join(missing)} "
                          f"({command}).")
    missing = [name for name in writer.required if not options.get(name)]
    if missing:
        raise ConfigError(f"Write-back to {source} also needs the option {', '.join(missing)} ({command}). "
                          f"See docs/sources/{source}.md.")
    if options.get("api_base") and not WEB_URL.match(options["api_base"]):
        raise ConfigError(f"api_base: give an http:// or https:// URL, not {options['api_base']!r}.")
    for name, (pattern, hint) in writer.formats.items():
        if options.get(name) and not re.match(pattern, options[name]):
            raise ConfigError(f"{name}: expected {hint}.")
    text = options.get(LINK_TEXT_OPTION)
    if text is not None and "{url}" not in text:
        raise ConfigError(f"{LINK_TEXT_OPTION}: write {{url}} where the case link goes.")


def authenticators(sealer: Sealer | None = None) -> dict[str, Authenticator]:
    """One per helpdesk, for `Deliverer(store, authenticators=...)`: credentials are read from the
    source's options at each attempt (opened by `sealer`, where they were stored sealed), so a
    changed token takes effect at the next retry."""
    return {KIND_PREFIX + name: _authenticator(name, writer, sealer) for name, writer in WRITERS.items()}


def _authenticator(source: str, writer: Writeback, sealer: Sealer | None) -> Authenticator:
    cache: dict[str, Any] = {}  # one per deliverer: Help Scout's access tokens

    async def authenticate(delivery: Delivery, store: Store) -> dict[str, str]:
        config = await store.get_source(delivery.tenant, source)
        if config is None:
            raise DeliveryError(f"tenant '{delivery.tenant}' has no source '{source}' any more")
        try:
            options = sealer.open_options(config.options) if sealer else config.options
        except ConfigError as exc:
            raise DeliveryError(str(exc)) from None
        return await writer.headers(options, cache)

    return authenticate


def option_names(source: str) -> set[str]:
    """Every option the writer reads (a test keeps each source's OPTIONS complete with these)."""
    return WRITERS[source].option_names
