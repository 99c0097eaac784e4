"""Streaming, byte-faithful HTML rewriting: the tokenizer.

The page is never parsed into a tree: a skip loop steps over every run of text,
comment and start/end tag that cannot matter; only the few tags that can load
something (or change how what follows is tokenized) reach Python. The skip loop is
the C extension `_skip` when it was built, else the regex SKIP_RE: both give the same
bytes (tests/rewrite run both). State survives chunk boundaries; what is held between
chunks is bounded, never the page: the current tag, an inline script or <style> being
classified (rewrite/held.py), the page's first bytes until they settle its charset
(rewrite/charset.py's prescan, PRESCAN_BYTES or an XML declaration), and what follows a
</body> until it is known to be the last (up to injector.MAX_HOLD). Start tags go to the
neutraliser; the output, with the guard and the banner placed, is the injector's
(rewrite/injector.py).
"""

from __future__ import annotations

import codecs
import html
import re
from collections.abc import Buffer, Callable
from functools import lru_cache

from consentproxy.httpheaders import type_essence
from consentproxy.policy import TagOutcome
from consentproxy.rewrite.charset import (
    PRESCAN_BYTES,
    UTF8_BOM,
    UTF16_BOMS,
    decoder,
    header_codec,
    header_decides,
    prescan,
)
from consentproxy.rewrite.css import style_may_load
from consentproxy.rewrite.foreign import (
    BREAKOUT,
    HTML_INTEGRATION,
    INERT,
    MATHML_TEXT,
    SVG,
    ForeignContent,
    self_closing,
)
from consentproxy.rewrite.held import MAX_HELD_TEXT, HeldElement, Rewrite
from consentproxy.rewrite.injector import CLOSERS, Injector
from consentproxy.rewrite.neutralise import (
    ENDPOINT_ATTRS,
    MARK_SLOT,
    MEMO_TAG_BYTES,
    QUIET_ELEMENT_BYTES,
    STYLESHEET_TARGET,
    URL_ATTRS,
    XML_TYPE,
    Neutraliser,
    handler_may_load_re,
    unended,
    xml_references,
)
from consentproxy.rewrite.selectors import OpenMarker
from consentproxy.wordtrie import trie_pattern

# An attribute: a name, and a value after '='. A value opening a quote ends at its closing
# quote; with none in buf the tag does not end in buf (to a browser, all up to that quote is
# the value: read as an unquoted value, `<img alt='>` cut from `' src=TRACKER>` in the next
# chunk passed for a whole tag, and the tracker went out as text that the browser loaded).
_ATTR = (
    rb"[^\t\n\f\r />][^\t\n\f\r /=>]*+"
    rb"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+\"|'[^']*+'|(?![\"'])[^\t\n\f\r >]*+)"
    rb"|(?![\t\n\f\r ]*+=))"
)
ATTRS = rb"(?:[\t\n\f\r /]++|" + _ATTR + rb")*+"
_TAG_REST = rb"[^\t\n\f\r />]*+" + ATTRS + rb">"
# An attribute other than style (CSS in one may load something: the tag must reach Python),
# nor an event handler whose value may be code the neutraliser holds (its code may load
# something: neutralise.HANDLER_WORDS; _skip.c's handler_may_load).
_LOADING_HANDLER = (
    rb"[oO][nN][^\t\n\f\r /=>]++[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\""
    + handler_may_load_re(b'"')
    + rb"|'"
    + handler_may_load_re(b"'")
    + rb"|(?![\"'])"
    + handler_may_load_re(rb"\t\n\f\r >")
    + rb")"
)
_UNSTYLED_ATTR = rb"(?![sS][tT][yY][lL][eE][\t\n\f\r /=>]|" + _LOADING_HANDLER + rb")" + _ATTR
_UNSTYLED_TAG_REST = rb"[^\t\n\f\r />]*+(?:[\t\n\f\r /]++|" + _UNSTYLED_ATTR + rb")*+>"

RAWTEXT = (b"style", b"xmp", b"iframe", b"noembed", b"noframes")
RCDATA = (b"textarea", b"title")
ROOTS = (b"svg", b"math")  # open foreign content
# Start tags that put what follows out of the guard's reach (a <noscript>'s text to a
# browser running scripts, a <template>'s inert content): quiet, they stop the skip loop
# only until the guard is placed, which then goes before them, not into them.
GUARD_BEFORE = (b"noscript", b"template")
INTERESTING = tuple(URL_ATTRS) + RAWTEXT + RCDATA + ROOTS + GUARD_BEFORE + (b"plaintext", b"head")
_DELIM = rb"[\t\n\f\r />]"
# In an XML document, no prefixed name (<h:script>: HtmlRewriter._prefixed_start_tag).
_UNPREFIXED = rb"(?![A-Za-z][^\t\n\f\r />:]*+:)"


# What else an XML name may start with ('_', ':', a non-ASCII letter's UTF-8 bytes): such a
# '<' is a tag to XML (<_:script src>, <é:img src> loaded: helper-240), no lone '<'.
_XML_NAME_START = rb"_:\x80-\xff"
# An XML instruction after its '<?': it ends at '?>', not at its first '>'.
_XML_INSTRUCTION_REST = rb"(?:[^?]++|\?(?!>))*+\?>"


# Everything that cannot matter, as one possessive match (no backtracking); the most
# frequent alternatives first.
def _skip_re(end_tags: list[bytes], xml: bool = False) -> re.Pattern[bytes]:
    """What the skip loop steps over: all but interesting start tags and `end_tags` (and,
    in an XML document, style sheet instructions, DOCTYPEs, CDATA sections and instructions
    not ended in the buffer: HtmlRewriter._markup reads them as XML does)."""
    return re.compile(
        rb"(?:[^<]++"
        rb"|<"
        + (_UNPREFIXED if xml else b"")
        + rb"(?!"
        + trie_pattern(list(INTERESTING), ignore_case=True)
        + _DELIM
        + rb")[A-Za-z]"
        + _UNSTYLED_TAG_REST
        + rb"|</(?!"
        + trie_pattern(end_tags, ignore_case=True)
        + _DELIM
        + rb")[A-Za-z]"
        + _TAG_REST
        + rb"|<!--(?:-?>|(?s:.*?)--!?>)"  # comments, incl. <!--> and <!--->
        + (
            rb"|<\?(?!xml-stylesheet[\t\n\r ])"
            + _XML_INSTRUCTION_REST
            + rb"|<!(?!--|DOCTYPE|\[CDATA\[)"
            if xml
            else rb"|<[!?](?!--)"
        )
        + rb"[^>]*+>"  # doctype, bogus comments
        rb"|</(?![A-Za-z])[^>]*+>"  # </> and bogus end tags
        rb"|<(?=[^A-Za-z!/?" + (_XML_NAME_START if xml else b"") + rb"])"  # a lone '<' is text
        rb")*+"
    )


