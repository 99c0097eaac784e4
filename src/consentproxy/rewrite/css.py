"""Finding the URLs a piece of CSS makes the browser load, and making them load nothing.

The text is split into tokens as CSS Syntax Level 3 (section 4) does, so what counts as a
URL here is what counts in a browser: comments separate tokens (`ur/**/l(` is no URL),
escapes are decoded in names and URLs (`\\75 rl(` and `u\\rl(` are `url(`), names are
case-insensitive. A URL is the value of a url token (`url(x)`), or a string that is the
argument of a URL-taking function (`url("x")`, `src("x")`, `image-set("x" 1x)`,
`-webkit-image-set`, `image("x")`), of an `@import` rule, or in a custom property's value
(`--x: "x"` loads through `image-set(var(--x) 1x)`). Bad url and bad string tokens load
nothing and are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from consentproxy.settings import Service

# Raw bytes (a <style> text, or a style attribute before its entities are decoded) can only
# hold a URL if they contain one of these: every way to spell one of the names above
# without an escape (a backslash) or an HTML character reference (`&`) contains `url(`,
# `image(`, `image-set(`, `src(`, `@import` (in any case) or a custom property's `--`.
# The C skip loop mirrors it.
STYLE_MAY_LOAD_RE = re.compile(rb"(?i:url\(|image(?:-set)?\(|src\(|@import)|--|[\\&]")
_MAY_LOAD_WORDS = (b"--", b"\\", b"&", b"url(", b"image(", b"image-set(", b"src(", b"@import")


def python_style_may_load(css: bytes) -> bool:
    """STYLE_MAY_LOAD_RE.search(css), at memory speed (the regex does ~10 MB/s on CSS)."""
    low = css.lower()
    return any(word in low for word in _MAY_LOAD_WORDS)


style_may_load: Callable[[bytes], bool] = python_style_may_load
try:  # the C skip loop's own check: one pass, where the above makes nine
    from consentproxy.rewrite._skip import css_may_load

    style_may_load = css_may_load
except ImportError:  # built without a compiler
    pass


# What a neutralised URL becomes. CSS Values 4 (section 4.5.1) names `about:invalid` as
# the URL that resolves to no resource; it holds no quote, parenthesis, space or
# backslash, so the same bytes are valid in a url token and inside a string.
INERT_URL = "about:invalid"

# Decides for one decoded URL: the blocked service it belongs to, or None.
Blocked = Callable[[str], Service | None]

_WS = r"[ \t\n\r\f]"
_ESCAPE = r"\\(?:[0-9a-fA-F]{1,6}(?:\r\n|" + _WS + r")?|[^\n\r\f]|\Z)"
_NAME_CHAR = r"(?:[A-Za-z0-9_\-]|[^\x01-\x7f]|" + _ESCAPE + ")"
_IDENT = r"(?:-?(?:[A-Za-z_]|[^\x01-\x7f]|" + _ESCAPE + r")|--)" + _NAME_CHAR + "*"
# One token at a time; the groups name the kinds that matter, the rest is one code point.
# First, in one step, a run of whitespace, delimiters and ASCII names or numbers that are
# not a function's or custom property's name nor go on with an escape: none starts a URL.
_QUIET_RUN = r"[ \t\n\r\f,:.!>+~*=|^$?&%]++|(?!--)[A-Za-z0-9_-]++(?![(\\])"
_TOKENS = (
    r"|(?P<comment>/\*(?s:.*?)(?:\*/|\Z))"
    r"|(?P<string>(?P<quote>[\"'])(?P<body>(?:[^\"'\\\n\r\f]++|(?!(?P=quote))[\"']"
    r"|" + _ESCAPE + r"|\\(?:\r\n|[\n\r\f]))*+)(?P<close>(?P=quote)|(?=[\n\r\f])|\Z))"
    r"|<!--|-->"  # CDO and CDC: `<!--url(x)` is a url
    r"|(?P<number>[+-]?(?:\d*\.\d+|\d+)(?:[eE][+-]?\d+)?(?:" + _IDENT + "|%)?)"
    r"|(?P<at>@" + _IDENT + ")"
    r"|(?P<hash>#" + _NAME_CHAR + "+)"
    r"|(?P<ident>" + _IDENT + r")(?P<call>\()?"
    r"|(?P<open>[(\[{])|(?P<close_block>[)\]}])|(?P<end>;)"
    r"|[\s\S]"
)
_TOKEN_RE = re.compile("(?:" + _QUIET_RUN + ")++" + _TOKENS)
# Where no string loads (no @import prelude or custom property's value is open), the run
# also takes `;` and whole brackets, functions and blocks that hold no string, comment,
# escape or at-rule, of functions that take no URL (`:not([hidden])`, `{color:var(--c)}`):
# they open nothing that lasts, so most of a style sheet is read in a few steps (a 618 KB
# one: 70,000 tokens took 35 ms).
_QUIET_TEXT = r"(?:[^{}()\[\]\"'/\\@]++|/(?!\*))*+"
_QUIET_CALL = r"\((?<!(?i:url|src|set)\()(?<!(?i:image)\()" + _QUIET_TEXT + r"\)"
_QUIET_NEST = (
    r"(?:" + _QUIET_TEXT + r"(?:\[" + _QUIET_TEXT + r"\]|" + _QUIET_CALL + r"))*+" + _QUIET_TEXT
)
_QUIET_TOKEN_RE = re.compile(
    "(?:" + _QUIET_RUN + r"|;|[A-Za-z0-9_-]*+(?:\[" + _QUIET_NEST + r"\]|" + _QUIET_CALL + ")"
    r"|\{" + _QUIET_NEST + r"\})++" + _TOKENS
)
# After `url(`: either a quoted argument (then it is a function) or a url token.
_URL_TOKEN_RE = re.compile(
    _WS + r"*(?P<quoted>(?=[\"']))?"
    r"(?(quoted)|(?P<value>(?:[^\"'()\\ \t\n\r\f\x01-\x08\x0b\x0e-\x1f\x7f]|"
    + _ESCAPE
    + ")*)"
    + _WS
    + r"*(?P<done>\)|\Z)?)"
)
_BAD_URL_REST_RE = re.compile(r"(?:[^)\\]++|" + _ESCAPE + r"|\\[\n\r\f])*+\)?")
_DECODE_RE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})(?:\r\n|" + _WS + r")?|(\r\n|[\s\S])|\Z)")
_URL_FUNCTIONS = frozenset(
    {"url", "src", "image-set", "-webkit-image-set", "image", "-webkit-image"}
)
_CLOSES = {")": "(", "]": "[", "}": "{"}
_COLON_RE = re.compile(_WS + "*:")


def unescape(text: str) -> str:
    """CSS escapes decoded (a name, or a string's body: an escaped newline is nothing)."""
    return _DECODE_RE.sub(_decoded, text).replace("\x00", "\ufffd")


def _decoded(m: re.Match[str]) -> str:
    if m.group(1):
        code = int(m.group(1), 16)
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
    if m.group(2) is None:  # a backslash at the end of the text
        return "\ufffd"
    return "" if m.group(2) in ("\n", "\r", "\f", "\r\n") else m.group(2)


def url_spans(css: str) -> list[tuple[int, int, str]]:
    """(start, end, decoded URL) of every URL the CSS loads; the span is the URL's raw text
    (inside the quotes of a string)."""
    found: list[tuple[int, int, str]] = []
    # Open blocks and functions, innermost last: '(', '[', '{' or a function's name.
    stack: list[str] = []
    top: str | None
    # At this stack depth, strings are URLs (an @import prelude or a custom property's
    # value), until its ';' or block; -1: nowhere.
    strings_load = -1
    pos, n = 0, len(css)
    while pos < n:
        m = (_QUIET_TOKEN_RE if strings_load < 0 else _TOKEN_RE).match(css, pos)
        assert m is not None
        pos = m.end()
        kind = m.lastgroup
        if kind == "string":
            if m.group("close") or pos == n:
                top = stack[-1] if stack else ""
                if top in _URL_FUNCTIONS or strings_load == len(stack):
                    found.append((m.start("body"), m.end("body"), unescape(m.group("body"))))
        elif kind == "call":
            name = unescape(m.group("ident")).lower()
            if name != "url":
                stack.append(name)
                continue
            u = _URL_TOKEN_RE.match(css, pos)
            assert u is not None
            if u.group("quoted") is not None:
                stack.append(name)
                pos = u.end()
            elif u.group("done") is not None:
                found.append((u.start("value"), u.end("value"), unescape(u.group("value"))))
                pos = u.end()
            else:  # a bad url: loads nothing
                rest = _BAD_URL_REST_RE.match(css, u.end())
                assert rest is not None
                pos = rest.end()
        elif kind == "ident":
            if unescape(m.group()).startswith("--") and _COLON_RE.match(css, pos):
                strings_load = len(stack)
        elif kind == "at":  # another at-rule in an @import prelude makes it invalid
            strings_load = len(stack) if unescape(m.group("at")[1:]).lower() == "import" else -1
        elif kind == "open":
            stack.append(m.group())
            if m.group() == "{" and strings_load == len(stack) - 1:
                strings_load = -1
        elif kind == "close_block":
            opener = _CLOSES[m.group()]
            top = stack[-1] if stack else None
            if top == opener or (opener == "(" and top not in (None, "[", "{")):
                stack.pop()
                if strings_load > len(stack):
                    strings_load = -1
        elif kind == "end" and strings_load == len(stack):
            strings_load = -1
    return found


def neutralise_css(
    css: str,
    blocked: Blocked,
    spans: list[tuple[int, int, str]] | None = None,
    originals: list[str | None] | None = None,
) -> tuple[str, Service | None]:
    """The CSS with every URL of a blocked service replaced by INERT_URL, everything else
    kept as it was; and the first service blocked (None: the CSS is returned as is).
    spans: url_spans(css) when already known. originals: filled with one item for each
    INERT_URL in the result, in order: the raw text it replaced, or None where the CSS
    had it already (what banner.js's restyle puts back in place)."""
    out: list[str] = []
    first: Service | None = None
    pos = 0
    for start, end, url in url_spans(css) if spans is None else spans:
        svc = blocked(url)
        if svc is None:
            continue
        first = first or svc
        if originals is not None:
            originals += [None] * css.count(INERT_URL, pos, start)
            originals.append(css[start:end])
        out += (css[pos:start], INERT_URL)
        pos = end
    if first is None:
        return css, None
    if originals is not None:
        originals += [None] * css.count(INERT_URL, pos)
    out.append(css[pos:])
    return "".join(out), first
