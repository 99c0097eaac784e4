"""Observe mode: which cookies and third-party hosts a site uses that no service names,
and the advice an operator gets from the same knowledge.

The Observer is fed by the engine with each exchange's Report (so both adapters observe
alike); it counts every name and emits one line the first time it meets one, so the
operator can complete the config while the proxy runs. `suggest` turns hosts seen into
config lines (the Observer's summary, the `suggest` command); `config_warnings` is what
`check-config` warns of in a valid config (a service that names only inline markers, a
necessary cookie that a tracker sets, cookies left to chance).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable

from consentproxy import csp
from consentproxy.catalog.knowledge import CATALOG_SOURCE, KnownTracker
from consentproxy.config import builtin_services
from consentproxy.consent import (
    MAX_COOKIE_LEN,
    ConsentState,
    category_digests,
    longest_cookie,
)
from consentproxy.domains import registrable, same_site, site_of
from consentproxy.httpheaders import HOST_RE
from consentproxy.policy import NEVER, Policy, names_cookie
from consentproxy.printable import printable
from consentproxy.settings import Service

# Distinct cookie names, and distinct hosts, counted by name: a visitor names the cookies it
# sends (made-up names on every request grew the counts and the log without end), a page
# the hosts it loads.
MAX_OBSERVED = 10_000


class Observer:
    """Aggregates what no configured service names; `emit` gets one line per new name (up
    to MAX_OBSERVED names of each kind, then one line saying the rest go uncounted)."""

    def __init__(self, policy: Policy, emit: Callable[[str], None]):
        self.policy = policy
        # (every line names what a page or a visitor chose: a page's path is theirs)
        self.emit: Callable[[str], None] = lambda line: emit(printable(line))
        self.cookies: Counter[str] = Counter()
        self.hosts: Counter[str] = Counter()
        self.sites: dict[str, str] = {}  # host -> the site it was seen on
        self.blocked: Counter[tuple[str, str]] = Counter()  # CSP reports: (directive, host)
        self.full: set[str] = set()  # the kinds past MAX_OBSERVED (said once)

    def _counted(self, counts: Counter[str], name: str, kind: str) -> bool:
        """Count name; whether it is met for the first time (a line to emit)."""
        if name not in counts and len(counts) >= MAX_OBSERVED:
            if kind not in self.full:
                self.full.add(kind)
                self.emit(
                    f"observe: {MAX_OBSERVED} distinct {kind} seen; the others are not "
                    "counted (made-up names from a visitor or a page?)"
                )
            return False
        counts[name] += 1
        return counts[name] == 1

    def cookies_seen(self, names: Iterable[str]) -> None:
        for name in names:
            if not name or self.policy.named_cookie_category(name) is not None:
                continue
            if self._counted(self.cookies, name, "cookie names"):
                self.emit(
                    f"observe: cookie {name!r} is named by no service (nor in the "
                    f"cookie declaration); {self._cookie_guess(name)}"
                )

    def hosts_seen(self, hosts: Iterable[str], site_host: str, page: str = "") -> None:
        """The third-party hosts a page loads that no configured service names, each with
        the knowledge base's verdict (once a host, with the page it was first seen on)."""
        site = site_of(site_host)
        for host in hosts:
            if same_site(host, site):
                continue
            if self._counted(self.hosts, host, "third-party hosts"):
                self.sites[host] = site
                self.emit(
                    f"observe: third-party host {host!r}"
                    + (f" on {page}" if page else "")
                    + " is named by no service (nor in the cookie declaration): "
                    + self.policy.verdict(host, "", site)
                )

    def csp_violations(self, violations: Iterable[tuple[str, str]]) -> None:
        """What the browsers' CSP reports say the policy blocks (or, in report-only mode,
        would block)."""
        for directive, host in violations:
            self.blocked[directive, host] += 1
            if self.blocked[directive, host] == 1:
                self.emit(
                    f"observe: CSP {directive} blocks {host!r} on the site's pages; if "
                    "the site needs it, add it to a service's hosts (or csp_allow)"
                )

    def summary(self) -> list[str]:
        """Everything seen, most frequent first (printed when the proxy stops), then the
        config lines that would cover the hosts (`suggest`)."""
        return (
            [
                f"cookie {n!r}: {c} times; {self._cookie_guess(n)}"
                for n, c in self.cookies.most_common()
            ]
            + [
                f"host {h!r}: {c} times; {self.policy.verdict(h, '', self.sites[h])}"
                for h, c in self.hosts.most_common()
            ]
            + [f"CSP {d} blocked {h!r}: {c} times" for (d, h), c in self.blocked.most_common()]
            + suggest(self.policy, self.hosts, next(iter(self.sites.values()), ""))
        )

    def _cookie_guess(self, name: str) -> str:
        svc = self.policy.catalog_service(name)
        if svc is not None:
            return (
                f"the built-in service {svc.name!r} names it, so it counts as "
                f"{self.policy.cookie_category(name) or 'unknown'}; add `- use: {svc.name}`"
            )
        record = self.policy.database_record(name)
        if record is None:
            return f"treated as unknown (unknown_cookies: {self.policy.config.unknown_cookies})"
        return (
            f"the Open Cookie Database says {record.platform} ({record.source_category}), "
            f"so it counts as {self.policy.cookie_category(name) or 'unknown'}"
        )


