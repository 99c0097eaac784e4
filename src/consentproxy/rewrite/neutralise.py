"""Tag-level decisions: which start tags load a non-consented service, and the edit.

Neutralising is reversible and minimal: every attribute that would make the browser
fetch a blocked host is renamed to ``data-consent-NAME`` (all duplicates too, since
the browser takes the first), scripts get ``type="text/plain"``, and two markers say
which service and category to wait for. The banner's script restores them in place, only
on elements that carry the response's mark (`data-consent-mark`, random: `new_mark`), so the
page's own markup cannot pass for the proxy's.

Around that: URLs read as the browser's URL parser reads them (`url_target`), event handler
attributes whose code loads a tracker, and what each tag, inline script or <style> became,
remembered on the Policy (`tag_memo`, `settled_hosts`, `element_memo`), which the C loop
reads too.
"""

from __future__ import annotations

import functools
import html
import ipaddress
import json
import os
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from urllib.parse import unquote

import idna

from consentproxy.consent import ConsentState
from consentproxy.cookies import set_cookie_name
from consentproxy.csp import scripts_back_in_place
from consentproxy.domains import MAX_HOST_NAME
from consentproxy.policy import (
    HANDLER_WORDS,
    Blocked,
    Policy,
    TagOutcome,
    all_of,
    data_url_content,
    memo_digest,
)
from consentproxy.rewrite.css import neutralise_css, style_may_load, url_spans
from consentproxy.rewrite.tag import Attributes, StartTag
from consentproxy.settings import Service

# Attributes through which each element fetches something.
URL_ATTRS: dict[bytes, tuple[bytes, ...]] = {
    b"script": (b"src", b"href", b"xlink:href"),
    b"iframe": (b"src",),
    b"frame": (b"src",),
    b"img": (b"src", b"srcset", b"lowsrc", b"dynsrc"),
    b"image": (b"src", b"srcset", b"href", b"xlink:href"),
    b"link": (b"href", b"imagesrcset"),
    b"object": (b"data", b"codebase"),
    b"embed": (b"src",),
    b"source": (b"src", b"srcset"),
    b"video": (b"src", b"poster"),
    b"audio": (b"src",),
    b"track": (b"src",),
    b"input": (b"src",),
    b"applet": (b"code", b"codebase", b"archive"),
    b"feimage": (b"href", b"xlink:href"),
    # SVG animations of an href (ANIMATED_URL: `<image><set attributeName=href to=URL>`
    # loads URL): the values they take, `values` a ';' list.
    b"set": (b"to", b"values", b"from", b"by"),
    b"animate": (b"to", b"values", b"from", b"by"),
    b"base": (b"href",),  # every relative URL after it would go to that host
    b"body": (b"background",),
    b"table": (b"background",),
    b"td": (b"background",),
    b"th": (b"background",),
    b"tr": (b"background",),  # (the other table parts load theirs as well)
    b"thead": (b"background",),
    b"tbody": (b"background",),
    b"tfoot": (b"background",),
    b"col": (b"background",),
    b"colgroup": (b"background",),
    b"a": (b"ping",),  # a click POSTs to each URL listed (hyperlink auditing)
    b"area": (b"ping",),
    b"meta": (),  # http-equiv refresh and Set-Cookie: see Neutraliser._meta_tag
    b"form": (),  # action, a button's formaction: see ENDPOINT_ATTRS
    b"button": (),
}
# Where a form posts (and the <base> relative actions resolve against): never to the
# proxy's own endpoints from the site's markup. A form in a forum comment aimed at
# {prefix}choice recorded "Accept all" on one click, one at {prefix}me/erase erased the
# visitor's records: same-origin posts, which the endpoints' CSRF check lets through.
ENDPOINT_ATTRS = {
    b"form": b"action",
    b"button": b"formaction",
    b"input": b"formaction",
    b"base": b"href",
}
REFUSED_PREFIX = b"data-consent-refused-"  # (never put back: no service, no consent)
ENDPOINT_POSTS = "consent-endpoints"  # what the reports name such a form
# The attributeName with which an SVG animation loads its values (another loads nothing);
# matched in any case, spaces stripped: a spelling Chromium does not take costs a renamed
# attribute, one it takes that went unmatched a request.
ANIMATED_URL = frozenset({"href", "xlink:href"})
# An XML style sheet instruction (its target as XML spells it, case and all), its held
# form, and its pseudo-attributes' href and type values (quoted, as XML reads them).
STYLESHEET_TARGET = b"<?xml-stylesheet"
HELD_STYLESHEET_TARGET = b"<?consent-held-xml-stylesheet"
UNREAD_INSTRUCTION = "xml-stylesheet"  # what reports name one held unread
HELD_XSLT = "xslt"  # and an XSLT one held whatever its URL
# What reports name an XML DOCTYPE's entity or attribute-list declaration held.
HELD_ENTITY = "xml-entity"
HELD_ATTLIST = "xml-attlist"
# The types that make one XSLT in Chromium (ProcessingInstruction::CheckStyleSheet).
XSLT_TYPES = frozenset(
    {
        "text/xsl",
        "text/xml",
        "application/xml",
        "application/xhtml+xml",
        "application/rss+xml",
        "application/atom+xml",
    }
)
# Its data as XML reads it (the xml-stylesheet recommendation's pseudo-attributes, each
# after white space: name, '=', a quoted value of text, character references and the five
# predefined entities, no '<'), up to the '?>' that ends it.
_XML_SPACE = r"[\t\n\r ]"
_XML_VALUE = r"(?:[^{q}<&]|&(?:#[0-9]+|#x[0-9A-Fa-f]+|lt|gt|amp|quot|apos);)*"
PSEUDO_ATTRIBUTE_RE = re.compile(
    rf"""{_XML_SPACE}+(?P<name>[^\t\n\r =<>&'"?/]+){_XML_SPACE}*={_XML_SPACE}*"""
    rf"""(?:"(?P<dq>{_XML_VALUE.format(q='"')})"|'(?P<sq>{_XML_VALUE.format(q="'")})')"""
)
PSEUDO_END_RE = re.compile(rf"{_XML_SPACE}*\?>")
_XML_REFERENCE_RE = re.compile(r"&(#x?)?(\w+);")
_XML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
# Elements whose URL makes a document: a data: or javascript: URL there is markup that runs.
_DOCUMENT_TAGS = frozenset({b"iframe", b"frame", b"object", b"embed"})
# The elements loading an xlink:href: in XML any prefix may be bound to XLink (`<image q:href>`
# with xmlns:q its namespace loaded the pixel: helper-240), so any prefix's href counts.
_XLINK_ELEMENTS = frozenset(n for n, attrs in URL_ATTRS.items() if b"xlink:href" in attrs)
_PREFIXED_HREF = re.compile(rb"(?i):href").search


def held_name(attr: bytes) -> bytes:
    """What a held attribute is renamed: data-consent-NAME, a prefixed one's last ':' made
    '.' (data-consent-xlink.href): a prefix no namespace declares is XML's error, the page
    lost. No unprefixed attribute the proxy renames has a '.': banner.js puts one back as
    PREFIX:href in the namespace its element binds PREFIX to, looked up by its case (XML's
    prefixes are case-sensitive: a Q bound to XLink, lower-cased, was found by none)."""
    prefix, colon, local = attr.rpartition(b":")
    return b"data-consent-" + (prefix + b"." + local.lower() if colon else local.lower())


def _url_attributes(name: bytes, attrs: Attributes) -> Iterable[bytes]:
    """The attributes through which a `name` element fetches something, any prefix's href
    among them."""
    yield from URL_ATTRS.get(name, ())
    if name in _XLINK_ELEMENTS:
        for m in attrs.items:
            attr = m.group(1).lower()
            if attr.endswith(b":href") and attr != b"xlink:href":
                yield attr