SKIP_RE = _skip_re([b"body"])
# In an XML document the banner goes before </html> when no </body> came: nothing may
# follow the root element's end (a fatal error: the browser shows no page, only the error).
XML_SKIP_RE = _skip_re([b"body", b"html"], xml=True)
# In foreign content (rewrite/foreign.py) every tag and <![CDATA[ counts: skip the rest
# (and, in an XML document, instructions end at '?>'; style sheet instructions and DOCTYPEs
# are left to HtmlRewriter._markup, as outside foreign content: else read otherwise when a
# chunk ends inside one).
_FOREIGN_TEXT, _XML_FOREIGN_TEXT = (
    rb"[^<]++|<!--(?:-?>|(?s:.*?)--!?>)|<" + bogus + rb"(?!--|\[CDATA\[)[^>]*+>"
    rb"|</(?![A-Za-z])[^>]*+>|<(?=[^A-Za-z!/?" + name_start + rb"])"
    for bogus, name_start in (
        (rb"[!?]", b""),
        (
            rb"\?(?!xml-stylesheet[\t\n\r ])" + _XML_INSTRUCTION_REST + rb"|<!(?!DOCTYPE)",
            _XML_NAME_START,
        ),
    )
)
FOREIGN_SKIP_RE, XML_FOREIGN_SKIP_RE = (
    re.compile(rb"(?:" + text + rb")*+") for text in (_FOREIGN_TEXT, _XML_FOREIGN_TEXT)
)
# Where the current node is an SVG/MathML element (no integration point), a start tag that
# neither breaks out nor loads leaves the stack as it was if it closes itself ('/>' outside
# any value) or is closed at once (<path ...></path>): icons pass without a stop.
_INERT = (
    rb"<(?!"
    + trie_pattern(sorted({*BREAKOUT, b"font", *URL_ATTRS}), ignore_case=True)
    + _DELIM
    + rb")"
)
_NAME_ATTRS = rb"[A-Za-z][^\t\n\f\r />]*+)(?:[\t\n\f\r /]*+" + _UNSTYLED_ATTR + rb")*+"
INERT_SKIP_RE, XML_INERT_SKIP_RE = (
    re.compile(
        rb"(?:" + text + rb"|" + inert + rb"(?:" + _NAME_ATTRS + rb"(?:[\t\n\f\r ]|/(?!>))*+/>"
        rb"|" + inert + rb"(" + _NAME_ATTRS + rb"[\t\n\f\r /]*+(?<!/)></\1>"
        rb")*+"
    )
    for text, inert in ((_FOREIGN_TEXT, _INERT), (_XML_FOREIGN_TEXT, _INERT + _UNPREFIXED))
)
# SKIP_RE but for start tags: what lies between two start tags (banner.open_selectors).
BETWEEN_TAGS_RE = re.compile(
    rb"(?:[^<]++"
    rb"|</(?![bB][oO][dD][yY]" + _DELIM + rb")[A-Za-z]" + _TAG_REST + rb"|<!--(?:-?>|(?s:.*?)--!?>)"
    rb"|<[!?](?!--)[^>]*+>"
    rb"|</(?![A-Za-z])[^>]*+>"
    rb"|<(?=[^A-Za-z!/?])"
    rb")*+"
)
TAG_RE = re.compile(rb"</?([A-Za-z][^\t\n\f\r />]*+)" + ATTRS + rb">")  # (group 1: its name)
XML_TAG_RE = re.compile(rb"</?([A-Za-z" + _XML_NAME_START + rb"][^\t\n\f\r />]*+)" + ATTRS + rb">")
COMMENT_END_RE = re.compile(rb"--!?>")
CDATA_OPEN = b"<![CDATA["
# An XML DOCTYPE up to its internal subset's '[' (or its '>': none), the subset's items as
# XML reads them (declarations with quoted values, comments, instructions, parameter entity
# references, white space; group 1: an instruction), and its end.
DOCTYPE_OPEN = b"<!DOCTYPE"
_XML_QUOTED = rb"""[^>"'\[]++|"[^"]*+"|'[^']*+'"""
XML_DOCTYPE_RE = re.compile(rb"<!DOCTYPE(?:" + _XML_QUOTED + rb")*+[>\[]")
XML_SUBSET_ITEM_RE = re.compile(
    rb"[\t\n\r ]++|%[^\t\n\r <>%;\]\"']++;|<!--(?s:.*?)-->"
    rb"|<!(?!--)(?:" + _XML_QUOTED + rb"|\[)*+>|(<\?" + _XML_INSTRUCTION_REST + rb")"
)
XML_SUBSET_END_RE = re.compile(rb"\][\t\n\r ]*+>")
# No XML character: put where the rewrite cannot follow a DOCTYPE's subset, Chromium shows
# its XML error there and reads nothing past it.
XML_ERROR = b"\x00"
# In XML a <script>'s or <style>'s content is markup, no raw text (`<style><img src=GA/>`
# loads GA), read one token at a time: a comment, a CDATA section (group 1), an instruction,
# a tag (group 2: '/' for an end tag, group 3: its name, group 4: '/' if self-closing), text.
_XML_CONTENT_TOKEN_RE = re.compile(
    rb"<!--(?s:.*?)-->|<!\[CDATA\[((?s:.*?))]]>|<\?(?s:.*?)\?>"
    rb"|<(/?)([^\t\n\r !/>?][^\t\n\r />]*+)(?:[^>\"'/]++|\"[^\"]*+\"|'[^']*+'|/(?!>))*+(/?)>"
    rb"|[^<]++"
)
_XML_TAG_REST = rb"[^\t\n\r />]*+(?:[^>\"'/]++|\"[^\"]*+\"|'[^']*+'|/(?!>))*+/?>"


@lru_cache(maxsize=64)  # (prefixed names are the page's to choose)
def _xml_content_skip(name: bytes) -> re.Pattern[bytes]:
    """What _xml_content steps over in one match: all tokens but a tag of `name`, and a
    lone '<' no token can start with."""
    return re.compile(
        rb"(?:[^<]++|<!--(?s:.*?)-->|<!\[CDATA\[(?s:.*?)]]>|<\?(?s:.*?)\?>"
        rb"|</?(?!(?i:"
        + re.escape(name)
        + rb")[\t\n\r />])[^\t\n\r !/>?]"
        + _XML_TAG_REST
        + rb"|<(?=[\t\n\r >]))*+"
    )


# Content read as a page to this depth (a script in a script...), then XML_ERROR before it.
MAX_NESTED_CONTENT = 4
SCRIPT_TOKEN_RE = re.compile(rb"<!--|-->|<(/?)(?i:script)(?=[\t\n\f\r />])")


def _end_tag_re(name: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"</(?i:" + name + rb")(?=[\t\n\f\r />])")


TEXT_ELEMENTS = frozenset(RAWTEXT + RCDATA)  # their text runs up to their end tag
END_TAG_RE = {n: _end_tag_re(n) for n in RAWTEXT + RCDATA + ROOTS}
DOCUMENT_START_RE = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:[\t\n\f\r ]++|<!--(?s:.*?)-->|<\?xml[^>]*+>)*+"
    rb"<(?i:!doctype|html|head|body|title|meta)"
)

# Interesting start tags that the C skip loop steps over (once the guard script is placed)
# when the neutraliser would return them unchanged: a tag with a key attribute unless it
# holds that attribute (<meta http-equiv=Set-Cookie> names no host) or, for background and
# ping, unless it names hosts not settled (as HOSTED's URLs below); any other unless it may
# name another host (but HOSTED ones); for raw-text elements, up to their end tag; a
# <script> only as HOSTED says.
KEYS = {
    **ENDPOINT_ATTRS,  # (an <input> stops at its formaction only where every quiet tag may pass)
    b"meta": b"http-equiv",
    b"a": b"ping",
    b"area": b"ping",
    b"body": b"background",
    b"table": b"background",
    b"td": b"background",
    b"th": b"background",
    b"tr": b"background",
    b"thead": b"background",
    b"tbody": b"background",
    b"tfoot": b"background",
    b"col": b"background",
    b"colgroup": b"background",
}
QUIET = tuple(dict.fromkeys((*URL_ATTRS, *RAWTEXT, *RCDATA, *GUARD_BEFORE, b"head")))
# What the skip loop may step over besides SKIP_RE (the bits of its quiet_ok): every quiet
# tag (the guard is placed and no <base> points to another host), the quiet tags with a
# key (the guard is placed: a <base> changes nothing for them), whole SVG/MathML elements
# made of foreign.INERT alone (the guard is placed; no open_selectors needle follows).
QUIET_ALL, QUIET_KEYED, QUIET_FOREIGN = 1, 2, 4
assert not set(INERT) & {*BREAKOUT, b"font", *URL_ATTRS, b"style"}
# Quiet tags that the C loop also steps over when each URL in their URL attributes is
# relative or names a host the neutraliser has settled (Neutraliser.settled), whatever the
# other attributes hold: the most frequent stops on real pages, <link href=https://cdn...>,
# <img src=https://...>, <input data-url=https://...> and <script src> (an inline script
# only once the neutraliser has worked the same element out: Neutraliser.element_memo).
HOSTED = (b"link", b"img", b"source", b"script", b"input")
HOSTED_URLS = tuple(sorted({a for n in HOSTED for a in URL_ATTRS[n]}))
# Quiet tags that the C loop also steps over (with quiet_ok's QUIET_ALL and no <base>) when
# the neutraliser's tag memo holds what they become on this choice: it writes them out as
# the neutraliser makes them for this response, mark and reports (a script only with a src:
# an inline one's text decides). What the scanner does with them but emit the new tag is
# the same for all: step over their text.
REMEMBERED = tuple(n for n in QUIET if n not in (b"head", b"base", b"style", *GUARD_BEFORE))

