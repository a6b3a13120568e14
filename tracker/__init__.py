"""tracker: live, signed, shareable case pages for any helpdesk."""

__version__ = "0.1.0"