def _entry(policy: Policy, first: str, rest: list[str], category: str, builtin: bool) -> list[str]:
    """A services entry as the config reads it: a category of the config's (a built-in's
    own stays unsaid), or, when the config has none it maps to, the entry commented out
    with what to add (a line the config refused, as a category it has not, was printed)."""
    mapped = policy.mapped_category(category)
    if builtin and category == mapped:
        return [f"  - {first}", *rest]
    if mapped != NEVER:
        return [f"  - {first}", *rest, f"    category: {mapped}"]
    pick = ", ".join(c.name for c in policy.config.categories if not c.required)
    return [
        f"  # - {first}  # its category {category} is not one here: uncomment, add category: ONE",
        *(f"  #{line[1:]}" for line in rest),
        f"  #   category: {pick.replace(', ', ' | ') or 'a category'}",
    ]


def _service_name(name: str, taken: set[str]) -> str:
    """A name the config takes (NAME_RE: a knowledge layer names its trackers as it likes,
    'Hotjar Ltd.'), none of the config's nor another printed: a clash is refused."""
    base = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")[:36] or "tracker"
    found, n = base, 1
    while found in taken:
        n += 1
        found = f"{base}-{n}"
    taken.add(found)
    return found


def suggest(policy: Policy, hosts: Iterable[str], site: str = "") -> list[str]:
    """Config lines (YAML) that would name what was seen: built-in services to use, known
    trackers as services of their own, known non-trackers for csp_allow (enforce mode)."""
    use: dict[str, None] = {}
    services: dict[str, KnownTracker] = {}
    allow: dict[str, None] = {}
    unknown: dict[str, None] = {}
    made_up = 0
    for host in sorted(set(hosts)):
        host = host.lower().rstrip(".")
        if not _host_name(host):
            made_up += 1
            continue
        if policy.configured(host) is not None or (site and same_site(host, site)):
            continue
        entry = policy.knowledge.lookup(host)
        if entry is None:
            unknown[host] = None
        elif not entry.held:
            allow[host] = None
        elif entry.source == CATALOG_SOURCE:
            use[entry.name] = None
        else:
            services[entry.name] = entry
    lines = ["# config lines covering what was seen (consentproxy suggest):"]
    if use or services:
        lines.append("services:")
    builtin = builtin_services()
    for name in use:
        lines += _entry(policy, f"use: {name}", [], builtin[name].category, True)
    taken = {*use, *(s.name for s in policy.config.services)}
    for e in services.values():
        rest = [
            f"    title: {json.dumps(e.title or e.name)}",
            f"    vendor: {json.dumps(e.vendor or e.title or e.name)}",
        ]
        # (the knowledge's domains may be a vendor's subdomain: a host of the config's)
        domains = [d for d in e.domains if registrable(d) == d]
        hosts = [json.dumps(h) for d in e.domains if d not in domains for h in (d, f"*.{d}")]
        rest += [
            f"    {k}: [{', '.join(v)}]" for k, v in (("domains", domains), ("hosts", hosts)) if v
        ]
        lines += _entry(policy, f"name: {_service_name(e.name, taken)}", rest, e.category, False)
    if allow:
        lines.append(f"csp_allow: [{', '.join(allow)}]  # known, not trackers (for csp: enforce)")
    lines += [
        f"# unknown: {h} (a service's hosts if it tracks; csp_allow if it is the site's own)"
        for h in unknown
    ]
    if made_up:
        lines.append(f"# {made_up} seen that are no host names, left out (a page's made-up URLs?)")
    return lines