# skip(buf, pos, quiet_ok, settled, seen, elements, choice, memo, out, mark, blocked, limit,
# spans) -> end of what, from pos, passes through untouched but for the tags the memos know,
# which it writes to out, with the rest of the run, as the neutraliser makes them for this
# response (see Neutraliser.settled, unknown_hosts, element_memo, choice, tag_memo, mark_attr
# and blocked); limit: the opener's next needle, or len(buf) (see Output in _skip.c); spans:
# long runs may go to out as buffers over buf, not copies (an out that is only joined).
Skip = Callable[
    [
        bytes,
        int,
        int,
        dict[bytes, bool],
        set[str],
        dict[bytes, dict[object, TagOutcome]],
        object,
        dict[tuple[object, ...], TagOutcome] | None,
        list[Buffer],
        bytes,
        list[tuple[str, str]],
        int,
        bool,
        bytes,
    ],
    int,
]


def _regex_skip(regex: re.Pattern[bytes]) -> Skip:
    def skip(buf: bytes, pos: int, quiet_ok: int, *memos: object) -> int:
        end = regex.match(buf, pos).end()  # type: ignore[union-attr]
        if len(memos) > 5 and end > pos:
            out = memos[5]
            assert isinstance(out, list)
            out.append(buf[pos:end])
        return end

    return skip


# The pure-Python skip loop: SKIP_RE alone (it steps over no interesting tag, so it reads
# none of the neutraliser's memos); the run goes to the output list, if given.
python_skip = _regex_skip(SKIP_RE)
# An XML document's: its tags closed by '/>' (a <script src/>, a <title/>) have no text,
# where the C loop, reading HTML, steps over a remembered one and what follows up to its
# end tag (a tracker after it was never seen; the banner went after </html>).
xml_skip = _regex_skip(XML_SKIP_RE)


# What the C loop is built with (bench/skip.py builds another checkout's loop alike).
SKIPPER_ARGS = (
    INTERESTING,
    QUIET,
    tuple(KEYS.get(n, b"") for n in QUIET),
    RAWTEXT + RCDATA,
    INERT,
    tuple(n for n in INERT if n in HTML_INTEGRATION[SVG]),
    tuple(n for n in INERT if n in MATHML_TEXT),
    HOSTED,
    HOSTED_URLS,
    QUIET_ELEMENT_BYTES,
    URL_ATTRS[b"script"],
    REMEMBERED,
    MEMO_TAG_BYTES,
    MARK_SLOT,
    tuple(URL_ATTRS[n] for n in HOSTED),  # (a host another tag's attribute names: unreported)
)
TagSpan = Callable[[bytes, int], tuple[int, int, int] | None]
try:
    from consentproxy.rewrite._skip import Skipper, tag_span
except ImportError:  # built without a compiler: same bytes, 4-11x slower (README)
    SKIPS: dict[str, Skip] = {"python": python_skip}
    SCRIPT_DATA: dict[Skip, Callable[[bytes, int, int], tuple[int, int, bool]]] = {}
    TAG_SPAN: dict[Skip, TagSpan] = {}
else:
    _SKIPPER = Skipper(*SKIPPER_ARGS)
    SKIPS = {"c": _SKIPPER.skip, "python": python_skip}
    # With the C loop, script data is followed to its end in one step, escape states and all,
    # and a tag the loop stops at is read in C (the pure-Python rewriter follows script data
    # token by token and reads tags with TAG_RE: the tests compare the two).
    SCRIPT_DATA = {_SKIPPER.skip: _SKIPPER.script_data}
    TAG_SPAN = {_SKIPPER.skip: tag_span}
DEFAULT_SKIP = next(iter(SKIPS.values()))
C_LOOP = "c" in SKIPS  # (serve warns without it)

MAX_TAG = 1 << 20  # a start tag longer than this is passed through untouched
SNIFF_BYTES = 1024
# Bytes waiting this long are scanned again only once as many more have come: a hostile
# origin sending a long wait (a tag, an <svg>) byte by byte made each byte rescan it all.
LONG_WAIT = 512


_UNESCAPED = bytes.maketrans(b"\x1b\x0e\x0f", b"???")
_BODY_RE = re.compile(rb"<body[\t\n\f\r />]", re.IGNORECASE)


def _pieces(banner: bytes | list[bytes]) -> list[bytes]:
    """The banner as the injector writes it out: in pieces (banner.render.filled)."""
    return [banner] if isinstance(banner, bytes) else banner


# Scanner states.
DATA, COMMENT, BOGUS, CDATA, TEXT, SCRIPT, PLAINTEXT, INSTRUCTION, SUBSET = range(9)
# Script data sub-states (HTML spec 13.2.5.4 ff.): plain, escaped, double-escaped.
S_PLAIN, S_ESCAPED, S_DOUBLE = range(3)
# What ends a construct the page may end in (see HtmlRewriter._ending).
_ENDINGS = {COMMENT: b"-->", BOGUS: b">", CDATA: b"]]>", INSTRUCTION: b"?>"}