JS_TYPES = frozenset(
    {
        "",
        "module",
        "text/javascript",
        "application/javascript",
        "application/ecmascript",
        "application/x-ecmascript",
        "application/x-javascript",
        "text/ecmascript",
        "text/javascript1.0",
        "text/javascript1.1",
        "text/javascript1.2",
        "text/javascript1.3",
        "text/javascript1.4",
        "text/javascript1.5",
        "text/jscript",
        "text/livescript",
        "text/x-ecmascript",
        "text/x-javascript",
    }
)
_SPECIAL_URL_RE = re.compile(
    r"(?:(?P<scheme>[a-z][a-z0-9+.-]*):)?(?P<slashes>[/\\]*)(?P<rest>.*)", re.DOTALL | re.IGNORECASE
)
_SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp"})
_URL_STRIP = str.maketrans("", "", "\t\n\r")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))  # stripped from both ends of a URL
_AUTHORITY_END_RE = re.compile(r"[/\\?#]")
# Without any of these, no attribute of a tag can point to another host (a relative or
# same-origin path): such tags skip attribute parsing. Tabs/newlines inside '//' count.
_MAY_BE_REMOTE_RE = re.compile(rb"[/\\][\t\n\r]*[/\\]|[&:]")
# Path segments the URL parser drops ('.') or pops with the one before ('..').
_DOT_SEGMENTS = frozenset({".", "%2e"})
_DOUBLE_DOT_SEGMENTS = frozenset({"..", ".%2e", "%2e.", "%2e%2e"})
_DOT_SEGMENT_RE = re.compile(r"/(?:\.|%2[eE]){1,2}(?=/|\Z)")  # (one of those, after a '/')
# Percent-escapes of unreserved characters: servers read /%74r as /tr (RFC 3986 6.2.2.2).
_UNRESERVED_ESCAPE_RE = re.compile(r"%(2[dDeE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE])")
# What the proxy writes on each element it neutralises, bound to the response: the banner
# activates only elements carrying its response's mark. Written as this slot (memoised
# tags are shared between responses) and stamped with the response's mark on the way out.
MARK_ATTR = b"data-consent-mark"
MARK_BYTES = 12  # 96 random bits
MARK_SLOT = b' data-consent-mark="\x00"'
_MARK_ATTR_OPEN = b' %s="' % MARK_ATTR  # the slot's stamp: this, the mark, '"'
# A <meta> that may set a CSP (Neutraliser.start_tag reads it; the C loop stops at it)
_POLICY_EQUIV = re.compile(rb"security-policy", re.IGNORECASE).search
# The site's own data-consent-* attributes on an element the proxy neutralises are renamed
# so that none can pass for the proxy's (data-consent-action, the site's "open" link, stays).
_OWN_PREFIX = b"data-consent-"
SITE_PREFIX = b"data-site-consent-"
# An event handler attribute (onclick, onerror...: "on" and letters, its name lowercased) is
# code the element runs: judged as an inline script (Neutraliser._handlers), held only for a
# load no run-time hook holds (Policy.blocked_inline's handler), whose code then holds one of
# policy.HANDLER_WORDS (a load no hook holds, a data: module) and a URL ('/' or ':'), or hides
# them (an escape, a character reference but "&amp;": a '&' and a letter, digit or '#').
# Where its value as the page has it has neither, the skip loops step over it
# (_HANDLER_MAY_LOAD: scanner._UNSTYLED_ATTR reads it in each kind of value, _skip.c's
# handler_may_load does the same).
_HANDLER_NAME_RE = re.compile(rb"on[a-z]+")


def handler_may_load_re(end: bytes) -> bytes:
    """A regex source matching the start of an event handler's value (after its quote, if
    any) that ends at the first of the bytes `end` (a class's body, b"" for none) when the
    value may be code the neutraliser holds (see HANDLER_WORDS). Most values have none of
    '\\', '&', '/' and ':': a possessive run fails them first."""
    char = b"[^%s]" % end if end else rb"[\x00-\xff]"
    words = b"|".join(re.escape(w) for w in HANDLER_WORDS)
    return (
        rb"(?=[^%(e)s\\&/:]*+[\\&/:])"
        rb"(?:%(c)s*?(?:\\|&(?=[0-9A-Za-z#])(?!amp;))|(?=%(c)s*?[/:])%(c)s*?(?i:%(w)s))"
        % {b"e": end, b"c": char, b"w": words}
    )


_HANDLER_MAY_LOAD = re.compile(handler_may_load_re(b""))
_HELD_RE = re.compile(rb' data-consent-blocked="([^"]*)" data-consent-blocked-category="([^"]*)"')
# Inline scripts that are no code but declare loads: every tracker URL in them is one.
_URL_LIST_TYPES = frozenset({"importmap", "speculationrules"})
_URL_LIST_RE = re.compile(rb"(?i)importmap|speculationrules|&")  # (or an entity)
# A srcdoc or data: document inside a srcdoc or data: document...: rewritten to this depth,
# then judged by the URLs in its text alone.
MAX_NESTED_DOCUMENTS = 4
# A site's pages repeat the same tags: what a tag becomes is remembered per consent choice
# (at most MEMO_ENTRIES of them; a tag over MEMO_TAG_BYTES by its digest, if unchanged).
# An outcome naming more than MEMO_HOSTS unknown hosts (a srcset or stylesheet of many) is
# worked out each time: with the hosts' bound (domains.MAX_HOST_NAME), ~2 KB of reports.
MEMO_ENTRIES = 4096
MEMO_TAG_BYTES = 1024  # so the memo stays under ~20 MB
MEMO_HOSTS = 8
# Where a <style> text's URLs are, kept for texts of any size (a site's big inline sheet is
# read once) up to STYLE_URLS_BYTES in all, a URL's tuple counted SPAN_BYTES beside its
# text (measured ~170), a text SPANS_ENTRY_BYTES (digest, list, slot): full, it starts over.
STYLE_URLS_BYTES = 16 << 20
SPAN_BYTES = 200
SPANS_ENTRY_BYTES = 256
# The inline scripts let through or whose start tag alone changed, and the <style> elements
# let through, whole (start tag and text) and of at most QUIET_ELEMENT_BYTES, each with what
# they become on each consent choice (at most QUIET_CHOICES): the C skip loop steps over them
# (handing the changed start tags back). At most MEMO_ENTRIES of them: ~20 MB.
QUIET_ELEMENT_BYTES = 4096
QUIET_CHOICES = 64
# The settled hosts (and kept data-block <script> tags, of at most DATA_BLOCK_TAG_BYTES) of at
# most SETTLED_CHOICES consent choices and sites, MEMO_ENTRIES each: a site has a handful of
# choices, and a Host header varied by a client cannot grow this past ~100 MB.
SETTLED_CHOICES = 64
DATA_BLOCK_TAG_BYTES = 256


def _remember[K, V](memo: dict[K, V], key: K, value: V, bound: int = 0) -> V:
    """memo[key] = value in a memo of at most bound (MEMO_ENTRIES) entries (full: it starts
    over)."""
    if len(memo) >= (bound or MEMO_ENTRIES):
        memo.clear()
    memo[key] = value
    return value


_REFRESH_SPACE = " \t\n\r\f"  # (Blink's and the HTML standard's whitespace)
_QUOTES = ("'", '"')


