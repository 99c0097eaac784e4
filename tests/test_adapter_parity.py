"""Differential: `consentproxy serve` and the mitmproxy addon, each in front of one origin on
127.0.0.1, given the same hostile exchanges, must answer the visitor alike (a developer who
tests through mitmproxy sees what serve will do in production). What is compared: the
status, the headers that decide what a browser does (ANSWER_HEADERS) and the body as a
browser reads it (decoded), each response's own mark and nonce set aside.

The origin answers raw bytes (`/o/NAME`: what no well-behaved server sends) or, for the
request-side cases, a page or an echo of what reached it. The cases are a fixed list plus a
few drawn from a fixed seed, so each run is the same. A difference one adapter's HTTP
library makes where the adapter cannot act (mitmproxy reads an interim response as the
answer, llhttp refuses a method it does not know) is in ALLOWED with its reason and the
shape it must have (what is known of each answer), so that no other difference hides in it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import http.client
import random
import re
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import brotli
import pytest
import zstandard

from consentproxy import server
from consentproxy.config import parse_config
from consentproxy.engine import Engine
from tests.adapters import Started
from tests.test_server import CONFIG, GA, KEYS, mitmdump_in_front_of

# (mitmdump's start, in the first case's fixtures, is bounded by its own waits)
pytestmark = pytest.mark.timeout(30, func_only=True)

SEED = 212
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# How long a visitor waits for a body to end once its first bytes came (a body that never
# ends is cut there), and for those first bytes (long: a loaded machine's first answer)
WAIT = 2.0
FIRST_WAIT = 10.0
HOLD = FIRST_WAIT + 2 * WAIT  # how long a never-ending answer stays open, sending nothing
ANSWER_HEADERS = (
    "set-cookie",
    "content-type",
    "content-length",
    "content-encoding",
    "content-range",
    "content-security-policy",
    "content-security-policy-report-only",
    "location",
    "cache-control",
    "vary",
    "etag",
    "last-modified",
    "x-content-type-options",
    "x-frame-options",
    "content-disposition",
    "transfer-encoding",
    "link",
    "refresh",
    "report-to",
    "reporting-endpoints",
)
PAGE = b"<!doctype html><html><head><script src=" + GA + b"></script></head><body><p>hi</p>"
PAGE += b"</body></html>"


def raw(status: str, headers: list[str], body: bytes = b"") -> bytes:
    """An origin's answer as bytes; it closes the connection after it."""
    head = "".join(f"{h}\r\n" for h in [f"HTTP/1.1 {status}", *headers, "Connection: close"])
    return head.encode("latin-1") + b"\r\n" + body


def sized(status: str, headers: list[str], body: bytes) -> bytes:
    return raw(status, [*headers, f"Content-Length: {len(body)}"], body)


