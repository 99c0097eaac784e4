"""`consentproxy catalog import`: tracker lists an operator is licensed to use, read into a
layer file (knowledge.py's format) that a config names under `tracker_lists`.

Formats: hosts files ("0.0.0.0 ads.example.com", or one domain a line), Disconnect's
services.json, and EasyPrivacy-style filter rules (only whole-domain rules, `||domain^`,
are taken: rules with a path, exceptions and cosmetic rules are skipped).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from consentproxy.catalog.knowledge import MAX_LAYER_BYTES, NOT_A_TRACKER, KnownTracker
from consentproxy.domains import is_public_suffix, registrable
from consentproxy.errors import ConfigError

FORMATS = ("auto", "hosts", "disconnect", "rules")
# A list read whole (/dev/zero, or a huge file, costs this, not all memory): four layers' limit,
# a hosts file's lines being longer than the layer's.
MAX_LIST_BYTES = 4 * MAX_LAYER_BYTES
# Disconnect's categories -> the catalog's ("-": known, not a tracker; None: skipped).
DISCONNECT = {
    "Advertising": "advertising",
    "Analytics": "analytics",
    "Social": "social",
    "Content": "functional",
    "FingerprintingInvasive": "advertising",
    "FingerprintingGeneral": "advertising",
    "Cryptomining": "advertising",
    "ConsentManagers": NOT_A_TRACKER,
    "Anti-fraud": NOT_A_TRACKER,
    "Email": None,
    "EmailAggressive": None,  # e-mail pixels: not on web pages
}
_DOMAIN_RE = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")
_RULE_RE = re.compile(r"\|\|([a-z0-9.-]+)\^(?:\$(.*))?$")
_HOSTS_SINKS = {"0.0.0.0", "127.0.0.1", "::", "::1", "::0"}


def detect(text: str) -> str:
    start = text.lstrip()[:1]
    if start == "{":
        return "disconnect"
    # ([^\S\n]: a line's own leading blanks; \s ran on over every blank line after it, and
    # a list of newlines took time quadratic in its length)
    if re.search(r"^[^\S\n]*(\|\||!|\[Adblock)", text, re.MULTILINE):
        return "rules"
    return "hosts"


def read_list(
    text: str, source: str, fmt: str = "auto", category: str = "advertising"
) -> list[KnownTracker]:
    """The trackers of a list; category is given to lists that name none (hosts, rules)."""
    fmt = detect(text) if fmt == "auto" else fmt
    if fmt == "disconnect":
        return _disconnect(text, source)
    domains = _rules(text) if fmt == "rules" else _hosts(text)
    return _by_site(domains, category, f"{fmt} list", source)


def _hosts(text: str) -> Iterable[str]:
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0] in _HOSTS_SINKS:
            yield from fields[1:]
        elif len(fields) == 1:
            yield fields[0]


def _rules(text: str) -> Iterable[str]:
    for line in text.splitlines():
        m = _RULE_RE.match(line.strip().lower())
        if m and "domain=" not in (m.group(2) or ""):  # not a rule for some sites only
            yield m.group(1)


def _clean(domains: Iterable[str]) -> Iterable[str]:
    for d in domains:
        d = d.strip().lower().rstrip(".")
        if _DOMAIN_RE.fullmatch(d) and not is_public_suffix(d) and d != "localhost":
            yield d


def _by_site(domains: Iterable[str], category: str, kind: str, source: str) -> list[KnownTracker]:
    """One tracker per registrable domain, named after it."""
    sites: dict[str, set[str]] = {}
    for d in _clean(domains):
        sites.setdefault(registrable(d), set()).add(d)
    return [
        KnownTracker(_slug(site), category, kind, site, "", tuple(sorted(found)), source)
        for site, found in sorted(sites.items())
    ]


def _disconnect(text: str, source: str) -> list[KnownTracker]:
    try:
        data = json.loads(text)
        categories = data["categories"]
        assert isinstance(categories, dict)
    except (ValueError, KeyError, TypeError, AssertionError, RecursionError):
        raise ConfigError(
            source,
            None,
            "not a Disconnect services.json (a JSON object with "
            '"categories"); pass --format hosts or rules',
        ) from None
    out: dict[tuple[str, str], KnownTracker] = {}
    for name, entries in categories.items():
        category = DISCONNECT.get(name)
        if category is None or not isinstance(entries, list):
            continue
        for entry in entries:
            for company, sites in entry.items() if isinstance(entry, dict) else ():
                domains = [
                    d
                    for v in (sites.values() if isinstance(sites, dict) else ())
                    if isinstance(v, list)
                    for d in v
                    if isinstance(d, str)
                ]
                found = tuple(sorted(set(_clean(domains))))
                if found:
                    key = (_slug(company), category)
                    old = out.get(key)
                    merged = tuple(sorted({*found, *(old.domains if old else ())}))
                    out[key] = KnownTracker(
                        key[0], category, f"Disconnect {name}", company, company, merged, source
                    )
    return list(out.values())


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-")[:60] or "tracker"


def merged(old: Iterable[KnownTracker], new: Iterable[KnownTracker]) -> list[KnownTracker]:
    """A layer with new entries over old ones of the same name and category."""
    out = {(e.name, e.category): e for e in old}
    out.update({(e.name, e.category): e for e in new})
    return [out[k] for k in sorted(out)]
