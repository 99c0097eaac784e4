"""The proxy's own endpoints under the reserved prefix, sans I/O.

POST {prefix}choice takes JSON (the banner's script) or a plain form (no JavaScript),
refuses cross-site requests, and answers with the new state or a same-site redirect.
GET {prefix}state tells the state; GET {prefix}preferences is the preferences page for
visitors without JavaScript; the one script, consent.js, is served versioned. GET
{prefix}me and POST {prefix}me/erase give visitors their own records (by the id in their
cookie) and erase them; what needs the store is finished by the adapter (`complete`).
POST {prefix}grant and GET {prefix}frame load one embed in place under an enforced CSP (a
short-lived signed grant for that service and URL, or consent for the service).
GET {prefix}declaration is the cookie declaration; POST {prefix}csp-report counts the
browser's CSP violation reports; GET {prefix}healthz and {prefix}readyz answer liveness and
readiness. /.well-known/gpc.json says the site honours Global Privacy Control.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from html import escape
from typing import Protocol
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit

from consentproxy import csp
from consentproxy.banner.render import SCRIPT, SCRIPT_TYPE, Banner
from consentproxy.consent import (
    NO_DECISION,
    ConsentState,
    Signer,
    consent_values,
)
from consentproxy.cookies import deletion, deletion_domains
from consentproxy.declaration import Declaration
from consentproxy.domains import same_site
from consentproxy.formercmp import fixed_cookies, tool_cookies
from consentproxy.httpheaders import Headers, header, number, sendable, split_url, valid_host
from consentproxy.language import direction, request_language
from consentproxy.policy import Policy
from consentproxy.record import ConsentRecord, Records, user_agent_family
from consentproxy.rewrite import encoding
from consentproxy.rewrite.neutralise import url_target
from consentproxy.settings import Config, Service, translated


class Asked(Protocol):
    """The request line and headers (engine.Request), and what it reads of them."""

    @property
    def method(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def first(self) -> dict[str, str]: ...  # the first value of each, by lower-case name
    @property
    def cookies(self) -> tuple[tuple[str, str], ...]: ...  # every Cookie header's pairs
    @property
    def accept_language(self) -> str | None: ...  # every Accept-Language line, joined


class Visit(Protocol):
    """What the endpoints read of one exchange (engine.Exchange): the request, the consent
    state enforced and whether the proxy forces it, the visitor's language, Host, scheme."""

    @property
    def req(self) -> Asked: ...
    @property
    def state(self) -> ConsentState: ...
    @property
    def forced(self) -> bool: ...
    @property
    def lang(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def scheme(self) -> str: ...
    @property
    def visitor(self) -> str: ...  # their address


log = logging.getLogger("consentproxy")
MAX_BODY = 16 * 1024
ACTIONS = ("accept-all", "reject-all", "save")
# A choice whose consent cookie would be too long for the proxy to read back is saved narrowed
# (consent.Signer.fitting): the form's answer says so (JSON's: "narrowed": true)
NARROWED = "your choice names more services than the consent cookie holds: some were left off"
# Where the banner's script says a choice came from ("close": the first layer's close
# control or Esc; recorded as given on the banner).
VIA = ("banner", "preferences", "placeholder", "close", "do-not-sell")
GPC_PATH = "/.well-known/gpc.json"
CSP_REPORT = "csp-report"  # under the prefix
CSP_REPORTS_PER_SECOND, CSP_REPORTS_BURST = 20, 100  # per process
# What one address may add to the records (choices, imports; erasures apart), per process:
# a visitor makes a few choices; a script posting a thousand a second filled the disk (656 B
# a record).
# Past it the choice holds all the same (its cookie), unrecorded. All addresses together:
# ALL_RECORDS_PER_SECOND, for a flood from many.
RECORDS_PER_SECOND, RECORDS_BURST = 1, 60
ALL_RECORDS_PER_SECOND, ALL_RECORDS_BURST = 200, 2000
MAX_CLIENTS = 10_000  # addresses counted at once (past it, the longest unseen is forgotten)
MAX_REPORTS = 20  # in one body (the Reporting API sends lists)
# The records `me` answers, the latest: an id gathers one a choice, and a script choosing
# once a second for two days made one `me` 200,000 of them (5.6 s of CPU, 115 MiB of JSON).
MAX_ME_RECORDS = 1000
MAX_REPORTED_HOSTS = 500  # distinct blocked hosts counted by name; the rest are "other"
# Ids erased, remembered per process so that no later choice takes one up again (the
# oldest forgotten first: the race they close lasts as long as a request is in flight).
MAX_ERASED_IDS = 10_000
# The directives a violation report may name (CSP Level 3 and the Trusted Types and
# Fenced Frames additions); any other counts as "other": anyone may post reports, and each
# name made up would be a series of the metrics for good.
DIRECTIVES = frozenset(
    {
        *("child-src", "connect-src", "default-src", "fenced-frame-src", "font-src"),
        *("frame-src", "img-src", "manifest-src", "media-src", "object-src", "prefetch-src"),
        *("script-src", "script-src-elem", "script-src-attr", "worker-src"),
        *("style-src", "style-src-elem", "style-src-attr"),
        *("base-uri", "form-action", "frame-ancestors", "navigate-to", "sandbox", "webrtc"),
        *("trusted-types", "require-trusted-types-for", "plugin-types"),
    }
)
_PRINTABLE_ASCII = "".join(map(chr, range(0x21, 0x7F)))
GRANT, FRAME = "grant", "frame"  # under the prefix
# The frame document of a grant puts its embed (held in a <template>) in only inside a frame:
# a grant's URL opened top-level (a link, a redirect to a fresh grant: over plain http no
# header tells a frame from a page, and a redirect keeps the site's Referer) loads nothing.
FRAME_SCRIPT = (
    "if(parent!==window)document.body.replaceChildren(document.querySelector('template').content)"
)
GRANT_SECONDS = 120  # how long a grant may take to be used (the frame's navigation)
MAX_FRAME_URL = 4096
# What the frame document lets the embed do, within what the page's <iframe allow> gives.
FRAME_ALLOW = (
    "accelerometer; autoplay; clipboard-write; encrypted-media; fullscreen; "
    "gyroscope; picture-in-picture"
)


@dataclass
class LocalResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    new_state: ConsentState | None = None
    record: ConsentRecord | None = None  # a decision to keep as proof
    csp_violations: list[tuple[str, str]] = field(default_factory=list)  # (directive, host)
    # With new_state: cookies deleted first (cookies.deletion_headers' known, a path and its
    # names), in the one budget of the deletions of those new_state does not cover.
    deletes_first: tuple[Sequence[str], tuple[str, Sequence[str]]] = ((), ("/", ()))
    # Work on the records store, which the adapter awaits for (status, body).
    complete: Callable[[], Awaitable[tuple[int, bytes]]] | None = None


def plain(status: int, message: str) -> LocalResponse:
    """The proxy's own short answers (and its refusals of a request, engine.py's): one line
    of text, never cached."""
    return LocalResponse(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
        message.encode() + b"\n",
    )


def not_allowed(allow: str, message: str) -> LocalResponse:
    """A 405 with the Allow that RFC 9110 (15.5.6) asks of it."""
    refused = plain(405, message)
    refused.headers.append(("Allow", allow))
    return refused


def _json(status: int, data: object) -> LocalResponse:
    return LocalResponse(
        status,
        [("Content-Type", "application/json"), ("Cache-Control", "no-store")],
        json.dumps(data, separators=(",", ":")).encode(),
    )


def state_json(state: ConsentState, revision: int, forced: bool = False) -> dict[str, object]:
    """forced: the state is the proxy's (--state, consent_state, X-Consent-State), not the
    visitor's cookie, and no choice changes it."""
    return {
        "decided": state.decided,
        "categories": sorted(state.categories),
        "services": sorted(state.services),
        "revision": revision,
        "decided_at": state.decided_at or None,
        "forced": forced,
        "opt_out": state.opt_out,
        "reask": state.reask,
        "gpc": state.gpc,
    }


def safe_return(target: str | None) -> str:
    """A same-site path to go back to after a form post; anything else becomes '/'.
    Letters beyond ASCII are %-escaped (a Location header carries bytes, as browsers send)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if "\\" in target or not sendable(target) or "\t" in target or urlsplit(target).netloc:
        return "/"
    try:  # (a byte beyond ASCII an adapter read as a surrogate escape: %-escaped as a byte)
        raw = target.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # (a lone surrogate: no byte a browser sent)
        return "/"
    return quote(raw, safe=_PRINTABLE_ASCII)


def _utf8(text: str) -> bool:
    """Whether text is UTF-8 text: JSON's `\\ud800` and a raw byte an adapter read as a
    surrogate escape are not (signing or sending such a URL failed: a 500)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class RateLimit:
    """A token bucket: `rate` a second on average, bursts of `burst`."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.at = float(burst), clock()

    def available(self) -> float:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return self.tokens

    def take(self, count: int = 1) -> bool:
        if self.available() < count:
            return False
        self.tokens -= count
        return True


class ClientRates:
    """A RateLimit per client address (an IPv6 one by its /64: one host holds them all),
    and one for all. A loopback address (a front proxy on the machine, not in
    trusted_proxies) or none is every visitor's: counted in all only. At most MAX_CLIENTS
    addresses, the one unseen longest forgotten first (clearing all let a flood of
    addresses start every count afresh)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        refusing: str = "",
    ):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._limits: dict[str, RateLimit] = {}
        self._all: RateLimit | None = None  # (made on first use: the clock may be set)
        self.refused = 0
        # What a refusal costs, said in the log at most once a minute (a metric alone kept
        # a flood, or a front proxy not trusted making all visitors one, out of sight).
        self.refusing = refusing
        self._said_at: float | None = None
        self._unsaid: dict[str, int] = {}  # refusals not said yet, by the limit passed

    def _refuse(self, past: str) -> bool:
        self.refused += 1
        self._unsaid[past] = self._unsaid.get(past, 0) + 1
        now = self.clock()
        if self.refusing and (self._said_at is None or now - self._said_at >= 60):
            for limit, count in self._unsaid.items():
                log.warning("%d %s, past %s", count, self.refusing, limit)
            self._said_at, self._unsaid = now, {}
        return False

    def take(self, address: str, count: int = 1) -> bool:
        """`count` tokens of the address's and of all, or none: a request's several ids
        (an erase's) refused at the last had spent the first ones' for nothing."""
        if self._all is None:
            self._all = RateLimit(ALL_RECORDS_PER_SECOND, ALL_RECORDS_BURST, self.clock)
        key = _client_key(address)
        if key is not None:
            limit = self._limits.pop(key, None)
            if limit is None:
                if len(self._limits) >= MAX_CLIENTS:
                    del self._limits[next(iter(self._limits))]
                limit = RateLimit(self.rate, self.burst, self.clock)
            self._limits[key] = limit  # (last: the most recently seen)
            if limit.available() < count:
                return self._refuse(
                    f"one address's rate ({self.rate:g}/s: a flood, or every visitor at one "
                    "address, behind a front proxy not in trusted_proxies)"
                )
        if not self._all.take(count):
            return self._refuse("all addresses' rate (a flood from many)")
        if key is not None:
            self._limits[key].take(count)  # (available above: tokens only grow meanwhile)
        return True


