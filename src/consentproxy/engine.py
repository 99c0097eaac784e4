"""One request/response exchange, sans I/O: the single entry point of every adapter.

An adapter (aiohttp server, mitmproxy addon) turns what it received into a Request,
asks `Engine.begin` what to do, and applies the answer: a local response for the
reserved prefix, or headers to send upstream and, for the response, new headers and
an optional body transform. Both adapters behave the same because only this decides.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import InitVar, dataclass, field, replace
from functools import lru_cache
from urllib.parse import urlsplit

from consentproxy import csp
from consentproxy.banner.render import MARK_HEADER, NONCE, Banner, filled, slots, template
from consentproxy.body import BodyTransform, Sniff, Spoken
from consentproxy.config import HEADER_NAME_RE as TOKEN_RE  # (a name is a token)
from consentproxy.consent import (
    NO_DECISION,
    UNREAD,
    ConsentState,
    Signer,
    category_digests,
    consent_values,
    parse_state,
)
from consentproxy.cookies import (
    CookieFilter,
    capping,
    cookie_pairs,
    deletion_headers,
    set_cookie_name,
)
from consentproxy.declaration import Declaration
from consentproxy.domains import site_of
from consentproxy.endpoints import (
    CSP_REPORT,
    GPC_PATH,
    Endpoints,
    LocalResponse,
    not_allowed,
    plain,
)
from consentproxy.errors import ConfigError
from consentproxy.formercmp import categories as former_categories
from consentproxy.formercmp import read_choice, tool_cookies
from consentproxy.httpheaders import (
    Headers,
    all_sendable,
    end_to_end_pairs,
    joined,
    number,
    sendable,
    spaced,
    split_off,
    type_essence,
    valid_host,
    without,
)
from consentproxy.language import PageLanguage, request_language
from consentproxy.observe import Observer
from consentproxy.policy import Policy
from consentproxy.proof import archived
from consentproxy.record import Records
from consentproxy.report import Report, grown
from consentproxy.rewrite import encoding
from consentproxy.rewrite.neutralise import (
    Neutraliser,
    new_mark,
    refresh_urls,
    srcset_urls,
    url_target,
)
from consentproxy.rewrite.scanner import HtmlRewriter
from consentproxy.rewrite.selectors import OpenMarker, parse_selectors
from consentproxy.settings import STATE_HEADER, Config, Service

HTML_TYPES = ("text/html", "application/xhtml+xml")
WORKER_DESTS = frozenset({"worker", "sharedworker", "serviceworker"})  # (Sec-Fetch-Dest)
# What a browser renders as a document: an <object>'s or <embed>'s too (an untyped page in
# one was not sniffed, and Chromium ran its trackers through the proxy).
RENDERED_DESTS = frozenset({"document", "iframe", "frame", "object", "embed"})
JAVASCRIPT_TYPES = frozenset(
    {
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "text/ecmascript",
    }
)
BODILESS_STATUSES = (204, 205, 304)  # no content (RFC 9110 15.3.5, 15.3.6, 15.4.5)
# Statuses whose bodies are never rewritten nor treated as documents: the bodiless ones and
# 206, a part of what the visitor asked a Range of. (A 206 to a request with no Range is no
# part of anything: Chromium renders it as a page, as a 200, and the proxy had let an
# origin's 206 page through unrewritten, trackers and all.)
UNREWRITTEN_STATUSES = frozenset({*BODILESS_STATUSES, 206})
MARK_HEADER_LOWER = MARK_HEADER.lower()
STATE_HEADER_LOWER = STATE_HEADER.lower()
# A service worker's script under `csp: enforce` (Exchange._enforced_here): installed in place
# of the site's, it takes over and unregisters, so no worker answers for the site.
UNREGISTER_WORKER = b"""// consentproxy: no service worker under csp: enforce (docs/SECURITY.md)
self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function () { self.registration.unregister(); });
"""
# The request headers upstream_headers() changes or drops (the rest go to the origin as
# they came).
REQUEST_HEADERS_LOOKED_AT = frozenset(
    {
        "cookie",
        "accept-encoding",
        "if-none-match",
        "if-modified-since",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "host",
        "expect",
        "cdn-loop",
        "content-length",
        STATE_HEADER_LOWER,
    }
)
# Request headers a proxy writes to tell the origin the visitor's address, scheme, host or
# path (besides X-Forwarded-For, -Proto and -Host, which the proxy sets itself): one the
# visitor wrote reached the origin, which trusts the proxy's address, as the proxy's word
# (X-Real-IP, Forwarded: proto=https, X-Original-URL: /admin). Dropped unless they come
# from a trusted proxy; and their forms with '_' for '-' (CGI and PHP read X_Real_IP as
# X-Real-IP), and every other X-Forwarded-*.
FORWARDING = frozenset(
    {
        "forwarded",
        "x-real-ip",
        "client-ip",
        "true-client-ip",
        "x-client-ip",
        "x-cluster-client-ip",
        "x-originating-ip",
        "x-remote-ip",
        "x-remote-addr",
        "cf-connecting-ip",
        "fastly-client-ip",
        "x-forwarded",
        "front-end-https",
        "x-url-scheme",
        "x-scheme",  # (Tornado's xheaders read it as X-Forwarded-Proto)
        "x-original-url",
        "x-rewrite-url",
        "x-original-host",
        "x-host",
    }
)
CSP_HEADERS = ("content-security-policy", "content-security-policy-report-only")
# Headers whose quoted strings are URLs a browser fetches or posts to by itself: where the
# origin tells it to post reports (the Reporting API's endpoints; NEL's policy names one of
# Report-To's groups: unseen by any policy, with the page's URL), and speculation rules
# (Chromium fetches the rules from the header's URLs): dropped when one names a service
# held, reported as what it is.
QUOTED_URL_HEADERS = {
    "report-to": "report",
    "reporting-endpoints": "report",
    "speculation-rules": "speculationrules",
    # (not URLs: "host:port" alternatives a browser connects to for this origin's requests,
    # https only: a QUIC or TLS handshake with the tracker's server, the site named in it)
    "alt-svc": "alt-svc",
}
# A JSON or structured-field string; one left unclosed runs to the end (which no browser
# reads: tried from each quote again, `"\"\"\...` was read to its end that many times).
QUOTED_RE = re.compile(r'"((?:[^"\\]++|\\.)*+)(?:"|\\?\Z)')
# The most distinct URLs an origin's headers (Link, Alt-Svc, Report-To, Refresh, a CSP's
# report-uri, Location) are read for in one response: each is parsed and looked up in the
# policy, and a head of 256 KiB naming 12,000 distinct hosts held serve's loop 0.1-0.3 s
# (helper-247). Past it, each further one counts as held, unread: what names it does not go
# on (its link, its report-uri URL, its header).
MAX_HEADER_URLS = 256
# What no request target holds (RFC 9112 3.2): serve's parser refuses a control character in
# one, mitmproxy sent it on (an origin may read the path up to a NUL), and an HTTP/2 :path
# with a space went to an HTTP/1.1 origin as a request line of four parts.
TARGET_CONTROL_RE = re.compile(r"[\x00-\x20\x7f]")
# Methods whose answer echoes the request as the proxy sent it (TRACE, and IIS's TRACK):
# refused, never passed on; a 405's Allow lists the methods that are.
ECHOES = ("TRACE", "TRACK")
PASSED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
PAGE_CACHE_HEADERS = ("etag", "last-modified", "vary", "cache-control")  # replaced on pages
CACHE_LISTS = frozenset({"vary", "cache-control"})  # (their lines read as one: joined)
# What a cache in front reads instead of Cache-Control (RFC 9213's CDN-Cache-Control and a
# vendor's NAME-CDN-Cache-Control, Surrogate-Control, Akamai's Edge-Control, nginx's
# X-Accel-Expires): a page dependent on the consent state drops them, or a shared cache
# would keep one visitor's page for all (a CDN may also ignore Vary: Cookie).
TARGETED_CACHE_HEADERS = (
    "cdn-cache-control",
    "surrogate-control",
    "edge-control",
    "x-accel-expires",
)
VENDOR_CDN_CACHE = "-cdn-cache-control"


def _forwarding(lk: str) -> bool:
    """Whether a request header (lower-case name) is one FORWARDING names, in any form."""
    name = lk.replace("_", "-")
    return name in FORWARDING or name.startswith("x-forwarded")


def _dropped_on_pages(lk: str) -> bool:
    """Whether a page cached for the visitor's state (a 304) drops this (lower-case) field:
    the origin's CSP (the page's is the proxy's) and the cache directives of a CDN."""
    return lk in CSP_HEADERS or lk in TARGETED_CACHE_HEADERS or lk.endswith(VENDOR_CDN_CACHE)