def refresh_urls(content: str) -> tuple[str, ...]:
    """The URLs a refresh (`<meta http-equiv=refresh content>`, the Refresh header) may go
    to, as the HTML standard and as Chromium (Blink's ParseHTTPRefresh) read it, both where
    they differ: the delay ends at whitespace, `;` or `,`, then may come `url=`, then the URL,
    which a quote may open. The standard ends it at the next such quote and reads `url` with
    no `=` as dropped (`urlhttps://host/`); Chromium ends it at the last quote and keeps a
    `url` with no `=` (`'https://x"@host/'` is host x to one, host to the other). A regex
    that ended every URL at its first quote of either kind let Chromium go to a tracker."""
    s = content.lstrip(_REFRESH_SPACE)
    i = 0
    while i < len(s) and s[i] not in ";," and s[i] not in _REFRESH_SPACE:
        i += 1
    if i == len(s):  # a delay alone: no URL
        return ()
    rest = s[i:].lstrip(_REFRESH_SPACE)
    if rest[:1] in (";", ","):
        rest = rest[1:].lstrip(_REFRESH_SPACE)
    chromium = standard = rest
    if rest[:3].lower() == "url":
        after = rest[3:].lstrip(_REFRESH_SPACE)
        if after[:1] == "=":
            chromium = standard = after[1:].lstrip(_REFRESH_SPACE)
        else:
            standard = after
    out = []
    if chromium[:1] in _QUOTES:
        body = chromium[1:]
        end = body.rfind(chromium[0])
        out.append(body[:end] if end > 0 else body)
    else:
        out.append(chromium.strip(_REFRESH_SPACE))
    if standard[:1] in _QUOTES:
        out.append(standard[1:].partition(standard[0])[0])
    else:
        out.append(standard)
    return tuple(dict.fromkeys(out))


def url_target(value: str, text: bool = False) -> tuple[str, str] | None:
    """(host, path) a URL attribute value points to, or None for a same-origin/relative URL.

    Follows what browsers do, not what is tidy: tabs and newlines are removed,
    backslashes count as slashes, userinfo and port are dropped, %-escapes decoded.
    A site's pages repeat the same URLs: short ones are parsed once. text: the value is
    characters (Attributes.text), not the page's bytes as latin-1: its host is read as
    they are, in no legacy encoding.
    """
    return _cached_url_target(value, text) if len(value) <= 512 else _url_target(value, text)


def _url_target(value: str, text: bool = False) -> tuple[str, str] | None:
    s = value.strip(_C0_AND_SPACE).translate(_URL_STRIP)
    m = _SPECIAL_URL_RE.match(s)
    assert m is not None
    scheme = (m["scheme"] or "").lower()
    if scheme and scheme not in _SPECIAL_SCHEMES:
        return None
    if not scheme and len(m["slashes"]) < 2:
        return None
    authority, path = _split_authority(m["rest"])
    # (percent-escapes decoded to bytes, as the page's own come: "b%C3%BCcher" is UTF-8)
    host = authority.rpartition("@")[2]
    host = _uts46(unquote(host)) if text else _idna_map(unquote(host, "latin-1"))
    host = host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]
    host = _a_label(host.rstrip("."))
    if len(host) > MAX_HOST_NAME:  # (kept nowhere: no memo, no report)
        host = _numeric_ipv4(host) or ""
    return (host, normal_path(path)) if host else None


_cached_url_target = functools.lru_cache(maxsize=4096)(_url_target)
_IPV4_PART_RE = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


def _numeric_ipv4(host: str) -> str | None:
    """The IPv4 address a host over MAX_HOST_NAME is in the URL standard's number forms
    (0000...0177.0.0.1 is 127.0.0.1), else None: no DNS name is that long, it loads nothing."""
    parts = host.split(".")
    if len(parts) > 4 or not all(_IPV4_PART_RE.fullmatch(p) for p in parts):
        return None
    numbers = [
        int(p[2:] or "0", 16)
        if p[:2].lower() == "0x"
        else int(p.lstrip("0") or "0", 8)
        if p[0] == "0"
        else int(p)
        if len(p) <= 10
        else 1 << 32
        for p in parts
    ]
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    address = last
    for i, n in enumerate(head):
        address += n << (8 * (3 - i))
    return str(ipaddress.IPv4Address(address))


# The encodings a page's bytes may be read in (the Content-Type's charset, a <meta>, or
# Chromium's guess when none is given), for a host whose bytes are not ASCII: UTF-8 first,
# then the legacy ones whose characters UTS #46 maps to ASCII letters (fullwidth `ａ` is two
# bytes in each of the CJK ones, `ª` one in windows-1252), and ISO-2022-JP, whose escape
# sequences the browser shows as nothing (`www.face\x1b(Bbook.com`). The first that maps to
# an ASCII host wins: bytes two encodings read as two ASCII hosts are judged as the first.
LEGACY_ENCODINGS = (
    "utf-8",
    "cp1252",
    "mac_roman",  # (`ﬁ`, `ﬂ`)
    "cp1251",  # (`№`, and in the next three at other bytes, `²`)
    "koi8_r",
    "cp866",
    "iso8859_5",
    "cp932",  # (WHATWG's Shift_JIS)
    "euc_jp",
    "gb18030",  # (WHATWG's GBK and gb18030)
    "big5hkscs",  # (WHATWG's Big5)
    "cp949",  # (WHATWG's EUC-KR)
    "iso2022_jp",
    "latin-1",
)


def _idna_map(host: str) -> str:
    """The host as the URL parser maps it (UTS #46, as the URL standard's domain to ASCII):
    fullwidth letters and dots become ASCII, soft hyphens and zero-width spaces vanish. The
    page's bytes were read as latin-1: a host whose bytes are not ASCII is read in each of
    LEGACY_ENCODINGS, and the first reading that maps to an ASCII host name (letters,
    digits, `-`, `_`, dots: one a known service may have) is the host. Read as UTF-8 alone,
    `www.f\x82\x81cebook.com` on a Shift_JIS page was no host the proxy knew, and Chromium
    loaded www.facebook.com."""
    if host.isascii() and "\x1b" not in host:
        return host.lower()
    try:
        raw = host.encode("latin-1")
    except UnicodeEncodeError:  # (already text: an entity, a %-escape)
        return _uts46(host)
    first = None
    for encoding in LEGACY_ENCODINGS:
        try:
            mapped = _uts46(raw.decode(encoding))
        except UnicodeDecodeError:
            continue
        if _HOST_NAME_RE.fullmatch(mapped):
            return mapped
        first = first or mapped
    return first or _uts46(host)


def _a_label(host: str) -> str:
    """The host as the request names it: each label beyond ASCII as its xn-- form (as a
    config must spell an internationalised host, and new URL() names it in guard.js)."""
    if host.isascii():
        return host
    try:
        return ".".join(
            label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
            for label in host.split(".")
        )
    except UnicodeError:
        return host


_HOST_NAME_RE = re.compile(r"[a-z0-9_.-]+(?::[0-9]*)?")  # (an ASCII reading, and a port)


def _uts46(host: str) -> str:
    try:
        return idna.uts46_remap(host, std3_rules=False, transitional=False)
    except idna.IDNAError:  # a code point no URL parser takes: the URL fails to load
        return unicodedata.normalize("NFKC", host).lower()


def normal_path(path: str) -> str:
    """A URL path as the server reads it: dot segments resolved as the URL parser does
    ('/./tr', '/x/../tr', '/%2e/tr' are '/tr'), unreserved characters unescaped. A path with
    no dot segment is not split (a Refresh of 64 KB of `https://a.example/` cost 3 ms)."""
    if path[:1] == "/" and _DOT_SEGMENT_RE.search(path) is None:
        return _UNRESERVED_ESCAPE_RE.sub(_unescaped, path) if "%" in path else path
    if "." in path or "%" in path:
        segments = path.split("/")[1:]
        out: list[str] = []
        for i, seg in enumerate(segments):
            low = seg.lower()
            if low in _DOUBLE_DOT_SEGMENTS:
                if out:
                    out.pop()
            elif low not in _DOT_SEGMENTS:
                out.append(seg)
                continue
            if i == len(segments) - 1:  # '/x/..' is '/': a trailing slash stays
                out.append("")
        path = _UNRESERVED_ESCAPE_RE.sub(_unescaped, "/" + "/".join(out))
    return path


def _unescaped(m: re.Match[str]) -> str:
    return chr(int(m.group(1), 16))


