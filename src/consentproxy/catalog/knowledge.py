"""The tracker knowledge base: which third-party domains belong to which tracker, in layers.

Layers, lowest first: the built-in base (the WhoTracks.me data in trackers.tsv, then the
built-in services a config does not use), the operator's imported lists (`tracker_lists`),
and above all the config's own services (in policy.py). A domain matches itself and every
subdomain; the most specific listed domain wins, and on the same domain the higher layer
(an imported layer's known non-tracker never wins over a tracker a layer below holds).
Lookups walk the host's labels in a dict: the cost does not grow with the number of domains.

Layer files are tab-separated, one tracker a line (the same format for the shipped data and
for what `consentproxy catalog import` writes):
    name  category  kind  title  vendor  domains (space-separated)
category is one of the catalog's, or "-" for a third party that is known but not a tracker
(a CDN, hosting...), kind says what the source called it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from urllib.parse import unquote

from consentproxy.catalog import CATALOG_CATEGORIES
from consentproxy.domains import is_public_suffix
from consentproxy.errors import ConfigError
from consentproxy.files import read_at_most
from consentproxy.printable import printable
from consentproxy.settings import Service

BUILTIN_FILE = Path(__file__).with_name("trackers.tsv")
LAYER_HEADER = "# consentproxy tracker list: name\tcategory\tkind\ttitle\tvendor\tdomains"
NOT_A_TRACKER = "-"
MAX_LAYER_BYTES = 32 << 20  # (the built-in one is 0.25 MiB: more is a wrong path)
CATALOG_SOURCE = "built-in catalog"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.")
_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")


@dataclass(frozen=True)
class KnownTracker:
    """One tracker (or known non-tracker) of a layer: the domains that are its own."""

    name: str
    category: str  # a catalog category, or "-": known, not a tracker
    kind: str = ""  # what the source calls it (site_analytics, cdn, hosts file...)
    title: str = ""
    vendor: str = ""
    domains: tuple[str, ...] = ()
    source: str = ""  # the layer it comes from (for people: observe, scan, cli)

    @property
    def held(self) -> bool:
        return self.category != NOT_A_TRACKER

    @property
    def label(self) -> str:
        """How people know it: title and vendor, once each."""
        title = self.title or self.name
        return title if not self.vendor or self.vendor in title else f"{title} ({self.vendor})"


def format_layer(entries: Iterable[KnownTracker]) -> str:
    """The layer file's lines: tabs and line breaks in texts become spaces, other control
    characters are written escaped (\\x1b): a list names its companies as it likes, and
    their escape sequences reached the terminal wherever a verdict is printed."""
    return "".join(
        "\t".join(
            (
                e.name,
                e.category,
                *(printable(" ".join(t.split())) for t in (e.kind, e.title, e.vendor)),
                " ".join(e.domains),
            )
        )
        + "\n"
        for e in entries
    )


def parse_layer(text: str, source: str) -> tuple[KnownTracker, ...]:
    """A layer file's trackers; a bad line is a ConfigError naming it and the fix."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 6:
            raise ConfigError(
                source,
                number,
                "expected 6 tab-separated fields (name, category, "
                "kind, title, vendor, domains); write it with `consentproxy "
                "catalog import`",
            )
        name, category, kind, title, vendor, domains = fields
        if category not in CATALOG_CATEGORIES and category != NOT_A_TRACKER:
            raise ConfigError(
                source,
                number,
                f"category {category!r} must be one of "
                f"{', '.join(sorted(CATALOG_CATEGORIES))} or -",
            )
        listed = tuple(domains.split())
        bad = next(
            (
                d
                for d in listed
                if not set(d) <= _DOMAIN_CHARS or "." not in d or is_public_suffix(d)
            ),
            None,
        )
        if bad is not None or not listed or not name or not set(name) <= _NAME_CHARS:
            raise ConfigError(
                source,
                number,
                f"{bad or name!r} is not a lower-case domain "
                "or name (public suffixes such as co.uk are nobody's)",
            )
        # (a layer written by hand or before its texts were escaped: as format_layer does)
        kind, title, vendor = (printable(t) for t in (kind, title, vendor))
        out.append(KnownTracker(name, category, kind, title, vendor, listed, source))
    return tuple(out)


def read_layer(path: str | Path) -> tuple[KnownTracker, ...]:
    try:
        data = read_at_most(Path(path), MAX_LAYER_BYTES)
        text = "" if len(data) > MAX_LAYER_BYTES else data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(
            str(path),
            None,
            f"cannot read the tracker list ({e}); make it with `consentproxy catalog import`",
        ) from None
    if len(data) > MAX_LAYER_BYTES:
        raise ConfigError(
            str(path),
            None,
            f"more than {MAX_LAYER_BYTES >> 20} MiB, which no tracker list is; check the "
            "path, or split the list in two",
        )
    return parse_layer(text, Path(path).name)