class HtmlRewriter:
    """feed() bytes in, get bytes out; close() at the end. Output is the input except
    for neutralised tags and the banner, inserted once before the last real </body>.

    banner: its markup, or its pieces (banner.render.filled: not joined for each page).
    inject: True (a top-level document), False (fragment, iframe), or None to decide
    from the first bytes (a document starts with a doctype, <html>, <head>...).
    head: markup that must run before the page's own code (the guard script), placed
    right after <head>, or before the first tag that can load anything.
    skip: the skip loop (one of SKIPS; tests run each).
    content_type: the response's Content-Type (its charset may say UTF-16).
    opener: marks the site's own "manage cookies" elements (banner.open_selectors) and
    finds those the cookie declaration fills (banner.declaration_selectors), with
    declaration: goes first in each of those (an element with text content, not void).
    """

    def __init__(
        self,
        neutraliser: Neutraliser,
        banner: bytes | list[bytes],
        inject: bool | None,
        head: bytes = b"",
        skip: Skip = DEFAULT_SKIP,
        content_type: str | None = None,
        opener: OpenMarker | None = None,
        declaration: bytes = b"",
    ):
        self.neutraliser = neutraliser
        self.skip = skip
        self.script_data, self.tag_span = SKIP_TOOLS.get(skip, _PYTHON_TOOLS)
        self.opener = opener
        self.declaration = declaration
        # Where the opener's next needle is in the buffer _needle_in.
        self._needle_in = b""
        self._needle_at = -1
        self.injector = Injector(_pieces(banner), inject, head, CLOSERS)
        self.xml = False  # read with XML's rules where HTML's would break it ('/>', </html>)
        self.foreign_skips = (INERT_SKIP_RE, FOREIGN_SKIP_RE)  # (in an element, or not)
        self.banner_last = True  # with no </body> (nor XHTML's </html>), after all the page
        if type_essence(content_type or "").endswith("xml"):  # (as the browser reads it)
            self.as_xml(typed=True)
        # no base on another host, nor the page's own (Neutraliser's page; else _base_settled)
        self.base_free = neutraliser.base is None
        # The bytes waiting for more (an unfinished tag, an <svg> the C loop may step over
        # once it has closed); with LONG_WAIT of them, the chunks come since (see feed).
        self.pending = b""
        self.arrived: list[bytes] = []
        self.arrived_bytes = 0
        self.state = DATA
        self.text_end = b""  # for TEXT: the element's name (its end tag ends the text)
        self.text_depth = 0  # (in XML: how many elements of that name are open in it)
        self.content_depth = 0  # (a script's or style's content read as a page: its depth)
        self.script_sub = S_PLAIN
        # An inline script or a <style> whose text is held to work out what they become;
        # outer: those it is inside (an SVG script or style holds markup, a <style> too).
        self.held: HeldElement | None = None
        self.outer: list[HeldElement] = []
        self.foreign = ForeignContent()
        # The first bytes until the encoding is known (a BOM needs three, a <meta> the
        # prescan's bytes or fewer: charset.prescan), then the decoder if the page is
        # transcoded (rewrite/charset.py), else None.
        self.header_codec = header_codec(content_type) if content_type else None
        self.prescan = self.header_codec is None and not (
            content_type and header_decides(content_type)
        )
        self.start: bytes | None = b""
        self.decoder: codecs.IncrementalDecoder | None = None
        # Sent on before the prescan settled (see _decode): its bytes so far, while it goes
        # on; then whether the page is ISO-2022-JP after all (its escapes made '?').
        self.seen: bytes | None = None
        self.unescaped = False

    def as_xml(self, typed: bool = False) -> None:
        """Read the document with XML's rules, from its first byte. Not typed: an untyped
        body sniffed as XML (body.py), told before any byte is fed; it may be no XHTML at
        all (a feed), so the banner goes before its </body> or </html> only, never after its
        root (Chromium showed its XML error)."""
        self.xml = True
        self.foreign_skips = (XML_INERT_SKIP_RE, XML_FOREIGN_SKIP_RE)
        self.banner_last = typed
        self.skip = xml_skip
        self.script_data, self.tag_span = None, xml_tag_span
        self.injector.closers = b""  # (no HTML element to close: they would break the XML)

    # --- output ------------------------------------------------------------------------

    @property
    def banner(self) -> list[bytes]:
        return self.injector.banner

    @banner.setter
    def banner(self, banner: bytes | list[bytes]) -> None:  # (the page's language, late)
        self.injector.banner = _pieces(banner)

    @property
    def injected(self) -> bool:
        return self.injector.injected

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        held = self.held
        if held is not None:  # a script's or style's text, held to classify it
            if held.add(data):
                self._finish_held()
                if self.xml and self.state == TEXT:  # (an XML content's rest, markup no
                    self._emit(XML_ERROR)  # one reads: Chromium reads nothing past it)
            return
        injector = self.injector
        if injector.hold is None:
            injector.out.append(data)
        else:
            injector.emit(data)

    def _body_end_tag(self, tag: bytes) -> None:
        if self.held is None and self.injector.waits_at_body_end():
            self.injector.hold_from(tag)
        else:
            self._emit(tag)

    # --- input -------------------------------------------------------------------------

    @property
    def _decoding(self) -> bool:
        """Whether the page's bytes go through _decode: its encoding is not settled yet,
        it is transcoded, or it was sent on before the prescan settled."""
        return (
            self.start is not None
            or self.decoder is not None
            or self.seen is not None
            or self.unescaped
        )

    def _decode(self, data: bytes, final: bool) -> bytes:
        """The page's bytes as the scanner reads them: UTF-16 and ISO-2022-JP become UTF-8."""
        if self.start is not None:
            arrived, data = data, self.start + data if self.start else data
            decided, codec = self._codec(data, arrived, final)
            if not decided:
                if not _BODY_RE.search(data) or b"2022" in data or b"\x1b" in data:
                    self.start = data  # (a <meta> may yet settle it: wait)
                    return b""
                # An origin flushing its head and a first part of the body, no charset in the
                # Content-Type, had the visitor wait for 1024 bytes: sent on, the prescan
                # going on (a <meta> past <body> counts to Chromium), ESC, SO and SI made
                # '?' (in no other encoding a page's byte; an ISO-2022-JP reader stays in
                # ASCII: the browser reads what the scanner reads, the page's text lost
                # where such a <meta> declares it ISO-2022-JP).
                self.start, self.seen = None, data
                return data.translate(_UNESCAPED)
            self.start = None
            if codec is None:
                return data
            self.decoder = decoder(codec)
            if data[:2] in UTF16_BOMS:
                data = data[2:]
            self.injector.out.append(UTF8_BOM)
        if self.seen is not None:
            self.seen = (self.seen + data)[:PRESCAN_BYTES]
            decided, codec = prescan(self.seen, final, self.xml)
            if not decided:
                return data.translate(_UNESCAPED)
            self.seen, self.unescaped = None, codec is not None
        if self.unescaped:
            return data.translate(_UNESCAPED)
        if self.decoder is None:  # (settled: not ISO-2022-JP)
            return data
        return self.decoder.decode(data, final).encode("utf-8")

    def _codec(self, data: bytes, arrived: bytes, final: bool) -> tuple[bool, str | None]:
        """Whether the page's first bytes, data (arrived: the last of them), settle how it
        is read, and the codec it is transcoded from, if it is. Nothing is sent before:
        an origin that sends its <head> early has it sent on once the bytes settle it."""
        if len(data) < 3 and not final:
            return False, None
        if data.startswith(UTF8_BOM):
            return True, None
        codec = UTF16_BOMS.get(data[:2]) or self.header_codec
        if codec is not None or not self.prescan:
            return True, codec
        if not final and len(data) < PRESCAN_BYTES and b">" not in arrived:
            return False, None  # (a <meta> that settles it ends in one)
        return prescan(data, final, self.xml)

    def feed(self, data: bytes) -> bytes:
        return b"".join(self.pieces(data, False))

    def close(self) -> bytes:
        self._end()
        return b"".join(self.injector.take())

    def finish(self, data: bytes) -> bytes:
        """feed(data) and close() in one, their output joined once: a page whose bytes are
        all at hand (most) is not copied again to add its tail (the banner, at the end)."""
        return b"".join(self.pieces(data, True))

    def pieces(self, data: bytes, last: bool) -> list[Buffer]:
        """What feed(data), or finish(data) if last, makes, not joined: the page's long runs
        (Spans of data) and the bytes put in, for an adapter that hands them to the transport
        as they are (serve: the join copied the whole page once more)."""
        self._read(data)
        if last:
            self._end()
        return self.injector.take()

    def _read(self, data: bytes) -> None:
        if self._decoding:
            data = self._decode(data, False)
        if len(self.pending) >= LONG_WAIT:  # scanned again once as many bytes have come
            self.arrived.append(data)
            self.arrived_bytes += len(data)
            if self.arrived_bytes < len(self.pending):
                return
            data = self._take_arrived()
        buf = self.pending + data if self.pending else data
        if self.injector.inject is None:
            if len(buf) < SNIFF_BYTES:
                self.pending = buf
                return
            self.injector.inject = bool(DOCUMENT_START_RE.match(buf))
        self.pending = buf[self._scan(buf, final=False) :]

    def _take_arrived(self) -> bytes:
        data = b"".join(self.arrived)
        self.arrived, self.arrived_bytes = [], 0
        return data

    def _end(self) -> None:
        buf = self.pending + self._take_arrived() if self.arrived else self.pending
        if self._decoding:
            buf += self._decode(b"", True)
        if self.injector.inject is None:
            self.injector.inject = bool(DOCUMENT_START_RE.match(buf))
        self.pending = b""
        if buf:  # (most pages leave nothing: no scan)
            end = self._scan(buf, final=True)
            self._emit(buf[end:])
        while self.held is not None:  # unterminated script or style: classify what came
            self._finish_held()
        self.injector.close(self.state != PLAINTEXT and self.banner_last, self._ending())

    def _ending(self) -> bytes:
        """What ends the comment or raw text the page ends in, so that markup put after it
        is markup: a browser ends each at the end of the page (the page reads the same), and
        the banner went into a <textarea>'s text (posted with its form), a comment or a
        <title>, never shown. Not a script: one the page leaves open never runs, and an end
        tag would run it."""
        if self.state == TEXT and self.text_end != b"script":  # (an XML page's: see _xml_content)
            return b"</" + self.text_end + b">"
        return _ENDINGS.get(self.state, b"")

    def _scan(self, buf: bytes, final: bool) -> int:
        """Process buf as far as possible; return where unprocessed bytes start."""
        pos, n = 0, len(buf)
        emit, foreign, injector = self._emit, self.foreign, self.injector
        while pos < n:
            state = self.state
            if state == DATA:
                if foreign.stack:  # (both skip loops: the same regex there)
                    rx = self.foreign_skips[not foreign.in_foreign_element()]
                    end = rx.match(buf, pos).end()  # type: ignore[union-attr]
                    emit(buf[pos:end])
                else:
                    quiet = (
                        (QUIET_ALL if self.base_free or self._base_settled() else 0)
                        | QUIET_KEYED
                        | QUIET_FOREIGN
                        if injector.head_done or not injector.inject
                        else 0
                    )
                    neutraliser, opener = self.neutraliser, self.opener
                    # The run goes straight out (most runs: its long stretches not copied),
                    # or piece by piece through _emit.
                    direct = self.held is None and injector.hold is None
                    out: list[Buffer] = injector.out if direct else []
                    limit = n if opener is None else self._needle_at  # (found for this buf)
                    if opener is not None and (self._needle_in is not buf or limit < pos):
                        limit = self._next_needle(buf, pos)
                    end = self.skip(
                        buf,
                        pos,
                        quiet,
                        neutraliser.settled,
                        neutraliser.unknown_hosts,
                        neutraliser.element_memo,
                        neutraliser.choice,
                        neutraliser.tag_memo if self.base_free and neutraliser.one_mark else None,
                        out,
                        neutraliser.mark_attr,
                        neutraliser.blocked,
                        limit,
                        direct,
                        neutraliser.endpoint_word,
                    )
                    wait = False
                    if opener is not None and end > pos:
                        if self._needle_at < end:  # (most runs end before the next needle)
                            cut = self._open_candidate(buf, pos, end)
                            if cut < end:  # (the skip wrote past cut the run's plain end)
                                out[-1] = memoryview(out[-1])[: cut - end]
                                end = cut
                    elif (
                        quiet & QUIET_FOREIGN
                        and not final
                        and self.script_data is not None  # (the C loop)
                        and end + 1 < n
                        and buf[end + 1] | 0x20 in b"ms"  # (most stops are no <svg>)
                        and _root_unclosed(buf, end)
                    ):
                        # an <svg>/<math> the C loop may step over whole once it has closed
                        wait = True  # (wait for more)
                    if not direct:  # (no spans: bytes each)
                        for piece in out:
                            self._emit(bytes(piece))
                    if wait:
                        return end
                pos = end
                if pos >= n:
                    break
                if not foreign.stack:  # most pages' two stops, spelled plainly, as _markup
                    if (  # takes them (it reads their bytes again, asks the opener of <head>)
                        not injector.head_done
                        and injector.inject
                        and buf.startswith(b"<head>", pos)
                        and (self.opener is None or self._needle_at >= pos + 6)
                    ):  # (the guard goes right after it)
                        self._emit(b"<head>")
                        self._emit(injector.head)
                        injector.head_done = True
                        pos += 6
                        continue
                    if buf.startswith(b"</body>", pos):  # (the banner may wait there)
                        self._body_end_tag(b"</body>")
                        pos += 7
                        continue
                step = self._markup(buf, pos, final)
                if step < 0:
                    return pos  # incomplete: wait for more
                pos = step
            elif state in _SECTION_ENDS:
                closer, keep = _SECTION_ENDS[state]
                m = closer.search(buf, pos)
                if m is None:
                    keep = 0 if final else keep
                    emit(buf[pos : max(pos, n - keep)])
                    return max(pos, n - keep)
                emit(buf[pos : m.end()])
                pos = m.end()
                self.state = DATA
            elif state == TEXT and self.xml:
                pos = self._xml_content(buf, pos, final)
                if self.state == TEXT:
                    return pos
            elif state == TEXT:
                at = end_tag(buf, self.text_end, pos, n)
                if at < 0:
                    cut = n if final else max(pos, n - max(11, len(self.text_end) + 2))
                    emit(buf[pos:cut])
                    return cut
                emit(buf[pos:at])
                pos = at
                self._end_text()
            elif state == SCRIPT:
                pos = self._script(buf, pos, final)
                if self.state == SCRIPT:
                    return pos
            elif state == SUBSET:
                pos = self._subset(buf, pos, final)
                if self.state == SUBSET:
                    return pos
            else:  # PLAINTEXT: nothing after it is markup
                emit(buf[pos:])
                return n
        return pos

    def _markup(self, buf: bytes, pos: int, final: bool) -> int:
        """Handle the markup at buf[pos] == '<' that the skip regex stopped at.
        Returns the new position, or -1 if more bytes are needed."""
        n = len(buf)
        if self.xml and buf[pos + 1 : pos + 2] in (b"?", b"!"):
            step = self._xml_markup(buf, pos, final)
            if step is not None:
                return step
        if buf.startswith(b"<!--", pos):
            if pos + 6 > n and not final:
                return -1
            self.state = COMMENT
            self._emit(buf[pos : pos + 4])
            abrupt = re.match(rb"-?>", buf[pos + 4 : pos + 6])
            if abrupt:
                self._emit(abrupt.group())
                self.state = DATA
                return pos + 4 + abrupt.end()
            return pos + 4
        if buf.startswith(b"<![", pos) and (self.xml or self.foreign.cdata_allowed()):
            if (
                not final
                and CDATA_OPEN.startswith(buf[pos : pos + len(CDATA_OPEN)])
                and (n - pos < len(CDATA_OPEN))
            ):
                return -1
            if buf.startswith(CDATA_OPEN, pos):
                self.state = CDATA
                self._emit(CDATA_OPEN)
                return pos + len(CDATA_OPEN)
        span = self.tag_span(buf, pos)
        name_start = self.xml and XML_NAME_START_RE.match(buf, pos) is not None
        if span is None:
            if not final and n - pos < MAX_TAG and (name_start or _may_be_tag(buf, pos)):
                return -1
            if pos + 1 < n and buf[pos + 1] in b"!?/":
                self.state = BOGUS  # unterminated bogus comment: passes through as is
                self._emit(buf[pos : pos + 2])
                return pos + 2
            if buf[pos + 1 : pos + 2].isalpha() or name_start:
                # A start tag that does not end in buf (at the page's end, or over MAX_TAG):
                # to a browser, all up to its end is inside it, and its end is at the next
                # '>' or after. Passed through up to that '>': read again from each '<' in
                # it, to the end of buf, a hostile megabyte of it took minutes. Made inert
                # where its end is not the page's, the banner's markup's then (unended).
                gt = buf.find(b">", pos)
                end = n if gt < 0 else gt + 1
                tag = buf[pos:end]
                self._emit(unended(tag) if not final or self.injector.ends_page() else tag)
                return end
            self._emit(buf[pos : pos + 1])
            return pos + 1
        start, stop, end = span
        tag, name = buf[pos:end], buf[start:stop].lower()
        if tag[1] == 0x2F:  # '/': </body>, or any end tag in foreign content
            self.foreign.end_tag(name)
            self._end_svg_script()
            if name == b"body" or (name == b"html" and self.xml and self.injector.hold is None):
                self._body_end_tag(tag)  # (</html>: XML_SKIP_RE's, with no </body> before)
            else:
                self._emit(tag)
            return end
        if self.xml and b":" in name:
            self._prefixed_start_tag(name, tag)
        else:
            self._start_tag(name, tag)
        return end

    def _xml_markup(self, buf: bytes, pos: int, final: bool) -> int | None:
        """An XML document's instruction or DOCTYPE at pos, read as XML reads it (None: it is
        neither; -1: more bytes are needed). Read as bogus comments, up to their first '>',
        `<?a><!-- ?>` or `<!DOCTYPE x [<!ENTITY e "><!--">]>` hid what followed (a <script>,
        an <?xml-stylesheet?>) in a comment the browser never saw."""
        n = len(buf)
        if STYLESHEET_TARGET.startswith(buf[pos : pos + len(STYLESHEET_TARGET)]):
            end = buf.find(b"?>", pos)
            if end < 0 and not final and n - pos < MAX_TAG:
                return -1
            if end >= 0:  # (longer, or cut short: unjudged, as any other below)
                self._emit(self.neutraliser.stylesheet_instruction(buf[pos : end + 2]))
                return end + 2
        if buf.startswith(b"<?", pos):  # one the skip loop found no end of: up to its '?>'
            self._emit(b"<?")
            self.state = INSTRUCTION
            return pos + 2
        if not DOCTYPE_OPEN.startswith(buf[pos : pos + len(DOCTYPE_OPEN)]):
            return None
        head = XML_DOCTYPE_RE.match(buf, pos)
        if head is None:
            if not final and n - pos < MAX_TAG:
                return -1
            self._emit(XML_ERROR)  # (unended, or over MAX_TAG: not followed)
            self.state = PLAINTEXT
            return pos
        self._emit(head.group())
        if buf[head.end() - 1] == 0x5B:  # '['
            self.state = SUBSET
        return head.end()

    def _subset(self, buf: bytes, pos: int, final: bool) -> int:
        """A DOCTYPE's internal subset, item by item, to its ']>' (each style sheet
        instruction, entity and attribute-list declaration in it judged: Chromium loads the
        ones, expands or applies the others). An item not read (over MAX_TAG, or none, XML's
        error) gets XML_ERROR before it: past it the browser reads nothing."""
        n, neutraliser = len(buf), self.neutraliser
        while (item := XML_SUBSET_ITEM_RE.match(buf, pos)) is not None:
            text = item.group()
            if item.group(1) is not None and text.startswith(STYLESHEET_TARGET):
                text = neutraliser.stylesheet_instruction(text)
            else:
                text = neutraliser.dtd_declaration(text)
            self._emit(text)
            pos = item.end()
        end = XML_SUBSET_END_RE.match(buf, pos)
        if end is not None:
            self._emit(end.group())
            self.state = DATA
            return end.end()
        if final or n - pos >= MAX_TAG:
            self._emit(XML_ERROR)
            self.state = PLAINTEXT
        return pos

    def _next_needle(self, buf: bytes, pos: int) -> int:
        """Where the opener's next needle is in buf from pos (len(buf): none): the skip loop
        applies no edit past it (see Output in _skip.c). Looked for once per needle: _scan
        asks only when the one found last is in another buffer or behind pos."""
        assert self.opener is not None
        self._needle_in = buf
        self._needle_at = self.opener.find(buf, pos, len(buf)) % (len(buf) + 1)
        return self._needle_at

    def _open_candidate(self, buf: bytes, pos: int, end: int) -> int:
        """Where, in the run [pos, end) the skip loop steps over, the first start tag holding
        a needle of banner.open_selectors is (else end): stepped to tag by tag from the
        needle's run, raw text and RCDATA jumped over as the tokenizer does, a script or an
        <svg>/<math> ending it. Asked right after _next_needle(buf, pos), when that needle
        is in the run."""
        assert self.opener is not None
        find = self.opener.find
        found = find(buf, pos, end)
        while found != -1:
            q = BETWEEN_TAGS_RE.match(buf, pos, end).end()  # type: ignore[union-attr]
            if q > found:  # the needle was in text or a comment
                pos = q
            else:
                tag = TAG_RE.match(buf, q, end)
                if tag is None or tag.end() > found:
                    return q
                pos = tag.end()
                name = tag.group(1).lower()
                if name in ROOTS or name == b"script":  # stepped over by the C loop: the
                    return q  # tree builder's stack or script data must be followed
                if name in TEXT_ELEMENTS:
                    closing = end_tag(buf, name, pos, end)
                    pos = closing if closing >= 0 else end
            if found < pos:
                found = find(buf, pos, end)
        return end

    def _start_tag(self, name: bytes, tag: bytes) -> None:
        fill, page_tag = False, tag
        if self.opener is not None:
            tag, fill = self.opener.mark(name, tag)
        if name not in _INTERESTING and not self.foreign.stack:  # here for its style only
            self._emit(self.neutraliser.start_tag(name, tag))
            if fill and name not in TEXT_ELEMENTS and name not in VOID_ELEMENTS:
                self._emit(self.declaration)
            return
        if self._guard_due():
            if name == b"head":
                self._emit(tag)
                self._emit(self.injector.head)
                return
            self._emit(self.injector.head)
        neutraliser = self.neutraliser
        depth, html, stack = 0, True, self.foreign.stack
        if stack or name in ROOTS:  # (HTML content: only <svg>/<math> change anything)
            depth = len(stack)
            html = self.foreign.start_tag(name, tag)
            self._end_svg_script()  # a breakout may have closed it
        # In XML a '/>' ends the element: no script data nor text follows.
        closed = self.xml and html and self_closing(tag, name)
        if name == b"script":
            markup = self.xml and html and not closed  # (its content is markup: held too)
            if markup:
                self.state, self.text_end, self.text_depth = TEXT, name, 0
            elif html and not closed:
                self.state, self.script_sub = SCRIPT, S_PLAIN
            if closed or not neutraliser.script_is_inline_js(tag):
                out = neutraliser.start_tag(name, tag)
                if markup:
                    self._hold(out, self._read_as_xml(_as_it_is))
                    return
                if out is page_tag and html and not closed:
                    neutraliser.keep_data_block(out)
                self._emit(out)
            elif self.held is not None and self.held.script:  # inside a held SVG script:
                self._emit(tag)  # its text is the outer one's too, and so is the verdict
                if self.held is not None:
                    self.held.mark_inner()
            else:
                rewrite = self._read_as_xml(self._inline_script) if markup else self._inline_script
                held = self._hold(tag, rewrite)
                held.page_tag = tag is page_tag
                if not html:  # an SVG script: its text is markup, held until it closes
                    held.svg_depth = depth + 1
                    self._end_svg_script()  # self-closing: nothing to wait for
            return
        tag = neutraliser.start_tag(name, tag)  # (any tag may have a style attribute)
        if name == b"base":
            self.base_free = neutraliser.base is None
        if name == b"style" and not closed:
            if html:
                rewrite = neutraliser.style_element
                held = self._hold(tag, self._read_as_xml(rewrite) if self.xml else rewrite, False)
                held.page_tag = tag is page_tag
            elif self.xml:  # an SVG style in XML: to its end tag, as XML reads it (no
                # HTML breakout: `<b>` in it is no end of it, and no text of it: helper-252)
                self._hold(tag, self._read_as_xml(neutraliser.style_element), script=False)
                self.state, self.text_end, self.text_depth = TEXT, name, 0
            else:  # an SVG/MathML style: its text is markup too, held until it closes
                stack = list(self.foreign.stack)
                self._hold(tag, self._foreign_style(stack), script=False).svg_depth = depth + 1
                self._end_svg_script()  # self-closing: nothing to wait for
        else:
            self._emit(tag)
        if not html or closed:
            return
        if self.xml and name != b"style":
            return  # (in XML a <title>'s, a <noframes>'s content is markup: its pixel loads)
        if name in TEXT_ELEMENTS:
            self.state, self.text_end, self.text_depth = TEXT, name, 0
        elif name == b"plaintext":
            self.state = PLAINTEXT

    def _guard_due(self) -> bool:
        """Whether the guard goes with this interesting start tag (the first: before it, or
        right after a <head>); the caller places it."""
        injector = self.injector
        if injector.head_done or not injector.inject:
            return False
        injector.head_done = True
        return True

    def _prefixed_start_tag(self, name: bytes, tag: bytes) -> None:
        """An XML document's prefixed start tag (<h:script src>, <s:image href>): of the
        XHTML or SVG namespace, Chromium loads what its local name loads (helper-235: Google
        Analytics and the pixel loaded). Neutralised as that name, its prefix kept; a <style>'s
        text is judged as CSS; nothing else follows from it (its content is markup to the
        scanner: a prefixed inline script's text goes unjudged, a prefixed <svg> opens no
        foreign content)."""
        cut = name.index(b":") + 1
        local, bare = name[cut:], b"<" + tag[1 + cut :]
        head = local in _INTERESTING and self._guard_due()
        if head and local != b"head":
            self._emit(self.injector.head)
        out = self.neutraliser.start_tag(local, bare)
        if local == b"base":
            self.base_free = self.neutraliser.base is None
        out = tag if out is bare else tag[: 1 + cut] + out[1:]
        if local == b"style" and not self_closing(tag, name):  # its text judged as CSS
            style_element = self.neutraliser.style_element

            def style(held: bytes, text: bytes) -> tuple[bytes, bytes]:
                edited, css = style_element(b"<" + held[1 + cut :], text)
                return held[: 1 + cut] + edited[1:], css

            self._hold(out, self._read_as_xml(style), script=False)
            self.state, self.text_end, self.text_depth = TEXT, name, 0
        else:
            self._emit(out)
        if head and local == b"head":
            self._emit(self.injector.head)

    def _base_settled(self) -> bool:
        """Whether the page's <base> names a host settled on this choice (what the C loop
        asks of a URL's host): every relative URL goes there, and loads."""
        neutraliser = self.neutraliser
        assert neutraliser.base is not None
        host = neutraliser.base[0]
        reported = neutraliser.settled.get(host.encode("ascii", "replace"))
        return reported is False or (reported is True and host in neutraliser.unknown_hosts)

    # --- script data -------------------------------------------------------------------

    def _script(self, buf: bytes, pos: int, final: bool) -> int:
        """Consume script text up to its real end tag, following the spec's escape
        states so '<!-- <script> </script> -->' inside a script does not end it."""
        n, held = len(buf), self.held
        if self.script_data is not None and (held is None or held.size + n - pos <= MAX_HELD_TEXT):
            stop, self.script_sub, ended = self.script_data(buf, pos, self.script_sub)
            cut = stop if ended else n if final else max(stop, n - 9)
            self._emit(buf[pos:cut])  # (held text past MAX_HELD_TEXT: token by token, below)
            if ended:
                self._end_text()
            return cut
        while True:
            m = _script_token(buf, pos)
            if m is None:
                cut = n if final else max(pos, n - 9)
                self._emit(buf[pos:cut])
                return cut
            tok, sub = m.group(), self.script_sub
            if tok == b"<!--":
                if sub == S_PLAIN:
                    self.script_sub = S_ESCAPED
                self._emit(buf[pos : m.start() + 2])
                pos = m.start() + 2  # '<!-->' closes at once: let '-->' be seen
                continue
            if tok == b"-->":
                if sub != S_PLAIN:
                    self.script_sub = S_PLAIN
            elif m.group(1):  # </script
                if sub == S_DOUBLE:
                    self.script_sub = S_ESCAPED
                else:
                    self._emit(buf[pos : m.start()])
                    self._end_text()
                    return m.start()
            elif sub == S_ESCAPED:  # <script inside an escaped section
                self.script_sub = S_DOUBLE
            self._emit(buf[pos : m.end()])
            pos = m.end()

    def _xml_content(self, buf: bytes, pos: int, final: bool) -> int:
        """In XML a script's or style's content up to its end tag, read as XML reads it
        (an end tag in a comment or CDATA section is none, nor one closing an element of
        its name inside it); held, _read_as_xml reads it at the end. A token not ended in
        buf waits (MAX_TAG at most: then its '<' passes as text; text need not wait, the
        held content is read whole)."""
        n, name, start = len(buf), self.text_end, pos
        skip = _xml_content_skip(name)
        while (pos := skip.match(buf, pos).end()) < n:  # type: ignore[union-attr]
            m = _XML_CONTENT_TOKEN_RE.match(buf, pos)
            if m is None:
                if not final and n - pos < MAX_TAG and _may_be_xml_token(buf[pos : pos + 9]):
                    break
                pos += 1  # (a lone '<': XML's error, or a token over MAX_TAG)
                continue
            if m.group(3) is not None and m.group(3).lower() == name and not m.group(4):
                if not m.group(2):
                    self.text_depth += 1
                elif self.text_depth:
                    self.text_depth -= 1
                else:
                    self._emit(buf[start:pos])
                    self._end_text()
                    return pos
            pos = m.end()
        self._emit(buf[start:pos])
        return pos

    def _read_as_xml(self, rewrite: Rewrite) -> Rewrite:
        """rewrite for an XML script's or style's content (_xml_content): judged on its
        text as XML gives it (CDATA sections' content, references read, the rest no
        text), its markup rewritten as a page's (its elements load); where rewrite edits
        that text (a style's URLs made inert), the content is that text, its markup gone."""

        def read(tag: bytes, content: bytes) -> tuple[bytes, bytes]:
            if b"<" not in content and b"&" not in content:
                return rewrite(tag, content)
            text = _xml_text(content)
            edited, out = rewrite(tag, text)
            if out != text:
                return edited, out.replace(b"&", b"&amp;").replace(b"<", b"&lt;")
            if self.content_depth >= MAX_NESTED_CONTENT:
                return edited, XML_ERROR + content  # (Chromium reads nothing past it)
            inner = HtmlRewriter(self.neutraliser, b"", False, content_type=XML_TYPE)
            inner.content_depth = self.content_depth + 1
            return edited, inner.feed(content) + inner.close()

        return read

    # --- held elements: inline scripts and <style> -----------------------------------

    def _hold(self, tag: bytes, rewrite: Rewrite, script: bool = True) -> HeldElement:
        if self.held is not None:
            self.outer.append(self.held)
        self.held = HeldElement(tag, rewrite, script)
        return self.held

    def _inline_script(self, tag: bytes, text: bytes) -> tuple[bytes, bytes]:
        return self.neutraliser.inline_script(tag, text), text

    def _foreign_style(self, stack: list[tuple[bytes, int, int]]) -> Rewrite:
        """The rewrite of an SVG/MathML <style> opened with this stack of open elements: if
        its stylesheet loads a blocked service, its content becomes that stylesheet with
        those URLs made inert, as markup."""

        def rewrite(tag: bytes, content: bytes) -> tuple[bytes, bytes]:
            css = foreign_style_sheet(content, stack).encode("latin-1")
            out = self.neutraliser.style_sheet(tag, css) if style_may_load(css) else None
            if out is None:
                return tag, content
            return out[0], out[1].replace(b"&", b"&amp;").replace(b"<", b"&lt;")

        return rewrite

    def _end_text(self) -> None:
        """The end of script data or raw text (an HTML element's: an SVG script held
        around it ends with the tree builder's element, see _end_svg_script)."""
        if self.held is not None and not self.held.svg_depth:
            self._finish_held()
        self.state = DATA

    def _end_svg_script(self) -> None:
        """Classify a held SVG script or style once the tree builder has closed it."""
        held = self.held
        while held is not None and held.svg_depth and len(self.foreign.stack) < held.svg_depth:
            self._finish_held()
            held = self.held

    def _finish_held(self) -> None:
        held = self.held
        assert held is not None
        self.held = self.outer.pop() if self.outer else None
        edited, text = held.finish(self._inline_script)
        if held.page_tag and not held.svg_depth and not held.inner:
            self.neutraliser.remember_element(held.tag, text, edited is held.tag, not held.script)
        self._emit(edited)
        self._emit(text)