def _host_name(host: str) -> bool:
    """Whether a host seen is a name that may go in a config line: a page's URL names any
    host it likes (%-escapes decoded), and one with ', ' in it was printed in csp_allow's
    list as the operator pastes it (more entries, one a tracker), a line break left its
    comment, '&' or '*' began a YAML anchor or alias."""
    m = HOST_RE.fullmatch(host)
    return m is not None and m["name"] is not None and m["port"] is None


def _hosts_taken(services: Iterable[Service]) -> dict[tuple[str, str], str]:
    """A service's host under another's domain (or *.wildcard) takes it from that one: the
    closer entry wins (an exact host always). The catalog's own overlaps are meant
    (stats.g.doubleclick.net is Google Analytics', under Google Ads' doubleclick.net)."""

    def entries(svc: Service) -> list[tuple[str, bool]]:  # (host, covers its subdomains)
        hosts = [h.partition("/")[0] for h in svc.hosts]
        return [(h.removeprefix("*."), h.startswith("*.")) for h in hosts] + [
            (d, True) for d in svc.domains
        ]

    builtin = builtin_services()
    catalog = {n: {h for h, _ in entries(s)} for n, s in builtin.items()}
    wide = [(d, svc) for svc in services for d, covers in entries(svc) if covers]
    out = {}  # (service, host) -> the warning
    for svc in services:
        for host, _ in dict.fromkeys(entries(svc)):
            for domain, other in wide:
                if other.name == svc.name or not host.endswith("." + domain):
                    continue
                if host in catalog.get(svc.name, ()) and domain in catalog.get(other.name, ()):
                    continue
                out[svc.name, host] = (
                    f"host {host!r} of {svc.name!r} ({svc.category}) is under {other.name!r}'s "
                    f"{domain!r} ({other.category}): loads from it wait for {svc.name!r}; "
                    f"if they are {other.name!r}'s, remove it from {svc.name!r}"
                )
    return out


def _csp_overlaps(policy: Policy) -> list[str]:
    """With `csp: enforce`, where a consented service's CSP source admits the URLs of a
    service of another category: a source names a host (`*.` its subdomains) and at most a
    path prefix (csp.host_sources), so the policy cannot tell the two apart (the rewrite and
    the guard still do), nor from a built-in the tables file apart (policy.apart).
    docs/SECURITY.md lists the built-in pairs."""
    services = [s for s in policy.config.services if s.category not in policy.required]
    others = services + [s for s, _ in policy.apart.values() if s.category not in policy.required]
    out = []
    for svc in services:
        sources = csp.host_sources(svc.source_hosts)
        for other in others:
            if other.category == svc.category:
                continue
            for host, path in _sample_urls(other):
                if policy.service_for_host(host, path) is not other:
                    continue
                source = next((s for s in sources if _admits(s, host, path)), None)
                if source is not None:
                    out.append(
                        f"with csp: enforce, accepting {svc.category} ({svc.name}) lets in "
                        f"{other.name} ({other.category}) at https://{host}{path}: the "
                        f"policy's source {source} cannot tell them apart (the rewrite and "
                        "the guard still hold it; docs/SECURITY.md)"
                    )
                    break
    return out


def _sample_urls(svc: Service) -> list[tuple[str, str]]:
    """(host, path) of one URL for each host entry and domain of a service."""
    out = []
    for entry in svc.hosts:
        host, slash, path = entry.partition("/")
        path = (slash + path).replace("*", "x") or "/"
        out.append((host.replace("*.", "x.", 1), path + ("x.js" if path.endswith("/") else "")))
    return out + [(f"www.{d}", "/x.js") for d in svc.domains]


def _admits(source: str, host: str, path: str) -> bool:
    """Whether a CSP host-source (host or *.host, and a path: a prefix if it ends in '/')
    matches a URL's host and path."""
    name, slash, prefix = source.partition("/")
    if not (host == name or (name.startswith("*.") and host.endswith(name[1:]))):
        return False
    prefix = slash + prefix
    return not prefix or (path.startswith(prefix) if prefix.endswith("/") else path == prefix)