def relative_target(value: str, base: tuple[str, str]) -> tuple[str, str] | None:
    """(host, path) of a relative URL resolved against a base on another host, or None
    for an absolute one (url_target's business) or an empty one (loads nothing)."""
    s = value.strip(_C0_AND_SPACE).translate(_URL_STRIP)
    m = _SPECIAL_URL_RE.match(s)
    assert m is not None
    if not s or m["scheme"] or len(m["slashes"]) >= 2:
        return None
    host, base_path = base
    rest = s.replace("\\", "/").split("#")[0]
    if not rest or rest.startswith("?"):
        return host, base_path
    rest = rest.split("?")[0]
    if not rest.startswith("/"):
        rest = base_path[: base_path.rfind("/") + 1] + rest
    return host, normal_path(rest if rest.startswith("/") else "/" + rest)


def at_endpoints(value: str, prefix: str) -> bool:
    """Whether a form's URL may lead under the proxy's prefix from some page of the site,
    whatever its host (another one's post is cross-site: refused anyway). The tag memo
    serves every page alike, so a relative URL counts as from a page at the root, where
    any '..' climbs from elsewhere: '../.consent/choice' is caught, 'consent/x' with a
    /consent/ prefix is a false alarm that only costs the form its action."""
    s = value.strip(_C0_AND_SPACE).translate(_URL_STRIP).replace("\\", "/")
    m = _SPECIAL_URL_RE.match(s)
    assert m is not None
    scheme = (m["scheme"] or "").lower()
    if scheme and scheme not in ("http", "https"):
        return False
    if len(m["slashes"]) >= 2:
        path = _split_authority(m["rest"])[1]
    else:
        path = (m["slashes"] + m["rest"]).split("?")[0].split("#")[0]
    return normal_path(path if path.startswith("/") else "/" + path).startswith(prefix)


@functools.cache
def endpoint_word(prefix: str) -> bytes:
    """The prefix's longest segment, lowercase: a form's URL without it, in any case, and
    without a '%', a '&', a tab or a newline (which could spell it), cannot lead under the
    prefix (at_endpoints), and so the C skip loop steps over such a form (_skip.c's
    inert_action) instead of handing each to _no_endpoint_post."""
    return max(prefix.strip("/").split("/"), key=len).lower().encode("ascii")


def _urls(attr: bytes, value: str) -> list[str]:
    """The URLs an attribute's value names (a srcset's, a ping's, an animation's values)."""
    if attr.endswith(b"srcset"):
        return srcset_urls(value)
    return value.split() if attr == b"ping" else value.split(";") if attr == b"values" else [value]


def _document_text(value: str, schemes: tuple[str, ...] = ("data", "javascript")) -> bytes | None:
    """The markup or code a URL of one of `schemes` (a data: or javascript: URL) makes a
    frame or a script run, read as the URL parser reads it (C0 controls and spaces around
    it, tabs and newlines in it dropped), else None."""
    s = value.strip(_C0_AND_SPACE).translate(_URL_STRIP)
    scheme, colon, rest = s.partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in schemes:
        return None
    if scheme == "data":
        return data_url_content(rest)
    return unquote(rest).encode("utf-8", "replace")


XML_TYPE = "application/xhtml+xml"  # (what the scanner reads with XML's rules: any */*xml)


def _xml_data(value: str) -> bool:
    """Whether a data: URL's media type is an XML one (application/xhtml+xml,
    image/svg+xml, text/xml...), which a frame renders with XML's rules."""
    head = value.strip(_C0_AND_SPACE).translate(_URL_STRIP).partition(",")[0].lower()
    return head.startswith("data:") and head.partition(";")[0].strip().endswith("xml")


def _split_authority(rest: str) -> tuple[str, str]:
    """'host:port/path?q' -> ('host:port', '/path'); backslashes count as slashes."""
    m = _AUTHORITY_END_RE.search(rest)
    if m is None:
        return rest, ""
    tail = rest[m.start() :].replace("\\", "/")
    return rest[: m.start()], tail.split("?")[0].split("#")[0] if tail[0] == "/" else ""


def srcset_urls(value: str) -> list[str]:
    return [parts[0] for c in value.split(",") if (parts := c.split())]


