"""Cookie headers: which ones pass, and how to delete what consent no longer covers.

Only cookie *names* decide, so parsing is deliberately minimal and tolerant: a
Set-Cookie's name is what precedes the first '=' of its first ';'-separated part
(RFC 6265bis 5.6), whatever the attributes, their case or an `Expires` with commas.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import unquote_plus

from consentproxy.domains import same_site

EXPIRED = "Expires=Thu, 01 Jan 1970 00:00:00 GMT"
# Cookie headers whose pairs are remembered (each at most limits.header_line_bytes long).
COOKIE_HEADERS = 256
KNOWN_NAMES, KNOWN_NAME_LEN = 256, 64  # a filter's answers remembered, for names this short
# The most cookies of a request's Cookie header judged: each is looked up by its name and
# those an origin may read it as, and 32 KiB of 4,000 dotted names held serve's loop 65 ms
# (helper-247). A browser keeps 180 a site (Chromium, Firefox); past it, the rest are
# dropped unread (the origin never gets them).
MAX_REQUEST_COOKIES = 256


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
    """Seconds a Set-Cookie asks to live, as Chromium reads it: the last Max-Age when it is
    an integer, else the last Expires when it is a date (RFC 6265bis 5.1.1); None: a session
    cookie. An attribute whose value is over MAX_ATTRIBUTE_VALUE bytes counts as absent.
    Read otherwise (Python's int() and its e-mail dates), `Max-Age=1_0` or a date a browser
    takes escaped the cap, and an `Expires` a browser ignores turned a session cookie into
    one kept for the cap's whole length. (capping() writes this reading as the one lifetime
    attribute a browser gets: where a browser would have read the origin's otherwise, the
    cookie still lives no longer than the cap.)"""
    max_ages, dates = [], []
    for attr in header_value.split(";")[1:]:
        key, value = _attribute(attr)
        if key == "max-age":
            max_ages.append(value)
        elif key == "expires":
            dates.append(value)
    age = _max_age(max_ages[-1]) if max_ages else None
    when = cookie_date(dates[-1]) if dates and age is None else None
    return age if age is not None else when - now if when is not None else None


# Chromium ignores an attribute whose value is longer (ParsedCookie): `Max-Age=000...060`
# of 1,100 digits was read as 60 s, Chromium taking the Expires in 2100 beside it.
MAX_ATTRIBUTE_VALUE = 1024
_LIFETIME_KEYS = ("max-age", "expires")


def _attribute(attr: str) -> tuple[str, str]:
    """An attribute's name (lower case) and value as Chromium reads them: trimmed of spaces
    and tabs; a value over MAX_ATTRIBUTE_VALUE bytes makes no attribute ("", "")."""
    key, _, value = attr.partition("=")
    value = value.strip(" \t")
    if len(value) > MAX_ATTRIBUTE_VALUE // 4 and _size(value) > MAX_ATTRIBUTE_VALUE:
        return "", ""
    return key.strip(" \t").lower(), value


def _size(text: str) -> int:
    """Bytes text is sent as (UTF-8; a byte read with surrogateescape counts one)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def _max_age(value: str) -> float | None:
    """A Max-Age value's seconds (a sign and leading zeros as Chromium takes them; past 18
    digits, a lot: capped); None if it is not an integer."""
    if not _MAX_AGE_RE.fullmatch(value):
        return None
    digits = value.lstrip("+-").lstrip("0")
    seconds = float(int(digits or "0")) if len(digits) <= 18 else 1e18
    return -seconds if value[0] == "-" else seconds


