"""The jinja2 environments: theme loader chain, autoescape on for every template, translations.

A theme overrides a default template by file name, or extends it with
`{% extends "default:case.html" %}`. Themes come with tracker (`themes/`) or from a company's
own folder (TRACKER_THEMES_DIR), which is searched first. Autoescape is forced on rather than
chosen by file extension, because jinja2's `select_autoescape()` leaves `.svg` unescaped.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, StrictUndefined

from tracker import i18n
from tracker.clock import Clock
from tracker.themes import theme_folder, themes_dir


class Templates:
    """One environment per theme and language, built on first use."""

    def __init__(self, clock: Clock, own_dir: str | Path = "") -> None:
        self._clock = clock  # "in 3 hours" is judged at the clock's now
        self._own_dir = own_dir
        self._envs: dict[tuple[str, str], Environment] = {}

    def environment(self, theme: str, language: str = i18n.SOURCE_LANGUAGE) -> Environment:
        env = self._envs.get((theme, language))
        if env is None:
            env = self._envs[(theme, language)] = self._build(theme, language)
        return env

    def render(self, theme: str, name: str, language: str = i18n.SOURCE_LANGUAGE, **context: object) -> str:
        return self.environment(theme, language).get_template(name).render(**context)

    def _build(self, theme: str, language: str) -> Environment:
        default = FileSystemLoader(themes_dir() / "default" / "templates")
        folder = theme_folder(theme, self._own_dir) if theme != "default" else None
        loaders = [FileSystemLoader(folder / "templates")] if folder else []
        env = Environment(
            loader=ChoiceLoader([*loaders, PrefixLoader({"default": default}, delimiter=":"), default]),
            autoescape=True,
            undefined=StrictUndefined,
            extensions=["jinja2.ext.i18n"],
        )
        env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
        env.filters["relative"] = lambda value: i18n.relative(value, language, self._clock.now())
        env.filters["clock"] = partial(i18n.clock, language=language)
        env.filters["machine"] = i18n.machine_time
        env.globals.update(
            theme=theme if folder else "default",
            lang=language,
            dir=i18n.direction(language),
            languages=[(code, i18n.language_name(code)) for code in i18n.languages()],
        )
        return env
