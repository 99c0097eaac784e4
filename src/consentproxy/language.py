"""Which language the banner speaks: the page's own, in the order the config gives.

Sources (`language_from`): `html-lang` (the page's <html lang>, seen in its first bytes,
long before the banner is injected near </body>), `path` (a first path segment such as
/en/ or /pt-br/), `cookie` (the site's language cookie, `language_cookie`) and
`accept-language` (the browser's). The first source naming one of the config's languages
wins; none does: the config's first language.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from itertools import islice

from consentproxy.httpheaders import split_url
from consentproxy.rewrite.scanner import ATTRS
from consentproxy.rewrite.tag import Attributes

SNIFF_BYTES = 4096  # <html> comes after the doctype and comments of a page's first bytes
# The starts of pages (up to their <html> tag) whose language PageLanguage remembers: how
# many, and up to how long.
KNOWN_STARTS, KNOWN_START_BYTES = 16, 1024
_HTML_TAG_RE = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:[\t\n\f\r ]++|<!--.*?-->|<\?xml[^>]*+>|<!doctype[^>]*+>)*+"
    rb"(<html(?=[\t\n\f\r />])" + ATTRS + rb">)",  # (its attributes as the tokenizer reads them)
    re.IGNORECASE | re.DOTALL,
)
_FIRST_SEGMENT_RE = re.compile(r"/([^/?#]*)")  # a path's first segment, from its "/"
# Accept-Language: the first MAX_RANGES language ranges with a tag, of its first MAX_READ
# characters (the whole ranges in them; the rest, up to the 64 KiB a header line may hold,
# is never read: a request's cost and the remembered rankings' keys stay small), and a q as
# RFC 9110 12.4.2 writes it (float() would read q=2, q=1_0 or q=0.5e1 as outranking q=1).
MAX_RANGES, MAX_READ = 32, 2048
# (from its tag on: spaces and empty ones skipped, and one with no tag, ';q=1', whose 'q=1'
# was read as a range and counted)
_RANGE_RE = re.compile(r"(?:^|,)[\t ]*+([^\t ,;][^,]*+)")
_QVALUE_RE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


# Languages written right to left (primary subtags): what the proxy writes in one is laid out
# as it reads, whatever the page's own direction (an English banner on an Arabic page too).
RTL_LANGUAGES = frozenset(
    {"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ks", "ps", "sd", "syr", "ug", "ur", "yi"}
)


def direction(lang: str) -> str:
    """The dir attribute for text in lang."""
    return "rtl" if lang.partition("-")[0].lower() in RTL_LANGUAGES else "ltr"


def offered(tag: str | None, languages: Sequence[str]) -> str | None:
    """The config's language a tag names ("fr-CA", "pt_BR" -> fr, pt), if any."""
    primary = (tag or "").strip().lower().replace("_", "-").partition("-")[0]
    return primary if primary in languages else None


def pick_language(accept_language: str | None, languages: tuple[str, ...]) -> str | None:
    """The first of the browser's languages (by q) the config offers, of its first
    MAX_RANGES in MAX_READ; none with q=0 ("not acceptable", RFC 9110 12.4.2) or a q that
    is no qvalue (as a malformed one was)."""
    read = accept_language or ""
    if len(read) > MAX_READ:
        read = read[: MAX_READ + 1].rpartition(",")[0]  # (no range cut short)
    ranges = islice(_RANGE_RE.finditer(read), MAX_RANGES)
    return _ranked_pick(tuple(m[1] for m in ranges), languages)


@lru_cache(maxsize=1024)  # browsers send few distinct values (the key: at most MAX_RANGES)
def _ranked_pick(ranges: tuple[str, ...], languages: tuple[str, ...]) -> str | None:
    ranked = []
    for i, part in enumerate(ranges):
        tag, *params = part.split(";")
        q = 1.0
        for param in params:  # (q among the others: fr;level=1;q=0.1)
            name, _, value = param.partition("=")
            if name.strip(" \t").lower() == "q":
                value = value.strip(" \t")
                q = float(value) if _QVALUE_RE.fullmatch(value) else 0.0
                break
        if q > 0:
            ranked.append((-q, i, tag))
    for _, _, tag in sorted(ranked):
        found = offered(tag, languages)
        if found:
            return found
    return None