_MAX_AGE_RE = re.compile(r"[+-]?[0-9]+")
_DATE_TOKEN_RE = re.compile(r"[^\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+")
# Chromium reads a token with a ':' as a time, with sscanf's "%2u:%2u:%2u" (digits may
# follow: 00:00:000), and as nothing else.
_TIME_RE = re.compile(r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})")
_DIGITS_RE = re.compile(r"[0-9]+")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def cookie_date(value: str) -> float | None:
    """An Expires value as Chromium reads it (cookie_util::ParseCookieExpirationTime, looser
    than RFC 6265bis 5.1.1), as a Unix time; None if it would ignore it (a time without
    seconds, a day that does not exist...). Tokens: one led by a digit is a time if it has
    a ':' (and else nothing: `2026:1` is no year), else the day if it is of at most 2 bytes,
    else the year if of at most 5 (`2026abc` is none: atoi of a longer one could overflow);
    one led by another character is the month if it starts with a month's name."""
    hms = day = month = year = None
    for token in _DATE_TOKEN_RE.findall(value):
        if not "0" <= token[0] <= "9":
            head = token[:3]
            if month is None and head.isascii() and head.lower() in _MONTHS:
                month = _MONTHS.index(head.lower()) + 1
        elif ":" in token:
            if hms is None and (m := _TIME_RE.match(token)):
                hms = tuple(map(int, m.groups()))
        elif day is None and _size(token) <= 2:
            day = int(_DIGITS_RE.match(token)[0])  # type: ignore[index]
        elif year is None and _size(token) <= 5:
            year = int(_DIGITS_RE.match(token)[0])  # type: ignore[index]
    if hms is None or day is None or month is None or year is None:
        return None
    year += 1900 if 70 <= year <= 99 else 2000 if year <= 69 else 0
    hour, minute, second = hms
    if not 1 <= day <= 31 or year < 1601 or hour > 23 or minute > 59 or second > 59:
        return None
    try:  # (a year past 9999 as its last: kept as long as a cookie may be)
        return datetime(min(year, 9999), month, day, hour, minute, second, tzinfo=UTC).timestamp()
    except ValueError:  # (no such day: 30 February)
        return None


def capped(header_value: str, max_seconds: int, now: float) -> str:
    """The Set-Cookie with its one Max-Age (see capping)."""
    return capping(header_value, max_seconds, now)[0]


def capping(header_value: str, max_seconds: int, now: float) -> tuple[str, bool]:
    """The Set-Cookie with one Max-Age for all its lifetime attributes (Max-Age and
    Expires, whatever their case, spacing or length), from lifetime(): cut to max_seconds,
    0 for a time past, none (a session cookie) where it reads none. Whatever a browser would
    have made of the origin's attributes, it gets only that one: a date Chromium reads in
    2100 where this reading found 2026 (`Expires=2026:1 Jan 01 2100 00:00:00 GMT`) makes a
    cookie shorter lived, never one kept for 400 days. The Max-Age takes the place of the
    first lifetime attribute; the rest of the line is kept byte for byte, and a line whose
    only lifetime attribute is that very Max-Age is kept whole. And whether the lifetime
    was cut (over max_seconds), read once for both."""
    pair, *attrs = header_value.split(";")
    # (in one pass: looked up in a list of their places, 8,000 took 1.4 s)
    kept = [a for a in attrs if _attribute_name(a) not in _LIFETIME_KEYS]
    if len(kept) == len(attrs):
        return header_value, False
    first = next(i for i, a in enumerate(attrs) if _attribute_name(a) in _LIFETIME_KEYS)
    life = lifetime(header_value, now)
    cut = life is not None and life > max_seconds
    ours = None if life is None else str(int(max(0, min(life, max_seconds))))
    if ours is not None and len(attrs) - len(kept) == 1:
        key, value = _attribute(attrs[first])
        if key == "max-age" and value == ours:
            return header_value, cut
    if ours is not None:  # (where the first was: every attribute before it is kept)
        kept.insert(first, f" Max-Age={ours}")
    return ";".join([pair, *kept]), cut


def _attribute_name(attr: str) -> str:
    """An attribute's name as a browser matches it, whatever its value's length: a Max-Age
    or Expires Chromium ignores (too long) is removed as well."""
    return attr.partition("=")[0].strip(" \t").lower()


