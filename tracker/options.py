"""Options as data: each setting or tenant option is one entry (name, default, how it is read,
what it means), and that one table drives parsing, `tracker settings`, the CLI's help, the
README's tables and their tests. A reader turns the text given into a value, or raises a
ConfigError that names the option and says what to write instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tracker.errors import ConfigError

Read = Callable[[str, str], Any]  # (the option's name as the user wrote it, its text) -> its value


@dataclass(frozen=True, slots=True)
class Option:
    name: str
    default: str
    read: Read
    help: str


def text(name: str, raw: str) -> str:
    return raw


def whole_number(maximum: int) -> Read:
    def read(name: str, raw: str) -> int:
        if not raw.isascii() or not raw.isdigit():
            raise ConfigError(f"{name}={raw!r}: not a whole number.")
        if not 0 < int(raw) <= maximum:
            raise ConfigError(f"{name}={raw!r}: out of range (1 to {maximum}).")
        return int(raw)
    return read


def positive_number(name: str, raw: str) -> float:
    try:
        number = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: not a number.") from None
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{name}={raw!r}: give a positive number.")
    return number


def number_within(limit: float, unit: str) -> Read:
    def read(name: str, raw: str) -> float:
        try:
            number = float(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r}: not a number of {unit}.") from None
        if not math.isfinite(number) or abs(number) > limit:
            raise ConfigError(f"{name}={raw!r}: give a number of {unit} between -{limit:g} and {limit:g}.")
        return number
    return read


def yes_no(name: str, raw: str) -> bool:
    if raw not in ("yes", "no"):
        raise ConfigError(f"{name}={raw!r}: give yes or no.")
    return raw == "yes"


def matching(pattern: str, hint: str) -> Read:
    compiled = re.compile(pattern)

    def read(name: str, raw: str) -> str:
        if not compiled.match(raw):
            raise ConfigError(f"{name}={raw!r}: {hint}.")
        return raw
    return read


def each_matching(pattern: str, what: str, hint: str) -> Read:
    """A list separated by blanks or commas, each item matching; an error names the item."""
    compiled = re.compile(pattern)

    def read(name: str, raw: str) -> str:
        for value in raw.replace(",", " ").split():
            if not compiled.match(value):
                raise ConfigError(f"{name}: {value!r} is not {what}; {hint}.")
        return raw
    return read


def origin(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}={raw!r}: give an origin such as https://status.example.com.")
    return raw.rstrip("/")


def folder(name: str, raw: str) -> str:
    if raw and not Path(raw).is_dir():
        raise ConfigError(f"{name}={raw!r}: no such folder.")
    return raw
