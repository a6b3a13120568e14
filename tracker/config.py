"""Settings: read once from the TRACKER_* environment variables, validated, frozen."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from tracker import options, push
from tracker.clock import Clock
from tracker.errors import ConfigError
from tracker.options import Option

PREFIX = "TRACKER_"
POSTGRES_SCHEMES = ("postgresql", "postgres")
MAX_CLOCK_OFFSET_DAYS = 36_500  # a century either way; beyond it datetime overflows soon


def database_url(name: str, raw: str) -> str:
    scheme = urlsplit(raw).scheme
    if scheme != "sqlite" and scheme not in POSTGRES_SCHEMES:
        raise ConfigError(f"{name}={raw!r}: the scheme must be sqlite: or postgresql:.")
    return raw


def secret_keys(name: str, raw: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    if any(len(k) < 16 for k in keys):
        raise ConfigError(f"{name}: every key needs at least 16 characters.")
    return keys


def smtp_url(name: str, raw: str) -> str:
    if raw:
        parts = urlsplit(raw)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError(f"{name}: write smtp://user:password@host:port (or smtps://...).")
    return raw


def mail_from(name: str, raw: str) -> str:
    if raw and "@" not in parseaddr(raw)[1]:
        raise ConfigError(f"{name}={raw!r}: give an e-mail address, e.g. ACME Support <support@acme.example>.")
    return raw


def vapid_private_key(name: str, raw: str) -> str:
    if raw:
        push.vapid_key(name, raw)  # raises ConfigError with what to write
    return raw


def push_services(name: str, raw: str) -> tuple[str, ...]:
    hosts = tuple(host.strip().lower() for host in raw.split(",") if host.strip())
    for host in hosts:
        if not push.SERVICE_PATTERN.match(host):
            raise ConfigError(f"{name}: {host!r} is not a host, host:port or *.domain.")
    return hosts


def base_url(name: str, raw: str) -> str:
    return options.origin(name, raw) if raw else ""  # unset: http://HOST:PORT, filled in by from_env


# The table that drives parsing, the defaults, `tracker settings` and the README (a test keeps
# them in step). The environment variable is TRACKER_ and the name in capitals.
SETTINGS = (
    Option("database_url", "sqlite:///tracker.db", database_url,
           "`sqlite:///path` or `postgresql://user:pw@host:port/db`"),
    Option("secret_keys", "", secret_keys,
           "comma-separated signing keys, oldest first; the last signs, all verify. "
           "Unset: a key is generated once, stored in the database, and a warning is logged"),
    Option("host", "127.0.0.1", options.text, "where `tracker serve` listens"),
    Option("port", "8000", options.whole_number(65535), "where `tracker serve` listens"),
    Option("base_url", "", base_url, "public origin used in links and snippets"),
    Option("max_body_bytes", "1048576", options.whole_number(2**31), "webhook body cap in bytes"),
    Option("ping_seconds", "15", options.positive_number,
           "heartbeat interval of the live streams, so proxies keep them open"),
    Option("themes_dir", "", options.folder, "a folder of your own themes (one folder each, see "
           "[docs/themes.md](docs/themes.md)), offered beside the built-in ones"),
    Option("smtp_url", "", smtp_url, "`smtp://user:password@host:port` (STARTTLS when the server offers it) or "
           "`smtps://...` (TLS from the start); unset: e-mail is off and pages do not offer it"),
    Option("mail_from", "", mail_from, "the From of tracker's mails, e.g. `ACME Support <support@acme.example>`; "
           "unset: tracker@ the base URL's host"),
    Option("vapid_private_key", "", vapid_private_key,
           "the key that signs browser notifications (VAPID, RFC 8292): the base64url P-256 private key that "
           "`npx web-push generate-vapid-keys` prints as Private Key. Unset: generated once and stored in the "
           "database, like the signing key"),
    Option("push_services", push.BROWSER_PUSH_SERVICES, push_services,
           "the hosts (`host`, `host:port` or `*.domain`) that browser notification endpoints may point to; "
           "a subscription to any other host is refused, and no request goes anywhere else"),
    Option("metrics_token", "", options.text,
           "the bearer token that reads `GET /metrics` (Prometheus); unset: only clients on this machine may"),
    Option("log_format", "text", options.matching(r"^(text|json)$", "give text or json"),
           "`text` or `json` (one JSON object a line); each line carries the request's id (X-Request-ID)"),
    Option("allow_private_hosts", "no", options.yes_no,
           "`yes` lets outbound requests (the company's webhook, write-back) go "
           "to loopback, private, link-local and cloud-metadata addresses; `no` refuses them at send time, "
           "before anything is sent"),
    Option("clock_offset_days", "0", options.number_within(MAX_CLOCK_OFFSET_DAYS, "days"),
           "shifts tracker's clock by this many days, for tests and rehearsals "
           "(`TRACKER_CLOCK_OFFSET_DAYS=400 bash tests/run.sh` runs the suite a year ahead); 0 in production"),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}


def variable(setting: Option) -> str:
    return PREFIX + setting.name.upper()


def readme_table() -> str:
    """The README's table of settings, from SETTINGS (a test holds the README to it)."""
    def shown_default(setting: Option) -> str:
        if setting.name == "base_url":
            return "`http://HOST:PORT`"
        return f"`{setting.default}`" if setting.default else "unset"

    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    rows += [f"| `{variable(s)}` | {shown_default(s)} | {s.help} |" for s in SETTINGS]
    return "\n".join(rows)


def default(name: str) -> Any:
    """A field's default, read from the table (so it is written once)."""
    setting = BY_NAME[name]
    return field(default_factory=lambda: setting.read(variable(setting), setting.default))


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = default("database_url")
    secret_keys: tuple[str, ...] = default("secret_keys")
    base_url: str = "http://127.0.0.1:8000"  # http://HOST:PORT with the default host and port
    host: str = default("host")
    port: int = default("port")
    max_body_bytes: int = default("max_body_bytes")
    ping_seconds: float = default("ping_seconds")
    themes_dir: str = default("themes_dir")
    smtp_url: str = default("smtp_url")
    mail_from: str = default("mail_from")
    vapid_private_key: str = default("vapid_private_key")
    push_services: tuple[str, ...] = default("push_services")
    metrics_token: str = default("metrics_token")
    log_format: str = default("log_format")
    allow_private_hosts: bool = default("allow_private_hosts")
    clock_offset_days: float = default("clock_offset_days")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        values = {s.name: s.read(variable(s), environ.get(variable(s), s.default)) for s in SETTINGS}
        values["base_url"] = values["base_url"] or f"http://{values['host']}:{values['port']}"
        return cls(**values)

    def clock(self) -> Clock:
        """The wall clock shifted by TRACKER_CLOCK_OFFSET_DAYS: the one every process of tracker reads."""
        return Clock.shifted_days(self.clock_offset_days)

    def masked(self) -> dict[str, str]:
        """Effective values for `tracker settings`, with secrets hidden."""
        shown = {f.name: str(getattr(self, f.name)) for f in fields(self)}
        shown["secret_keys"] = f"{len(self.secret_keys)} key(s)" if self.secret_keys else "(unset)"
        shown["vapid_private_key"] = "(set)" if self.vapid_private_key else "(unset)"
        shown["metrics_token"] = "(set)" if self.metrics_token else "(unset)"
        shown["smtp_url"] = re.sub(r"//[^@/]*@", "//***@", self.smtp_url)  # its password
        return shown


if __name__ == "__main__":  # python -m tracker.config: the README's table of settings
    print(readme_table())