_INTERESTING = frozenset(INTERESTING)
_XML_TAG_START_RE = re.compile(rb"</?(?:[^\t\n\r !/>?]|\Z)")


def _may_be_xml_token(head: bytes) -> bool:
    """Whether what starts with head (a '<' and up to 8 bytes after it) may be a token of
    _XML_CONTENT_TOKEN_RE once more bytes come."""
    return (
        head.startswith((b"<!--", CDATA_OPEN, b"<?"))
        or b"<!--".startswith(head)
        or CDATA_OPEN.startswith(head)
        or _XML_TAG_START_RE.match(head) is not None
    )


def _as_it_is(tag: bytes, text: bytes) -> tuple[bytes, bytes]:
    return tag, text


def _xml_text(content: bytes) -> bytes:
    """A script's or style's text as Chromium reads it in XML: its own text children only
    (CDATA sections' content and the text between tags, references read), not its child
    elements' (`google-an<b>x</b>alytics.com` is GA's host to it: helper-252); comments,
    instructions and tags none."""
    parts, depth = [], 0
    for m in _XML_CONTENT_TOKEN_RE.finditer(content):
        if m.group(3) is not None:  # a tag: an end tag closes, a start tag not empty opens
            depth += -1 if m.group(2) else 0 if m.group(4) else 1
        elif depth == 0 and m.group(1) is not None:  # a CDATA section's content
            parts.append(m.group(1))
        elif depth == 0 and m.group()[:1] != b"<":  # text (not a comment or instruction)
            parts.append(m.group())
    text = b"".join(parts)
    return xml_references(text.decode("utf-8", "surrogateescape")).encode(
        "utf-8", "surrogateescape"
    )


