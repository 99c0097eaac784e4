"""Red-team probes in Chromium through the proxy (`serve`, `csp: report-only`, no consent given)
where the attack is in the origin's HTTP head, not its markup: a raw origin on 127.0.0.1 sends
each answer byte for byte (status line, headers as written). Each answer is first shown to make
Chromium request a tracker when loaded from the origin itself (else the probe proves nothing);
third-party requests are answered by the recorder, never sent. FOUND were findings (fixed in the
engine's reading of the head); BLOCKED are variants already stopped, kept against regressions.
tests/adversarial/test_faults.py checks the same answers through both adapters."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Error

from consentproxy.rewrite.scanner import XML_ERROR
from tests.e2e.conftest import FIRST_PARTY_HOST, recorded, secure_chromium, start_proxy

pytestmark = pytest.mark.e2e

TRACKERS = (
    b"<script src=https://www.google-analytics.com/analytics.js></script>"
    b"<img src='https://www.facebook.com/tr?id=1'>"
)
PAGE = (
    b"<!doctype html><html><head><title>t</title></head><body><p>hi</p>"
    + TRACKERS
    + b"</body></html>"
)
VIOLATION = (
    b"<!doctype html><html><head><title>t</title></head><body><img src=/a.gif></body></html>"
)
QUIET = b"<!doctype html><html><head><title>t</title></head><body><p>hi</p></body></html>"
OK = b"HTTP/1.1 200 OK\r\n"
HTML = b"Content-Type: text/html\r\n"


def legacy(url: bytes) -> bytes:
    return (
        b"<!doctype html><html><head><title>t</title></head><body><p>hi</p><img src=%s>" % (url)
        + b"</body></html>"
    )


def meta_refresh(content: bytes) -> bytes:
    return b'<!doctype html><html><head><meta http-equiv=refresh content="%s"></head></html>' % (
        content
    )


XHTML = (
    b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body><p>hi</p>'
    b'<script src="https://www.google-analytics.com/analytics.js"></script>'
    b'<img src="https://www.facebook.com/tr?id=1"/></body></html>'
)

XHTML_QUIET = (
    b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>t</title>'
    b"</head><body><p>hi</p></body></html>"
)
XHTML_TYPE = b"Content-Type: application/xhtml+xml\r\n"
XHTML_SCRIPT = b'<script src="https://www.google-analytics.com/analytics.js"></script>'


def xhtml(subset: bytes = b"", before_p: bytes = b"") -> bytes:
    """XHTML_QUIET with a DOCTYPE of this internal subset (none if empty) after its XML
    declaration, and these bytes before its <p>."""
    page = (
        XHTML_QUIET.replace(b"?>", b"?><!DOCTYPE html [" + subset + b"]>", 1)
        if subset
        else XHTML_QUIET
    )
    return page.replace(b"<p>", before_p + b"<p>")


STYLESHEET_INSTRUCTION = (
    b'<?xml-stylesheet type="text/css" href="https://www.facebook.com/tr?id=1"?>'
)


FOUND = {
    # Chromium reads a type up to whitespace, ';' or '(' (net's ParseContentType); the proxy
    # read up to ';': no HTML to it, so no rewrite, a page to Chromium.
    "/type-with-a-comment": (OK + b"Content-Type: text/html(legacy)\r\n", PAGE),
    "/type-then-a-space": (OK + b"Content-Type: text/html charset=utf-8\r\n", PAGE),
    "/plain-then-type-with-a-comment": (
        OK + b"Content-Type: text/plain\r\nContent-Type: text/html(x)\r\n",
        PAGE,
    ),
    # A type with no '/' is none to Chromium: it sniffs the page; to the proxy it was a type.
    "/type-without-a-slash": (OK + b"Content-Type: html\r\n", PAGE),
    # A quoted refresh URL ends at the last quote of its kind in Chromium: the proxy ended it at
    # the first quote of either kind, read the host as `x` and kept the refresh to the tracker.
    "/refresh-header-quoted-userinfo": (
        OK + HTML + b"Refresh: 0; url='https://x'@www.facebook.com/tr?id=1'\r\n",
        QUIET,
    ),
    "/refresh-header-other-quote-in-userinfo": (
        OK + HTML + b"Refresh: 0; url='https://x\"@www.facebook.com/tr?id=1'\r\n",
        QUIET,
    ),
    "/meta-refresh-quoted-userinfo": (
        OK + HTML,
        meta_refresh(b"0; url='https://x'@www.facebook.com/tr?id=1'"),
    ),
    # The origin's own CSP is kept: its report-uri made Chromium post each violation (the
    # page's URL in it) to the tracker, whatever the proxy's own policy (reports go where
    # no policy governs).
    "/csp-report-uri-to-a-tracker": (
        OK + HTML + b"Content-Security-Policy: img-src 'none'; report-uri "
        b"https://www.facebook.com/tr?id=1\r\n",
        VIOLATION,
    ),
    "/csp-report-only-report-uri-to-a-tracker": (
        OK + HTML + b"Content-Security-Policy-Report-Only: img-src 'none'; report-uri /r "
        b"https://www.facebook.com/tr?id=1\r\n",
        VIOLATION,
    ),
    # Chromium fetches speculation rules from the URLs of this header (a JSON list of pages
    # to prefetch or prerender): the proxy let it through, a fetch from the tracker.
    "/speculation-rules-header-from-a-tracker": (
        OK + HTML + b'Speculation-Rules: "/rules.json", '
        b'"https://www.google-analytics.com/rules.json";a=1\r\n',
        QUIET,
    ),
    # A charset the header names (or a <meta>) makes Chromium read bytes the proxy read as
    # latin-1 (trying UTF-8 alone for a host): two bytes are one fullwidth letter, which the
    # URL parser maps to ASCII; ISO-2022-JP's escapes show as nothing, in a host, an
    # attribute's name or a tag's.
    "/shift-jis-fullwidth-letter-in-a-host": (
        OK + b"Content-Type: text/html; charset=Shift_JIS\r\n",
        legacy(b"https://www.f\x82\x81cebook.com/tr?id=1"),
    ),
    "/shift-jis-by-meta-fullwidth-letter-in-a-host": (
        OK + HTML,
        b"<meta charset=shift_jis>" + legacy(b"https://www.f\x82\x81cebook.com/tr?id=1"),
    ),
    "/euc-jp-fullwidth-letter-in-a-host": (
        OK + b"Content-Type: text/html; charset=euc-jp\r\n",
        legacy(b"https://www.f\xa3\xe1cebook.com/tr?id=1"),
    ),
    "/gbk-fullwidth-letter-in-a-host": (
        OK + b"Content-Type: text/html; charset=gbk\r\n",
        legacy(b"https://www.f\xa3\xe1cebook.com/tr?id=1"),
    ),
    "/iso-2022-jp-escapes-in-tags-and-hosts": (
        OK + b"Content-Type: text/html; charset=iso-2022-jp\r\n",
        (
            b"<!doctype html><html><head><title>t</title></head><body><p>hi</p><scr\x1b(Bipt "
            b"src=https://www.google-analytics.com/analytics.js></script><img sr\x1b(Bc="
            b"https://www.face\x1b(Bbook.com/tr?id=1></body></html>"
        ),
    ),
    # Chromium renders a page whose Content-Disposition type is no token; the proxy read a
    # prefix `attachment` as a download, which it does not rewrite.
    "/disposition-attachment-then-a-word": (
        OK + HTML + b"Content-Disposition: attachment foo\r\n",
        PAGE,
    ),
    "/disposition-attachment-equals": (OK + HTML + b"Content-Disposition: attachment=1\r\n", PAGE),
    # Chromium's sniffer skips a vertical tab before the first tag, the standard's does not.
    "/untyped-after-a-vertical-tab": (OK, b"\x0b" + PAGE),
    # Chromium takes the last type it does not pass over (an empty one, `*/*` alone, one with
    # no '/'): an unknown type after a known one is sniffed, and the page rendered; to the
    # proxy the body had a type (not every one was unknown) and went on unrewritten.
    "/plain-then-unknown-type": (
        OK + b"Content-Type: text/plain\r\nContent-Type: unknown/unknown\r\n",
        PAGE,
    ),
    "/type-list-ending-in-an-unknown-type": (
        OK + b"Content-Type: application/json, application/unknown\r\n",
        PAGE,
    ),
    "/plain-then-any-type-with-a-parameter": (
        OK + b"Content-Type: text/plain\r\nContent-Type: */*; charset=utf-8\r\n",
        PAGE,
    ),
    "/plain-then-an-unknown-type-folded": (
        OK + b"Content-Type: text/plain\r\n ,unknown/unknown\r\n",
        PAGE,
    ),
    # Chromium reads an XHTML page in the encoding its XML declaration names (UTF-16 shown by
    # the declaration's own bytes, or ISO-2022-JP): the proxy read no declaration in XHTML.
    "/xhtml-in-utf16-by-its-xml-declaration": (
        OK + b"Content-Type: application/xhtml+xml\r\n",
        XHTML.replace(b'version="1.0"', b'version="1.0" encoding="utf-16"')
        .decode()
        .encode("utf-16-le"),
    ),
    "/xhtml-in-iso-2022-jp-by-its-xml-declaration": (
        OK + b"Content-Type: application/xhtml+xml\r\n",
        XHTML.replace(b'version="1.0"', b'version="1.0" encoding="iso-2022-jp"')
        .replace(b"<script", b"<scr\x1b(Bipt")
        .replace(b"www.facebook", b"www.face\x1b(Bbook"),
    ),
    # An image preload's imagesrcset is what Chromium preloads: the proxy read the URL in <>.
    "/link-preload-imagesrcset": (
        OK + HTML + b'Link: </a.gif>; rel=preload; as=image; imagesrcset="'
        b'https://www.facebook.com/tr?id=1 1x, /b.gif 2x"; imagesizes="100vw"\r\n',
        QUIET,
    ),
    "/link-preload-imagesrcset-unquoted": (
        OK + HTML + b"Link: </a.gif>; rel=preload; as=image; "
        b"imagesrcset=https://www.facebook.com/tr?id=1\r\n",
        QUIET,
    ),
    # Chromium loads the style sheet an XHTML page's <?xml-stylesheet?> names, before its
    # root element or after it: the rewriter stepped over instructions as bogus comments.
    "/xhtml-style-sheet-instruction": (
        OK + b"Content-Type: application/xhtml+xml\r\n",
        XHTML_QUIET.replace(b"?>", b"?>" + STYLESHEET_INSTRUCTION, 1),
    ),
    "/xhtml-style-sheet-instruction-after-the-root": (
        OK + b"Content-Type: application/xhtml+xml\r\n",
        XHTML_QUIET + STYLESHEET_INSTRUCTION,
    ),
    "/untyped-xml-style-sheet-instruction": (
        OK,
        XHTML_QUIET.replace(b"?>", b"?>" + STYLESHEET_INSTRUCTION, 1),
    ),
    # Its pseudo-attributes read as XML reads them: a search for href= found one in a title.
    "/xhtml-style-sheet-instruction-href-in-a-title": (
        OK + b"Content-Type: application/xhtml+xml\r\n",
        XHTML_QUIET.replace(
            b"?>", b"?>" + STYLESHEET_INSTRUCTION.replace(b"href", b'title="x href=" href'), 1
        ),
    ),
    # An instruction ends at '?>', a DOCTYPE's internal subset at its ']>', a CDATA section at
    # ']]>' (each read to its first '>', a comment hid what followed): helper-221, helper-235.
    "/xhtml-style-sheet-instruction-hidden-by-an-instruction": (
        OK + XHTML_TYPE,
        XHTML_QUIET.replace(b"?>", b"?><?a b><!-- ?>" + STYLESHEET_INSTRUCTION + b"<!-- -->", 1),
    ),
    "/xhtml-script-hidden-by-an-instruction": (
        OK + XHTML_TYPE,
        XHTML_QUIET.replace(b"<p>", b"<?a b><!-- ?>" + XHTML_SCRIPT + b"<!-- --><p>"),
    ),
    "/xhtml-style-sheet-instruction-in-the-doctype": (
        OK + XHTML_TYPE,
        xhtml(STYLESHEET_INSTRUCTION),
    ),
    "/xhtml-style-sheet-instruction-in-the-doctype-after-an-entity": (
        OK + XHTML_TYPE,
        xhtml(b'<!ENTITY c "x><!--"> ' + STYLESHEET_INSTRUCTION + b' <!ENTITY d "-->">'),
    ),
    "/xhtml-script-hidden-by-a-doctype-entity": (
        OK + XHTML_TYPE,
        xhtml(b'<!ENTITY c "x><!--">', XHTML_SCRIPT + b"<!-- -->"),
    ),
    "/xhtml-script-hidden-by-a-cdata-section": (
        OK + XHTML_TYPE,
        XHTML_QUIET.replace(b"<p>", b"<![CDATA[ a> <!-- ]]>" + XHTML_SCRIPT + b"<!-- --><p>"),
    ),
    # An entity the DOCTYPE declares expands in a URL or into markup: read by the rewrite as
    # `&t;` (helper-235).
    "/xhtml-script-src-by-an-entity": (
        OK + XHTML_TYPE,
        xhtml(
            b'<!ENTITY t "https://www.google-analytics.com/a.js">',
            b'<script src="&t;"></script>',
        ),
    ),
    "/xhtml-host-dots-by-an-entity": (
        OK + XHTML_TYPE,
        xhtml(b'<!ENTITY d "&#46;">', b'<img src="https://www&d;facebook&d;com/tr?id=1"/>'),
    ),
    # Held declarations were renamed consent-held.NAME: a page declaring that name itself
    # had its reference expand (helper-240); now a held declaration is dropped.
    "/xhtml-script-src-by-an-entity-named-as-held": (
        OK + XHTML_TYPE,
        xhtml(
            b'<!ENTITY consent-held.t "https://www.google-analytics.com/a.js">'
            b' <!ENTITY t "https://www.google-analytics.com/a.js">',
            b'<script src="&consent-held.t;"></script>',
        ),
    ),
    # An entity's reference beside a URL: emptied, `&e;https://...` would be the URL itself.
    "/xhtml-img-src-behind-an-empty-entity": (
        OK + XHTML_TYPE,
        xhtml(b'<!ENTITY e "">', b'<img src="&e;https://www.facebook.com/tr?id=1"/>'),
    ),
    "/xhtml-img-by-an-entity": (
        OK + XHTML_TYPE,
        xhtml(b"<!ENTITY s \"&#60;img src='https://www.facebook.com/tr'/>\">", b"&s;"),
    ),
    # An <!ATTLIST>'s default value is an attribute of every element it names (helper-240).
    "/xhtml-script-src-by-an-attlist-default": (
        OK + XHTML_TYPE,
        xhtml(
            b'<!ATTLIST script src CDATA "https://www.google-analytics.com/a.js">',
            b"<script></script>",
        ),
    ),
    "/xhtml-img-src-by-a-fixed-attlist": (
        OK + XHTML_TYPE,
        xhtml(b'<!ATTLIST img src CDATA #FIXED "https://www.facebook.com/tr">', b"<img/>"),
    ),
    # An element of the XHTML or SVG namespace loads whatever its prefix (helper-235).
    "/xhtml-prefixed-script": (
        OK + XHTML_TYPE,
        XHTML_QUIET.replace(
            b"<p>",
            XHTML_SCRIPT.replace(
                b"<script", b'<h:script xmlns:h="http://www.w3.org/1999/xhtml"'
            ).replace(b"</script", b"</h:script")
            + b"<p>",
        ),
    ),
    "/xhtml-prefixed-img": (
        OK + XHTML_TYPE,
        XHTML_QUIET.replace(
            b"<p>",
            b'<h:img xmlns:h="http://www.w3.org/1999/xhtml" src="https://www.facebook.com/tr"/><p>',
        ),
    ),
    # An XML name may start with '_' or a non-ASCII letter; any prefix may be XLink's
    # (helper-240).
    "/xhtml-underscore-prefixed-script": (
        OK + XHTML_TYPE,
        XHTML_QUIET.replace(
            b"<p>",
            b'<_:script xmlns:_="http://www.w3.org/1999/xhtml"'
            b' src="https://www.google-analytics.com/a.js"></_:script><p>',
        ),
    ),
    "/xhtml-non-ascii-prefixed-img": (
        OK + XHTML_TYPE,
        XHTML_QUIET.replace(
            b"<p>",
            '<é:img xmlns:é="http://www.w3.org/1999/xhtml" src="https://www.facebook.com/tr"/><p>'.encode(),
        ),
    ),
    "/xhtml-prefixed-style-import": (
        OK + XHTML_TYPE,
        XHTML_QUIET.replace(
            b"<p>",
            b'<h:style xmlns:h="http://www.w3.org/1999/xhtml">'
            b"@import url(https://www.google-analytics.com/a.css);</h:style><p>",
        ),
    ),
    # In XML a <script>'s or <style>'s content is markup: read as raw text, up to an end tag
    # HTML's script states would skip, an <img> in it loaded unjudged.
    "/xhtml-img-in-a-style": (
        OK + XHTML_TYPE,
        xhtml(before_p=b'<style><img src="https://www.google-analytics.com/x.gif"/></style>'),
    ),
    "/xhtml-img-in-a-script": (
        OK + XHTML_TYPE,
        xhtml(before_p=b'<script><img src="https://www.facebook.com/tr?id=1"/></script>'),
    ),
    "/xhtml-img-after-a-script-s-cdata": (
        OK + XHTML_TYPE,
        xhtml(
            before_p=b"<script><![CDATA[<!--<script>]]></script>"
            b'<img src="https://www.facebook.com/tr?id=1"/>'
        ),
    ),
    "/xhtml-svg-image-href-by-another-xlink-prefix": (
        OK + XHTML_TYPE,
        XHTML_QUIET.replace(
            b"<p>",
            b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:q="http://www.w3.org/1999/xlink">'
            b'<image width="9" height="9" q:href="https://www.facebook.com/tr"/></svg><p>',
        ),
    ),
    "/xhtml-prefixed-svg-image": (
        OK + XHTML_TYPE,
        XHTML_QUIET.replace(
            b"<p>",
            b'<s:svg xmlns:s="http://www.w3.org/2000/svg"><s:image width="9" height="9" '
            b'href="https://www.facebook.com/tr"/></s:svg><p>',
        ),
    ),
    # A 206 to a navigation that asked for no range: Chromium renders it as a page; the
    # proxy leaves a 206 (a part) unrewritten.
    "/partial-content-no-range-was-asked-for": (
        b"HTTP/1.1 206 Partial Content\r\n"
        + HTML
        + b"Content-Range: bytes 0-%d/%d\r\n" % (len(PAGE) - 1, len(PAGE)),
        PAGE,
    ),
}

BLOCKED = {
    "/windows-1252-ordinal-letter-in-a-host": (
        OK + HTML,
        legacy(b"https://www.f\xaacebook.com/tr"),
    ),
    "/link-preload": (
        OK + HTML + b"Link: <https://www.google-analytics.com/analytics.js>; rel=preload; "
        b"as=script\r\n",
        QUIET,
    ),
    "/link-preload-scheme-without-slashes": (
        OK + HTML + b"Link: <https:www.google-analytics.com/analytics.js>; rel=preload; "
        b"as=script\r\n",
        QUIET,
    ),
    # (a compression dictionary: fetched once the page is idle, whatever its host)
    "/link-compression-dictionary": (
        OK + HTML + b"Link: <https://www.facebook.com/tr?id=1>; rel=compression-dictionary\r\n",
        QUIET,
    ),
    "/link-preload-backslashes": (
        OK + HTML + b"Link: <https:\\\\www.google-analytics.com\\analytics.js>; rel=preload; "
        b"as=script\r\n",
        QUIET,
    ),
    "/link-modulepreload-after-another-link": (
        OK + HTML + b"Link: </a.css>; rel=preload; as=style, "
        b"<https://www.google-analytics.com/analytics.js>; rel=modulepreload\r\n",
        QUIET,
    ),
    "/refresh-header": (
        OK + HTML + b"Refresh: 0;url=https://www.facebook.com/tr?id=1\r\n",
        QUIET,
    ),
    "/coding-x-gzip": (OK + HTML + b"Content-Encoding: x-gzip\r\n", gzip.compress(PAGE)),
    "/coding-upper-case-gzip": (OK + HTML + b"Content-Encoding: GZIP\r\n", gzip.compress(PAGE)),
    "/plain-then-html": (OK + b"Content-Type: text/plain\r\nContent-Type: text/html\r\n", PAGE),
    "/untyped": (OK, PAGE),
    # Chromium sniffs an untyped body starting with `<?xml` as XML (text/xml) and runs the
    # scripts of its XHTML: the proxy passed it on unrewritten, under the policy of the mode.
    "/untyped-xhtml": (OK, XHTML),
}
# What the rewrite leaves to `csp: enforce` (documents it does not rewrite), through an
# enforcing proxy.
ENFORCE_FOUND = {
    # Chromium renders text/xsl as an XML document; the proxy gave XML its policy, not it.
    "/xhtml-as-text-xsl": (OK + b"Content-Type: text/xsl\r\n", XHTML),
}
ENFORCE_BLOCKED = {"/xhtml-as-text-xml": (OK + b"Content-Type: text/xml\r\n", XHTML)}
# Documents the proxy does not rewrite (XML must stay well-formed) under `csp: report-only`,
# the default: their policy is enforced there too (`off` is no policy anywhere). They had the policy of the mode, which
# in report-only blocks nothing: XHTML served as XML, an SVG document opened, framed or
# embedded, an XML document's XSLT output ran their trackers.
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
    b'<script href="https://www.google-analytics.com/analytics.js"/>'
    b'<image href="https://www.facebook.com/tr?id=1" width="10" height="10"/></svg>'
)
XSLT = (
    b'<?xml version="1.0"?><xsl:stylesheet version="1.0" '
    b'xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:output method="html"/>'
    b'<xsl:template match="/"><html><body><p>x</p>'
    b'<script src="https://www.google-analytics.com/analytics.js"></script>'
    b'<img src="https://www.facebook.com/tr?id=1"/></body></html></xsl:template>'
    b"</xsl:stylesheet>"
)
UNREWRITTEN_DOCUMENTS = {
    **ENFORCE_FOUND,
    **ENFORCE_BLOCKED,
    "/svg-document": (OK + b"Content-Type: image/svg+xml\r\n", SVG),
    "/svg-document-in-frames": (
        OK + HTML,
        (
            b"<!doctype html><html><body><iframe src=/svg-document></iframe>"
            b"<object data=/svg-document type=image/svg+xml></object>"
            b"<embed src=/svg-document type=image/svg+xml></body></html>"
        ),
    ),
    "/xml-styled-by-xslt": (
        OK + b"Content-Type: application/xml\r\n",
        b'<?xml version="1.0"?><?xml-stylesheet type="text/xsl" href="/a.xsl"?><root/>',
    ),
    "/a.xsl": (OK + b"Content-Type: text/xsl\r\n", XSLT),
    # An XHTML page's XSLT instruction, the site's own: its output replaces the rewritten
    # page, under that page's policy (report-only's held nothing: it is held now).
    "/xhtml-xslt-instruction": (
        OK + b"Content-Type: application/xhtml+xml\r\n",
        XHTML_QUIET.replace(b"?>", b'?><?xml-stylesheet type="text/xsl" href="/a.xsl"?>', 1),
    ),
    # The same, its type as XML reads it: escaped, or after a data-type.
    "/xhtml-xslt-instruction-type-escaped": (
        OK + b"Content-Type: application/xhtml+xml\r\n",
        XHTML_QUIET.replace(b"?>", b'?><?xml-stylesheet type="text&#47;xsl" href="/a.xsl"?>', 1),
    ),
    "/xhtml-xslt-instruction-after-a-data-type": (
        OK + b"Content-Type: application/xhtml+xml\r\n",
        XHTML_QUIET.replace(
            b"?>", b'?><?xml-stylesheet data-type="text/css" type="text/xsl" href="/a.xsl"?>', 1
        ),
    ),
}
# Set-Cookie spellings Chromium stores a tracking cookie from (BLOCKED: the proxy reads the
# name as Chromium does, whatever the header's case, spaces, attributes or repeats).
COOKIES = {
    "/set-cookie-upper-case": (OK + HTML + b"SET-COOKIE: _ga=GA1.1.1; Path=/\r\n", QUIET),
    "/set-cookie-spaces-and-tabs-around-the-name": (
        OK + HTML + b"Set-Cookie: \t _ga \t=GA1.1.1 ; Path=/\r\n",
        QUIET,
    ),
    "/set-cookie-attributes": (
        OK + HTML + b"Set-Cookie: _fbp=fb.1; Path=/; SameSite=Lax; Max-Age=99999999999\r\n",
        QUIET,
    ),
    "/set-cookie-repeated-and-lower-case": (
        OK + HTML + b"Set-Cookie: PHPSESSID=a\r\nSet-Cookie: _ga=1\r\nset-cookie: _gid=2\r\n",
        QUIET,
    ),
    # (Chromium ends a line at a lone CR: the status line's too)
    "/set-cookie-after-a-cr-in-the-reason-phrase": (
        b"HTTP/1.1 200 OK\rSet-Cookie: _ga=GA1.1.1; Path=/\r\n" + HTML,
        QUIET,
    ),
    "/set-cookie-on-a-redirect": (
        (
            b"HTTP/1.1 302 Found\r\nLocation: /set-cookie-upper-case\r\n"
            b"Set-Cookie: _gcl_au=1.1; Path=/\r\n"
        ),
        b"",
    ),
}
TRACKING_COOKIES = {"_ga", "_gid", "_fbp", "_gcl_au"}
# Chromium saves a response whose Content-Disposition type is any token but `inline` (net's
# HttpContentDisposition): the proxy read `attachment` alone as a download, and rewrote the
# others into the saved file, the banner in it.
DOWNLOADS = {
    "/download-misspelt-attachment": (
        OK + HTML + b'Content-Disposition: attachement; filename="report.html"\r\n',
        PAGE,
    ),
    "/download-unknown-disposition": (OK + HTML + b"Content-Disposition: download\r\n", PAGE),
}
# An upload served untyped with nosniff, to be shown as text (or saved, typed unknown): the
# proxy sniffed it and sent it on as a page without the nosniff, its scripts running.
UPLOAD = b"<!doctype html><html><head><script>document.title = 'ran'</script></head></html>"
NOSNIFF = b"X-Content-Type-Options: nosniff\r\n"
UNSNIFFED = {
    "/untyped-nosniff": (OK + NOSNIFF, UPLOAD),
    "/unknown-type-nosniff": (OK + b"Content-Type: unknown/unknown\r\n" + NOSNIFF, UPLOAD),
}
# An untyped page in an <object> or <embed>: in a secure context (https) Chromium says so in
# Sec-Fetch-Dest, which the proxy did not count as rendered: not sniffed, not rewritten.
EMBEDDED = {
    "/untyped-in-an-object": (OK + HTML, b"<!doctype html><object data=/untyped></object>"),
    "/untyped-in-an-embed": (OK + HTML, b"<!doctype html><embed src=/untyped>"),
}
# Where the rewrite cannot follow a DOCTYPE's internal subset it puts XML_ERROR: Chromium
# must read nothing past it (the subset as it came, a script after it loads).
SUBSET_THEN_SCRIPT = xhtml(b"<!-- a -->", XHTML_SCRIPT)
SUBSETS = {
    "/xhtml-doctype-subset": (OK + XHTML_TYPE, SUBSET_THEN_SCRIPT),
    "/xhtml-doctype-subset-not-followed": (
        OK + XHTML_TYPE,
        SUBSET_THEN_SCRIPT.replace(b"[", b"[" + XML_ERROR, 1),
    ),
}
# An SVG <image xlink:href> held in an XHTML page: its held name must declare no prefix (it
# was data-consent-xlink:href, Chromium's XML error there), and the image comes back in place.
SVG_IMAGE = "/xhtml-svg-image-xlink-href"
HELD_IN_PLACE = {
    SVG_IMAGE: (
        OK + XHTML_TYPE,
        xhtml(
            before_p=b'<svg xmlns="http://www.w3.org/2000/svg" '
            b'xmlns:xlink="http://www.w3.org/1999/xlink" width="9" height="9"><image width="9" '
            b'height="9" xlink:href="https://www.facebook.com/tr?id=1"/></svg>'
        ),
    ),
}
ANSWERS = {
    **FOUND,
    **SUBSETS,
    **HELD_IN_PLACE,
    **BLOCKED,
    **UNREWRITTEN_DOCUMENTS,
    **COOKIES,
    **DOWNLOADS,
    **UNSNIFFED,
    **EMBEDDED,
}


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request = await reader.readuntil(b"\r\n\r\n")
        head, body = ANSWERS.get(request.split(b" ")[1].decode(), (b"HTTP/1.1 404 No\r\n", b""))
        writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    writer.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def raw_origin() -> AsyncIterator[str]:
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://{FIRST_PARTY_HOST}:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def raw_proxy(raw_origin: str) -> AsyncIterator[str]:
    running = await start_proxy(raw_origin)
    try:
        yield f"http://{FIRST_PARTY_HOST}:{running.port}"
    finally:
        await running.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def raw_enforcing_proxy(raw_origin: str) -> AsyncIterator[str]:
    running = await start_proxy(raw_origin, "enforce")
    try:
        yield f"http://{FIRST_PARTY_HOST}:{running.port}"
    finally:
        await running.stop()


async def trackers_requested(browser: Browser, base_url: str, path: str) -> set[str]:
    async with recorded(browser, base_url) as (page, recorder):
        await page.goto(path)
        await page.wait_for_timeout(500)  # a Refresh of 0 s, a preload, a late image
        await page.wait_for_load_state("load")
        return recorder.hosts


async def held(browser: Browser, origin: str, proxy: str, path: str) -> None:
    """path loads a tracker from the origin itself (else the probe proves nothing), and none
    through the proxy."""
    direct = await trackers_requested(browser, origin, path)
    assert direct & {"www.google-analytics.com", "www.facebook.com"}, (
        f"{path}: loads no tracker from the origin itself: the probe proves nothing ({direct})"
    )
    assert await trackers_requested(browser, proxy, path) == set()


@pytest.mark.parametrize("path", [*FOUND, *BLOCKED])
async def test_origin_head_tricks_load_no_tracker_through_the_proxy(
    browser: Browser, raw_origin: str, raw_proxy: str, path: str
) -> None:
    await held(browser, raw_origin, raw_proxy, path)


async def test_chromium_reads_nothing_past_the_xml_error_put_in_a_subset_not_followed(
    browser: Browser, raw_origin: str
) -> None:
    assert "www.google-analytics.com" in await trackers_requested(
        browser, raw_origin, "/xhtml-doctype-subset"
    )
    assert (
        await trackers_requested(browser, raw_origin, "/xhtml-doctype-subset-not-followed") == set()
    )


async def test_a_held_xlink_href_keeps_the_xhtml_page_and_loads_after_accept_all_in_place(
    browser: Browser, raw_origin: str, raw_proxy: str
) -> None:
    assert "www.facebook.com" in await trackers_requested(browser, raw_origin, SVG_IMAGE)
    async with recorded(browser, raw_proxy) as (page, recorder):
        await page.goto(SVG_IMAGE)
        await page.wait_for_load_state("load")
        assert await page.evaluate("document.querySelector('parsererror') === null")
        assert await page.text_content("p") == "hi"  # (after the <svg>: no XML error before)
        assert recorder.hosts == set()
        await page.evaluate("window.before = 1")  # (gone if the page were loaded again)
        async with page.expect_request(lambda r: "www.facebook.com" in r.url):
            await page.click("text=Accept all")
        assert (
            await page.evaluate(
                "window.before === 1 && document.querySelector('image')"
                ".getAttributeNS('http://www.w3.org/1999/xlink', 'href')"
            )
            == "https://www.facebook.com/tr?id=1"
        )


@pytest.mark.parametrize("path", list(EMBEDDED))
async def test_an_untyped_page_in_an_object_or_embed_loads_no_tracker_over_https(
    raw_origin: str, raw_proxy: str, path: str
) -> None:
    async with secure_chromium(raw_origin, raw_proxy) as browser:  # (Sec-Fetch-Dest sent)
        await held(browser, raw_origin, raw_proxy, path)


@pytest.mark.parametrize("mode", ["report-only", "enforce"])
@pytest.mark.parametrize("path", [p for p in UNREWRITTEN_DOCUMENTS if p != "/a.xsl"])
async def test_documents_the_proxy_does_not_rewrite_load_no_tracker_in_either_mode(
    browser: Browser,
    raw_origin: str,
    raw_proxy: str,
    raw_enforcing_proxy: str,
    path: str,
    mode: str,
) -> None:
    await held(
        browser, raw_origin, raw_proxy if mode == "report-only" else raw_enforcing_proxy, path
    )


async def cookies_stored(browser: Browser, base_url: str, path: str) -> set[str]:
    async with recorded(browser, base_url) as (page, _):
        await page.goto(path)
        return {c["name"] for c in await page.context.cookies()}


@pytest.mark.parametrize("path", list(COOKIES))
async def test_set_cookie_spellings_store_no_tracking_cookie_through_the_proxy(
    browser: Browser, raw_origin: str, raw_proxy: str, path: str
) -> None:
    direct = await cookies_stored(browser, raw_origin, path)
    assert direct & TRACKING_COOKIES, f"{path}: Chromium stores no tracking cookie ({direct})"
    assert not await cookies_stored(browser, raw_proxy, path) & TRACKING_COOKIES


# With consent to analytics only: what the head tricks load of advertising (Facebook's pixel,
# its cookie), which stays held; Google Analytics, consented, may load.
ANALYTICS_ONLY = [p for p, (_, body) in FOUND.items() if b"facebook" in body + _]


@pytest.mark.parametrize("path", [*ANALYTICS_ONLY, *COOKIES])
async def test_with_consent_to_analytics_only_no_advertising_tracker_loads(
    browser: Browser, raw_proxy: str, path: str
) -> None:
    async with recorded(browser, raw_proxy) as (page, recorder):
        await page.goto("/.consent/state")
        status = await page.evaluate(
            """async () => (await fetch('/.consent/choice', {method: 'POST',
                headers: {'Content-Type': 'application/json'},
                body: JSON.stringify({action: 'save', categories: ['analytics']})})).status"""
        )
        assert status == 200
        await page.goto(path)
        await page.wait_for_timeout(500)
        await page.wait_for_load_state("load")
        cookies = {c["name"] for c in await page.context.cookies()}
        assert "consent" in cookies  # (the choice holds)
        assert "www.facebook.com" not in recorder.hosts
        assert not cookies & {"_fbp", "_gcl_au"}


async def saved(browser: Browser, base_url: str, path: str) -> bytes:
    async with recorded(browser, base_url) as (page, _):
        async with page.expect_download() as download:
            with pytest.raises(Error, match="Download is starting"):
                await page.goto(path)
        return (await (await download.value).path()).read_bytes()


@pytest.mark.parametrize("path", list(DOWNLOADS))
async def test_a_download_is_saved_as_the_origin_sent_it(
    browser: Browser, raw_origin: str, raw_proxy: str, path: str
) -> None:
    assert await saved(browser, raw_origin, path) == PAGE
    assert await saved(browser, raw_proxy, path) == PAGE


async def scripts_ran(browser: Browser, base_url: str, path: str) -> bool:
    async with recorded(browser, base_url) as (page, _):
        try:
            await page.goto(path)
        except Error as e:  # (saved, not shown)
            assert "Download is starting" in e.message
            return False
        return await page.title() == "ran"


@pytest.mark.parametrize("path", list(UNSNIFFED))
async def test_a_body_the_origin_bars_sniffing_of_runs_no_script_through_the_proxy(
    browser: Browser, raw_origin: str, raw_proxy: str, path: str
) -> None:
    assert not await scripts_ran(browser, raw_origin, path)
    assert not await scripts_ran(browser, raw_proxy, path)
