"""Whole numbers from query strings and headers, safely.

`str.isdigit()` is true for '²' and '①', which `int()` refuses, and a 5,000-digit number is
past `int()`'s own limit: both were 500s. Anything longer than a 64-bit number is no count,
limit or sequence of ours.
"""

from __future__ import annotations

MAX_DIGITS = 19
MAX_INT64 = 2**63 - 1


def whole_number(text: str) -> bool:
    """True for ASCII digits that `int()` takes and a signed 64-bit column holds."""
    return 0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit() and int(text) <= MAX_INT64
