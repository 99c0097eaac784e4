"""What an inline script does at load, read from its JavaScript tokens: its comments (which
load nothing) and the bodies of the functions it defines and never calls (which run only
when some other code calls them, later: a site's bootstrap that defines `loadGTM` for its
own consent logic to call). policy.Policy judges those apart (docs/SECURITY.md, "The rewrite
leans on these hooks").

A small lexer, not a parser: strings, template literals, regular expressions and comments
are stepped over, braces matched. Where the text does not read as such (an unterminated
string, a brace left open, a comment where a misread slash may have put one), read() answers
None and the script is judged whole, as before.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

# The next byte the lexer must look at: a quote, a slash or a bracket.
_NEXT_RE = re.compile(rb"[\"'`/{}()\[\]]")
# What each closing bracket closes: } a { or a template's ${ ($), ) a (, ] a [.
_OPENING = {0x7D: b"{$", 0x29: b"(", 0x5D: b"["}
_STRING_RES = {q: re.compile(rb"%c(?:[^%c\\\n]|\\(?:\r\n|[\s\S]))*%c" % (q, q, q)) for q in b"\"'"}
# A template literal's text up to its end or its next `${`.
_TEMPLATE_RE = re.compile(rb"(?:[^`\\$]|\\[\s\S]|\$(?!\{))*(`|\$\{)")
_REGEX_RE = re.compile(rb"/(?:[^/\\\[\n]|\\.|\[(?:[^\]\\\n]|\\.)*\])+/[a-zA-Z]*")
# After these a slash starts a regular expression, not a division (a keyword not after `.`).
_BEFORE_REGEX = frozenset(b"(,=:[!&|?{};+-*%<>~^")
# A `//` or a quote before the line's end: read after a slash either way, a comment or not.
_QUOTE_ON_THE_LINE_RE = re.compile(rb"(?:[^\n\"'`/]|/(?!/))*(?://|[\"'`])")
# A `(` after these opens a condition: a slash after its `)` starts a regular expression.
_CONDITION_RE = re.compile(rb"(?<![\w$.])(?:if|while|for|with)\s*\Z")
_REGEX_KEYWORD_RE = re.compile(
    rb"(?<![\w$.])(?:return|typeof|case|do|else|in|of|new|delete|void|throw|yield|await"
    rb"|instanceof|default|extends)[ \t]*$"
)
# A lexer that misreads a slash (a regular expression taken for a division or the reverse:
# `if (x) /"/.test(s)`) reads strings' text as code: a comment right after one of these is
# taken for such a misread (a string's `"https://`); the real pages' comments follow a space,
# a line's start, `;`, `-` or a bracket.
_MISREAD_BEFORE_COMMENT = frozenset(
    b"\"'`/:$_" + (string.ascii_letters + string.digits).encode() + bytes(range(0x80, 0x100))
)
# What the lexer does not read: HTML-like comments (`<!--` starts one, `-->` too at a line's
# start: Annex B), escapes (`\u006coadGTM()` calls loadGTM unseen by the name count), the
# line terminators it does not end a `//` comment at (a lone CR, U+2028, U+2029: the code
# after them runs) and a hashbang (`#!` at the start: a comment to the line's end).
_UNREAD_RE = re.compile(rb"<!--|-->|\\u|\r(?!\n)|\xe2\x80[\xa8\xa9]")
# A function's head ending where its body's `{` starts, at a statement's start: `function
# NAME(...)`, or `[var] a.b.NAME = function [x](...)` / `(...) =>` / `x =>`. Group 1 the name.
_HEAD_RE = re.compile(
    rb"[;{}\n][ \t]*(?:"
    rb"(?:async[ \t]+)?function[ \t]*\*?[ \t]*([\w$]+)[ \t]*\([^()]*\)"
    rb"|(?:(?:var|let|const)[ \t]+)?(?:[\w$]+[ \t]*\.[ \t]*)*([\w$]+)[ \t]*=[ \t]*(?:async[ \t]+)?"
    rb"(?:function[ \t]*\*?[ \t]*[\w$]*[ \t]*\([^()]*\)|\([^()]*\)[ \t]*=>|[\w$]+[ \t]*=>)"
    rb")\s*\Z"
)
# More uncalled bodies than this and the script is judged whole: policy judges each body
# alone, twice (16,000 took 1.6 s); the real pages' scripts have at most 5.
UNCALLED_BODIES = 64
HEAD_BYTES = 256  # a head longer than this is not looked for (the function counts as called)
# Names the browser or the language calls without the script naming them again: an event
# handler property (img.onload = function...), a thenable's then, conversions, a Proxy's
# traps and accessors, an iterator's methods, the RegExp protocol's exec, V8's stack hook,
# a custom element's callbacks (connectedCallback...).
_CALLED_BY_THE_PLATFORM_RE = re.compile(
    rb"on[a-z]+|then|handleEvent|toString|toLocaleString|valueOf|toJSON"
    rb"|get|set|has|apply|construct|ownKeys|deleteProperty|defineProperty"
    rb"|getOwnPropertyDescriptor|getPrototypeOf|setPrototypeOf|isExtensible|preventExtensions"
    rb"|next|return|throw|exec|prepareStackTrace|[a-z][A-Za-z]*Callback"
)
_WORD_RE = re.compile(rb"[\w$]+")


@dataclass(frozen=True)
class Code:
    """A script's comments and its uncalled functions' bodies, as (start, end) spans."""

    comments: tuple[tuple[int, int], ...]
    uncalled: tuple[tuple[int, int], ...]

    def at_load(self, text: bytes) -> bytes:
        """text with its comments and uncalled bodies as spaces (their line breaks kept: a
        comment's break ends a statement): where its URLs are looked for."""
        return _blanked(text, (*self.comments, *self.uncalled))

    def run_at_load(self, text: bytes) -> bytes:
        """text with its uncalled bodies alone as spaces: where its markers are looked for
        (a comment hides a URL, never a marker: a comment the lexer misread hides code)."""
        return _blanked(text, self.uncalled)

    def without_comments(self, text: bytes) -> bytes:
        """text with its comments alone as spaces: where a body's URLs are looked for."""
        return _blanked(text, self.comments)


def _blanked(text: bytes, spans: tuple[tuple[int, int], ...]) -> bytes:
    """text with the spans as spaces, their line breaks kept."""
    out = bytearray(text)
    for start, end in spans:
        out[start:end] = re.sub(rb"[^\n]", b" ", text[start:end])
    return bytes(out)


def read(text: bytes, called_by_name: Callable[[bytes], bool]) -> Code | None:
    """text's comments and the bodies of the functions it defines, in a block (not in an
    argument list or an array), under a name it never writes again (nor calls, passes or
    exports: the name appears once), not invoked in place (no `(`, `.`, `[`, `` ` ``, `?` or
    `/` after the body), nor called_by_name (a name other code calls: a vendor's callback);
    None where it does not lex or defines more than UNCALLED_BODIES such functions."""
    if _UNREAD_RE.search(text) or text.startswith(b"#!"):
        return None
    comments: list[tuple[int, int]] = []
    functions: list[tuple[int, int, bytes]] = []  # (body start, body end, name)
    opened: list[tuple[int, int, bytes | None]] = []  # (position, bracket, function's name)
    paren = (-1, -1)  # where the last `)` closed is, and its `(`
    pos = 0
    while (m := _NEXT_RE.search(text, pos)) is not None:
        i, c = m.start(), text[m.start()]
        pos = i + 1
        if c in b"\"'":
            s = _STRING_RES[c].match(text, i)
            if s is None:
                return None
            pos = s.end()
        elif c == 0x60:  # `
            pos = _template(text, i + 1, opened)
        elif c == 0x2F:  # /
            nxt = text[i + 1 : i + 2]
            if nxt in (b"/", b"*") and i and text[i - 1] in _MISREAD_BEFORE_COMMENT:
                return None
            if nxt == b"/":
                pos = _line_end(text, i)
                comments.append((i, pos))
            elif nxt == b"*":
                if (end := text.find(b"*/", i + 2)) < 0:
                    return None
                pos = end + 2
                comments.append((i, pos))
            elif (regex := _regex_here(text, i, comments, paren)) is None:
                return None
            elif regex:
                if (r := _REGEX_RE.match(text, i)) is None:
                    return None
                pos = r.end()
        elif c in b"([{":
            in_block = not opened or opened[-1][1] == 0x7B
            name = _function_name(text, i) if c == 0x7B and in_block else None
            opened.append((i, c, name))
        else:  # a closing bracket
            if not opened or opened[-1][1] not in _OPENING[c]:
                return None
            start, bracket, name = opened.pop()
            if c == 0x29:
                paren = (i, start)
            if bracket == 0x24:  # the end of a template's ${...}
                pos = _template(text, i + 1, opened)
            elif name is not None and not _invoked_after(text, i + 1):
                functions.append((start + 1, i, name))
        if pos < 0:
            return None
    if opened:
        return None
    uncalled = _uncalled(text, functions, called_by_name)
    return None if len(uncalled) > UNCALLED_BODIES else Code(tuple(comments), uncalled)


def _template(text: bytes, pos: int, opened: list[tuple[int, int, bytes | None]]) -> int:
    """Where the code after a template literal's text from pos goes on (at its end or in its
    next `${`, then recorded as open), or -1 where it does not end."""
    t = _TEMPLATE_RE.match(text, pos)
    if t is None:
        return -1
    if t.group(1) == b"${":
        opened.append((t.end() - 1, 0x24, None))
    return t.end()


def _function_name(text: bytes, brace: int) -> bytes | None:
    """The name of the function whose body starts at brace, if _HEAD_RE reads one there."""
    window = text[max(0, brace - HEAD_BYTES) : brace]
    end = window.rstrip()
    if not (
        end.endswith(b"=>")
        or end.endswith(b")")
        and b"function" in window[: window.rfind(b"(")][-48:]
    ):
        return None  # (most braces, `if (x) {` and the like: told in C, no regex tried)
    head = _HEAD_RE.search(b"\n" + window if brace <= HEAD_BYTES else window)
    return None if head is None else head.group(1) or head.group(2)


def _regex_here(
    text: bytes, slash: int, comments: list[tuple[int, int]], paren: tuple[int, int]
) -> bool | None:
    """Whether the slash at slash starts a regular expression: after an operator, a
    punctuator, a keyword or an if's condition (not after a name, a number or another
    closing bracket), told by the token before it (paren: the last `)` and its `(`) (comments skipped: `/*c*/ /'/`). None
    where the other reading may change the line: after `}` (a block's end or an object's)
    or `)`, a `//` or a quote on the rest of its line (`var o = {} /'/ //'; f()`)."""
    end, k = slash, len(comments)
    while True:
        while end and text[end - 1] in b" \t\n\r\f\v":
            end -= 1
        if not k or comments[k - 1][1] != end:
            break
        k -= 1
        end = comments[k][0]
    before = text[max(0, end - 16) : end]
    if end - 1 == paren[0] and _CONDITION_RE.search(text, max(0, paren[1] - 8), paren[1]):
        return True
    if before.endswith((b"++", b"--")):
        return False  # (`a++ / 2`: a division)
    if before[-1:] in (b"}", b")") and _QUOTE_ON_THE_LINE_RE.match(text, slash + 1):
        return None
    return not before or before[-1] in _BEFORE_REGEX or bool(_REGEX_KEYWORD_RE.search(before))


def _line_end(text: bytes, pos: int) -> int:
    """Where the line that pos is on ends."""
    end = text.find(b"\n", pos)
    return len(text) if end < 0 else end


def _invoked_after(text: bytes, end: int) -> bool:
    """Whether the code after a function's body calls or reads it in place."""
    rest = text[end : end + 64].lstrip()
    return rest[:1] in (b"(", b".", b"[", b"`", b"?", b"/")


def _uncalled(
    text: bytes, functions: list[tuple[int, int, bytes]], called_by_name: Callable[[bytes], bool]
) -> tuple[tuple[int, int], ...]:
    """The outermost bodies of functions whose name the text has once (in their head)."""
    if not functions:
        return ()
    counts = Counter(_WORD_RE.findall(text))
    bodies = sorted(
        (start, end)
        for start, end, name in functions
        if counts[name] == 1
        and not _CALLED_BY_THE_PLATFORM_RE.fullmatch(name)
        and not called_by_name(name)
    )
    outer: list[tuple[int, int]] = []
    for start, end in bodies:
        if not outer or start >= outer[-1][1]:
            outer.append((start, end))
    return tuple(outer)