@cache
def builtin_trackers() -> tuple[KnownTracker, ...]:
    """The shipped base layer (read once)."""
    return parse_layer(BUILTIN_FILE.read_text(encoding="utf-8"), "WhoTracks.me")


@cache
def _builtin_domains() -> dict[str, KnownTracker]:
    return {d: e for e in builtin_trackers() for d in e.domains}


def catalog_entry(svc: Service) -> KnownTracker:
    """A built-in service the config does not use, as a tracker of the base layer."""
    return KnownTracker(
        svc.name,
        svc.category,
        "built-in service",
        svc.display_title(),
        svc.vendor,
        svc.domains,
        CATALOG_SOURCE,
    )


class Knowledge:
    """The layers merged into two tables: host+path prefixes, and domains (each matching
    itself and its subdomains: a built-in service's exact hosts and wildcards too)."""

    def __init__(
        self,
        services: Sequence[Service] = (),
        layers: Sequence[Sequence[KnownTracker]] = (),
        builtin: bool = True,
    ):
        """services: built-in services the config does not use (over the shipped data);
        layers: imported lists, lowest first (each may hold more, never less)."""
        self.domains: dict[str, KnownTracker] = dict(_builtin_domains()) if builtin else {}
        self.paths: dict[str, list[tuple[str, KnownTracker]]] = {}
        for svc in services:
            entry = catalog_entry(svc)
            for h in svc.hosts:
                host, slash, path = h.partition("/")
                if slash:
                    self.paths.setdefault(host, []).append(("/" + path, entry))
                else:
                    self.domains[host.removeprefix("*.")] = entry
            for d in svc.domains:
                self.domains[d] = entry
        for layer in layers:
            # (a list may call no tracker what the layers below hold: a hostile one filed
            # chartbeat.com among consent managers, and it loaded; judged against those
            # below alone, so that the order of a layer's lines changes nothing)
            added = {
                d: entry
                for entry in layer
                for d in entry.domains
                if entry.held or not ((below := self.lookup(d)) and below.held)
            }
            self.domains.update(added)

    def lookup(self, host: str, path: str = "") -> KnownTracker | None:
        """What the layers know of a host (lower-case, no trailing dot) and path."""
        if path and host in self.paths:
            entry = on_path(self.paths[host], path)
            if entry is not None:
                return entry
        domains, dot = self.domains, -1
        while True:
            entry = domains.get(host[dot + 1 :])
            if entry is not None:
                return entry
            dot = host.find(".", dot + 1)
            if dot == -1:
                return None

    @cached_property
    def names(self) -> frozenset[str]:
        """The name of every tracker the layers know: a set the operator's layers bound, where
        the names of unknown third parties come from pages (telemetry labels only these)."""
        on_paths = (entry for entries in self.paths.values() for _, entry in entries)
        return frozenset(entry.name for entry in (*self.domains.values(), *on_paths))

    def __len__(self) -> int:
        return len(self.domains) + len(self.paths)


def on_path[T](entries: Iterable[tuple[str, T]], path: str) -> T | None:
    """The value of the first (prefix, value) of hosts entries' paths a URL's path starts
    with (connect.facebook.net/*/sdk.js: a '*' that is a whole segment is any one non-empty
    segment, a locale, a version; the last segment a prefix as the rest of the entry is), on
    the path its origin serves (served_path, worked out only for a path it may change;
    guard.js's underPath, the same)."""
    if "%" in path or "//" in path or "/." in path:
        path = served_path(path)
    for prefix, value in entries:
        if path.startswith(prefix) if "*" not in prefix else _path_re(prefix).match(path):
            return value
    return None


def served_path(path: str) -> str:
    """A URL's path as an origin reads it to serve a file: %-escapes decoded (nginx,
    Apache), runs of `/` as one and dot segments resolved (nginx, after decoding). A browser
    sends `//matomo/m.js`, `/%6Datomo/m.js` or `/js/..%2Fmatomo/m.js` as they are, and the
    origin served `/matomo/m.js` (guard.js's servedPath, the same)."""
    decoded = unquote(path)
    kept: list[str] = []
    for segment in decoded.split("/"):
        if segment == "..":
            del kept[-1:]
        elif segment not in ("", "."):
            kept.append(segment)
    last = decoded.rpartition("/")[2]
    return "/" + "/".join(kept) + ("/" if kept and last in ("", ".", "..") else "")


@cache
def _path_re(prefix: str) -> re.Pattern[str]:
    return re.compile("/".join("[^/]+" if s == "*" else re.escape(s) for s in prefix.split("/")))