# Elements without content: nothing can be filled into them.
VOID_ELEMENTS = frozenset(
    (
        b"area",
        b"base",
        b"br",
        b"col",
        b"embed",
        b"hr",
        b"img",
        b"input",
        b"keygen",
        b"link",
        b"meta",
        b"param",
        b"source",
        b"track",
        b"wbr",
    )
)
# The content of a foreign <style>, one token at a time: a comment, a CDATA section
# (group 1), a tag, a bogus comment, text.
_FOREIGN_TOKEN_RE = re.compile(
    rb"<!--(?:-?>|(?s:.*?)(?:--!?>|\Z))|<!\[CDATA\[((?s:.*?))(?:]]>|\Z)|"
    + TAG_RE.pattern
    + rb"|<[!?/][^>]*+>?|[^<]++|<"
)
_CHAR_REF_RE = re.compile(r"&(?:#[xX][0-9a-fA-F]*|#[0-9]*|[A-Za-z0-9]+);?")


def foreign_style_sheet(content: bytes, stack: list[tuple[bytes, int, int]]) -> str:
    """The stylesheet of a foreign <style> whose content is this markup: the text of its
    child text nodes (character references decoded, CDATA sections' text as is, comments
    and child elements left out), read as latin-1 with the decoded references in UTF-8.
    stack: the stack of open elements, this <style> on top."""
    foreign = ForeignContent()
    foreign.stack = list(stack)
    style, pos, n = stack[-1], 0, len(content)
    sheet: list[str] = []
    while pos < n:
        m = _FOREIGN_TOKEN_RE.match(content, pos)
        assert m is not None
        token, pos = m.group(), m.end()
        if m.group(1) is not None and not foreign.cdata_allowed():  # a bogus comment
            pos = content.find(b">", m.start()) + 1 or n
        elif m.group(2) is not None:  # a tag
            if token[1] == 0x2F:
                foreign.end_tag(m.group(2).lower())
            else:
                foreign.start_tag(m.group(2).lower(), token)
            if not any(open_ is style for open_ in foreign.stack):
                break  # the <style> is closed: the scanner ends the hold here
        elif foreign.stack[-1] is style:
            if m.group(1) is not None:
                sheet.append(m.group(1).decode("latin-1"))
            elif token[0] != 0x3C or token == b"<":
                sheet.append(_CHAR_REF_RE.sub(_char_ref, token.decode("latin-1")))
    return "".join(sheet)