# A `name=` after a space or tab: a cookie of its own to a lenient reader (aiohttp's and
# SimpleCookie split there, and read `_ga =x` as _ga's). From the first of a run,
# possessive: tried from each of 3,000 spaces, the search took 25 s of one request
# (helper-117).
_EMBEDDED_RE = re.compile(r"(?<![ \t])[ \t]++([^ \t,;=]*+)[ \t]*+=")
# A `name=` after a comma: Rack 2 (Rails up to 7.0) splits a Cookie header at `,` as at `;`
# (parse_query(header, ';,')), quoted or not.
_AFTER_COMMA_RE = re.compile(r",[ \t]*+([^ \t,;=]*+)[ \t]*+=")


# A character an origin may read a name otherwise for (other_readings).
_READ_OTHERWISE_RE = re.compile(r"[%+. \[]")


def other_readings(name: str) -> set[str]:
    """The names other than itself an origin may read name as: %-decoded (Rack 2, PHP
    before 8.0.24: `%5Fga` is `_ga`) and as PHP files it (`_ga.ABC` is `_ga_ABC`)."""
    if not _READ_OTHERWISE_RE.search(name):
        return set()
    decoded = unquote_plus(name)  # (then filed by PHP: `%20_ga` and `_ga%2EABC` too)
    return {decoded, php_name(name), php_name(decoded)} - {name}


def php_name(name: str) -> str:
    """The name PHP files a cookie under (php_register_variable_ex, as a form field's):
    leading spaces skipped; before any `[`, `.` and a space are `_`; `name[key]` is an array
    under `name`, and a `[` with no `]` after it is `_`."""
    base, bracket, rest = name.lstrip(" ").partition("[")
    base = base.replace(".", "_").replace(" ", "_")
    return base if not bracket or "]" in rest else f"{base}_{rest}"


@dataclass(frozen=True)
class CookieFilter:
    """Split cookies into kept and dropped with a predicate on the name; named: whether the
    config or a cookie database names it (an origin may read a name nobody named as another:
    see other_readings)."""

    rule: Callable[[str], bool]
    named: Callable[[str], bool] = lambda _: False
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
        """The Cookie header to forward upstream (None: send none) and the dropped names.
        A pair is dropped, allowed or not, when an origin may read a cookie not kept out of
        it: Python's SimpleCookie and aiohttp split `PHPSESSID=s, _ga=GA1.2.3 _gid=GA1.2.4`
        (a value a page's script may set) at the space, and `=_ga=GA1.2.3` (a cookie with
        no name) went on as `_ga=GA1.2.3`."""
        kept, dropped = [], []
        pairs = cookie_pairs(header_value)
        for name, value in pairs[:MAX_REQUEST_COOKIES]:
            if self.allowed(name) and not self._smuggles(name, value):
                kept.append(f"{name}={value}" if name else value)
            else:
                dropped.append(name)
        dropped += [name for name, _ in pairs[MAX_REQUEST_COOKIES:]]
        return ("; ".join(kept) if kept else None), dropped

    def _smuggles(self, name: str, value: str) -> bool:
        """Whether the pair holds another cookie's `name=` an origin may read and that would
        not be kept: after a space or tab (in its value, or its name: a browser takes `x _ga`
        as a name; not in a quoted value, which those readers take whole), or, for a pair
        with no name, anywhere; or, after a comma, one the config or a database names (a
        necessary `prefs=lang=fr,theme=dark` or a JSON cart is kept whatever names its
        value holds); or is such a cookie itself, read otherwise."""
        if not name:
            return "=" in value
        if self._read_otherwise(name):
            return True
        pair = f"{name}={value}"
        if "," in pair and any(map(self._named_held, _AFTER_COMMA_RE.findall(pair))):
            return True
        if " " not in pair and "\t" not in pair:
            return False
        quoted = len(value) > 1 and value[0] == value[-1] == '"' and '"' not in value[1:-1]
        if quoted and " " not in name and "\t" not in name:
            return False
        inner = _EMBEDDED_RE.findall(pair)
        return any(n and (not self.allowed(n) or self._read_otherwise(n)) for n in inner)

    def _named_held(self, name: str) -> bool:
        """Whether name, or a name an origin may read it as, is one the config or a cookie
        database names and this choice does not keep."""
        return any(
            self.named(n) and not self.allowed(n) for n in (name, *other_readings(name)) if n
        )

    def _read_otherwise(self, name: str) -> bool:
        """Whether an origin may read name as a cookie not kept (other_readings), and name
        is none the config or a database names: that one is kept as named (a necessary
        `ASP.NET_SessionId` is no `ASP_NET_SessionId` to block)."""
        return any(not self.allowed(r) for r in other_readings(name)) and not self.named(name)

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
MAX_DELETION_PATHS = 7  # of the request's path (but /): see _paths
_NAME_RE = re.compile(r"[\x21-\x7e]+")  # printable ASCII (no control, space or 8-bit): paths
# A name a browser stores (and a deletion names back): no control character, ';' or '=', no
# space or tab at either end (trimmed: no such name exists); a space within (`_ga_ x`, which
# `_ga_*` names) and 8-bit text are kept, a byte that is not UTF-8 too (read with
# surrogateescape: the adapters write it back as it came).
_COOKIE_NAME_RE = re.compile(r"[^\x00-\x1f\x7f;=]+")