# The origin's headers a rewritten page does not keep as they are.
REPLACED_ON_PAGES = frozenset(
    {
        "content-length",
        "content-encoding",
        "accept-ranges",
        "content-md5",
        "digest",
        "x-content-type-options",
        "content-range",  # (a 206 page no range was asked of: its bytes change)
        *PAGE_CACHE_HEADERS,
        *TARGETED_CACHE_HEADERS,
    }
)
# The origin's headers Exchange.response() looks at (the rest go to the visitor as they came).
RESPONSE_HEADERS_LOOKED_AT = frozenset(
    {
        "set-cookie",
        "link",
        "location",
        "refresh",
        "content-location",
        *QUOTED_URL_HEADERS,
        MARK_HEADER_LOWER,
        "content-type",
        *CSP_HEADERS,
        *REPLACED_ON_PAGES,
    }
)
# Page plans kept (cleared when full), and only those whose key holds at most this much of
# the request's and origin's header text. A plan holds that text about three times (key,
# CSP, cache headers) and a banner: at worst PAGE_PLANS x (24 KB + a banner), ~10 MB with
# the demo config's 17 KB banner; a site's visitors need a few (choices x languages).
PAGE_PLANS = 256
IMPORT_ID_SECONDS = 120  # a former choice imported in one such window gets one id
# Ids derived, one from another, for a former choice imported again after its visitor
# erased it, within one window; past them it is not imported (the banner asks): each is an
# HMAC every request carrying those cookies costs, and anyone can erase the id they import.
MAX_REIMPORTS = 3
IMPORTED_IDS = 4096  # former tools' choices an engine remembers it recorded (then cleared)
PAGE_PLAN_KEY_BYTES = 8192
# Destinations whose responses a browser never renders as a document: their cached copies
# may be revalidated with the origin's own validators (anything else's may be a page
# rewritten for another consent state, or never rewritten at all).
SUBRESOURCE_DESTS = frozenset(
    {
        "audio",
        "audioworklet",
        "font",
        "image",
        "manifest",
        "paintworklet",
        "report",
        "script",
        "serviceworker",
        "sharedworker",
        "style",
        "track",
        "video",
        "worker",
        "xslt",
    }
)
# Our validator on rewritten HTML: the origin's opaque tag, whether it was weak, and the
# digest of what the rewrite depended on (the choice, the config, the language...).
PAGE_ETAG_RE = re.compile(r'W/"(?P<tag>[^"]*)\.cp(?P<weak>[ws])(?P<digest>[0-9a-f]{16})"')
ETAG_RE = re.compile(r'(?:W/)?"[^"]*"')
# One link-value of a Link header; a '<' never closed is one too, to the end (tried from each
# '<' of "<<<...", a 64 KB line took a second: helper-111), and no link.
LINK_RE = re.compile(r'<[^>]*+(?:>(?:[^,"]++|"[^"]*+")*+)?')
# An imagesrcset parameter of a link-value, its value quoted or not (any case, as Chromium).
LINK_SRCSET_RE = re.compile(
    r';[ \t]*imagesrcset[ \t]*=[ \t]*(?P<value>"(?:[^"\\]|\\.)*"?|[^;]*)', re.IGNORECASE
)
# And every +xml type. text/xsl too: Chromium renders it as an XML document, XHTML scripts
# and all (DOMImplementation::IsXMLMIMEType), which went out with no policy.
XML_TYPES = ("text/xml", "application/xml", "text/xsl")
PREFETCH_HEADERS = frozenset({"sec-purpose", "purpose", "x-moz"})  # "prefetch": not seen yet
UNKNOWN_TYPES = ("unknown/unknown", "application/unknown", "*/*")  # browsers sniff these


# What Exchange.response reads of an origin's head: the headers that go on, where in them
# those a page replaces are (a bit each), the Content-Encodings, the Content-Types as
# (essence, type), whether a CSP header is among them, whether a browser may sniff its body
# (_untyped).
ResponseHead = tuple[Headers, int, tuple[str, ...], tuple[tuple[str, str], ...], bool, bool]
# A request's Sec-Fetch-Dest, inject, subresource, keeps_validators, prefetch (request_kind).
RequestKind = tuple[str | None, bool | None, bool, bool, bool]


@dataclass(slots=True)
class Head:
    """A header block as the engine reads it, worked out once for all the messages that
    repeat it: a browser sends the same block for most requests of a page (HTTP/2's HPACK
    rests on that), an origin most of its responses' within a second (until Date changes).
    The aiohttp adapter keeps the Heads of the blocks it has seen by their bytes
    (server.HEADS). Shared by those messages: read only, but for what is worked out of it
    (`response`, `forwarding`, `kind`), set once and the same for all. (A response's has its
    Cookie, size and Host fields too, unread: one kind of head costs less than two.)"""

    headers: Headers
    # The first value of each header by lower-case name, the (name, value) pairs of every
    # Cookie header in order.
    first: dict[str, str]
    cookies: tuple[tuple[str, str], ...]
    longest: int  # the longest header line, with ": " and CRLF (0: no header)
    size: int  # all header lines, with ": " and CRLF
    bad_host: bool  # a Host that is no host name or address, or two Host headers
    # The end-to-end headers (no hop-by-hop one) as (lower-case name, the header's own
    # (name, value) tuple), and whether no value holds a control character.
    passing: list[tuple[str, tuple[str, str]]]
    sendable: bool
    # A response's: what Exchange.response reads of it when no header in it depends on the
    # consent state or the request (Set-Cookie, Link, Location): set the first time.
    response: ResponseHead | None = None
    # A request's: whether one of passing is FORWARDING's (only a trusted proxy's go on),
    # set the first time upstream_headers asks.
    forwarding: bool | None = None
    # A request's: what kind of request it is (request_kind), set the first time an
    # Exchange asks.
    kind: RequestKind | None = None

    @classmethod
    def of(cls, headers: Headers) -> Head:
        names = [k.lower() for k, _ in headers]
        # Reversed: the first value of a name is the one the dict keeps.
        first = {lk: v for lk, (_, v) in zip(reversed(names), reversed(headers))}
        cookies = (
            tuple(
                p for lk, (_, v) in zip(names, headers) if lk == "cookie" for p in cookie_pairs(v)
            )
            if "cookie" in first
            else ()
        )
        lines = [len(k) + len(v) + 4 for k, v in headers]
        host = first.get("host")
        bad_host = host is not None and (
            not valid_host(host)
            or (len(first) < len(headers) and names.count("host") > 1)  # (was it Host?)
        )
        return cls(
            headers,
            first,
            cookies,
            max(lines, default=0),
            sum(lines),
            bad_host,
            end_to_end_pairs(headers, names),
            all_sendable(headers),
        )


@dataclass  # not frozen: a frozen dataclass's __init__ costs 3x as much (one a request)
class Request:
    method: str
    target: str  # path and query, as the visitor sent them
    headers: Headers
    scheme: str = "http"  # of the connection (Exchange.scheme heeds trusted X-Forwarded-Proto)
    client_ip: str = ""
    upstream: str | None = None  # scheme://host[:port] of the origin, if not config.upstream
    head: InitVar[Head | None] = None  # Head.of(headers), if the adapter has it already
    # The head's, copied (plain attributes are read faster than a property each request
    # reads several times): see Head.
    parsed: Head = field(init=False, repr=False, compare=False)
    first: dict[str, str] = field(init=False, repr=False, compare=False)
    cookies: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self, head: Head | None) -> None:
        parsed = self.parsed = Head.of(self.headers) if head is None else head
        self.first, self.cookies = parsed.first, parsed.cookies

    @property
    def accept_language(self) -> str | None:
        """Every Accept-Language line as one list (RFC 9110 5.3): a second line's languages
        count too."""
        value = self.first.get("accept-language")
        if value is not None and len(self.first) < len(self.headers):  # (a name came twice)
            value = ",".join(v for k, v in self.headers if k.lower() == "accept-language")
        return value

    @property
    def content_length(self) -> int | None:
        """The body length the request declares (None: none declared, or not a number)."""
        value = self.first.get("content-length")
        return None if value is None else number(value.strip())

    @property
    def has_body(self) -> bool:
        """The request carries a body (RFC 9112 6.3: a length above 0, or chunked framing):
        the adapter streams it to the origin, or reads it for a local endpoint."""
        length = self.content_length
        return bool(length) or (length is None and "transfer-encoding" in self.first)


@dataclass(frozen=True)
class PagePlan:
    """What every rewritten page of one kind gets, worked out once (Exchange._page_plan):
    the kind is the consent choice, the language, the kind of document, the Host and the
    origin's headers that decide the rest. A response fills in only what is its own: the
    nonce, the neutraliser's mark, the return path, the ETag (and its cookies, before)."""

    csp: Headers  # the origin's CSP headers letting in what is injected, by banner NONCE
    tail: Headers  # after the ETag: Vary, Cache-Control, Content-Encoding, nosniff, our CSP
    out_coding: str
    site: str  # the page's registrable domain
    choice: tuple[object, str]  # the neutralisers' memo key: (state.choice, site), one tuple
    banner: list[bytes]  # banner.pieces: filled with slots() ([] until sniff decides)
    head: bytes  # banner.script_pieces as a template(): the guard's script tag
    declaration: bytes
    sniff: Sniff | None  # None: the request decided the language, not the page
    # The nonces a held script needs to come back in place under the origin's CSP (None:
    # any comes back; csp.scripts_back_in_place), where no policy of ours makes banner.js
    # reload for it (Neutraliser.hold_in_place).
    script_nonces: frozenset[str] | None = None


@dataclass(slots=True)
class ResponsePlan:
    headers: Headers
    body: BodyTransform | None  # None: pass the body through byte for byte
    has_body: bool = True  # False (HEAD, 1xx, 204, 205, 304): the adapter sends the head only


