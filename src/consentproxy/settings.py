"""The config as the core reads it: frozen values, which config.py builds from YAML and every
other module imports from here (config.py holds the reader), with the few rules they share
(an upstream and a listen address checked and written, a text in the visitor's language)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from urllib.parse import quote, urlsplit

from consentproxy.banner.texts import TEXTS
from consentproxy.banner.theme import DEFAULT_COLORS
from consentproxy.domains import is_ip
from consentproxy.errors import ConfigError
from consentproxy.printable import shown_url

MAX_CONSENT_DAYS = 395  # 13 months: the longest a choice may ever be kept


@dataclass(frozen=True)
class Category:
    name: str
    required: bool = False
    title: dict[str, str] = field(default_factory=dict)
    description: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Service:
    name: str
    category: str
    title: dict[str, str] = field(default_factory=dict)  # per language; a brand needs only en
    vendor: str = ""
    hosts: tuple[str, ...] = ()
    # Registrable domains the vendor owns outright: the domain and every subdomain match.
    domains: tuple[str, ...] = ()
    cookies: tuple[str, ...] = ()
    inline: tuple[str, ...] = ()
    # Globals its snippet defines that sites' own code calls: `name()` (a function),
    # `name[]` (an array queue), `name.prop[]` (an object with an array). While the service
    # is held, the guard defines a stand-in for each one the page lacks (nothing is sent);
    # once it is allowed, the calls kept are made on what its snippet defined.
    globals: tuple[str, ...] = ()
    privacy_url: str = ""
    # What it does for the site, shown in the preferences; per language, like titles.
    purpose: dict[str, str] = field(default_factory=dict)
    retention: str = ""  # typical cookie lifetime, as text ("13 months")
    embed: str = (
        ""  # script | iframe | pixel: for people (`catalog show`); the rewriter goes by the element
    )
    # Shown in place of a blocked embed of this service, per language (a page in another
    # language gets the banner's generic, translated text instead).
    placeholder: dict[str, str] = field(default_factory=dict)
    # Google Consent Mode: basic holds its tags until consent; advanced (an explicit opt-in,
    # legally contested in the EU) loads them before, with every signal denied.
    consent_mode: str = "basic"
    # Its id in the IAB TCF's Global Vendor List (0: none): with former_cmp tool tcf, the
    # category it is in is imported only when the TC string consents to this vendor too.
    tcf_vendor: int = 0

    def display_title(self, lang: str = "en") -> str:
        return translated(self.title, lang) or self.name

    @property
    def source_hosts(self) -> tuple[str, ...]:
        """Its hosts and domains as host sources (CSP, listings): a domain with its
        subdomains."""
        return (*self.hosts, *(h for d in self.domains for h in (d, f"*.{d}")))


@dataclass(frozen=True)
class FormerCmp:
    """The consent tool the site used before (formercmp.py): its scripts held for good, and
    its stored choice imported once, mapped to this config's categories."""

    tool: str  # one of formercmp.TOOLS
    neutralise: bool = True
    imports: dict[str, str] = field(default_factory=dict)  # its group -> our category
    # When the proxy took over (a Unix time): a choice dated later was not made with the old
    # tool (its cookies are unsigned: a sibling site or a script can write them).
    until: float | None = None
    # consent.revision when the proxy took over: the old tool's choices were made under that
    # policy, so once the operator raises consent.revision none is imported any more.
    revision: int = 1
    # Our category -> the IAB TCF vendors it needs consented too (tool tcf: its services'
    # tcf_vendor, and former_cmp.vendors).
    vendors: dict[str, frozenset[int]] = field(default_factory=dict)
    # The path its cookies were set on (Complianz on a WordPress in /blog/: /blog/): an erase
    # deletes them there too, where a deletion at / does not reach.
    path: str = "/"


@dataclass(frozen=True)
class ConsentSettings:
    cookie_name: str = "consent"
    max_age_days: int = 182
    revision: int = 1
    secret_env: str = "CONSENTPROXY_SECRET"
    cookie_domain: str | None = None


STATE_HEADER = "X-Consent-State"  # honoured only with `testing: {state_header: true}`
# What --state, scan --states and X-Consent-State read as states, not categories.
STATE_WORDS = ("cookie", "none", "all", "reject")


@dataclass(frozen=True)
class ForTesting:
    """Switches for test environments only; check-config and serve warn when one is on
    (Config.testing_warning)."""

    state_header: bool = False  # honour X-Consent-State: <state> on each request


