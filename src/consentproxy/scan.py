"""`consentproxy scan URL`: what a visitor in each consent state gets, as evidence.

For every state, a fresh headless Chromium (Debian's) visits the pages through the proxy
started in-process with that state forced (or, with `direct`, the site as it is, before any
choice: state none alone) and records third-party requests (also those a page sends as it
is left), cookies (jar and Set-Cookie), localStorage and sessionStorage, IndexedDB databases
and Cache Storage caches, the banner and console errors, with a screenshot. Anything the state
does not allow is a violation.

Offline by default: third-party requests are answered by the scanner (and counted), never
sent, so a scan reaches nothing but the site itself. Playwright is imported only here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import math
import re
import secrets
import ssl
import string
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from consentproxy import formercmp, scan_report, server
from consentproxy.adapter import UPSTREAM_FAILED, upstream_answers
from consentproxy.consent import ConsentState, parse_state
from consentproxy.cookies import lifetime, set_cookie_name
from consentproxy.domains import is_ip, registrable, same_site
from consentproxy.engine import Engine
from consentproxy.errors import ConfigError, UsageError
from consentproxy.policy import Policy
from consentproxy.printable import without_passwords
from consentproxy.settings import MAX_CONSENT_DAYS, Config, host_port

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Dialog, Locator, Page, Request, Response

SCHEMA = "consentproxy-scan/1"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DAY = 86400
LOAD_MS = 30000  # at most this long for the load event (a page that never loads is scanned)
SETTLE_MS = 5000  # at most this long for the network to go quiet after load
CLICK_MS = 5000  # for the banner's reject-all to take a click and answer
LATE_MS = 3000  # then this long more: a tracker a timer starts a few seconds in is seen
LEAVE_MS = 500  # after the page was told it is left, for the beacons it sends then
ISOLATED_SECONDS = 10  # for what is read in an isolated world (see _isolated)
# A visit's deadline is its waits (LOAD_MS, SETTLE_MS, --wait, CLICK_MS, LEAVE_MS) and this
# for the rest (reads of the page, its screenshot, leaving it): past it, the page's script is
# taken to be stuck in a loop, which nothing of Playwright's sets a time limit on.
VISIT_MARGIN_MS = 60000
CLOSE_SECONDS = 10  # for a page or a context to close (see _closed)
JAR_SECONDS = 0.25  # how often the cookie jar is read during a visit (see _Jar)
HEADERS_SECONDS = 10  # for the headers of a page's responses (see _set_cookies)
MAX_ERRORS = 100  # console errors kept of a page (one logging 60 MB made a report of as much)
ERROR_CHARS = 1000  # of each
MAX_REQUESTS = 500  # requests kept of a page (one making 1,500 made a report of 24 MB)
# cookies, Set-Cookie headers and storage keys kept of a page, each (responses setting 45,000
# cookies made a report.json of 47 MB; 80,000 storage keys a visit of minutes, "stopped
# responding")
MAX_KEPT = 500
URL_CHARS = 2000  # of each URL kept (a page's own URLs may be of any length)
SURROGATE = re.compile("[\ud800-\udfff]")
FILE_PART = 80  # characters of a path or state in a screenshot's file name
# A screenshot is the screen a visitor sees first (the viewport, 1280x720, a banner on it) as
# a JPEG of this quality: full-page PNGs of a page 13,000 px tall made a report.html of
# 13.5 MB in four states, too big to mail (and a page too tall for Chromium had none).
SHOT_QUALITY = 70
DIGITS = {8: string.octdigits, 10: string.digits, 16: string.hexdigits}  # (by base)
# consentproxy's banner's buttons (in its shadow root, which Playwright's selectors reach),
# not a site's own element of the same attribute (a leftover of an older consent tool), nor
# one in a site's own id=consentproxy: the banner carries the response's mark, which the
# guard's script, the document's first, carries too (a site's markup cannot know it).
BANNER = '[id=consentproxy][data-consent-mark="{}"]'
REJECT = BANNER + ' [data-consent-action="reject-all"]'
ACCEPT = BANNER + ' [data-consent-action="accept-all"]'
MARK_JS = """(() => {
    const guard = document.querySelector('script[data-consentproxy-mark]');
    const mark = guard && guard.getAttribute('data-consentproxy-mark');
    return /^[\\w-]{8,64}$/.test(mark || '') ? mark : '';
})()"""


@dataclass(frozen=True)
class ScanOptions:
    url: str
    config: Config
    states: tuple[str, ...]
    out: Path
    direct: bool = False
    online: bool = False  # let third-party requests reach the internet
    paths: tuple[str, ...] = ()  # default: the URL's own path
    crawl: int = 0  # also visit up to N same-site links of the first page
    wait_ms: int = LATE_MS  # after the network went quiet, for what timers start late
    chromium: str = CHROMIUM
    # ADDRESS[:PORT] the URL's host name is visited at (a local copy of www.example.com): its
    # pages keep their own name (own hosts, Domain cookies, absolute links as in production)
    resolve: str = ""


# Leaving a page: Chromium sends what a page's pagehide, visibilitychange or unload handler
# asks for (sendBeacon, fetch keepalive) after the page is gone, where no Playwright event or
# route sees it, and what its beforeunload one asks for is seen with the next page's request;
# so the page is told it is left, in a visitor's order of events, while it is still there
# (then it is taken to about:blank, where Chromium's real events show nothing more).
LEAVE_JS = """() => {
  window.dispatchEvent(new Event('beforeunload', {cancelable: true}));
  window.dispatchEvent(new PageTransitionEvent('pagehide', {persisted: false}));
  for (const [name, value] of [['visibilityState', 'hidden'], ['hidden', true]]) {
    try { Object.defineProperty(document, name, {get: () => value, configurable: true}); }
    catch (e) {}
  }
  document.dispatchEvent(new Event('visibilitychange', {bubbles: true}));
  window.dispatchEvent(new Event('unload'));
}"""
# localStorage's and sessionStorage's keys, IndexedDB's databases and Cache Storage's caches
# (trackers keep their ids in each; caches is there in a secure context alone; see _isolated)
# (each area read on its own: one the page's origin may not read, a reason in its place)
STORAGE_JS = """(async () => {
  const names = async (read) => { try { return await read(); } catch (e) { return String(e); } };
  return [
    await names(() => Object.keys(localStorage)),
    await names(() => Object.keys(sessionStorage)),
    await names(async () => (await indexedDB.databases()).map((db) => db.name)),
    await names(async () => (self.caches ? await caches.keys() : [])),
  ];
})()"""
# what Judge.storage's areas are called in a violation's detail, in STORAGE_JS's order
AREAS = {
    "local": "localStorage",
    "session": "sessionStorage",
    "indexedDB": "IndexedDB",
    "cache": "Cache Storage",
}
# consentproxy's own keys (banner.js: the last state told its frames, the flag of a choice
# saved narrowed): its technical state, necessary, never a site's key nothing names
OWN_STORAGE = frozenset({("local", "consentproxy:state"), ("session", "consentproxy:narrowed")})


LINKS_JS = """(function links(root) {
  const hrefs = [];
  for (const el of root.querySelectorAll('*')) {
    if (el.matches('a[href]') && typeof el.href === 'string') hrefs.push(el.href);
    if (el.shadowRoot && el.id !== 'consentproxy') hrefs.push(...links(el.shadowRoot));
  }
  return hrefs;
})(document)"""


def default_states(config: Config, direct: bool = False) -> tuple[str, ...]:
    """No decision, refusal, acceptance, and each optional category alone; the site as it is
    (direct) shows no decision alone: nothing applies a state to it."""
    if direct:
        return ("none",)
    return ("none", "reject", "all", *(c.name for c in config.categories if not c.required))


def state_allows(state: ConsentState, config: Config) -> dict[str, Any]:
    """What a state lets through, for the report's reader (a state's name, `all` or
    `analytics`, says it only with the config at hand): the categories, required ones
    first, the services named apart, and the optional categories refused, in the config's
    order."""
    allowed = [c.name for c in config.categories if c.required or state.allows(c.name)]
    return {
        "decided": state.decided,
        "categories": allowed,
        "services": [s.name for s in config.services if s.name in state.services],
        "refused": [c.name for c in config.categories if c.name not in allowed],
    }


def check_states(
    states: tuple[str, ...], config: Config, direct: bool = False
) -> dict[str, ConsentState]:
    """Each state parsed against the config (a typo stops the scan before it starts)."""
    if not states:
        raise UsageError("scan: --states names no state; e.g. --states 'none;reject;all'")
    if direct and set(states) != {"none"}:
        raise UsageError(
            "scan: --direct visits the site with no choice made: it scans state none only "
            f"(not {';'.join(s for s in states if s != 'none')}); scan the other states "
            "through the proxy (without --direct)"
        )
    out: dict[str, ConsentState] = {}
    for spec in states:
        state = parse_state(spec, config, "--states")
        if state is None:
            raise ConfigError(
                "--states",
                None,
                f"{spec!r} follows the cookie, which a "
                "scan has not got; name a state (none, reject, all, ...)",
            )
        out[spec] = state
    return out


@dataclass
class PageRecord:
    """What one page showed in one state (the JSON report's `pages` entries)."""

    path: str
    url: str
    status: int | None = None
    error: str = ""  # why the page could not be visited in full (what it did until then stays)
    html: bool = True  # a document the banner goes in (not JSON, an image, a download)
    screenshot: str = ""
    banner: dict[str, Any] = field(default_factory=dict)  # ("tool": the site's own one)
    requests: list[dict[str, Any]] = field(default_factory=list)  # the first MAX_REQUESTS
    requests_left_off: int = 0  # how many more there were (see _kept)
    cookies: list[dict[str, Any]] = field(default_factory=list)  # the first MAX_KEPT
    set_cookies: list[dict[str, Any]] = field(default_factory=list)  # the first MAX_KEPT
    local_storage: list[str] = field(default_factory=list)  # the keys this page added
    # each key this page added to localStorage or sessionStorage, judged as a cookie name (the
    # first MAX_KEPT)
    storage: list[dict[str, Any]] = field(default_factory=list)
    # each IndexedDB database and Cache Storage cache this page created, judged as a storage
    # key of its name (the first MAX_KEPT each)
    databases: list[dict[str, Any]] = field(default_factory=list)
    caches: list[dict[str, Any]] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)  # the first MAX_ERRORS, cut
    console_errors_left_off: int = 0  # how many more there were
    violations: list[dict[str, str]] = field(default_factory=list)
    # The cookies and third parties seen that the cookie declaration does not list.
    undeclared: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what could not be recorded (no failure)
    # how many more cookies, Set-Cookie headers, storage keys, databases and caches there were
    # than kept
    cookies_left_off: int = 0
    set_cookies_left_off: int = 0
    storage_left_off: int = 0
    databases_left_off: int = 0
    caches_left_off: int = 0


