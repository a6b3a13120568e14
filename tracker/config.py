"""Settings: read once from the TRACKER_* environment variables, validated, frozen."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

from tracker.clock import Clock
from tracker.errors import ConfigError

PREFIX = "TRACKER_"
POSTGRES_SCHEMES = ("postgresql", "postgres")
MAX_CLOCK_OFFSET_DAYS = 36_500  # a century either way; beyond it datetime overflows soon


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: str
    help: str

    @property
    def variable(self) -> str:
        return PREFIX + self.name.upper()


# The table that drives parsing, `tracker settings` and the README (a test keeps them in step).
SETTINGS = (
    Setting("database_url", "sqlite:///tracker.db",
            "`sqlite:///path` or `postgresql://user:pw@host:port/db`"),
    Setting("secret_keys", "",
            "comma-separated signing keys, oldest first; the last signs, all verify. "
            "Unset: a key is generated once, stored in the database, and a warning is logged"),
    Setting("host", "127.0.0.1", "where `tracker serve` listens"),
    Setting("port", "8000", "where `tracker serve` listens"),
    Setting("base_url", "", "public origin used in links and snippets; unset: `http://HOST:PORT`"),
    Setting("max_body_bytes", "1048576", "webhook body cap in bytes"),
    Setting("ping_seconds", "15", "heartbeat interval of the live streams, so proxies keep them open"),
    Setting("themes_dir", "", "a folder of your own themes (one folder each, see docs/themes.md), "
            "offered beside the built-in ones"),
    Setting("allow_private_hosts", "no", "`yes` lets outbound requests (the company's webhook, write-back) go "
            "to loopback, private, link-local and cloud-metadata addresses; `no` refuses them at send time"),
    Setting("clock_offset_days", "0", "shifts tracker's clock by this many days, for tests and rehearsals "
            "(`TRACKER_CLOCK_OFFSET_DAYS=400 bash tests/run.sh` runs the suite a year ahead); 0 in production"),
)


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite:///tracker.db"
    secret_keys: tuple[str, ...] = ()
    base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1_048_576
    ping_seconds: float = 15.0
    themes_dir: str = ""
    allow_private_hosts: bool = False
    clock_offset_days: float = 0.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        values: dict[str, object] = {}
        for setting in SETTINGS:
            raw = environ.get(setting.variable, setting.default)
            if setting.name == "base_url" and not raw:
                raw = f"http://{values['host']}:{values['port']}"
            values[setting.name] = _parse(setting, raw)
        return cls(**values)  # type: ignore[arg-type]

    def clock(self) -> Clock:
        """The wall clock shifted by TRACKER_CLOCK_OFFSET_DAYS: the one every process of tracker reads."""
        return Clock.shifted_days(self.clock_offset_days)

    def masked(self) -> dict[str, str]:
        """Effective values for `tracker settings`, with secrets hidden."""
        shown = {f.name: str(getattr(self, f.name)) for f in fields(self)}
        shown["secret_keys"] = f"{len(self.secret_keys)} key(s)" if self.secret_keys else "(unset)"
        return shown


def _parse(setting: Setting, raw: str) -> object:
    name, var = setting.name, setting.variable
    if name == "database_url":
        scheme = urlsplit(raw).scheme
        if scheme != "sqlite" and scheme not in POSTGRES_SCHEMES:
            raise ConfigError(f"{var}={raw!r}: the scheme must be sqlite: or postgresql:.")
        return raw
    if name == "secret_keys":
        keys = tuple(k.strip() for k in raw.split(",") if k.strip())
        short = [k for k in keys if len(k) < 16]
        if short:
            raise ConfigError(f"{var}: every key needs at least 16 characters.")
        return keys
    if name == "base_url":
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{var}={raw!r}: give an origin such as https://status.example.com.")
        return raw.rstrip("/")
    if name in ("port", "max_body_bytes"):
        try:
            number = int(raw)
        except ValueError:
            raise ConfigError(f"{var}={raw!r}: not a whole number.") from None
        if number <= 0 or (name == "port" and number > 65535):
            raise ConfigError(f"{var}={raw!r}: out of range.")
        return number
    if name == "ping_seconds":
        try:
            seconds = float(raw)
        except ValueError:
            raise ConfigError(f"{var}={raw!r}: not a number.") from None
        if seconds <= 0:
            raise ConfigError(f"{var}={raw!r}: must be positive.")
        return seconds
    if name == "clock_offset_days":
        try:
            days = float(raw)
        except ValueError:
            raise ConfigError(f"{var}={raw!r}: not a number of days.") from None
        if not math.isfinite(days) or abs(days) > MAX_CLOCK_OFFSET_DAYS:
            raise ConfigError(f"{var}={raw!r}: give a number of days between -{MAX_CLOCK_OFFSET_DAYS} "
                              f"and {MAX_CLOCK_OFFSET_DAYS}.")
        return days
    if name == "allow_private_hosts":
        if raw not in ("yes", "no"):
            raise ConfigError(f"{var}={raw!r}: give yes or no.")
        return raw == "yes"
    if name == "themes_dir" and raw and not Path(raw).is_dir():
        raise ConfigError(f"{var}={raw!r}: no such folder.")
    return raw
