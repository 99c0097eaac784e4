"""Strings from pages and visitors as an operator's terminal and log show them: one line
of plain characters, never a control sequence nor a line of its own; no URL's password."""

from __future__ import annotations

import re
from collections.abc import Iterable

# (C0, DEL, C1, the Unicode line and paragraph separators some viewers break at, the
# bidirectional overrides and isolates that show a line's text in another order, and a lone
# UTF-16 surrogate, which a terminal's UTF-8 cannot take)
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """text as one line: each control character written as Python writes it (\\x1b, \\n),
    so a page's storage key or a visitor's path neither sends escape sequences to the
    terminal nor forges a line of the output."""
    return UNPRINTABLE.sub(lambda m: repr(m[0])[1:-1], text)


# a URL's password in any text (a page's error names its URL: `net::ERR_... at
# http://u:pass@host/`), as Chromium or the user wrote it (an '@' in it bare or %40)
# (one start a word, its scheme bounded: a page's 'a.a.a...' storage key took quadratic time)
URL_PASSWORD = re.compile(r"(?i)((?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}://[^\s/?#:]*:)[^\s/?#]*@")


def without_passwords(text: str, passwords: Iterable[str] = ()) -> str:
    """text with each URL's password written ***: a staging site's is in the URL a scan is
    given, which its report and its usage errors repeat. `passwords` (passwords_in the
    command line) are hidden wherever a URL's `:password@` spells them."""
    for password in passwords:
        text = text.replace(f":{password}@", ":***@")
    return URL_PASSWORD.sub(r"\1***@", text)


def passwords_in(argv: Iterable[str]) -> tuple[str, ...]:
    """The passwords of the URLs in argv as written: the text between the first ':' after
    '://' and the last '@'. A '/', '?', '#' or space in one ends URL_PASSWORD's match, so
    `scan http://u:pa/ss@host/` printed it whole in "... has no valid port"."""
    found = []
    for arg in argv:
        userinfo = arg.partition("://")[2].rpartition("@")[0]
        if password := userinfo.partition(":")[2]:
            found.append(password)
    return tuple(found)


def shown_url(url: str) -> str:
    """One URL as an error names it: its password ***, one a URL parser cannot read whole
    (`u:pa/ss@`) too."""
    return without_passwords(url, passwords_in([url]))