class Judge:
    """Classifies what a page did under one state and names the violations."""

    def __init__(
        self,
        config: Config,
        state: ConsentState,
        site: str = "",
        direct: bool = False,
        offline: bool = False,
    ):
        """site: the scanned site's registrable domain (its hosts are never trackers); direct:
        the site as it is, where a banner of its own consent tool was looked for too; offline:
        third parties answered empty by the scanner (a consent tool's script among them)."""
        self.config, self.state, self.site = config, state, site
        self.direct, self.offline = direct, offline
        self.policy = Policy(config)

    def request(
        self, url: str, resource_type: str, initiator: str, blocked_by_csp: bool = False
    ) -> dict[str, Any]:
        """A third-party request, judged by every layer (config, knowledge base); one the
        page's CSP (the proxy's, csp: enforce) blocked was asked for, never sent."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        svc = self.policy.holder(host, parts.path, self.site)
        return {
            "url": _cut_url(url),
            "host": host,
            "service": svc.name if svc else None,
            "category": svc.category if svc else None,
            "resource_type": resource_type,
            "initiator": initiator,
            "verdict": self.policy.verdict(host, parts.path, self.site),
            "allowed": svc is None or self.policy.loads(svc, self.state),
            "blocked_by_csp": blocked_by_csp,
            # a configured service's (the declaration lists it) or the site's own
            "declared": self.policy.configured(host, parts.path) is not None
            or bool(self.site)
            and same_site(host, self.site),
        }

    def cookie(self, name: str, domain: str, life: float | None) -> dict[str, Any]:
        return {
            "name": name,
            "domain": domain,
            "category": self.policy.cookie_category(name) or "unknown",
            "lifetime_days": None if life is None else _tenths_up(life / DAY),
            "allowed": self.policy.cookie_allowed(name, self.state),
            "declared": name == self.config.consent.cookie_name
            or self.policy.named_cookie_category(name) is not None,
        }

    def storage(self, key: str, area: str) -> dict[str, Any]:
        """A storage key (an IndexedDB database's or a cache's name too: area, one of AREAS),
        classified as a cookie of its name; one nothing names is the site's own state (listed,
        never charged: unknown_cookies is for cookies); consentproxy's own is named so."""
        if (area, key) in OWN_STORAGE:  # (the consent cookie's category: necessary)
            own = self.policy.cookie_category(self.config.consent.cookie_name)
            return {
                "key": key,
                "area": area,
                "category": own,
                "allowed": True,
                "owner": "consentproxy",
            }
        category = self.policy.cookie_category(key)
        return {
            "key": key,
            "area": area,
            "category": category or "unknown",
            "allowed": category is None or self.policy.cookie_allowed(key, self.state),
        }

    def undeclared(self, page: PageRecord) -> list[str]:
        """What the page used that the cookie declaration does not list (add a service,
        or the name to necessary_cookies, and it will)."""
        return sorted(
            {f"cookie {c['name']}" for c in page.cookies + page.set_cookies if not c["declared"]}
            | {f"third party {r['host']}" for r in page.requests if not r["declared"]}
        )

    def cookie_faults(self, cookie: dict[str, Any]) -> list[tuple[str, str]]:
        """The violations one cookie (of the jar or a Set-Cookie) is, as (kind, detail)."""
        name, days = cookie["name"], cookie["lifetime_days"]
        consent = self.config.consent
        found = []
        if not cookie["allowed"]:
            found.append(("cookie", f"{name} ({cookie['category']}) set without consent"))
        if days is None:
            pass
        elif name == consent.cookie_name:
            if days > consent.max_age_days + 1:
                said = f"more than max_age_days ({consent.max_age_days})"
                found.append(("consent-lifetime", f"the consent cookie lives {days} days, {said}"))
        elif days > MAX_CONSENT_DAYS:
            found.append(("cookie-lifetime", f"{name} lives {days} days, more than 13 months"))
        return found

    def violations(self, page: PageRecord) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        failed = bool(page.error) or page.status is None or page.status >= 400
        if failed:
            # (a page the site failed to serve was not scanned in full: never a clean report)
            why = page.error or f"the site answered {page.status}"
            seen_any = (
                page.requests
                or page.cookies
                or page.set_cookies
                or page.storage
                or page.databases
                or page.caches
            )
            found.append(
                {
                    "kind": "page-failed",
                    "detail": f"{why}: "
                    + ("what it did until then is listed" if seen_any else "nothing was scanned"),
                }
            )
        for r in page.requests:
            if not r["allowed"] and not r["blocked_by_csp"]:
                found.append(
                    {
                        "kind": "request",
                        "detail": f"{r['service']} ({r['category']}) loaded {r['url']}",
                    }
                )
        for st in page.storage + page.databases + page.caches:
            if not st["allowed"]:
                found.append(
                    {
                        "kind": "storage",
                        "detail": f"{st['key']} ({st['category']}) in {AREAS[st['area']]} "
                        "without consent",
                    }
                )
        said: set[tuple[str, str]] = set()  # (kind, name): each once a page
        for c in page.cookies + page.set_cookies:
            for kind, detail in self.cookie_faults(c):
                if (kind, c["name"]) not in said:
                    said.add((kind, c["name"]))
                    found.append({"kind": kind, "detail": detail})
        if not page.html or failed:
            pass  # (no banner goes in what is no document, nor in the site's error page)
        elif not self.state.decided and not page.banner.get("shown"):
            looked = (  # (through the proxy, consentproxy's alone is looked for)
                f"neither consentproxy's nor the site's own ({', '.join(formercmp.BANNERS)})"
                if self.direct
                else "consentproxy's was not shown"
            )
            found.append(
                {
                    "kind": "banner-missing",
                    "detail": f"no consent banner before a choice ({looked})"
                    + self._unseen_tool(page),
                }
            )
        elif page.banner.get("reject_clickable") is False:
            found.append(
                {
                    "kind": "reject-not-clickable",
                    "detail": "the banner's reject-all could not be clicked (something covers it?)",
                }
            )
        elif page.banner.get("shown") and not page.banner.get("reject_first_layer"):
            found.append(
                {
                    "kind": "reject-not-first-layer",
                    "detail": "the banner has no visible reject-all on its first layer",
                }
            )
        return found

    def _unseen_tool(self, page: PageRecord) -> str:
        """Why the site's own banner may not have shown: its consent tool's script was asked
        for (a third party's: cdn.cookielaw.org) and answered empty offline ("" if not)."""
        asked = next(
            (
                r
                for r in page.requests
                if r["service"] in formercmp.TOOLS and r["resource_type"] == "script"
            ),
            None,
        )
        if not (self.direct and self.offline and asked):
            return ""
        return (
            f"; its consent tool {asked['service']}'s script ({asked['url']}) was answered "
            "empty, the scan being offline: scan with --online to see the banner it shows"
        )


