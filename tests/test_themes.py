"""Themes, a company's own theme folder, branding and languages, as a reader gets them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.conftest import _setup_acme as setup_acme
from tests.conftest import from_now, generic_payload, link_for, post
from tracker.admin import add_tenant
from tracker.app import create_app
from tracker.config import Settings
from tracker.errors import ConfigError
from tracker.i18n import choose_language, clock, languages, parse_accept_language, relative
from tracker.storage.base import Store
from tracker.themes import theme_names

BUILT_IN = ["dark", "default", "high-contrast", "minimal"]


def configure(client: TestClient, theme: str | None = None, **options: str) -> None:
    app = client.app
    assert isinstance(app, Starlette)
    client.portal.call(add_tenant, app.state.store, "acme", None, theme, options,
                       app.state.settings.themes_dir)


def a_case(client: TestClient) -> str:
    post(client, generic_payload(title="Printer jams", stage="in_progress", waiting_on="customer", progress=30,
                                 expected_by=from_now(days=30)))
    return link_for(client)


def test_every_built_in_theme_is_offered():
    assert set(BUILT_IN) <= set(theme_names())


@pytest.mark.parametrize("theme", BUILT_IN)
def test_each_theme_renders_the_case_with_its_own_stylesheet(client: TestClient, theme: str):
    configure(client, theme)
    page = client.get(a_case(client))
    assert page.status_code == 200 and "Printer jams" in page.text and "Waiting on you" in page.text
    assert '<link rel="stylesheet" href="/themes/default/theme.css">' in page.text
    if theme != "default":
        assert f'href="/themes/{theme}/theme.css"' in page.text
        assert client.get(f"/themes/{theme}/theme.css").status_code == 200
        assert client.get(f"/themes/{theme}/widget.css").status_code == 200


def test_minimal_overrides_blocks_and_dark_fixes_the_scheme(client: TestClient):
    url = a_case(client)
    assert 'class="stepper"' in client.get(url).text
    assert 'content="light dark"' in client.get(url).text  # the default follows the reader's setting
    configure(client, "minimal")
    minimal = client.get(url).text
    assert 'class="stepper"' not in minimal and "step 2 of 4" in minimal and "<progress" not in minimal
    configure(client, "dark")
    assert '<meta name="color-scheme" content="dark">' in client.get(url).text


def company_theme(root: Path) -> Path:
    theme = root / "acme-look"
    (theme / "templates").mkdir(parents=True)
    (theme / "static").mkdir()
    (theme / "templates" / "case.html").write_text(
        '{% extends "default:case.html" %}{% block stepper %}<p class="acme-stage">ACME stage</p>{% endblock %}')
    (theme / "static" / "theme.css").write_text(":root { --tracker-accent: #123456; }")
    return root


def test_a_company_theme_folder_extends_the_default(tmp_path: Path, settings: Settings):
    own = replace(settings, themes_dir=str(company_theme(tmp_path / "themes")))
    with TestClient(create_app(own)) as client:
        client.portal.call(setup_acme, client.app)
        configure(client, "acme-look")
        page = client.get(a_case(client)).text
        assert "ACME stage" in page and "Printer jams" in page and 'href="/themes/acme-look/theme.css"' in page
        assert "#123456" in client.get("/themes/acme-look/theme.css").text


async def test_a_theme_must_exist(store: Store, tmp_path: Path):
    with pytest.raises(ConfigError, match="Unknown theme 'acme-look'"):
        await add_tenant(store, "acme", None, "acme-look")
    themes = company_theme(tmp_path / "themes")
    assert (await add_tenant(store, "acme", None, "acme-look", themes_dir=str(themes))).theme == "acme-look"


def test_branding_shows_on_pages_and_in_the_brand_stylesheet(client: TestClient):
    configure(client, None, logo_url="https://cdn.acme.example/logo.png", accent_colour="#7a1fa2",
              support_url="https://help.acme.example")
    page = client.get(a_case(client))
    assert 'src="https://cdn.acme.example/logo.png"' in page.text
    assert 'href="https://help.acme.example"' in page.text and 'href="/brand/acme.css"' in page.text
    assert "img-src 'self' data: https://cdn.acme.example;" in page.headers["content-security-policy"]
    css = client.get("/brand/acme.css")
    assert css.status_code == 200 and "--tracker-accent: #7a1fa2" in css.text
    assert client.get("/brand/nobody.css").status_code == 404


@pytest.mark.parametrize(("options", "reason"), [
    ({"accent_colour": "red; } body { display: none"}, "#rrggbb"),
    ({"logo_url": "javascript:alert(1)"}, "https://"),
    ({"support_url": "http://plain.example"}, "https://"),
    ({"language": "xx"}, "has no translation"),
])
def test_branding_values_are_checked(client: TestClient, options: dict[str, str], reason: str):
    with pytest.raises(ConfigError, match=reason):
        configure(client, None, **options)


def test_accept_language_is_parsed_by_preference():
    assert parse_accept_language("fr;q=0.5, de-CH, en;q=0.8, *;q=0.1") == ["de-CH", "de", "en", "fr"]
    assert parse_accept_language("en;q=0, de;q=bad") == []


@pytest.mark.parametrize(("query", "header", "tenant", "expected"), [
    ("fr", "de", "es", "fr"),
    (None, "de-AT,de;q=0.9", "es", "de"),
    (None, None, "es", "es"),
    (None, "ja", "es", "es"),
    ("xx", None, None, "en"),
])
def test_language_comes_from_query_then_browser_then_tenant(query: Any, header: Any, tenant: Any, expected: str):
    assert {"de", "fr", "es", "ar"} <= set(languages())
    assert choose_language(query, header, tenant) == expected


def test_times_are_formatted_per_locale():
    from datetime import UTC, datetime

    now = datetime(2026, 11, 23, 11, tzinfo=UTC)
    assert relative("2026-11-23T14:00:00+00:00", "en", now) == "in 3 hours"
    assert relative("2026-11-23T14:00:00+00:00", "de", now) == "in 3 Stunden"
    assert relative("2026-11-23T10:55:00+00:00", "fr", now) == "il y a 5 minutes"
    assert clock("2026-11-24T14:00:00+00:00", "de") == "Di. 24 Nov., 14:00 UTC"


def test_pages_speak_the_readers_language(client: TestClient):
    url = a_case(client)
    german = client.get(url, headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert '<html lang="de" dir="ltr">' in german.text and "Waiting on you" not in german.text
    assert german.headers["vary"] == "Accept-Language"
    arabic = client.get(url + "?lang=ar").text
    assert '<html lang="ar" dir="rtl">' in arabic
    configure(client, None, language="es")
    assert '<html lang="es"' in client.get(url).text  # the tenant's default when the browser asks for nothing
    etags = {client.get(url, headers={"Accept-Language": lang}).headers["etag"] for lang in ("de", "fr")}
    assert len(etags) == 2  # a cache never serves one language for another


def test_widget_words_follow_the_browser(client: TestClient):
    german = client.get("/widget/text.json", headers={"Accept-Language": "de"}).json()
    english = client.get("/widget/text.json").json()
    assert german["lang"] == "de" and german["text"].keys() == english["text"].keys()
    assert german["text"]["you"] != english["text"]["you"] == "Waiting on you"
    assert client.get("/widget/text.json?lang=ar").json()["dir"] == "rtl"