def _client_key(address: str) -> str | None:
    """What an address is counted under: itself, an IPv6 one's /64, an IPv4-mapped one's
    IPv4 (a dual-stack socket's); None for a loopback one or none."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address or None  # (a front proxy's word for it, `unknown`: as written)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


class Endpoints:
    """The reserved prefix, built from what it depends on (engine.Engine builds it)."""

    def __init__(
        self,
        config: Config,
        policy: Policy,
        signer: Signer,
        banner: Banner,
        declaration: Declaration,
        clock: Callable[[], float],
        *,
        shown: tuple[str, str],
        config_digest: str,
    ):
        """shown: (digest, content) of what the banner shows (proof.archived), named by
        each record with the config_digest."""
        self.config, self.policy, self.signer, self.banner = config, policy, signer, banner
        self._scripts: dict[str, bytes] = {}  # consent.js by coding (see _script)
        self.declaration, self.clock = declaration, clock
        self.shown, self.config_digest = shown, config_digest
        self.reports = RateLimit(CSP_REPORTS_PER_SECOND, CSP_REPORTS_BURST)
        self.recorded = ClientRates(
            RECORDS_PER_SECOND,
            RECORDS_BURST,
            refusing="choices since were not recorded (their cookies were set)",
        )
        # the ids me/erase erases, each an erasure row (records.erase): a limit of their own
        # (not the records', whose refusals the metrics count as decisions dropped)
        self.erasing = ClientRates(RECORDS_PER_SECOND, RECORDS_BURST)
        # The ids erased (an ordered set): a choice still holding one starts a new id. Kept
        # under the old, its record was erased with them whenever it was made in the erase's
        # second (records: what was decided at or before an erase goes), a consent in force
        # with no proof; and the id's holder could erase it again.
        self.erased: dict[str, None] = {}
        # The ids an erase is erasing now (how many erases of each): a choice or an import
        # holding one is refused meanwhile. Kept, its record was written after the store
        # erased that id, or made a fresh id the erase's answer took the cookie of (or the
        # erase's answer came first): a record left for thirteen months with no cookie, `me`
        # or erase to reach it, or a consent in force with its proof erased.
        self.under_erase: dict[str, int] = {}
        self.hosts_seen: set[str] = set()  # in CSP reports, up to MAX_REPORTED_HOSTS

    def carry_over(self, old: Endpoints) -> None:
        """What a reload keeps of the endpoints it replaces: the CSP report hosts given a
        label (the metrics' series live on: each reload let 500 more in) and the rate
        limits (a reload let a flood start afresh)."""
        self.hosts_seen, self.reports = old.hosts_seen, old.reports
        self.recorded, self.erasing, self.erased = old.recorded, old.erasing, old.erased
        self.under_erase = old.under_erase

    def handle(
        self,
        ex: Visit,
        body: bytes,
        records: Records | None = None,
        probes: Mapping[str, Callable[[], Awaitable[bool]]] | None = None,
    ) -> LocalResponse:
        """body: the request's (up to MAX_BODY + 1 bytes); records: the proof-of-consent
        store, if the config keeps one; probes: the adapter's readiness checks."""
        full = ex.req.target.split("?")[0]
        method = ex.req.method
        if full == GPC_PATH:  # https://privacycg.github.io/gpc-spec/#gpc-support-resource
            return _json(200, {"gpc": True})
        path = full[len(self.config.prefix) :]
        if path in (SCRIPT, "state", "preferences", "me", "declaration") and method not in (
            "GET",
            "HEAD",
        ):
            return not_allowed("GET, HEAD", "use GET")
        if path == SCRIPT:
            return self._script(ex.req.target, header(ex.req.headers, "accept-encoding"))
        if path == "state":
            return _json(200, state_json(ex.state, self.config.consent.revision, ex.forced))
        if path == "preferences":
            query = dict(parse_qsl(urlsplit(ex.req.target).query))
            back = self._unnoted(safe_return(query.get("return")))
            cfg = self.config  # the page it came from, as far as its path says
            lang = next(
                filter(
                    None,
                    request_language(
                        cfg.language_from,
                        cfg.languages,
                        back,
                        ex.req.cookies,
                        ex.req.accept_language,
                        cfg.language_cookie,
                    ),
                )
            )
            # (a form's choice saved narrowed: said only to whom the proxy sent here for it)
            narrowed = self.signer.verify(self._narrowed(ex.state), query.get("narrowed", ""))
            return _page(200, self.banner.preferences_page(ex.state, lang, back, narrowed))
        if path == "declaration":
            return self._declaration(ex)
        if path == "choice":
            if method != "POST":
                return not_allowed("POST", "use POST with action=accept-all|reject-all|save")
            return _cross_site(ex) or self._choice(ex, body)
        if path == CSP_REPORT:
            if method != "POST":
                return not_allowed("POST", "use POST")
            return self._csp_report(ex, body)
        if path == GRANT:
            if method != "POST":
                return not_allowed("POST", 'use POST with {"service": NAME, "url": URL}')
            return _cross_site(ex) or self._grant(ex, body)
        if path == FRAME:
            if method not in ("GET", "HEAD"):
                return not_allowed("GET, HEAD", "use GET")
            return self._frame(ex)
        if path == "healthz":  # liveness: the process answers
            return plain(200, "ok")
        if path == "readyz":
            return _ready(records, probes or {})
        if path == "me":
            return _me(ex, records, self.record_ids(ex.req.cookies))
        if path == "me/erase":
            if method != "POST":
                return not_allowed("POST", "use POST")
            return _cross_site(ex) or self._erase(ex, body, records)
        return plain(404, "not found")

    def _blocked(self, svc: Service, lang: str) -> str:
        """The frame's sentence while its embed is held, as HTML: banner.js's placeholder text
        (the service's own, else `blocked` filled in), which it shows as text: the operator's
        words are escaped too, not only the names filled in."""
        own = svc.placeholder.get(lang)
        if own:
            return escape(own)
        category = self.config.category(svc.category)
        names = {
            "service": svc.display_title(lang),
            "category": (category and translated(category.title, lang)) or svc.category,
        }
        text = escape(self.config.banner.text(lang)["blocked"])
        return re.sub(r"\{(\w+)\}", lambda m: escape(names[m[1]]), text)

    def _framed(self, name: object, url: object) -> Service | None:
        """The service an embed URL belongs to, if it is `name`'s (an absolute http(s) URL
        of a configured service the choice can allow), else None."""
        if not isinstance(name, str) or not isinstance(url, str) or len(url) > MAX_FRAME_URL:
            return None
        if not _utf8(url):
            return None
        policy = self.policy
        svc = policy.services.get(name)
        target = url_target(url) if url.lower().startswith(("https://", "http://")) else None
        if svc is None or svc.category not in policy.optional or target is None:
            return None
        return svc if policy.service_for_host(*target) is svc and sendable(url) else None

    def _narrowed(self, state: ConsentState) -> str:
        """What the preferences' `narrowed=` signs: the choice the form just saved narrowed.
        Unsigned, anyone's link said "some you allowed were left off: allow a whole category"
        to a visitor who never chose, a nudge to grant more; tied to the cookie's id and
        time, to the visitor the proxy sent there, and only while that choice holds."""
        return f"narrowed\n{state.consent_id}\n{state.decided_at}"

    def _unnoted(self, path: str) -> str:
        """A return path, without the `narrowed=` of one into the prefix (the preferences):
        a save there that fits went back to the note, saying it narrowed again."""
        if not path.startswith(self.config.prefix):
            return path
        parts = urlsplit(path)
        query = [
            (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "narrowed"
        ]
        return parts._replace(query=urlencode(query)).geturl()

    def _grant_payload(self, name: str, url: str, expires: str) -> str:
        return f"{FRAME}\n{name}\n{url}\n{expires}"

    def _grant(self, ex: Visit, body: bytes) -> LocalResponse:
        """A grant for one embed: the URL of a frame document that loads it, valid for
        GRANT_SECONDS. Nothing is recorded and no cookie changes ("load this once")."""
        if len(body) > MAX_BODY:
            return plain(413, "request body too large")
        try:
            data = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            return plain(400, "unreadable grant request")
        name, url = (data.get("service"), data.get("url")) if isinstance(data, dict) else ("", "")
        if self._framed(name, url) is None:
            return plain(
                400,
                "service must be a configured service and url an absolute URL of one of its hosts",
            )
        expires = str(int(self.clock()) + GRANT_SECONDS)
        query = urlencode(
            {
                "s": name,
                "u": url,
                "e": expires,
                "g": self.signer.sign(self._grant_payload(str(name), str(url), expires)),
            }
        )
        return _json(200, {"url": f"{self.config.prefix}{FRAME}?{query}"})

    def _frame(self, ex: Visit) -> LocalResponse:
        """The frame document of a granted (or consented) embed: a page of the site's own
        origin, so the page's CSP lets it in, whose own CSP frames that service only."""
        query = dict(parse_qsl(urlsplit(ex.req.target).query))
        name, url, expires = query.get("s", ""), query.get("u", ""), query.get("e", "")
        svc = self._framed(name, url)
        if svc is None:
            return plain(400, "not an embed of a configured service")
        now = self.clock()
        # (a grant is for a frame of the page: /grant asks for no visitor's cookie, and a
        # link to its URL, opened top-level by anyone it was sent to, loaded the embed.
        # Sec-Fetch-Dest, sent over https only, refuses it at once; FRAME_SCRIPT is what
        # holds, over http too, whatever the Referer)
        granted = (
            header(ex.req.headers, "sec-fetch-dest") != "document"
            and now <= (number(expires) or 0) <= now + GRANT_SECONDS + 5
            and self.signer.verify(self._grant_payload(name, url, expires), query.get("g", ""))
        )
        consented = self.policy.allows(svc, ex.state)
        if not granted and not consented:
            return plain(403, "this embed needs your consent or a fresh grant")
        lang = ex.lang
        title = escape(svc.display_title(lang))
        embed = f'<iframe src="{escape(url)}" title="{title}" allow="{FRAME_ALLOW}"></iframe>'
        script = "" if consented else FRAME_SCRIPT
        if script:
            # (granted only: the embed goes in inside a frame, which frame-ancestors 'self'
            # makes the site's page; opened top-level it stays blocked, saying so)
            embed = f"<p>{self._blocked(svc, lang)}</p><template>{embed}</template>"
            embed += f"<script>{script}</script>"
        page = (
            f'<!DOCTYPE html><html lang="{escape(lang)}" dir="{direction(lang)}"><head>'
            f'<meta charset="utf-8"><title>{title}</title>'
            "<style>html,body{margin:0;height:100%;overflow:hidden}p{margin:1em}"
            "iframe{display:block;border:0;width:100%;height:100%}</style></head><body>"
            f"{embed}</body></html>"
        )
        return LocalResponse(
            200,
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("Content-Security-Policy", csp.frame_header(svc.source_hosts, script)),
                ("Referrer-Policy", "strict-origin-when-cross-origin"),
                ("X-Content-Type-Options", "nosniff"),
            ],
            page.encode("utf-8"),
        )

    def _declaration(self, ex: Visit) -> LocalResponse:
        """The cookie declaration: an HTML fragment, or JSON (?format=json, or asked for
        by Accept), in ?lang= or the visitor's language."""
        query = dict(parse_qsl(urlsplit(ex.req.target).query))
        cfg, declaration = self.config, self.declaration
        asked = query.get("lang", "")
        lang = asked if asked in cfg.languages else ex.lang
        accept = header(ex.req.headers, "accept") or ""
        fmt = query.get("format") or (
            "json" if "application/json" in accept and "text/html" not in accept else "html"
        )
        if fmt not in ("html", "json"):
            return plain(400, "format must be html or json")
        body, ctype = (
            (declaration.json(lang), "application/json")
            if fmt == "json"
            else (declaration.html(lang), "text/html; charset=utf-8")
        )
        return LocalResponse(
            200,
            [
                ("Content-Type", ctype),
                ("Content-Language", lang),
                ("Cache-Control", "no-cache"),
                ("Vary", "Accept, Accept-Language, Cookie"),
            ],
            body,
        )

    def _csp_report(self, ex: Visit, body: bytes) -> LocalResponse:
        """A browser's CSP violation reports (report-uri's one, or the Reporting API's
        list): counted by directive and blocked host, so report-only shows what enforce
        would block. Anyone can post here: bounded in size, rate and distinct hosts."""
        if len(body) > MAX_BODY:
            return plain(413, "report too large")
        if not self.reports.take():
            return plain(429, "too many reports")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return plain(400, "unreadable report")
        items = data if isinstance(data, list) else [data]
        violations: list[tuple[str, str]] = []
        for item in items[:MAX_REPORTS]:
            report = item.get("csp-report") or item.get("body") if isinstance(item, dict) else None
            if not isinstance(report, dict):
                continue
            directive = (
                report.get("effective-directive")
                or report.get("effectiveDirective")
                or report.get("violated-directive")
                or ""
            )
            blocked = report.get("blocked-uri") or report.get("blockedURL") or ""
            violations.append(self._violation(directive, blocked))
        return LocalResponse(204, [("Cache-Control", "no-store")], csp_violations=violations)

    def _violation(self, directive: object, blocked: object) -> tuple[str, str]:
        """(directive, host) as metric labels: known directives only; a host the config or
        the knowledge base names by its name (what tuning report-only to enforce looks
        for), and a bounded number of other distinct hosts (past it, 'other': a burst of
        made-up hosts in anonymous reports took every label for good)."""
        name = str(directive).split(" ")[0].lower()
        name = name if name in DIRECTIVES else "other"
        target = url_target(blocked) if isinstance(blocked, str) else None
        host = (
            target[0].lower()
            if target
            else (blocked if blocked in ("inline", "eval", "data", "blob", "self") else "other")
        )
        if host not in self.hosts_seen and not self._named(host):
            if len(self.hosts_seen) >= MAX_REPORTED_HOSTS or not valid_host(host):
                return name, "other"
            self.hosts_seen.add(host)
        return name, host

    def _named(self, host: str) -> bool:
        policy = self.policy
        return valid_host(host) and (
            policy.service_for_host(host) is not None
            or policy.knowledge.lookup(host, "") is not None
        )

    def _erase(self, ex: Visit, body: bytes, records: Records | None) -> LocalResponse:
        """Erase the visitor's records and their consent cookie: back to no decision. A
        form post (the preferences' button) goes back to the page."""
        if ex.forced:  # (as a choice: a QA run forced to a state erases nothing, not the cookie)
            return _json(200, {"erased": 0, "forced": True})
        if records is not None and not records.ready:
            return _unavailable()
        ids = self.record_ids(ex.req.cookies)
        # Each id erased is a row kept as long as the records (records.erase): counted as
        # records are, else one script minted and erased ids by the thousand a second.
        if records is not None and ids and not self.erasing.take(ex.visitor, len(ids)):
            return plain(429, "too many erasures from your address; try again in a minute")
        ctype = (header(ex.req.headers, "content-type") or "").split(";")[0].strip().lower()
        back = None
        if ctype == "application/x-www-form-urlencoded":
            back = dict(parse_qsl(body.decode("utf-8", "replace"))).get("return") or "/"
        resp = _json(200, {})
        resp.new_state = NO_DECISION
        resp.deletes_first = self._former_cookies(ex)

        async def complete() -> tuple[int, bytes]:
            erased = 0
            if records is not None:
                for cid in ids:
                    self.under_erase[cid] = self.under_erase.get(cid, 0) + 1
                try:  # (all or none: one erased, the next failing, was a 503 keeping its cookie)
                    erased = await records.erase(*ids) if ids else 0
                finally:
                    for cid in ids:
                        if self.under_erase[cid] == 1:
                            del self.under_erase[cid]
                        else:
                            self.under_erase[cid] -= 1
                # Marked once the records are gone, not when the erase starts: a choice made
                # meanwhile is refused (under_erase), one answered before complete() began
                # goes with the erase, as the cookie does; marked at the start, it started an
                # id no cookie held and no erase reached, its record left. A
                # failed or cancelled erase marks nothing (the cookie kept, its records
                # reached by its id); with no store there is no record to keep apart.
                self.erased.update(dict.fromkeys(ids))
                while len(self.erased) > MAX_ERASED_IDS:
                    del self.erased[next(iter(self.erased))]
            # The consent cookie goes only once the records have: a failed erase (a 503) that
            # took it would leave the visitor no way back to their records, and forget their
            # choice. The former tool's cookies (deletes_first) and those the choice does not
            # cover go with the engine's deletions, a 503 too: while the consent cookie is
            # kept nothing imports them (former_choice: no decision only), and the visitor
            # asked them gone.
            resp.headers += self.consent_cookies(ex, "", 0)
            if back is not None:
                resp.headers.append(("Location", safe_return(back)))
            return (200 if back is None else 303), json.dumps({"erased": erased}).encode()

        resp.complete = _unavailable_as_503(resp, complete)
        return resp

    def _former_cookies(self, ex: Visit) -> tuple[list[str], tuple[str, list[str]]]:
        """The former consent tool's cookies the erase deletes first (the engine's
        deletions: one budget, each name once), their choice there would be imported again
        on the next request (with `neutralise: false` the proxy leaves them), undoing the
        erase: those the visitor sent (at /); and on former_cmp.path when it is not /, every
        name the tool may have set there (a browser sends no cookie of Path=/blog/ to this
        endpoint): its fixed names (config refuses a path to a tool with none)."""
        former = self.config.former_cmp
        if former is None:
            return [], ("/", [])
        sent = tool_cookies(former.tool, {n for n, _ in ex.req.cookies})
        there = fixed_cookies(former.tool) if former.path != "/" else sent
        return sent, (former.path, there)

    def record_ids(self, cookies: Sequence[tuple[str, str]]) -> list[str]:
        """The ids of the consent cookies the visitor holds that this deployment signed,
        however old (Signer.record_id): an expired one hid records kept for thirteen months,
        and a sibling's planted one beside the visitor's own (the state then keeps no id) hid
        the visitor's. Read from the cookies the state is (consent_values): too many, none."""
        values = consent_values(cookies, self.config.consent.cookie_name) or ()
        return list(dict.fromkeys(filter(None, map(self.signer.record_id, values))))

    def erasing_now(self, cookies: Sequence[tuple[str, str]], consent_id: str = "") -> bool:
        """Whether an erase is under way (under_erase) of an id of these consent cookies, or
        of `consent_id` (a state's: one imported from the former tool's cookies alone has an
        id no consent cookie of the request holds)."""
        return bool(self.under_erase) and (
            consent_id in self.under_erase
            or any(cid in self.under_erase for cid in self.record_ids(cookies))
        )

    def consent_cookies(self, ex: Visit, value: str, max_age: int) -> Headers:
        """The Set-Cookie headers setting the consent cookie (or erasing it: one shape for
        both). Its Domain is consent.cookie_domain when the host is under it (elsewhere a
        browser would refuse the cookie: no choice would ever be kept there). A visitor who
        sent it twice (host-only and on the cookie domain: the config changed between two
        choices; or one planted by a sibling site) has the other variants deleted first:
        the engine reads what all of them grant (Engine.consent_of). So has a visitor who
        sent one we signed: the browser does not say which it is, and one left by the config's
        former cookie_domain outlived an erase (a host-only accept-all kept in force) and
        narrowed the next choice back to its own; so did one on a parent past the new
        cookie_domain (.example.com narrowed to .shop.example.com: every parent is tried). A __Host- or __Secure-
        name is always Secure (a browser takes it over https only, never from a sibling)."""
        cfg = self.config.consent
        name = cfg.cookie_name
        prefixed = name.lower().startswith(("__host-", "__secure-"))  # (in any case, as browsers)
        secure = "; Secure" if ex.scheme == "https" or prefixed else ""
        host = ex.host.split(":")[0].lower().rstrip(".")
        base = cfg.cookie_domain.lstrip(".") if cfg.cookie_domain else None
        domain = base if base and same_site(host, base) else None
        cookie = f"{name}={value}; Max-Age={max_age}; Path=/; SameSite=Lax; HttpOnly"
        cookie += (f"; Domain={domain}" if domain else "") + secure
        out = []
        sent = [v for n, v in ex.req.cookies if n == name]
        # (one this deployment did not sign is another's: a sibling site's, left alone)
        if len(sent) > 1 or (sent and self.signer.record_id(sent[0])):
            variants = deletion_domains(host, cfg.cookie_domain, every_parent=True)
            others = [d for d in [None, *variants] if d != domain]
            out = [deletion(name, "/", d, secure) for d in others]
        return [("Set-Cookie", v) for v in [*out, cookie]]

    def _script(self, target: str, accept_encoding: str | None) -> LocalResponse:
        """Cached for a year under its versioned URL (the version changes with the release
        and the config's tables), revalidated under any other; compressed as the visitor
        accepts (56 KB, 22 KB in br: what a page waits for before its own scripts run),
        each coding once."""
        banner = self.banner
        versioned = target.endswith(f"?v={banner.version}")
        cache = "public, max-age=31536000, immutable" if versioned else "no-cache"
        coding = encoding.best_accepted(accept_encoding)
        body = self._scripts.get(coding)
        if body is None:
            body = self._scripts[coding] = encoding.compressed(banner.script, coding)
        headers = [
            ("Content-Type", SCRIPT_TYPE),
            ("Cache-Control", cache),
            ("Vary", "Accept-Encoding"),
        ]
        if coding != "identity":
            headers.append(("Content-Encoding", coding))
        return LocalResponse(200, headers, body)

    def _choice(self, ex: Visit, body: bytes) -> LocalResponse:
        headers = ex.req.headers
        if len(body) > MAX_BODY:
            return plain(413, "request body too large")
        ctype = (header(headers, "content-type") or "").split(";")[0].strip().lower()
        is_json = ctype == "application/json"
        try:
            if is_json:
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object")
                action = data.get("action")
                wanted = data.get("categories") or []
                services = data.get("services") or []
                via = str(data["via"]) if data.get("via") in VIA else "banner"
                lang = data.get("lang")
                seen = data.get("shown")
                back = None
            else:
                form = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
                action = next((v for k, v in form if k == "action"), None)
                wanted = [v for k, v in form if k == "category"]
                services = [v for k, v in form if k == "service"]
                back = next((v for k, v in form if k == "return"), None)
                lang = next((v for k, v in form if k == "lang"), None)
                seen = next((v for k, v in form if k == "shown"), None)
                # The no-JS close button posts to choice?via=close, the opt-out to
                # choice?via=do-not-sell.
                via = {"close": "form-close", "do-not-sell": "do-not-sell"}.get(
                    dict(parse_qsl(urlsplit(ex.req.target).query)).get("via", ""), "form"
                )
        except (ValueError, UnicodeDecodeError) as e:
            return plain(400, f"unreadable choice: {e}")
        except RecursionError:  # JSON nested thousands deep
            return plain(400, "unreadable choice: nested too deep")
        if action not in ACTIONS or not _strings(wanted) or not _strings(services):
            return plain(
                400,
                "action must be accept-all, reject-all or save; "
                "categories and services must be lists",
            )
        if isinstance(seen, str) and seen != self.shown[0] and action != "reject-all":
            # The banner the visitor chose on was rendered before a reload changed what it
            # shows (a category added): granting what it grants now, recorded as the new
            # version shown, claimed a consent never given. banner.js then posts the form,
            # which goes back to the page, its banner afresh; nothing is set or recorded.
            stale = "the banner changed since this page was shown: choose again on it"
            return plain(400, stale) if is_json else _back(ex, back, stale)
        if ex.forced:  # a QA run forced to a state stays in it: no cookie, no record
            return _answer(
                ex,
                is_json,
                back,
                ex.state,
                self.config.consent.revision,
                "the consent state is forced by the proxy; nothing was saved",
            )
        if not isinstance(lang, str) or lang not in self.config.languages:
            # an old page's banner, or none
            lang = ex.lang
        if self.erasing_now(ex.req.cookies, ex.state.consent_id):
            # (banner.js keeps the banner open, saying the choice failed; the form's
            # visitor gets the preferences saying so, to choose again on)
            if is_json:
                return plain(503, "an erase of your records is under way: try again")
            there = safe_return(back or _referer_path(ex))
            return _page(503, self.banner.preferences_page(ex.state, lang, there, failed=True))
        policy = self.policy
        if action == "accept-all":
            cats: set[str] = set(policy.optional)
            svcs: set[str] = set()
        elif action == "reject-all":
            cats, svcs = set(), set()
        else:
            cats = {c for c in wanted if c in policy.optional}
            ticked = {
                s
                for s in services
                if s in policy.services and policy.services[s].category in policy.optional
            }
            # A service whose whole category is granted needs no consent of its own; a
            # category granted before, now left unticked with all its services ticked, was
            # just unticked (a form without JavaScript cannot untick them along with it).
            # Not one granted before: its services were ticked one by one (a lone service,
            # a placeholder's Always allow: the rule had refused it, and recorded that).
            whole = [
                c
                for c, names in policy.services_in.items()
                if names and names <= ticked and c in ex.state.categories
            ]
            svcs = set(policy.outside(ticked, [*cats, *whole]))
        if ex.state.gpc:
            cats, svcs = map(set, policy.under_gpc(cats, svcs))
        previous = ex.state
        if previous.consent_id in self.erased:
            previous = replace(previous, consent_id="")
        state = self.signer.decide(cats, svcs, self.clock(), previous)
        if via == "placeholder" and ex.state.decided and not ex.state.reask:
            # One service added from its placeholder confirms none of the rest: the choice
            # keeps its date (six months from when the visitor last saw all of it).
            state = replace(state, decided_at=ex.state.decided_at)
        if via in ("close", "form-close"):
            # Closing the banner is no answer: it keeps what still holds (after a policy
            # change), never more, and renews none of it.
            kept = (state.categories & ex.state.categories, state.services & ex.state.services)
            state = replace(
                state,
                categories=kept[0],
                services=kept[1],
                decided_at=ex.state.decided_at if any(kept) else state.decided_at,
            )
        fitted, value = self.signer.fitting(state)
        narrowed, state = fitted != state, fitted
        cfg = self.config.consent
        cookies = self.consent_cookies(ex, value, cfg.max_age_days * 86400)
        saved = NARROWED if narrowed else "your choice is saved"
        if narrowed and not is_json:
            # No script tells a form's visitor: the preferences do, the boxes as saved (and
            # saving them goes back to the page).
            page = self._unnoted(safe_return(back or _referer_path(ex)))
            query = urlencode({"return": page, "narrowed": self.signer.sign(self._narrowed(state))})
            back = f"{self.config.prefix}preferences?{query}"
        resp = _answer(ex, is_json, back, state, cfg.revision, saved, narrowed)
        resp.headers += cookies
        resp.new_state = state
        resp.record = self.record(ex, state, action, via, lang, seen)
        return resp

    def record(
        self, ex: Visit, state: ConsentState, action: str, via: str, lang: str, seen: object = None
    ) -> ConsentRecord:
        """via: VIA, or form / form-close (the no-JS form); seen: the version of the banner
        the choice says it was made on (only the current one is recorded as shown: one not
        named, by a forged post or a consent.js cached from before, is recorded as unknown)."""
        policy = self.policy
        # (of the services a visitor is asked about: a necessary one, or a former tool the
        # config names, was never offered, nor granted or refused)
        offered = {s for s, svc in policy.services.items() if svc.category in policy.optional}
        allowed = {s for s in offered if policy.allows(policy.services[s], state)}
        imported = via.startswith("import:")
        was = ex.state if ex.state.decided or ex.state.opt_out else NO_DECISION
        withdrawn = any(
            policy.allows(svc, was) and not policy.allows(svc, state)
            for svc in policy.services.values()
        ) or bool(was.categories - state.categories)
        return ConsentRecord(
            consent_id=state.consent_id,
            # when the visitor answered (a close keeps the cookie's older date: it renews
            # nothing); an import, when they chose with the former tool
            decided_at=state.decided_at if imported else int(self.clock()),
            revision=state.revision,
            config_digest=self.config_digest,
            action=action,
            method={"close": "banner", "form-close": "form"}.get(via, via),
            granted_categories=tuple(sorted(state.categories)),
            refused_categories=tuple(sorted(set(policy.optional) - state.categories)),
            granted_services=tuple(sorted(allowed)),
            refused_services=tuple(sorted(offered - allowed)),
            withdrawal=withdrawn,
            gpc=ex.state.gpc,
            user_agent=user_agent_family(header(ex.req.headers, "user-agent")),
            language="" if imported else lang,  # (the tool's banner, not ours, was read)
            shown_digest=self.shown[0] if seen == self.shown[0] else "",
            outcome=_outcome(ex, action, via),
        )


def _ready(
    records: Records | None, probes: Mapping[str, Callable[[], Awaitable[bool]]]
) -> LocalResponse:
    """Readiness: every probe the adapter registered (upstream reachable) and the records
    store (writable) must pass; 503 with which failed otherwise."""
    checks = dict(probes)
    resp = _json(200, {})

    async def complete() -> tuple[int, bytes]:
        results = {name: "ok" if await probe() else "failing" for name, probe in checks.items()}
        if records is not None:
            results["records"] = "ok" if await records.writable() else "failing"
        ok = all(v == "ok" for v in results.values())
        return (200 if ok else 503), json.dumps(results).encode()

    resp.complete = complete
    return resp


def _page(status: int, page: bytes) -> LocalResponse:
    """The preferences page, never cached (it shows the visitor's choice)."""
    return LocalResponse(
        status,
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            # (a frame of the site's markup, invisible over a "Win" button, made the
            # visitor's click an "Accept all": its posts are same-origin)
            ("Content-Security-Policy", "frame-ancestors 'none'"),
            ("X-Frame-Options", "DENY"),
        ],
        page,
    )


