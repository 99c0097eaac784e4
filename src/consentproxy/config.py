"""YAML configuration -> frozen values (the model: settings.py).

Every mistake a user can make is reported as a ConfigError naming the file, the
line and what to do, so a bad config never starts a half-working proxy.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
import unicodedata
from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from consentproxy.banner.texts import (
    CATEGORY_TEXTS,
    LANGUAGES,
    PLACEHOLDER_RE,
    PLACEHOLDERS,
    TEXT_KEYS,
    TEXTS,
)
from consentproxy.banner.theme import DEFAULT_COLORS, HEX_RE, contrast_problems
from consentproxy.catalog import CATALOG_CATEGORIES, CATALOG_FILE, TRANSLATED_KEYS, translated
from consentproxy.catalog.knowledge import read_layer
from consentproxy.catalog.ocd import cookie_database
from consentproxy.domains import is_public_suffix, registrable
from consentproxy.errors import ConfigError, yaml_tree
from consentproxy.files import NOT_REGULAR, NotARegularFile, read_at_most
from consentproxy.formercmp import (
    FIXED_GROUPS,
    TCF_MAX_VENDOR,
    TOOLS,
    UNDATED,
    fixed_cookies,
    tool_cookies,
)
from consentproxy.rewrite.selectors import SelectorError, parse_selectors
from consentproxy.settings import (
    MAX_CONSENT_DAYS,
    STATE_WORDS,
    BannerSettings,
    Category,
    Config,
    ConsentSettings,
    FormerCmp,
    ForTesting,
    IPNetwork,
    Limits,
    RecordsSettings,
    Regions,
    Service,
    _upstream,
    own_address,
    parse_listen,
)

CSP_MODES = ("off", "report-only", "enforce")
LANGUAGE_SOURCES = ("html-lang", "path", "cookie", "accept-language")  # language.py
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
HOST_RE = re.compile(r"(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)+(/[\x21-\x7e]*)?")
AS_HOST = "(lower case, no port, an internationalised name in its xn-- form)"  # (_as_host)
MAX_RECORDS_DAYS = 1826  # 5 years: proof of a choice may outlive the choice itself
EMBED_KINDS = ("script", "iframe", "pixel")
# YAML 1.1's boolean words, for a boolean given quoted ("off").
YAML_WORDS = {
    **dict.fromkeys(("true", "yes", "on"), True),
    **dict.fromkeys(("false", "no", "off"), False),
}


# --- loading -----------------------------------------------------------------------------

TOP_KEYS = {
    "upstream",
    "listen",
    "prefix",
    "consent",
    "csp",
    "csp_allow",
    "unknown_cookies",
    "necessary_cookies",
    "categories",
    "services",
    "languages",
    "banner",
    "cookie_database",
    "sites",
    "testing",
    "consent_mode",
    "gpc",
    "dnt",
    "records",
    "cap_cookie_lifetime_days",
    "metrics",
    "access_log",
    "language_from",
    "language_cookie",
    "trusted_proxies",
    "limits",
    "former_cmp",
    "known_trackers",
    "unknown_third_parties",
    "tracker_lists",
    "regions",
}
# The category of a neutralised former consent tool: no choice ever allows it.
FORMER_CMP = "former-cmp"
REGIONS_KEYS = {"header", "subdivision_header", "opt_out"}
PLACE_RE = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")
HEADER_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Consent Mode v2 signals and the categories (by usual name) that grant them by default.
CONSENT_MODE_DEFAULTS = {
    "ad_storage": ("advertising",),
    "ad_user_data": ("advertising",),
    "ad_personalization": ("advertising",),
    "analytics_storage": ("analytics",),
    "functionality_storage": (),
    "personalization_storage": ("functional",),
    "security_storage": (),
}
# Consent Mode's signals a required category may grant (what the site needs to work);
# the others need the visitor's consent.
ALWAYS_GRANTED_SIGNALS = ("functionality_storage", "security_storage")
TESTING_KEYS = {"state_header"}
LIMIT_RANGES = {  # key -> (lowest, highest) accepted
    "html_bytes": (64 * 1024, 1 << 34),
    "request_head_bytes": (4096, 1 << 20),
    "header_line_bytes": (1024, 1 << 16),
    "body_idle_seconds": (1, 3600),
    "body_min_rate": (1, 1 << 30),
}
SITE_RE = re.compile(r"(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*")
BANNER_KEYS = {
    "position",
    "colors",
    "logo",
    "css",
    "privacy_url",
    "cookie_policy_url",
    "dpo",
    "texts",
    "open_selectors",
    "declaration_selectors",
}
DPO_KEYS = ("email", "address", "url")
MAX_CSS = 32 * 1024
# What a text made only of shows nothing: controls, format characters (zero-width space,
# joiners, marks of direction), marks with no letter to sit on, and letters and symbols
# drawn as nothing (Hangul fillers, the blank Braille pattern); spaces besides.
_INVISIBLE_KINDS = ("Cc", "Cf", "Mn", "Me")
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# The Open Cookie Database's categories, once mapped (necessary always maps to the
# config's required category).
DATABASE_CATEGORIES = ("functional", "analytics", "advertising", "social")
# A third party's category the config lacks falls back to its neighbour: a built-in used
# with no category of its own, a database cookie, a known tracker (policy).
NEIGHBOUR_CATEGORY = {"social": "advertising", "advertising": "social"}
CONSENT_KEYS = {"cookie_name", "max_age_days", "revision", "secret_env", "cookie_domain"}
CATEGORY_KEYS = {"required", "title", "description"}
SERVICE_TEXT_KEYS = ("vendor", "retention", "embed")
SERVICE_LISTS = ("hosts", "domains", "cookies", "inline", "globals")
SERVICE_KEYS = {
    "use",
    "name",
    "category",
    *SERVICE_LISTS,
    "replace",
    *SERVICE_TEXT_KEYS,
    "privacy_url",
    *TRANSLATED_KEYS,
    "consent_mode",
    "tcf_vendor",
}
SERVICE_CONSENT_MODES = ("basic", "advanced")
# A service's globals: `name()`, `name[]` or `name.prop[]`, each name a JavaScript
# identifier (ASCII: what snippets use).
GLOBAL_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(?:\(\)|\[\]|\.[A-Za-z_$][A-Za-z0-9_$]*\[\])")
GLOBAL_FORMS = "name() (a function), name[] (an array) or name.prop[] (an object with an array)"
# A config is kilobytes: more is the wrong file (a log, a dump, /dev/zero read for ever).
MAX_CONFIG_BYTES = 1 << 20
# The text aliases (*a, <<: *a) may repeat, all told: each repeat is read and checked again
# (12,000 services' hosts: [*a] of a 400 KB entry took 21-46 s to read), while shared settings
# are a few hundred bytes, once a service. Each node counts ALIASED_NODE_COST characters
# besides its text: reading goes per node (32 aliases of a 60,000-domain list, 4 MB of
# text, took 29 s).
MAX_ALIASED_CHARACTERS = 16 * MAX_CONFIG_BYTES
ALIASED_NODE_COST = 64


def load_config(path: str | Path, option: str = "--config") -> Config:
    """Read and validate a YAML config file (`option`: where its path was given)."""
    if not str(path):  # (Path("") is the current directory)
        raise ConfigError(
            '""', None, f"an empty file name; give the config file's path to {option}"
        )
    path = Path(path)
    try:
        data = read_at_most(path, MAX_CONFIG_BYTES)
    except NotARegularFile:
        raise ConfigError(
            str(path), None, f"{NOT_REGULAR}; give a regular file to {option}"
        ) from None
    except OSError as e:
        raise ConfigError(
            str(path),
            None,
            f"cannot read the file ({e.strerror}); check the path given to {option}",
        ) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            str(path),
            None,
            f"more than {MAX_CONFIG_BYTES >> 20} MiB, which no config is; check the path "
            f"given to {option}",
        )
    return parse_config(decode_utf8(data, str(path), "save the file as UTF-8"), str(path))


def decode_utf8(data: bytes, source: str, fix: str) -> str:
    """A file's text; bytes that are not UTF-8 are the user's to fix (`fix` says how), at
    the line they are on."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(source, line, f"not UTF-8 (byte 0x{data[e.start]:02x}); {fix}") from None


def parse_config(text: str, source: str = "<config>") -> Config:
    root = yaml_tree(text, source)
    if root is None:
        raise ConfigError(
            source, None, "the file is empty; start from README's Configuration example"
        )
    try:
        reader = _Reader(source)
        reader.merge_keys(root)
        return reader.config(root)
    except RecursionError:
        raise ConfigError(source, None, "nested too deep to read; fix the structure") from None