class Exchange:
    """The proxy's view of one request, kept until its response is planned."""

    def __init__(
        self,
        engine: Engine,
        req: Request,
        state: ConsentState,
        state_from: str = "cookie",
        error: tuple[int, str] | None = None,
        imported: bool = False,
    ):
        """imported: the state is the choice the visitor made with the site's former
        consent tool, to be set as our consent cookie and kept as proof (once)."""
        self.engine, self.req, self.state = engine, req, state
        self.imported = imported
        first, config = req.first, engine.config
        self.report = Report(state.description, state_from)
        # X-Forwarded-* count only from the configured front proxies.
        self.trusted = bool(config.trusted_proxies) and engine.trusts(req.client_ip)
        self.scheme = req.scheme
        if self.trusted:
            proto = self._nearest("x-forwarded-proto").lower()
            if proto in ("http", "https"):
                self.scheme = proto
        self.host = first.get("host") or ""
        self.upstream = req.upstream or config.upstream
        self.error = error  # a request the proxy refuses: (status, why)
        path = req.target.partition("?")[0]
        self.is_local = self.report.local = (
            error is not None
            or path.startswith(config.prefix)
            or (bool(config.gpc) and path == GPC_PATH)
        )
        # (worked out once for every request of the same head: see Head)
        kind = req.parsed.kind
        if kind is None:
            kind = req.parsed.kind = request_kind(first)
        dest, self.inject, self.subresource, self.keeps_validators, self.prefetch = kind
        self.redirect_held = False  # a Location to a service held was dropped: no-store
        self.revalidating = False  # an If-None-Match of ours went upstream as the origin's
        self.sets_cookies = False  # the origin's response sets cookies (filtered by the state)
        self.varies = False  # a header of the origin's names a service consent decides
        self._verdicts: dict[str, Service | bool] = {}  # a header's URL: see _verdict
        # What `csp: enforce` cannot hold, answered here (the connection kept, unlike error).
        self.enforced: LocalResponse | None = None
        if config.csp == "enforce" and not self.is_local:
            self.enforced = self._enforced_here(dest, path)
            self.is_local = self.report.local = self.enforced is not None

    @property
    def forced(self) -> bool:
        """Whether the proxy forces this request's state (--state, consent_state, the
        X-Consent-State header) rather than the visitor's cookie."""
        return self.report.state_from != "cookie"

    def forwarded_for(self) -> str:
        """X-Forwarded-For from trusted proxies (_forwarded_for), or none."""
        return _forwarded_for(self.req) if self.trusted else ""

    def _nearest(self, name: str) -> str:
        """What the trusted proxy nearest to us says in an X-Forwarded-* header: its last
        value (a front proxy that adds its line, not replacing the visitor's, puts it last;
        the first is anyone's to write)."""
        lines = _lines(self.req, name)
        return lines[-1].rpartition(",")[2].strip() if lines else ""

    @property
    def visitor(self) -> str:
        """The visitor's address (Engine.visitor_of)."""
        return self.engine.visitor_of(self.req, self.trusted)

    # Worked out once asked (not as cached_property: reading an instance's __dict__ makes
    # one, and every attribute of the exchange is then read from it).
    _language: tuple[str | None, str] | None = None
    _page_digest: str | None = None

    @property
    def language(self) -> tuple[str | None, str]:
        """(decided by the request, else None: the page's <html lang>; the fallback)."""
        language = self._language
        if language is None:
            cfg = self.engine.config
            req = self.req
            language = self._language = request_language(
                cfg.language_from,
                cfg.languages,
                req.target,
                req.cookies,
                req.accept_language,
                cfg.language_cookie,
            )
        return language

    @property
    def decided_language(self) -> str | None:
        """The language the request decides, None when the page's <html lang> does: worked
        out only when a source before html-lang is configured (the default has none)."""
        if self.engine.config.language_from[0] == "html-lang":
            return None
        return self.language[0]

    def fallback_language(self) -> str:
        """The language for a page that names none of the config's."""
        return self.language[1]

    @property
    def lang(self) -> str:
        """The language known from the request (the page may still name its own)."""
        decided, fallback = self.language
        return decided or fallback

    @property
    def page_digest(self) -> str:
        """What a rewritten page depends on, in its ETag: a cached page revalidates only
        for the same choice, config, language and kind of document."""
        digest = self._page_digest
        if digest is None:
            digest = self._page_digest = self.engine.page_digest(self.state, self.lang, self.inject)
        return digest

    def local_response(self, body: bytes) -> LocalResponse:
        """Answer a request under the reserved prefix (body: the request body)."""
        if self.enforced is not None:
            return self.enforced
        if self.error is not None:
            status, why = self.error
            return not_allowed(PASSED_METHODS, why) if status == 405 else plain(status, why)
        engine = self.engine
        resp = engine.endpoints.handle(self, body, engine.records, engine.probes)
        if resp.csp_violations:
            self.report.csp_violations = resp.csp_violations
            if engine.observer is not None:
                engine.observer.csp_violations(resp.csp_violations)
        if resp.record is not None:
            record = resp.record
            self.report.decision, self.report.outcome = record.action, record.outcome
            self.report.categories_granted = list(record.granted_categories)
            self.report.categories_refused = list(record.refused_categories)
            if self.engine.records is not None and engine.endpoints.recorded.take(self.visitor):
                self.engine.records.submit(resp.record, self.engine.shown)
        if resp.new_state is not None:
            sent, known = resp.deletes_first
            old = [*sent, *self._not_covered(resp.new_state)]
            resp.headers.extend(self._deletions(old, known))
        else:
            resp.headers.extend(self._import())
        return resp

    def _import(self) -> Headers:
        """Our consent cookie for a choice imported from the former consent tool (its
        remaining lifetime: the choice keeps its date), recorded as proof with its origin."""
        if not self.imported:
            return []
        self.imported = False
        engine, state = self.engine, self.state
        endpoints = engine.endpoints
        if (
            endpoints.erasing_now(self.req.cookies, state.consent_id)
            or state.consent_id in endpoints.erased
        ):
            # An erase began (or ended) after this request did, whose import former_choice
            # allowed: its cookie and record now outlived the erase (a record no cookie, `me`
            # or erase reached). This response stays as it was judged; the next one asks.
            return []
        tool = engine.config.former_cmp.tool  # type: ignore[union-attr]
        self.report.decision = f"import:{tool}"
        if (
            engine.records is not None
            and state.consent_id not in engine.imported_ids
            and engine.endpoints.recorded.take(self.visitor)  # (forged cookies, by the 1000)
        ):
            if len(engine.imported_ids) >= IMPORTED_IDS:
                engine.imported_ids.clear()
            engine.imported_ids.add(state.consent_id)  # (recorded once, not per response)
            engine.records.submit(
                engine.endpoints.record(self, state, "save", f"import:{tool}", self.lang)
            )
        left = engine.config.consent.max_age_days * 86400 - int(engine.clock()) + state.decided_at
        return engine.endpoints.consent_cookies(self, engine.signer.encode(state), max(left, 0))

    def kept_cookies(self, cookie: str) -> str | None:
        """A Cookie header as the origin may get it (None: nothing left), what it loses
        reported. (The addon calls it again on what other mitmproxy features add.)"""
        kept, dropped = self.engine.cookie_filter(self.state).request_header(cookie)
        if dropped:
            self.report.request_cookies_dropped = grown(
                self.report.request_cookies_dropped, dropped
            )
        return kept

    def upstream_headers(self) -> Headers:
        """The request headers to send to the origin: tracking cookies removed, only
        codings we can decode asked for, CDN-Loop and X-Forwarded-* added; no Host (the adapter sends
        the origin's own) and no Expect (the adapter reads the body itself)."""
        req, report = self.req, self.report
        headers: Headers = []
        loops: list[str] = []
        parsed = req.parsed
        if parsed.forwarding is None:
            parsed.forwarding = any(
                _forwarding(lk) for lk, _ in parsed.passing if lk not in REQUEST_HEADERS_LOOKED_AT
            )
        drop = parsed.forwarding and not self.trusted
        for lk, kv in parsed.passing:
            if lk not in REQUEST_HEADERS_LOOKED_AT:
                if not (drop and _forwarding(lk)):
                    headers.append(kv)
                continue
            k, v = kv
            if lk == "cookie":
                if self.engine.observer is not None:
                    seen = (n for n, _ in cookie_pairs(v))
                    report.cookies_seen = grown(report.cookies_seen, seen)
                kept = self.kept_cookies(v)
                if kept is not None:
                    headers.append((k, kept))
            elif lk == "accept-encoding":
                headers.append((k, self.engine.decodable(v)))
            elif lk == "if-none-match":
                tags = self._origin_etags(v)
                if tags:
                    headers.append((k, tags))
            elif lk == "if-modified-since" and self.keeps_validators:
                headers.append((k, v))  # a page's date cannot tell the consent state
            elif lk == "cdn-loop":
                loops.append(v)
            elif lk == "content-length":  # as read here (refusal): digits alone, no zeros
                headers.append((k, str(req.content_length)))
        prior = self.forwarded_for() if "x-forwarded-for" in req.first else None
        if req.client_ip:
            headers.append(
                ("X-Forwarded-For", f"{prior}, {req.client_ip}" if prior else req.client_ip)
            )
        headers.append(("CDN-Loop", ", ".join([*loops, self.engine.loop_id])))
        headers.append(("X-Forwarded-Proto", self.scheme))
        forwarded_host = self._nearest("x-forwarded-host") if self.trusted else None
        if forwarded_host and valid_host(forwarded_host):
            headers.append(("X-Forwarded-Host", forwarded_host))
        elif self.host:
            headers.append(("X-Forwarded-Host", self.host))
        return headers

    def _origin_etags(self, if_none_match: str) -> str:
        """If-None-Match for the origin: our page tags made for this very state go back to
        the origin's tag; tags of other states, and (unless the request is for a kind of
        resource never rendered as a page) tags we never made, are dropped."""
        if if_none_match.strip() == "*":
            return if_none_match
        kept = []
        for tag in ETAG_RE.findall(if_none_match):
            m = PAGE_ETAG_RE.fullmatch(tag)
            if m is None:
                if self.keeps_validators:
                    kept.append(tag)
                continue
            if m["digest"] == self.page_digest:
                kept.append(f'{"W/" if m["weak"] == "w" else ""}"{m["tag"]}"')
                self.revalidating = True
        return ", ".join(kept)

    def _not_covered(self, state: ConsentState) -> list[str]:
        allowed = self.engine.cookie_filter(state).allowed
        return [n for n, _ in self.req.cookies if n and not allowed(n)]

    def _deletions(self, names: list[str], known: tuple[str, Sequence[str]] = ("/", ())) -> Headers:
        if not names and not known[1]:
            return []
        config = self.engine.config
        cfg = config.consent
        self.report.cookies_deleted = list(dict.fromkeys(names))
        values = deletion_headers(
            names,
            self.host,
            cfg.cookie_domain,
            self.scheme == "https",
            self.req.target,
            self._named,
            known,
            # (where unknown_cookies gives the names nothing names a category and the
            # operator set consent.cookie_domain, the parents up to it are the site's own: a
            # legacy tracker of its own name on that `Domain=` outlived every withdrawal)
            config.unknown_cookies not in ("block", "allow") and bool(cfg.cookie_domain),
        )
        return [("Set-Cookie", v) for v in values]

    def _named(self, cookie: str) -> bool:
        """Whether a cookie is deleted on every parent domain of the site: one the config or
        the cookie databases name (a tracker's, set there as readily as on its host).
        Another name may be a sibling site's session (a company's single sign-on on the
        parent domain): not deleted there."""
        return self.engine.policy.cookie_category(cookie) is not None

    def response(
        self, status: int, headers: Headers, head: Head | None = None, head_only: bool = False
    ) -> ResponsePlan:
        """Plan the response to the visitor from the origin's status and headers (head:
        Head.of(headers), if the adapter has it already). head_only: the body does not go
        on (as to a HEAD: a refused WebSocket handshake's, which serve does not have)."""
        engine, req = self.engine, self.req
        # A HEAD's headers are the GET's (RFC 9110 9.3.2): planned as if the body came, the
        # body alone left out (its head had the origin's Content-Length, ETag, cache headers
        # and no CSP, nosniff or Vary of the rewritten page).
        has_body = status >= 200 and status not in BODILESS_STATUSES
        sends = has_body and not head_only and req.method != "HEAD"
        if head is None:
            head = Head.of(headers)
        known = head.response
        if known is None:
            known, stateless = self._read_headers(head)
            if stateless:  # (read once for every response with this head)
                head.response = known
        kept, replaced, codings, types, origin_csp, sniffed = known
        out = list(kept)
        private = self.sets_cookies  # Set-Cookie lines that depend on the visitor's consent
        if "cookie" in req.first:
            deletions = self._deletions(self._not_covered(self.state))
            out += deletions
            private = private or bool(deletions)
        if self.imported:
            out += self._import()
            private = True
        if engine.observer is not None:
            engine.observer.cookies_seen(self.report.cookies_seen)
        if status == 304 and self.revalidating:  # the page cached for this very state
            out = [(k, v) for k, v in out if not _dropped_on_pages(k.lower())]
            out, found = split_off(out, PAGE_CACHE_HEADERS, CACHE_LISTS)
            return ResponsePlan(self._page_cache_headers(out, found), None, False)
        # Every Content-Type, each possibly a list: HTML in any of them is HTML (the most
        # dangerous reading; browsers take the last), sent on as the only type.
        html = None
        for essence, t in types:  # (no generator made for the usual one type)
            if essence in HTML_TYPES:
                html = t
                break
        untyped = (  # a page may come untyped: rewritten if its first bytes make it HTML
            html is None
            and has_body
            and sniffed
            and not _sniffing_barred(head.first.get("x-content-type-options"))
            and self._may_render()
        )  # (decoded first if coded, as a browser sniffs it: then it goes on decoded)
        if untyped:
            html = "text/html"
        page = (
            html is not None
            and has_body
            and (status not in UNREWRITTEN_STATUSES or self._unasked_part(status))
            and not _attachment(head.first.get("content-disposition"))
        )
        found = {}
        if page:  # out without what its plan replaces (by index), the first value of each
            while replaced:  # (from the last: the first is the one kept; lists are joined)
                i = replaced.bit_length() - 1
                replaced ^= 1 << i
                k, v = out.pop(i)
                lk = k.lower()
                found[lk] = joined(v, found[lk]) if lk in found and lk in CACHE_LISTS else v
        if html is not None and len(types) > 1 and not untyped:
            out = without(out, "content-type") + [("Content-Type", html)]
        if html is None or not page:
            if has_body:  # (a part too: its type's)
                out = self._document_headers(out, types)
            if status == 206 and has_body:
                document = _document_kind(types)[0]  # (its policy is there: above)
                if html is not None or document:
                    # A part of a page (a script's Range fetch, a <video> of it): Chromium
                    # built a later navigation from the part it had cached, unrewritten,
                    # trackers and all. Never cached, and under the policy of no decision.
                    policy = None if document else engine.csp_header(NO_DECISION)
                    return ResponsePlan(_uncached(out + ([policy] if policy else [])), None, sends)
            if html is None and has_body and 200 <= status < 300 and sniffed:
                # (a body a browser may sniff as a page, unrewritten for this request, which
                # is no navigation: cached, a navigation would render it, trackers and all)
                return ResponsePlan(_uncached(out), None, sends)
            if self.redirect_held:  # (a prefetch cache ignores Vary, and the redirect
                return ResponsePlan(_uncached(out), None, sends)  # it kept went nowhere)
            if self.varies:
                out, found = split_off(out, ("vary", "cache-control"), CACHE_LISTS)
                out += self._page_cache_tail(found.get("vary"), found.get("cache-control"), False)
                return ResponsePlan(out, None, sends)
            return ResponsePlan(_kept_private(out) if private else out, None, sends)
        plan = self._rewrite_plan(
            out,
            found,
            encoding.codings(codings) if codings else [],
            html,
            origin_csp,
            untyped,
            sends,
        )
        return ResponsePlan(*plan, sends)

    def _unasked_part(self, status: int) -> bool:
        """A 206 to a request that asked for no range: a whole response (see UNREWRITTEN_STATUSES)."""
        return status == 206 and "range" not in self.req.first

    def _read_headers(self, head: Head) -> tuple[ResponseHead, bool]:
        """The origin's headers as they go on (Set-Cookie filtered, Link trimmed, Location
        moved to the proxy), and what response() asks of them; whether none of that depended
        on the consent state or the request."""
        engine, report, upstream = self.engine, self.report, self.upstream
        out: Headers = []
        types: list[tuple[str, str]] = []  # every Content-Type: (essence, type)
        codings: list[str] = []  # every Content-Encoding
        origin_csp = False
        checked = head.sendable  # else each value is looked at alone
        replaced = 0  # where in out the headers a page replaces are: a bit each (by index)
        stateless = True
        for lk, kv in head.passing:
            k, v = kv
            if not checked and not sendable(v):  # a control character: dropped
                if lk != "content-type":
                    continue
                # (the type read as if each were a space, RFC 9110 5.5: untyped, a page
                # would go on unrewritten, for a browser to sniff and run its trackers)
                kv = (k, v := spaced(v))
            if lk not in RESPONSE_HEADERS_LOOKED_AT:
                if lk.endswith(VENDOR_CDN_CACHE):  # (a page drops it, see REPLACED_ON_PAGES)
                    replaced |= 1 << len(out)
                out.append(kv)
            elif lk in REPLACED_ON_PAGES:  # (kept unless the body is a page)
                replaced |= 1 << len(out)
                out.append(kv)
                if lk == "content-encoding":
                    codings.append(v)
            elif lk == "set-cookie":
                stateless, self.sets_cookies = False, True
                if engine.observer is not None:
                    report.cookies_seen = grown(report.cookies_seen, [set_cookie_name(v)])
                kept, dropped = engine.cookie_filter(self.state).set_cookies([v])
                if kept and set_cookie_name(v) == engine.config.consent.cookie_name:
                    kept, dropped = [], [set_cookie_name(v)]  # ours: the origin's would
                    # overwrite or erase the visitor's choice (a legacy banner of that name)
                if dropped:
                    report.set_cookies_dropped = grown(report.set_cookies_dropped, dropped)
                out += [(k, self._capped(c)) for c in kept]
            elif lk == "link":  # preload/preconnect of a service not consented: dropped
                stateless = False
                kept_links = self._links(v)
                if kept_links:
                    out.append((k, kept_links))
            elif lk in ("location", "content-location"):  # to the origin: to the proxy
                stateless = False
                if lk == "location" and self._held_on_the_way(v, "redirect"):
                    self.redirect_held = True
                    continue
                if self.host and upstream and _under(v, upstream):
                    kv = (k, f"{self.scheme}://{self.host}{v[len(upstream) :]}")
                out.append(kv)
            elif lk in QUOTED_URL_HEADERS:  # (dropped if a URL in it is a service held)
                stateless = False
                how = QUOTED_URL_HEADERS[lk]
                urls = _quoted(v)
                if lk == "alt-svc":  # ("host:port", or ":port" for this very host)
                    urls = (f"https://{u}/" for u in urls if not u.startswith(":"))
                if not any(self._held(u, how) for u in urls):
                    out.append(kv)
            elif lk == "refresh":  # (a navigation, as <meta http-equiv=refresh> makes)
                stateless = False
                if not any(self._held(url, "refresh") for url in refresh_urls(v)):
                    out.append(kv)
            elif lk != MARK_HEADER_LOWER:  # (a mark: dropped, only the proxy vouches for one)
                if lk in CSP_HEADERS:  # (its report-uri to a service held: dropped)
                    if "report-uri" in v.lower():
                        stateless = False
                        kv = (k, csp.without_reports_to(v, self._report_held))
                        if not kv[1].strip(" \t,;"):  # (a policy of that alone: none)
                            continue
                    origin_csp = True
                out.append(kv)
                if lk == "content-type":
                    types += _content_types(v)
        read = tuple(types)
        return (out, replaced, tuple(codings), read, origin_csp, _untyped(read)), stateless

    def _held(self, url: str, how: str) -> bool:
        """Whether url names a service the visitor did not consent to (reported as held)."""
        found = self._verdict(url)
        if isinstance(found, Service):
            self.report.neutralised = grown(self.report.neutralised, [(found.name, how)])
        return found is not False

    def _verdict(self, url: str) -> Service | bool:
        """The service not consented to that a header's URL names (_decided), else False;
        each distinct URL read once a response, and past MAX_HEADER_URLS of them True: held,
        unread."""
        found = self._verdicts.get(url)
        if found is None:
            if len(self._verdicts) >= MAX_HEADER_URLS:
                return True
            target = url_target(url)
            svc = self._decided(target) if target is not None else None
            found = self._verdicts[url] = svc or False
        return found

    def _decided(self, target: tuple[str, str]) -> Service | None:
        """The service of a header's URL the visitor did not consent to; and whether the
        header names one consent decides at all (`varies`: it differs between states, so the
        response is kept as a page is, by the cookie: a redirect to a tracker cached while
        accepted was followed from the browser's cache after a withdrawal)."""
        policy, site = self.engine.policy, self.site()  # (unknown_third_parties: off-site)
        svc = policy.blocked_host(target[0], self.state, target[1], site)
        if svc is not None or policy.blocked_host(target[0], NO_DECISION, target[1], site):
            self.varies = True
        return svc

    def _enforced_here(self, dest: str | None, path: str) -> LocalResponse | None:
        """Under `csp: enforce`, what the policy cannot hold: a service worker's script (its
        fetch handler answered the site's navigations with pages of its own, under no policy,
        and held trackers loaded in them) gets one that unregisters itself (a 404 leaves an
        installed worker running); a held service's subresource on the site's own host (a
        self-hosted Matomo: `hosts: [www.example.com/matomo/]`), which the policy's 'self'
        admits (a dynamic import() of it loaded), a 403 until consent. Its pages (an admin
        screen, an opt-out frame) go on."""
        if dest == "serviceworker" or self.req.first.get("service-worker") == "script":
            return LocalResponse(200, _no_store("text/javascript"), UNREGISTER_WORKER)
        if dest in RENDERED_DESTS or (dest is None and not self.subresource):
            return None
        policy = self.engine.policy
        if not policy.path_hosts:
            return None
        svc = policy.path_service((urlsplit("//" + self.host).hostname or "").rstrip("."), path)
        if svc is None:
            return None
        if policy.loads(svc, self.state):
            # (let through for this visitor only: kept as a page is, or a shared cache in
            # front served it to every visitor after, the 403 below never reached)
            self.varies = True
            return None
        why = f"held until consent: {svc.name} ({svc.category}), a service on the site's own host"
        return LocalResponse(403, _no_store("text/plain; charset=utf-8"), why.encode())

    def site(self) -> str:
        """The registrable domain of the site asked for (its Host, else the upstream's)."""
        return site_of(self.host or urlsplit(self.upstream or "").netloc)

    def _report_held(self, url: str) -> bool:
        return self._held(url, "report")

    def _held_on_the_way(self, location: str, how: str) -> bool:
        """Whether a redirect takes a subresource (a script, an image, a frame, a fetch...:
        as Sec-Fetch-Dest says, or over plain http its other headers; a prefetch) to a
        service the visitor did not consent to: the site's own `go.php?url=` would load the
        tracker it names. A page the visitor navigates to keeps its redirect (a link out is
        theirs to follow)."""
        return (self.subresource or self.prefetch) and self._held(location, how)

    def _links(self, value: str) -> str:
        """A Link header without the links (preload, preconnect, prefetch...) to services
        the visitor did not consent to: by the link's URL, or an image preload's
        `imagesrcset` (Chromium preloads a srcset's candidate, whatever the URL in <>). A
        link repeated is looked at once (64 KiB of `<a>,` cost 30 ms a line)."""
        links = LINK_RE.findall(value)
        kept = {link: self._link_kept(link) for link in dict.fromkeys(links)}
        return ", ".join(map(str.strip, [link for link in links if kept[link]]))

    def _link_kept(self, link: str) -> bool:
        """Whether a link-value goes on: it has a URL in <>, and none of it is held."""
        end = link.find(">")  # (its URL first: past MAX_HEADER_URLS nothing more is read)
        if end < 0 or self._verdict(link[1:end].strip()) is not False:
            return False
        for m in LINK_SRCSET_RE.finditer(link, end):
            srcset = m["value"]
            if srcset[:1] == '"':  # (an unclosed quote: to the end)
                srcset = re.sub(r"\\(.)", r"\1", srcset[1:].removesuffix('"'))
            if not all(self._verdict(url) is False for url in srcset_urls(srcset)):
                return False
        return True

    def _document_headers(self, out: Headers, types: tuple[tuple[str, str], ...]) -> Headers:
        """What the proxy does not rewrite but a browser may render as a document with
        scripts (see _document_kind), or run as a worker, gets a CSP: a worker lives under
        its own script's policy, not the page's (a first-party worker's fetch of a tracker
        went past `csp: enforce`).
        What a shared cache keeps must hold for whoever it serves next: an SVG or XML document
        gets the policy of no decision enforced unless the mode is off (document_policy), a
        body with no type (or any script when no Sec-Fetch-Dest says which is a worker's)
        that of no decision in the mode, and a worker's script the visitor's, kept private.
        A script varies with Sec-Fetch-Dest: the browser's cache gave the copy a <script>
        had fetched (no policy) to a `new Worker` of it, which then fetched a tracker."""
        document, xml = _document_kind(types)
        dest = self.req.first.get("sec-fetch-dest")
        script = False
        for essence, _ in types:  # (no generator made for the usual one type)
            script = script or essence in JAVASCRIPT_TYPES
        if dest is not None and script:
            out = out + [("Vary", "Sec-Fetch-Dest")]
        # a worker's script: as Sec-Fetch-Dest says, or where a browser sends none (plain
        # http), any JavaScript (a policy on a script a page runs is ignored)
        if not document and not (dest in WORKER_DESTS if dest is not None else script):
            return out
        if dest in WORKER_DESTS:
            self.varies = True
            policy = self.engine.csp_header(self.state)
        elif xml:
            policy = self.engine.document_policy()
        else:
            policy = self.engine.csp_header(NO_DECISION)
        return (
            out
            + ([policy] if policy else [])
            + ([("X-Content-Type-Options", "nosniff")] if xml else [])
        )

    def _may_render(self) -> bool:
        """Whether the request is a browser's for a document it may render (a page, a frame's,
        an iframe's, an <object>'s or an <embed>'s): as Sec-Fetch-Dest says, or, where a browser sends none (plain http),
        as its Accept does. Wider than `inject` (which pages get the banner: no iframe's; no
        Sec-Fetch-Dest, a navigation's Upgrade-Insecure-Requests): an untyped body any
        rendered document brings is sniffed, and rewritten only if its bytes make it HTML."""
        first = self.req.first
        dest = first.get("sec-fetch-dest")
        if dest is not None:
            return dest in RENDERED_DESTS
        return "text/html" in first.get("accept", "")

    def _page_cache_headers(self, out: Headers, origin: dict[str, str]) -> Headers:
        """A page cached for this very state (a 304): validated by our tag of this state.
        out: without PAGE_CACHE_HEADERS, whose first values origin holds."""
        etag = origin.get("etag")
        if etag:
            out.append(("ETag", self._page_etag(etag)))
        return out + self._page_cache_tail(origin.get("vary"), origin.get("cache-control"), False)

    def _page_cache_tail(self, vary: str | None, cache: str | None, encoded: bool) -> Headers:
        """Caching of a rewritten page: private, varying with the cookie (and the country,
        and the encoding), validated only by a tag of its consent state (no date: it could
        not tell the state); vary, cache: the origin's."""
        config = self.engine.config
        regions = config.regions  # the regime depends on the country too
        varies = (
            ["Cookie"]
            + ([h for h in (regions.header, regions.subdivision_header) if h] if regions else [])
            # (a page kept from before the visitor turned GPC on was reused with it on)
            + (["Sec-GPC"] if config.gpc or regions else [])
            + (["DNT"] if config.dnt else [])
            + (["Accept-Encoding"] if encoded else [])
            # (the banner's language may follow it: a page with no lang of its own)
            + (
                ["Accept-Language"]
                if "accept-language" in config.language_from and len(config.languages) > 1
                else []
            )
        )
        have = {v.strip().lower() for v in (vary or "").split(",")}
        missing = [v for v in varies if v.lower() not in have and "*" not in have]
        return [
            ("Vary", ", ".join(([vary] if vary else []) + missing)),
            ("Cache-Control", _private(cache)),
        ]

    def _page_etag(self, etag: str) -> str:
        """W/"<the origin's tag>.cp<w|s><digest of the state>" (weak: the bytes change with
        each nonce and re-encoding, and a weak tag is never used to resume a range)."""
        weak = etag.startswith("W/")
        opaque = etag[2:] if weak else etag
        if len(opaque) >= 2 and opaque[0] == opaque[-1] == '"':
            opaque = opaque[1:-1]
        return f'W/"{opaque}.cp{"w" if weak else "s"}{self.page_digest}"'

    def _capped(self, set_cookie: str) -> str:
        """The Set-Cookie with its one Max-Age (cookies.capping), reported when its lifetime
        was cut (not when an Expires within the cap was only written as a Max-Age)."""
        limit, now = self.engine.config.cap_cookie_lifetime_days * 86400, self.engine.clock()
        out, cut = capping(set_cookie, limit, now)
        if cut:
            report = self.report
            report.cookies_capped = grown(report.cookies_capped, [set_cookie_name(set_cookie)])
        return out

    def _rewrite_plan(
        self,
        out: Headers,
        found: dict[str, str],
        codings: list[str],
        content_type: str,
        has_csp: bool,
        untyped: bool = False,
        sends: bool = True,
    ) -> tuple[Headers, BodyTransform | None]:
        """out: without REPLACED_ON_PAGES, found: the first value of each of those; has_csp:
        the origin sent a CSP header (out holds it); untyped: the body came with no type and
        goes on with none, rewritten only if it sniffs as HTML (sent as it comes: no coding,
        no nosniff, which would stop the browser's sniffing); sends: the body goes on (not
        to a HEAD: the head alone, no transform)."""
        engine, req, state = self.engine, self.req, self.state
        origin_csp: Headers = []
        if has_csp:  # the origin's own CSP stays; it only learns to let in what is injected
            out, origin_csp = (
                without(out, *CSP_HEADERS),
                [(k, v) for k, v in out if k.lower() in CSP_HEADERS],
            )
        accepted = None if untyped else req.first.get("accept-encoding")
        vary, cache = found.get("vary"), found.get("cache-control")
        key = (
            state.choice,
            state.reask,
            state.gpc,
            len(engine.policy.seen),  # the known trackers the banner lists and CSP allows
            self.decided_language,
            self.inject,
            self.host,
            self.scheme,
            None if self.host else self.upstream,  # the site, for a request with no Host
            tuple(codings),
            accepted,
            vary,
            cache,
            tuple(origin_csp),
            untyped,
        )
        plan = engine.page_plans.get(key)
        if plan is None:
            plan = self._page_plan(codings, accepted, vary, cache, origin_csp, untyped)
            size = sum(len(v) for _, v in origin_csp) + sum(
                len(v or "") for v in (self.host, self.upstream, accepted, vary, cache)
            )
            if size <= PAGE_PLAN_KEY_BYTES:
                if len(engine.page_plans) >= PAGE_PLANS:
                    engine.page_plans.clear()
                engine.page_plans[key] = plan
        # What each response has of its own: the nonce, the neutraliser's mark (it binds what
        # is neutralised to this response: banner.js activates nothing else; fetch()ed
        # fragments hand theirs over in MARK_HEADER), the return path, the ETag.
        nonce = secrets.token_urlsafe(18) if has_csp else ""
        mark = new_mark()
        if plan.csp:
            out += [(k, v.replace(NONCE, nonce)) for k, v in plan.csp]
        out.append((MARK_HEADER, mark))
        # A page with a nonce gets no validator: a 304 would bring back the old nonce.
        etag = None if nonce else found.get("etag")
        if etag:
            out.append(("ETag", self._page_etag(etag)))
        out += plan.tail
        if self.inject is False or self.redirect_held:  # a page a script or a prefetch
            out = _uncached(out)  # asked for: no banner, no guard, so never rendered from a
        # cache by a navigation (and a redirect held is kept by none: a prefetch's ignores Vary)
        if not sends:
            return out, None
        values = slots(req.target, nonce, mark)
        # (its host as url_target reads it, remembered: a site has few; the neutraliser reads
        # the path only where a service is on a path of that host)
        own = url_target("//" + self.host)
        page = (own[0], req.target.partition("?")[0]) if own is not None else None
        neutraliser = Neutraliser(engine.policy, state, mark, 0, plan.site, plan.choice, page)
        if plan.script_nonces is not None:
            neutraliser.hold_in_place(plan.script_nonces)
        rewriter = HtmlRewriter(
            neutraliser,
            filled(plan.banner, values) if plan.banner else [],  # (else: once sniffed)
            self.inject,
            content_type=content_type,
            head=plan.head % values,
            opener=engine.opener,
            declaration=plan.declaration,
        )
        self.report.rewritten = True
        transform = BodyTransform(
            rewriter,
            encoding.decoder(codings, engine.config.limits.html_bytes) if codings else None,
            None if plan.out_coding == "identity" else encoding.encoder(plan.out_coding),
            self.report,
            self._page_done,
            plan.sniff,
            values,
            None if plan.sniff is None else self.fallback_language,
            untyped,
        )
        return out, transform

    def _page_plan(
        self,
        codings: list[str],
        accepted: str | None,
        vary: str | None,
        cache: str | None,
        origin_csp: Headers,
        untyped: bool,
    ) -> PagePlan:
        """What every rewritten page of this kind gets (the key in _rewrite_plan)."""
        engine, state, decided = self.engine, self.state, self.decided_language
        own = f"{self.scheme}://{self.host}{engine.config.prefix}" if self.host else "'self'"
        coding = codings[0] if len(codings) == 1 else "identity"  # a stack goes out plain
        out_coding = encoding.output_encoding(coding, encoding.accepted(accepted))
        tail = self._page_cache_tail(vary, cache, bool(codings))
        if out_coding != "identity":
            tail.append(("Content-Encoding", out_coding))
        if not untyped:
            tail.append(("X-Content-Type-Options", "nosniff"))
        policy = engine.csp_header(state)
        if policy:
            tail.append(policy)
        site = self.site()
        return PagePlan(
            [(k, csp.admit_injected(v, NONCE, own)) for k, v in origin_csp],
            tail,
            out_coding,
            site,
            (state.choice, site),
            engine.banner.pieces(state, decided) if decided else [],
            template(engine.banner.script_pieces(state, site)),
            engine.declaration.html(decided) if decided else b"",
            None if decided else (PageLanguage(engine.config.languages), Spoken(engine, state)),
            None
            if engine.config.csp == "enforce"
            else csp.scripts_back_in_place(
                ", ".join(v for k, v in origin_csp if k.lower() == "content-security-policy")
            ),
        )

    def _page_done(self, report: Report, unknown_hosts: set[str]) -> None:
        """A rewritten page has gone out: count an impression of the banner's first layer
        (not in forced states, not for a prefetch or prerender the visitor may never see:
        `prefetching`); observe."""
        engine, state = self.engine, self.state
        report.impression = (
            report.banner and state.asks and (report.state_from == "cookie") and not self.prefetch
        )
        if report.impression and engine.records is not None:
            engine.records.impression()
        if engine.observer is not None:
            report.hosts_seen = sorted(unknown_hosts)
            engine.observer.hosts_seen(report.hosts_seen, self.host, self.req.target.split("?")[0])


