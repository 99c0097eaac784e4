"""Cookie headers: which ones pass, and how to delete what consent no longer covers.

Only cookie *names* decide, so parsing is deliberately minimal and tolerant: a
Set-Cookie's name is what precedes the first '=' of its first ';'-separated part
(RFC 6265bis 5.6), whatever the attributes, their case or an `Expires` with commas.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from functools import lru_cache

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
    """Seconds a Set-Cookie asks to live (Max-Age wins over Expires); None: a session cookie."""
    max_age = expires = None
    for attr in header_value.split(";")[1:]:
        key, _, value = attr.partition("=")
        key, value = key.strip(" \t").lower(), value.strip(" \t")
        try:
            if key == "max-age":
                max_age = float(int(value))
            elif key == "expires":
                expires = parsedate_to_datetime(value).timestamp() - now
        except (ValueError, TypeError, OverflowError):
            continue  # browsers ignore an unreadable attribute
    return max_age if max_age is not None else expires


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
MAX_DELETED_NAMES = 32  # per response; the rest go with the next response
MAX_DELETION_DOMAINS = 8  # the host and its parents nearest the root
_NAME_RE = re.compile(r"[\x21-\x7e]+")  # printable ASCII (no control, space or 8-bit)


def deletion_headers(
    names: Iterable[str], host: str, cookie_domain: str | None, secure: bool
) -> list[str]:
    """Set-Cookie values deleting each cookie for the host and its parent domains.

    A cookie may have been set by JavaScript on `.example.com` while we serve
    `www.example.com`; browsers refuse a Domain that is a public suffix, so trying
    parents is harmless and reaches every variant. With cookie_domain, parents stop there.
    """
    domains = deletion_domains(host, cookie_domain)
    out = []
    valid = (n for n in names if _NAME_RE.fullmatch(n) and ";" not in n and "=" not in n)
    for name in list(dict.fromkeys(valid))[:MAX_DELETED_NAMES]:
        prefixed = name.startswith(("__Secure-", "__Host-"))
        flags = "; Secure" if secure or prefixed else ""
        out.append(f"{name}=; Max-Age=0; {EXPIRED}; Path=/{flags}")
        if not name.startswith("__Host-"):
            out.extend(f"{name}=; Max-Age=0; {EXPIRED}; Path=/; Domain={d}{flags}" for d in domains)
    return out


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
        if base is not None and (host == base or host.endswith("." + base)):
            parents = parents[: parents.index(base) + 1] if base in parents else []
        out = [host, *parents[-(MAX_DELETION_DOMAINS - 1) :]]
    if base and base not in out:
        out.append(base)
    return out