HTML = "Content-Type: text/html; charset=utf-8"
COOKIES = ["Set-Cookie: _ga=GA1.1.1; Path=/", "Set-Cookie: PHPSESSID=s1; Path=/; HttpOnly"]
# (name -> the origin's answer; a list: parts written with a pause between them, None: the
# connection then stays open, sending nothing more)
ORIGIN: dict[str, bytes | list[bytes | None]] = {
    "type-odd-params": sized("200 OK", ['Content-Type: TEXT/HTML;;charset="UTF-8"'], PAGE),
    "type-none-html": sized("200 OK", [], PAGE),
    "type-xhtml": sized("200 OK", ["Content-Type: application/xhtml+xml"], PAGE),
    "type-two": sized("200 OK", ["Content-Type: text/plain", "Content-Type: text/html"], PAGE),
    "type-empty": sized("200 OK", ["Content-Type: "], PAGE),
    "gzip-html": sized("200 OK", [HTML, "Content-Encoding: gzip"], gzip.compress(PAGE)),
    "br-html": sized("200 OK", [HTML, "Content-Encoding: br"], brotli.compress(PAGE)),
    "deflate-raw-html": sized(
        "200 OK", [HTML, "Content-Encoding: deflate"], zlib.compress(PAGE)[2:-4]
    ),
    "gzip-lies-html": sized("200 OK", [HTML, "Content-Encoding: gzip"], PAGE),
    "gzip-twice-html": sized(
        "200 OK", [HTML, "Content-Encoding: gzip, gzip"], gzip.compress(gzip.compress(PAGE))
    ),
    "coding-unknown-html": sized("200 OK", [HTML, "Content-Encoding: x-odd"], PAGE),
    "gzip-json": sized(
        "200 OK",
        ["Content-Type: application/json", "Content-Encoding: gzip"],
        gzip.compress(b'{"a": 1}'),
    ),
    "truncated-html": raw("200 OK", [HTML, "Content-Length: 500"], PAGE[:60]),
    "truncated-text": raw("200 OK", ["Content-Type: text/plain", "Content-Length: 500"], b"x" * 60),
    "truncated-gzip-html": raw(
        "200 OK", [HTML, "Content-Encoding: gzip", "Content-Length: 900"], gzip.compress(PAGE)[:40]
    ),
    "until-close-html": raw("200 OK", [HTML], PAGE),
    "chunked-trailer": raw(
        "200 OK",
        [HTML, "Transfer-Encoding: chunked"],
        b"%x\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n" % (len(PAGE), PAGE),
    ),
    "chunked-bad": raw("200 OK", [HTML, "Transfer-Encoding: chunked"], b"zz\r\n" + PAGE),
    "length-twice": raw("200 OK", [HTML, "Content-Length: 5", "Content-Length: 6"], PAGE),
    "204-with-body": raw("204 No Content", [HTML, "Content-Length: 11"], b"hello world"),
    "205-with-body": raw("205 Reset Content", [HTML, "Content-Length: 11"], b"hello world"),
    "204-chunked": raw("204 No Content", [HTML, "Transfer-Encoding: chunked"], b"0\r\n\r\n"),
    "304-with-body": raw("304 Not Modified", ['ETag: "v1"', "Content-Length: 11"], b"hello world"),
    "set-cookie-twice": sized("200 OK", [HTML, *COOKIES, *COOKIES], PAGE),
    "set-cookie-odd": sized(
        "200 OK",
        [
            HTML,
            "Set-Cookie: =novalue; Path=/",
            "Set-Cookie: PHPSESSID=a;;; Secure=1; SameSite=None; Max-Age=-1; Domain=.127.0.0.1",
            "Set-Cookie: PHPSESSID",
            "Set-Cookie: _fbp=fb.1; Expires=Thu, 01 Jan 9999 00:00:00 GMT",
            "Set-Cookie: PHPSESSID=\xe9t\xe9; Path=/caf\xe9",
            "Set-Cookie: " + "PHPSESSID=" + "v" * 5000,
        ],
        PAGE,
    ),
    "redirect-origin": raw("302 Found", ["Location: {origin}/page", "Content-Length: 0"]),
    "redirect-relative": raw("301 Moved", ["Location: ../page?q=%zz", "Content-Length: 0"]),
    "redirect-away": raw("303 See Other", ["Location: //elsewhere.test/x", "Content-Length: 0"]),
    "redirect-html": sized("307 Temporary Redirect", [HTML, "Location: /page"], PAGE),
    "early-hints": b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    + sized("200 OK", [HTML], PAGE),
    "continue-first": b"HTTP/1.1 100 Continue\r\n\r\n" + sized("200 OK", [HTML], PAGE),
    "header-many": sized("200 OK", [HTML, *(f"X-Pad-{i}: p" for i in range(300))], PAGE),
    "header-too-many": sized("200 OK", [HTML, *(f"X-Pad-{i}: p" for i in range(600))], PAGE),
    "header-long": sized("200 OK", [HTML, "X-Pad: " + "p" * 70_000], PAGE),
    "header-longest": sized("200 OK", [HTML, "X-Pad: " + "p" * 65_520], PAGE),
    # (the field limit's window: a second field's name and value just over it, or a name of
    # 100 bytes; a value under it whose trailing spaces, which no adapter keeps, pass it)
    "header-second-over": sized("200 OK", [HTML, "X-Pad: " + "p" * 65_532], PAGE),
    "header-name-long": sized("200 OK", [HTML, "X" * 100 + ": " + "p" * 65_500], PAGE),
    "header-trailing-spaces": sized("200 OK", [HTML, "X-Pad: " + "p" * 65_530 + " " * 10], PAGE),
    "status-long-reason": sized("200 " + "R" * 9000, [HTML], PAGE),
    "status-huge-reason": sized("200 " + "R" * 70_000, [HTML], PAGE),
    # (past serve's client's own backstop, server.CLIENT_FIELD_BYTES: refused by aiohttp)
    "status-past-backstop": sized("200 " + "R" * 140_000, [HTML], PAGE),
    "header-past-backstop": sized("200 OK", [HTML, "X-Pad: " + "p" * 140_000], PAGE),
    "header-huge": sized(
        "200 OK", [HTML, *(f"X-Pad-{i}: " + "p" * 60_000 for i in range(5))], PAGE
    ),
    "link-preload-tracker": sized(
        "200 OK",
        [HTML, f"Link: <{GA.decode()}>; rel=preload; as=script, </a.css>; rel=preload"],
        PAGE,
    ),
    "refresh": sized("200 OK", [HTML, "Refresh: 0; url=/elsewhere", "X-Frame-Options: DENY"], PAGE),
    "reporting": sized(
        "200 OK",
        [
            HTML,
            'Report-To: {"group":"g","max_age":60,"endpoints":[{"url":"https://r.test/"}]}',
            'Reporting-Endpoints: g="https://r.test/"',
            'Content-Disposition: inline; filename="a.html"',
        ],
        PAGE,
    ),
    "zstd-html": sized("200 OK", [HTML, "Content-Encoding: zstd"], zstandard.compress(PAGE)),
    "zstd-broken-html": sized(
        "200 OK", [HTML, "Content-Encoding: zstd"], zstandard.compress(PAGE)[:8] + b"\xff" * 40
    ),
    "br-cut-html": sized("200 OK", [HTML, "Content-Encoding: br"], brotli.compress(PAGE)[:50]),
    "gzip-no-trailer-html": sized(
        "200 OK", [HTML, "Content-Encoding: gzip"], gzip.compress(PAGE)[:-8]
    ),
    "gzip-garbage-after-html": sized(
        "200 OK", [HTML, "Content-Encoding: gzip"], gzip.compress(PAGE) + b"garbage"
    ),
    "deflate-broken-html": sized("200 OK", [HTML, "Content-Encoding: deflate"], b"\x78\x9c" + PAGE),
    "until-close-gzip-html": raw("200 OK", [HTML, "Content-Encoding: gzip"], gzip.compress(PAGE)),
    "length-short": raw("200 OK", [HTML, "Content-Length: 30"], PAGE),
    "length-and-chunked": raw(
        "200 OK",
        [HTML, "Content-Length: 5", "Transfer-Encoding: chunked"],
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(PAGE), PAGE),
    ),
    "chunked-bare-lf": raw(
        "200 OK", [HTML, "Transfer-Encoding: chunked"], b"%x\n%s\n0\n\n" % (len(PAGE), PAGE)
    ),
    "chunked-ext": raw(
        "200 OK",
        [HTML, "Transfer-Encoding: chunked"],
        b"%x;a=b\r\n%s\r\n0\r\n\r\n" % (len(PAGE), PAGE),
    ),
    "chunked-trailer-cookie": raw(
        "200 OK",
        [HTML, "Transfer-Encoding: chunked", "Trailer: Set-Cookie"],
        b"%x\r\n%s\r\n0\r\nSet-Cookie: _ga=GA1.1.9\r\n\r\n" % (len(PAGE), PAGE),
    ),
    "chunked-cut": raw(
        "200 OK", [HTML, "Transfer-Encoding: chunked"], b"%x\r\n%s" % (len(PAGE), PAGE[:50])
    ),
    "http10-sized": sized("200 OK", [HTML, *COOKIES], PAGE).replace(b"HTTP/1.1", b"HTTP/1.0", 1),
    "http10-until-close": raw("200 OK", [HTML, *COOKIES], PAGE).replace(
        b"HTTP/1.1", b"HTTP/1.0", 1
    ),
    "processing-first": b"HTTP/1.1 102 Processing\r\n\r\n" + sized("200 OK", [HTML], PAGE),
    "redirect-cookie": raw("302 Found", ["Location: /page", *COOKIES, "Content-Length: 0"]),
    "redirect-cookie-html": sized(
        "301 Moved Permanently", [HTML, "Location: /page", *COOKIES], PAGE
    ),
    "204-cookie": raw("204 No Content", COOKIES),
    "304-cookie": raw("304 Not Modified", ['ETag: "v1"', *COOKIES]),
    "206-html": sized(
        "206 Partial Content", [HTML, f"Content-Range: bytes 0-{len(PAGE) - 1}/{len(PAGE)}"], PAGE
    ),
    "206-html-gzip": sized(
        "206 Partial Content",
        [HTML, "Content-Encoding: gzip", "Content-Range: bytes 0-9/900"],
        gzip.compress(PAGE)[:10],
    ),
    "header-latin1": sized(
        "200 OK",
        [
            "Content-Type: text/html; charset=\xe9",
            "Location: /caf\xe9",
            "Link: <https://www.google-analytics.com/\xc3\x28>; rel=preload; as=script",
            "Set-Cookie: _ga=caf\xc3\xa9; Path=/",
            "Set-Cookie: PHPSESSID=\xff\xfe; Path=/",
            "X-Odd: \x80\x81",
        ],
        PAGE,
    ),
    "header-nul": sized("200 OK", [HTML, "X-Odd: a\x00b", *COOKIES], PAGE),
    "set-cookie-folded": sized("200 OK", [HTML, "Set-Cookie: PHPSESSID=a;\r\n _ga=1"], PAGE),
    "csp-twice": sized(
        "200 OK",
        [
            HTML,
            "Content-Security-Policy: default-src 'self'",
            "Content-Security-Policy: script-src https://www.google-analytics.com",
        ],
        PAGE,
    ),
    "cache-twice": sized(
        "200 OK",
        [
            HTML,
            "Cache-Control: public, max-age=600",
            "Cache-Control: s-maxage=100",
            'ETag: W/"w1"',
            "Vary: Accept-Language",
            "Vary: *",
        ],
        PAGE,
    ),
    "upgrade-101": raw(
        "101 Switching Protocols",
        [
            "Upgrade: websocket",
            "Connection: Upgrade",
            *COOKIES,
            "Sec-WebSocket-Accept: {accept}",
        ],
        b"\x88\x02\x03\xe8",  # (a close frame: 1000)
    ),
    "empty-reply": b"",
    "te-gzip-chunked": raw(
        "200 OK",
        [HTML, "Transfer-Encoding: gzip, chunked"],
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(gzip.compress(PAGE)), gzip.compress(PAGE)),
    ),
    "early-hints-cookie": b"HTTP/1.1 103 Early Hints\r\nSet-Cookie: _ga=GA1.1.1\r\n\r\n"
    + sized("200 OK", [HTML], PAGE),
    "slow-html": [
        raw("200 OK", [HTML, "Transfer-Encoding: chunked"]),
        b"%x\r\n%s\r\n" % (len(PAGE), PAGE),
        b"0\r\n\r\n",
    ],
    "endless-html": [raw("200 OK", [HTML]), PAGE[:40], None],
    "endless-text": [raw("200 OK", ["Content-Type: text/plain"]), b"tick ", None],
}


