"""The rewriter on hostile markup: does any construct cost more than its size?

Each construct (lone `<`, unclosed quotes, 60,000 attributes, nested `<svg>`, thousands of
`<base>`, URL-dense CSS...) is repeated to fill pages of 30 KB, 100 KB and 300 KB, rewritten in
16 KB chunks for a visitor who decided nothing (the demo config, the C skip loop), and timed by
CPU time; "growth" is the 300 KB page's time over ten times the 30 KB page's: about 1 when the
cost is linear, 10 when it is quadratic. Then long waits (an unfinished tag, an `<svg>` the C
loop waits for whole) sent one byte per chunk, as a hostile origin may: their time grows with
the page too. Each page is rewritten once before it is timed, so memos are warm (a cold
stylesheet dense with URLs is several times slower the first time). Last, a start tag that
never ends, full of `<`, past the longest tag waited for (scanner.MAX_TAG, 1 MiB). Then
style sheets read for the first time (what a memo would serve again): `css.url_spans` alone on
30 KB and 300 KB of each, the shapes its quiet runs take in few steps beside those that defeat
them. Last, a visitor's own hostile input: the cookie deletions for a request path of
thousands of segments (the longest request line a proxy takes), which should cost what a
short path does. Then the hostile heads, cookies and texts the tests guard by counting work
(or by a hang guard where the cost is inside one regex call): each at a size and ten times
it, best of 3, "growth" as above.

    .venv/bin/python bench/hostile.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import common

from consentproxy.consent import NO_DECISION
from consentproxy.cookies import CookieFilter, deletion_headers
from consentproxy.csp import admit_injected
from consentproxy.engine import Request
from consentproxy.formercmp import read_choice
from consentproxy.printable import without_passwords
from consentproxy.rewrite.css import url_spans
from consentproxy.rewrite.neutralise import Neutraliser
from consentproxy.rewrite.scanner import MAX_TAG, HtmlRewriter

sys.path.insert(0, str(common.ROOT))  # (the tests' TC string builders: one copy of them)
from tests.test_formercmp import restrictions, tc_string, vendor_bits, vendor_ranges

SIZES = (30_000, 100_000, 300_000)
CHUNK = 16 * 1024
HEAD = b"<!doctype html><html><head></head><body>"
TAIL = b"</body></html>"

# name -> (opening, repeated unit, closing)
CONSTRUCTS: dict[str, tuple[bytes, bytes, bytes]] = {
    "lone <": (b"", b"<", b""),
    "<a repeated": (b"", b"<a", b""),
    "unclosed quote": (b"<a href='", b"x", b""),
    "many attributes": (b"<div ", b"a=1 ", b">"),
    "alternating quotes": (b"", b"<div a=\"'", b""),
    "comment opens": (b"", b"<!--", b""),
    "comment of dashes": (b"<!--", b"-", b"-->"),
    "escaped script": (b"<script><!--", b"<script>", b"</script>"),
    "script near-ends": (b"<script>", b"</scrip", b"</script>"),
    "nested svg": (b"", b"<svg>", b""),
    "unclosed svg groups": (b"<svg>", b"<g a='1'>", b""),
    "nested math": (b"", b"<math><mi>", b""),
    "svg in table cells": (b"<table>", b"<svg><td>", b""),
    "many base": (b"", b"<base href=//x.example/>", b""),
    "long srcset": (b"<img src=//a.example/x srcset='", b"//b.example/y 1x, ", b"'>"),
    "long style attribute": (b"<div style='", b"background:url(//t.example/a) ", b"'>"),
    "URL-dense CSS": (b"<style>", b"a{background:url(//t.example/a)}", b"</style>"),
    "CSS comment opens": (b"<style>", b"/*", b"</style>"),
    "CSS escapes": (b"<style>", b"\\75 rl(", b"</style>"),
    "entities in a URL": (b"<a href='", b"&amp;", b"'>"),
    "tracker snippets": (b"<script>", b"gtag('config','G-1');", b"</script>"),
    "srcdoc of trackers": (
        b"<iframe srcdoc='",
        b"&lt;script src=//www.google-analytics.com/a.js&gt;&lt;/script&gt;",
        b"'></iframe>",
    ),
    "CDATA opens": (b"<svg>", b"<![CDATA[", b""),
    "bogus comments": (b"", b"<?", b""),
    "end tags": (b"", b"</a", b""),
    "NUL bytes": (b"", b"\x00<", b""),
    "refresh metas": (b"", b"<meta http-equiv=refresh content='0;url=//x'>", b""),
    "objects": (b"", b"<object data=//x.example/y>", b""),
}

# Sent one byte per chunk: name -> (opening, repeated unit, closing), at 30 KB.
TRICKLED: dict[str, tuple[bytes, bytes, bytes]] = {
    "an <svg> of paths": (b"<svg>", b"<path d='M0 0 L 10 10'/>", b"</svg>"),
    "a 30 KB attribute": (b"<div title='", b"x", b"'></div>"),
    "a <style>": (b"<style>", b".a{color:red}\n", b"</style>"),
    "an inline script": (b"<script>", b"var a = 1;\n", b"</script>"),
    "a comment": (b"<!--", b"x", b"-->"),
}


# Style sheets: name -> (opening, repeated unit)
STYLE_SHEETS: dict[str, tuple[str, str]] = {
    "rules (quiet)": ("", ".a-b .c{margin:0;color:var(--x)}"),
    "selectors with brackets (quiet)": ("", "a[b=c]:not(.d){e:f}"),
    "URL-dense": ("", "a{background:url(//t.example/a)}"),
    "strings in blocks": ("", "a{b:'c'}"),
    "a block never closed": ("--x:'a';{", "a[b]c(d);"),
    "brackets opening": ("", "a[b("),
    "blocks in blocks": ("", "a{b:c"),
    "braces": ("", "{"),
    "calls never closed": ("", "x(aaaaaaaa "),
    "comment opens": ("", "/*"),
}


def sheet_seconds(text: str) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        url_spans(text)
        best = min(best, time.process_time() - t)
    return best


def page(construct: tuple[bytes, bytes, bytes], size: int) -> bytes:
    opening, unit, closing = construct
    return HEAD + opening + unit * (size // len(unit)) + closing + TAIL


def seconds(eng: object, data: bytes, chunk: int) -> float:
    """CPU time of one rewrite of data fed in chunks of chunk bytes, after a warm-up one."""
    policy = eng.policy  # type: ignore[attr-defined]
    for timed in (False, True):
        rw = HtmlRewriter(Neutraliser(policy, NO_DECISION, site="legacy.example"), b"", True)
        t0 = time.process_time()
        for i in range(0, len(data), chunk):
            rw.feed(data[i : i + chunk])
        rw.close()
        if timed:
            return time.process_time() - t0
    raise AssertionError("unreachable")


def main() -> None:
    eng = common.engine("bench-secret-0123456789abcdef0123")
    print(f"## Hostile markup, {CHUNK // 1024} KB chunks, MB/s by page size (CPU time)\n")
    print("| construct | " + " | ".join(f"{s // 1000} KB" for s in SIZES) + " | growth |")
    print("|---|" + "---|" * (len(SIZES) + 1))
    for name, construct in CONSTRUCTS.items():
        times = [seconds(eng, page(construct, s), CHUNK) for s in SIZES]
        rates = [f"{s / t / 1e6:.1f}" for s, t in zip(SIZES, times, strict=True)]
        growth = times[-1] / (times[0] * SIZES[-1] / SIZES[0])
        print(f"| {name} | " + " | ".join(rates) + f" | {growth:.2f} |")
    print("\n## Long waits sent one byte per chunk, 30 KB (CPU time)\n")
    print("| what waits | ms | µs per byte |")
    print("|---|---|---|")
    for name, construct in TRICKLED.items():
        data = page(construct, 30_000)
        t = seconds(eng, data, 1)
        print(f"| {name} | {t * 1e3:.1f} | {t / len(data) * 1e6:.2f} |")
    print("\n## A start tag that never ends, full of `<`, 16 KB chunks (CPU time)\n")
    print("| size | ms |")
    print("|---|---|")
    for size in (MAX_TAG + MAX_TAG // 10, 2 * MAX_TAG + MAX_TAG // 5):
        t = seconds(eng, page(CONSTRUCTS["alternating quotes"], size), CHUNK)
        print(f"| {size / 1e6:.1f} MB | {t * 1e3:.1f} |")
    print("\n## Style sheets read for the first time, MB/s by size (CPU time)\n")
    print("| style sheet | 30 KB | 300 KB | growth |")
    print("|---|---|---|---|")
    for name, (opening, unit) in STYLE_SHEETS.items():
        small, large = (opening + unit * (n // len(unit)) for n in (30_000, 300_000))
        times = [sheet_seconds(small), sheet_seconds(large)]
        growth = times[1] / (times[0] * len(large) / len(small))
        print(
            f"| {name} | {len(small) / times[0] / 1e6:.1f} | {len(large) / times[1] / 1e6:.1f} "
            f"| {growth:.2f} |"
        )

    print("\n## Cookie deletions by the request's path (CPU time, best of 5)\n")
    print("| path | µs |")
    print("|---|---|")
    for segments in (3, 500, 4000):  # (4,000 two-byte segments: an 8 KiB request line)
        path = "/a" * segments
        best = float("inf")
        for _ in range(5):
            t = time.process_time()
            deletion_headers(["_ga", "_gid"], "www.example.com", None, True, path)
            best = min(best, time.process_time() - t)
        print(f"| {segments} segments | {best * 1e6:.0f} |")
    hostile_heads(eng)


HTML = [("Content-Type", "text/html; charset=utf-8")]
OWN_ENDPOINTS = "https://shop.example.com/.consent/"


def response(eng: object, headers: list[tuple[str, str]]) -> Callable[[], object]:
    """An origin's head read by the engine for a visitor who decided nothing."""
    req = Request("GET", "/", [("Host", "shop.example.com")])
    return lambda: eng.begin(req).response(200, headers)  # type: ignore[attr-defined]


