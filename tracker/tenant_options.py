"""What a company sets for its tenant (`tracker tenant add SLUG --option KEY=VALUE`): one
table of options, each with its default, how it is read and what it means."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracker import options
from tracker.errors import ConfigError
from tracker.i18n import languages
from tracker.options import Option
from tracker.urls import WEB_URL


def language(name: str, raw: str) -> str:
    if raw not in languages():
        raise ConfigError(f"{name}: {raw!r} has no translation. Languages: {', '.join(languages())}.")
    return raw


def whsec(name: str, raw: str) -> str:
    if not raw.startswith("whsec_"):
        raise ConfigError(f"{name}: a Standard Webhooks secret starts with whsec_ (omit it to get one).")
    return raw


RETENTION_DAYS_MAX = 36_500  # a hundred years: a larger number is a typo

# Tenant settings set with `tracker tenant add SLUG --option KEY=VALUE` (an empty value removes
# one, and the default applies). The README's table of them is held to this one by a test.
TENANT_OPTIONS = {option.name: option for option in (
    Option("embed_origins", "", options.each_matching(r"^https?://[^/\s]+$", "an origin", "write it as https://host[:port]"),
           "space-separated origins (https://support.example.com) allowed to embed the widget "
           "and read case data from the browser; empty: any site"),
    Option("language", "", language,
           "the language of pages when the reader's browser asks for none we have (en, de, ...)"),
    # No ; or , in logo_url either: it goes into the page's Content-Security-Policy.
    Option("logo_url", "", options.matching(r"^https://[^\s\"'<>;,]+$", "give an https:// URL"),
           "an https URL of the company's logo, shown on pages"),
    Option("accent_colour", "", options.matching(r"^#[0-9a-fA-F]{6}$", "write it as #rrggbb"),
           "the company's accent colour as #rrggbb, used by pages, widget and badge"),
    Option("support_url", "", options.matching(r"^https://[^\s\"'<>;,]+$", "give an https:// URL"),
           "the company's support site, linked from pages"),
    Option("webhook_url", "", options.matching(WEB_URL.pattern, "give an http:// or https:// URL"),
           "where tracker sends the company's events (gone quiet, the customer's word), "
           "signed the Standard Webhooks way"),
    Option("webhook_secret", "", whsec,
           "the whsec_ secret those events are signed with (generated when webhook_url is set)"),
    Option("promise_hours", "24", options.positive_number,
           "the longest a customer waits for a public update before the page says the case has "
           "gone quiet and the company is reminded (default 24)"),
    Option("show_activity", "yes", options.yes_no,
           "yes or no: show how many internal actions the team took (times only, never content); default yes"),
    Option("confirm_days", "7", options.positive_number,
           "days after which a resolved case closes for the customer if they have not answered (default 7)"),
    Option("notify", "email,push", options.matching(r"^(off|(email|push)(,(email|push))?)$",
                                                    "give email, push, email,push or off"),
           "how customers may ask to be kept updated: `email` (when TRACKER_SMTP_URL is set), `push` (browser "
           "notifications, Web Push), both (the default), or `off`"),
    Option("notify_digest_minutes", "10", options.positive_number,
           "at most one mail per this many minutes to a subscriber of a case, holding every change since the last "
           "(the first goes at once); default 10"),
    Option("problem_updates", "private", options.matching(r"^(private|public)$", "give private or public"),
           "what customers see of the problem their case is linked to: `private` (the default: the title and "
           "summary the company wrote for them, its stage, expected time and progress) or `public` (also the "
           "problem's own title, next steps and latest updates)"),
    Option("problem_fix_resolves", "no", options.yes_no,
           "yes or no: when the fix of a case's linked problem is out, the open case shows as resolved to its "
           "customer, who is asked whether it is solved (default no: it shows the fix and asks, at its own stage)"),
    Option("public_indexing", "yes", options.yes_no,
           "yes or no: may search engines index the pages of cases their customers made public "
           "(default yes: the customer chose to publish); private pages never are"),
    Option("nudges", "note,webhook", options.matching(r"^(off|(note|webhook)(,(note|webhook))?)$",
                                                      "give note, webhook, note,webhook or off"),
           "how the team is told when a customer is left in the dark (silent work, an expected time passing, "
           "\"Not solved yet\", the linked problem moving): `note` (an internal note in the helpdesk, where "
           "write-back has credentials and the helpdesk has private notes), `webhook` (the `case.nudge` event), "
           "both (the default), or `off`"),
    Option("nudge_after_hours", "", options.positive_number,
           "hours of internal activity without a public update after which the team is nudged "
           "(empty, the default: half of promise_hours)"),
    Option("nudge_before_hours", "2", options.positive_number,
           "hours before an expected time, with no public update since it was set, at which the team is nudged "
           "(default 2)"),
    Option("retention_days", "", options.whole_number(RETENTION_DAYS_MAX),
           "days a closed case is kept after its last change; then it is deleted with its events, subscribers "
           "and deliveries (checked hourly). Empty (the default): kept forever"),
)}


def check_tenant_options(given: Mapping[str, str]) -> None:
    unknown = sorted(set(given) - set(TENANT_OPTIONS))
    if unknown:
        offered = "; ".join(f"{o.name}: {o.help}" for o in TENANT_OPTIONS.values())
        raise ConfigError(f"Tenants have no option {', '.join(unknown)}. Options: {offered}.")
    for name, value in given.items():
        if value:  # empty: removed
            TENANT_OPTIONS[name].read(name, value)


def option_value(given: Mapping[str, str], name: str) -> Any:
    """An option's value, or its default when unset (options were checked when they were set)."""
    option = TENANT_OPTIONS[name]
    return option.read(name, given.get(name) or option.default)


def readme_table() -> str:
    """The README's table of tenant options, from TENANT_OPTIONS (a test holds the README to it)."""
    rows = ["| option | meaning |", "| --- | --- |"]
    rows += [f"| `{option.name}` | {option.help} |" for option in TENANT_OPTIONS.values()]
    return "\n".join(rows)


if __name__ == "__main__":  # python -m tracker.tenant_options: the README's table
    print(readme_table())