# When a visitor may try again a request the records store failed or did not answer in time
# (records.STORE_SECONDS): about as long as that.
RETRY_AFTER = ("Retry-After", "10")


def _unavailable() -> LocalResponse:
    """While the records store is not open: visitors retry rather than get a wrong answer."""
    resp = plain(503, "consent records are unavailable right now; try again later")
    resp.headers.append(RETRY_AFTER)
    return resp


def _me(ex: Visit, records: Records | None, ids: list[str]) -> LocalResponse:
    """The visitor's own records: what the operator keeps about them, under each id of
    theirs (Endpoints.record_ids)."""
    if records is None:
        return plain(404, "this site keeps no consent records")
    if not records.ready:
        return _unavailable()
    resp = _json(200, {})

    async def complete() -> tuple[int, bytes]:
        found = await records.by_id(*ids, latest=MAX_ME_RECORDS + 1)  # (at once: one snapshot)
        more = len(found) > MAX_ME_RECORDS  # (kept, and erased with the rest)
        cid = ex.state.consent_id or (ids[0] if ids else None)
        return 200, json.dumps(
            {
                "consent_id": cid,
                "consent_ids": ids,
                "records": [asdict(r) for r in found[-MAX_ME_RECORDS:]],
                "more": more,
            }
        ).encode()

    resp.complete = _unavailable_as_503(resp, complete)
    return resp