def _char_ref(m: re.Match[str]) -> str:
    return html.unescape(m.group()).encode("utf-8").decode("latin-1")


_SECTION_ENDS = {
    COMMENT: (COMMENT_END_RE, 3),
    BOGUS: (re.compile(rb">"), 0),
    CDATA: (re.compile(rb"]]>"), 2),
    INSTRUCTION: (re.compile(rb"\?>"), 1),
}  # a comment, bogus comment, CDATA or XML instruction: (its end, bytes kept for a split end)
_MAYBE_TAG_RE = re.compile(rb"<(?:[A-Za-z]|/[A-Za-z]?|!-?|\?)?\Z")
_TAG_START_RE = re.compile(rb"</?[A-Za-z]")
XML_NAME_START_RE = re.compile(rb"<[" + _XML_NAME_START + rb"]")  # (XML_TAG_RE's, no letter)


def _script_token(buf: bytes, pos: int) -> re.Match[bytes] | None:
    """SCRIPT_TOKEN_RE.search(buf, pos), tried only at a '<' or a '-->' (bytes.find runs
    at memory speed, the regex's search at ~100 MB/s over script text). Each byte is
    looked at once: a '-->' is searched for only up to the next '<' (none spans one)."""
    while True:
        lt = buf.find(b"<", pos)
        dashes = buf.find(b"-->", pos, len(buf) if lt == -1 else lt)
        if dashes != -1:
            return SCRIPT_TOKEN_RE.match(buf, dashes)
        if lt == -1:
            return None
        m = SCRIPT_TOKEN_RE.match(buf, lt)
        if m is not None:
            return m
        pos = lt + 1