def _tenths_up(days: float) -> float:
    """days rounded up to a tenth (rounded to the nearest, 395 days and an hour read 395.0:
    no more than 13 months); float noise (0.30000000000000004) is no tenth more."""
    return math.ceil(round(days * 10, 6)) / 10


def _slug(path: str, n: int) -> str:
    """A page's file name part: its number (/a/b and /a-b would share one) and its path."""
    return f"{n:02d}-" + (_file_part(path, "-").strip("-") or "index")


def _unverified() -> ssl.SSLContext:
    """For asking whether the site answers, not whether its certificate holds (a staging
    site's own; Chromium is told what to trust apart)."""
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    return tls


def remove_earlier_screenshots(out: Path) -> None:
    """The screenshots an earlier scan's out/report.json names go, before this scan writes
    its own: the directory then holds this run's evidence alone (a state or page no longer
    scanned kept its screenshot; an earlier version's were PNGs). Only what that report
    names, by a file name of out's: any other file there is the user's, and a report.json no
    scan wrote names nothing."""
    try:
        earlier = json.loads((out / "report.json").read_text(encoding="utf-8"))
        pages = [p for s in earlier["states"] for p in s["pages"]]
        names = {p["screenshot"] for p in pages} if earlier["schema"] == SCHEMA else set()
    except (OSError, ValueError, TypeError, KeyError):  # (none, or no report of a scan's)
        return
    for name in names:
        if isinstance(name, str) and name.endswith((".jpg", ".png")) and Path(name).name == name:
            (out / name).unlink(missing_ok=True)


def _state_file(spec: str) -> str:
    return _file_part(spec, "_")


def _file_part(text: str, sep: str) -> str:
    """text as a part of a file name: a long one is cut, with a hash of it (a file name of
    more than 255 bytes is refused, and two long paths differing at their end stay apart)."""
    part = re.sub(r"[^A-Za-z0-9]+", sep, text)
    if len(part) <= FILE_PART:
        return part
    return f"{part[:FILE_PART]}{sep}{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def _as_chromium_writes(host: str) -> str:
    """A URL's host as Chromium writes it in a page's URL: an IPv6 address compressed
    ([0:0:0:0:0:0:0:1] is [::1]), an IPv4 one in its one form (127.1 is 127.0.0.1), a name
    in its ASCII form (bücher.test is xn--bcher-kva.test), lower case; one IDNA cannot write
    stays as given. A ValueError for a host that ends in a number but is no IPv4 address
    (1.2.3.256): Chromium visits no such URL."""
    if ":" in host:  # (urlsplit's hostname of [::1])
        return ipaddress.ip_address(host).compressed if is_ip(host) else host
    try:
        name = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        name = host
    return _ipv4(name) or name