def request_kind(first: dict[str, str]) -> RequestKind:
    """What a request's headers (the first value of each) say of the kind of request it is:
    its Sec-Fetch-Dest; whether its page gets the banner (None: its first bytes decide);
    whether it is a subresource; whether the origin's validators go upstream (only where no
    rewritten page can be cached); whether it is a prefetch."""
    dest = first.get("sec-fetch-dest")
    if dest is not None:
        # (a <frameset> page drops what follows it: its frames carry the banner)
        inject: bool | None = dest in ("document", "frame")
        subresource = dest != "document"
        keeps_validators = dest in SUBRESOURCE_DESTS
    else:
        # Over plain http a browser sends no Sec-Fetch-*, but on a navigation (a page, a
        # frame: banner.js lets a frame's banner wait) Upgrade-Insecure-Requests: a
        # document whatever its first bytes (a host's scripts before <html>, a PHP
        # warning). Else (old browsers, scripts' requests) the first bytes decide.
        navigation = first.get("upgrade-insecure-requests") == "1"
        inject = True if navigation else None
        # What a browser (all send Accept) asks for that is no navigation and no HTML: an
        # image, a stylesheet, a script, revalidated as the origin says (a 304, not the
        # whole of it again).
        accept = first.get("accept")
        subresource = not navigation and accept is not None and "text/html" not in accept
        keeps_validators = subresource
    # A prefetch (<link rel=prefetch>, speculation rules) asks with a navigation's Accept
    # and, over plain http, no Upgrade-Insecure-Requests: its redirect to a tracker is
    # no link out the visitor follows, Chromium followed it to www.google-analytics.com.
    return dest, inject, subresource, keeps_validators, prefetching(first)


