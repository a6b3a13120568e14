"""The jinja2 environments: theme loader chain, autoescape on for every template, time filters.

A theme overrides a default template by file name, or extends it with
`{% extends "default:case.html" %}`. Autoescape is forced on rather than chosen by file
extension, because jinja2's `select_autoescape()` leaves `.svg` unescaped.
"""

from __future__ import annotations

import gettext
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, StrictUndefined

_PACKAGED = Path(__file__).resolve().parent.parent / "_themes"  # inside a built wheel
_SOURCE = Path(__file__).resolve().parent.parent.parent / "themes"  # a checkout


def themes_dir() -> Path:
    return _PACKAGED if _PACKAGED.is_dir() else _SOURCE


def theme_names() -> list[str]:
    return sorted(p.name for p in themes_dir().iterdir() if (p / "templates").is_dir())


class Templates:
    """One environment per theme, built on first use."""

    def __init__(self) -> None:
        self._root = themes_dir()
        self._envs: dict[str, Environment] = {}

    def environment(self, theme: str) -> Environment:
        env = self._envs.get(theme)
        if env is None:
            env = self._envs[theme] = self._build(theme)
        return env

    def render(self, theme: str, name: str, **context: object) -> str:
        return self.environment(theme).get_template(name).render(**context)

    def _build(self, theme: str) -> Environment:
        default = FileSystemLoader(self._root / "default" / "templates")
        own = self._root / theme / "templates"
        loaders = [FileSystemLoader(own)] if theme != "default" and own.is_dir() else []
        env = Environment(
            loader=ChoiceLoader([*loaders, PrefixLoader({"default": default}, delimiter=":"), default]),
            autoescape=True,
            undefined=StrictUndefined,
            extensions=["jinja2.ext.i18n"],
        )
        translations = gettext.NullTranslations()
        env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
        env.filters["relative"] = partial(relative, translations=translations)
        env.filters["clock"] = clock
        env.globals["theme"] = theme if own.is_dir() else "default"
        return env


def relative(
    value: str | datetime | None, translations: gettext.NullTranslations, now: datetime | None = None,
) -> str:
    """'in about 3 hours' / '5 minutes ago'; the browser refreshes it as time passes."""
    if value is None:
        return ""
    _, ngettext = translations.gettext, translations.ngettext
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    seconds = int((when - (now or datetime.now(UTC))).total_seconds())
    span = abs(seconds)
    # Literal strings in each call, so that message extraction finds them.
    if span >= 86400:
        n = round(span / 86400)
        text = ngettext("%(n)d day", "%(n)d days", n) % {"n": n}
    elif span >= 3600:
        n = round(span / 3600)
        text = ngettext("%(n)d hour", "%(n)d hours", n) % {"n": n}
    elif span >= 60:
        n = round(span / 60)
        text = ngettext("%(n)d minute", "%(n)d minutes", n) % {"n": n}
    else:
        return _("in a moment") if seconds > 0 else _("just now")
    return (_("in about %(span)s") if seconds > 0 else _("%(span)s ago")) % {"span": text}


def clock(value: str | datetime | None) -> str:
    """'Tue 24 Nov, 14:00 UTC'; the browser rewrites it in the reader's own time zone."""
    if value is None:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(UTC).strftime("%a %d %b, %H:%M UTC")
