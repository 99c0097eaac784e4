"""Streaming, byte-faithful HTML rewriting.

The page is never parsed into a tree: a skip loop steps over every run of text,
comment and start/end tag that cannot matter; only the few tags that can load
something (or change how what follows is tokenized) reach Python. The skip loop is
the C extension `_skip` when it was built, else the regex SKIP_RE: both give the same
bytes (tests/rewrite run both). State survives chunk boundaries; what is held between
chunks is at most the current tag (or an inline script or <style> being classified),
never the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from consentproxy.rewrite.neutralise import URL_ATTRS, Neutraliser
from consentproxy.wordtrie import trie_pattern

_ATTRS = (
    rb"(?:[\t\n\f\r /]++|[^\t\n\f\r />][^\t\n\f\r /=>]*+"
    rb"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+\"|'[^']*+'|[^\t\n\f\r >]*+))?+)*+"
)
_TAG_REST = rb"[^\t\n\f\r />]*+" + _ATTRS + rb">"

RAWTEXT = (b"style", b"xmp", b"iframe", b"noembed", b"noframes")
RCDATA = (b"textarea", b"title")
INTERESTING = tuple(URL_ATTRS) + RAWTEXT + RCDATA + (b"plaintext", b"head")
_DELIM = rb"[\t\n\f\r />]"


# Everything that cannot matter, as one possessive match (no backtracking); the most
# frequent alternatives first.
SKIP_RE = re.compile(
    rb"(?:[^<]++"
    rb"|<(?!" + trie_pattern(list(INTERESTING), ignore_case=True) + _DELIM + rb")[A-Za-z]" + _TAG_REST +
    rb"|</(?![bB][oO][dD][yY]" + _DELIM + rb")[A-Za-z]" + _TAG_REST +
    rb"|<!--(?:-?>|(?s:.*?)--!?>)"                      # comments, incl. <!--> and <!--->
    rb"|<[!?](?!--)[^>]*+>"                             # doctype, bogus comments
    rb"|</(?![A-Za-z])[^>]*+>"                          # </> and bogus end tags
    rb"|<(?=[^A-Za-z!/?])"                              # a lone '<' is text
    rb")*+"
)
TAG_RE = re.compile(rb"</?[A-Za-z]" + _TAG_REST)
TAG_NAME_RE = re.compile(rb"</?([A-Za-z][^\t\n\f\r />]*)")
COMMENT_END_RE = re.compile(rb"--!?>")
SCRIPT_TOKEN_RE = re.compile(rb"<!--|-->|<(/?)(?i:script)(?=[\t\n\f\r />])")
END_TAG_RE = {n: re.compile(rb"</(?i:" + n + rb")(?=[\t\n\f\r />])") for n in RAWTEXT + RCDATA}
DOCUMENT_START_RE = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:[\t\n\f\r ]++|<!--(?s:.*?)-->|<\?xml[^>]*+>)*+"
    rb"<(?i:!doctype|html|head|body|title|meta)"
)

# Interesting start tags that the neutraliser returns unchanged when they cannot point to
# another host, and that change no tokenizer state: the C skip loop steps over those
# (once the guard script is placed) instead of returning them to Python.
QUIET = tuple(n for n in (*URL_ATTRS, b"head")  # <meta http-equiv=Set-Cookie> names no host
              if n not in (b"script", b"plaintext", b"meta", *RAWTEXT, *RCDATA))

# skip(buf, pos, quiet_ok) -> end of what, from pos, passes through untouched.
Skip = Callable[[bytes, int, bool], int]


def python_skip(buf: bytes, pos: int, quiet_ok: bool) -> int:
    """The pure-Python skip loop: SKIP_RE alone (it steps over no interesting tag)."""
    return SKIP_RE.match(buf, pos).end()  # type: ignore[union-attr]


try:
    from consentproxy.rewrite._skip import Skipper
except ImportError:  # built without a compiler: same bytes, ~7x slower (bench/RESULTS.md)
    SKIPS: dict[str, Skip] = {"python": python_skip}
else:
    SKIPS = {"c": Skipper(INTERESTING, QUIET).skip, "python": python_skip}
DEFAULT_SKIP = next(iter(SKIPS.values()))

MAX_TAG = 1 << 20          # a start tag longer than this is passed through untouched
MAX_HELD_TEXT = 1 << 20    # classify an inline script or a <style> on at most this much text
MAX_HOLD = 1 << 18         # bytes held after </body> waiting to know if it is the last
SNIFF_BYTES = 1024

# Scanner states.
DATA, COMMENT, BOGUS, TEXT, SCRIPT, PLAINTEXT = range(6)
# Script data sub-states (HTML spec 13.2.5.4 ff.): plain, escaped, double-escaped.
S_PLAIN, S_ESCAPED, S_DOUBLE = range(3)


class HtmlRewriter:
    """feed() bytes in, get bytes out; close() at the end. Output is the input except
    for neutralised tags and the banner, inserted once before the last real </body>.

    inject: True (a top-level document), False (fragment, iframe), or None to decide
    from the first bytes (a document starts with a doctype, <html>, <head>...).
    head: markup that must run before the page's own code (the guard script), placed
    right after <head>, or before the first tag that can load anything.
    skip: the skip loop (one of SKIPS; tests run each).
    """

    def __init__(self, neutraliser: Neutraliser, banner: bytes, inject: bool | None,
                 head: bytes = b"", skip: Skip = DEFAULT_SKIP):
        self.neutraliser = neutraliser
        self.skip = skip
        self.banner = banner
        self.inject = inject
        self.injected = False
        self.head = head
        self.head_done = not head
        self.pending = b""
        self.state = DATA
        self.text_end: re.Pattern[bytes] | None = None  # for TEXT: the closing tag's regex
        self.script_sub = S_PLAIN
        # An inline script or a <style>: its start tag while its text is held, and what
        # they become, worked out once the text is complete (or MAX_HELD_TEXT long).
        self.held_tag: bytes | None = None
        self.held_text: list[bytes] = []
        self.held_len = 0
        self.held_rewrite: Callable[[bytes, bytes], tuple[bytes, bytes]] = self._inline_script
        self.out: list[bytes] = []
        self.hold: list[bytes] | None = None  # after a </body>: waiting for a later one
        self.hold_len = 0

    # --- output ------------------------------------------------------------------------

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        if self.hold is None:
            self.out.append(data)
            return
        self.hold.append(data)
        self.hold_len += len(data)
        if self.hold_len > MAX_HOLD:  # long tail after </body>: inject before it now
            self._release_hold(inject=True)

    def _release_hold(self, inject: bool) -> None:
        hold, self.hold, self.hold_len = self.hold or [], None, 0
        if inject and not self.injected:
            self.out.append(self.banner)
            self.injected = True
        self.out.extend(hold)

    def _body_end_tag(self, tag: bytes) -> None:
        if self.inject and not self.injected:
            self._release_hold(inject=False)
            self.hold = [tag]
            self.hold_len = len(tag)
        else:
            self._emit(tag)

    def _take(self) -> bytes:
        data = b"".join(self.out)
        self.out = []
        return data

    # --- input -------------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        buf = self.pending + data if self.pending else data
        if self.inject is None:
            if len(buf) < SNIFF_BYTES:
                self.pending = buf
                return b""
            self.inject = bool(DOCUMENT_START_RE.match(buf))
        self.pending = buf[self._scan(buf, final=False):]
        return self._take()

    def close(self) -> bytes:
        buf = self.pending
        if self.inject is None:
            self.inject = bool(DOCUMENT_START_RE.match(buf))
        self.pending = b""
        end = self._scan(buf, final=True)
        self._emit(buf[end:])
        if self.held_tag is not None:  # unterminated script or style: classify what came
            self._finish_held()
        if self.hold is not None:
            self._release_hold(inject=True)
        elif self.inject and not self.injected and self.state != PLAINTEXT:
            if not self.head_done:
                self.out.append(self.head)
            self.out.append(self.banner)
            self.injected = True
        return self._take()

    def _scan(self, buf: bytes, final: bool) -> int:
        """Process buf as far as possible; return where unprocessed bytes start."""
        pos, n = 0, len(buf)
        emit, skip = self._emit, self.skip
        while pos < n:
            state = self.state
            if state == DATA:
                end = skip(buf, pos, self.head_done or not self.inject)
                if end > pos:
                    emit(buf[pos:end])
                    pos = end
                    if pos >= n:
                        break
                step = self._markup(buf, pos, final)
                if step < 0:
                    return pos  # incomplete: wait for more
                pos = step
            elif state == COMMENT or state == BOGUS:
                m = (COMMENT_END_RE if state == COMMENT else _GT_RE).search(buf, pos)
                if m is None:
                    keep = 0 if final else (3 if state == COMMENT else 0)
                    emit(buf[pos:max(pos, n - keep)])
                    return max(pos, n - keep)
                emit(buf[pos:m.end()])
                pos = m.end()
                self.state = DATA
            elif state == TEXT:
                assert self.text_end is not None
                m = self.text_end.search(buf, pos)
                if m is None:
                    cut = n if final else max(pos, n - 11)
                    self._text(buf[pos:cut])
                    return cut
                self._text(buf[pos:m.start()])
                pos = m.start()
                self._end_text()
            elif state == SCRIPT:
                pos = self._script(buf, pos, final)
                if self.state == SCRIPT:
                    return pos
            else:  # PLAINTEXT: nothing after it is markup
                emit(buf[pos:])
                return n
        return pos

    def _markup(self, buf: bytes, pos: int, final: bool) -> int:
        """Handle the markup at buf[pos] == '<' that the skip regex stopped at.
        Returns the new position, or -1 if more bytes are needed."""
        n = len(buf)
        if buf.startswith(b"<!--", pos):
            if pos + 6 > n and not final:
                return -1
            self.state = COMMENT
            self._emit(buf[pos:pos + 4])
            abrupt = re.match(rb"-?>", buf[pos + 4:pos + 6])
            if abrupt:
                self._emit(abrupt.group())
                self.state = DATA
                return pos + 4 + abrupt.end()
            return pos + 4
        m = TAG_RE.match(buf, pos)
        if m is None:
            if not final and n - pos < MAX_TAG and _may_be_tag(buf, pos):
                return -1
            if pos + 1 < n and buf[pos + 1] in b"!?/":
                self.state = BOGUS  # unterminated bogus comment: passes through as is
                self._emit(buf[pos:pos + 2])
                return pos + 2
            self._emit(buf[pos:pos + 1])
            return pos + 1
        tag = m.group()
        name_m = TAG_NAME_RE.match(tag)
        assert name_m is not None
        name = name_m.group(1).lower()
        if tag[1] == 0x2F:  # '/': the only end tag that reaches here is </body>
            self._body_end_tag(tag)
            return m.end()
        self._start_tag(name, tag)
        return m.end()

    def _start_tag(self, name: bytes, tag: bytes) -> None:
        if not self.head_done and self.inject:
            self.head_done = True
            if name == b"head":
                self._emit(tag)
                self._emit(self.head)
                return
            self._emit(self.head)
        neutraliser = self.neutraliser
        if name == b"script":
            self.state, self.script_sub = SCRIPT, S_PLAIN
            if neutraliser.script_is_inline_js(tag):
                self._hold(tag, self._inline_script)
            else:
                self._emit(neutraliser.start_tag(name, tag))
            return
        if name in URL_ATTRS:
            tag = neutraliser.start_tag(name, tag)
        if name == b"style":
            self._hold(tag, neutraliser.style_element)
        else:
            self._emit(tag)
        if name in END_TAG_RE:
            self.state, self.text_end = TEXT, END_TAG_RE[name]
        elif name == b"plaintext":
            self.state = PLAINTEXT

    # --- script data -------------------------------------------------------------------

    def _script(self, buf: bytes, pos: int, final: bool) -> int:
        """Consume script text up to its real end tag, following the spec's escape
        states so '<!-- <script> </script> -->' inside a script does not end it."""
        n = len(buf)
        search = SCRIPT_TOKEN_RE.search
        while True:
            m = search(buf, pos)
            if m is None:
                cut = n if final else max(pos, n - 9)
                self._text(buf[pos:cut])
                return cut
            tok, sub = m.group(), self.script_sub
            if tok == b"<!--":
                if sub == S_PLAIN:
                    self.script_sub = S_ESCAPED
                self._text(buf[pos:m.start() + 2])
                pos = m.start() + 2  # '<!-->' closes at once: let '-->' be seen
                continue
            if tok == b"-->":
                if sub != S_PLAIN:
                    self.script_sub = S_PLAIN
            elif m.group(1):  # </script
                if sub == S_DOUBLE:
                    self.script_sub = S_ESCAPED
                else:
                    self._text(buf[pos:m.start()])
                    self._end_text()
                    return m.start()
            elif sub == S_ESCAPED:  # <script inside an escaped section
                self.script_sub = S_DOUBLE
            self._text(buf[pos:m.end()])
            pos = m.end()

    # --- held elements: inline scripts and <style> -----------------------------------

    def _hold(self, tag: bytes, rewrite: Callable[[bytes, bytes], tuple[bytes, bytes]]) -> None:
        self.held_tag, self.held_text, self.held_len = tag, [], 0
        self.held_rewrite = rewrite

    def _inline_script(self, tag: bytes, text: bytes) -> tuple[bytes, bytes]:
        return self.neutraliser.inline_script(tag, text), text

    def _text(self, data: bytes) -> None:
        """Script or raw text: held while its element is, else passed on."""
        if self.held_tag is None:
            self._emit(data)
            return
        self.held_text.append(data)
        self.held_len += len(data)
        if self.held_len > MAX_HELD_TEXT:
            self._finish_held()

    def _end_text(self) -> None:
        if self.held_tag is not None:
            self._finish_held()
        self.state = DATA

    def _finish_held(self) -> None:
        assert self.held_tag is not None
        tag, text = self.held_rewrite(self.held_tag, b"".join(self.held_text))
        self._emit(tag)
        self._emit(text)
        self.held_tag, self.held_text, self.held_len = None, [], 0


_GT_RE = re.compile(rb">")
_MAYBE_TAG_RE = re.compile(rb"<(?:[A-Za-z]|/[A-Za-z]?|!-?|\?)?\Z")


def _may_be_tag(buf: bytes, pos: int) -> bool:
    """Whether the unmatched markup at pos could still become a tag with more bytes."""
    if _MAYBE_TAG_RE.match(buf, pos):
        return True
    return bool(re.match(rb"</?[A-Za-z]", buf[pos:pos + 3]))