def request_language(
    order: Sequence[str],
    languages: Sequence[str],
    target: str,
    cookies: Sequence[tuple[str, str]],
    accept_language: str | None,
    cookie_name: str,
) -> tuple[str | None, str]:
    """(decided, fallback): decided is what a source before `html-lang` gives (None: the
    page's <html lang> decides); fallback is what the sources after it give, else the
    config's first language. target: the request's path (and query); cookies: its
    (name, value) pairs."""
    decided: str | None = None
    waiting = False  # html-lang came first: the page decides, the rest is the fallback
    for source in order:
        if source == "html-lang":
            waiting = True
            continue
        if source == "path":
            if target[:1] == "/" and target[1:2] != "/" and target.isprintable():
                # as urlsplit reads it (a host after "//", tabs dropped), quicker
                first = _FIRST_SEGMENT_RE.match(target).group(1)  # type: ignore[union-attr]
            else:
                parts = split_url(target)  # (None: an IPv6 bracket left open after "//")
                first = "" if parts is None else parts.path.lstrip("/").split("/", 1)[0]
            found = offered(first, languages) if 2 <= len(first) <= 8 else None
        elif source == "cookie":
            found = None
            for name, value in cookies:  # (no generator made for the usual few cookies)
                if name == cookie_name:  # (quoted or not: RFC 6265's cookie-value)
                    quoted = len(value) > 1 and value[0] == value[-1] == '"'
                    found = offered(value[1:-1] if quoted else value, languages)
                    break
        else:  # (none sent: nothing to pick from)
            found = pick_language(accept_language, tuple(languages)) if accept_language else None
        if found:
            if waiting:
                return None, found
            decided = found
            break
    if waiting and decided is None:
        return None, languages[0]
    return decided or languages[0], decided or languages[0]


class PageLanguage:
    """Finds <html lang> in the first bytes of a page (bounded), fed as they stream. One
    for every page of a kind (the config's languages: kept on the engine's PagePlan); a
    response keeps only the bytes read so far (see read)."""

    def __init__(self, languages: Sequence[str]):
        self.languages = languages
        # A page's bytes up to the end of its <html> tag -> its language: a site's pages
        # start alike (one template), and one dict lookup costs a fifth of the regexes.
        self.known: dict[tuple[bool, bytes], str] = {}

    def read(self, head: bytes, data: bytes, xml: bool = False) -> tuple[bytes, str | None]:
        """(the page's first bytes, head then data, up to SNIFF_BYTES; the language once
        decided, "" when the page names none of the config's: the request's fallback; else
        None: read the next chunk with those bytes as head, and at the end of the page take
        the fallback). xml: the page is read as XML, where xml:lang wins over lang (in HTML
        xml:lang means nothing)."""
        # (most pages: the first chunk decides, read where it is up to SNIFF_BYTES)
        head = head + data[: SNIFF_BYTES - len(head)] if head else data
        # (up to the first '>' after the first "<html": the key of known pages)
        start = head.find(b"<html", 0, KNOWN_START_BYTES)
        end = head.find(b">", start, KNOWN_START_BYTES) + 1 if start >= 0 else 0
        if end:
            lang = self.known.get((xml, head[:end]))
            if lang is not None:
                return head, lang
        m = _HTML_TAG_RE.match(head, 0, SNIFF_BYTES)
        if m is not None:
            attrs = Attributes(m.group(1), len(b"<html"))
            tag = (attrs.get(b"xml:lang") if xml else None) or attrs.get(b"lang")
            lang = offered(tag, self.languages) or ""
            # The match ends there and read no byte after it (its quantifiers possessive, no
            # lookahead past its '>'): a page that starts with the same bytes has the same
            # <html> tag.
            if m.end() == end:
                if len(self.known) >= KNOWN_STARTS:
                    self.known.clear()
                self.known[xml, head[:end]] = lang
            return head, lang
        return head, "" if len(head) >= SNIFF_BYTES else None