def best_seconds(call: Callable[[], object], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.process_time()
        call()
        best = min(best, time.process_time() - t)
    return best


def hostile_inputs(eng: object) -> dict[str, Callable[[int], Callable[[], object]]]:
    """name -> the call that reads a hostile input of size n (n and 10 n are timed)."""
    link = '<https://x.example/a.png>; rel=preload; as=image; imagesrcset="' + "b.png 1x, " * 600
    link += '", '
    seed = iter(range(10**9))  # (Content-Type values differ: no memo serves one again)
    csp_tail = " SCRIPT-src\t'none' ;; 'unsafe-inline' ; "
    cookie = CookieFilter(lambda n: n == "PHPSESSID")
    return {
        "Link of `<` never closed (n `<`)": lambda n: response(eng, [*HTML, ("Link", "<" * n)]),
        "Link repeated (n/256 preloads of 600 candidates)": lambda n: response(
            eng, [*HTML, ("Link", link * (n // 256))]
        ),
        'Alt-Svc `"a", ` and Report-To `"` (n each)': lambda n: response(
            eng, [*HTML, ("Alt-Svc", '"a", ' * n), ("Report-To", '"' * n)]
        ),
        'Report-To `"\\` (n)': lambda n: response(eng, [*HTML, ("Report-To", '"\\' * n)]),
        "4 Content-Type lines of n commas": lambda n: response(
            eng, [("Content-Type", "," * n + f"text/plain{next(seed)}") for _ in range(4)]
        ),
        "CSP of n directives `a;`": lambda n: (
            lambda: admit_injected("a;" * n + csp_tail + "b c;" * (n // 2), "N", OWN_ENDPOINTS)
        ),
        "Cookie of n spaces in a value": lambda n: (
            lambda: cookie.request_header("PHPSESSID=x" + " " * n + "y")
        ),
        "cookiebot CookieConsent of n `a`": lambda n: (
            lambda: read_choice("cookiebot", {"CookieConsent": "a" * n})
        ),
        "didomi_token of n `e`": lambda n: lambda: read_choice("didomi", {"didomi_token": "e" * n}),
        "euconsent-v2 `C` and n `_`": lambda n: (
            lambda: read_choice("tcf", {"euconsent-v2": "C" + "_" * n})
        ),
        "scan report's scrub of `a.` (n)": lambda n: lambda: without_passwords("a." * n),
    }


# TC strings at the cookie cap (4,096 characters): name -> (vendors, tail)
TC_STRINGS: dict[str, tuple[str, str]] = {
    "736 ranges of every vendor": (vendor_ranges(*[(1, 65535)] * 736), "0" * 29),
    "a bit field of 12,000 vendors apart": (vendor_bits(*range(1, 24000, 2)), "0" * 29),
    "457 restrictions of every vendor": (
        vendor_bits(1),
        restrictions(*[(n % 24 + 1, 0, ((1, 65535),)) for n in range(457)]),
    ),
    "a restriction of 1,400 vendors apart": (
        vendor_bits(1),
        restrictions((4, 2, tuple((n, n) for n in range(1, 2800, 2)))),
    ),
}


def hostile_heads(eng: object) -> None:
    n = 30_000
    print(f"\n## Hostile heads, cookies and texts, ms, n = {n:,} (CPU time, best of 3)\n")
    print("| input | n | 10 n | growth |")
    print("|---|---|---|---|")
    for name, make in hostile_inputs(eng).items():
        small, large = best_seconds(make(n)), best_seconds(make(10 * n))
        growth = large / small / 10
        print(f"| {name} | {small * 1e3:.2f} | {large * 1e3:.2f} | {growth:.2f} |")
    print("\n## TC strings at the cookie cap, µs a read (CPU time, best of 3 of 100 reads)\n")
    print("| TC string | µs |")
    print("|---|---|")
    for name, (vendors, tail) in TC_STRINGS.items():
        cookies = {"euconsent-v2": tc_string(vendors=vendors, tail=tail)}
        t = best_seconds(lambda c=cookies: [read_choice("tcf", c) for _ in range(100)])
        print(f"| {name} | {t / 100 * 1e6:.0f} |")


if __name__ == "__main__":
    main()
