"""Where themes are: the built-in ones (`themes/`, or `_themes` inside a built wheel) and a
company's own folder (TRACKER_THEMES_DIR), which is searched first."""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent / "_themes"  # inside a built wheel
_SOURCE = Path(__file__).resolve().parent.parent / "themes"  # a checkout


def themes_dir() -> Path:
    """The built-in themes."""
    return _PACKAGED if _PACKAGED.is_dir() else _SOURCE


def theme_roots(own_dir: str | Path = "") -> list[Path]:
    return [Path(own_dir), themes_dir()] if own_dir else [themes_dir()]


def theme_names(own_dir: str | Path = "") -> list[str]:
    return sorted({p.name for root in theme_roots(own_dir) for p in root.iterdir() if (p / "templates").is_dir()})


def theme_folder(name: str, own_dir: str | Path = "") -> Path | None:
    """The folder of theme `name`: the company's own first, then the built-in one."""
    for root in theme_roots(own_dir):
        if (root / name / "templates").is_dir():
            return root / name
    return None