def prefetching(first: dict[str, str]) -> bool:
    """Whether a request is a prefetch or a prerender (Sec-Purpose, Purpose or X-Moz saying
    "prefetch": most requests name none of PREFETCH_HEADERS, one set operation says so)."""
    return not PREFETCH_HEADERS.isdisjoint(first) and any(
        "prefetch" in first[h].lower() for h in PREFETCH_HEADERS if h in first
    )


def _no_store(content_type: str) -> Headers:
    """The head of an answer of the proxy's own that no cache keeps."""
    return [("Content-Type", content_type), ("Cache-Control", "no-store")]


def _uncached(headers: Headers) -> Headers:
    """A response no cache may keep (Cache-Control: no-store; a prefetch cache ignores Vary)."""
    out, _ = split_off(headers, ("cache-control",), CACHE_LISTS)
    return [*out, ("Cache-Control", "no-store")]


def _kept_private(headers: Headers) -> Headers:
    """A response whose Set-Cookie lines depend on the visitor's consent (filtered by it, or
    deletions) kept out of shared caches: one would hand a consenting visitor's `_ga`, or
    another's deletions, to every visitor (a page is kept so already: _page_cache_tail)."""
    out, found = split_off(headers, ("cache-control",), CACHE_LISTS)
    return [*out, ("Cache-Control", _private(found.get("cache-control")))]