def _outcome(ex: Visit, action: str, via: str) -> str:
    """What a visitor shown the first layer (no choice yet, or asked again) did with it:
    record.OUTCOMES; "" for a change of mind or an answer to a placeholder."""
    if not ex.state.asks or via == "placeholder":
        return ""
    if via in ("close", "form-close"):
        return "close"
    return "customise" if via == "preferences" or action == "save" else action


def _unavailable_as_503(
    resp: LocalResponse, work: Callable[[], Awaitable[tuple[int, bytes]]]
) -> Callable[[], Awaitable[tuple[int, bytes]]]:
    """A store that fails mid-request, or that the store stopped past its time (a hung
    database: records.STORE_SECONDS), is the visitor's 503 to retry, never a traceback."""

    async def guarded() -> tuple[int, bytes]:
        try:
            return await work()
        except Exception as e:  # noqa: BLE001 - any driver error
            log.error("records: %s", e or type(e).__name__)  # (a timeout says nothing)
            resp.headers.append(RETRY_AFTER)
            return 503, b'{"error": "consent records are unavailable right now"}'

    return guarded


def _strings(value: object) -> bool:
    """A list of names: anything else in a JSON choice is refused, never hashed."""
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _answer(
    ex: Visit,
    is_json: bool,
    back: str | None,
    state: ConsentState,
    revision: int,
    saying: str,
    narrowed: bool = False,
) -> LocalResponse:
    """A choice's answer: the state as JSON, or (a form post) back to the page. narrowed:
    the choice was saved narrowed to fit the cookie (Signer.fitting); the JSON says so, and
    banner.js tells the visitor."""
    if is_json:
        answer = state_json(state, revision, ex.forced)
        return _json(200, {**answer, "narrowed": True} if narrowed else answer)
    return _back(ex, back, saying)


