"""Which tags the tree builder treats as HTML once <svg> or <math> is open.

Inside SVG and MathML ("foreign content", HTML spec 13.2.6.5) <style>, <xmp>, <title>,
<textarea>... hold markup instead of text, an SVG <script> holds markup, and
<![CDATA[ opens a real CDATA section; an HTML tag such as <img> breaks back out and
loads. The tokenizer does not know any of this: the tree builder decides from its stack
of open elements. So does this model, from the first <svg>/<math> to the end tag or
breakout that closes it; outside it, everything is HTML (the scanner's fast path).

Simplified: HTML elements opened inside an integration point (<foreignObject>, <desc>,
<mi>...) follow the "in body" insertion mode's general rules only (pushed unless void,
block start tags close a <p>, end tags stop at scope boundaries and special elements):
no implied end tags, table modes and foster-parenting, or adoption agency. Where that
differs, the model mostly keeps foreign content open longer, where the scanner sees
every tag. Not known at all: the HTML elements open around the outermost <svg>/<math>,
so an end tag is assumed not to close one (`<a><svg></a>` closes the <svg> with the
<a>; the model keeps it open until </svg> or a tag that breaks out). A comment or CDATA
section that the browser does not see as one can then hide a tag: CSP enforce is the
layer for that (README, "What is guaranteed").
"""

from __future__ import annotations

from consentproxy.rewrite.tag import Attributes

HTML, SVG, MATHML = range(3)

# Start tags that close foreign content back to HTML (and <font> with one of FONT_ATTRS).
BREAKOUT = frozenset(
    b"b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head "
    b"hr i img li listing menu meta nobr ol p pre ruby s small span strong strike sub sup "
    b"table tt u ul var".split()
)
FONT_ATTRS = (b"color", b"face", b"size")
# HTML start tags that leave nothing open in the "in body" insertion mode: void elements,
# and those that mode ignores or merges into an open element.
NOT_PUSHED = frozenset(
    b"area base basefont bgsound br col embed frame hr image img input keygen link meta "
    b"param source track wbr caption colgroup head tbody td tfoot th thead tr html body "
    b"frameset".split()
)
# HTML elements that end tags of other names do not close, scope boundaries among them,
# and the start tags that close an open <p> first.
SPECIAL = frozenset(
    b"address applet area article aside base basefont bgsound blockquote body br button "
    b"caption center col colgroup dd details dir div dl dt embed fieldset figcaption figure "
    b"footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html iframe img "
    b"input keygen li link listing main marquee menu meta nav noembed noframes noscript "
    b"object ol p param plaintext pre script search section select source style summary "
    b"table tbody td template textarea tfoot th thead title tr track ul wbr xmp".split()
)
SCOPE = frozenset(b"applet caption html table td th marquee object template".split())
CLOSES_P = frozenset(
    b"address article aside blockquote center details dialog dir div dl fieldset "
    b"figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr listing main menu "
    b"nav ol p plaintext pre search section summary ul xmp".split()
)
HTML_INTEGRATION = {SVG: frozenset({b"foreignobject", b"desc", b"title"})}
MATHML_TEXT = frozenset({b"mi", b"mo", b"mn", b"ms", b"mtext"})
# SVG and MathML elements that load nothing (no URL attribute the neutraliser reads), break
# nothing out and hold no raw text or script: an <svg>/<math> made of these alone (text in
# its integration points, no style that may load) the C skip loop steps over whole.
INERT = tuple(
    b"svg g path use symbol title desc rect circle ellipse line polyline polygon defs "
    b"clippath mask pattern lineargradient radialgradient stop text tspan marker filter "
    b"fegaussianblur feoffset fecolormatrix feblend fecomposite feflood femerge femergenode "
    b"fefuncr fefuncg fefuncb fefunca "
    b"math mi mo mn ms mtext mrow msub msup msubsup mfrac msqrt mroot mstyle mspace mtable "
    b"mtr mtd munder mover munderover semantics annotation mpadded mphantom".split()
)
_HTML_ENCODINGS = ("text/html", "application/xhtml+xml")

# What an open element is to the tree builder; from BOUNDARY on, a scope boundary.
PLAIN, SPECIAL_KIND, BOUNDARY, HTML_POINT, TEXT_POINT = range(5)
# Open elements as the stack holds them, one object each: `<svg><style>` and a million
# `<a>` made a million tuples and names (313 MB for a 6 MB page); now a million pointers
# to one. Bounded (distinct names are the page's to choose).
_ENTRIES: dict[tuple[bytes, int, int], tuple[bytes, int, int]] = {}
MAX_ENTRIES = 4096


def _entry(name: bytes, ns: int, kind: int) -> tuple[bytes, int, int]:
    key = (name, ns, kind)
    entry = _ENTRIES.get(key)
    if entry is None:
        entry = key
        if len(_ENTRIES) < MAX_ENTRIES:
            _ENTRIES[key] = key
    return entry