def _language_fix(lang: str) -> str:
    """What to write for a `languages` entry that is no primary language subtag: the page's,
    path's, cookie's and browser's languages are read as one (offered()), so a regional
    variant would never be chosen, and the entry goes into the page's lang attributes."""
    primary = lang.replace("_", "-").partition("-")[0]
    fix = (
        f"write {primary.lower()}; regional variants are not told apart"
        if primary != lang and _LANGUAGE_RE.fullmatch(primary.lower())
        else f"did you mean {lang.lower()!r}?"
        if _LANGUAGE_RE.fullmatch(lang.lower())
        else "write a language's 2 or 3 letter code such as en or fr"
    )
    return f"languages entry {lang!r} is no language code in lower case (ISO 639); {fix}"


def did_you_mean(text: str, choices: Collection[str]) -> str:
    """' (did you mean 'x'?)' when a choice is close to a misspelt text, else '': two
    letters swapped (`cps`, which difflib finds too far from `csp`), or alike enough. The
    swaps are made only when a choice is as long (an X-Consent-State item of 8 KB made
    8,000 copies of itself)."""
    lengths = {len(c) for c in choices}
    swaps = {
        text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        for i in range(len(text) - 1 if len(text) in lengths else 0)
    }
    close = [c for c in choices if c in swaps] or difflib.get_close_matches(
        text, choices, n=1, cutoff=0.75
    )
    return f" (did you mean {close[0]!r}?)" if close else ""


MERGE_TAG = "tag:yaml.org,2002:merge"  # the tag YAML gives a plain `<<` key
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# A language as the proxy tells them apart: a primary subtag (BCP 47), in lower case.
_LANGUAGE_RE = re.compile("[a-z]{2,3}")
# former_cmp.path: a directory, each segment URL characters or %XX escapes, and its length
# (a deletion names it back in each of its lines: see cookies.MAX_DELETION_BYTES).
_COOKIE_DIRECTORY_RE = re.compile(r"/(?:(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})+/)*")
MAX_FORMER_PATH = 256
# A CSP host-source (CSP 3, 2.3.1) naming a host: [scheme "://"] ["*."] name [":" port]
# [path] ("*" alone, a scheme-source or a keyword would let every tracker through).
_CSP_HOST_SOURCE = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9+.-]*://)?(?P<host>(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?)"
    r"(?::(?:[0-9]+|\*))?(?:/[^\s;,]*)?"
)