def request(method: str, target: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: site.test", *headers, "Connection: close"]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return "".join(f"{h}\r\n" for h in lines).encode("latin-1") + b"\r\n" + body


def drawn(rng: random.Random) -> list[tuple[str, bytes]]:
    """A few requests drawn from the seed: Cookie headers of odd pieces, targets of odd
    bytes."""
    pieces = ["_ga=1", "PHPSESSID=abc", "_fbp", "=x", ";", " ", '"q"=1', "a=b=c", "\xe9=1"]
    out = []
    for i in range(4):
        cookie = ";".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        out.append((f"drawn-cookie-{i}", request("GET", "/echo", f"Cookie: {cookie}")))
    for i in range(3):
        path = "".join(
            rng.choice(["%2e", "%2F", "%00", "%ff", "..", "/", "a", ";", "%zz", "~"])
            for _ in range(rng.randint(1, 10))
        )
        out.append((f"drawn-path-{i}", request("GET", "/echo/" + path)))
    return out


REQUESTS: list[tuple[str, bytes]] = [
    ("cookie-odd", request("GET", "/page", "Cookie: _ga=1; ;;=x; PHPSESSID=abc; _fbp")),
    ("cookie-twice", request("GET", "/echo", "Cookie: _ga=1", "Cookie: PHPSESSID=abc")),
    ("cookie-quoted", request("GET", "/echo", 'Cookie: PHPSESSID="a;b"; _ga="1"')),
    ("header-twice", request("GET", "/echo", "X-A: 1", "X-A: 2", "Accept: a", "Accept: b")),
    ("header-big", request("GET", "/echo", "X-Big: " + "b" * 8000)),
    ("header-over-line", request("GET", "/echo", "X-Big: " + "b" * 9000)),
    ("head-over-limit", request("GET", "/echo", *(f"X-B{i}: " + "b" * 7000 for i in range(6)))),
    ("method-odd", request("PROPFIND", "/echo")),
    ("method-brew", request("BREW", "/page")),
    ("method-lower", request("get", "/page")),
    ("path-encoded", request("GET", "/echo/%2e%2e/%00%ff/a%2Fb?x=%zz&y=%")),
    ("path-raw-byte", request("GET", "/echo/caf\xe9")),
    ("path-absolute", request("GET", "http://site.test/echo?x=1")),
    ("path-star", request("OPTIONS", "*")),
    (
        "choice-bad-json",
        request(
            "POST",
            "/.consent/choice",
            "Content-Type: application/json",
            "Origin: http://site.test",
            body=b"{",
        ),
    ),
    (
        "choice-bad-form",
        request(
            "POST",
            "/.consent/choice",
            "Content-Type: application/x-www-form-urlencoded",
            "Origin: http://site.test",
            body=b"action=%ff&&=&return=//x",
        ),
    ),
    (
        "choice-too-big",
        request(
            "POST",
            "/.consent/choice",
            "Content-Type: application/json",
            "Origin: http://site.test",
            body=b"{" + b" " * 17_000 + b"}",
        ),
    ),
    ("choice-get", request("GET", "/.consent/choice")),
    ("state-odd", request("GET", "/.consent/state?x=%zz", "Cookie: consent=garbage")),
    ("range", request("GET", "/page", "Range: bytes=0-10")),
    ("range-many", request("GET", "/page", "Range: bytes=0-1,5-6,-3")),
    ("head-page", request("HEAD", "/page")),
    ("expect", request("POST", "/echo", "Expect: 100-continue", body=b"hello")),
    ("expect-odd", request("POST", "/echo", "Expect: tea", body=b"hello")),
    ("if-none-match", request("GET", "/page", 'If-None-Match: "v1"')),
    (
        "if-modified-since",
        request("GET", "/page", "If-Modified-Since: " + "Wed, 21 Oct 2015 07:28:00 GMT"),
    ),
    ("if-range", request("GET", "/page", "Range: bytes=0-10", 'If-Range: "v1"')),
    *(
        (f"accept-{coding}", request("GET", "/page", f"Accept-Encoding: {coding}"))
        for coding in ("gzip", "br", "zstd", "deflate", "x-gzip", "*", "GZIP, BR")
    ),
    ("accept-none-ok", request("GET", "/page", "Accept-Encoding: identity;q=0, *;q=0")),
    ("accept-gzip-q0", request("GET", "/o/gzip-html", "Accept-Encoding: gzip;q=0, br")),
    ("accept-gzip-same", request("GET", "/o/gzip-html", "Accept-Encoding: gzip")),
    ("accept-zstd-json", request("GET", "/o/gzip-json", "Accept-Encoding: zstd")),
    ("accept-range-gzip", request("GET", "/page", "Range: bytes=0-10", "Accept-Encoding: gzip")),
    ("range-unasked-206", request("GET", "/o/206-html", "Range: bytes=0-")),
    ("head-gzip", request("HEAD", "/o/gzip-html", "Accept-Encoding: br")),
    ("head-redirect-cookie", request("HEAD", "/o/redirect-cookie-html")),
    (
        "websocket",
        request(
            "GET",
            "/o/upgrade-101",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ),
    ),
    (
        "websocket-refused",
        request(
            "GET",
            "/page",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ),
    ),
    ("upgrade-unasked", request("GET", "/o/upgrade-101")),
    ("tracking-cookies", request("GET", "/echo", "Cookie: _ga=GA1.1.1; _fbp=fb.1; PHPSESSID=s")),
    ("state", request("GET", "/.consent/state", "Cookie: _ga=1")),
    ("state-head", request("HEAD", "/.consent/state")),
    ("script-br", request("GET", "/.consent/consent.js", "Accept-Encoding: br")),
    ("script-gzip", request("GET", "/.consent/consent.js", "Accept-Encoding: gzip;q=1, br;q=0")),
    (
        "choice-accept-form",
        request(
            "POST",
            "/.consent/choice",
            "Content-Type: application/x-www-form-urlencoded",
            "Origin: http://site.test",
            "Cookie: _ga=1; PHPSESSID=s",
            body=b"action=reject-all&return=/page",
        ),
    ),
    ("gpc", request("GET", "/.well-known/gpc.json")),
    (
        "request-trailer",
        request("POST", "/echo", "Transfer-Encoding: chunked")
        + b"5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
    ),
    *((f"origin-{name}", request("GET", f"/o/{name}")) for name in ORIGIN),
    ("origin-head-redirect", request("HEAD", "/o/redirect-html")),
    *drawn(random.Random(SEED)),
]
Seen = tuple[int, list[tuple[str, str]], bytes, bool]  # (Answer.seen)
CLOSED: Seen = (0, [], b"closed without an answer", False)


def serve_status(code: int) -> Callable[[Seen, Seen], bool]:
    """Only serve's status is known (what mitmproxy passes on is the origin's)."""
    return lambda serve, addon: serve[0] == code


def without_added_length(serve: Seen, addon: Seen) -> bool:
    """serve's echo without the Content-Length: 0 aiohttp's client added is the addon's."""
    code, headers, body, whole = serve
    body = body.replace(b"Content-Length: 0\r\n", b"")
    headers = [(k, str(len(body)) if k == "content-length" else v) for k, v in headers]
    return (code, headers, body, whole) == addon


def cut_after_head(serve: Seen, addon: Seen) -> bool:
    return serve[3] and addon == (*serve[:2], b"", False)


def cut_sooner(serve: Seen, addon: Seen) -> bool:
    """Both cut, the addon's body a beginning of serve's."""
    return addon[:2] == serve[:2] and serve[2].startswith(addon[2]) and not (serve[3] or addon[3])


def served_refused(code: int, sentence: bytes) -> Callable[[Seen, Seen], bool]:
    """serve's answer has this status; the addon's is a 502 that says `sentence`."""
    return lambda serve, addon: serve[0] == code and addon[0] == 502 and sentence in addon[2]


def cut_at_first_bytes(serve: Seen, addon: Seen) -> bool:
    """serve's 502; the addon's response (200, a 206 part's) cut before its first byte."""
    return serve[0] == 502 and addon[0] in (200, 206) and addon[2:] == (b"", False)


def passed_whole(serve: Seen, addon: Seen) -> bool:
    """serve's 502 (its aiohttp refused the origin's answer); the addon's a whole 200."""
    return serve[0] == 502 and addon[0] == 200 and addon[3]


def same_cookies(status: int, bodies: Callable[[Seen, Seen], bool]) -> Callable[[Seen, Seen], bool]:
    """Both this status and the same Set-Cookie fields, their bodies as `bodies` says."""

    def cookies(seen: Seen) -> list[tuple[str, str]]:
        return [h for h in seen[1] if h[0] == "set-cookie"]

    return lambda serve, addon: (
        serve[0] == addon[0] == status and cookies(serve) == cookies(addon) and bodies(serve, addon)
    )


@dataclass
class Allowed:
    """Why the two may differ on a case (what one adapter's HTTP library does before the
    adapter sees the exchange, or after it can act; README's mitmproxy section names those
    a developer would meet), and the shape the difference must have (serve's, the addon's)."""

    why: str
    shape: Callable[[Seen, Seen], bool]


LLHTTP = "serve's HTTP parser (llhttp) answers 400 to what no browser sends; mitmproxy passes it"
FIRST_BYTES = Allowed(
    "a body broken at its first bytes: serve reads them before its head and answers 502; "
    "mitmproxy sends the head first, so the addon can only cut the response",
    cut_at_first_bytes,
)
INTERIM = b"sent an interim response"
ALLOWED: dict[str, Allowed] = {
    "method-brew": Allowed(LLHTTP + " (a method llhttp does not know)", serve_status(400)),
    "method-lower": Allowed(
        LLHTTP + " (methods are case-sensitive: get is no GET)", serve_status(400)
    ),
    "path-raw-byte": Allowed(
        LLHTTP + " (a byte over 0x7F in the target; browsers send it %-encoded)", serve_status(400)
    ),
    "method-odd": Allowed(
        "aiohttp's client adds Content-Length: 0 to a POST-like request with no body (RFC "
        "9110 8.6 asks it of one), which the origin's echo shows",
        without_added_length,
    ),
    "choice-too-big": Allowed(
        "mitmproxy reads a request body whole before an answer goes: the addon cuts a body "
        "over MAX_BODY for the proxy's own endpoint where serve answers 413",
        lambda serve, addon: serve[0] == 413 and addon == CLOSED,
    ),
    "origin-gzip-lies-html": FIRST_BYTES,
    "origin-chunked-bad": FIRST_BYTES,
    **dict.fromkeys(
        (
            f"origin-{name}"
            for name in (
                "zstd-broken-html",
                "br-cut-html",
                "gzip-no-trailer-html",
                "deflate-broken-html",
                "206-html-gzip",
            )
        ),
        FIRST_BYTES,
    ),
    "origin-chunked-bare-lf": Allowed(
        "chunk sizes ended by a bare LF: serve's parser (llhttp) refuses them, a 502 (RFC 9112 "
        "7.1 asks CRLF); mitmproxy's (h11) waits for a CRLF the origin never sends and the "
        "addon can only cut the response it began",
        cut_at_first_bytes,
    ),
    "origin-chunked-cut": Allowed(
        "as origin-truncated-html, for a chunked page the origin cuts short", cut_sooner
    ),
    "origin-length-short": Allowed(
        "bytes after a Content-Length's end with Connection: close: serve's aiohttp refuses "
        "the answer (a 502), mitmproxy reads the length's bytes as the page, as browsers do",
        passed_whole,
    ),
    "origin-header-nul": Allowed(
        "a NUL in a field's value: serve's aiohttp refuses the answer (a 502), mitmproxy "
        "passes the field on (an X- field no browser acts on)",
        passed_whole,
    ),
    "origin-early-hints-cookie": Allowed(
        "as origin-early-hints, for a 103 that sets a tracking cookie (serve drops the 103, "
        "its cookie with it)",
        served_refused(200, INTERIM),
    ),
    "origin-processing-first": Allowed(
        "as origin-early-hints, for a 102 Processing", served_refused(200, INTERIM)
    ),
    "websocket": Allowed(
        "serve answers a WebSocket handshake itself with the Set-Cookie of the origin's 101; "
        "mitmproxy relays the origin's 101 with the engine's headers (its Cache-Control: "
        "private, which nothing reads on a 101)",
        same_cookies(101, lambda serve, addon: serve[2:] == addon[2:]),
    ),
    "websocket-refused": Allowed(
        "an origin's answer to a WebSocket handshake that is no 101: serve sends its head "
        "alone, never cached (aiohttp's client keeps no body of it), mitmproxy relays the "
        "whole answer; a browser's WebSocket reads neither body",
        same_cookies(200, lambda serve, addon: serve[2] == b""),
    ),
    "origin-early-hints": Allowed(
        "mitmproxy reads an origin's interim response as its answer: the addon answers 502 "
        "(adapter.unpassable), serve's aiohttp reads on to the final one",
        served_refused(200, INTERIM),
    ),
    "origin-continue-first": Allowed(
        "as origin-early-hints, for a 100 Continue", served_refused(200, INTERIM)
    ),
    "origin-204-chunked": Allowed(
        "mitmproxy refuses a 204 with Transfer-Encoding (RFC 9112 6.1 forbids it) before the "
        "addon sees it: a 502 where serve's aiohttp sends the 204 without it",
        served_refused(204, b"cannot be reached"),
    ),
    "origin-truncated-html": Allowed(
        "a page the origin cuts short: serve sends what the rewriter held "
        "(server._as_far_as_it_came), mitmproxy gives the addon no hook that can send after "
        "the origin's failure, so the page is cut where the rewriter's output was",
        cut_sooner,
    ),
}


# --- the origin ---------------------------------------------------------------------------


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, origin: str) -> None:
    """The origin: /o/NAME answers ORIGIN's bytes; /page a page that honours Range and the
    validators; anything else an echo of the request as it arrived."""
    with contextlib.suppress(
        ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError
    ):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        target = lines[0].split(" ")[1]
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields.setdefault(name.strip().lower(), value.strip())
        if "content-length" in fields:
            await reader.readexactly(int(fields["content-length"]))
        elif "chunked" in fields.get("transfer-encoding", ""):  # (its end: the blank line after
            await reader.readuntil(b"\r\n\r\n")  # its last chunk, which the cases' have first)
        path = target.partition("?")[0]
        if path.startswith("/o/"):
            canned = ORIGIN[path[3:]]
            for part in canned if isinstance(canned, list) else [canned]:
                if part is None:  # (till the proxy leaves: longer than any visitor waits)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(HOLD):
                            await reader.read()
                    break
                writer.write(
                    part.replace(b"{origin}", origin.encode()).replace(
                        b"{accept}", accept(fields.get("sec-websocket-key", ""))
                    )
                )
                await writer.drain()
                await asyncio.sleep(0.2)
        elif path == "/page":
            validators = ['ETag: "v1"', "Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT"]
            if fields.get("if-none-match") == '"v1"' or "if-modified-since" in fields:
                writer.write(raw("304 Not Modified", validators))
            elif fields.get("range") == "bytes=0-10":
                writer.write(
                    sized(
                        "206 Partial Content",
                        [HTML, *validators, f"Content-Range: bytes 0-10/{len(PAGE)}"],
                        PAGE[:11],
                    )
                )
            else:
                writer.write(
                    sized("200 OK", [HTML, *validators, "Cache-Control: max-age=60"], PAGE)
                )
        else:  # (its lines in order of name: where an adapter puts Host is no matter)
            seen = sorted(h for h in lines[1:] if h and h.lower() != "connection: close")
            echo = "\r\n".join([lines[0], *seen]).encode("latin-1")
            writer.write(sized("200 OK", ["Content-Type: text/plain"], echo))
        await writer.drain()
    writer.close()