class Neutraliser:
    """Decides, for one response's consent state, what each start tag becomes."""

    def __init__(
        self,
        policy: Policy,
        state: ConsentState,
        mark: str | None = None,
        depth: int = 0,
        site: str = "",
        choice: tuple[object, str] | None = None,
        page: tuple[str, str] | None = None,
    ):
        """mark: this response's secret (default: a fresh one), see MARK_ATTR; depth: how
        deep in srcdoc/data: documents this one classifies; site: the page's registrable
        domain (its own hosts are never held as trackers); choice: (state.choice, site),
        the memos' key, made here unless given (the engine's page plan gives each of its
        pages the same tuple: the memos then find it by identity, not compared item by
        item); page: (host, path) of the page, its host as url_target reads it."""
        self.policy = policy
        self.state = state
        self.mark = mark or new_mark()
        self.mark_attr = _MARK_ATTR_OPEN + self.mark.encode("ascii") + b'"'
        self.one_mark = True  # every tag stamped alike: the C loop may stamp from its memo
        self.script_nonces: frozenset[str] = frozenset()  # (see hold_in_place)
        self.depth = depth
        self.site = site
        self.blocked: list[tuple[str, str]] = []  # (service, element) for reports
        self.unknown_hosts: set[str] = set()  # hosts fetched that no service names (observe)
        # The document's base URL when the page's first <base href> points to another host
        # (relative URLs after it go there), else None; base_seen: that <base> was seen.
        self.base: tuple[str, str] | None = None
        self.base_seen = False
        self.base_key: tuple[str, str | bytes] | None = None  # base in the memos' keys
        # A service on a path of the page's own host (a self-hosted Matomo at /matomo/):
        # the page's relative URLs are resolved against its own URL, as after a <base>.
        if page is not None and page[0] in policy.path_hosts:
            path = page[1]
            self._set_base((page[0], normal_path(path) if path.startswith("/") else "/"))
        self.tag_memo = policy.tag_memo  # (the C loop reads it too: scanner.REMEMBERED)
        self.endpoint_word = endpoint_word(policy.config.prefix)  # (for the C loop too)
        choice = self.choice = choice or (state.choice, site)
        # The hosts whose loads this choice lets through whatever the path (the C skip loop
        # steps over tags naming only these): host bytes -> whether a page reports it (an
        # unknown host, in unknown_hosts once the page has named it).
        settled = policy.settled_hosts.get(choice)  # one per choice and site
        self.settled = (
            settled
            if settled is not None
            else _remember(policy.settled_hosts, choice, {}, SETTLED_CHOICES)
        )
        self.element_memo = policy.element_memo

    def hold_in_place(self, nonces: frozenset[str]) -> None:
        """The scripts neutralised from here on come back on this page only if they carry
        one of nonces (the origin's, csp.scripts_back_in_place); any other is stamped with a
        mark nobody knows (banner.js brings back only the response's): the visitor's consent
        shows on their next page, where the origin's policy judges it as it came. (Frames
        and images come back in place as ever: the C loop stops stamping, its memo knowing
        no tag's nonce, and each is stamped here by what it is.)"""
        self.script_nonces = nonces if self.one_mark else self.script_nonces & nonces
        self.one_mark = False

    def _stamp(self, tag: bytes, script: bytes | None = None) -> bytes:
        """The tag with this response's mark in the slot _edit left for it (the first);
        script: a held <script>'s start tag as the page had it (see hold_in_place)."""
        mark = self.mark_attr
        if script is not None and not self.one_mark:
            nonce = Attributes(script, len(b"script") + 1).get(b"nonce")
            if nonce not in self.script_nonces:
                mark = _MARK_ATTR_OPEN + new_mark().encode("ascii") + b'"'
        return tag.replace(MARK_SLOT, mark, 1)

    def _target(self, value: str, text: bool = False) -> tuple[str, str] | None:
        """(host, path) a URL attribute value fetches from, the document's base included
        (text: see url_target)."""
        target = url_target(value, text)
        if target is None and self.base is not None:
            return relative_target(value, self.base)
        return target

    def _blocked(self, target: tuple[str, str] | None) -> Service | None:
        if target is None:
            return None
        host, policy = target[0], self.policy
        svc = policy.holder(host, target[1], self.site)
        reported = svc is None or svc.name not in policy.services
        if reported:
            self.unknown_hosts.add(host)
        if svc is not None and not policy.loads(svc, self.state):
            return svc
        if host.isascii() and host not in policy.path_hosts and host not in policy.knowledge.paths:
            _remember(self.settled, host.encode("ascii"), reported)
        return None

    def start_tag(self, name: bytes, tag: bytes) -> bytes:
        """The tag to emit for a start tag that may fetch something (a script with a src
        too), or that has a style attribute. Worked out once per consent choice, with what
        it adds to the reports. A long tag (an <img> with a long srcset, a data: URL) is
        remembered by its digest, and only when it stays as it is."""
        if name == b"meta" and _POLICY_EQUIV(tag):
            attrs = Attributes(tag, len(b"meta") + 1)
            if (attrs.get(b"http-equiv") or "").strip().lower() == "content-security-policy":
                nonces = scripts_back_in_place(attrs.get(b"content") or "")
                # (under enforce, banner.js reloads the page for a script)
                if nonces is not None and self.policy.config.csp != "enforce":
                    self.hold_in_place(nonces)
                # never remembered (the C loop would step over the next one); its style
                # attribute neutralised as any tag's
                out = self._start_tag(name, tag)
                return tag if out is tag else self._stamp(out)
        long = len(tag) > MEMO_TAG_BYTES
        memo_tag = memo_digest(tag) if long else tag
        key = (
            (self.choice, memo_tag) if self.base is None else (self.choice, self.base_key, memo_tag)
        )
        edited = self._worked_out(key, tag, lambda: self._start_tag(name, tag), not long)
        out = tag if edited is None else edited
        if name == b"base" and not self.base_seen:
            self._note_base(out)
        return tag if out is tag else self._stamp(out, tag if name == b"script" else None)

    def _note_base(self, tag: bytes) -> None:
        """The first <base> with an href sets the document's base URL (when one is
        neutralised, the browser takes the next)."""
        href = Attributes(tag, len(b"base") + 1).get(b"href")
        if href is not None:
            self.base_seen = True
            base = url_target(href)
            if base is None and self.base is not None:  # (relative to the page's own URL)
                base = relative_target(href, self.base) or self.base
            self._set_base(base)

    def _set_base(self, base: tuple[str, str] | None) -> None:
        self.base = self.base_key = base
        if base is not None and len(base[1]) > MEMO_TAG_BYTES:  # (the memo's keys stay short)
            self.base_key = (base[0], memo_digest(base[1].encode("utf-8", "surrogatepass")))

    def _worked_out(
        self, key: tuple[object, ...], tag: bytes, work: Callable[[], bytes], keep_edits: bool
    ) -> bytes | None:
        """What work makes of tag (None: it stays), from the memo under key or worked out
        now and remembered (an edited tag only with keep_edits), its reports this page's."""
        known = self.tag_memo.get(key)
        if known is None:
            new, blocked, hosts = self._outcome(work)
            known = (None if new is tag else new, blocked, hosts)
            if (keep_edits or new is tag) and len(hosts) <= MEMO_HOSTS:
                _remember(self.tag_memo, key, known)
        return self._report(known)

    def _outcome[T](self, work: Callable[[], T]) -> tuple[T, Blocked, tuple[str, ...]]:
        """(what work returns, what it blocks, the unknown hosts it names), the last two
        kept off this page's reports: a memo holds them, _report adds them."""
        count, seen = len(self.blocked), self.unknown_hosts
        self.unknown_hosts = set()
        out = work()
        blocked, hosts = tuple(self.blocked[count:]), tuple(self.unknown_hosts)
        del self.blocked[count:]
        self.unknown_hosts = seen
        return out, blocked, hosts

    def _report(self, known: TagOutcome) -> bytes | None:
        """A remembered outcome: its reports go to this page's, its new tag comes back. (The C
        skip loop does the same, and _stamp's, for the tags it finds in the tag memo.)"""
        edited, blocked, hosts = known
        if blocked:
            self.blocked += blocked
        if hosts:
            self.unknown_hosts.update(hosts)
        return edited

    def _start_tag(self, name: bytes, tag: bytes) -> bytes:
        start = StartTag(name, tag)  # parsed once, for both steps (unless the first edits)
        if name in ENDPOINT_ATTRS:
            start = self._no_endpoint_post(start)
        out = self._url_attributes(start)
        out = self.style_attribute(start if out is start.raw else StartTag(name, out))
        if not _may_have_handler(out):
            return out
        return self._handlers(start if out is start.raw else StartTag(name, out))

    def _handlers(self, start: StartTag) -> bytes:
        """The tag with each event handler attribute (and its duplicates, which the browser
        would take next) renamed data-consent-on... where its code, read as the browser
        reads the value (character references decoded), loads a service not consented to
        in a way no run-time hook holds (Policy.blocked_inline's handler judgement): the
        element marked as any neutralised one, so the banner puts them back on consent. A
        tag marked already (a URL or style of its own held) waits for both categories."""
        held: dict[str, Service] = {}
        renames: list[bytes] = []
        for m in start.attrs.items:
            name = m.group(1).lower()
            if not _HANDLER_NAME_RE.fullmatch(name) or name in renames:
                continue
            raw = m.group(2) if m.group(2) is not None else m.group(3) or m.group(4) or b""
            if not _HANDLER_MAY_LOAD.match(raw):
                continue
            code = html.unescape(raw.decode("latin-1")).encode("utf-8", "surrogatepass")
            svc = self.policy.blocked_inline(code, self.state, site=self.site, handler=True)
            if svc is not None:
                held.setdefault(svc.name, svc)
                renames.append(name)
        if not held:
            return start.raw
        names, tag = tuple(held), start.raw
        if MARK_SLOT not in tag:
            category = all_of([*held.values()])
            return self._edit(start.name, start.attrs, renames, names[0], category, b"")
        for s, e in sorted((sp for n in renames for sp in start.attrs.spans(n)), reverse=True):
            tag = tag[:s] + held_name(tag[s:e]) + tag[e:]
        self.blocked.append((names[0], start.name.decode("latin-1")))
        return _HELD_RE.sub(lambda m: _joined(m, held), tag, count=1)

    def _no_endpoint_post(self, start: StartTag) -> StartTag:
        """The tag with its action (formaction, <base href>) renamed when it leads to the
        proxy's endpoints (at_endpoints): the form then posts to its own page."""
        attr = ENDPOINT_ATTRS[start.name]
        value = start.attrs.get(attr)
        if value is None or not at_endpoints(value, self.policy.config.prefix):
            return start
        raw = start.raw
        for s, e in reversed(start.attrs.spans(attr)):  # (every one: the next would count)
            raw = raw[:s] + REFUSED_PREFIX + raw[s:e].lower() + raw[e:]
        self.blocked.append((ENDPOINT_POSTS, start.name.decode("latin-1")))
        return StartTag(start.name, raw)

    def _url_attributes(self, start: StartTag) -> bytes:
        name, tag = start.name, start.raw
        if name == b"script":
            return self._script_tag(start)
        if name == b"meta":
            return self._meta_tag(start)
        if self.base is None and not _MAY_BE_REMOTE_RE.search(tag):
            return tag
        attrs = start.attrs
        if name in (b"set", b"animate") and not _animates_url(attrs):
            return tag
        held: dict[str, Service] = {}  # the services its URLs wait for, by name
        renames: list[bytes] = []
        for attr in _url_attributes(name, attrs):
            value = attrs.get(attr)
            if value is None:
                continue
            hits = self._attribute_blocked(attrs, attr, value)
            if not hits and name in _DOCUMENT_TAGS and (text := _document_text(value)):
                hits = [s] if (s := self._document_blocked(text, _xml_data(value))) else []
            if hits:
                held.update((s.name, s) for s in hits)
                renames.append(attr)
        if name in (b"iframe", b"frame") and (srcdoc := attrs.get(b"srcdoc")):
            hit = self._document_blocked(srcdoc.encode("utf-8", "replace"))
            if hit:
                held.setdefault(hit.name, hit)
                renames.append(b"srcdoc")
        if not held:
            return tag
        # Several services' URLs: it comes back with all their categories ("a+b", banner.js's
        # allowed); the first's consent brought back a refused one's srcset, poster or ping.
        services = [*held.values()]
        return self._edit(name, attrs, renames, services[0].name, all_of(services), b"")

    def _document_blocked(self, text: bytes, xml: bool = False) -> Service | None:
        """The first blocked service a document loads (a srcdoc, a data: or javascript:
        frame): judged by rewriting it as the page is, so its entities, <base>, styles
        and nested documents count as they would in the browser (xml: a data: document of
        an XML type, read with XML's rules as the browser reads it)."""
        svc = self.policy.blocked_inline(text, self.state, markup=True, site=self.site)
        if svc is not None or self.depth >= MAX_NESTED_DOCUMENTS:
            return svc
        from consentproxy.rewrite.scanner import HtmlRewriter  # (the scanner imports us)

        inner = Neutraliser(
            self.policy, self.state, self.mark, self.depth + 1, self.site, self.choice
        )
        rewriter = HtmlRewriter(inner, b"", False, content_type=XML_TYPE if xml else None)
        rewriter.feed(text)
        rewriter.close()
        for blocked, _ in inner.blocked:
            if blocked in self.policy.services:
                return self.policy.services[blocked]
            category = self.policy.cookie_category(blocked.removeprefix("cookie:"))
            return Service(blocked, category or self.policy.config.unknown_cookies)
        return None

    def _meta_tag(self, start: StartTag) -> bytes:
        """<meta http-equiv=refresh> to a blocked host navigates to it, and
        <meta http-equiv=Set-Cookie> (older browsers) sets a cookie: their content goes."""
        tag, attrs = start.raw, start.attrs
        equiv = (attrs.get(b"http-equiv") or "").strip().lower()
        content = attrs.get(b"content")
        if content is None or equiv not in ("refresh", "set-cookie"):
            return tag
        if equiv == "refresh":
            svc = next(filter(None, map(self._blocked_url, refresh_urls(content))), None)
            if svc is None:
                return tag
            return self._edit(b"meta", attrs, [b"content"], svc.name, svc.category, b"")
        cookie = set_cookie_name(content)
        if self.policy.cookie_allowed(cookie, self.state):
            return tag
        category = self.policy.cookie_category(cookie) or self.policy.config.unknown_cookies
        return self._edit(b"meta", attrs, [b"content"], f"cookie:{cookie}", category, b"")

    def script_is_inline_js(self, tag: bytes) -> bool:
        """No src, nor an SVG script's href/xlink:href: the script's text is its code."""
        return (_cached_inline_js if len(tag) <= MEMO_TAG_BYTES else _inline_js)(tag)

    def script_tag(self, tag: bytes) -> bytes:
        """A <script src> start tag: neutralised when its host is blocked."""
        return self._script_tag(StartTag(b"script", tag))

    def _script_tag(self, start: StartTag) -> bytes:
        tag = start.raw
        if self.base is None and not _MAY_BE_REMOTE_RE.search(tag):
            return tag
        attrs = start.attrs
        if not _is_js(attrs):
            return tag
        for attr in _url_attributes(b"script", attrs):
            v = attrs.get(attr)
            svc = next(iter(self._attribute_blocked(attrs, attr, v)), None) if v else None
            if svc is None and v and (text := _document_text(v, ("data",))):
                # a data: script's code, as an inline script's (a module's static import)
                svc = self.policy.blocked_inline(text, self.state, site=self.site)
            if svc:
                return self._edit(
                    b"script", attrs, [attr, b"type"], svc.name, svc.category, b' type="text/plain"'
                )
        return tag

    def inline_script(self, tag: bytes, content: bytes) -> bytes:
        """An inline script's start tag, neutralised when its text belongs to a blocked
        service (by marker, or by loading a tracker URL). Worked out once per consent choice,
        start tag and text (by its digest), with what it adds to the reports (a start tag
        over MEMO_TAG_BYTES is worked out each time: the memo's keys stay short)."""
        if len(tag) > MEMO_TAG_BYTES:
            out = self._inline_script(tag, content)
            return tag if out is tag else self._stamp(out, tag)
        key = (self.choice, b"script", tag, memo_digest(content))  # (no start tag's key)
        edited = self._worked_out(key, tag, lambda: self._inline_script(tag, content), True)
        return tag if edited is None else self._stamp(edited, tag)

    def _inline_script(self, tag: bytes, content: bytes) -> bytes:
        start = StartTag(b"script", tag)
        if _PREFIXED_HREF(tag) and (out := self._script_tag(start)) is not tag:
            return out  # (an SVG <script q:href>, q bound to XLink: it loads that href)
        url_list = (
            bool(_URL_LIST_RE.search(tag))
            and (start.attrs.get(b"type") or "").strip(" \t\n\f\r").lower() in _URL_LIST_TYPES
        )
        svc = self.policy.blocked_inline(content, self.state, markup=url_list, site=self.site)
        if svc is None:
            return tag
        return self._edit(
            b"script", start.attrs, [b"type"], svc.name, svc.category, b' type="text/plain"'
        )

    def keep_data_block(self, tag: bytes) -> None:
        """A <script> start tag that names no code to run (no src: a type that is no script,
        a data block) and stays as it is: the C skip loop may step over it and its text on
        this choice (in settled, where no host starts with '<')."""
        if len(tag) > DATA_BLOCK_TAG_BYTES:
            return
        attrs = Attributes(tag, len(b"script") + 1)
        if all(attrs.get(a) is None for a in URL_ATTRS[b"script"]):
            _remember(self.settled, tag, False)

    def remember_element(self, tag: bytes, text: bytes, kept: bool, style: bool) -> None:
        """An inline script or (style) a <style> element, start tag and text as the page has
        them, worked out on this choice (kept: unchanged): the C skip loop may step over the
        same bytes again, with what they became and what they add to the page's report. Not
        when long, nor a <style> that changed (its text changed too), nor one naming hosts
        after a <base> (its relative URLs may be the base's: elements are remembered without
        it)."""
        if len(tag) + len(text) > QUIET_ELEMENT_BYTES or (style and not kept):
            return
        known: TagOutcome | None = (None, (), ())
        if not style:  # (what inline_script remembered, with its reports)
            known = self.tag_memo.get((self.choice, b"script", tag, memo_digest(text)))
        elif style_may_load(text):  # (what style_sheet remembered)
            known = self.tag_memo.get(self._style_key(tag, memo_digest(text)))
            if known is not None and known[2] and self.base is not None:
                return
        if known is None:
            return
        element = tag + text
        choices = self.element_memo.get(element)
        if choices is None:
            choices = _remember(self.element_memo, element, {})
        if len(choices) < QUIET_CHOICES:
            choices[self.choice] = known

    def style_attribute(self, start: StartTag) -> bytes:
        """Any start tag whose style attribute loads a blocked service: its value rewritten
        (double-quoted, `&` and `"` escaped) with those URLs made inert. The same tag
        object when nothing is blocked."""
        name, tag = start.name, start.raw
        if not style_may_load(tag):
            return tag
        attrs = start.attrs
        css = attrs.get(b"style")
        span = attrs.value_span(b"style")
        if css is None or span is None:
            return tag
        originals: list[str | None] = []
        css, svc = neutralise_css(css, self._blocked_url, originals=originals)
        if svc is None:
            return tag
        tag = b'%s"%s"%s' % (tag[: span[0]], _attribute_value(css), tag[span[1] :])
        if MARK_SLOT in tag:  # start_tag marked it: report only
            self.blocked.append((svc.name, name.decode("latin-1")))
        else:
            tag = self._edit(name, Attributes(tag, len(name) + 1), [], svc.name, svc.category, b"")
        return _keeping(tag, b"style", originals)

    def stylesheet_instruction(self, instruction: bytes) -> bytes:
        """An XML document's `<?xml-stylesheet href=...?>` (before or after its root element:
        Chromium loads the CSS it names) whose URL, or one of whose URLs, a held service's:
        its target renamed, an instruction no browser reads, the document well-formed.
        Kept, the Facebook pixel loaded as the style sheet of an XHTML page (the next view
        after consent has it: the banner restores elements, not instructions). An XSLT one
        too, whatever its URL, while the visitor's state holds anything, unless `csp:
        enforce`: its output replaces the rewritten document under the page's policy
        (report-only's holds nothing), never seen by the proxy (a site's own .xsl loaded
        Google Analytics and the pixel through it); reported as HELD_XSLT. One
        whose data does not read as pseudo-attributes is held while anything is: a reading
        that differs from the browser's (`title="x href="`) let the pixel through."""
        attributes = pseudo_attributes(instruction.decode("latin-1"))
        if attributes is None:
            if not self.holds_any():
                return instruction
            self.blocked.append((UNREAD_INSTRUCTION, "xml-stylesheet"))
            return held_instruction(instruction)
        for href in _pseudo(attributes, "href"):
            svc = self._blocked_url(href)
            if svc is not None:
                self.blocked.append((svc.name, "xml-stylesheet"))
                return held_instruction(instruction)
        if (
            any(v.strip().lower() in XSLT_TYPES for v in _pseudo(attributes, "type"))
            and self.policy.config.csp != "enforce"
            and self.holds_any()
        ):
            self.blocked.append((HELD_XSLT, "xml-stylesheet"))
            return held_instruction(instruction)
        return instruction

    def dtd_declaration(self, declaration: bytes) -> bytes:
        """An XML document's <!ENTITY> or <!ATTLIST> in its DOCTYPE's internal subset:
        dropped while the visitor's state holds anything, unless `csp: enforce`. An entity's
        reference expands in an attribute's value (`src="&t;"`, a host spelt
        `www&d;facebook&d;com`) or into markup the rewrite never reads, an attribute list's
        default value is an attribute of every element it names (`<script/>` given a src):
        Chromium loaded Google Analytics and the pixel through them (helper-235, helper-240).
        Dropped, a reference is XML's error (the browser reads nothing past it). An entity
        neither renamed (the page could declare the new name: helper-240) nor emptied
        (`src="&e;https://www.facebook.com/tr"` would load). Reported as HELD_ENTITY or
        HELD_ATTLIST; anything else is returned as it came."""
        entity = declaration.startswith(b"<!ENTITY")
        if not entity and not declaration.startswith(b"<!ATTLIST"):
            return declaration
        if self.policy.config.csp == "enforce" or not self.holds_any():
            return declaration
        self.blocked.append((HELD_ENTITY, "entity") if entity else (HELD_ATTLIST, "attlist"))
        return b""

    def holds_any(self) -> bool:
        """Whether this visitor's state holds anything: an optional category it does not
        allow, a configured service it does not load, or every unknown third party."""
        policy, state = self.policy, self.state
        config = policy.config
        return (
            config.unknown_third_parties == "block"
            or any(not c.required and not state.allows(c.name) for c in config.categories)
            or any(not policy.loads(s, state) for s in config.services)
        )

    def style_element(self, tag: bytes, text: bytes) -> tuple[bytes, bytes]:
        """A <style> start tag and its text, the URLs of blocked services made inert; the
        start tag keeps what they were (data-consent-css), for the banner to put back in
        place once consent is given."""
        if not style_may_load(text):
            return tag, text
        out = self.style_sheet(tag, text)
        return (tag, text) if out is None else out

    def style_sheet(self, tag: bytes, css: bytes) -> tuple[bytes, bytes] | None:
        """A style element's start tag and stylesheet, the URLs of blocked services made
        inert; None when it loads none."""
        # A site's pages repeat the same <style> texts: one that loads nothing blocked is
        # remembered per consent choice by its tag and digest, with what it adds to the
        # reports; where a text's URLs are, whatever the choice (see STYLE_URLS_BYTES).
        # The text is read as latin-1 (its bytes as they are) only when not remembered.
        digest = memo_digest(css)
        key = self._style_key(tag, digest)
        known = self.tag_memo.get(key)
        if known is not None:
            self._report(known)
            return None
        out, blocked, hosts = self._outcome(
            lambda: self._style_sheet(tag, css.decode("latin-1"), digest)
        )
        self._report((None, blocked, hosts))
        if out is None and len(hosts) <= MEMO_HOSTS:
            _remember(self.tag_memo, key, (None, blocked, hosts))
        return out

    def _style_key(self, tag: bytes, digest: bytes) -> tuple[object, ...]:
        """A <style>'s key in the tag memo (start tags' keys are shorter), its start tag by
        its digest when long."""
        memo_tag = memo_digest(tag) if len(tag) > MEMO_TAG_BYTES else tag
        return (self.choice, self.base_key, memo_tag, digest)

    def _style_sheet(self, tag: bytes, css: str, digest: bytes) -> tuple[bytes, bytes] | None:
        spans = self.policy.style_urls.get(digest)
        if spans is None:
            spans = url_spans(css)
            self._remember_spans(digest, spans)
        originals: list[str | None] = []
        css, svc = neutralise_css(css, self._blocked_url, spans, originals)
        if svc is None:
            return None
        attrs = Attributes(tag, len(b"style") + 1)
        edited = self._edit(b"style", attrs, [], svc.name, svc.category, b"")
        return self._stamp(_keeping(edited, b"css", originals)), css.encode("latin-1")

    def _remember_spans(self, digest: bytes, spans: list[tuple[int, int, str]]) -> None:
        """Keeps a text's URL spans in policy.style_urls, bounded by bytes (STYLE_URLS_BYTES):
        a count of texts was no bound when each may hold 20,000 URLs."""
        policy = self.policy
        size = SPANS_ENTRY_BYTES + sum(SPAN_BYTES + len(url) for _, _, url in spans)
        if size > STYLE_URLS_BYTES:
            return
        if policy.style_urls_bytes + size > STYLE_URLS_BYTES:
            policy.style_urls.clear()
            policy.style_urls_bytes = 0
        policy.style_urls[digest] = spans
        policy.style_urls_bytes += size

    def _blocked_url(self, url: str) -> Service | None:
        """The service a URL in CSS waits for: read as the page's bytes, and beyond ASCII
        as characters too (where the first holds nothing): a CSS escape (`\\fc `) or a
        character reference is a character, not a byte of IBM866's."""
        svc = self._blocked(self._target(url))
        return svc if svc or url.isascii() else self._blocked(self._target(url, text=True))

    def _attribute_blocked(self, attrs: Attributes, attr: bytes, value: str) -> list[Service]:
        """The services the URLs of an attribute's value (attrs.get) wait for: read as the
        page's bytes, and beyond ASCII as characters too (where the first holds nothing,
        Attributes.text): its character references' characters may be no byte of the
        page's, "b&uuml;cher" is no IBM866 "b\u2116cher"."""
        hits = [s for u in _urls(attr, value) if (s := self._blocked(self._target(u)))]
        if hits or value.isascii():
            return hits
        text = attrs.text(attr) or ""
        return [s for u in _urls(attr, text) if (s := self._blocked(self._target(u, text=True)))]

    def _edit(
        self,
        name: bytes,
        attrs: Attributes,
        renames: list[bytes],
        blocked: str,
        category: str,
        extra: bytes,
    ) -> bytes:
        """blocked: the service waited for (or cookie:NAME), category: its category.
        The tag comes back with the mark's slot (see _stamp)."""
        self.blocked.append((blocked, name.decode("latin-1")))
        tag = attrs.tag
        spans = sorted(
            [(s, e, held_name(tag[s:e])) for attr in renames for s, e in attrs.spans(attr)]
            + [
                (m.start(1), m.start(1) + len(_OWN_PREFIX), SITE_PREFIX)
                for m in attrs.items
                if _site_consent_attribute(m.group(1))
            ]
        )
        out = [
            tag[: len(name) + 1],
            extra,
            b' data-consent-blocked="%s" data-consent-blocked-category="%s"'
            % (html.escape(blocked).encode("latin-1", "xmlcharrefreplace"), category.encode()),
            MARK_SLOT,
        ]
        pos = len(name) + 1
        for start, end, new in spans:
            out += (tag[pos:start], new)
            pos = end
        out.append(tag[pos:])
        return b"".join(out)


