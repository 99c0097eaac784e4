"""Strings from pages and visitors as an operator's terminal and log show them: one line
of plain characters, never a control sequence nor a line of its own."""

from __future__ import annotations

import re

# (C0, DEL, C1, the Unicode line and paragraph separators some viewers break at, the
# bidirectional overrides and isolates that show a line's text in another order, and a lone
# UTF-16 surrogate, which a terminal's UTF-8 cannot take)
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """text as one line: each control character written as Python writes it (\\x1b, \\n),
    so a page's storage key or a visitor's path neither sends escape sequences to the
    terminal nor forges a line of the output."""
    return UNPRINTABLE.sub(lambda m: repr(m[0])[1:-1], text)