@lru_cache(maxsize=256)  # an origin sends few distinct values
def _content_types(value: str) -> tuple[tuple[str, str], ...]:
    """A Content-Type value's types (it may list several: commas outside quotes), each as
    (essence, type), the essence as Chromium reads it (net's ParseContentType): it ends at
    whitespace, `;` or `(`, and one with no `/` (or a type that is `*/*` alone) is no type
    at all, '', which Chromium passes over (with no other, the browser sniffs). Read up to
    the first `;` only, `text/html(x)` and `text/html x` were no HTML to the proxy and went
    on unrewritten, and `html` went on unsniffed, while Chromium rendered each as a page
    and ran its trackers. An item repeated is read once (64 KiB of commas were 64,000 empty
    types, each read, then each looked at in response: 15 ms a line), but a list of one
    item repeated is still two (response sends the HTML of a list as its only type)."""
    out = []
    items = _LIST_ITEM_RE.findall(value) if '"' in value else value.split(",")  # (the same)
    for t in dict.fromkeys(t.strip(" \t") for t in dict.fromkeys(items)):
        essence = type_essence(t)
        if "/" not in essence or t == "*/*":
            essence = ""
        out.append((essence, t))
    return tuple(out * 2 if len(out) == 1 < len(items) else out) or (("", ""),)


# One item of a comma-separated list, a quoted string (backslash escapes) kept whole.
_LIST_ITEM_RE = re.compile(r'(?:[^,"]|"(?:[^"\\]|\\.)*"?)+|(?<![^,])(?=,|$)')


def _quoted(value: str) -> Iterator[str]:
    """The quoted strings of a JSON (Report-To) or structured-field (Reporting-Endpoints)
    value, their escapes undone: where its endpoints' URLs are. Each as it is asked for (past
    MAX_HEADER_URLS the first asked for is held: the rest are not read)."""
    for m in dict.fromkeys(QUOTED_RE.findall(value)):  # (a string repeated: read once)
        if "\\" not in m:
            yield m
            continue
        yield re.sub(r"\\(.)", r"\1", m)  # (a structured field's: \" and \\ only)
        if "\\u" in m:  # (JSON's: https:\u002f\u002fhost)
            try:
                yield json.loads(f'"{m}"')
            except ValueError:
                pass


def _attachment(disposition: str | None) -> bool:
    """Whether a response is a download (Content-Disposition: attachment): a browser saves
    it, never renders it, so its bytes go as they came (an HTML report a site lets visitors
    download took the banner and lost its trackers' URLs in the saved file). The type is
    the text before the first `;`, whole, as Chromium reads it (net's
    HttpContentDisposition): one that is no token (`attachment foo`, `attachment=1`) or
    none is `inline`, a page, and any token but `inline` a download (`attachement`, a
    common misspelling, and `download` were saved, rewritten, the banner in the file).
    Gecko renders a type starting `filename` or `name` (NS_GetContentDispositionFromToken):
    a page, rewritten (Firefox rendered its trackers); only what every engine saves goes
    as it came."""
    if disposition is None:
        return False
    kind = disposition.split(";", 1)[0].strip(" \t").lower()
    return (
        TOKEN_RE.fullmatch(kind) is not None
        and kind != "inline"
        and not kind.startswith(("filename", "name"))
    )


def _sniffing_barred(options: str | None) -> bool:
    """Whether the origin's X-Content-Type-Options stops a browser sniffing a body (Fetch,
    as Chromium: the first value of its lines, split at commas, is `nosniff` in any case):
    untyped, Chromium then shows it as text, or saves it (`unknown/unknown`), and runs
    nothing of it. Sniffed by the proxy, it had gone on as a page without the origin's
    nosniff: an upload served untyped to be seen as text ran its scripts on the site."""
    return options is not None and options.split(",", 1)[0].strip(" \t").lower() == "nosniff"