_HANDLER_BEFORE = frozenset(b"\t\n\f\r /\"'")


def pseudo_attributes(instruction: str) -> list[tuple[str, str]] | None:
    """An `<?xml-stylesheet ...?>`'s pseudo-attributes in order, (name, value as XML reads
    it), or None when its data does not read as such up to its end."""
    pos, attributes = len(STYLESHEET_TARGET), []
    while (m := PSEUDO_ATTRIBUTE_RE.match(instruction, pos)) is not None:
        value = m["dq"] if m["dq"] is not None else m["sq"]
        attributes.append((m["name"], _xml_attribute_value(value)))
        pos = m.end()
    end = PSEUDO_END_RE.match(instruction, pos)
    return attributes if end is not None and end.end() == len(instruction) else None


def _xml_attribute_value(raw: str) -> str:
    """An attribute value as XML reads it: white space a space, each reference its text."""
    return xml_references(re.sub(r"[\t\n\r]", " ", raw))


def xml_references(text: str) -> str:
    """Text with each reference XML reads made its text (one to no character U+FFFD: XML
    rejects the document there, which then loads nothing, whatever it is read as; one to
    an entity not predefined as it is: one the DTD declares is dropped while anything is
    held, XML's error)."""
    return _XML_REFERENCE_RE.sub(_xml_reference, text)


