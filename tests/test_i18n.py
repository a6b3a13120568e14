"""The catalogs: the template is current, and every language translates every message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tracker.i18n import LOCALES_DIR, languages

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ["de", "fr", "es", "ar"]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def source_messages() -> set[str]:
    """What the templates and the widget's word table ask to translate, extracted as pybabel does."""
    method_map = [("tracker/web/widget_text.py", "python"), ("tracker/web/badge.py", "python"),
                  ("tracker/web/follow.py", "python"), ("themes/**.html", "jinja2"), ("themes/**.svg", "jinja2"),
                  ("themes/**.atom", "jinja2"), ("themes/**.txt", "jinja2"), ("themes/**.subject", "jinja2")]
    options = {"themes/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = extract_from_dir(str(ROOT), method_map, options, keywords={"_": None, "gettext": None, "N_": None,
                                                                         "ngettext": (1, 2), "Plural": (1, 2)})
    messages: set[str] = set()
    for _, _, message, _, _ in found:
        messages.add(message if isinstance(message, str) else message[0])
    return messages


def catalog(path: Path) -> dict[str, list[str]]:
    """Each message by its (singular) id: its translation, or every plural form of it."""
    with path.open("rb") as po:
        return {(m.id[0] if isinstance(m.id, tuple) else m.id): list(m.string) if isinstance(m.string, tuple)
                else [m.string] for m in read_po(po) if m.id}


def test_the_template_lists_exactly_the_messages_in_use():
    listed = set(catalog(LOCALES_DIR / "tracker.pot"))
    found = source_messages()
    assert found - listed == set(), "run: pybabel extract -F tracker/locales/babel.cfg -k N_ --sort-output " \
        "--no-location -o tracker/locales/tracker.pot . (then pybabel update)"
    assert listed - found == set()


@pytest.mark.parametrize("language", REQUIRED)
def test_every_language_translates_every_message(language: str):
    assert language in languages()
    translated = catalog(LOCALES_DIR / language / "LC_MESSAGES" / "tracker.po")
    for message in source_messages():
        forms = translated.get(message) or [""]
        assert all(forms), f"{language}: no translation of {message!r}"
        if len(forms) == 1:
            assert sorted(PLACEHOLDER.findall(forms[0])) == sorted(PLACEHOLDER.findall(message)), \
                f"{language}: placeholders differ in {message!r}"
        else:  # a plural form may leave the number out (Arabic's forms for one and two, English "once")
            assert all(set(PLACEHOLDER.findall(form)) <= {"%(num)d"} for form in forms), \
                f"{language}: unknown placeholder in {message!r}"