def _csp_size(policy: Policy) -> list[str]:
    """The policy a visitor who accepts everything gets, when it is longer than a page's
    head can safely carry (3,000 csp_allow hosts made every page's head 65 KB: front
    proxies refuse a head over 16 KB, some browsers one over 32)."""
    config = policy.config
    everything = ConsentState(True, frozenset(policy.optional), frozenset(policy.services))
    found = csp.header(config.csp, policy.allowed_hosts(everything), config.csp_allow, "/")
    if found is None or len(found[1]) <= csp.MAX_VALUE:
        return []
    warning = (
        f"the CSP of a visitor who accepts everything is {len(found[1]):,} bytes (the "
        f"services' hosts and csp_allow), over {csp.MAX_VALUE:,}: a page's head that long "
        "is refused by front proxies; list fewer hosts (*.example.com covers its subdomains)"
    )
    return [warning]


def _cookie_size(policy: Policy) -> list[str]:
    """The longest consent cookie a visitor can be given (each category accepted whole, or
    its services one by one, whichever is longer), when the proxy would not read it back:
    such a choice is saved narrowed to fit (consent.Signer.fitting), some services left off."""
    services_in = policy.services_in
    categories: set[str] = set()
    services: set[str] = set()
    for category in policy.optional:
        names = services_in.get(category, frozenset())
        if sum(len(n) + 1 for n in names) > len(category) + 8:
            services |= names
        else:
            categories.add(category)
    revision = policy.config.consent.revision
    size = longest_cookie(categories, services, revision, category_digests(services_in))
    if size <= MAX_COOKIE_LEN:
        return []
    warning = (
        f"a visitor who allows the services one by one gets a consent cookie of up to {size:,} "
        f"characters, over the {MAX_COOKIE_LEN:,} the proxy reads: such a choice is saved "
        "with some of those services left off (the banner says so; a whole category holds "
        "them all); use fewer services, or shorter names"
    )
    return [warning]


