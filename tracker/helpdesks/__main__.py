"""`python -m tracker.helpdesks` prints the README's table of helpdesks, made from their modules;
`--docs` brings the generated parts of every setup page (docs/sources/) up to date."""

import sys

from tracker.helpdesks import HELPDESKS, readme_table
from tracker.helpdesks.docs import page_path, render

if sys.argv[1:] == ["--docs"]:
    for helpdesk in HELPDESKS:
        path = page_path(helpdesk)
        if path.is_file():
            path.write_text(render(path.read_text(), helpdesk))
else:
    print(readme_table())