def _untyped(types: tuple[tuple[str, str], ...]) -> bool:
    """Whether a browser may sniff a body of these (essence, type)s: it has no type a
    browser takes (each is '': none, or one passed over), or one of them is unknown
    (`unknown/unknown`, `*/*; charset=utf-8`). Chromium takes the last type it does not
    pass over: `text/plain` then `unknown/unknown` was sniffed and rendered as a page, which
    the proxy, reading a type there, had let through unrewritten, trackers and all. (Read
    in any place, as HTML is: a browser may take the first.)"""
    typed = False
    for essence, _ in types:  # (no generator made for the usual one type)
        if essence in UNKNOWN_TYPES:
            return True
        typed = typed or bool(essence)
    return not typed


@lru_cache(maxsize=256)
def _document_kind(types: tuple[tuple[str, str], ...]) -> tuple[bool, bool]:
    """Whether a body of these (essence, type)s, not rewritten, may still be rendered as a
    document with scripts, and whether as XML: XML (XHTML as text/xml, SVG, XSLT), which
    also gets nosniff, and bodies with no type at all (or unknown/unknown...), which
    browsers sniff."""
    xml = any(e in XML_TYPES or e.endswith("+xml") for e, _ in types)
    return xml or _untyped(types), xml


def _under(url: str, base: str) -> bool:
    """Whether url is on the upstream origin (not merely sharing its text as a prefix)."""
    return url.lower().startswith(base.lower()) and url[len(base) : len(base) + 1] in (
        "",
        "/",
        "?",
        "#",
    )


def _private(cache_control: str | None) -> str:
    """Rewritten pages depend on the visitor's consent: never in a shared cache."""
    if not cache_control:
        return "private"
    parts = [p.strip() for p in cache_control.split(",") if p.strip()]
    parts = [
        p for p in parts if p.lower() not in ("public",) and not p.lower().startswith("s-maxage")
    ]
    if not any(p.lower() in ("private", "no-store") for p in parts):
        parts.insert(0, "private")
    return ", ".join(parts)