def accept(key: str) -> bytes:
    """A WebSocket handshake's Sec-WebSocket-Accept for its key (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest())


@contextlib.contextmanager
def origin_in_thread() -> Iterator[str]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    url: list[str] = []

    async def start() -> asyncio.Server:
        srv = await asyncio.start_server(lambda r, w: answer(r, w, url[0]), "127.0.0.1", 0)
        url.append(f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}")
        return srv

    srv = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield url[0]
    finally:
        loop.call_soon_threadsafe(srv.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


# --- what the visitor receives ------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    whole: bool  # its framing ended (else: cut, or still coming when the visitor gave up)

    def seen(self) -> Seen:
        """What a browser acts on, each response's mark, nonce and consent cookie's value (its
        own id and time) set aside."""
        marks = [v for k, v in self.headers if k == "x-consent-mark"]
        marks += [
            v.removeprefix("consent=").partition(";")[0]
            for k, v in self.headers
            if k == "set-cookie" and v.startswith("consent=") and len(v) > 9
        ]
        nonces = re.findall(r"'nonce-([^']+)'", " ".join(v for _, v in self.headers))

        def plain(text: str) -> str:
            for m in marks:
                text = text.replace(m, "MARK")
            for n in nonces:
                text = text.replace(n, "NONCE")
            return text

        headers = [(k, plain(v)) for k, v in self.headers if k in ANSWER_HEADERS]
        body = plain(decoded(self.body, self.headers).decode("latin-1")).encode("latin-1")
        return self.status, sorted(headers), body, self.whole


def decoded(body: bytes, headers: list[tuple[str, str]]) -> bytes:
    codings = [c.strip() for k, v in headers if k == "content-encoding" for c in v.split(",")]
    try:
        for coding in reversed(codings):
            if coding == "gzip":
                body = gzip.decompress(body)
            elif coding == "br":
                body = brotli.decompress(body)
            elif coding == "deflate":
                body = zlib.decompress(body)
            elif coding == "zstd":
                body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
    except (
        OSError,
        EOFError,
        zlib.error,
        brotli.error,
        zstandard.ZstdError,
    ) as e:  # (a browser shows an error)
        return f"undecodable ({type(e).__name__})".encode()
    return body


def dechunked(data: bytes) -> tuple[bytes, bool]:
    """A chunked body's bytes, and whether its last chunk came."""
    out = b""
    while data:
        size, _, data = data.partition(b"\r\n")
        try:
            n = int(size.split(b";")[0], 16)
        except ValueError:
            return out, False
        if n == 0:
            return out, True
        out, data = out + data[:n], data[n + 2 :]
    return out, False


