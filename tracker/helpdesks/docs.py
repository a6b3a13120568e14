"""The parts of a helpdesk's setup page (docs/sources/NAME.md) that are made from its module:
its status table and its options. Each stands between two markers in the page; `python -m
tracker.helpdesks --docs` writes them, and a test fails when a page is not up to date."""

from __future__ import annotations

from pathlib import Path

from tracker.helpdesks.base import Helpdesk

DOCS = Path(__file__).resolve().parent.parent.parent / "docs" / "sources"
BEGIN = "<!-- {part} from tracker/helpdesks/{name}.py (python -m tracker.helpdesks --docs): edit the module -->"
END = "<!-- end of {part} -->"
WORDS = {"received": "received", "in_progress": "in progress", "resolved": "resolved", "closed": "closed",
         "company": "company", "customer": "**customer**", "third_party": "third party"}


def statuses_table(helpdesk: Helpdesk) -> str | None:
    statuses = getattr(helpdesk, "STATUSES", None)
    if not statuses:
        return None
    field = getattr(helpdesk, "STATUS_FIELD", "status")
    rows = [f"| {helpdesk.TITLE} {field} | stage | waiting on |", "| --- | --- | --- |"]
    for status, (stage, waiting_on) in statuses.items():
        rows.append(f"| `{status}` | {WORDS[stage] if stage else '(unchanged)'} | "
                    f"{WORDS[waiting_on] if waiting_on else '(unchanged)'} |")
    rows.append("| anything else | (unchanged) | (unchanged) |")
    return "\n".join(rows)


def options_table(helpdesk: Helpdesk) -> str | None:
    if not helpdesk.OPTIONS:
        return None
    rows = ["| option (`--option NAME=VALUE`) | meaning |", "| --- | --- |"]
    rows += [f"| `{name}` | {meaning} |" for name, meaning in helpdesk.OPTIONS.items()]
    return "\n".join(rows)


PARTS = {"statuses": statuses_table, "options": options_table}


def render(page: str, helpdesk: Helpdesk) -> str:
    """The page with each generated part brought up to date (a page without a part's markers
    does not show it)."""
    for part, make in PARTS.items():
        begin, end = BEGIN.format(part=part, name=helpdesk.NAME), END.format(part=part)
        table = make(helpdesk)
        if table is not None and begin in page:
            start, stop = page.index(begin), page.index(end, page.index(begin)) + len(end)
            page = f"{page[:start]}{begin}\n{table}\n{end}{page[stop:]}"
    return page


def page_path(helpdesk: Helpdesk) -> Path:
    return DOCS / f"{helpdesk.NAME}.md"