def deletable(name: str) -> bool:
    """Whether a deletion can name the cookie as it was sent (see _COOKIE_NAME_RE)."""
    return bool(_COOKIE_NAME_RE.fullmatch(name)) and name.strip(" ") == name


def deletion_headers(
    names: Iterable[str],
    host: str,
    cookie_domain: str | None,
    secure: bool,
    path: str = "/",
    on_parents: Callable[[str], bool] = lambda _: True,
    known: tuple[str, Sequence[str]] = ("/", ()),
    own_parents: bool = False,
) -> list[str]:
    """Set-Cookie values deleting each cookie wherever it may have been set: a browser
    deletes only the cookie of the same name, domain and path (RFC 6265bis 5.7), and of the
    same partition (CHIPS).

    Domains: host-only, the host, and its parents (a cookie may have been set by JavaScript
    on `.example.com` while we serve `www.example.com`; browsers refuse a Domain that is a
    public suffix) and cookie_domain, for the names on_parents lets through (a tracker's:
    analytics.js keeps `_ga` on the registrable domain whatever the site's cookie_domain,
    where a cut at it left `_ga` through every withdrawal); the other names on the host alone
    (one may be a sibling site's own session: deleted on the parent, the visitor would be
    logged out there), or with own_parents down to cookie_domain (the operator's word that
    the parents up to it are the site's own). Known's names come first (a path, and
    the names that matter most: a former consent tool's, whose choice an erase leaving them
    would import again, while a tracker's come again with the next responses), with no
    Partitioned copy: the host-only line of each of those of names at /, then of all of them
    at known's path (that may be set there though none was sent: a browser sends a cookie of
    Path=/blog/ to no request outside it), in their order (the likeliest first); then their
    Domain= copies, in the same order (a tool's document.cookie on a subdirectory sets
    host-only ones: the copies of the names sent at / took the room of every line on the
    path). Then the other names at / (they were sent:
    they are there); then over https / again for a Partitioned cookie; then those of the
    request's path, likeliest first (_paths: a tracker set on /blog comes with /blog/post
    and is deleted by Path=/blog alone). At most MAX_DELETION_BYTES of them, each line
    once: when names' under one path do not all fit, they go in a random order (what one
    response deleted no longer comes back, and the next deletes others).
    """
    own, every = deletion_domains(host, cookie_domain), deletion_domains(host, cookie_domain, True)
    others = own if own_parents else own[:1]

    def domains(name: str) -> list[str]:
        return every if on_parents(name) else others

    unique = list(dict.fromkeys(filter(deletable, names)))
    at, known_names = known
    first = list(dict.fromkeys(filter(deletable, known_names)))
    where = [("/", [n for n in first if n in unique])] + ([(at, first)] if at != "/" else [])
    known_lines = [_deletions(n, p, domains(n), secure) for p, ns in where for n in ns]
    ways = [("/", "", [n for n in unique if n not in first])]
    ways += [("/", "; Partitioned", unique)] if secure else []
    ways += [(p, "", unique) for p in _paths(path)]
    out: list[str] = []
    room = MAX_DELETION_BYTES

    def keep(values: Iterable[str]) -> None:
        nonlocal room
        for value in values:
            if (size := _size(value)) <= room:
                out.append(value)
                room -= size

    keep(lines[0] for lines in known_lines if lines)  # (host-only, at / and at known's path)
    keep(value for lines in known_lines for value in lines[1:])
    for p, more, tier_names in ways:  # (by path: every name under one first)
        if room < len(deletion("x", p)):  # (built only while one may still fit here)
            continue
        tier = [_deletions(n, p, domains(n), secure, more) for n in tier_names]
        if sum(_size(v) for lines in tier for v in lines) > room:
            random.shuffle(tier)
        keep(value for lines in tier for value in lines)
    return out


