"""Cookie headers: which ones pass, and how to delete what consent no longer covers.

Only cookie *names* decide, so parsing is deliberately minimal and tolerant: a
Set-Cookie's name is what precedes the first '=' of its first ';'-separated part
(RFC 6265bis 5.6), whatever the attributes, their case or an `Expires` with commas.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from consentproxy.domains import same_site

EXPIRED = "Expires=Thu, 01 Jan 1970 00:00:00 GMT"
# Cookie headers whose pairs are remembered (each at most limits.header_line_bytes long).
COOKIE_HEADERS = 256
KNOWN_NAMES, KNOWN_NAME_LEN = 256, 64  # a filter's answers remembered, for names this short


def set_cookie_name(header_value: str) -> str:
    """The cookie name a Set-Cookie value sets ('' for a nameless cookie)."""
    pair = header_value.split(";", 1)[0]
    name, eq, _ = pair.partition("=")
    return name.strip(" \t") if eq else ""


@lru_cache(maxsize=COOKIE_HEADERS)
def cookie_pairs(header_value: str) -> tuple[tuple[str, str], ...]:
    """(name, value) pairs of a request Cookie header, in order (remembered: a request's
    header is read for its consent, its language, the cookies sent on and deleted)."""
    out = []
    for part in header_value.split(";"):
        name, eq, value = part.partition("=")
        name = name.strip(" \t")
        if name or eq:
            out.append((name if eq else "", (value if eq else name).strip(" \t")))
    return tuple(out)


def lifetime(header_value: str, now: float) -> float | None:
    """Seconds a Set-Cookie asks to live, as a browser reads it (RFC 6265bis 5.6.1-5.6.2: the
    last readable Max-Age wins over the last readable Expires); None: a session cookie. Read
    otherwise (Python's int() and its e-mail dates), `Max-Age=1_0` or a date a browser takes
    escaped the cap, and an `Expires` a browser ignores turned a session cookie into one kept
    for the cap's whole length."""
    max_age = expires = None
    for attr in header_value.split(";")[1:]:
        key, _, value = attr.partition("=")
        key, value = key.strip(" \t").lower(), value.strip(" \t")
        if key == "max-age" and _MAX_AGE_RE.fullmatch(value):
            digits = value.lstrip("-")
            max_age = float(int(digits[:18])) * (-1 if value[0] == "-" else 1)  # (a lot: capped)
        elif key == "expires":
            when = cookie_date(value)
            expires = when - now if when is not None else expires
    return max_age if max_age is not None else expires


_MAX_AGE_RE = re.compile(r"-?[0-9]+")
_DATE_TOKEN_RE = re.compile(r"[^\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+")
_TIME_RE = re.compile(r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[^0-9].*)?", re.DOTALL)
_DAY_RE = re.compile(r"([0-9]{1,2})(?:[^0-9].*)?", re.DOTALL)
_YEAR_RE = re.compile(r"([0-9]{2,4})(?:[^0-9].*)?", re.DOTALL)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def cookie_date(value: str) -> float | None:
    """An Expires value as a browser reads it (RFC 6265bis 5.1.1), as a Unix time; None if
    a browser would ignore it (a time without seconds, a day that does not exist...)."""
    hms = day = month = year = None
    for token in _DATE_TOKEN_RE.findall(value):
        if hms is None and (m := _TIME_RE.fullmatch(token)):
            hms = tuple(map(int, m.groups()))
        elif day is None and (m := _DAY_RE.fullmatch(token)):
            day = int(m[1])
        elif month is None and token[:3].lower() in _MONTHS:
            month = _MONTHS.index(token[:3].lower()) + 1
        elif year is None and (m := _YEAR_RE.fullmatch(token)):
            year = int(m[1])
    if hms is None or day is None or month is None or year is None:
        return None
    year += 1900 if 70 <= year <= 99 else 2000 if year <= 69 else 0
    hour, minute, second = hms
    if not 1 <= day <= 31 or year < 1601 or hour > 23 or minute > 59 or second > 59:
        return None
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()
    except ValueError:  # (no such day: 30 February)
        return None


def capped(header_value: str, max_seconds: int, now: float) -> str:
    """The Set-Cookie unchanged, or with its lifetime cut to max_seconds (Max-Age only)."""
    life = lifetime(header_value, now)
    if life is None or life <= max_seconds:
        return header_value
    pair, *attrs = header_value.split(";")
    kept = [
        a for a in attrs if a.partition("=")[0].strip(" \t").lower() not in ("max-age", "expires")
    ]
    return ";".join([pair, *kept, f" Max-Age={max_seconds}"])


@dataclass(frozen=True)
class CookieFilter:
    """Split cookies into kept and dropped with a predicate on the name."""

    rule: Callable[[str], bool]
    # The rule's answers for names seen (visitors send the same few): see KNOWN_NAMES.
    _known: dict[str, bool] = field(default_factory=dict, init=False, compare=False, repr=False)

    def allowed(self, name: str) -> bool:
        found = self._known.get(name)
        if found is None:
            found = self.rule(name)
            if len(name) <= KNOWN_NAME_LEN:
                if len(self._known) >= KNOWN_NAMES:
                    self._known.clear()
                self._known[name] = found
        return found

    def request_header(self, header_value: str) -> tuple[str | None, list[str]]:
        """The Cookie header to forward upstream (None: send none) and the dropped names."""
        kept, dropped = [], []
        for name, value in cookie_pairs(header_value):
            if self.allowed(name):
                kept.append(f"{name}={value}" if name else value)
            else:
                dropped.append(name)
        return ("; ".join(kept) if kept else None), dropped

    def set_cookies(self, values: Iterable[str]) -> tuple[list[str], list[str]]:
        """Set-Cookie values to keep, and the names of those dropped."""
        kept, dropped = [], []
        for value in values:
            name = set_cookie_name(value)
            if self.allowed(name):
                kept.append(value)
            else:
                dropped.append(name)
        return kept, dropped


# A request's cookies are the visitor's to choose: what their deletion costs is bounded.
# Deletions go in at most this much Set-Cookie text a response: a front proxy's buffer for a
# whole response head is often 4 KiB (nginx's proxy_buffer_size), and a head past it failed
# every page (a 502) for a visitor with 15 tracker cookies; the rest go with the next ones.
MAX_DELETION_BYTES = 2048
MAX_DELETION_DOMAINS = 8  # the host and its parents nearest the root
MAX_DELETION_PATHS = 4  # directories of the request's path (and /)
_NAME_RE = re.compile(r"[\x21-\x7e]+")  # printable ASCII (no control, space or 8-bit)


def deletion_headers(
    names: Iterable[str],
    host: str,
    cookie_domain: str | None,
    secure: bool,
    path: str = "/",
    on_parents: Callable[[str], bool] = lambda _: True,
) -> list[str]:
    """Set-Cookie values deleting each cookie wherever it may have been set: a browser
    deletes only the cookie of the same name, domain and path (RFC 6265bis 5.7).

    Domains: host-only, the host, and its parents (a cookie may have been set by JavaScript
    on `.example.com` while we serve `www.example.com`; browsers refuse a Domain that is a
    public suffix), down to cookie_domain when set; parents only for the names on_parents
    lets through (an unknown name may be a sibling site's own session: deleted on the
    parent, the visitor would be logged out there). Paths: / first, then the directories of
    the request's path (a tracker set on /blog comes with /blog/post and is deleted by
    Path=/blog alone). At most MAX_DELETION_BYTES of them: when they do not all fit, the
    names go in a random order (what one response deleted no longer comes back, and the
    next deletes others).
    """
    domains = deletion_domains(host, cookie_domain)
    valid = (n for n in names if _NAME_RE.fullmatch(n) and ";" not in n and "=" not in n)
    unique = list(dict.fromkeys(valid))
    paths = ["/", *_directories(path)]
    # (by path: every name under / before any under a directory)
    tiers = [[_deletions(n, p, domains, secure, on_parents) for n in unique] for p in paths]
    out: list[str] = []
    room = MAX_DELETION_BYTES
    for tier in tiers:
        if sum(len(v) for lines in tier for v in lines) > room:
            random.shuffle(tier)
        for lines in tier:
            for value in lines:
                if len(value) <= room:
                    out.append(value)
                    room -= len(value)
    return out


def _deletions(
    name: str, path: str, domains: list[str], secure: bool, on_parents: Callable[[str], bool]
) -> list[str]:
    """The Set-Cookie values deleting one name under one path (host-only, then on each
    domain). Prefixes are matched in any case, as browsers do."""
    low = name.lower()
    host_prefix = low.startswith("__host-")
    flags = "; Secure" if secure or host_prefix or low.startswith("__secure-") else ""
    if host_prefix:  # (only ever host-only, under /)
        return [f"{name}=; Max-Age=0; {EXPIRED}; Path=/{flags}"] if path == "/" else []
    kept = domains if on_parents(name) else domains[:1]
    return [f"{name}=; Max-Age=0; {EXPIRED}; Path={path}{flags}"] + [
        f"{name}=; Max-Age=0; {EXPIRED}; Path={path}; Domain={d}{flags}" for d in kept
    ]


def _directories(path: str) -> list[str]:
    """The directories a cookie sent with a request to path may have been set on (but /):
    /a/b/c -> /a, /a/b. Past MAX_DELETION_PATHS - 1 of them, those nearest the root and the
    request's own directory, the default path of a cookie set with none by a response to a
    page there (/a/b/c/d/e -> /a, /a/b, /a/b/c/d): the guard in the page deletes what
    JavaScript can read on any of them, but an HttpOnly one only a response can delete."""
    parts = path.split("?", 1)[0].split("#", 1)[0].split("/")[1:-1]
    found = ["/" + "/".join(parts[: i + 1]) for i in range(len(parts)) if parts[i]]
    valid = [p for p in found if ";" not in p and _NAME_RE.fullmatch(p)]
    return (
        valid if len(valid) < MAX_DELETION_PATHS else valid[: MAX_DELETION_PATHS - 2] + valid[-1:]
    )


def deletion_domains(host: str, cookie_domain: str | None) -> list[str]:
    """The Domain attributes to delete with: the host, its parents down to cookie_domain
    (or the MAX_DELETION_DOMAINS nearest the root, whatever the host's depth), and
    cookie_domain."""
    host = host.split(":")[0].lower().rstrip(".")
    base = cookie_domain.lstrip(".") if cookie_domain else None
    out: list[str] = []
    if (
        host and not host.replace(".", "").isdigit() and not host.startswith("[") and "." in host
    ):  # IP addresses and single-label hosts take no Domain attribute
        labels = host.split(".")
        parents = [".".join(labels[i:]) for i in range(1, len(labels) - 1)]
        if base is not None and same_site(host, base):
            parents = parents[: parents.index(base) + 1] if base in parents else []
        out = [host, *parents[-(MAX_DELETION_DOMAINS - 1) :]]
    if base and base not in out:
        out.append(base)
    return out