@dataclass(frozen=True)
class BannerSettings:
    position: str = "bar"  # bar (full width, bottom) | box (a card in the corner)
    colors: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_COLORS))
    logo: str = ""  # URL or same-site path of an image shown in the banner
    css: str = ""  # the operator's extra CSS (the file's content), scoped to the banner
    privacy_url: str = ""  # the site's privacy policy
    cookie_policy_url: str = ""  # its cookie policy, when it is a page of its own
    # The data protection officer's contact, shown in the preferences: email, address, url.
    dpo: dict[str, str] = field(default_factory=dict)
    # The site's own "manage cookies" elements, by simple CSS selectors (rewrite/selectors.py)
    open_selectors: tuple[str, ...] = ()
    # The elements the cookie declaration is filled into (declaration.py). None by default:
    # looking for them costs every page a search.
    declaration_selectors: tuple[str, ...] = ()
    texts: dict[str, dict[str, str]] = field(default_factory=dict)  # lang -> key -> text

    def text(self, lang: str) -> dict[str, str]:
        """Every string for a language: the built-in ones with the operator's on top."""
        return {**TEXTS.get(lang, TEXTS["en"]), **self.texts.get(lang, {})}


@dataclass(frozen=True)
class RecordsSettings:
    """Where proof of consent is kept: a SQLite file (path) or PostgreSQL (dsn)."""

    target: str = ""  # "" = not kept
    retention_days: int = 395
    line: int = field(default=0, compare=False)  # of target in the config: said by a refusal


@dataclass(frozen=True)
class Limits:
    """What one request may cost, whatever the visitor or the origin sends
    (docs/SECURITY.md lists every limit)."""

    html_bytes: int = 32 * 1024 * 1024  # HTML decoded from a compressed response (bombs)
    request_head_bytes: int = 32 * 1024  # the whole request head, as nginx's 4 x 8k buffers
    header_line_bytes: int = 8 * 1024  # one request line or header line
    body_idle_seconds: int = 30  # longest pause inside a visitor's request body
    body_min_rate: int = 1024  # bytes a second a request body must average after that


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Regions:
    """Jurisdictions, from the country the CDN or load balancer names in a request header
    (believed from trusted_proxies only): the places listed in opt_out allow the optional
    categories until the visitor opts out; everywhere else, an unknown or missing country
    too, nothing optional runs before consent (the strictest rule)."""

    header: str  # ISO 3166-1 alpha-2 country (CF-IPCountry, CloudFront-Viewer-Country...)
    subdivision_header: str = ""  # its subdivision (CA, or US-CA), for rules like US-CA
    opt_out: frozenset[str] = frozenset()  # US, US-CA...


