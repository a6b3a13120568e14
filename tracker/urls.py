"""What tracker takes as a web address from an admin (a webhook URL, a helpdesk's API base)."""

from __future__ import annotations

import re

# http or https, a host, an optional path; no blanks, quotes or angle brackets.
WEB_URL = re.compile(r"^https?://[^\s\"'<>/]+(/[^\s\"'<>]*)?$")