async def visit(port: int, data: bytes) -> Answer | str:
    """Send a request's bytes; what comes back within WAIT of its first bytes (a connection
    closed with no answer: a string saying so). The connection closes after each answer:
    a byte after its framing's end is one no browser reads, and fails the case."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    got, closed = b"", False
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(FIRST_WAIT):
            got = await reader.read(65536)
        closed = not got
        async with asyncio.timeout(WAIT):
            while not closed and (chunk := await reader.read(65536)):
                got += chunk
            closed = True
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()
    while got.startswith(b"HTTP/1.1 1") and not got.startswith(b"HTTP/1.1 101"):
        got = got.partition(b"\r\n\r\n")[2]  # (interim answers, as a browser reads past them)
    if not got:
        return "closed without an answer"
    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = [(k.strip().lower(), v.strip()) for k, _, v in (h.partition(":") for h in lines[1:])]
    status = int(lines[0].split(" ")[1])
    length = [int(v) for k, v in headers if k == "content-length"]
    if data.startswith(b"HEAD") or status in (204, 304):
        body, after, whole = b"", body, True
    elif any(k == "transfer-encoding" and "chunked" in v for k, v in headers):
        (body, whole), after = dechunked(body), b""
    elif length:
        body, after, whole = body[: length[0]], body[length[0] :], len(body) >= length[0]
    else:
        after, whole = b"", closed
    assert not after, f"{len(after)} bytes after the answer's end: {after[:60]!r}"
    return Answer(status, headers, body, whole)


# --- the proxies --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    with origin_in_thread() as url:
        yield url


@pytest.fixture(scope="module")
def mitm(origin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    """A mitmdump that has answered once (its first answer, the engine's first page, can
    take longer than a visitor waits here on a loaded machine)."""
    with contextlib.ExitStack() as stack:
        started = mitmdump_in_front_of(stack, origin, tmp_path_factory.mktemp("parity"))
        first = http.client.HTTPConnection("127.0.0.1", started.port, timeout=20)
        first.request("GET", "/page")
        first.getresponse().read()
        first.close()
        yield started


@pytest.fixture(scope="module")
def engine(origin: str) -> Engine:
    """serve's engine, the mitmdump's config (one for all cases: a fresh serve each)."""
    return Engine(parse_config(CONFIG.format(upstream=origin)), KEYS)


@pytest.mark.parametrize(("case", "data"), REQUESTS, ids=[c for c, _ in REQUESTS])
async def test_serve_and_the_addon_answer_alike(
    case: str,
    data: bytes,
    engine: Engine,
    mitm: Started,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server, "READ_TIMEOUT", HOLD + WAIT)
    running = await server.start(engine, "127.0.0.1", 0)
    try:
        serve, addon = await asyncio.gather(visit(running.port, data), visit(mitm.port, data))
    finally:
        await running.stop()
    serve_seen = serve.seen() if isinstance(serve, Answer) else CLOSED
    addon_seen = addon.seen() if isinstance(addon, Answer) else CLOSED
    if case in ALLOWED:  # (a difference gone is one to compare again)
        assert addon_seen != serve_seen, f"alike now: take {case} out of ALLOWED"
        assert ALLOWED[case].shape(serve_seen, addon_seen), (serve_seen, addon_seen)
    else:
        assert addon_seen == serve_seen