class Engine:
    """The compiled config plus keys: everything both adapters need to decide."""

    def __init__(
        self,
        config: Config,
        keys: Sequence[bytes],
        clock: Callable[[], float] = time.time,
        forced: ConsentState | None = None,
        observe: Callable[[str], None] | None = None,
    ):
        """observe: report mode, called with one line per cookie or third-party host
        that no service names (see observe.Observer)."""
        self.config = config
        self.policy = Policy(config)
        self.observer = Observer(self.policy, observe) if observe is not None else None
        self.signer = Signer(
            keys,
            config.consent.max_age_days,
            config.consent.revision,
            category_digests(self.policy.services_in),
        )
        self.shown = archived(config)  # (digest, content) of every text the banner shows
        self.banner = Banner(config, self.policy, self.shown[0])
        opens, fills = (
            tuple(s for text in texts for s in parse_selectors(text))
            for texts in (config.banner.open_selectors, config.banner.declaration_selectors)
        )
        self.opener = OpenMarker(opens, fills) if opens or fills else None
        self.declaration = Declaration(config)
        self.clock = clock
        self.forced_state = forced
        # This deployment's entry in CDN-Loop (RFC 8586), the same in every worker and
        # instance sharing its secret: a request that comes back with it went round a loop
        # (an upstream whose DNS now points at the proxy). Not Via: an nginx origin stops
        # compressing for a request with Via (gzip_proxied off).
        self.loop_id = "consentproxy-" + hmac.new(keys[0], b"loop", "sha256").hexdigest()[:10]
        # Proof of consent: the adapter opens them (adapter.keep_records) and closes them.
        self.records: Records | None = None
        # Readiness checks the adapter provides ({prefix}readyz): name -> "is it fine?".
        self.probes: dict[str, Callable[[], Awaitable[bool]]] = {}
        self.config_digest = hashlib.sha256(
            json.dumps([config.consent.revision, sorted(self.signer.digests.items())]).encode()
        ).hexdigest()[:12]
        self.endpoints = Endpoints(
            config,
            self.policy,
            self.signer,
            self.banner,
            self.declaration,
            clock,
            shown=self.shown,
            config_digest=self.config_digest,
        )
        self._per_choice: dict[tuple[object, ...], tuple[CookieFilter, tuple[str, str] | None]] = {}
        # Everything of this config and release a rewritten page can depend on (not where
        # the proxy listens or logs; page_digest adds the known trackers met so far, which
        # each process meets on its own, so two instances agree on a page's ETag only once
        # they have met the same trackers).
        served = replace(
            config, source="", listen_host="", listen_port=0, metrics_listen=None, access_log=True
        )
        self.page_version = hashlib.sha256(f"{served!r}|{self.banner.version}".encode()).hexdigest()
        self._page_digests: dict[tuple[object, ...], str] = {}
        self.page_plans: dict[tuple[object, ...], PagePlan] = {}  # see PAGE_PLANS
        self.imported_ids: set[str] = set()  # former tools' choices recorded lately
        self._decodable: dict[str, str] = {}

    def trusts(self, client_ip: str) -> bool:
        """Whether the peer is one of `trusted_proxies` (its X-Forwarded-* are believed)."""
        networks = self.config.trusted_proxies
        if not networks or not client_ip:
            return False
        try:
            ip = ipaddress.ip_address(client_ip.split("%")[0])
        except ValueError:
            return False
        return any(ip in net for net in networks)

    def page_digest(self, state: ConsentState, lang: str, inject: bool | None) -> str:
        key = (
            state.choice,
            state.reask,
            state.gpc,
            lang,
            inject,
            len(self.policy.seen),
        )  # the known trackers the banner lists
        found = self._page_digests.get(key)
        if found is None:
            if len(self._page_digests) > 256:
                self._page_digests.clear()
            found = self._page_digests[key] = hashlib.blake2b(
                repr(
                    (
                        self.page_version,
                        state.decided,
                        sorted(state.categories),
                        sorted(state.services),
                        state.opt_out,
                        *key[1:],
                    )
                ).encode(),
                digest_size=8,
            ).hexdigest()
        return found

    def refusal(self, req: Request) -> tuple[int, str] | None:
        """What no request may be, whichever adapter parsed it: a target that is not a
        path (CONNECT, absolute or authority form, '@' tricks) or holds a control character or
        a space, TRACE or TRACK, a bad or doubled Host, a control character (but tab) in a
        header value, a head larger than the limits."""
        limits, target, head = self.config.limits, req.target, req.parsed
        if len(target) > limits.header_line_bytes:
            return 414, "request target too long"
        if (
            head.longest > limits.header_line_bytes
            or len(req.method) + len(target) + 12 + head.size > limits.request_head_bytes
        ):
            return 431, "request header fields too large"
        if req.method == "CONNECT" or not target.startswith("/"):
            return 400, "the request target must be a path (/...), not *, a URL or host:port"
        if TARGET_CONTROL_RE.search(target):
            return 400, "a control character or a space in the request target"
        if req.method.upper() in ECHOES:  # (any case: an origin may read trace as TRACE)
            # An origin's echo would show what the proxy adds (its CDN-Loop id, the
            # X-Forwarded-* it writes); refused as nginx refuses it, whatever it proxies.
            return 405, f"{req.method} is not served: the proxy does not pass it to the site"
        if head.bad_host:
            return 400, "invalid Host header"
        if not head.sendable:  # (as serve's parser refuses: smuggled to the origin else)
            return 400, "a control character in a header"
        if "content-length" in req.first and req.content_length is None:
            # (aiohttp reads 25 digits, zeros first: the body unread here went to the
            # origin's pooled connection as the start of the next visitor's request)
            return 400, "invalid Content-Length"
        if self.loop_id in req.first.get("cdn-loop", ""):
            return 508, (
                "loop detected: this request came back to the proxy from its own upstream; "
                "give upstream the address the site itself listens on (not a name that "
                "now points at the proxy)"
            )
        return None

    def _choice(self, state: ConsentState) -> tuple[CookieFilter, tuple[str, str] | None]:
        """What depends only on the choice (few distinct ones exist): built once."""
        # The CSP allows the consented known trackers met so far: it grows with them.
        key = (state.choice, len(self.policy.seen))
        found = self._per_choice.get(key)
        if found is None:
            if len(self._per_choice) > 256:
                self._per_choice.clear()
            policy = self.policy
            found = self._per_choice[key] = (
                CookieFilter(
                    lambda n: policy.cookie_allowed(n, state),
                    lambda n: policy.cookie_category(n) is not None,
                ),
                csp.header(
                    self.config.csp,
                    policy.allowed_hosts(state),
                    self.config.csp_allow,
                    f"{self.config.prefix}{CSP_REPORT}",
                    policy.met_hosts(state),
                ),
            )
        return found

    def document_policy(self) -> tuple[str, str] | None:
        """The policy of a document the proxy does not rewrite (XML: XHTML served as XML, an
        SVG document opened or framed, XSLT's output): that of no decision, the same for
        every visitor (a shared cache may keep it), and enforced under `report-only` too, as
        nothing else holds what it loads (its trackers ran); `off` is no policy anywhere.
        The value is the mode's own (csp.header's differs by name only): built once."""
        policy = self.csp_header(NO_DECISION)
        return None if policy is None else ("Content-Security-Policy", policy[1])

    def decodable(self, accept_encoding: str) -> str:
        """The visitor's Accept-Encoding as the origin gets it (encoding.narrowed): what the
        origin may send. Browsers send a few distinct values: remembered (short ones)."""
        found = self._decodable.get(accept_encoding)
        if found is None:
            found = encoding.narrowed(accept_encoding)
            if len(accept_encoding) <= 256:
                if len(self._decodable) >= 64:
                    self._decodable.clear()
                self._decodable[accept_encoding] = found
        return found

    def cookie_filter(self, state: ConsentState) -> CookieFilter:
        return self._choice(state)[0]

    def csp_header(self, state: ConsentState) -> tuple[str, str] | None:
        return self._choice(state)[1]

    def consent_of(self, cookies: Sequence[tuple[str, str]]) -> ConsentState:
        """The visitor's state from their cookies: of several valid consent cookies, what
        all of them grant (a browser sends the older of two first, or the one with the
        longer path: a withdrawal kept on the cookie domain was ignored for a consent kept
        host-only; and a sibling site can plant a consent of its own on the parent domain,
        which then can only narrow the visitor's). Too many is a refusal asked again (UNREAD)."""
        values = consent_values(cookies, self.config.consent.cookie_name)
        if values is None:
            return UNREAD
        if not values:
            return NO_DECISION
        now = self.clock()
        valid = [state for value in values if (state := self.signer.decode(value, now)).decided]
        if len(valid) < 2:
            return valid[0] if valid else NO_DECISION
        return self._common(valid)

    def _common(self, states: list[ConsentState]) -> ConsentState:
        """What every one of several decisions grants, dated as the oldest (it expires
        first); with no pseudonymous id when they disagree on it, so that the visitor's next
        choice starts a new one, not a planted cookie's (whose holder could read the
        visitor's records with it)."""
        services_in = self.policy.services_in  # (category -> its services)

        def of(categories: frozenset[str]) -> frozenset[str]:
            return frozenset().union(*(services_in.get(c, ()) for c in categories))

        categories = frozenset.intersection(*(s.categories for s in states))
        granted = frozenset.intersection(*(s.services | of(s.categories) for s in states))
        oldest = min(states, key=lambda s: s.decided_at)
        ids = {s.consent_id for s in states}
        return replace(
            oldest,
            categories=categories,
            services=granted - of(categories),
            consent_id=oldest.consent_id if len(ids) == 1 else "",
            reask=any(s.reask for s in states),
        )

    def begin(self, req: Request) -> Exchange:
        """The state to enforce comes from X-Consent-State (test configs only), else the
        forced state (--state), else the visitor's cookie; then the region's regime (opt-out
        where the config's `regions` say so) and the browser's signals."""
        refused = self.refusal(req)
        if refused is not None:
            return Exchange(self, req, NO_DECISION, "cookie", error=refused)
        config = self.config
        spec = req.first.get(STATE_HEADER_LOWER) if config.testing.state_header else None
        state, source = None, ""
        if spec is not None:
            try:
                state, source = parse_state(spec, config, STATE_HEADER), "header"
            except ConfigError as e:
                return Exchange(self, req, NO_DECISION, "header", error=(400, str(e)))
        if state is None and self.forced_state is not None:
            state, source = self.forced_state, "forced"
        imported = None
        if state is None:
            source = "cookie"
            state = self.consent_of(req.cookies) if req.cookies else NO_DECISION
            if (
                not state.decided
                and config.former_cmp is not None
                and not _sent(req.cookies, config.consent.cookie_name)
            ):  # (ours, read or not, was a choice made with us since: no key reads it now)
                imported = self.former_choice(req)
        # (calls skipped where the config has no regions: each costs a request ~1 µs in
        # the server, bench/steps.py)
        if config.regions is not None:
            state = self._region(imported or state, req)
        elif imported is not None:
            state = imported
        return Exchange(self, req, self._signals(state, req), source, imported=imported is not None)

    def visitor_of(self, req: Request, trusted: bool) -> str:
        """The visitor's address: the peer's, or behind trusted proxies (trusted: the peer is
        one, Engine.trusts) the last address of X-Forwarded-For that is none of theirs (the
        ones before it anyone can write); its port, if given, left out."""
        if trusted:
            for hop in map(_address, reversed(_forwarded_for(req).split(","))):
                if hop and not self.trusts(hop):
                    return hop
        return req.client_ip

    def former_choice(self, req: Request) -> ConsentState | None:
        """The visitor's choice with the site's former consent tool, in our categories, when
        the config imports it, it is still young enough to hold (it keeps its date) and it
        was made before the proxy took over (former_cmp.until)."""
        former = self.config.former_cmp
        if former is None or not former.imports or former.revision < self.signer.revision:
            return None  # (the policy changed since: everyone is asked)
        jar = dict(req.cookies)
        if len(jar) < len(req.cookies) and _doubled(req.cookies, tool_cookies(former.tool, jar)):
            return None  # (which is the visitor's? a sibling's planted copy comes first or last)
        choice = read_choice(former.tool, jar)
        if choice is None or self.endpoints.erasing_now(req.cookies):
            return None  # (or an erase of the visitor's ids awaits the store: under_erase)
        now = self.clock()
        # (a tool that keeps no time: taken as made when the proxy took over, the config's
        # until, which an import from it needs; an until still to come, deployed ahead of
        # it, as made now, which it was at the latest)
        until = former.until if former.until is None else min(former.until, now)
        decided = choice.decided_at if choice.decided_at is not None else until
        if decided is None or not now - self.signer.max_age < decided <= now + 86400:
            return None  # (too old; or to come, beyond a visitor's clock a day fast: forged)
        if former.until is not None and decided + choice.vague > former.until:
            return None  # (not the old tool's: written since the proxy took over)
        # One id per former choice (a new one per response left records no cookie held) in
        # every process, for a while: a copy of the old tool's cookies (they are not HttpOnly,
        # and siblings get them) replayed later gets another id, not the visitor's records.
        # Many tools' cookies name no visitor (Klaro's, a TC string of the day): everyone's
        # accept-all is the same bytes, so the visitor's address and browser are in it too,
        # else visitors of one minute shared an id, saw and erased each other's records
        # (their address as the front proxies name it: a pool of them, or a CDN's edges,
        # would give one visitor's parallel requests an id each).
        # (behind front proxies not listed as trusted, every visitor has their address: their
        # X-Forwarded-For, whoever wrote it, tells them apart, never merges them)
        raw = "\n".join(f"{n}={jar[n]}" for n in tool_cookies(former.tool, jar))
        trusted = self.trusts(req.client_ip)
        forwarded = "" if trusted else req.first.get("x-forwarded-for", "")
        agent = req.first.get("user-agent", "")
        visitor = f"{self.visitor_of(req, trusted)}\n{forwarded}\n{agent}"
        window = int(now // IMPORT_ID_SECONDS)
        cid = self.signer.derived_id(f"{former.tool}\n{window}\n{visitor}\n{raw}")
        for _ in range(MAX_REIMPORTS):
            if cid not in self.endpoints.erased:
                break
            # Imported again after the visitor erased it (a request still carrying the tool's
            # cookies, or a tool setting them again): under the erased id it was recorded
            # once already (imported_ids), and any record of it decided before the erase is
            # dropped (records: erasures), a consent in force with no proof. Another id,
            # derived from that one: the same for this process's parallel requests.
            cid = self.signer.derived_id(f"erased\n{cid}")
        if cid in self.endpoints.erased:
            return None  # (erased as often as MAX_REIMPORTS allows: asked)
        derived = replace(NO_DECISION, consent_id=cid)
        return self.signer.decide(
            former_categories(choice, former.imports, former.vendors),
            (),
            min(decided, now),
            derived,
        )

    def _region(self, state: ConsentState, req: Request) -> ConsentState:
        """In an opt-out region (the country a trusted proxy names; config `regions`), the
        optional categories run until the visitor chooses, unless their browser's privacy
        signal already opted out; anywhere else, an unknown or missing country too, consent
        comes first."""
        regions = self.config.regions
        if regions is None or not self.trusts(req.client_ip):
            return state
        country = (req.first.get(regions.header.lower()) or "").strip().upper()
        sub = (
            (req.first.get(regions.subdivision_header.lower()) or "").strip().upper()
            if regions.subdivision_header
            else ""
        )
        places = {country, f"{country}-{sub.removeprefix(country + '-')}"} if sub else {country}
        if not country or not places & regions.opt_out:
            return state
        if state.decided:
            return replace(state, opt_out=True)
        if self._signalled(req):  # counted as the visitor's opt-out
            return replace(state, opt_out=True, gpc=True)
        return replace(state, opt_out=True, categories=frozenset(self.policy.optional))

    def _signalled(self, req: Request) -> bool:
        """Global Privacy Control (or Do-Not-Track, when the config counts it) is on."""
        return req.first.get("sec-gpc") == "1" or (self.config.dnt and req.first.get("dnt") == "1")

    def _signals(self, state: ConsentState, req: Request) -> ConsentState:
        """Global Privacy Control (and Do-Not-Track when the config says so) refuse the
        config's gpc categories, whatever the cookie says."""
        if not self.config.gpc or not self._signalled(req):
            return state
        categories, services = self.policy.under_gpc(state.categories, state.services)
        return replace(state, categories=categories, services=services, gpc=True)


def _sent(cookies: Sequence[tuple[str, str]], name: str) -> bool:
    """Whether the request carries a cookie of this name: the visitor chose with the proxy,
    after the former tool (a refusal signed by a key since dropped was unreadable, and the
    old tool's accept the deletions missed was imported in its place)."""
    return any(n == name for n, _ in cookies)


def _doubled(cookies: Sequence[tuple[str, str]], names: Sequence[str]) -> bool:
    """Whether one of these names comes again among the cookies with another value (one pass:
    Iubenda's names are as many as a visitor sends); the same copy twice (host-only and on
    the parent domain) is the same choice."""
    wanted, first = set(names), dict[str, str]()
    for name, value in cookies:
        if name in wanted and first.setdefault(name, value) != value:
            return True
    return False


def _forwarded_for(req: Request) -> str:
    """X-Forwarded-For, all its lines as one list (a front proxy may add a line of its own
    after the visitor's; read first alone, the visitor's went to the origin as the last hop
    before the proxy, and the real address was lost)."""
    return ", ".join(_lines(req, "x-forwarded-for"))


def _lines(req: Request, name: str) -> list[str]:
    """The values of every line of the header `name` (lower case), in order."""
    return [v for k, v in req.headers if k.lower() == name]


def _address(hop: str) -> str:
    """An X-Forwarded-For entry's address: `203.0.113.9:5123` and `[2001:db8::1]:443` give
    theirs (some load balancers add the port)."""
    hop = hop.strip()
    if hop.startswith("["):
        return hop[1 : hop.find("]")] if "]" in hop else hop
    return hop.rsplit(":", 1)[0] if hop.count(":") == 1 else hop