class _Reader:
    """Walks the YAML node tree so every error can point at its line."""

    def __init__(self, source: str):
        self.source = source
        self.loader = yaml.SafeLoader("")

    def fail(self, node: yaml.Node | None, message: str) -> ConfigError:
        return ConfigError(self.source, node.start_mark.line + 1 if node else None, message)

    def merge_keys(self, root: yaml.Node) -> None:
        """Resolve YAML merge keys (`<<: *defaults`, or a list of them) in place, as YAML
        1.1 defines them and PyYAML orders them: the merged keys first, a mapping's own keys
        winning over them and the first merged mapping over the next. The reader then sees
        plain mappings, and each error still names the line that gave the value. On the way,
        refuse any key or value holding a lone surrogate (an escape such as "\\ud800"): read
        as text, it broke the first encoding of it, when the engine started; and aliases
        repeating more than MAX_ALIASED_CHARACTERS (of text and a cost per node), at the
        list or mapping holding the alias that goes over."""
        done: set[int] = set()
        sizes: dict[int, int] = {}
        aliased = 0

        def size(node: yaml.Node) -> int:
            """The text node holds, each alias in it counted as often as it is read."""
            if id(node) not in sizes:
                sizes[id(node)] = 0  # (an anchor aliased inside itself: counted once)
                if isinstance(node, yaml.ScalarNode):
                    text = len(node.value)
                elif isinstance(node, yaml.SequenceNode):
                    text = sum(map(size, node.value))
                else:
                    text = sum(size(k) + size(v) for k, v in node.value)
                sizes[id(node)] = ALIASED_NODE_COST + text
            return sizes[id(node)]

        def visit(node: yaml.Node, within: yaml.Node | None = None) -> None:
            nonlocal aliased
            if id(node) in done:  # an alias: its text is read once more
                aliased += size(node)
                if aliased > MAX_ALIASED_CHARACTERS:
                    raise self.fail(
                        within,
                        f"aliases (*) repeat more than {MAX_ALIASED_CHARACTERS:,} characters "
                        "in the config, each repeat read again and each key, value, list "
                        f"and mapping counted as {ALIASED_NODE_COST} more than its text (this "
                        f"one {size(node):,}, "
                        f"anchored at line {node.start_mark.line + 1}); "
                        "write a long entry once, and share only short settings through anchors",
                    )
                return
            done.add(id(node))
            if isinstance(node, yaml.ScalarNode):
                if _SURROGATE_RE.search(node.value):
                    raise self.fail(
                        node,
                        f"{node.value!r} holds half a character (a lone surrogate escape, "
                        "\\ud800 to \\udfff) that no page can be written in; remove the "
                        "character",
                    )
            elif isinstance(node, yaml.SequenceNode):
                for item in node.value:
                    visit(item, node)
            elif isinstance(node, yaml.MappingNode):
                own, merged = [], []
                for key, value in node.value:
                    visit(key, node)
                    visit(value, node)
                    if key.tag != MERGE_TAG:
                        own.append((key, value))
                        continue
                    sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                    for source in sources:
                        if not isinstance(source, yaml.MappingNode):
                            raise self.fail(
                                source,
                                "a merge key (<<) takes a mapping or a list of them, "
                                "such as <<: *defaults",
                            )
                        merged.extend(source.value)
                if len(own) < len(node.value):
                    given = {str(key.value) for key, _ in own}
                    kept = []
                    for key, value in merged:
                        if str(key.value) not in given:
                            given.add(str(key.value))
                            kept.append((key, value))
                    node.value = kept + own

        visit(root)

    def mapping(self, node: yaml.Node | None, what: str, allowed: set[str]) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping (key: value lines)")
        out: dict[str, yaml.Node] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):  # (its str() is PyYAML's node, not the text)
                raise self.fail(k, f"a key in {what} is a list or mapping; keys are words")
            key = str(k.value)
            if key not in allowed:
                raise self.fail(
                    k,
                    f"unknown key {key!r}{did_you_mean(key, allowed)} in {what}; "
                    f"allowed: {', '.join(sorted(allowed))}",
                )
            if key in out:
                raise self.fail(k, f"key {key!r} appears twice in {what}; keep one")
            out[key] = v
        return out

    def scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, "expected a single value here, not a list or mapping")
        try:
            return self.loader.construct_object(node)
        # (a tag: !!int abc, !foo x, !!binary zz; PyYAML's constructors raise the lookup
        # and attribute errors of their own parsing for !!bool 1, !!int "", !!timestamp abc)
        except (yaml.YAMLError, ValueError, LookupError, AttributeError):
            raise self.fail(
                node, f"cannot read {node.value!r} as tagged ({node.tag}); drop the tag"
            ) from None

    def string(self, node: yaml.Node, what: str) -> str:
        value = self.scalar(node)
        if (
            isinstance(value, bool | int | float)
            and isinstance(node, yaml.ScalarNode)
            and (node.style is None)
        ):
            # A word or number YAML typed (a language `no`, a cookie `on`, a title `2024`):
            # where text is meant, the text as written is meant.
            value = node.value
        if not isinstance(value, str) or not value:
            raise self.fail(node, f"{what} must be a non-empty string")
        if any(c in value for c in "\r\n\x00"):
            raise self.fail(node, f"{what} must not contain line breaks")
        return value

    def integer(self, node: yaml.Node, what: str, low: int, high: int) -> int:
        value = self.scalar(node)
        if type(value) is int and not _DECIMAL.fullmatch(node.value):  # (not a bool)
            raise self.fail(
                node, f"{what}: YAML reads {node.value} as {value:d}; {_decimal_fix(node.value)}"
            )
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.fail(node, f"{what} must be a whole number from {low} to {high}")
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool:
        value = _flag(self.scalar(node))
        if not isinstance(value, bool):
            raise self.fail(node, f"{what} must be true or false")
        return value

    def word(self, node: yaml.Node, what: str, words: tuple[str, ...], others: str = "") -> str:
        """One of `words` (or, with `others`, any text: the caller checks it). YAML reads
        an unquoted off/no/false as false: that means "off" where "off" is a word, and
        the error names the pitfall where it is not."""
        value = self.scalar(node)
        if value is False and "off" in words:
            return "off"
        text = self.string(node, what) if not isinstance(value, bool) else node.value
        if text in words or (others and not isinstance(value, bool)):
            return text
        pitfall = (
            f" (YAML reads an unquoted {text} as {str(value).lower()}: write one of "
            "the words, quoted if need be)"
            if isinstance(value, bool)
            else ""
        )
        hint = pitfall or did_you_mean(text, words)
        raise self.fail(
            node,
            f"{what} must be one of {', '.join(words)}{' or ' + others if others else ''}{hint}",
        )

    def strings(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        if isinstance(node, yaml.ScalarNode) and node.value == "" and node.tag.endswith("null"):
            return ()
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list, e.g. [a, b]")
        # An alias repeated (`[&a ..., *a, *a]`) is one node: a 1 MiB config repeated a long
        # entry 100,000 times, each checked again (minutes at start); twice means nothing.
        if len({id(n) for n in node.value}) < len(node.value):
            raise self.fail(
                node, f"{what} names the same entry twice through an alias (*); list each once"
            )
        return tuple(self.string(n, f"each entry of {what}") for n in node.value)

    def csp_sources(self, node: yaml.Node) -> tuple[str, ...]:
        """csp_allow: one CSP source per entry; a space, ';' or ',' would smuggle in more
        sources, directives or a whole policy."""
        values = self.strings(node, "csp_allow")
        for item, value in zip(node.value, values, strict=True):
            if re.search(r"[\s;,]", value):
                raise self.fail(
                    item,
                    f"csp_allow entry {value!r} must be one source such as "
                    "cdn.example.com, with no space, ';' or ','",
                )
            source = _CSP_HOST_SOURCE.fullmatch(value)
            if source is None:
                raise self.fail(  # (a scheme or * lets every tracker through `csp: enforce`;
                    item,  # a source browsers cannot read is dropped from the policy)
                    f"csp_allow entry {value!r} is no host (a scheme, *, or a keyword the "
                    "proxy's policy sets itself, or no CSP host source); name the hosts the "
                    "site needs, such as cdn.example.com, *.example.com or "
                    "https://cdn.example.com:8443/assets/",
                )
            self.not_every_site(item, source["host"], "csp_allow entry")
        return values

    def not_every_site(self, node: yaml.Node, host: str, what: str) -> None:
        """`*.com` or `*.co.uk` names no vendor's hosts but every site under a public suffix
        (the CSP let every .com host in; a service held a .co.uk site's own files): refused,
        as a public suffix is for cookie_domain and domains."""
        suffix = host.lower().removeprefix("*.").rstrip(".")
        if host.startswith("*.") and is_public_suffix(suffix):
            raise self.fail(
                node,
                f"{what} {host!r} covers every site under the public suffix {suffix}, "
                f"which unrelated owners share; name the hosts, such as cdn.example.{suffix} "
                f"or *.example.{suffix}",
            )

    def texts(self, node: yaml.Node, what: str) -> dict[str, str]:
        """A translatable text: a plain string (English) or {en: ..., fr: ...}."""
        if isinstance(node, yaml.ScalarNode):
            return {"en": self.shown(node, what)}
        items = self.mapping(node, what, set(_keys(node)))
        if not items:  # (the built-in text is dropped for none)
            raise self.fail(
                node,
                f"{what} is empty; give the text (one string, or {{en: ..., fr: ...}}), "
                "or leave the key out for the built-in one",
            )
        return {lang: self.shown(v, f"{what}.{lang}") for lang, v in items.items()}

    def shown(self, node: yaml.Node, what: str) -> str:
        """A text a visitor reads: one of spaces or invisible characters would leave a
        button or a heading blank (a choice nobody can read is no informed one)."""
        text = self.string(node, what)
        if all(
            c.isspace() or c in _INVISIBLE or unicodedata.category(c) in _INVISIBLE_KINDS
            for c in text
        ):
            raise self.fail(
                node,
                f"{what} shows nothing (only spaces or invisible characters); write the text, "
                "or leave the key out for the built-in one",
            )
        return text

    def matching(self, node: yaml.Node, what: str, pattern: re.Pattern[str], rule: str) -> str:
        value = self.string(node, what)
        if not pattern.fullmatch(value):
            raise self.fail(node, f"{what} {value!r} must be {rule}")
        return value

    def name(self, node: yaml.Node, what: str) -> str:
        return self.matching(
            node, what, NAME_RE, "lower-case letters, digits, '-' or '_' (at most 40)"
        )

    def config(self, root: yaml.Node) -> Config:
        top = self.mapping(root, "the config", TOP_KEYS)
        sites = self.sites(top["sites"]) if "sites" in top else ()
        if "upstream" not in top and not sites:
            raise self.fail(
                root,
                "missing 'upstream': the URL of the site to protect, "
                "e.g. upstream: http://127.0.0.1:8080 (or, for mitmproxy's "
                "forward mode only, 'sites: [www.example.com]')",
            )
        upstream = (
            _upstream(
                self.string(top["upstream"], "upstream"),
                self.source,
                top["upstream"].start_mark.line + 1,
            )
            if "upstream" in top
            else None
        )
        host, port = "127.0.0.1", 8000
        if "listen" in top:
            host, port = parse_listen(
                str(self.scalar(top["listen"])), self.source, top["listen"].start_mark.line + 1
            )
        prefix = "/.consent/"
        if "prefix" in top:
            prefix = self.string(top["prefix"], "prefix")
            if not re.fullmatch(r"/[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*/", prefix) or any(
                part in (".", "..") for part in prefix.split("/")
            ):  # (a browser resolves /../: the banner's script would go to the origin)
                raise self.fail(
                    top["prefix"],
                    "prefix must be a path that starts and ends with '/', e.g. /.consent/",
                )
        csp = self.word(top["csp"], "csp", CSP_MODES) if "csp" in top else "report-only"
        categories = self.categories(top.get("categories"), root)
        names = {c.name for c in categories}
        unknown = "block"
        if "unknown_cookies" in top:
            others = f"a category name ({', '.join(sorted(names))})"
            unknown = self.word(
                top["unknown_cookies"], "unknown_cookies", ("block", "allow"), others
            )
            if unknown not in ("block", "allow") and unknown not in names:
                raise self.fail(
                    top["unknown_cookies"],
                    f"unknown_cookies must be one of block, allow or {others}"
                    + did_you_mean(unknown, {"block", "allow", *names}),
                )
        services = self.services(top.get("services"), names)
        consent = self.consent(top.get("consent"))
        self.cookie_room(top.get("categories") or root, categories, consent.revision)
        former = (
            self.former_cmp(top["former_cmp"], categories, services, consent.revision)
            if "former_cmp" in top
            else None
        )
        if former is not None and former.neutralise:
            services = _neutralised(services, former.tool)
        languages: tuple[str, ...] = ("en", "fr")
        if "languages" in top:
            languages = self.strings(top["languages"], "languages")
            if not languages or len(set(languages)) < len(languages):
                raise self.fail(
                    top["languages"], "languages must list at least one language, each once"
                )
            for item, lang in zip(top["languages"].value, languages, strict=True):
                if not _LANGUAGE_RE.fullmatch(lang):
                    raise self.fail(item, _language_fix(lang))
        banner = self.banner(top.get("banner"))
        language_from = Config.language_from
        if "language_from" in top:
            language_from = self.strings(top["language_from"], "language_from")
            wrong = [s for s in language_from if s not in LANGUAGE_SOURCES]
            if wrong or len(set(language_from)) != len(language_from) or not language_from:
                raise self.fail(
                    top["language_from"],
                    "language_from must list some of "
                    f"{', '.join(LANGUAGE_SOURCES)}, each once, in the order to "
                    "try them" + (f" ({', '.join(wrong)} is none)" if wrong else ""),
                )
        for lang in languages:
            missing = TEXT_KEYS - banner.texts.get(lang, {}).keys()
            if lang not in TEXTS and missing:
                raise self.fail(
                    top.get("languages") or root,
                    f"language {lang!r} has no "
                    f"built-in banner texts ({', '.join(LANGUAGES)} have); give "
                    f"them all under banner.texts.{lang}: missing, in English to translate "
                    # (a key added by an upgrade stops such a config: what to write is said)
                    + "{"
                    + ", ".join(
                        f"{k}: {json.dumps(TEXTS['en'][k], ensure_ascii=False)}"
                        for k in sorted(missing)
                    )
                    + "}",
                )
        use_database, database_map = self.cookie_database(top.get("cookie_database"), names)
        consent_mode = self.consent_mode(top.get("consent_mode"), categories, services)
        gpc = tuple(c for c in ("advertising",) if c in names)
        required_names = {c.name for c in categories if c.required}
        if "gpc" in top:
            gpc = self.strings(top["gpc"], "gpc")
            unknown_gpc = [c for c in gpc if c not in names or c in required_names]
            if unknown_gpc:
                optional = ", ".join(sorted(names - required_names))
                raise self.fail(
                    top["gpc"],
                    f"gpc: {', '.join(unknown_gpc)} is not an optional "
                    f"category; use some of {optional} or [] to ignore the signal"
                    + did_you_mean(unknown_gpc[0], names - required_names),
                )
        trusted = self.networks(top["trusted_proxies"]) if "trusted_proxies" in top else ()
        loop = own_address(upstream, host, port)
        if loop is not None:
            raise self.fail(top["upstream"], loop)
        necessary = (
            self.strings(top["necessary_cookies"], "necessary_cookies")
            if "necessary_cookies" in top
            else ()
        )
        language_cookie = (
            self.matching(
                top["language_cookie"],
                "language_cookie",
                re.compile(r"[!#-+\-.0-9A-Z^-z|~]+"),
                "a cookie name",
            )
            if "language_cookie" in top
            else Config.language_cookie
        )
        owner = _cookie_owner(consent.cookie_name, necessary, services, language_cookie, former)
        if owner is not None:
            where = top.get("consent")
            raise self.fail(
                self.mapping(where, "consent", CONSENT_KEYS).get("cookie_name", where)
                if where is not None
                else root,
                f"consent.cookie_name {consent.cookie_name!r} is a cookie {owner} names "
                "too: the site's would be lost (the origin cannot set the consent cookie); "
                "give consent.cookie_name a name of its own",
            )
        return Config(
            source=self.source,
            upstream=upstream,
            listen_host=host,
            listen_port=port,
            prefix=prefix,
            consent=consent,
            csp=csp,
            csp_allow=self.csp_sources(top["csp_allow"]) if "csp_allow" in top else (),
            unknown_cookies=unknown,
            necessary_cookies=necessary,
            categories=categories,
            services=services,
            languages=languages,
            banner=banner,
            language_from=language_from,
            language_cookie=language_cookie,
            cookie_database=use_database,
            cookie_database_categories=database_map,
            sites=sites,
            testing=self.testing(top["testing"]) if "testing" in top else ForTesting(),
            consent_mode=consent_mode,
            gpc=gpc,
            dnt=self.boolean(top["dnt"], "dnt") if "dnt" in top else False,
            records=(
                self.records(top["records"], consent.max_age_days)
                if "records" in top
                else RecordsSettings()
            ),
            metrics_listen=self.metrics(top["metrics"], (host, port)) if "metrics" in top else None,
            access_log=(
                self.boolean(top["access_log"], "access_log") if "access_log" in top else True
            ),
            cap_cookie_lifetime_days=(
                self.integer(
                    top["cap_cookie_lifetime_days"], "cap_cookie_lifetime_days", 1, MAX_CONSENT_DAYS
                )
                if "cap_cookie_lifetime_days" in top
                else MAX_CONSENT_DAYS
            ),
            **self.tracker_keys(top, names),
            trusted_proxies=trusted,
            limits=self.limits(top["limits"]) if "limits" in top else Limits(),
            former_cmp=former,
            regions=self.regions(top["regions"], bool(trusted)) if "regions" in top else None,
        )

    def former_cmp(
        self,
        node: yaml.Node,
        categories: tuple[Category, ...],
        services: tuple[Service, ...],
        revision: int,
    ) -> FormerCmp:
        """`former_cmp: {tool: onetrust, neutralise: true, import: {C0002: analytics},
        until: 2026-12-01, revision: 1, path: /}` (revision: consent.revision's when the proxy
        took over, at most today's; path: where its cookies were set); with tool tcf,
        `vendors: {advertising: [755]}` too."""
        items = self.mapping(
            node,
            "former_cmp",
            {"tool", "neutralise", "import", "until", "revision", "vendors", "path"},
        )
        if "tool" not in items:
            raise self.fail(node, f"former_cmp needs tool: one of {', '.join(TOOLS)}")
        tool = self.word(items["tool"], "former_cmp.tool", TOOLS)
        if any(c.name == FORMER_CMP for c in categories):
            raise self.fail(
                node,
                f"with former_cmp, no category may be named {FORMER_CMP!r} "
                "(the neutralised tool's own); rename it",
            )
        optional = {c.name for c in categories if not c.required}
        imports = {}
        if "import" in items:
            table = items["import"]
            for group, value in self.mapping(table, "former_cmp.import", set(_keys(table))).items():
                if tool in FIXED_GROUPS and group not in FIXED_GROUPS[tool][1]:
                    known, groups = FIXED_GROUPS[tool]
                    raise self.fail(
                        value,
                        f"former_cmp.import: {known} has no group "
                        f"{group!r}; its groups are {', '.join(groups)}",
                    )
                category = self.string(value, f"former_cmp.import.{group}")
                if category not in optional:
                    raise self.fail(
                        value,
                        f"former_cmp.import.{group}: {category!r} is not an "
                        f"optional category; use one of {', '.join(sorted(optional))}"
                        " (leave out the tool's strictly necessary group)"
                        + did_you_mean(category, optional),
                    )
                imports[group] = category
        neutralise = (
            self.boolean(items["neutralise"], "former_cmp.neutralise")
            if "neutralise" in items
            else True
        )
        until = self.instant(items["until"], "former_cmp.until") if "until" in items else None
        if imports and until is None and tool in UNDATED:
            raise self.fail(
                items["import"],
                f"former_cmp.import: {tool}'s cookie keeps no time of the choice; give "
                "former_cmp.until the day the proxy took over (its choices are taken as made "
                "then)",
            )
        taken_over = 1
        if "revision" in items:
            taken_over = self.integer(items["revision"], "former_cmp.revision", 0, revision)
        vendors = {}
        if tool == "tcf":
            vendors = self.tcf_vendors(items.get("vendors"), set(imports.values()), services)
        elif "vendors" in items:
            raise self.fail(
                items["vendors"],
                "former_cmp.vendors: only tool: tcf stores vendors (its TC string's vendor "
                "section); leave it out",
            )
        path = self.string(items["path"], "former_cmp.path") if "path" in items else "/"
        if (
            len(path) > MAX_FORMER_PATH
            or not _COOKIE_DIRECTORY_RE.fullmatch(path)
            or any(unquote(part) in (".", "..") for part in path.split("/"))
        ):
            raise self.fail(
                items["path"],
                "former_cmp.path must be the directory the tool's cookies were set on, "
                "starting and ending with / (a WordPress in /blog/: /blog/; Complianz ends its "
                f"cookies' path with /), at most {MAX_FORMER_PATH} characters, no . or .. "
                "segment (%2e too) and no % but in an escape (%2F)",
            )
        if path != "/" and not fixed_cookies(tool):
            raise self.fail(
                items["path"],
                f"former_cmp.path: {tool}'s cookies are named by the site's id, which only a "
                "request sending them tells, and a browser sends none of another path to "
                "the erase: it could delete none there; leave path out",
            )
        return FormerCmp(tool, neutralise, imports, until, taken_over, vendors, path)

    def tcf_vendors(
        self, node: yaml.Node | None, imported: set[str], services: tuple[Service, ...]
    ) -> dict[str, frozenset[int]]:
        """`former_cmp.vendors: {advertising: [755], google-ads: []}`: the IAB TCF vendors an
        imported category needs consented, named for the category or for a service in it (a
        service's replace its tcf_vendor)."""
        listed: dict[str, tuple[int, ...]] = {}
        if node is not None:
            names = imported | {s.name for s in services if s.category in imported}
            for key, value in self.mapping(node, "former_cmp.vendors", set(_keys(node))).items():
                if key not in names:
                    service = next((s for s in services if s.name == key), None)
                    if service is not None:
                        raise self.fail(
                            value,
                            f"former_cmp.vendors: {key!r} is in category {service.category!r}"
                            ", which former_cmp.import maps nothing to, so its vendors would "
                            f"count for nothing; map a group to {service.category!r} or leave "
                            f"{key!r} out",
                        )
                    raise self.fail(
                        value,
                        f"former_cmp.vendors: {key!r} is neither a category former_cmp.import "
                        "maps to nor a service of this config"
                        + did_you_mean(key, names)
                        + f"; use one of {', '.join(sorted(names))}",
                    )
                what = f"former_cmp.vendors.{key}"
                if not isinstance(value, yaml.SequenceNode):
                    raise self.fail(value, f"{what} must be a list of vendor ids, e.g. [755]")
                listed[key] = tuple(
                    self.integer(n, f"each id of {what}", 1, TCF_MAX_VENDOR) for n in value.value
                )
        needed: dict[str, set[int]] = {c: set(listed.get(c, ())) for c in imported}
        for service in services:
            if service.category in needed:
                own = (service.tcf_vendor,) if service.tcf_vendor else ()
                ids = listed.get(service.name, own)
                needed[service.category].update(ids)
        return {c: frozenset(ids) for c, ids in needed.items() if ids}

    def instant(self, node: yaml.Node, name: str) -> float:
        """An ISO date (its midnight) or date-time, UTC unless it names an offset."""
        try:  # (the text as written: YAML would make a date of it)
            when = datetime.fromisoformat(node.value if isinstance(node, yaml.ScalarNode) else "")
        except ValueError:
            raise self.fail(
                node, f"{name} must be a date or a date-time (2026-12-01, 2026-12-01T09:00Z)"
            ) from None
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()

    def regions(self, node: yaml.Node, trusted: bool) -> Regions:
        """`regions: {header: CF-IPCountry, opt_out: [US-CA, US-CO]}`."""
        items = self.mapping(node, "regions", REGIONS_KEYS)
        if "header" not in items:
            raise self.fail(
                node,
                "regions needs header: the request header in which the CDN "
                "or load balancer names the visitor's country, e.g. CF-IPCountry",
            )
        if not trusted:
            raise self.fail(
                node,
                "regions needs trusted_proxies: the country header is "
                "believed only from them (anyone else could pick their regime)",
            )
        names = {
            k: self.matching(items[k], f"regions.{k}", HEADER_NAME_RE, "a header name")
            for k in ("header", "subdivision_header")
            if k in items
        }
        places = self.strings(items["opt_out"], "regions.opt_out") if "opt_out" in items else ()
        wrong = [p for p in places if not PLACE_RE.fullmatch(p)]
        if wrong:
            raise self.fail(
                items["opt_out"],
                f"regions.opt_out: {', '.join(wrong)} must be "
                "an upper-case ISO 3166 code: a country (US) or a country and "
                "subdivision (US-CA)",
            )
        if any("-" in p for p in places) and "subdivision_header" not in names:
            raise self.fail(
                items["opt_out"],
                "regions.opt_out names subdivisions (US-CA): "
                "give subdivision_header, the header that names them (e.g. "
                "CF-Region-Code)",
            )
        return Regions(names["header"], names.get("subdivision_header", ""), frozenset(places))

    def networks(self, node: yaml.Node) -> tuple[IPNetwork, ...]:
        """`trusted_proxies: [127.0.0.1, 10.0.0.0/8, ::1]`: addresses or CIDR blocks."""
        out = []
        for item, value in zip(
            node.value if isinstance(node, yaml.SequenceNode) else (),
            self.strings(node, "trusted_proxies"),
            strict=False,
        ):
            try:
                out.append(ipaddress.ip_network(value, strict=False))
            except ValueError:
                raise self.fail(
                    item,
                    f"trusted_proxies entry {value!r} must be an IP address "
                    "or a CIDR block such as 10.0.0.0/8 (no host names)",
                ) from None
        return tuple(out)

    def limits(self, node: yaml.Node) -> Limits:
        items = self.mapping(node, "limits", set(LIMIT_RANGES))
        return Limits(
            **{
                key: self.integer(value, f"limits.{key}", *LIMIT_RANGES[key])
                for key, value in items.items()
            }
        )

    def metrics(self, node: yaml.Node, listen: tuple[str, int]) -> tuple[str, int]:
        """`metrics: {listen: 127.0.0.1:9100}`: where Prometheus scrapes /metrics, never
        the public address (listen: the proxy's; the same failed as "cannot be bound")."""
        items = self.mapping(node, "metrics", {"listen"})
        if "listen" not in items:
            raise self.fail(node, "metrics needs listen: HOST:PORT, e.g. 127.0.0.1:9100")
        host, port = parse_listen(
            str(self.scalar(items["listen"])),
            self.source,
            items["listen"].start_mark.line + 1,
            "metrics.listen",
        )
        # (the same port on two addresses binds, unless one is every address)
        every = ("0.0.0.0", "::")
        if port == listen[1] != 0 and (host == listen[0] or host in every or listen[0] in every):
            raise self.fail(
                items["listen"],
                f"metrics.listen port {port} is listen's own: /metrics needs a port of its "
                "own, reached by Prometheus only (e.g. 127.0.0.1:9100)",
            )
        return host, port

    def records(self, node: yaml.Node, consent_days: int) -> RecordsSettings:
        """`records: {path: FILE}` (SQLite, relative to this file) or `{dsn: postgresql://}`,
        kept at least as long as a consent lasts (consent_days)."""
        items = self.mapping(node, "records", {"path", "dsn", "retention_days"})
        if ("path" in items) == ("dsn" in items):
            raise self.fail(
                node, "records needs one of path (a SQLite file) or dsn (postgresql://user@host/db)"
            )
        if "dsn" in items:
            target = self.string(items["dsn"], "records.dsn")
            if not target.startswith(("postgresql://", "postgres://")):
                raise self.fail(items["dsn"], "records.dsn must start with postgresql://")
        else:
            target = self.string(items["path"], "records.path")
            if target != ":memory:" and not Path(target).is_absolute():
                target = str(Path(self.source).parent / target)
        days = (
            self.integer(
                items["retention_days"],
                "records.retention_days (at most 5 years, the usual limitation period)",
                1,
                MAX_RECORDS_DAYS,
            )
            if "retention_days" in items
            else 395
        )
        if days < consent_days:  # (the purge would delete the proof of a consent in force)
            raise self.fail(
                items["retention_days"],
                f"records.retention_days ({days}) is shorter than consent.max_age_days "
                f"({consent_days}): the proof of a consent still in force would be deleted; "
                "keep records at least as long",
            )
        named = items.get("dsn") or items["path"]
        return RecordsSettings(target, days, named.start_mark.line + 1)

    def sites(self, node: yaml.Node) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, "sites must be a list, e.g. [www.example.com]")
        sites = []
        for n in node.value:
            site = self.matching(
                n,
                "site",
                SITE_RE,
                "a lower-case host name like "
                "www.example.com or *.example.com (no scheme, port or path)",
            )
            self.not_every_site(n, site, "site")
            sites.append(site)
        return tuple(sites)

    def testing(self, node: yaml.Node) -> ForTesting:
        items = self.mapping(node, "testing", TESTING_KEYS)
        if "state_header" not in items:
            return ForTesting()
        return ForTesting(state_header=self.boolean(items["state_header"], "testing.state_header"))

    def consent_mode(
        self,
        node: yaml.Node | None,
        categories: tuple[Category, ...],
        services: tuple[Service, ...],
    ) -> dict[str, tuple[str, ...]]:
        """`consent_mode: true | false | {signal: [category, ...]}`; on by default when a
        Google service is configured. Required categories grant the functionality and
        security signals; a signal whose categories are not in the config stays denied."""
        names = {c.name for c in categories}
        required = tuple(c.name for c in categories if c.required)
        # (only optional categories grant by default: a required `functional` granted
        # personalization_storage before any choice)
        chosen = names - set(required)
        defaults = {
            signal: tuple(c for c in cats if c in chosen)
            or (required if signal in ALWAYS_GRANTED_SIGNALS else ())
            for signal, cats in CONSENT_MODE_DEFAULTS.items()
        }
        if node is None:
            google = any(s.vendor == "Google" for s in services)
            return defaults if google else {}
        if isinstance(node, yaml.ScalarNode):
            value = _flag(self.scalar(node))
            if not isinstance(value, bool):
                raise self.fail(
                    node,
                    "consent_mode must be true, false or a mapping of "
                    "signals to categories, e.g. {analytics_storage: [analytics]}",
                )
            advanced = [s.name for s in services if s.consent_mode == "advanced"]
            if not value and advanced:
                raise self.fail(
                    node,
                    f"consent_mode: false, but {', '.join(advanced)} "
                    "loads before consent in Consent Mode's advanced mode, which "
                    "needs the denied signals; turn Consent Mode on or the "
                    "service's consent_mode: advanced off",
                )
            return defaults if value else {}
        out = dict(defaults)
        for signal, cats in self.mapping(node, "consent_mode", set(CONSENT_MODE_DEFAULTS)).items():
            listed = self.strings(cats, f"consent_mode.{signal}")
            unknown = [c for c in listed if c not in names]
            if unknown:
                raise self.fail(
                    cats,
                    f"consent_mode.{signal}: {', '.join(unknown)} is not a "
                    f"category; use {', '.join(sorted(names))}" + did_you_mean(unknown[0], names),
                )
            forced = [c for c in listed if c in required]
            if forced and signal not in ALWAYS_GRANTED_SIGNALS:
                optional = ", ".join(sorted(names - set(required))) or "none"
                raise self.fail(
                    cats,
                    f"consent_mode.{signal}: {', '.join(forced)} is required: the signal "
                    "would be granted before any choice; use optional categories "
                    f"({optional})",
                )
            out[signal] = listed
        return out

    def banner(self, node: yaml.Node | None) -> BannerSettings:
        if node is None:
            return BannerSettings()
        items = self.mapping(node, "banner", BANNER_KEYS)
        out = BannerSettings()
        if "position" in items:
            out = replace(
                out, position=self.word(items["position"], "banner.position", ("bar", "box"))
            )
        if "colors" in items:
            given = self.mapping(items["colors"], "banner.colors", set(DEFAULT_COLORS))
            colors = dict(DEFAULT_COLORS)
            for key, value in given.items():
                colors[key] = self.string(value, f"banner.colors.{key}")
                if not HEX_RE.fullmatch(colors[key]):
                    raise self.fail(value, f"banner.colors.{key} must be a #rgb or #rrggbb colour")
            problems = contrast_problems(colors)
            if problems:
                raise self.fail(
                    items["colors"], "; ".join(problems) + "; pick darker or lighter colours"
                )
            out = replace(out, colors=colors)
        urls: dict[str, Any] = {
            key: self.url(items[key], f"banner.{key}")
            for key in ("logo", "privacy_url", "cookie_policy_url")
            if key in items
        }
        out = replace(out, **urls)
        if "dpo" in items:
            out = replace(out, dpo=self.dpo(items["dpo"]))
        if "css" in items:
            out = replace(out, css=self.css_file(items["css"]))
        if "open_selectors" in items:
            out = replace(
                out, open_selectors=self.selectors(items["open_selectors"], "banner.open_selectors")
            )
        if "declaration_selectors" in items:
            out = replace(
                out,
                declaration_selectors=self.selectors(
                    items["declaration_selectors"], "banner.declaration_selectors"
                ),
            )
        if "texts" in items:
            texts: dict[str, dict[str, str]] = {}
            for lang, node_ in self.mapping(
                items["texts"], "banner.texts", set(_keys(items["texts"]))
            ).items():
                given = self.mapping(node_, f"banner.texts.{lang}", set(TEXT_KEYS))
                texts[lang] = {
                    k: self.text(v, f"banner.texts.{lang}.{k}", k) for k, v in given.items()
                }
            out = replace(out, texts=texts)
        return out

    def text(self, node: yaml.Node, what: str, key: str) -> str:
        """A banner text, with no {placeholder} but those its key is filled in with."""
        text = self.shown(node, what)
        allowed = PLACEHOLDERS.get(key, ())
        for name in PLACEHOLDER_RE.findall(text):
            if name not in allowed:
                use = " or ".join(f"{{{a}}}" for a in allowed) if allowed else "no {...}"
                raise self.fail(
                    node,
                    f"{what}: {{{name}}} is filled in with nothing; this text takes {use} "
                    "(kept as written, not translated)",
                )
        return text

    def url(self, node: yaml.Node, what: str) -> str:
        """A link or image the page shows: http(s), or a path on the site. Browsers read a
        path starting `/\\` as `//` (another host), and drop a tab or newline anywhere."""
        url = self.string(node, what)
        if not re.match(r"(https?://|/(?![/\\])|data:image/)", url) or re.search(
            r'["\x00-\x1f\x7f]', url
        ):
            raise self.fail(
                node,
                f"{what} must be an http(s) URL or a path starting with / (not // or /\\, "
                "which name another host; no control characters)",
            )
        return url

    def selectors(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        """Simple CSS selectors (rewrite/selectors.py), each checked now."""
        selectors = self.strings(node, what)
        for item, selector in zip(node.value, selectors, strict=True):
            try:
                parse_selectors(selector)
            except SelectorError as e:
                raise self.fail(item, f"{what}: {e}") from None
        return selectors

    def dpo(self, node: yaml.Node) -> dict[str, str]:
        """`dpo: {email: dpo@example.com, address: ..., url: ...}` (at least one)."""
        items = self.mapping(node, "banner.dpo", set(DPO_KEYS))
        if not items:
            raise self.fail(node, "banner.dpo needs email, address or url")
        out = {}
        for key, value in items.items():
            if key == "url":
                out[key] = self.url(value, "banner.dpo.url")
                continue
            out[key] = self.string(value, f"banner.dpo.{key}")
            if key == "email" and not re.fullmatch(
                r"[^@\s\"<>]+@[^@\s\"<>]+\.[^@\s\"<>]+", out[key]
            ):
                raise self.fail(
                    value,
                    f"banner.dpo.email {out[key]!r} must be an address such as dpo@example.com",
                )
        return out

    def css_file(self, node: yaml.Node) -> str:
        """The operator's CSS, read now so a missing file fails at start, not per page."""
        path = Path(self.string(node, "banner.css"))
        if path.suffix.lower() != ".css":  # (`css: env` beside the secret's file, inlined)
            raise self.fail(
                node,
                f"banner.css {path} must name a .css file: its text goes into every page, "
                "where a slip would publish another file",
            )
        if not path.is_absolute():
            path = Path(self.source).parent / path
        try:
            data = read_at_most(path, MAX_CSS)
            css = "" if len(data) > MAX_CSS else data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise self.fail(
                node,
                f"cannot read the CSS file {path} ({e}); give a path relative to this config file",
            ) from None
        if len(data) > MAX_CSS or "<" in css:
            raise self.fail(
                node,
                f"{path} must be plain CSS under {MAX_CSS // 1024} KB "
                "without '<' (it is inlined in the page)",
            )
        return css

    def cookie_database(
        self, node: yaml.Node | None, categories: set[str]
    ) -> tuple[bool, dict[str, str]]:
        """`cookie_database: true | false | {analytics: audience, ...}`."""
        if node is None:
            return True, {}
        if isinstance(node, yaml.ScalarNode):
            value = _flag(self.scalar(node))
            if not isinstance(value, bool):
                raise self.fail(
                    node,
                    "cookie_database must be true, false or a mapping of "
                    "its categories to yours, e.g. {analytics: audience}",
                )
            return value, {}
        items = self.mapping(node, "cookie_database", set(DATABASE_CATEGORIES))
        out = {}
        for key, value in items.items():
            target = self.name(value, f"cookie_database.{key}")
            if target not in categories:
                raise self.fail(
                    value,
                    f"cookie_database.{key}: category {target!r} is not "
                    f"defined; use one of {', '.join(sorted(categories))}"
                    + did_you_mean(target, categories),
                )
            out[key] = target
        return True, out

    def host_pattern(self, node: yaml.Node, host: str, service: str) -> None:
        """A `hosts` entry: a host, `*.` and a domain, or a host and a path; refused with what
        to write ("must be lower-case" was all a port, a Unicode name or *.com were told)."""
        if _unschemed(host):  # (pasted from a page)
            raise self.fail(
                node,
                f"host {host!r} of {service!r} is a URL; write it as a host: {_unschemed(host)}",
            )
        self.not_every_site(node, host.partition("/")[0], "host")
        if not HOST_RE.fullmatch(host):
            raise self.fail(
                node,
                f"host {host!r} of {service!r} "
                + (
                    f"must be written {_as_host(host)} {AS_HOST}"
                    if _as_host(host)
                    else "must be a host name with a dot, like cdn.example.com, "
                    "*.example.com or www.example.com/path (* only as the first label)"
                ),
            )

    def vendor_domain(self, node: yaml.Node, domain: str, service: str) -> None:
        """A `domains` entry: a registrable domain (every subdomain matches), never a public
        suffix shared by unrelated owners."""
        if _unschemed(domain):
            raise self.fail(
                node,
                f"domain {domain!r} of {service!r} is a URL; write the domain alone: "
                f"{_unschemed(domain).partition('/')[0]}",
            )
        if not HOST_RE.fullmatch(domain) or "/" in domain or domain.startswith("*."):
            fixed = _as_host(domain)
            raise self.fail(
                node,
                f"domain {domain!r} of {service!r} "
                + (
                    f"must be written {fixed} {AS_HOST}"
                    if fixed and "/" not in fixed and not fixed.startswith("*.")
                    else "must be a domain like example.com (a path or *. belongs under hosts)"
                ),
            )
        if is_public_suffix(domain):
            raise self.fail(
                node,
                f"domain {domain!r} of {service!r} is a public suffix shared "
                "by many owners; list the vendor's own hosts under hosts",
            )
        if registrable(domain) != domain:
            raise self.fail(
                node,
                f"domain {domain!r} of {service!r} is not a registrable "
                f"domain (that is {registrable(domain)!r}); list {domain} under "
                f"hosts, or {registrable(domain)} here if the vendor owns all of it",
            )

    def tracker_keys(self, top: dict[str, yaml.Node], names: set[str]) -> dict[str, Any]:
        """known_trackers, unknown_third_parties and tracker_lists (files relative to this
        config, each read now so a missing or bad one fails at start)."""
        out: dict[str, Any] = {}
        if "known_trackers" in top:
            out["known_trackers"] = self.word(
                top["known_trackers"], "known_trackers", ("hold", "allow")
            )
        if "unknown_third_parties" in top:
            value = self.word(
                top["unknown_third_parties"],
                "unknown_third_parties",
                ("allow", "block"),
                "a category name",
            )
            if value not in ("allow", "block") and value not in names:
                raise self.fail(
                    top["unknown_third_parties"],
                    "unknown_third_parties must be "
                    f"allow, block or a category name ({', '.join(sorted(names))})"
                    + did_you_mean(value, {"allow", "block", *names}),
                )
            out["unknown_third_parties"] = value
        if "tracker_lists" in top:
            paths = []
            for item, value in zip(
                top["tracker_lists"].value,
                self.strings(top["tracker_lists"], "tracker_lists"),
                strict=True,
            ):
                path = (
                    Path(value) if Path(value).is_absolute() else Path(self.source).parent / value
                )
                try:
                    read_layer(path)
                except ConfigError as e:
                    raise self.fail(item, f"tracker_lists: {e}") from None
                paths.append(str(path))
            out["tracker_lists"] = tuple(paths)
        return out

    def consent(self, node: yaml.Node | None) -> ConsentSettings:
        if node is None:
            return ConsentSettings()
        items = self.mapping(node, "consent", CONSENT_KEYS)
        s = ConsentSettings()
        if "cookie_name" in items:
            name = self.string(items["cookie_name"], "consent.cookie_name")
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise self.fail(
                    items["cookie_name"],
                    "consent.cookie_name may hold only letters, digits, '_', '.' and '-'",
                )
            s = replace(s, cookie_name=name)
        if "max_age_days" in items:
            s = replace(
                s,
                max_age_days=self.integer(
                    items["max_age_days"],
                    "consent.max_age_days (at most 13 months)",
                    1,
                    MAX_CONSENT_DAYS,
                ),
            )
        if "revision" in items:
            s = replace(
                s, revision=self.integer(items["revision"], "consent.revision", 0, 1_000_000)
            )
        if "secret_env" in items:
            name = self.string(items["secret_env"], "consent.secret_env")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise self.fail(
                    items["secret_env"],
                    f"consent.secret_env {name!r} is no environment variable's name; use "
                    "letters, digits and '_', e.g. CONSENTPROXY_SECRET",
                )
            s = replace(s, secret_env=name)
        if "cookie_domain" in items and self.scalar(items["cookie_domain"]) is not None:
            domain = self.string(items["cookie_domain"], "consent.cookie_domain").lower()
            if (
                not re.fullmatch(r"\.?[a-z0-9-]+(\.[a-z0-9-]+)+", domain)
                or domain.replace(".", "").isdigit()
                or is_public_suffix(domain.lstrip("."))
            ):  # (a browser refuses a cookie on an address or a public suffix: no choice kept)
                raise self.fail(
                    items["cookie_domain"],
                    "consent.cookie_domain must be the site's own domain such as .example.com "
                    "(no address, no public suffix such as .co.uk; or null)",
                )
            if s.cookie_name.lower().startswith("__host-"):  # (browsers: in any case)
                raise self.fail(
                    items["cookie_domain"],
                    f"consent.cookie_domain with cookie_name {s.cookie_name}: a browser refuses "
                    "a __Host- cookie with a Domain; drop one of them",
                )
            s = replace(s, cookie_domain=domain)
        return s

    def categories(self, node: yaml.Node | None, root: yaml.Node) -> tuple[Category, ...]:
        if node is None:
            raise self.fail(
                root,
                "missing 'categories': list at least "
                "'necessary: {required: true}' and one optional category",
            )
        self.mapping(node, "categories", set(_keys(node)))  # a mapping, no duplicates
        out = []
        for key_node, value in node.value:
            name = self.name(key_node, "category name")
            if name in STATE_WORDS:
                raise self.fail(
                    key_node,
                    f"category name {name!r} is a consent state's word (--state and scan "
                    f"--states read {', '.join(STATE_WORDS)} as states); give it another name",
                )
            fields = (
                self.mapping(value, f"category {name}", CATEGORY_KEYS)
                if not (isinstance(value, yaml.ScalarNode) and value.value == "")
                else {}
            )
            required = (
                self.boolean(fields["required"], "required") if "required" in fields else False
            )
            builtin = CATEGORY_TEXTS.get(name, {})  # the usual names have words of their own
            out.append(
                Category(
                    name=name,
                    required=required,
                    title=self.texts(fields["title"], f"categories.{name}.title")
                    if "title" in fields
                    else (
                        {lang: t for lang, (t, _) in builtin.items()} or {"en": name.capitalize()}
                    ),
                    description=self.texts(fields["description"], f"categories.{name}.description")
                    if "description" in fields
                    else {lang: d for lang, (_, d) in builtin.items()},
                )
            )
        if not any(c.required for c in out):
            raise self.fail(
                node,
                "one category must have required: true (the strictly "
                "necessary cookies, e.g. necessary: {required: true})",
            )
        if all(c.required for c in out):
            raise self.fail(
                node,
                "add at least one optional category (required: false): "
                "otherwise there is nothing to consent to",
            )
        return tuple(out)

    def cookie_room(self, node: yaml.Node, categories: tuple[Category, ...], revision: int) -> None:
        """The consent cookie of a visitor who accepts all must fit in the MAX_COOKIE_LEN
        the proxy reads back: a choice too long is saved narrowed (consent.Signer.fitting),
        which can leave off services granted one by one, never a category (40 categories of
        30 characters: accept-all granted 25, and said a false text)."""
        from consentproxy.consent import (  # (consent reads this module's did_you_mean)
            MAX_COOKIE_LEN,
            category_digests,
            longest_cookie,
        )

        optional = [c.name for c in categories if not c.required]
        # (each category's digest of its services: its length counts, not its value)
        digests = category_digests({c.name: () for c in categories})
        size = longest_cookie(optional, (), revision, digests)
        if size > MAX_COOKIE_LEN:
            raise self.fail(
                node,
                f"the consent cookie of a visitor who accepts all {len(optional)} optional "
                f"categories is {size:,} characters, over the {MAX_COOKIE_LEN:,} the proxy "
                "reads back; use fewer categories, or shorter category names",
            )

    def services(self, node: yaml.Node | None, categories: set[str]) -> tuple[Service, ...]:
        if node is None:
            return ()
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(
                node, "services must be a list of '- use: NAME' or '- name: ...' entries"
            )
        out: dict[str, Service] = {}
        for item in node.value:
            if isinstance(item, yaml.ScalarNode) and item.value:  # (as sites are written)
                word = str(item.value)
                raise self.fail(
                    item,
                    f"a service entry is a mapping, not the word {word!r}; write - use: "
                    + (
                        word
                        if word in builtin_services()
                        else "NAME for a built-in (`consentproxy catalog list`), or describe "
                        "it: - {name: ..., category: ..., hosts: [...]}"
                    ),
                )
            fields = self.mapping(item, "a service", SERVICE_KEYS)
            if "use" in fields:
                wanted = self.string(fields["use"], "use")
                base = builtin_services().get(wanted)
                if base is None:
                    raise self.fail(
                        fields["use"],
                        f"no built-in service {wanted!r}"
                        f"{did_you_mean(wanted, builtin_services())}; "
                        "run `consentproxy catalog list` or describe it with "
                        "name/category/hosts",
                    )
            elif "name" in fields:
                base = Service(name=self.name(fields["name"], "service name"), category="")
            else:
                raise self.fail(item, "a service needs 'use: BUILTIN' or 'name: ...'")
            replaced = self.replaced(fields, item)
            # A built-in's lists grow with what the entry adds, unless it says `replace:`.
            changes: dict[str, Any] = {
                **{k: self.string(fields[k], k) for k in SERVICE_TEXT_KEYS if k in fields},
                **{k: self.url(fields[k], k) for k in ("privacy_url",) if k in fields},
                **{k: self.texts(fields[k], k) for k in TRANSLATED_KEYS if k in fields},
                **{
                    k: tuple(
                        dict.fromkeys(
                            (() if k in replaced else getattr(base, k)) + self.strings(fields[k], k)
                        )
                    )
                    for k in SERVICE_LISTS
                    if k in fields
                },
            }
            for entry in fields["cookies"].value if "cookies" in fields else ():
                if not entry.value.strip("*"):  # (after strings(): a list of scalars)
                    raise self.fail(
                        entry,
                        f"cookie pattern {entry.value!r} claims every cookie of the site for "
                        "this service, its session cookies too (logins fail until consent); "
                        "name the service's own, e.g. _hj*",
                    )
            for entry in fields["globals"].value if "globals" in fields else ():
                if not GLOBAL_RE.fullmatch(entry.value):  # (after strings(): scalars)
                    raise self.fail(
                        entry,
                        f"global {entry.value!r} must be one of {GLOBAL_FORMS}, such as "
                        "ga(), _gaq[] or googletag.cmd[]",
                    )
            svc = replace(base, **changes)
            if "name" in fields and "use" in fields:
                svc = replace(svc, name=self.name(fields["name"], "service name"))
            if "category" in fields:
                svc = replace(svc, category=self.name(fields["category"], "category"))
            elif svc.category not in categories and "use" in fields:
                # (a config of social and no advertising, as the seed policies', took
                # `use: linkedin-insight` before it became advertising: it still does)
                neighbour = NEIGHBOUR_CATEGORY.get(svc.category)
                if neighbour in categories:
                    svc = replace(svc, category=neighbour)
            if "tcf_vendor" in fields:
                vendor = self.integer(
                    fields["tcf_vendor"], f"tcf_vendor of {svc.name!r}", 1, TCF_MAX_VENDOR
                )
                svc = replace(svc, tcf_vendor=vendor)
            if "consent_mode" in fields:
                svc = replace(
                    svc,
                    consent_mode=self.word(
                        fields["consent_mode"],
                        f"consent_mode of {svc.name!r}",
                        SERVICE_CONSENT_MODES,
                    ),
                )
                if svc.consent_mode == "advanced" and svc.vendor != "Google":
                    raise self.fail(
                        fields["consent_mode"],
                        f"consent_mode: advanced is for "
                        f"Google tags, which read Consent Mode's signals; "
                        f"{svc.name!r} is not one (give vendor: Google if it is, "
                        "e.g. your server-side tagging host)",
                    )
            where = fields.get("category") or fields.get("use") or fields.get("name")
            if not svc.category:
                raise self.fail(
                    item,
                    f"service {svc.name!r} has no category; give it category: one of "
                    f"{', '.join(sorted(categories))}",
                )
            if svc.category not in categories:
                raise self.fail(
                    where,
                    f"service {svc.name!r} is in category "
                    f"{svc.category!r}, which is not defined; use one "
                    f"of {', '.join(sorted(categories))} or add it under categories"
                    + did_you_mean(svc.category, categories),
                )
            if not (svc.hosts or svc.domains or svc.cookies or svc.inline):
                raise self.fail(
                    item,
                    f"service {svc.name!r} names no hosts, domains, cookies "
                    "or inline markers, so it can never match anything",
                )
            if svc.embed and svc.embed not in EMBED_KINDS:
                raise self.fail(
                    fields.get("embed", item),
                    f"embed {svc.embed!r} of {svc.name!r} must be one of {', '.join(EMBED_KINDS)}",
                )
            for entry in fields["hosts"].value if "hosts" in fields else ():  # (scalars)
                self.host_pattern(entry, entry.value, svc.name)  # (at the entry's own line)
            for entry in fields["domains"].value if "domains" in fields else ():
                self.vendor_domain(entry, entry.value, svc.name)
            if svc.name in out:
                raise self.fail(item, f"service {svc.name!r} is listed twice; keep one")
            out[svc.name] = svc
        return tuple(out.values())

    def replaced(self, fields: dict[str, yaml.Node], item: yaml.Node) -> tuple[str, ...]:
        """`replace: [cookies]`: which of a built-in's lists the entry replaces rather than
        extends (each must be given, and only on a `use:` entry)."""
        if "replace" not in fields:
            return ()
        node = fields["replace"]
        names = self.strings(node, "replace")
        for name in names:
            if name not in SERVICE_LISTS:
                raise self.fail(
                    node,
                    f"replace: {name!r} is not a list of a service; use "
                    f"some of {', '.join(SERVICE_LISTS)}",
                )
            if "use" not in fields:
                raise self.fail(
                    node,
                    "replace: only a built-in service (use: NAME) has lists "
                    "to replace; describe yours with hosts/cookies/inline",
                )
            if name not in fields:
                raise self.fail(
                    node, f"replace: [{name}] needs the {name} list that replaces the built-in one"
                )
        return names


def read_services(text: str, source: str, categories: frozenset[str]) -> tuple[Service, ...]:
    """Read a file holding only a `services:` list (the built-in catalog)."""
    root = yaml_tree(text, source)
    reader = _Reader(source)
    return reader.services(
        reader.mapping(root, "the catalog", {"services"})["services"], set(categories)
    )


def _cookie_owner(
    name: str,
    necessary: tuple[str, ...],
    services: tuple[Service, ...],
    language_cookie: str,
    former: FormerCmp | None,
) -> str | None:
    """Who else names this cookie exactly (the config, the former consent tool, the
    catalog, the Open Cookie Database), or None: a consent cookie of that name took the
    place of the site's own (a PHPSESSID: every login lost)."""
    if name in necessary:
        return "necessary_cookies"
    if name == language_cookie:
        return "language_cookie"
    if former is not None and tool_cookies(former.tool, [name]):
        return f"the former consent tool ({former.tool})"
    for svc in (*services, *builtin_services().values()):
        if name in svc.cookies:
            return f"the service {svc.name}"
    known = cookie_database().exact.get(name)
    return None if known is None else f"{known.platform} (Open Cookie Database)"


@cache
def builtin_services() -> dict[str, Service]:
    """Built-in services by name (read once: the file ships with the package), checked by
    the same reader as a config's own services."""
    services = read_services(
        CATALOG_FILE.read_text(encoding="utf-8"), str(CATALOG_FILE), CATALOG_CATEGORIES
    )
    return translated({s.name: s for s in services})


def catalog_config() -> Config:
    """A config using every built-in service in its default category (for `catalog` CLI
    commands and tests)."""
    return Config(
        source=str(CATALOG_FILE),
        upstream="http://catalog.invalid",
        categories=tuple(
            Category(c, required=c == "necessary") for c in sorted(CATALOG_CATEGORIES)
        ),
        services=tuple(builtin_services().values()),
    )


def _neutralised(services: tuple[Service, ...], tool: str) -> tuple[Service, ...]:
    """The services with the former consent tool (the config's entry for it, else the
    built-in) in the category nothing allows: its scripts, loaders and cookies never pass."""
    given = next((s for s in services if s.name == tool), builtin_services()[tool])
    return (*(s for s in services if s.name != tool), replace(given, category=FORMER_CMP))


# A number as people write it; YAML 1.1 reads 030 as octal (24), 3:05 as base 60 (185),
# 0b10, 0x10 and 1_000 too: a value other than the one meant.
_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")


def _unschemed(value: str) -> str:
    """A host written as a URL, as a host entry is written (lower-case, no scheme, no port,
    no lone final '/'); "" when it is none."""
    scheme, sep, rest = value.partition("://")
    if not sep or not scheme.isalpha():
        return ""
    host, slash, path = rest.partition("/")
    return re.sub(r":[0-9]*$", "", host).lower() + (slash + path if path else "")


def _as_host(value: str) -> str:
    """A host entry as it must be written (lower case, no port, an internationalised name in
    its xn-- form); "" when that is no host pattern either."""
    host, slash, path = value.partition("/")
    try:
        host = re.sub(r":[0-9]*$", "", host).lower().encode("idna").decode("ascii")
    except UnicodeError:
        return ""
    return host + slash + path if HOST_RE.fullmatch(host + slash + path) else ""


def _decimal_fix(written: str) -> str:
    """What to write instead of a number YAML 1.1 reads in another base or form."""
    digits = written.replace("_", "").lstrip("+-")
    if digits.isdigit():
        meant = written[0].strip("0123456789") + (digits.lstrip("0") or "0")
        return f"write {meant}, not {written}"
    return "write the number meant in decimal digits"


def _flag(value: object) -> object:
    """A boolean given as a quoted word ("off", 'yes') is that boolean."""
    return YAML_WORDS.get(value.lower(), value) if isinstance(value, str) else value


def _keys(node: yaml.Node) -> list[str]:
    return [str(k.value) for k, _ in node.value] if isinstance(node, yaml.MappingNode) else []
