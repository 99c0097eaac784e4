"""What is allowed: services recognised by host, cookie name or inline marker.

Hosts are judged in layers: the config's services first (whatever the host; but a built-in
it uses gives the hosts the catalog files under another inside its wider domains to that
one: Policy._file_apart), then, off the site's own registrable domain, the tracker
knowledge base (catalog/knowledge.py: the built-in base and the operator's imported lists),
then `unknown_third_parties`.
Matching uses one combined structure per kind (dicts, one compiled regex, one Aho-Corasick
automaton for inline markers), so the cost stays near-flat as the number of services and
known domains grows.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from urllib.parse import unquote

import ahocorasick_rs
from blake3 import blake3

from consentproxy.catalog.knowledge import (
    CATALOG_SOURCE,
    Knowledge,
    KnownTracker,
    on_path,
    read_layer,
    served_path,
)
from consentproxy.catalog.ocd import CookieDatabase, CookieRecord, cookie_database
from consentproxy.config import (
    DATABASE_CATEGORIES,
    FORMER_CMP,
    NEIGHBOUR_CATEGORY,
    builtin_services,
)
from consentproxy.consent import ConsentState
from consentproxy.domains import MAX_HOST_NAME, registrable, same_site
from consentproxy.settings import Config, Service

# Scripts that load or send to a URL: a tracker host in such a script is a load, not data.
# In any case: these words in the lower-cased text, or a call matching _LOADER_CALL_RE at
# one of _LOADER_CALLS (found by _LOADER at memory speed, a regex search runs at ~50 MB/s).
_LOADER_WORDS = (
    b"document.write",
    b"createelement",
    b"appendchild",
    b"insertbefore",
    b"sendbeacon",
    b"xmlhttprequest",
    b"importscripts",
)
_LOADER_CALLS = (
    b".src",
    b"new",
    b"fetch",
    b".open",
    b"location",
    b"navigation",
    b"import",
    b"from",
)
# Space between the tokens of a call: comments too (`import/**/"url"` is an import), of a
# bounded length (a comment left open must not make each try read to the end).
_JS_COMMENT = rb"/\*[^*]{0,256}\*/|//[^\n/]{0,256}\n"
_JS_SPACE = rb"(?:\s|%s)*" % _JS_COMMENT
# A member is read as `.name`, `?.name` or `['name']` (_MEMBER: from the end of the name
# before it, `x` or `['x']`), comments between tokens as spaces.
_MEMBER = rb"""(?:[\'\"]%(s)s\])?%(s)s(?:\??\.|\[%(s)s[\'\"])%(s)s""" % {b"s": _JS_SPACE}
# A navigation by script: `location` (not a variable so named, nor compared) or its href
# set, assign() or replace() called, the Navigation API's navigate().
_NAVIGATION = (
    rb"""location(?<!\wlocation)(?<!var location)(?<!let location)(?<!const location)"""
    rb"""(?:%(m)shref)?(?:[\'\"]%(s)s\])?%(s)s\+?=(?!=)"""
    rb"""|location(?<!\wlocation)%(m)s(?:assign|replace)\b"""
    rb"""|navigation(?<!\wnavigation)%(m)snavigate\b"""
) % {b"s": _JS_SPACE, b"m": _MEMBER}
_LOADER_CALL_RE = re.compile(  # (import(url), import 'url', import x from 'url': modules)
    rb"\.src%(s)s=|new(?:\s|%(c)s)+image|fetch%(s)s\(|\.open%(s)s\(|%(n)s"
    rb"|import%(s)s[(\'\"]|from%(s)s[\'\"]"
    % {b"s": _JS_SPACE, b"c": _JS_COMMENT, b"n": _NAVIGATION}
)
# Both, every place each occurs, in one pass (a scan per word cost ~1 ms on a 261 KB script).
_LOADER = ahocorasick_rs.BytesAhoCorasick(_LOADER_WORDS + _LOADER_CALLS)
# Loads no run-time hook of guard.js holds (docs/SECURITY.md), in the lower-cased text: a
# module's import or import() (not CSS's "!important" or "@import", which the guard holds
# in a style's text), a worker's (its importScripts and fetches), a navigation (_NAVIGATION;
# a refresh made by script), a worklet (what its module imports; Shared Storage's) and the
# rest of SECURITY.md's list (WebRTC, setNamedItem, execCommand). fetchLater, a FontFace's
# source, the Cache API, setHTML and a form submitted or a link clicked by script are hooked.
# Each alternative starts with a literal, a word's boundary checked behind it: the engine
# skips to the bytes they start with (9 ms on a 261 KB script, 23 with leading \b's).
_UNHOOKED_RE = re.compile(
    rb"""import(?<!\wimport)(?<!@import)(?:\b|scripts)|worker%(s)s\("""
    rb"""|serviceworker%(m)sregister|worklet|%(n)s"""
    rb"""|http-?equiv|rtcpeerconnection|setnameditem|execcommand"""
    % {b"s": _JS_SPACE, b"m": _MEMBER, b"n": _NAVIGATION}
)
# Words one of them has, looked for first (at memory speed).
_UNHOOKED_WORDS = (
    b"import",
    b"worker",
    b"worklet",
    b"location",
    b"navigate",
    b"equiv",
    b"rtcpeer",
    b"setnamed",
    b"execcommand",
)
# The words an event handler's code holds if blocked_inline(handler=True) may hold it: one of
# a load no hook holds, or a data: module's (rewrite/neutralise.py's skip condition).
HANDLER_WORDS = (*_UNHOOKED_WORDS, b"data:")
# An inline script longer than this is the site's own code (an app's bootstrap, its config
# or a hydration bundle: 16-195 KB on the real pages), not a tracker's snippet (the built-in
# services' run to 2 KB, a vendor's loader inlined whole to 10): when every tracker it names
# is only a URL it loads the ways guard.js holds, it runs whatever the choice (before any,
# after Reject all) and the guard holds those loads (held whole, the site's own code never
# ran for a visitor who had not accepted). A marker or a load no hook holds (_unhooked)
# holds it still, whatever its length.
SITE_SCRIPT_BYTES = 16 * 1024
# A marker is not found at the end of a longer name ("onselfclosingtag(" in an HTML parser's
# code is no call of gtag): where it starts with one of these bytes, the byte before it is none.
_NAME_BYTE = bytes(
    c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$" for c in range(256)
)
# Inline scripts are classified once per distinct text, for at most this many texts (then
# the cache starts over); those over INLINE_CACHE_TEXT are remembered by their digest: a
# bound of 8 MB.
INLINE_CACHE_TEXT = 4096
INLINE_CACHE_ENTRIES = 2048
# A URL's host as a script may spell it: plain (letters, digits, dots, hyphens, up to its last
# letters after a dot: the common case, read as it is), or, where its run of those bytes goes
# on in a spelling the URL parser or a JavaScript string undoes, spelt: percent-escapes
# (www.google%2Danalytics.com), bytes of non-ASCII characters UTS #46 may map to ASCII
# (fullwidth letters, the ideographic full stop "。"), tabs and newlines (the URL parser drops
# them) and a string's escapes (\t, \n, \r, \uXXXX, \u{...}, \xXX, a line continuation):
# each such spelling read as url_target reads an attribute's host (_spelt_host), once.
# (The escapes of ASCII characters are read before already, see _JS_ASCII_ESCAPE_RE.)
_ESCAPE = (  # (of a non-ASCII character: the text's escapes of ASCII ones are read already)
    rb"\\(?:u(?!00[0-7])[0-9a-fA-F]{4}|u\{(?!0*[0-7]?[0-9a-fA-F]\})[0-9a-fA-F]{1,6}\}"
    rb"|x[89a-fA-F][0-9a-fA-F]|[tnr]|\r\n?|\n|\xe2\x80[\xa8\xa9])"
)
_SPELT = rb"%|[\x80-\xff\t\n\r]|" + _ESCAPE
# (spelt where one of those follows the run's plain bytes, tabs and newlines only where a
# host's byte comes after them: an empty comment's "//" at its line's end reads no host, as
# before; its next line's code reads as a host of its own, which no service names)
_HOST = (
    rb"((?=[a-zA-Z0-9.-]++(?:%%|[\x80-\xff]|%(e)s|[\t\n\r]++[a-zA-Z0-9.%%\x80-\xff\\-])"
    rb"|%%|[\x80-\xff]|%(e)s|[\t\n\r]++[a-zA-Z0-9%%\x80-\xff])"
    rb"(?P<spelt>(?:[a-zA-Z0-9.-]|%(x)s)+)|[a-zA-Z0-9.-]+\.[a-zA-Z]{2,})"
    % {b"x": _SPELT, b"e": _ESCAPE}
)
# What may come before a host: userinfo (https://u@host, https://a@b@host: the URL parser
# takes the host after the last "@"), read past. After two slashes a run of it ends at the
# next slash, so each byte is read once; without slashes (https:u@host) a match may start at
# each "http:" of a run, so the last "@" is looked for in the next 256 bytes only.
_USERINFO = rb"(?:[^\s/\\@\"'<>?#]*+@)*+"
_SLASHLESS_USERINFO = rb"(?:[^\s/\\\"'<>?#]{0,256}@)?"
# A tab or a newline (the URL parser drops them wherever they are), a string's escape of one
# or a line continuation (at U+2028 and U+2029 too). Each read one way only: a CRLF
# continuation also read as a backslash-CR and a newline made a run of n of them 2**n
# readings (the \n possessive).
_BREAK = rb"(?:[\t\n\r]|\\[tnr\n]|\\\r\n?+|\\\xe2\x80[\xa8\xa9])"
# A host and path inside a URL in text: //host, \/\/host (JSON-escaped) or \\host. Both
# cases spelt out: re.IGNORECASE made each match ~10x slower on long texts. Group 1 the
# host, "spelt" set when spelt, 3 the path (after a port; its tabs and newlines, a string's
# escaped backslashes and slashes, read by _host_path).
_AFTER_HOST = rb"(?::(?:[0-9]|%(b)s)*+)?(%(b)s*(?:/|\\/|\\\\)[^ \f\v\"'<>?#]*)?" % {b"b": _BREAK}
_AFTER_SLASHES = _USERINFO + _HOST + _AFTER_HOST
_URL_HOST_RE = re.compile(rb"(?:/|\\/|\\)(?:/|\\/|\\)" + _AFTER_SLASHES)
# A slash, then tabs or newlines (the URL parser drops them, a string's escapes of them or a
# line continuation too) and a slash: "https:/<TAB>/host". Found among _SEPARATORS by how it
# starts: a slash and a tab, a string's escape, or a line break ("*/" ends many a comment's
# line: on the 109 real pages, 654 times in 14 MB, each a match failing in a few bytes).
_BREAKS_AFTER = (b"\t", b"\\t", b"\\n", b"\\r", b"\\\n", b"\\\r", b"\\\xe2", b"\n", b"\r")
_BROKEN_URL_RE = re.compile(rb"/%s+(?:/|\\/|\\)" % _BREAK + _AFTER_SLASHES)
# Where a _URL_HOST_RE match may start: a host byte after two of "/" and "\\" (each pair
# found by _SEPARATORS); _URL_SHAPE tells the kind of a byte: "/" for those two, "a" for
# the bytes a host may start with, " " for the rest.
_PAIRS = 4  # (the first four: a pair; after them, broken slashes' starts)
_SEPARATORS = ahocorasick_rs.BytesAhoCorasick(
    [b"//", b"/\\", b"\\/", b"\\\\", *(b"/" + b for b in _BREAKS_AFTER)]
)
_HOST_BYTES = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-%"
_URL_SHAPE = bytes(
    47 if c in b"/\\" else 97 if c in _HOST_BYTES or c >= 0x80 else 32 for c in range(256)
)
_URL_BREAKS = b"\t\n\r"  # (the URL parser drops them wherever they are)
# The bytes after a backslash that start an escape of _SPELT's.
_ESCAPE_LETTERS = frozenset(bytes((c,)) for c in b"uxtnr\n\r\xe2")
# In a script that writes markup (which the guard cannot see: it says document.write in
# any case), also a string that starts with host/path, its scheme concatenated before it:
# "apps.example.com/x.js".
_BARE_URL_RE = re.compile(rb"[\"']%s((?:/|\\/)[^\s\"'<>?#]*)" % _HOST)
# A URL of a special scheme with one slash or none before its host ("https:host/x.js",
# "https:/host", "https:<TAB>/host"), breaks in its scheme too ("ht<TAB>tps:host": the URL
# parser drops them before it reads the scheme): it reads a host there too (in the
# lower-cased text).
_SCHEME_HOST_RES = tuple(  # (each starts with a letter: the engine skips to it at C speed)
    # ("//" after the colon is _URL_HOST_RE's: not tried again here)
    re.compile(
        b"".join(b"%c%s*" % (c, _BREAK) for c in scheme)
        + rb"(?:s%s*)?:(?!//)%s*(?:/|\\/|\\)?" % (_BREAK, _BREAK)
        + _SLASHLESS_USERINFO
        + _HOST
        + _AFTER_HOST
    )
    for scheme in (rb"http", rb"ws")
)
# A spelt host longer than this is read as none: what UTS #46 maps a long run costs ~2 us a
# byte (a comment's words after "//", in a script without spaces), and a host of more than
# MAX_HOST_NAME loads nothing.
MAX_SPELT_HOST = 4 * MAX_HOST_NAME
# What a script's string literals say once their escapes are read (`import "https:\u002f\u002f
# www\x2egoogle-analytics.com/a.js"`, an import map's JSON "\u002f"): \u{...}, \u00XX, \xXX of
# an ASCII character (others, and \t, \n, \r, are read in a host where it is spelt with
# them: _SPELT), and a character of a URL escaped for nothing (\. is "."); the others (\",
# \/, \\) stay: no URL goes on through them.
_JS_ASCII_ESCAPE_RE = re.compile(rb"\\(?:u00|x)[0-7][0-9a-fA-F]|\\u\{0*[0-7]?[0-9a-fA-F]\}")
_JS_CHAR_ESCAPE_RE = re.compile(rb"\\([.:\-ac-eg-mo-qswyzA-Z])")
# A spelt host's escapes (_SPELT's): \uXXXX, \u{...} and \xXX are the character, \t, \n, \r
# and a line continuation nothing (the URL parser drops a tab or a newline).
_HOST_ESCAPE_RE = re.compile(
    rb"\\(?:u([0-9a-fA-F]{4})|u\{([0-9a-fA-F]{1,6})\}|x([0-9a-fA-F]{2})|[tnr]|\r\n?|\n"
    rb"|\xe2\x80[\xa8\xa9])"
)
# What a spelt host must read as to be one (letters, digits, "-", "_" and dots, as
# url_target's reading of a known service's host).
_HOST_NAME_RE = re.compile(r"[a-z0-9_.-]+")
# A script module as a data: URL in a script's text (an import of it, an import map's
# entry): its code is judged as the script's own.
_DATA_SCRIPT_RE = re.compile(
    rb"(?i)data:(?:text|application)/(?:x-)?(?:java|ecma)script[^,\"'`\s]*,[^\"'`\s]*"
)
# The category of what may never load (unknown_third_parties: block, or a known tracker
# whose category the config lacks): no category is called that (NAME_RE).
NEVER = "-"
# Known trackers held on the site are remembered (the banner counts them, the CSP allows
# the consented ones), up to this many.
MAX_SEEN = 512
# What rewrite.neutralise worked out for one start tag, memoised per consent choice: the
# new tag (None: unchanged), what it blocks as (service, tag), the unknown hosts it names.
Blocked = tuple[tuple[str, str], ...]  # (service, element) for reports
TagOutcome = tuple[bytes | None, Blocked, tuple[str, ...]]
# An inline script's services, and the names of those no run-time hook holds.
Inline = tuple[tuple[Service, ...], frozenset[str]]


def memo_digest(data: bytes) -> bytes:
    """16 bytes that name a long text (a script, a stylesheet, a long tag) in a memo. A
    cryptographic hash: a page (or a visitor's words it reflects) must not be able to make a
    tracker's script share the digest of one let through. BLAKE3: 2-3 GB/s on texts of 16 KB
    and more, where SHA-256 (with the CPU's own instructions) does 1.2-1.4 and BLAKE2 0.55."""
    return blake3(data).digest(16)


class Policy:
    """The compiled view of a config: classify hosts, cookies and inline scripts."""

    def __init__(
        self,
        config: Config,
        database: CookieDatabase | None = None,
        knowledge: Knowledge | None = None,
    ):
        """database: the Open Cookie Database to use (default: the packaged snapshot),
        unless the config turns it off; knowledge: the tracker layers below the config
        (default: the built-in ones, the services the config does not use, and the
        config's tracker_lists)."""
        self.config = config
        self.required = frozenset(c.name for c in config.categories if c.required)
        self.optional = tuple(c.name for c in config.categories if not c.required)
        self.services = {s.name: s for s in config.services}
        self.services_in: dict[str, frozenset[str]] = {  # category -> its service names
            c.name: frozenset(s.name for s in config.services if s.category == c.name)
            for c in config.categories
        }
        # The classification tables (guard.js gets the same ones, see banner.client_config).
        self.exact_hosts: dict[str, Service] = {}
        self.wild_hosts: dict[str, Service] = {}  # "*.example.com" -> key "example.com"
        self.path_hosts: dict[str, list[tuple[str, Service]]] = {}  # host -> (prefix, service)
        self.cookie_names: dict[str, str] = {}  # cookie name -> category
        self.cookie_patterns: list[tuple[str, str]] = []  # ("name_*", category)
        markers: list[bytes] = []
        self._marker_service: dict[bytes, Service] = {}
        necessary = next(c.name for c in config.categories if c.required)
        named = [(c, svc.category) for svc in config.services for c in svc.cookies]
        for svc in config.services:
            self._enter(svc, svc.hosts, svc.domains)
            for m in svc.inline:
                key = m.encode()
                if key not in self._marker_service:
                    self._marker_service[key] = svc
                    markers.append(key)
        # necessary_cookies win over a service's names, patterns over names too (README: the
        # first rule that matches), and the consent cookie is always necessary. guard.js
        # reads the same tables in the same order: names, then patterns in their order.
        necessary_patterns = _patterns((n, necessary) for n in config.necessary_cookies)
        necessary_re = _combined(necessary_patterns)
        for name, category in named:
            if "*" not in name:
                self.cookie_names.setdefault(
                    name, necessary if necessary_re and necessary_re.fullmatch(name) else category
                )
        for name in (*config.necessary_cookies, config.consent.cookie_name):
            if "*" not in name:
                self.cookie_names[name] = necessary
        self.cookie_patterns = necessary_patterns + _patterns(named)
        self._cookie_re = _combined(self.cookie_patterns)
        # Cookies the config does not name: the built-in services it does not use, then
        # the Open Cookie Database (unless `cookie_database: false`).
        unused = [
            (c, svc)
            for svc in builtin_services().values()
            if svc.name not in self.services and config.cookie_database
            for c in svc.cookies
        ]
        self._catalog_names = {n: svc for n, svc in reversed(unused) if "*" not in n}
        self._catalog_patterns = _patterns(unused)
        self._catalog_re = _combined(self._catalog_patterns)
        self.database = (
            (database if database is not None else cookie_database())
            if config.cookie_database
            else None
        )
        self._database_category = _database_categories(config, necessary)
        self.knowledge = (
            knowledge
            if knowledge is not None
            else Knowledge(
                [s for s in builtin_services().values() if s.name not in self.services],
                [read_layer(p) for p in config.tracker_lists],
            )
        )
        self._csp_allow = frozenset(config.csp_allow)
        self._held: dict[tuple[str, str], Service] = {}  # (tracker, its category) -> Service
        # Built-ins the config does not use that take hosts its own cover only by a wider
        # domain (_file_apart): name -> (that built-in as held here, the wider one's name).
        self.apart: dict[str, tuple[Service, str]] = self._file_apart()
        self.seen: dict[str, Service] = {}  # known trackers met on the site, by name
        # (text or its digest, markup, site) -> the services an inline script belongs to
        self._inline_cache: dict[tuple[bytes, bool, str, bool], Inline] = {}
        self._url_hosts: dict[tuple[bytes, str], bool] = {}  # see _url_holds
        # Whether a service or a tracker list names an internationalised host (see
        # _spelt_host; the shipped lists name none).
        self._idn = any(
            host.startswith("xn--") or ".xn--" in host
            for hosts in (
                self.exact_hosts,
                self.wild_hosts,
                self.path_hosts,
                self.knowledge.domains,
                self.knowledge.paths,
            )
            for host in hosts
        )
        # What each start tag became, per consent choice (rewrite.neutralise's): kept as
        # long as this policy, so a reload starts afresh.
        self.tag_memo: dict[tuple[object, ...], TagOutcome] = {}
        # Where the URLs of each <style> text are, by its digest, whatever the choice.
        self.style_urls: dict[bytes, list[tuple[int, int, str]]] = {}
        self.style_urls_bytes = 0  # what style_urls holds, as neutralise counts it
        # Per consent choice, the hosts loads are let through from (rewrite.neutralise's).
        self.settled_hosts: dict[tuple[object, ...], dict[bytes, bool]] = {}
        # The inline scripts and <style> elements worked out, per choice (rewrite.neutralise's).
        self.element_memo: dict[bytes, dict[object, TagOutcome]] = {}
        # Leftmost-longest, as a regex alternation of the markers would find them.
        self._markers = (
            ahocorasick_rs.BytesAhoCorasick(
                markers, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest
            )
            if markers
            else None
        )
        self._marker_services = [self._marker_service[m] for m in markers]

    def _file_apart(self) -> dict[str, tuple[Service, str]]:
        """A built-in the config uses claims no host (or path) the catalog files under a
        built-in it does not use, inside one of its wider domains: px.ads.linkedin.com,
        under `use: linkedin`'s linkedin.com, is the Insight Tag's, which a visitor who
        allowed social networks for an embedded post has not allowed. That built-in takes
        it in the tables, as if the config used it for that host alone, in the category a
        known tracker of its would have (the neighbour's where the config lacks its own),
        unless the config has no category for it or the wider service's entry is the
        operator's, not the catalog's (then the config's service keeps it). Worked out
        once: the lookups stay the tables' own."""
        builtin = builtin_services()
        apart: dict[str, tuple[Service, str]] = {}
        for base in builtin.values():
            category = self.third_party_category(base.category)
            if base.name in self.services or category is None:
                continue
            owners: dict[str, str] = {}  # entry -> the config's service covering it widely
            for entry in (*base.hosts, *base.domains):
                host, slash, _ = entry.removeprefix("*.").partition("/")
                owner = self.service_for_host(host)
                if owner is not None and _covers_widely(
                    self.services.get(owner.name), builtin.get(owner.name), host, bool(slash)
                ):
                    owners[entry] = owner.name
            if owners:
                svc = self._held.setdefault(
                    (base.name, base.category), replace(base, category=category)
                )
                self._enter(
                    svc,
                    [h for h in base.hosts if h in owners],
                    [d for d in base.domains if d in owners],
                )
                apart[base.name] = svc, next(iter(owners.values()))
        return apart

    def _enter(self, svc: Service, hosts: Iterable[str], domains: Iterable[str]) -> None:
        """Put a service's host entries and domains in the tables (a key's first stays)."""
        for h in hosts:
            host, slash, path = h.partition("/")
            if slash:  # (read as a request's path is: on_path)
                self.path_hosts.setdefault(host, []).append((served_path("/" + path), svc))
                continue
            table = self.wild_hosts if host.startswith("*.") else self.exact_hosts
            table.setdefault(host.removeprefix("*."), svc)
        for domain in domains:
            self.exact_hosts.setdefault(domain, svc)
            self.wild_hosts.setdefault(domain, svc)

    # --- services by host --------------------------------------------------------------

    def service_for_host(self, host: str, path: str = "") -> Service | None:
        """The service a URL belongs to: host and path prefix entries (www.google.com/maps)
        first, then exact hosts, then the closest wildcard."""
        host = host.lower().rstrip(".")
        if path and host in self.path_hosts:
            svc = self.path_service(host, path)
            if svc is not None:
                return svc
        svc = self.exact_hosts.get(host)
        if svc is not None:
            return svc
        dot = host.find(".")
        while dot != -1:
            svc = self.wild_hosts.get(host[dot + 1 :])
            if svc is not None:
                return svc
            dot = host.find(".", dot + 1)
        return None

    def configured(self, host: str, path: str = "") -> Service | None:
        """The config's own service a URL belongs to (service_for_host's, but no built-in
        filed apart): what its declaration lists, what a suggestion need not name."""
        svc = self.service_for_host(host, path)
        return None if svc is None or svc.name in self.apart else svc

    def path_service(self, host: str, path: str) -> Service | None:
        """The service a host and path entry (www.google.com/maps) gives a URL, if any (host:
        lower-case), on the path its origin serves (knowledge.on_path)."""
        return on_path(self.path_hosts.get(host, ()), path)

    def holder(
        self, host: str, path: str = "", site: str = "", unknown: bool = True
    ) -> Service | None:
        """The service a load from host+path waits for on a page of `site` (a registrable
        domain): a configured service; else, off the site's own domain, a known tracker
        (known_trackers: hold) or, with unknown=True, an unknown third party as
        unknown_third_parties says. None: it may always load. A known tracker found is met:
        remembered in `seen` (the banner lists it, the CSP lets it in once consented, the
        page digests change), so a caller that only asks (check-config) does so on a Policy
        no visitor is served with."""
        host = host.lower().rstrip(".")
        known = self._known_holder(host, path, site)
        if isinstance(known, KnownTracker):
            return self.known_service(known)
        if not isinstance(known, Unknown):
            if known is not None and known.name in self.apart:
                self._meet(known)  # (a built-in filed apart: a known tracker, met)
            return known
        policy = self.config.unknown_third_parties
        if not unknown or policy == "allow" or not site or self._csp_allowed(host):
            return None
        name = registrable(host)
        return Service(
            name=name, category=NEVER if policy == "block" else policy, title={"en": name}
        )

    def _known_holder(
        self, host: str, path: str, site: str
    ) -> Service | KnownTracker | None | Unknown:
        """What holds a load from host (lower-case) by the config and the knowledge base,
        UNKNOWN when neither knows it. No side effect (holder's remembers trackers met)."""
        svc = self.service_for_host(host, path)
        if svc is not None or (site and same_site(host, site)):
            return svc
        entry = self.knowledge.lookup(host, path)
        if entry is None:
            return UNKNOWN
        return entry if entry.held and self.config.known_trackers != "allow" else None

    def verdict(self, host: str, path: str = "", site: str = "") -> str:
        """What the layers say of a load, for people (observe, scan, catalog classify)."""
        host = host.lower().rstrip(".")
        svc = self.service_for_host(host, path)
        if svc is not None and svc.name in self.apart:
            return (
                f"built-in service {svc.name} ({svc.category}), which the catalog files "
                f"apart from the config's {self.apart[svc.name][1]}"
            )
        if svc is not None:
            return f"service {svc.name} ({svc.category}) of the config"
        if site and same_site(host, site):
            return "the site's own host"
        entry = self.knowledge.lookup(host, path)
        if entry is not None and not entry.held:
            return f"known, not a tracker: {entry.label} ({entry.kind}, {entry.source})"
        if entry is not None:
            what = f"known tracker {entry.label} ({entry.source})"
            if self.config.known_trackers == "allow":
                return f"{what}: loads (known_trackers: allow)"
            category = self.mapped_category(entry.category)
            return f"{what}: " + (
                f"loads ({category} is required)"
                if category in self.required
                else f"held until {category} is accepted"
                if category != NEVER
                else f"held for good ({entry.category} has no optional category here: "
                "map it under cookie_database, or name the service)"
            )
        policy = self.config.unknown_third_parties
        if policy != "allow" and self._csp_allowed(host):
            return "unknown to the knowledge base: loads (named in csp_allow)"
        return (
            "unknown to the knowledge base: "
            + (
                "loads"
                if policy == "allow"
                else "held for good"
                if policy == "block"
                else f"held until {policy} is accepted"
            )
            + f" (unknown_third_parties: {policy})"
        )

    def known_service(self, entry: KnownTracker) -> Service:
        """A known tracker as a service of this config: its category mapped like the Open
        Cookie Database's (NEVER when the config has no such category)."""
        key = (entry.name, entry.category)
        svc = self._held.get(key)
        if svc is None:
            category = self.mapped_category(entry.category)
            builtin = builtin_services().get(entry.name)
            svc = self._held[key] = (
                replace(builtin, category=category)
                if entry.source == CATALOG_SOURCE and builtin is not None
                else Service(
                    name=entry.name,
                    category=category,
                    title={"en": entry.label},
                    vendor=entry.vendor,
                    domains=entry.domains,
                )
            )
        self._meet(svc)
        return svc

    def _meet(self, svc: Service) -> None:
        """Remember a known tracker met on the site (see holder)."""
        if svc.name not in self.seen and len(self.seen) < MAX_SEEN:
            self.seen[svc.name] = svc

    def mapped_category(self, category: str) -> str:
        """A third party's catalog category as this config's, NEVER when it has none."""
        return self.third_party_category(category) or NEVER

    def third_party_category(self, category: str) -> str | None:
        """A catalog category of a third party's (a built-in service, a known tracker) as
        this config's, mapped like the Open Cookie Database's, but never into a required
        category unless it is the catalog's own necessary: `cookie_database: {functional:
        technical}` makes the site's preference cookies technical, not a chat widget's
        visitor id or Google Fonts' requests (those then wait for a service of the config)."""
        mapped = self._database_category.get(category)
        return None if mapped in self.required and category != "necessary" else mapped

    def known_domains(self, all_known: bool = True) -> dict[str, list[str]]:
        """The knowledge layers' domains by the category a load from them waits for, for
        guard.js; "" holds those never held: all of them, or (all_known=False) only those
        under a held domain, where the most specific name must win."""
        hold = self.config.known_trackers == "hold"
        held: dict[str, str] = {}
        for domain, entry in self.knowledge.domains.items():
            key = self.mapped_category(entry.category) if hold and entry.held else ""
            held[domain] = "" if key in self.required else key
        out: dict[str, list[str]] = {}
        for domain, key in held.items():
            if (
                key
                or all_known
                or any(held.get(domain[i + 1 :]) for i, c in enumerate(domain) if c == ".")
            ):
                out.setdefault(key, []).append(domain)
        return out

    def _csp_allowed(self, host: str) -> bool:
        """The operator's csp_allow names the host (its own CDN): not an unknown party."""
        allow = self._csp_allow
        if not allow:
            return False
        if host in allow:
            return True
        dot = host.find(".")
        while dot != -1:
            if "*" + host[dot:] in allow:
                return True
            dot = host.find(".", dot + 1)
        return False

    def blocked_host(
        self, host: str, state: ConsentState, path: str = "", site: str = ""
    ) -> Service | None:
        """The service to block for a request to host+path, or None if it may load."""
        svc = self.holder(host, path, site)
        return svc if svc is not None and not self.loads(svc, state) else None

    def allows(self, svc: Service, state: ConsentState) -> bool:
        return svc.category in self.required or (
            state.allows(svc.category, svc.name) and svc.category != FORMER_CMP
        )

    def loads(self, svc: Service, state: ConsentState) -> bool:
        """Whether its scripts and requests may run: with consent, or before it for a Google
        tag in Consent Mode's advanced mode (its cookies wait for consent all the same)."""
        return svc.consent_mode == "advanced" or self.allows(svc, state)

    def outside(self, services: Iterable[str], categories: Iterable[str]) -> frozenset[str]:
        """The known services among `services` that belong to none of `categories`."""
        refused = frozenset(categories)
        return frozenset(
            s for s in services if s in self.services and self.services[s].category not in refused
        )

    def under_gpc(
        self, categories: Iterable[str], services: Iterable[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        """What Global Privacy Control leaves of a choice: the config's `gpc` categories
        refused, their services with them (the browser's signal wins over the cookie and
        over "accept all")."""
        refused = frozenset(self.config.gpc)
        return frozenset(categories) - refused, self.outside(services, refused)

    # --- cookies -----------------------------------------------------------------------

    def cookie_category(self, name: str) -> str | None:
        """The category of a cookie by name: the config's services and necessary names
        first, then the Open Cookie Database; None when nothing names it."""
        cat = self.named_cookie_category(name)
        if cat is None:
            svc = self.catalog_service(name)
            record = self.database_record(name) if svc is None else None
            if svc is not None:
                cat = self.third_party_category(svc.category)
            elif record is not None:
                cat = self._database_category[record.category]
        return cat

    def catalog_service(self, name: str) -> Service | None:
        """The built-in service (one the config does not use) that names this cookie."""
        return self._catalog_names.get(name) or _match(
            self._catalog_re, self._catalog_patterns, name
        )

    def database_categories(self) -> dict[str, str | None]:
        """The Open Cookie Database's mapped categories -> this config's (None: unknown)."""
        return dict(self._database_category)

    def database_record(self, name: str) -> CookieRecord | None:
        return self.database.lookup(name) if self.database is not None else None

    def named_cookie_category(self, name: str) -> str | None:
        """The category the config itself gives a cookie (a service or necessary_cookies)."""
        cat = self.cookie_names.get(name)
        return cat if cat is not None else _match(self._cookie_re, self.cookie_patterns, name)

    def cookie_allowed(self, name: str, state: ConsentState) -> bool:
        cat = self.cookie_category(name)
        if cat is None:
            unknown = self.config.unknown_cookies
            if unknown == "allow":
                return True
            if unknown == "block":
                return False
            cat = unknown
        return cat in self.required or state.allows(cat)

    # --- inline scripts ----------------------------------------------------------------

    def _inline(self, text: bytes, markup: bool, site: str, markers: bool = True) -> Inline:
        """Services an inline script belongs to: by marker, or by loading a tracker URL
        (a configured or known one: a host nothing knows is no reason to hold the site's
        code; in markup, an iframe's srcdoc, every tracker URL is a load); and the names of
        those no run-time hook holds. Short scripts (the analytics snippets) recur on every
        page of a site, long ones (an app's code or state) on many: the answer is
        remembered. markers: False for an event handler's code (see blocked_inline)."""
        memo_text = text if len(text) <= INLINE_CACHE_TEXT else memo_digest(text)
        key = (memo_text, markup, site, markers)
        found = self._inline_cache.get(key)
        if found is None:
            if len(self._inline_cache) >= INLINE_CACHE_ENTRIES:
                self._inline_cache.clear()
            found = self._inline_cache[key] = self._inline_services(
                text, markup, site, markers=markers
            )
        return found

    def _inline_services(
        self,
        text: bytes,
        markup: bool,
        site: str,
        depth: int = 0,
        unescaped: bool = False,
        unhooked_loads: bool = False,
        markers: bool = True,
    ) -> Inline:
        """depth: how many data: modules deep the text is; unescaped: its escapes are read
        already (read again, they cost a 195 KB script 1 ms and its judging again 2 ms).
        Unhooked: a service by marker (its own code), or by a URL in markup, a data: module
        or a script that loads in a way guard.js cannot hold (_unhooked; unhooked_loads: a
        data: module's code, imported)."""
        found: dict[str, Service] = {}
        unhooked: set[str] = set()
        svc: Service | None
        if self._markers is not None and markers:
            for index, start, _ in self._markers.find_matches_as_indexes(text):
                if (
                    start
                    and _NAME_BYTE[text[start - 1]]
                    and _NAME_BYTE[text[start]]
                    and text[start - 2 : start - 1] != b"\\"  # ("\ngtag(" in a string)
                ):
                    continue  # the end of a longer name: "onselfclosingtag(" calls no gtag
                svc = self._marker_services[index]
                found.setdefault(svc.name, svc)
                unhooked.add(svc.name)
        # The URLs of a configured or known tracker, found before asking whether the
        # script loads anything (most name none: _loads need not read them).
        urls = [u for m in url_host_matches(text) if (u := self._url_holds(m, site))]
        low = text.lower()
        if b"document.write" in low:
            urls += [u for m in _BARE_URL_RE.finditer(text) if (u := self._url_holds(m, site))]
        urls += [
            u
            for rx in _SCHEME_HOST_RES
            for m in rx.finditer(low)
            if (u := self._url_holds(m, site))
        ]
        # (a load no hook holds is a load too: execCommand's image, a refresh, WebRTC...)
        if urls and ((unhooked_here := markup or _unhooked(low)) or _loads(low)):
            unhooked_loads = unhooked_loads or unhooked_here
            for host, path in urls:
                svc = self.holder(host, path, site, unknown=False)
                if svc is not None:
                    found.setdefault(svc.name, svc)
                    if unhooked_loads:
                        unhooked.add(svc.name)
        # What the script's escapes and data: modules hide, judged the same way.
        if depth < 2:
            hidden = (
                [
                    (code, False)
                    for m in _DATA_SCRIPT_RE.finditer(text)
                    if (code := data_url_content(m.group()[5:].decode("latin-1")))
                ]
                if b"data:" in low
                else []
            )
            if not unescaped and b"\\" in text and (read := _js_unescape(text)) != text:
                hidden.append((read, True))
            for t, read_already in hidden:  # (a data: module is imported)
                services, names = self._inline_services(
                    t, markup, site, depth + 1, read_already, not read_already, markers
                )
                for svc in services:
                    found.setdefault(svc.name, svc)
                unhooked |= names
        return tuple(found.values()), frozenset(unhooked)

    def _url_holds(self, m: re.Match[bytes], site: str) -> tuple[str, str] | None:
        """The host and path of the URL matched in a script when it is one of a configured
        or known tracker, else None (whether it is, remembered by the host as spelt where no
        entry names a path: scripts repeat their hosts)."""
        raw = m.group(1)
        spelt = m.group(2) is not None  # (the "spelt" group: by number, a little faster)
        if len(raw) > (MAX_SPELT_HOST if spelt else MAX_HOST_NAME):
            return None  # (no DNS name: loads nothing, kept nowhere)
        key = (raw, site)
        held = self._url_hosts.get(key)
        if held is False:
            return None
        target = _host_path(m, self._idn)
        if target is None:  # (remembered: a spelt one took UTS #46 to read)
            if len(self._url_hosts) >= INLINE_CACHE_ENTRIES:
                self._url_hosts.clear()
            self._url_hosts[key] = False
            return None
        host, path = target
        paths = host in self.path_hosts or host in self.knowledge.paths
        if paths:
            target = host, _server_path(path)
        if held is None:
            known = self._known_holder(*target, site)
            held = known is not None and not isinstance(known, Unknown)
            if not paths:
                if len(self._url_hosts) >= INLINE_CACHE_ENTRIES:
                    self._url_hosts.clear()
                self._url_hosts[key] = held
        return target if held else None

    def blocked_inline(
        self,
        text: bytes,
        state: ConsentState,
        markup: bool = False,
        site: str = "",
        handler: bool = False,
    ) -> Service | None:
        """The service an inline script (or markup) waits for: the first consent does not
        cover, but none when the visitor accepted one of its services' optional categories
        and the others' are only URLs it loads the ways guard.js holds (their loads and
        cookies wait there, docs/SECURITY.md: the script is the site's own code, not
        theirs), nor whatever the choice when it is longer than SITE_SCRIPT_BYTES. Waiting
        for those alone, it waits for each of their categories, any of which brings it
        back; holding the code of refused services of several categories, for all of them
        ("a+b"; the banner reads both so). handler: the code of an event handler attribute
        (onclick...), judged as the site's own code of any length: held only for a load no
        run-time hook holds (import(), a navigation...: the guard holds the others, and lets
        a visitor's click open a "Share" window), and not by marker (the service's globals'
        stand-ins keep its calls: an onclick's `ga('send', ...); open_modal()` still works)."""
        services, unhooked = self._inline(text, markup, site, not handler)
        refused = [s for s in services if not self.loads(s, state)]
        own = [s for s in refused if s.name in unhooked]
        if own:
            return own[0] if len(own) == 1 else replace(own[0], category=all_of(own))
        if not refused or handler or len(text) > SITE_SCRIPT_BYTES:
            return None
        if any(s.category not in self.required and self.allows(s, state) for s in services):
            return None
        return replace(refused[0], category=" ".join(dict.fromkeys(s.category for s in refused)))

    # --- hosts the page may reach (CSP) ------------------------------------------------

    def allowed_hosts(self, state: ConsentState) -> list[str]:
        """The consented services' hosts."""
        return sorted(
            {h for s in self.config.services if self.loads(s, state) for h in s.source_hosts}
        )

    def met_hosts(self, state: ConsentState) -> list[str]:
        """The hosts of the known trackers met on the site so far whose category is accepted,
        in the order they were met: the site's markup decides which are met, so the CSP
        lists them only as far as its bound allows (csp.MAX_VALUE), the first met first."""
        return list(
            dict.fromkeys(
                h for s in self.seen.values() if self.loads(s, state) for h in s.source_hosts
            )
        )


def _covers_widely(used: Service | None, catalogued: Service | None, host: str, path: bool) -> bool:
    """Whether a service of the config covers a host (or, path: a path of it) only by the
    catalog's wider entries of its built-in: a domain or "*.domain" above the host (or the
    host's own, for a path), none of its entries naming the host, none the operator's."""
    if used is None or catalogued is None:
        return False
    if any(h.partition("/")[0] == host for h in used.hosts):
        return False
    wide = [(d, d in catalogued.domains) for d in used.domains]
    wide += [(h[2:], h in catalogued.hosts) for h in used.hosts if h.startswith("*.")]
    covering = [ours for d, ours in wide if host.endswith("." + d) or (path and host == d)]
    return bool(covering) and all(covering)


def all_of(services: Sequence[Service]) -> str:
    """The category mark of a hold for several services: all their categories ("a+b", as
    banner.js reads it). Two services of one category make it "a+a": the first's consent
    alone (a placeholder's Always allow) brought back the other's loads too. One service's
    is its own category, as it is."""
    if len(services) == 1:
        return services[0].category
    parts = list(dict.fromkeys(p for s in services for p in re.split("[+ ]", s.category)))
    return "+".join(parts * 2 if len(parts) == 1 and len(services) > 1 else parts)


class Unknown:
    """What _known_holder says of a host nothing knows (UNKNOWN, its one instance)."""


UNKNOWN = Unknown()


def _loads(low: bytes) -> bool:
    """Whether a script (lower-cased) loads or sends to a URL."""
    words = len(_LOADER_WORDS)
    return any(
        index < words or _LOADER_CALL_RE.match(low, start)
        for index, start, _ in _LOADER.find_matches_as_indexes(low, overlapping=True)
    )


def _unhooked(low: bytes) -> bool:
    """Whether a script (lower-cased) loads in a way guard.js cannot hold (_UNHOOKED_RE; its
    words found first, at memory speed)."""
    return any(w in low for w in _UNHOOKED_WORDS) and bool(_UNHOOKED_RE.search(low))


def url_host_matches(text: bytes) -> Iterator[re.Match[bytes]]:
    """_URL_HOST_RE.finditer(text), and _BROKEN_URL_RE's match at each run of broken
    slashes, trying it only where a match may start: its host comes
    after two slashes or backslashes (at k + 2 for a pair at k: a host byte, or a backslash
    that starts an escape), and its start, a slash or
    a backslash, 2 to 4 bytes before the host. Python's regex engine tries every byte, at
    ~100 MB/s."""
    pos = 0  # no match starts before (the end of the last one, or the starts tried)
    last = len(text) - 2  # a pair from there on has no host after it
    for index, k, _ in _SEPARATORS.find_matches_as_indexes(text, overlapping=True):
        if index >= _PAIRS:  # (read wherever they are, besides the pairs' matches: one may
            # have read past them as a host of its own, "\/\t\/host" as "\/\t")
            if k < last and (m := _BROKEN_URL_RE.match(text, k)):
                yield m
            continue
        if k < pos or k >= last:
            continue
        kind = _URL_SHAPE[text[k + 2]]
        if (
            kind != 97
            and (kind != 47 or text[k + 3 : k + 4] not in _ESCAPE_LETTERS)
            and text[k + 2] not in _URL_BREAKS
        ):
            continue  # (a host may start with a string's escape (\u..., \x..., \t...), or
            # a tab or a newline, which the URL parser drops)
        for start in range(max(pos, k - 2), k + 1):
            m = _URL_HOST_RE.match(text, start) if _URL_SHAPE[text[start]] == 47 else None
            if m is not None:
                yield m
                pos = m.end()
                break
        else:
            pos = k + 1


def _js_unescape(text: bytes) -> bytes:
    """The text with JavaScript string escapes read (see _JS_ASCII_ESCAPE_RE). Each escape
    the text holds is replaced all at once: a JSON blob's thousands of \u002f cost one call
    (a callback for each took 8 ms on a 261 KB app state)."""
    for escape in set(_JS_ASCII_ESCAPE_RE.findall(text)):
        text = text.replace(escape, bytes((int(escape[2:].strip(b"{}"), 16),)))
    return _JS_CHAR_ESCAPE_RE.sub(rb"\1", text)


def data_url_content(rest: str) -> bytes | None:
    """What a data: URL holds, from what follows its "data:": its payload, percent-decoded,
    and base64-decoded where its type says so (None: base64 that is not)."""
    meta, _, payload = rest.partition(",")
    if meta.lower().endswith(";base64"):
        try:
            return base64.b64decode(unquote(payload), validate=False)
        except (binascii.Error, ValueError):
            return None
    return unquote(payload).encode("utf-8", "replace")


def _host_path(m: re.Match[bytes], idn: bool = False) -> tuple[str, str] | None:
    """The host (lower-case, no final dot) and path (as spelt: see _server_path) of a URL
    matched in a script; None: its host, spelt, reads as none. idn: see _spelt_host."""
    path = (m.group(3) or b"").decode("latin-1")
    if m.group(2) is None:
        return m.group(1).decode("ascii").lower().rstrip("."), path
    host = _spelt_host(m.group(1), idn)
    return (host, path) if host else None


# What a path in a script's text spells otherwise than the server reads it: a string's
# escaped slash or backslash (each a slash to the URL parser), a tab, a newline, a string's
# escape of one or a line continuation (nothing).
_PATH_SPELLING_RE = re.compile(r"\\[/\\]|" + _BREAK.decode("latin-1"))


def _server_path(path: str) -> str:
    """A path matched in a script as the server reads it (where an entry names its host's
    paths): its spellings read (_PATH_SPELLING_RE), then resolved as url_target does."""
    from consentproxy.rewrite.neutralise import normal_path  # (see _spelt_host)

    return normal_path(_PATH_SPELLING_RE.sub(_path_char, path))


def _path_char(m: re.Match[str]) -> str:
    return "/" if m.group()[1:] in ("/", "\\") else ""


def _spelt_host(raw: bytes, idn: bool = False) -> str:
    """A host a script spells with escapes, percent-escapes or non-ASCII characters as the
    browser reads it: its string's escapes read (a character's as UTF-8, a tab's, a newline's
    and a line continuation's as nothing), then as url_target reads an attribute's host
    (tabs and newlines dropped, percent-decoded, UTS #46 in the page's likely encodings);
    "" where that is no host (a character no host may hold: the URL fails to load). idn:
    a service or a tracker list names an internationalised host (its xn-- form), which a
    script may spell in Unicode: every spelt host is read (else only one that may fold to
    ASCII)."""
    # (imported here: rewrite.neutralise reads this module, and its reading of hosts is the
    # one there is)
    from consentproxy.rewrite.neutralise import url_target

    if b"\\" in raw:
        raw = _HOST_ESCAPE_RE.sub(_host_escape, raw)
    plain = raw.translate(None, b"\t\n\r")  # (most: a comment's "//" and a newline)
    if plain.isascii() and b"%" not in plain:  # (what url_target reads such a host as)
        host = plain.decode("ascii").lower().rstrip(".")
        return host if _HOST_NAME_RE.fullmatch(host) else ""
    if b"%" not in plain and not idn and not _may_fold_to_ascii(plain):
        return ""  # (no host a service names: a comment's words, ~70 us each to map)
    target = url_target("//" + raw.decode("latin-1") + "/")
    host = target[0] if target is not None else ""
    return host if _HOST_NAME_RE.fullmatch(host) else ""


def _may_fold_to_ascii(plain: bytes) -> bool:
    """Whether non-ASCII text (UTF-8) may read as an ASCII host under UTS #46 (fullwidth
    letters, the ideographic full stop): its NFKC case-folded form is ASCII. A host a
    service or a tracker list names is ASCII (an internationalised one as its xn-- form:
    where one does, every spelt host is read, see _spelt_host); text that is no UTF-8 (a
    legacy charset's bytes) is read in full."""
    try:
        text = plain.decode("utf-8")
    except UnicodeDecodeError:
        return True
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return all(c.isascii() or _ignored(c) for c in folded.translate(_FULL_STOPS))


_FULL_STOPS = str.maketrans({"\u3002": ".", "\uff61": "."})  # (UTS #46: "."; NFKC: not)


def _ignored(c: str) -> bool:
    """What UTS #46 may map to nothing: format characters (a soft hyphen, zero widths, a
    BOM) and variation selectors (more than it ignores: those then read in full)."""
    return unicodedata.category(c) == "Cf" or "\ufe00" <= c <= "\ufe0f" or c >= "\U000e0100"


def _host_escape(m: re.Match[bytes]) -> bytes:
    """What a string escape in a spelt host stands for, as UTF-8 (a lone surrogate: kept as
    it is, it names no host)."""
    code = m.group(1) or m.group(2) or m.group(3)
    if code is None:
        return b""
    point = int(code, 16)
    if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
        return m.group()
    return chr(point).encode("utf-8")


def _patterns[T](pairs: Iterable[tuple[str, T]]) -> list[tuple[str, T]]:
    """The (name, value) pairs whose cookie name has a "*"."""
    return [(name, value) for name, value in pairs if "*" in name]


def pattern_source(name: str) -> str:
    """A cookie name of the config as a regex source any engine reads (guard.js's too): "*"
    is any run, nothing else is special."""
    return ".*".join(re.escape(p) for p in name.split("*"))


def _linear(name: str) -> str:
    """What pattern_source matches, as a regex whose time grows with the cookie's length
    alone: each piece between two "*" taken where it first occurs, never tried further on
    (an atomic group; further on cannot help). With ".*" each, three "*" took 8 s on a
    visitor's 1.6 KB cookie name, their worker stalled meanwhile."""
    pieces = [re.escape(p) for p in name.split("*")]
    middle = "".join(f"(?>.*?{p})" for p in pieces[1:-1])
    return pieces[0] + middle + (".*" + pieces[-1] if len(pieces) > 1 else "")


def names_cookie(names: Iterable[str], name: str) -> bool:
    """Whether one of a config's cookie names (or "*" patterns) is this cookie's."""
    return any(re.fullmatch(_linear(n), name) for n in names)


def _combined(patterns: Sequence[tuple[str, object]]) -> re.Pattern[str] | None:
    """One regex for all "*" names; the matching group's number is the pattern's index."""
    return (
        re.compile("|".join(f"(?P<p{i}>{_linear(n)})" for i, (n, _) in enumerate(patterns)))
        if patterns
        else None
    )


def _match[T](regex: re.Pattern[str] | None, patterns: list[tuple[str, T]], name: str) -> T | None:
    m = regex.fullmatch(name) if regex is not None else None
    return patterns[int(m.lastgroup[1:])][1] if m is not None and m.lastgroup else None


def _database_categories(config: Config, necessary: str) -> dict[str, str | None]:
    """The Open Cookie Database's (mapped) categories -> this config's."""
    names = {c.name for c in config.categories}
    out: dict[str, str | None] = {"necessary": necessary}
    for cat in DATABASE_CATEGORIES:
        out[cat] = config.cookie_database_categories.get(cat) or (cat if cat in names else None)
    # (a category the config lacks falls back to its neighbour, else the cookie counts as
    # unknown: unknown_cookies decides)
    for cat, neighbour in NEIGHBOUR_CATEGORY.items():
        out[cat] = out[cat] or out[neighbour]
    return out