class ForeignContent:
    """The stack of open elements from the outermost <svg>/<math>: (name, namespace,
    kind) each. Empty: HTML content, where only <svg>/<math> change anything."""

    __slots__ = ("stack",)

    def __init__(self) -> None:
        self.stack: list[tuple[bytes, int, int]] = []

    def in_foreign_element(self) -> bool:
        """The current node is SVG/MathML, no integration point: start tags are foreign
        unless they break out."""
        stack = self.stack
        return bool(stack) and stack[-1][1] != HTML and stack[-1][2] < HTML_POINT

    def cdata_allowed(self) -> bool:
        """<![CDATA[ opens a CDATA section (else a bogus comment): current node foreign."""
        return bool(self.stack) and self.stack[-1][1] != HTML

    def start_tag(self, name: bytes, tag: bytes) -> bool:
        """Update the stack for a start tag; True if it is an HTML element (raw text,
        script data and plaintext apply), False if it is foreign."""
        stack = self.stack
        if stack and not self._html_start(name):
            if not (name in BREAKOUT or name == b"font" and _has_any(tag, name, FONT_ATTRS)):
                ns = stack[-1][1]
                if not self_closing(tag, name):
                    stack.append(_entry(name, ns, _kind(name, ns, tag)))
                return False
            self._pop_to_html()
        if name in (b"svg", b"math"):
            if not self_closing(tag, name):
                stack.append(_entry(name, SVG if name == b"svg" else MATHML, PLAIN))
            return True
        if stack and name in CLOSES_P:
            self._close_p()
        if stack and name not in NOT_PUSHED:
            kind = BOUNDARY if name in SCOPE else SPECIAL_KIND if name in SPECIAL else PLAIN
            stack.append(_entry(name, HTML, kind))
        return True

    def _pop_to_html(self) -> None:
        """A breakout: pop foreign elements down to HTML or an integration point."""
        while self.in_foreign_element():
            self.stack.pop()

    def _close_p(self) -> None:
        """ "close a p element" if one is in button scope."""
        stack = self.stack
        for i in range(len(stack) - 1, -1, -1):
            el_name, ns, kind = stack[i]
            if ns == HTML and el_name == b"p":
                del stack[i:]
                return
            if kind >= BOUNDARY or ns == HTML and el_name == b"button":
                return

    def _html_start(self, name: bytes) -> bool:
        """The tree construction dispatcher, for a start tag: HTML rules apply."""
        top_name, ns, kind = self.stack[-1]
        return (
            ns == HTML
            or kind == HTML_POINT
            or kind == TEXT_POINT
            and name not in (b"mglyph", b"malignmark")
            or top_name == b"annotation-xml"
            and ns == MATHML
            and name == b"svg"
        )

    def end_tag(self, name: bytes) -> None:
        """Pop what an end tag closes (spec: "any other end tag" in foreign content, and
        </p> or </br>, which break out)."""
        stack = self.stack
        if not stack or stack[-1][1] == HTML:
            self._html_end(name)
            return
        if name in (b"p", b"br"):
            self._pop_to_html()
            self._html_end(name)
            return
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][1] == HTML:
                self._html_end(name)
                return
            if stack[i][0] == name:
                del stack[i:]
                return

    def _html_end(self, name: bytes) -> None:
        """An end tag in HTML rules: it closes the nearest open HTML element of its name,
        unless a scope boundary (an integration point...) comes first, or, for a name
        that is not special, any special element."""
        stack = self.stack
        for i in range(len(stack) - 1, -1, -1):
            el_name, ns, kind = stack[i]
            if ns == HTML and el_name == name:
                del stack[i:]
                return
            if kind >= BOUNDARY or kind == SPECIAL_KIND and name not in SPECIAL:
                return


def _kind(name: bytes, ns: int, tag: bytes) -> int:
    if name in HTML_INTEGRATION.get(ns, ()):
        return HTML_POINT
    if ns != MATHML:
        return PLAIN
    if name in MATHML_TEXT:
        return TEXT_POINT
    if name != b"annotation-xml":
        return PLAIN
    encoding = Attributes(tag, len(name) + 1).get(b"encoding") or ""
    return HTML_POINT if encoding.lower() in _HTML_ENCODINGS else BOUNDARY  # still special


def _has_any(tag: bytes, name: bytes, attr_names: tuple[bytes, ...]) -> bool:
    attrs = Attributes(tag, len(name) + 1)
    return any(attrs.get(a) is not None for a in attr_names)


def self_closing(tag: bytes, name: bytes) -> bool:
    """Ends in '/>' where the '/' is no part of an unquoted attribute value (in foreign
    content, and in an XML document, such a tag has no content)."""
    if not tag.endswith(b"/>"):
        return False
    items = Attributes(tag, len(name) + 1).items
    return not items or items[-1].end() < len(tag) - 1
