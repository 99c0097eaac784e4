"""Header lists as adapters hand them over: ordered (name, value) pairs, names any case."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from functools import lru_cache
from urllib.parse import SplitResult, urlsplit

from consentproxy.domains import MAX_HOST_NAME

Headers = list[tuple[str, str]]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    }
)


# What no header value may hold: a control character other than HTAB (browsers ignore a
# Set-Cookie with one; HTTP servers refuse to send one).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def sendable(value: str) -> bool:
    return _CONTROL_RE.search(value) is None


def spaced(value: str) -> str:
    """A value with each control character (but tab) read as a space."""
    return _CONTROL_RE.sub(" ", value)


def all_sendable(headers: Headers) -> bool:
    """Whether every value is sendable: one search over them all (a tab joins them)."""
    return _CONTROL_RE.search("\t".join([v for _, v in headers])) is None


def header(headers: Headers, name: str) -> str | None:
    """The first value of a header, or None."""
    name = name.lower()
    return next((v for k, v in headers if k.lower() == name), None)


def without(headers: Headers, *names: str) -> Headers:
    drop = {n.lower() for n in names}
    return [(k, v) for k, v in headers if k.lower() not in drop]


def split_off(
    headers: Headers, drop: Collection[str], lists: Collection[str] = ()
) -> tuple[Headers, dict[str, str]]:
    """The headers without those named in drop (lower case; a frozenset of them is built
    once by the caller), and the first value of each of them: without() and header() in
    one pass. Of a list field named in lists, every value, joined (see joined)."""
    kept: Headers = []
    found: dict[str, str] = {}
    for k, v in headers:
        lk = k.lower()
        if lk in drop:
            found[lk] = joined(found[lk], v) if lk in found and lk in lists else found.get(lk, v)
        else:
            kept.append((k, v))
    return kept, found


def joined(before: str, after: str) -> str:
    """Two field lines of a list field as one (RFC 9110 5.3: a recipient may combine them so;
    read as one, a second Cache-Control line's no-store is not lost)."""
    return f"{before}, {after}" if before and after else before or after


def named(headers: Headers) -> list[tuple[str, str, str]]:
    """Each header as (lower-case name, name, value): the name is lowered once."""
    return [(k.lower(), k, v) for k, v in headers]


def end_to_end(named: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Headers (as named() gives them) minus hop-by-hop ones, including those a Connection
    header lists."""
    if HOP_BY_HOP.isdisjoint([h[0] for h in named]):  # the usual case: all of them
        return named
    kept = [h for h in named if h[0] not in HOP_BY_HOP]
    listed = {t.strip().lower() for n, _, v in named if n == "connection" for t in v.split(",")}
    return [h for h in kept if h[0] not in listed] if listed else kept


def end_to_end_pairs(headers: Headers, names: list[str]) -> list[tuple[str, tuple[str, str]]]:
    """end_to_end(named(headers)) as (lower-case name, (name, value)), names: each header's
    name in lower case: without a hop-by-hop header (the usual case) the pairs are the
    headers' own, no triple made for each."""
    if HOP_BY_HOP.isdisjoint(names):
        return list(zip(names, headers))
    return [(lk, (k, v)) for lk, k, v in end_to_end(named(headers))]


# A Host header: a name (labels, at most 253 bytes) or an IPv4 or [IPv6] address, and a port.
HOST_RE = re.compile(
    r"(?:(?P<name>[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?)"
    r"|\[(?P<ip6>[0-9A-Fa-f:.]{2,45})\])(?::(?P<port>[0-9]{1,5}))?"
)


@lru_cache(maxsize=256)  # a site's few Host values, checked on every request
def valid_host(host: str) -> bool:
    """A Host (or X-Forwarded-Host) value: a host name or IP address and an optional port;
    anything else (userinfo, paths, controls, 2,000 labels) is refused."""
    m = HOST_RE.fullmatch(host)
    if m is None or m["port"] is not None and int(m["port"]) > 65535:
        return False
    if m["ip6"] is not None:
        try:
            ipaddress.IPv6Address(m["ip6"])
        except ValueError:
            return False
        return True
    return len(m["name"]) <= MAX_HOST_NAME


def number(text: str, digits: int = 19) -> int | None:
    """A count or a time a visitor or an origin sent, when it is one: ASCII digits, not too
    many ('²' is a digit to isdigit but not to int, and int refuses more than 4,300 digits:
    each was a 500)."""
    if 0 < len(text) <= digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def split_url(url: str) -> SplitResult | None:
    """A URL a visitor sent (an Origin, a Referer, a request target) in its parts; None for
    one urlsplit refuses (an IPv6 bracket left open, `http://[::1`: a ValueError was a 500)."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


_ESSENCE_RE = re.compile(r"[^ \t;(]*")


def type_essence(value: str) -> str:
    """A Content-Type item's essence, lower-cased, as Chromium reads it (net's
    ParseContentType): it ends at whitespace, `;` or `(`. The engine decides by it what is a
    page, and the rewriter what is XML: read another way (up to `;` alone), `text/html
    charset=xml` was XML to the rewriter and HTML to the browser, `application/xhtml+xml(x)`
    the reverse, and what each reading hides the other runs."""
    return _ESSENCE_RE.match(value.strip(" \t"))[0].lower()  # type: ignore[index]