def python_end_tag(buf: bytes, name: bytes, pos: int, end: int) -> int:
    """Where END_TAG_RE[name] first matches in buf[pos:end], or -1: tried only at a "</"
    (bytes.find runs at memory speed, a case-blind regex's search at ~100 MB/s over a long
    stylesheet). The C loop's end_tag does the same in one pass."""
    rx = END_TAG_RE.get(name) or _end_tag_re(re.escape(name))  # (or a prefixed <style>)
    while (lt := buf.find(b"</", pos, end)) != -1:
        if rx.match(buf, lt, end):
            return lt
        pos = lt + 1
    return -1


def python_tag_span(buf: bytes, pos: int) -> tuple[int, int, int] | None:
    """TAG_RE.match(buf, pos) as (the start of the tag's name, its end, the end of the tag),
    or None. The C loop's tag_span (TAG_SPAN) reads the same tag ~5x faster."""
    m = TAG_RE.match(buf, pos)
    return None if m is None else (m.start(1), m.end(1), m.end())


def xml_tag_span(buf: bytes, pos: int) -> tuple[int, int, int] | None:
    """python_tag_span with XML's names (XML_TAG_RE)."""
    m = XML_TAG_RE.match(buf, pos)
    return None if m is None else (m.start(1), m.end(1), m.end())


# What a rewriter takes with its skip loop, looked up once: (SCRIPT_DATA's, TAG_SPAN's).
SKIP_TOOLS = {
    skip: (SCRIPT_DATA.get(skip), TAG_SPAN.get(skip, python_tag_span)) for skip in SKIPS.values()
}
_PYTHON_TOOLS = (None, python_tag_span)  # (a skip loop of a test's own)


end_tag: Callable[[bytes, bytes, int, int], int] = python_end_tag
try:  # the same search in C, at memory speed
    from consentproxy.rewrite._skip import end_tag as c_end_tag

    end_tag = c_end_tag
except ImportError:  # built without a compiler
    pass

_ROOT_RE = re.compile(rb"<((?i:" + b"|".join(ROOTS) + rb"))(?=[\t\n\f\r />])")
MAX_FOREIGN_WAIT = 64 * 1024  # an <svg>/<math> held this long is followed tag by tag


def _root_unclosed(buf: bytes, pos: int) -> bool:
    """Whether buf[pos:] opens an <svg> or <math>, less than MAX_FOREIGN_WAIT long so far,
    whose end tag is not in buf yet (an icon sprite cut by a chunk's end)."""
    m = _ROOT_RE.match(buf, pos)
    if m is None or len(buf) - pos > MAX_FOREIGN_WAIT:
        return False
    return end_tag(buf, m.group(1).lower(), m.end(), len(buf)) < 0


def _may_be_tag(buf: bytes, pos: int) -> bool:
    """Whether the unmatched markup at pos could still become a tag with more bytes."""
    return bool(_MAYBE_TAG_RE.match(buf, pos) or _TAG_START_RE.match(buf, pos))