def _back(ex: Visit, back: str | None, saying: str) -> LocalResponse:
    """A form post's answer: back to the page it came from."""
    resp = plain(303, saying)
    resp.headers.append(("Location", safe_return(back or _referer_path(ex))))
    return resp


def _cross_site(ex: Visit) -> LocalResponse | None:
    """State-changing endpoints answer only the site's own pages (CSRF). A page of the
    site's plain-http origin is another origin when the request is known to come over
    https (TLS, or a trusted proxy's X-Forwarded-Proto): whoever can write into plain http
    on the way could otherwise choose for the visitor. When the request looks like plain
    http, the scheme is not compared: behind a TLS front that is not trusted, every
    genuine choice comes from an https page."""
    origin = header(ex.req.headers, "origin")
    site = header(ex.req.headers, "sec-fetch-site")
    if origin is not None:
        parts = split_url(origin)
        if _netloc(parts) != ex.host.lower() or (
            ex.scheme == "https" and parts is not None and parts.scheme.lower() != "https"
        ):
            return plain(403, "cross-site consent requests are refused")
    if origin is None and site not in (None, "same-origin", "none"):
        return plain(403, "cross-site consent requests are refused")
    return None


def _referer_path(ex: Visit) -> str | None:
    ref = header(ex.req.headers, "referer")
    parts = split_url(ref) if ref else None
    if parts is None or _netloc(parts) != ex.host.lower():
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _netloc(parts: SplitResult | None) -> str | None:
    """A visitor's URL's host[:port], lower-cased (None: no URL urlsplit reads)."""
    return None if parts is None else parts.netloc.lower()
