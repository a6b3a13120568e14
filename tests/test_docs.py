"""The README is checked like code: its commands, its configuration table, the Dockerfile."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tracker.config import SETTINGS, readme_table, variable

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", README)[:2]


def test_readme_opens_with_the_demo_and_the_test_command():
    demo, tests = readme_commands()
    assert demo.endswith("tracker demo")
    assert tests == "bash tests/run.sh"
    assert README.index(demo) < README.index("## ")


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert readme_commands()[1] in ci.splitlines()


def test_configuration_table_lists_every_setting():
    table = {m for m in re.findall(r"^\| `(TRACKER_[A-Z_]+)` \|", README, flags=re.M)}
    assert table == {variable(s) for s in SETTINGS}
    assert readme_table() in README  # generated from the table: `python -m tracker.config`


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    done = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_lists_every_source_with_its_setup_page():
    from tracker.helpdesks import SOURCES, readme_table

    section = README[README.index("### Every supported helpdesk"):README.index("## Architecture")]
    assert readme_table() in section  # generated from the modules: `python -m tracker.helpdesks`
    listed = set(re.findall(r"^\| `([a-z]+)` \| ", section, flags=re.M))
    assert listed == set(SOURCES)
    for name in set(SOURCES) - {"generic"}:
        assert f"](docs/sources/{name}.md)" in README
        assert (ROOT / "docs" / "sources" / f"{name}.md").is_file()


def test_readme_lists_every_tenant_option():
    from tracker.tenant_options import TENANT_OPTIONS, readme_table

    section = README[README.index("Tenant options"):README.index("A case belongs to a tenant")]
    assert set(re.findall(r"^\| `([a-z_]+)` \| ", section, flags=re.M)) == set(TENANT_OPTIONS)
    assert readme_table() in section  # generated: `python -m tracker.tenant_options`


def test_the_image_copies_everything_the_package_is_built_from():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    included = project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    for folder in ["tracker", *included]:
        assert f"COPY {folder} ./{folder}" in dockerfile, folder


def test_every_setup_page_shows_its_modules_statuses_and_options_as_they_are():
    """The status table and the options of docs/sources/NAME.md are made from the module
    (`python -m tracker.helpdesks --docs`); a page that has drifted from it fails here."""
    from tracker.helpdesks import HELPDESKS
    from tracker.helpdesks.docs import BEGIN, page_path, render

    for helpdesk in HELPDESKS:
        if helpdesk.NAME == "generic":
            continue
        page = page_path(helpdesk).read_text()
        assert render(page, helpdesk) == page, f"{helpdesk.NAME}: run python -m tracker.helpdesks --docs"
        assert BEGIN.format(part="options", name=helpdesk.NAME) in page, helpdesk.NAME
        if getattr(helpdesk, "STATUSES", None):
            assert BEGIN.format(part="statuses", name=helpdesk.NAME) in page, helpdesk.NAME