def _xml_reference(m: re.Match[str]) -> str:
    if m[1] is None:
        return _XML_ENTITIES.get(m[2], m[0])
    try:
        n = int(m[2], 16 if m[1] == "#x" else 10)
    except ValueError:
        return "\ufffd"
    return chr(n) if n <= 0x10FFFF and not 0xD800 <= n < 0xE000 else "\ufffd"


def _pseudo(attributes: list[tuple[str, str]], name: str) -> list[str]:
    """The values of the pseudo-attributes called name (or prefix:name)."""
    return [v for n, v in attributes if n.rpartition(":")[2] == name]


def held_instruction(instruction: bytes) -> bytes:
    """A style sheet instruction with a target no browser reads."""
    return HELD_STYLESHEET_TARGET + instruction[len(STYLESHEET_TARGET) :]


def _may_have_handler(tag: bytes) -> bool:
    """Whether an attribute's name in tag may start with "on" and a letter: looked for with
    bytes.find (a regex's search ran at ~100 MB/s, over a long srcset tag worked out on
    every view), in the lower-cased tag."""
    low = tag.lower()
    at = low.find(b"on", 1)
    while at != -1:
        if low[at - 1] in _HANDLER_BEFORE and low[at + 2 : at + 3].isalpha():
            return True
        at = low.find(b"on", at + 2)
    return False