@dataclass(frozen=True)
class Config:
    source: str
    upstream: str | None  # None: only `sites` (mitmproxy forward mode), no fixed origin
    listen_host: str = "127.0.0.1"
    listen_port: int = 8000
    listen_flag: bool = False  # the address came from --listen (an error names the flag)
    prefix: str = "/.consent/"
    consent: ConsentSettings = ConsentSettings()
    csp: str = "report-only"
    csp_allow: tuple[str, ...] = ()
    unknown_cookies: str = "block"
    necessary_cookies: tuple[str, ...] = ()
    categories: tuple[Category, ...] = ()
    services: tuple[Service, ...] = ()
    languages: tuple[str, ...] = ("en", "fr")
    # Where the banner's language comes from, in order (language.SOURCES), and the name of
    # the site's own language cookie.
    language_from: tuple[str, ...] = ("html-lang", "path", "cookie", "accept-language")
    language_cookie: str = "lang"
    sites: tuple[str, ...] = ()  # hosts handled in mitmproxy's forward mode (*.x.com too)
    testing: ForTesting = ForTesting()
    banner: BannerSettings = BannerSettings()
    # Classify cookies no service names with the Open Cookie Database (catalog/ocd.py);
    # its categories -> this config's, where the names differ (analytics -> audience).
    cookie_database: bool = True
    cookie_database_categories: dict[str, str] = field(default_factory=dict)
    # Google Consent Mode v2: signal -> the categories that grant it; empty when off.
    consent_mode: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Global Privacy Control (and Do-Not-Track if dnt): refusal of these categories.
    gpc: tuple[str, ...] = ()
    dnt: bool = False
    records: RecordsSettings = RecordsSettings()
    cap_cookie_lifetime_days: int = MAX_CONSENT_DAYS  # longer origin cookies are cut
    metrics_listen: tuple[str, int] | None = None  # Prometheus /metrics, never the public port
    access_log: bool = True  # one JSON line per request (no IP, no query string)
    # Trackers the knowledge base knows (catalog/knowledge.py) but no service names: held
    # until their category is accepted (hold) or left alone (allow).
    known_trackers: str = "hold"
    # Third-party hosts nothing knows: allow | block | a category that must be accepted.
    unknown_third_parties: str = "allow"
    # The operator's imported tracker lists (`catalog import`), over the built-in ones.
    tracker_lists: tuple[str, ...] = ()
    # Peers whose X-Forwarded-For/-Proto/-Host are believed (the front proxies); none else's.
    trusted_proxies: tuple[IPNetwork, ...] = ()
    limits: Limits = Limits()
    former_cmp: FormerCmp | None = None
    regions: Regions | None = None

    def category(self, name: str) -> Category | None:
        return next((c for c in self.categories if c.name == name), None)

    def translation_warnings(self) -> list[str]:
        """Words the operator gave in some languages only: visitors reading another of
        `languages` see them in English (or the first language given). (Banner texts in a
        language not among them: observe.config_warnings, which serve logs too.)"""
        out: list[str] = []
        named = [
            (f"categories.{c.name}.{k}", getattr(c, k))
            for c in self.categories
            for k in ("title", "description")
        ]
        # A title in one language only is a brand name ("Google Analytics").
        named += [
            (f"service {s.name}: {k}", getattr(s, k))
            for s in self.services
            for k in ("title", "purpose")
            if k == "purpose" or len(s.title) > 1
        ]
        for what, texts in named:
            missing = [lang for lang in self.languages if texts and lang not in texts]
            if missing:
                out.append(
                    f"{what} has no {', '.join(missing)} text; visitors reading it "
                    f"see {translated(texts, 'en')!r}"
                )
        return out

    def is_site(self, host: str) -> bool:
        """Whether a host is one of `sites` (mitmproxy's forward mode enforces only those)."""
        host = host.lower().rstrip(".")
        return any(host == s or (s.startswith("*.") and host.endswith(s[1:])) for s in self.sites)

    def loopback_warning(self) -> str | None:
        """Browsers send requests to loopback hosts directly, never through a proxy: such
        `sites` are enforced only if the browser is told otherwise."""
        loopback = [s for s in self.sites if _is_loopback(s)]
        if not loopback:
            return None
        return (
            f"sites lists {', '.join(loopback)}: browsers send loopback requests straight "
            "to the site, never through a proxy, so these are not enforced unless the "
            "browser is told to (Chromium: --proxy-bypass-list='<-loopback>'; Firefox: "
            "network.proxy.allow_hijacking_localhost) or the site gets a name like "
            "myapp.test"
        )

    def testing_warning(self) -> str | None:
        """What check-config and serve say of a test switch left on (it lets any visitor
        pick the consent state enforced for them), or None."""
        if not self.testing.state_header:
            return None
        return (
            f"{self.source}: testing.state_header is on: anyone can choose the consent state "
            f"with an {STATE_HEADER} header. Never use this config in production."
        )

    def with_overrides(self, upstream: str | None = None, listen: str | None = None) -> Config:
        """Apply command-line flags, validated like the file (an error names the flag)."""
        cfg = self
        if upstream == "":  # (given, unlike None: an empty value was ignored, the file's used)
            raise ConfigError(
                "--upstream", None, "an empty value; give a URL such as http://127.0.0.1:8080"
            )
        if listen == "":
            raise ConfigError(
                "--listen", None, "an empty value; give HOST:PORT such as 127.0.0.1:8000"
            )
        if upstream:
            cfg = replace(cfg, upstream=_upstream(upstream, "--upstream", None))
        if listen:
            host, port = parse_listen(listen, "--listen", None)
            cfg = replace(cfg, listen_host=host, listen_port=port, listen_flag=True)
        loop = own_address(cfg.upstream, cfg.listen_host, cfg.listen_port)
        if (upstream or listen) and loop:
            raise ConfigError("--upstream" if upstream else "--listen", None, loop)
        return cfg