def deletion(name: str, path: str = "/", domain: str | None = None, flags: str = "") -> str:
    """The Set-Cookie value deleting the cookie name set with path and domain (None: a
    host-only one)."""
    where = f"; Domain={domain}" if domain else ""
    return f"{name}=; Max-Age=0; {EXPIRED}; Path={path}{where}{flags}"


def _deletions(name: str, path: str, domains: list[str], secure: bool, more: str = "") -> list[str]:
    """The Set-Cookie values deleting one name under one path (host-only, then on each
    domain); more: attributes after Secure. Prefixes are matched in any case, as browsers
    do."""
    low = name.lower()
    host_prefix = low.startswith("__host-")
    flags = "; Secure" if secure or host_prefix or low.startswith("__secure-") else ""
    flags += more
    if host_prefix:  # (only ever host-only, under /)
        return [deletion(name, "/", None, flags)] if path == "/" else []
    return [deletion(name, path, d, flags) for d in (None, *domains)]


def _paths(path: str) -> list[str]:
    """The paths but / a cookie sent with a request to path may have been set on, likeliest
    first: the request's own directory, the default path of a cookie set with none by a
    response to this page (/a/b/c: /a/b), and the same with a final slash (a browser keeps
    Path=/blog and Path=/blog/ apart); path itself (Path=/app, set by /app); then the other
    directories, nearest the root first, each both ways. At most MAX_DELETION_PATHS. The
    guard in the page deletes what JavaScript can read on any of them, but an HttpOnly one
    only a response can delete."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):  # (OPTIONS *)
        return []
    own, _, last = path.rpartition("/")
    found = [own, own + "/"] if own else []
    if last:
        found.append(path)
    # (the others only as far as may be kept: a path of thousands of segments, the
    # visitor's to send, made as many joins of up to 8 KiB, 0.1 s a request)
    segments = path.split("/", MAX_DELETION_PATHS + 1)[1:-1]
    found += [
        "/" + "/".join(segments[:i]) + end for i in range(1, len(segments)) for end in ("", "/")
    ]
    valid = [p for p in dict.fromkeys(found) if ";" not in p and _NAME_RE.fullmatch(p)]
    return valid[:MAX_DELETION_PATHS]


def deletion_domains(host: str, cookie_domain: str | None, every_parent: bool = False) -> list[str]:
    """The Domain attributes to delete with: the host, its parents down to cookie_domain
    (every_parent: past it too; at most the MAX_DELETION_DOMAINS nearest the root, whatever
    the host's depth), and cookie_domain."""
    host = host.split(":")[0].lower().rstrip(".")
    base = cookie_domain.lstrip(".") if cookie_domain else None
    out: list[str] = []
    if (
        host and not host.replace(".", "").isdigit() and not host.startswith("[") and "." in host
    ):  # IP addresses and single-label hosts take no Domain attribute
        labels = host.split(".")
        parents = [".".join(labels[i:]) for i in range(1, len(labels) - 1)]
        if base is not None and same_site(host, base) and not every_parent:
            parents = parents[: parents.index(base) + 1] if base in parents else []
        out = [host, *parents[-(MAX_DELETION_DOMAINS - 1) :]]
    if base and base not in out:
        out.append(base)
    return out