def _ipv4(host: str) -> str:
    """The IPv4 address a host names as the URL standard reads it (and Chromium, and
    inet_aton): one to four numbers, each decimal, 0x hex or 0 octal, the last filling the
    bytes left (127.1, 0x7f.1, 2130706433 and 0177.0.0.1. are 127.0.0.1); "" for a name
    (one whose last label is no number); a ValueError for a number that is no address."""
    labels = host.split(".")
    if len(labels) > 1 and not labels[-1]:  # (a trailing dot)
        labels.pop()
    try:
        _ipv4_number(labels[-1])
    except ValueError:
        if not labels[-1].isascii() or not labels[-1].isdigit():
            return ""  # a name
        raise  # (09: a digit no octal number has)
    numbers = [_ipv4_number(label) for label in labels]
    if (
        len(numbers) > 4
        or max(numbers[:-1], default=0) > 255
        or numbers[-1] >= 256 ** (5 - len(numbers))
    ):
        raise ValueError(f"{host} is no IPv4 address")
    value = sum(n << 8 * (3 - i) for i, n in enumerate(numbers[:-1])) + numbers[-1]
    return str(ipaddress.IPv4Address(value))


def _ipv4_number(label: str) -> int:
    """One number of an IPv4 address as the URL standard reads it: 0x7f (hex), 0177 (octal),
    127 (0x alone is 0); a ValueError for any other label (int() takes 1_0, +1 and spaces)."""
    digits, base = label, 10
    if label[:2] in ("0x", "0X"):
        digits, base = label[2:], 16
    elif len(label) > 1 and label[0] == "0":
        digits, base = label[1:], 8
    if not label or not set(digits) <= set(DIGITS[base]):
        raise ValueError(f"{label!r} is no number")
    return int(digits, base) if digits else 0