def config_warnings(policy: Policy) -> list[str]:
    """Things in a valid config that look wrong (check-config prints them, serve logs them).
    Asked of a policy no visitor is served with: it meets gtag.js's host (Policy.holder)."""
    config, out = policy.config, []
    required = policy.required
    for svc in config.services:
        if not svc.hosts and not svc.domains and not svc.cookies:
            out.append(
                f"service {svc.name!r} names only inline markers: the scripts it "
                "loads and the cookies it sets are not recognised; add its hosts and "
                "cookies"
            )
    owner: dict[str, str] = {}
    for svc in config.services:
        for host in (*svc.hosts, *svc.domains):
            if host in owner:
                out.append(
                    f"host {host!r} is listed by {owner[host]!r} and {svc.name!r}; "
                    f"only {owner[host]!r} matches it, remove one"
                )
            owner.setdefault(host, svc.name)
    hosts_taken = _hosts_taken(config.services)
    out += hosts_taken.values()
    out += _csp_size(policy) + _cookie_size(policy)
    if config.csp == "enforce":
        out += _csp_overlaps(policy)
    for svc in (s for s in config.services if s.category in required):
        for entry in (*svc.hosts, *svc.domains):
            host, slash, path = entry.removeprefix("*.").partition("/")
            known = policy.knowledge.lookup(host, slash + path)
            if known is not None and known.held and (svc.name, host) not in hosts_taken:
                out.append(
                    f"{svc.name!r} ({svc.category}: no consent asked) lists {entry!r}, a "
                    f"tracker's ({known.label}, {known.category}, says the {known.source}); "
                    "keep it only if the site cannot work without it"
                )
    cookie_owner: dict[str, Service] = {}
    for svc in config.services:
        for cookie in svc.cookies:
            first = cookie_owner.setdefault(cookie, svc)
            if first.category != svc.category:
                out.append(
                    f"cookie {cookie!r} is listed by {first.name!r} ({first.category}) and "
                    f"{svc.name!r} ({svc.category}); only {first.name!r} matches it, "
                    "remove one"
                )
    named = {c: s.name for s in config.services for c in s.cookies if s.category not in required}
    for pattern in (n for n in config.necessary_cookies if "*" in n):
        taken = [c for c in named if c != pattern and names_cookie([pattern], c.replace("*", ""))]
        if taken:
            out.append(
                f"necessary_cookies' pattern {pattern!r} takes "
                f"{', '.join(repr(c) for c in taken[:3])} of optional services "
                f"({', '.join(sorted({named[c] for c in taken}))}): sent without consent; "
                "narrow the pattern"
            )
    for name in config.necessary_cookies:
        record = policy.database_record(name)
        builtin = policy.catalog_service(name)
        if name in named:
            out.append(
                f"necessary_cookies lists {name!r}, which the optional service "
                f"{named[name]!r} names too: it is sent without consent; remove one"
            )
        elif builtin is not None and builtin.category != "necessary":
            out.append(
                f"necessary_cookies lists {name!r}, which the built-in service "
                f"{builtin.name!r} sets for {builtin.category}: it is sent without consent; "
                "keep it only if the site cannot work without it"
            )
        elif builtin is None and record is not None and record.category != "necessary":
            out.append(
                f"necessary_cookies lists {name!r}, which the Open Cookie Database "
                f"gives to {record.platform} ({record.source_category}): it is sent "
                "without consent; keep it only if the site cannot work without it"
            )
    if config.unknown_cookies == "allow":
        out.append(
            "unknown_cookies: allow lets every cookie no service names through "
            "without consent; prefer block and run `serve --observe` to list them"
        )
    for database, mapped in policy.database_categories().items():
        if mapped in required and database != "necessary":
            services = [s.name for s in builtin_services().values() if s.category == database]
            out.append(
                f"cookie_database maps {database} to {mapped}, a required category: the "
                f"Open Cookie Database's {database} cookies are kept without consent; the "
                f"third parties of that category ({', '.join(services[:4])}...) are not "
                "made required by it: they stay held until the config names them "
                "(- {use: NAME, category: CATEGORY})"
            )
    if policy.database is not None and config.unknown_cookies != "block":
        for ours, theirs in policy.database_categories().items():
            if theirs is None:  # blocked would be safe; allowed or another category is not
                out.append(
                    f"Open Cookie Database {ours} cookies have no category here and "
                    f"count as unknown ({config.unknown_cookies}); map them with "
                    f"cookie_database: {{{ours}: CATEGORY}}"
                )
    former = config.former_cmp
    if former is not None and former.imports and former.until is None:
        out.append(
            f"former_cmp imports {former.tool}'s choices with no until: its cookies are "
            "unsigned, and a sibling site or a script writing them is imported as the "
            "visitor's choice for as long as the import runs; give the day the proxy took "
            "over (until: YYYY-MM-DD): later choices are not imported, and none at all six "
            "months on"
        )
    if former is not None and former.imports and former.revision < config.consent.revision:
        out.append(
            f"former_cmp imports nothing: consent.revision ({config.consent.revision}) is "
            f"above former_cmp.revision ({former.revision}), the policy {former.tool}'s "
            "choices were made under; if the policy has not changed since the proxy took "
            "over, give former_cmp.revision the revision of then"
        )
    out += [
        f"banner.texts.{lang} is for a language not in languages "
        f"({', '.join(config.languages)}): no visitor sees it; add {lang} to languages, or "
        "drop the texts"
        for lang in config.banner.texts
        if lang not in config.languages
    ]
    for network in config.trusted_proxies:
        if network.prefixlen == 0:
            out.append(
                f"trusted_proxies {network} trusts every client: anyone can set "
                "X-Forwarded-For, X-Forwarded-Proto and the country header (and so pick "
                "the opt-out regime); list your front proxies' addresses"
            )
    if config.regions is not None and not config.gpc:
        out.append(
            "gpc lists no category: in the opt-out regions a browser's Global Privacy "
            "Control signal changes nothing (the default refuses advertising, which this "
            "config has not); name the categories it refuses (gpc: [CATEGORY])"
        )
    loader = policy.holder("www.googletagmanager.com", "/gtag/js", unknown=False)
    advanced = [s.name for s in config.services if s.consent_mode == "advanced"]
    if advanced and loader is not None and loader.consent_mode != "advanced":
        out.append(
            f"{', '.join(advanced)} {'is' if len(advanced) == 1 else 'are'} in Consent "
            f"Mode's advanced mode, but gtag.js (www.googletagmanager.com) is "
            f"{loader.name!r}, held until consent; give it consent_mode: advanced too "
            f"(- {{use: {loader.name}, consent_mode: advanced}})"
        )
    return out