def own_address(upstream: str | None, host: str, port: int) -> str | None:
    """What is wrong when the upstream is the proxy's own listening address, host:port (each
    request came back to it: one visit made thousands of requests, then a 502); else None."""
    if upstream is None:
        return None
    parts = urlsplit(upstream)
    up, host = (parts.hostname or "").lower(), host.lower()
    same = up == host or (
        _is_loopback(up) and (host in ("0.0.0.0", "::") or {up, host} <= _LOCALHOST)
    )
    if not same or (parts.port or (443 if parts.scheme == "https" else 80)) != port:
        return None
    shown = shown_url(upstream)
    return (
        f"upstream {shown} is this proxy's own address (listen {host_port(host, port)}): "
        "every request would come back to it; "
        "give upstream the address the site itself listens on"
    )


_LOCALHOST = {"localhost", "127.0.0.1", "::1"}


def translated(texts: dict[str, str], lang: str) -> str:
    """A text in the language, else in English, else in the first language given."""
    return texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")


_DIGITS_AND_DOTS = frozenset("0123456789.")
# What a URL's path holds as it is (RFC 3986's pchar and '/', '%' already encoding).
_PATH_CHARACTERS = "/%!$&'()*+,;=:@-._~"


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _upstream(value: str, source: str, line: int | None) -> str:
    """The origin's URL: scheme, host, port (and a path every request goes under); a query
    or fragment would misroute every request (`#x`: the whole site served as its home page),
    and a port out of range failed every request with a 500. Its errors name it without
    its password (shown), one a URL parser cannot read whole (`u:pa/ss@`) included."""
    shown = shown_url(value)
    try:
        parts = urlsplit(value)
        if parts.port == 0:  # (it raises for a port out of range or not a number, not 0)
            raise ValueError("port 0")
        _host_name(parts.hostname or "")
    except ValueError:
        raise ConfigError(
            source,
            line,
            f"upstream {shown!r} has a port that is no number from 1 to 65535, or a malformed "
            "host; write it as http://HOST:PORT",
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            source,
            line,
            f"upstream {shown!r} must be an http:// or https:// URL such as http://127.0.0.1:8080",
        )
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ConfigError(
            source, line, f"upstream {shown!r} must have no query or fragment (drop '?...', '#...')"
        )
    path = "/" + value.partition("://")[2].partition("/")[2] if parts.path else ""
    if any(c.isspace() or not c.isprintable() or not c.isascii() for c in path):
        raise ConfigError(  # (urlsplit drops a tab; the proxy sends the path as it is written)
            source,
            line,
            f"upstream {shown!r} has a space, control or non-ASCII character in its path, "
            "which a request line cannot carry; percent-encode "
            f"it: {quote(path, safe=_PATH_CHARACTERS)}",
        )
    if set(parts.hostname) <= _DIGITS_AND_DOTS and not is_ip(parts.hostname):
        raise ConfigError(  # (the resolver takes 127.1 as 127.0.0.1; aiohttp refuses it: a 502)
            source,
            line,
            f"upstream {shown!r}: {parts.hostname} is no IPv4 address in its one form, four "
            "numbers from 0 to 255 with no leading zeros; write it so, such as 127.0.0.1",
        )
    return value.rstrip("/")


def _host_name(host: str) -> str:
    """A host the resolver can be asked about; a ValueError (UnicodeError) for one it cannot
    (an empty or 64-character label, bytes that are not text): else a traceback at the bind,
    or a 500 for every request to that upstream."""
    host.encode("idna")
    return host


def host_port(host: str, port: int | str) -> str:
    """An address as parse_listen reads it back: an IPv6 host in brackets ([::1]:8000, where
    ::1:8000 leaves the reader to guess which colon starts the port)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_listen(
    value: str, source: str, line: int | None, what: str = "listen"
) -> tuple[str, int]:
    """HOST:PORT. No host is refused: it meant every interface, which nothing said (and
    metrics.listen must never be the public address)."""
    host, sep, port = value.rpartition(":")
    try:
        if not sep or not port.isascii() or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(port)
        name = _host_name(host.strip("[]"))
    except ValueError:
        raise ConfigError(
            source, line, f"{what} {value!r} must be HOST:PORT, e.g. 127.0.0.1:8000"
        ) from None
    if not name:
        raise ConfigError(
            source,
            line,
            f"{what} {value!r} names no host; write 0.0.0.0:{int(port)} to listen on every "
            f"interface, or 127.0.0.1:{int(port)}",
        )
    return name, int(port)