class Scanner:
    def __init__(self, options: ScanOptions):
        self.o = options
        try:
            target = urlsplit(options.url)
        except ValueError:  # (http://[::1/: an address's bracket left open)
            target = urlsplit("")
        if target.scheme not in ("http", "https") or not target.hostname:
            raise UsageError(
                f"scan: {options.url!r} must be an http:// or https:// URL such "
                "as http://127.0.0.1:8080/"
            )
        try:
            target.port  # noqa: B018 (it raises for a port out of range)
        except ValueError:
            raise UsageError(f"scan: {options.url!r} has no valid port (1-65535)") from None
        # as Chromium writes the site's links (a crawl compares them with it): the host in
        # lower case (http://LOCALHOST:8080 crawled nothing), an IDN in its ASCII form, an IPv6
        # address compressed (bücher.test's own page was taken for a third party's) and an IPv4
        # one in its one form (127.1's was too, and its proxy's upstream refused), no default
        # port
        default = 443 if target.scheme == "https" else 80
        own_port = "" if target.port in (None, default) else f":{target.port}"
        try:
            self.host = _as_chromium_writes(target.hostname)
        except ValueError:
            raise UsageError(
                f"scan: {options.url!r}: {target.hostname} is no IPv4 address (four numbers "
                "from 0 to 255, such as 127.0.0.1), nor a name a browser visits"
            ) from None
        own_host = f"[{self.host}]" if ":" in self.host else self.host
        user = target.netloc.rpartition("@")[0]  # (a staging site's user:password, kept)
        self.origin = f"{target.scheme}://{user + '@' if user else ''}{own_host}{own_port}"
        self.upstream = self.origin
        if options.resolve and is_ip(self.host):
            raise UsageError(
                f"scan: --resolve gives a host name an address, and {options.url!r} names an "
                "address already; drop --resolve"
            )
        if options.resolve:
            try:
                address = urlsplit(f"//{options.resolve}")
                port = address.port
            except ValueError:  # ([::1 or a port out of range)
                address, port = urlsplit(""), -1
            if options.resolve.count(":") > 1 and "[" not in options.resolve:
                raise UsageError(
                    f"scan: --resolve {options.resolve!r}: write an IPv6 address in brackets, "
                    "such as [::1] or [::1]:8080"
                )
            if (
                not address.hostname
                or port == -1
                or address.path
                or address.username
                or address.query
                or address.fragment
            ):
                raise UsageError(
                    f"scan: --resolve {options.resolve!r} must be an address and an optional "
                    "port, such as 127.0.0.1:8080"
                )
            if port is None:  # (the URL's own port, said or implied)
                port = target.port or (443 if target.scheme == "https" else 80)
            self.address = host_port(address.hostname, port)
            self.upstream = f"{target.scheme}://{user + '@' if user else ''}{self.address}"
        wrong = [p for p in options.paths if not _own(self.origin, p)]
        if wrong:
            raise UsageError(
                f"scan: --paths takes the site's own paths (/shop,/news?page=2): "
                f"{', '.join(map(repr, wrong))} is not one"
            )
        if not _own(self.origin, _path(options.url)):
            raise UsageError(
                f"scan: the path of {options.url!r} leads a browser to another host "
                f"({_path(options.url)!r}); write it with no backslash, tab or //"
            )
        self.paths = options.paths or (_path(options.url),)
        self.scratch = Path()  # (run's throw-away directory: the proxies' records store)
        self.states = check_states(options.states, options.config, options.direct)

    async def run(self) -> dict[str, Any]:
        try:
            from playwright.async_api import async_playwright
        except ImportError:
            raise UsageError(
                "scan needs Playwright: pip install playwright (or this package's dev extra)"
            ) from None

        self.o.out.mkdir(parents=True, exist_ok=True)
        report: dict[str, Any] = {
            "schema": SCHEMA,
            "url": _cut_url(self.o.url),
            "mode": "direct" if self.o.direct else "proxy",
            "offline": not self.o.online,
            "config": self.o.config.source,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "states": [],
        }
        if not await upstream_answers(self.upstream, _unverified()):
            raise UsageError(
                f"scan: the site at {_without_passwords(self.upstream)} does not answer; start "
                "it, or check the URL" + (" and --resolve" if self.o.resolve else "")
            )
        with tempfile.TemporaryDirectory(prefix="consentproxy-scan-") as scratch:
            self.scratch = Path(scratch)
            async with async_playwright() as pw:
                for spec, state in self.states.items():
                    report["states"].append(await self._state(pw, spec, state))
        report["violations"] = sum(s["violations"] for s in report["states"])
        report = _without_passwords(report)  # (a report is shared)
        (self.o.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (self.o.out / "report.html").write_text(  # (errors: should a _clean be missed)
            scan_report.render(report, self.o.out), encoding="utf-8", errors="replace"
        )
        return report

    def _resolver_rules(self, proxy_port: int | None) -> list[str]:
        """Offline, no name but the site's resolves: even a request the route missed fails.
        With --resolve, the site's name goes to its address (or to the in-process proxy)."""
        rules = []
        if self.o.resolve:
            rules.append(
                f"MAP {self.host} "
                + (self.address if proxy_port is None else f"127.0.0.1:{proxy_port}")
            )
        if not self.o.online:
            excluded = "" if self.o.resolve else f", EXCLUDE {self.host}"
            proxy = "" if proxy_port is None else ", EXCLUDE 127.0.0.1"  # (the proxy's)
            rules.append(f"MAP * ~NOTFOUND{excluded}{proxy}")
        return [f"--host-resolver-rules={', '.join(rules)}"] if rules else []

    async def _launch(self, pw: Any, proxy_port: int | None) -> Any:
        from playwright.async_api import Error as PlaywrightError

        try:
            return await pw.chromium.launch(
                executable_path=self.o.chromium,
                args=CHROMIUM_ARGS + self._resolver_rules(proxy_port),
                # Chromium's popup blocker on, as in a visitor's browser (Playwright turns it
                # off): a page opening itself again every 50 ms, unblocked, opened windows
                # by the hundred and the scan never ended
                ignore_default_args=["--disable-popup-blocking"],
            )
        except PlaywrightError as e:  # (none there, not executable, not a browser)
            raise UsageError(
                f"scan: cannot start Chromium {self.o.chromium} "
                f"({str(e).splitlines()[0].removeprefix('BrowserType.launch: ')}); "
                "install it (apt-get install chromium) or give --chromium its path"
            ) from None

    async def _state(self, pw: Any, spec: str, state: ConsentState) -> dict[str, Any]:
        """One state, in a browser of its own (with --resolve, the site's name leads to this
        state's proxy)."""
        running = None
        base = self.origin
        if not self.o.direct:
            # Records as the site keeps them (the banner offers them), in a store of the
            # scan's own: a scan's click is no visitor's consent, nor the site's statistics.
            records = self.o.config.records
            if records.target:
                records = replace(records, target=str(self.scratch / "records.sqlite3"))
            config = replace(self.o.config, upstream=self.upstream, records=records)
            # Undecided is a fresh browser's own state: not forced, so that the reject click
            # of _visit sets a real consent cookie (a forced state sets none; the cookie is
            # cleared after each page).
            engine = Engine(
                config, [secrets.token_hex(32).encode()], forced=state if state.decided else None
            )
            running = await server.start(engine, "127.0.0.1", 0)
            # (--resolve: the site's own name, on port 80, mapped to the proxy)
            base = f"http://{self.host}" if self.o.resolve else f"http://127.0.0.1:{running.port}"
        try:
            browser = await self._launch(pw, None if running is None else running.port)
            try:
                # (service workers run, as for a visitor: what one sends is seen, and
                # routed, on the context; under report-only the proxy lets one run; a
                # download is cancelled: accepted, it went on for the rest of the state)
                context = await browser.new_context(base_url=base, accept_downloads=False)
                try:
                    pages = await self._pages(context, base, spec, state)
                finally:
                    await _closed(context.close())
            finally:
                await browser.close()
        finally:
            if running is not None:
                await running.stop()
        return {
            "state": spec,
            "allows": state_allows(state, self.o.config),
            "pages": pages,
            "third_party_requests": sum(
                sum(not r["blocked_by_csp"] for r in p["requests"]) + p["requests_left_off"]
                for p in pages
            ),
            "violations": sum(len(p["violations"]) for p in pages),
        }

    async def _pages(
        self, context: BrowserContext, base: str, spec: str, state: ConsentState
    ) -> list[dict[str, Any]]:
        site = urlsplit(base).hostname
        judge = Judge(
            self.o.config, state, registrable(self.host), self.o.direct, not self.o.online
        )
        # each with its initiator, read as it is sent: once judged, the tab is at about:blank
        requests: list[tuple[Request | _Socket, str]] = []
        responses: list[Response] = []

        def listed(url: str) -> bool:
            """A third party's, or a service's the config places on the site's own host (a
            self-hosted Matomo: hosts: [www.shop.example/matomo])."""
            parts = urlsplit(url)
            host = parts.hostname or ""
            return host != site or judge.policy.service_for_host(host, parts.path) is not None

        context.on(
            "request", lambda r: requests.append((r, _initiator(r))) if listed(r.url) else None
        )
        context.on("response", lambda r: responses.append(r))
        opened: list[Page] = []  # (the scan's own tabs, and the windows a page opened)
        context.on("page", lambda p: opened.append(p))
        if not self.o.online:
            await context.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if urlsplit(route.request.url).hostname == site
                    else route.fulfill(
                        status=200, body=b"", headers={"Access-Control-Allow-Origin": "*"}
                    )
                ),
            )
        from playwright.async_api import Error as PlaywrightError

        errors = _Console()
        dialogs: list[str] = []  # the kinds of those a page (or a window of it) opened

        async def close(dialog: Dialog) -> None:
            """Closed as Playwright does when no one listens (dismissed; beforeunload's
            accepted: the page is left, not kept in place of the next), counted for the
            report."""
            dialogs.append(dialog.type)
            with contextlib.suppress(PlaywrightError):  # (its page went away meanwhile)
                await (dialog.accept() if dialog.type == "beforeunload" else dialog.dismiss())

        context.on("dialog", close)
        tabs: list[Page] = []  # the scan's own (one closed stuck stays: no window of a page's)

        async def new_page() -> Page:
            page = await context.new_page()
            tabs.append(page)
            page.on(  # (a request event never shows a WebSocket)
                "websocket",
                lambda ws: (
                    requests.append((_Socket(ws.url), "websocket")) if listed(ws.url) else None
                ),
            )
            page.on("console", lambda m: errors.add(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.add(str(e)))
            return page

        page = await new_page()
        deadline = (
            LOAD_MS + SETTLE_MS + self.o.wait_ms + CLICK_MS + LEAVE_MS + VISIT_MARGIN_MS
        ) / 1000
        stored: set[tuple[str, str]] = set()  # (area, key): charged to the page that added it
        out, todo, done = [], list(self.paths), set()
        while todo:
            path = todo.pop(0)
            if path in done:
                continue
            done.add(path)
            requests.clear()
            responses.clear()
            errors.clear()
            dialogs.clear()
            jar = _Jar(context, {_jar_key(c) for c in await context.cookies()})
            record = PageRecord(path, path)
            links: list[str] = []  # (the first page's, to crawl)
            try:
                visit = _Visit(
                    record,
                    judge,
                    len(done),
                    spec,
                    not self.o.direct and not state.decided,
                    base if len(done) == 1 and self.o.crawl else "",
                    jar,
                )
                watching = asyncio.ensure_future(jar.watch())
                try:
                    links = await asyncio.wait_for(self._visit(page, visit), deadline)
                finally:  # (awaited, not left running past its page; asyncio.wait: a
                    watching.cancel()  # cancel of this scan itself still goes through)
                    await asyncio.wait([watching])
            except TimeoutError:  # (its script in an endless loop: the next page goes on)
                record.error = f"the page stopped responding (its visit took over {deadline:g} s)"
                await _close(page)
                page = await new_page()
            except (PlaywrightError, _Left) as e:  # (a loop of redirects, a download...)
                record.error = record.error or _said(e)
                await _close(page)  # (its error page would interrupt the next visit)
                page = await new_page()
            for window in [w for w in opened if w not in tabs and not w.is_closed()]:
                # (left open, what it sent was charged to the pages after it)
                record.warnings.append(
                    f"it opened a window ({_cut_url(_clean(window.url))}): closed after its visit"
                )
                await _close(window)
            opened.clear()
            if dialogs:  # (an alert on every load, or thousands holding the banner off)
                left = "; beforeunload accepted: it was left" * ("beforeunload" in dialogs)
                record.warnings.append(
                    f"it opened {len(dialogs)} dialog(s) ({', '.join(sorted(set(dialogs)))}): "
                    f"dismissed{left}"
                )
            added = [s for s in record.storage if (s["area"], s["key"]) not in stored]
            stored |= {(s["area"], s["key"]) for s in added}
            record.storage, record.storage_left_off = _kept_in(added, "local", "session")
            record.databases, record.databases_left_off = _kept_in(added, "indexedDB")
            record.caches, record.caches_left_off = _kept_in(added, "cache")
            record.local_storage = [s["key"] for s in record.storage if s["area"] == "local"]
            record.requests, record.requests_left_off = _kept(
                [
                    judge.request(_clean(r.url), r.resource_type, _clean(by), _blocked_by_csp(r))
                    for r, by in requests
                ],
                lambda r: not r["allowed"] and not r["blocked_by_csp"],
                MAX_REQUESTS,
            )
            set_cookies, unread = await _set_cookies(judge, responses)
            record.set_cookies, record.set_cookies_left_off = _kept(
                set_cookies, lambda c: bool(judge.cookie_faults(c)), MAX_KEPT
            )
            if unread:
                record.warnings.append(
                    f"the Set-Cookie headers of {unread} of its responses not read: "
                    f"Chromium did not give them within {HEADERS_SECONDS:g} s"
                )
            with contextlib.suppress(PlaywrightError, TimeoutError):
                await jar.read()  # (what it set as it was left, or as it was closed)
            record.cookies, record.cookies_left_off = _kept(
                [
                    judge.cookie(
                        _clean(c["name"]),
                        _clean(c["domain"]),
                        None if c["expires"] < 0 else c["expires"] - time.time(),
                    )
                    for c in jar.seen.values()
                ],
                lambda c: bool(judge.cookie_faults(c)),
                MAX_KEPT,
            )
            if not state.decided:  # undecided again for the next page (see _state)
                await context.clear_cookies(name=self.o.config.consent.cookie_name)
            record.console_errors = list(errors.kept)
            record.console_errors_left_off = errors.left_off
            record.violations = judge.violations(record)
            record.undeclared = judge.undeclared(record)
            out.append(asdict(record))
            if not record.error:
                todo += [p for p in links if p not in done][: self.o.crawl]
        await _close(page)
        return out

    async def _visit(self, page: Page, visit: _Visit) -> list[str]:
        """Fills the visit's record as far as the page lets it: what it did before failing is
        evidence too (a failure is raised, a hop of its redirects that failed named in
        record.error). Returns the page's links to follow (see _Visit.follow)."""
        record = visit.record
        from playwright.async_api import Error as PlaywrightError

        failed: list[tuple[str, str]] = []  # the page's moves that failed (to https, say)
        statuses: list[int] = []  # the statuses its documents were answered with

        def moved(r: Request) -> None:
            if r.is_navigation_request() and r.frame == page.main_frame:
                failed.append((r.url, str(r.failure)))

        def answered(r: Response) -> None:
            if r.request.is_navigation_request() and r.frame == page.main_frame:
                statuses.append(r.status)

        page.on("requestfailed", moved)
        page.on("response", answered)
        try:
            return await self._view(page, visit, failed)
        except PlaywrightError as e:  # a hop of its redirects that failed is named
            if "ERR_HTTP_RESPONSE_CODE_FAILURE" in str(e) and statuses:
                # (an error status and no body: Chromium's own error page, its words alone)
                record.status = statuses[-1]
                record.error = f"the site answered {record.status} with an empty page"
                raise
            hop = next(
                (f"{_cut_url(u)} ({why})" for u, why in failed if _path(u) != record.path), ""
            )
            record.error = _said(e) + (f"; the hop that failed: {hop}" if hop else "")
            raise
        finally:
            page.remove_listener("requestfailed", moved)
            page.remove_listener("response", answered)

    async def _view(self, page: Page, visit: _Visit, failed: list[tuple[str, str]]) -> list[str]:
        from playwright.async_api import Error as PlaywrightError

        record, judge, follow = visit.record, visit.judge, visit.follow

        path = record.path
        # Once the document has arrived (a redirect loop, a download, no answer still fail
        # here): a page whose load event Playwright never sees (a frame of it still loading,
        # or one Playwright lost track of) is displayed and runs its trackers all the same.
        response = await page.goto(path, wait_until="commit")
        committed = page.url
        record.url = _cut_url(committed)
        record.status = response.status if response else None
        if response is not None:
            kind = (await response.all_headers()).get("content-type", "text/html")
            record.html = "html" in kind.lower()
            if not self.o.direct and response.status in (502, 504):
                said = ""
                with contextlib.suppress(PlaywrightError):  # (its body went with its page)
                    said = await response.text()
                if said.startswith(UPSTREAM_FAILED):  # (not the site's own 502)
                    record.error = (
                        "the scanner's proxy could not get the page from the site "
                        f"({response.status}: {said.strip()})"
                    )
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        with contextlib.suppress(PlaywrightTimeout):
            await page.wait_for_load_state("load", timeout=LOAD_MS)
        with contextlib.suppress(PlaywrightTimeout):  # a chatty page is still scanned
            await page.wait_for_load_state("networkidle", timeout=SETTLE_MS)
        await page.wait_for_timeout(self.o.wait_ms)
        scanned = page.url  # (where it is scanned, once its own script moved it)
        record.url = _cut_url(scanned)  # (history.replaceState may make it 2 MB long)
        if page.url.startswith("chrome-error:"):  # (where it went is Chromium's error page)
            # (its own first address, its request aborted as it moved on, may fail after it)
            moves = [move for move in failed if move[0] != committed] or failed
            where = f"{_cut_url(moves[-1][0])} ({moves[-1][1]})" if moves else "another address"
            raise _Left(f"the page moved itself to {where}: nothing of where it went was scanned")
        try:
            mark = await _isolated(page, MARK_JS) or "none"
        except PlaywrightError:  # (no document of its own, no banner)
            mark = "none"
        reject = _shown(page, REJECT.format(mark)).first
        shown = await reject.count() > 0
        record.banner = {
            "present": await page.locator(BANNER.format(mark)).count() > 0,
            "shown": shown or await _visible(page, ACCEPT.format(mark)),
            "reject_first_layer": shown,
        }
        if self.o.direct and not record.banner["shown"]:  # the site's own consent tool's?
            for tool, (banner, refuse) in formercmp.BANNERS.items():
                if await _visible(page, banner):
                    record.banner.update(
                        tool=tool, shown=True, reject_first_layer=await _visible(page, refuse)
                    )
                    break
        try:  # (a page of no origin of its own, data: say, has no storage to read)
            record.storage, unread = await _storage(page, judge)
            if unread:
                record.warnings.append(f"storage not read: {unread}")
        except PlaywrightError as e:
            record.warnings.append(f"storage not read: {_said(e)}")
        links: list[str] = []
        if follow:  # (now: as it is left, a page may reload itself or move on)
            try:
                links = await _links(page, follow, self.o.config.prefix)
            except PlaywrightError as e:
                record.warnings.append(f"links not read: {_said(e)}")
        shot = f"{_state_file(visit.spec)}-{_slug(path, visit.n)}.jpg"
        try:
            await page.screenshot(path=str(self.o.out / shot), type="jpeg", quality=SHOT_QUALITY)
            record.screenshot = shot
        except (PlaywrightError, OSError) as e:  # (OSError: the file system refused it)
            record.warnings.append(f"no screenshot: {_said(e)}")
        if visit.reject_after and shown:  # refusing sets the consent cookie: check its lifetime
            # (the proxy's own endpoint answering, not a site's URL ending in /choice)
            choice = f"{urlsplit(page.url).netloc}{self.o.config.prefix}choice"
            try:
                async with page.expect_response(
                    lambda r: r.url.split("://", 1)[-1].split("?")[0] == choice, timeout=CLICK_MS
                ):
                    await reject.click(timeout=CLICK_MS)
            except PlaywrightError:  # (covered by the site's own overlay, say)
                record.banner["reject_clickable"] = False
        with contextlib.suppress(PlaywrightError, TimeoutError):  # (one it deletes as it is
            await visit.jar.read()  # left is its own)
        try:  # (a page that moved itself on meanwhile has left already)
            await page.evaluate(LEAVE_JS)
            await page.wait_for_timeout(LEAVE_MS)
        except PlaywrightError as e:
            record.warnings.append(f"not told it was left: {_said(e)}")
        with contextlib.suppress(PlaywrightError):  # what it stored as it was left is its own
            read = {(s["area"], s["key"]) for s in record.storage}
            record.storage += [
                s for s in (await _storage(page, judge))[0] if (s["area"], s["key"]) not in read
            ]
        if page.url != scanned:  # (what it did on the way is charged to it)
            record.warnings.append(f"it moved itself to {_cut_url(page.url)} as it was left")
        try:  # (what it does after this is no other page's)
            await page.goto("about:blank")
        except PlaywrightError as e:
            record.warnings.append(f"not left: {_said(e)}")
        return links


async def _isolated(page: Page, expression: str) -> Any:
    """expression's value in a world of the page's document of its own (a DevTools isolated
    world), where the page's code, which may have replaced Object.keys to hide what it
    stored, does not reach: what the page did is read with the browser's built-ins."""
    from playwright.async_api import Error as PlaywrightError

    async def in_time(step: Awaitable[Any]) -> Any:
        """step's value; bounded: a page navigating meanwhile may leave it never coming."""
        try:
            return await asyncio.wait_for(step, ISOLATED_SECONDS)
        except TimeoutError:
            raise PlaywrightError("the page's document went away as it was read") from None

    cdp = await in_time(page.context.new_cdp_session(page))

    async def read() -> Any:
        frame = (await cdp.send("Page.getFrameTree"))["frameTree"]["frame"]["id"]
        world = await cdp.send(
            "Page.createIsolatedWorld", {"frameId": frame, "worldName": "consentproxy-scan"}
        )
        return await cdp.send(
            "Runtime.evaluate",
            {
                "expression": expression,
                "contextId": world["executionContextId"],
                "returnByValue": True,
                "awaitPromise": True,  # (STORAGE_JS's reads of IndexedDB and caches)
            },
        )

    try:
        result = await in_time(read())
    finally:
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await asyncio.wait_for(cdp.detach(), ISOLATED_SECONDS)
    if "exceptionDetails" in result:  # (a page of no origin of its own has no storage)
        details = result["exceptionDetails"]
        raise PlaywrightError(details.get("exception", {}).get("description") or details["text"])
    return result["result"].get("value")


async def _storage(page: Page, judge: Judge) -> tuple[list[dict[str, Any]], str]:
    """The keys in the page's localStorage and sessionStorage and the names of its IndexedDB
    databases and caches, judged (PageRecord.storage until the visit is over), and what could
    not be read and why ("" when all was)."""
    areas = await _isolated(page, STORAGE_JS)
    judged = [
        judge.storage(_clean(key), area)
        for area, keys in zip(AREAS, areas)
        if isinstance(keys, list)
        for key in keys
    ]
    unread = [
        f"{AREAS[area]} ({_clean(why)[:200]})"
        for area, why in zip(AREAS, areas)
        if isinstance(why, str)
    ]
    return judged, ", ".join(unread)


async def _close(page: Page) -> None:
    """Closes a page without asking it (a beforeunload handler of a stuck script would run
    in the loop)."""
    await _closed(page.close(run_before_unload=False))


async def _closed(closing: Awaitable[None]) -> None:
    """Waits for a page or context to close, bounded: Playwright may never see one whose
    page reloads itself without end close (a third of the time), and a scan waiting for it
    never ended. What is not closed goes with the browser."""
    from playwright.async_api import Error as PlaywrightError

    with contextlib.suppress(PlaywrightError, TimeoutError):
        await asyncio.wait_for(closing, CLOSE_SECONDS)


def _shown(page: Page, selector: str) -> Locator:
    """The elements it selects that are shown (Complianz keeps a hidden banner per consent
    type before the one shown: the first match alone is not the banner)."""
    return page.locator(f"{selector} >> visible=true")


async def _visible(page: Page, selector: str) -> bool:
    return await _shown(page, selector).count() > 0


@dataclass(frozen=True)
class _Visit:
    """One page's visit in one state: its record, filled as it goes; its number (in file
    names); the state's spec; whether to click Reject all after (an undecided state through
    the proxy: the consent cookie's lifetime is checked); and the base URL of the links to
    follow from it ("" for none)."""

    record: PageRecord
    judge: Judge
    n: int
    spec: str
    reject_after: bool
    follow: str
    jar: _Jar


@dataclass
class _Jar:
    """The cookies a visit put in the browser (not those of earlier pages, `before`): read
    while it goes on, before the page is told it is left and after, so that one the page
    deletes again (as it is left, or a second after setting it) is still charged to it, with
    the longest lifetime it was seen with."""

    context: BrowserContext
    before: set[tuple[str, str, str]]
    seen: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    async def read(self) -> None:
        for cookie in await asyncio.wait_for(self.context.cookies(), ISOLATED_SECONDS):
            key = _jar_key(cookie)
            known = self.seen.get(key)  # (a session cookie's expires is -1)
            if key not in self.before and (known is None or cookie["expires"] >= known["expires"]):
                self.seen[key] = cookie

    async def watch(self) -> None:
        """Reads the jar every JAR_SECONDS until cancelled (a read that fails is skipped)."""
        from playwright.async_api import Error as PlaywrightError

        while True:
            await asyncio.sleep(JAR_SECONDS)
            with contextlib.suppress(PlaywrightError, TimeoutError):
                await self.read()


@dataclass
class _Console:
    """A page's console errors: the first MAX_ERRORS, each cut at ERROR_CHARS, and how many
    more there were."""

    kept: list[str] = field(default_factory=list)
    left_off: int = 0

    def add(self, text: str) -> None:
        if len(self.kept) < MAX_ERRORS:
            self.kept.append(_clean(text[:ERROR_CHARS]))
        else:
            self.left_off += 1

    def clear(self) -> None:
        self.kept.clear()
        self.left_off = 0


class _Left(Exception):
    """The page moved itself somewhere that could not be loaded (a plain-http copy of a site
    whose script sends it to https)."""


@dataclass(frozen=True)
class _Socket:
    """A WebSocket the page opened, as a request (what the judge reads of one)."""

    url: str
    resource_type: str = "websocket"


def _clean(text: str) -> str:
    """A page's string as text a file or terminal takes: a lone UTF-16 surrogate (JavaScript
    strings may hold one, UTF-8 cannot) made writing report.html fail; it becomes U+FFFD."""
    return SURROGATE.sub("\ufffd", text)


def _said(error: BaseException) -> str:
    """An error's first line, cleaned (its message may carry the page's own text)."""
    return _clean((str(error).splitlines() or [""])[0])


def _without_passwords(data: Any) -> Any:
    """A report with no URL's password in any of its texts: a staging site's is in the URL
    of each page and request the scan keeps, and in every error Chromium says of a page (a
    redirect loop, an untrusted certificate)."""
    if isinstance(data, str):
        return without_passwords(data)
    if isinstance(data, list):
        return [_without_passwords(item) for item in data]
    if isinstance(data, dict):
        return {key: _without_passwords(value) for key, value in data.items()}
    return data


def _cut_url(url: str) -> str:
    """url, or its first URL_CHARS characters marked as cut."""
    if len(url) <= URL_CHARS:
        return url
    return f"{url[:URL_CHARS]}... (cut: {len(url)} characters)"


def _kept(
    judged: list[dict[str, Any]], charged: Callable[[dict[str, Any]], bool], most: int
) -> tuple[list[dict[str, Any]], int]:
    """The first `most` of a page's requests, cookies or storage keys, in their order, those
    charged (a violation) first (a flood of allowed ones hides no violation); and how many
    more there were."""
    flags = [charged(item) for item in judged]
    first = sorted(range(len(judged)), key=lambda i: not flags[i])[:most]
    return [judged[i] for i in sorted(first)], len(judged) - len(first)


def _kept_in(stored: list[dict[str, Any]], *areas: str) -> tuple[list[dict[str, Any]], int]:
    """What a page stored in these areas (see AREAS), kept as _kept keeps it."""
    return _kept([s for s in stored if s["area"] in areas], lambda s: not s["allowed"], MAX_KEPT)


def _jar_key(cookie: Any) -> tuple[str, str, str]:
    return cookie["name"], cookie["domain"], cookie["path"]


def _initiator(request: Request) -> str:
    """The document that asked for the request, as it is sent (a frame's own load: its
    parent's), and the request's type."""
    from playwright.async_api import Error as PlaywrightError

    if request.service_worker is not None:  # (it has no frame)
        return f"service worker {_cut_url(request.service_worker.url)} ({request.resource_type})"
    try:
        frame = request.frame
        if request.is_navigation_request() and frame.parent_frame is not None:
            frame = frame.parent_frame
        return f"{_cut_url(frame.url)} ({request.resource_type})"
    except PlaywrightError:  # a request of no frame (a preload)
        return request.resource_type


def _blocked_by_csp(request: Request | _Socket) -> bool:
    """Whether the page's CSP kept the request from being sent (Playwright's failure text
    for it is "csp")."""
    if isinstance(request, _Socket):
        return False
    return "csp" in (request.failure or "").lower()


async def _set_cookies(judge: Judge, responses: list[Response]) -> tuple[list[dict[str, Any]], int]:
    """The cookies responses set, judged, and how many responses' headers never came:
    Playwright waits for a response's raw headers until Chromium sends them, which for one
    a page's reload cut short it may never do (a scan waited for ever)."""
    from playwright.async_api import Error as PlaywrightError

    async def read(r: Response) -> list[str]:
        with contextlib.suppress(PlaywrightError):  # the response went away with its page
            return await r.header_values("set-cookie")
        return []

    reads = [asyncio.ensure_future(read(r)) for r in responses]
    _, unread = await asyncio.wait(reads, timeout=HEADERS_SECONDS) if reads else (set(), set())
    for values in unread:
        values.cancel()
    now = time.time()
    out = []
    for r, values in zip(responses, reads):
        for v in [] if values in unread else values.result():
            domain = next(
                (
                    a.split("=", 1)[1].strip()
                    for a in v.split(";")[1:]
                    if a.strip().lower().startswith("domain=")
                ),
                urlsplit(r.url).hostname or "",
            )
            life = lifetime(v, now)
            if life is None or life > 0:  # not a deletion
                cookie = judge.cookie(_clean(set_cookie_name(v)), _clean(domain), life)
                out.append(cookie | {"url": _cut_url(_clean(r.url))})
    return out, len(unread)


def _own(origin: str, path: str) -> bool:
    """Whether a browser visiting path on origin stays there: a path of the site's own, not
    one it reads as another host's (//host/, and as the WHATWG URL standard has it, a tab
    or newline dropped, a backslash a slash: /\\host/, /<TAB>/host/)."""
    cleaned = re.sub(r"[\t\n\r]", "", path).replace("\\", "/")
    try:
        return path.startswith("/") and urlsplit(urljoin(origin, cleaned)).netloc == (
            urlsplit(origin).netloc
        )
    except ValueError:  # (//[::1 names no host a browser would go to either)
        return False


def _path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


async def _links(page: Page, base: str, prefix: str) -> list[str]:
    """Same-site paths the page links to, in document order (open shadow roots too): not the
    banner's (its privacy and preferences links, in its shadow root), nor the proxy's own
    under prefix, which a --direct scan of the same site never meets."""
    hrefs = await _isolated(page, LINKS_JS)
    # (the origin's, which holds no user:password: Chromium writes a password's @ as %40)
    site = urlsplit(base).netloc.rpartition("@")[2]
    # (in order, each once; a list searched per link took 98 s over 100,000 links)
    paths: dict[str, None] = {}
    for href in hrefs:
        parts = urlsplit(href)
        if (
            parts.netloc.rpartition("@")[2] == site
            and parts.scheme in ("http", "https")
            and not (parts.path or "/").startswith(prefix)
            and _own(base, _path(href))  # (a link to http://site//other.example/)
        ):
            paths[_path(href)] = None
    return list(paths)


def scan(options: ScanOptions) -> dict[str, Any]:
    return asyncio.run(Scanner(options).run())