def _joined(held: re.Match[bytes], more: dict[str, Service]) -> bytes:
    """The service and category attributes of a tag held (its URLs or style) that now waits
    for the services `more` names too: all their categories (all_of: "a+b", "a+a" for
    another service of its category; the same service's stays as it is)."""
    name, category = (html.unescape(g.decode("latin-1")) for g in held.groups())
    services = {name: Service(name, category)} | more
    joined = all_of([*services.values()])
    return b' data-consent-blocked="%s" data-consent-blocked-category="%s"' % (
        held.group(1),
        joined.encode("latin-1"),
    )


def _animates_url(attrs: Attributes) -> bool:
    return (attrs.get(b"attributename") or "").strip().lower() in ANIMATED_URL


def _attribute_value(text: str) -> bytes:
    """text as a double-quoted attribute's value (between the quotes)."""
    value = text.replace("&", "&amp;").replace('"', "&quot;")
    return value.encode("latin-1", "xmlcharrefreplace")


def _keeping(tag: bytes, what: bytes, originals: list[str | None]) -> bytes:
    """A tag marked (its MARK_SLOT) with data-consent-WHAT: what neutralise_css made inert
    in its CSS (originals), for the banner to put back in place once the visitor consents
    (banner.js's restyle)."""
    kept = json.dumps(originals, ensure_ascii=False, separators=(",", ":"))
    extra = b' data-consent-%s="%s"' % (what, _attribute_value(kept))
    return tag.replace(MARK_SLOT, MARK_SLOT + extra, 1)


class _RandomMarks:
    """Response marks from the system's random bytes, fetched (and made hex) for 256
    responses at a time: a system call per response costs more than the rewrite of a small
    page. A forked worker starts with a pool of its own."""

    def __init__(self) -> None:
        self.pool, self.pos = "", 0
        os.register_at_fork(after_in_child=self.__init__)  # type: ignore[misc]

    def next(self) -> str:
        pos = self.pos
        if pos >= len(self.pool):
            self.pool, pos = secrets.token_bytes(MARK_BYTES * 256).hex(), 0
        self.pos = pos + 2 * MARK_BYTES
        return self.pool[pos : self.pos]


new_mark = _RandomMarks().next  # (a bound method: called faster than an instance)


def _site_consent_attribute(name: bytes) -> bool:
    """One of the site's own data-consent-* attributes (but its data-consent-action)."""
    low = name.lower()
    return low.startswith(_OWN_PREFIX) and low != b"data-consent-action"


def _inline_js(tag: bytes) -> bool:
    attrs = Attributes(tag, len(b"script") + 1)
    return all(attrs.get(a) is None for a in URL_ATTRS[b"script"]) and (
        _is_js(attrs) or (attrs.get(b"type") or "").strip(" \t\n\f\r").lower() in _URL_LIST_TYPES
    )


_cached_inline_js = functools.lru_cache(maxsize=MEMO_ENTRIES)(_inline_js)


def _is_js(attrs: Attributes) -> bool:
    t = attrs.get(b"type")
    if t is None:
        return True
    return t.strip(" \t\n\f\r").lower() in JS_TYPES


# What else makes a document or acts, by element, for unended (a srcdoc over any src, a
# meta refresh's or Set-Cookie's content).
_ACTING_ATTRS = {b"iframe": (b"srcdoc",), b"frame": (b"srcdoc",), b"meta": (b"content",)}
_TAG_NAME_RE = re.compile(rb"<([A-Za-z][^\t\n\f\r />]*)")
_HANDLER_IN_TAG_RE = re.compile(rb"""[\t\n\f\r /"']([oO][nN][a-zA-Z]+)(?![^\t\n\f\r /=>])""")


def unended(tag: bytes) -> bytes:
    """A start tag (its first bytes) whose end the rewriter never reads: the page ends inside
    it, or it runs past MAX_TAG. What it holds further on cannot be checked, and the
    proxy's own markup after the page would end it (a tracker the browser would have
    dropped with the tag then loaded): it goes out inert, an empty value first for each
    attribute it could fetch or act through, and style (a browser takes the first of two
    of a name). Fail closed: no service is named, nothing can put it back."""
    m = _TAG_NAME_RE.match(tag)
    if m is None:
        return tag
    name = m.group(1).lower()
    acting = (
        *URL_ATTRS.get(name, ()),
        *_ACTING_ATTRS.get(name, ()),
        *((ENDPOINT_ATTRS[name],) if name in ENDPOINT_ATTRS else ()),
        b"style",
        *(h.lower() for h in _HANDLER_IN_TAG_RE.findall(tag, m.end())),  # (its event handlers)
    )
    inert = b"".join(b' %s=""' % a for a in dict.fromkeys(acting))
    return tag[: m.end()] + inert + tag[m.end() :]
