import itertools
import re
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from consentproxy.consent import NO_DECISION, ConsentState
from consentproxy.policy import HANDLER_WORDS, Policy
from consentproxy.rewrite.css import STYLE_MAY_LOAD_RE
from consentproxy.rewrite.held import MAX_HELD_TEXT
from consentproxy.rewrite.injector import CLOSERS, MAX_HOLD
from consentproxy.rewrite.neutralise import (
    _MAY_BE_REMOTE_RE,
    HELD_ATTLIST,
    HELD_ENTITY,
    MARK_SLOT,
    Neutraliser,
)
from consentproxy.rewrite.scanner import (
    END_TAG_RE,
    MAX_TAG,
    SCRIPT_DATA,
    SCRIPT_TOKEN_RE,
    SKIPPER_ARGS,
    SKIPS,
    TAG_SPAN,
    XML_ERROR,
    HtmlRewriter,
    _script_token,
    end_tag,
    python_end_tag,
    python_skip,
    python_tag_span,
)
from consentproxy.rewrite.selectors import OpenMarker, parse_selectors

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
PAGES = sorted(CORPUS.glob("*.html"))
BANNER = b"<div id=consentproxy></div>"
INJECTED = CLOSERS + BANNER  # what goes in an HTML page: see injector.CLOSERS
MARK = "test-mark"  # the response's secret, fixed so that two rewrites can be compared
ALL = ConsentState(True, frozenset({"analytics", "advertising", "social"}))


def c_skip():
    """The C skip loop; `make install` builds it, so its absence is a failure here."""
    if "c" not in SKIPS:
        pytest.fail("the C scanner is not built: run `make install`")
    return SKIPS["c"]


@pytest.fixture(scope="module", params=["c", "python"])
def skip(request):
    """Every test here runs with both skip loops: the C extension and the pure-Python one."""
    return c_skip() if request.param == "c" else SKIPS["python"]


def rewrite(policy, page: bytes, chunks=None, state=NO_DECISION, inject=True, *, skip) -> bytes:
    rw = HtmlRewriter(Neutraliser(policy, state, MARK), BANNER, inject, skip=skip)
    sizes = chunks or [len(page) or 1]
    out, pos, i = [], 0, 0
    while pos < len(page):
        size = max(1, sizes[i % len(sizes)])
        out.append(rw.feed(page[pos : pos + size]))
        pos, i = pos + size, i + 1
    return b"".join(out) + rw.close()


def test_corpus_is_there():
    assert len(PAGES) >= 10


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_everything_consented_changes_nothing_but_the_banner(policy, skip, page):
    data = page.read_bytes()
    out = rewrite(policy, data, state=ALL, skip=skip)
    assert out.count(INJECTED) == 1
    assert out.replace(INJECTED, b"", 1) == data


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=st.sampled_from(PAGES), chunks=st.lists(st.integers(1, 300), min_size=1, max_size=8))
def test_any_chunking_gives_the_same_output(policy, skip, page, chunks):
    data = page.read_bytes()
    assert rewrite(policy, data, chunks, skip=skip) == rewrite(policy, data, skip=skip)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=st.sampled_from(PAGES), chunks=st.lists(st.integers(1, 300), min_size=1, max_size=8))
def test_an_empty_chunk_changes_nothing(policy, skip, page, chunks):
    """An empty chunk after each one (and before close) gives no bytes and changes no state:
    the engine's BodyTransform.close feeds none when decoding left nothing."""
    data = page.read_bytes()
    rw = HtmlRewriter(Neutraliser(policy, NO_DECISION, MARK), BANNER, True, skip=skip)
    out, pos, i = [], 0, 0
    while pos < len(data):
        size = chunks[i % len(chunks)]
        out.append(rw.feed(data[pos : pos + size]))
        assert rw.feed(b"") == b""
        pos, i = pos + size, i + 1
    assert b"".join(out) + rw.close() == rewrite(policy, data, chunks, skip=skip)


# Pages whose <style> elements load trackers: (page, how many styles are neutralised). A
# CSS comment does not hide </style>: what follows it is text.
CSS_PAGES = [
    (
        (
            b"<!DOCTYPE html><html><head><style media=screen>@import url(//www.google-analytics.com/"
            b"x.css);\nbody{background:url('https://www.facebook.com/tr?id=1')}</style></head><body>"
            b"<p>x</p><STYLE>p{cursor:\\75 rl(//www.facebook.com/tr),auto}</STYLE ></body></html>"
        ),
        2,
    ),
    (
        (
            b"<html><body><style>/* </style> */p{background:image-set('//www.facebook.com/tr' 1x)}"
            b"</style><p>after</p><style>p{color:red}q{x:image-set('//www.facebook.com/tr' 1x)}"
            b"</style></body></html>"
        ),
        1,
    ),
]


@pytest.mark.parametrize(("page", "blocked"), CSS_PAGES)
def test_style_pages_give_the_same_output_at_every_split(policy, skip, page, blocked):
    whole = rewrite(policy, page, skip=skip)
    assert whole.count(b"data-consent-blocked=") == blocked
    for cut in range(1, len(page)):
        assert rewrite(policy, page, [cut, len(page)], skip=skip) == whole, f"cut at {cut}"
    assert rewrite(policy, page, [1], skip=skip) == whole


@pytest.mark.parametrize(
    "tag",
    [
        b"<img alt='>' src=https://www.facebook.com/tr>",
        b'<img alt=">" src=https://www.facebook.com/tr>',
        b"<iframe title='a>b' src=https://www.youtube.com/embed/x></iframe>",
        b'<script data-x="1>2" src=https://www.googletagmanager.com/gtag/js></script>',
    ],
)
def test_a_quoted_value_holding_a_gt_is_read_whole_at_every_split(policy, skip, tag):
    """A chunk ending inside a quoted value that holds '>' (`<img alt='>`): the value was
    read as unquoted, the tag as ending at that '>', and the rest of it, the tracker's URL
    with it, went out as text, which the browser read as the tag's and loaded."""
    page = b"<html><head></head><body><p>a</p>" + tag + b"<p>b</p></body></html>"
    whole = rewrite(policy, page, skip=skip)
    assert whole.count(b"data-consent-blocked=") == 1
    for cut in range(1, len(page)):
        assert rewrite(policy, page, [cut, len(page)], skip=skip) == whole, f"cut at {cut}"


# A page that opens with one is read as UTF-16 and written out as UTF-8.
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=300) | st.text("<>!-/ascriptbodyframe=\"'\n", max_size=200).map(str.encode)
)
def test_any_bytes_pass_through_when_nothing_is_blocked(policy, skip, data):
    """Byte-faithful, except a page that opens with a UTF-16 byte order mark or XML
    declaration: that one is read as UTF-16 and comes out as UTF-8
    (tests/adversarial/test_evasion.py)."""
    assume(data[:2] not in UTF16_BOMS and data[:4] not in (b"<\0?\0", b"\0<\0?"))
    out = rewrite(policy, data, chunks=[7], state=ALL, inject=False, skip=skip)
    assert out == data


@pytest.mark.parametrize("page", [b"<?xml", b"<?xml version='1.0' encoding='iso-2022-jp'"])
def test_a_page_ending_inside_its_xml_declaration_stays_byte_for_byte(policy, skip, page):
    """Read as ISO-2022-JP (a declaration the bytes end in may name it), it came out as
    UTF-8 with a byte order mark; nothing follows that a reading could hide (hypothesis
    found b'<?xml')."""
    assert rewrite(policy, page, chunks=[3], state=ALL, inject=False, skip=skip) == page


def test_banner_goes_before_the_last_real_body_end(policy, skip):
    page = (
        b"<body><script>var s='</body>';</script><!-- </body> -->"
        b"<p>x</p></body>\n<p>late</p></BODY ></html>"
    )
    out = rewrite(policy, page, skip=skip)
    assert out == page.replace(b"</BODY >", INJECTED + b"</BODY >")


def test_banner_goes_at_the_end_without_body(policy, skip):
    assert rewrite(policy, b"<p>caf\xe9", skip=skip) == b"<p>caf\xe9" + INJECTED


@pytest.mark.parametrize(
    "tail",
    [
        b"<textarea>comment form",
        b"<title>t",
        b"<style>p{}",
        b"<xmp>x",
        b"<iframe>fallback",
        b"<noembed>x",
        b"<noframes>x",
        b"<!-- unclosed",
        b"<!bogus",
        b"</ bogus",
        b"<svg><![CDATA[ x",
    ],
)
def test_a_page_ending_in_raw_text_or_a_comment_gets_its_banner_as_markup(policy, skip, tail):
    """The banner at the end went into the <textarea>'s text (posted with the form), the
    comment or the <title>: ended first, as a browser ends it at the end of the page."""
    import html5lib

    page = b"<!doctype html><p>x</p>" + tail
    out = rewrite(policy, page, chunks=[7], skip=skip)
    doc = html5lib.parse(out, namespaceHTMLElements=False)
    assert [e.get("id") for e in doc.iter("div")] == ["consentproxy"]
    before = html5lib.parse(page, namespaceHTMLElements=False)
    texts = [(e.tag, e.text) for e in before.iter() if isinstance(e.tag, str)]
    assert [(e.tag, e.text) for e in doc.iter() if isinstance(e.tag, str) and e.tag != "div"] == (
        texts
    )


def test_a_script_the_page_leaves_open_is_left_open(policy, skip):
    """A browser never runs it: an end tag would (the banner goes in its text, unseen)."""
    page = b"<!doctype html><p>x</p><script>var a = 1"
    assert rewrite(policy, page, skip=skip) == page + INJECTED


def test_a_banner_given_in_pieces_goes_in_whole_before_the_body_end_or_at_the_end(policy, skip):
    """The engine hands the banner over as its filled pieces (no copy of it per page)."""
    pieces = [b"<div id=consentproxy data-return=", b"/back", b"></div>"]
    for page, where in ((b"<p>x</p></body></html>", b"</body>"), (b"<p>x</p>", None)):
        rw = HtmlRewriter(Neutraliser(policy, NO_DECISION, MARK), pieces, True, skip=skip)
        out = rw.feed(page) + rw.close()
        banner = CLOSERS + b"".join(pieces)
        assert out == (page.replace(where, banner + where) if where else page + banner)
        assert rw.injected
    rw = HtmlRewriter(Neutraliser(policy, NO_DECISION, MARK), BANNER, True, skip=skip)
    rw.banner = pieces  # the page's <html lang> chose another language
    assert rw.feed(b"<p>x</p></body>") + rw.close() == b"<p>x</p>" + banner + b"</body>"


def test_long_tail_after_body_end_bounds_what_is_held(policy, skip):
    page = b"<p>a</p></body>" + b"x" * (MAX_HOLD + 10)
    out = rewrite(policy, page, chunks=[4096], skip=skip)
    assert out == page.replace(b"</body>", INJECTED + b"</body>")


def test_no_banner_for_fragments_when_sniffing(policy, skip):
    assert (
        rewrite(policy, b"<div><p>fragment</p></div>", inject=None, skip=skip).count(INJECTED) == 0
    )
    doc = b"<!DOCTYPE html><html><body><p>x</p></body></html>"
    assert rewrite(policy, doc, inject=None, skip=skip).count(INJECTED) == 1


def test_an_xml_prolog_still_starts_a_document(policy, skip):
    doc = (
        b'<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
        b"<body><p>x</p></body></html>"
    )
    assert rewrite(policy, doc, inject=None, skip=skip).count(INJECTED) == 1


@pytest.mark.parametrize(
    "markup",
    [
        b"<!-- <script src=https://connect.facebook.net/x.js></script> -->",
        b"<textarea><iframe src=https://www.youtube.com/embed/x></iframe></textarea>",
        b"<title><img src=https://www.facebook.com/tr></title>",
        b"<img alt='<iframe src=https://www.youtube.com/embed/x>' src=/a.png>",
        b'<script type="application/ld+json">{"u":"https://www.youtube.com/x"}</script>',
        b"<style>/* <img src=https://www.facebook.com/tr> */</style>",
        b"<script>var s = \"</body><iframe src='https://www.youtube.com/embed/x'>\";</script>",
        # in and after foreign content
        b"<svg><foreignObject><style><img src=https://www.facebook.com/tr></style>",
        b"<svg><![CDATA[<img src=https://www.facebook.com/tr>]]></svg>",
        b"<svg/><textarea><img src=https://www.facebook.com/tr></textarea>",
        b"<svg></svg><title><img src=https://www.facebook.com/tr></title>",
    ],
)
def test_text_that_only_looks_like_trackers_is_untouched(policy, skip, markup):
    assert rewrite(policy, markup, inject=False, skip=skip) == markup


@pytest.mark.parametrize(
    "markup",
    [
        b"<SCRIPT SRC=https://www.google-analytics.com/analytics.js></SCRIPT>",
        b"<iframe src=//www.youtube.com/embed/x></iframe>",
        b"<noscript><img src='https://www.facebook.com/tr?id=1'></noscript>",
        b"<object data='https://www.youtube.com/v/x'></object><embed src=https://www.youtube.com/v/y>",
        b"<link rel=dns-prefetch href=//www.googletagmanager.com>",
        b"<script>!function(f,b,e,v,n,t,s){}(window);fbq('init','1')</script>",
        (
            b"<script><!-- document.write('<script src=//www.google-analytics.com/ga.js></script>')"
            b" --></script>"
        ),
        b"<img\nsrc\n=\nhttps://px.ads.linkedin.com/collect>",
        # in foreign content
        b"<svg><style><img src=https://www.facebook.com/tr></style></svg>",
        b"<math><mtext></mtext><title><img src=https://www.facebook.com/tr></title></math>",
        b"<svg><script><iframe src=//www.youtube.com/embed/x></iframe></script></svg>",
        b"<svg><![CDATA[ > ]]><img src=https://www.facebook.com/tr></svg>",
        b"<svg><script>fbq('init','1')</script></svg>",
    ],
)
def test_trackers_are_neutralised(policy, skip, markup):
    out = rewrite(policy, markup, inject=False, skip=skip)
    assert out != markup and b"data-consent-blocked=" in out


def test_script_end_inside_escaped_comment_does_not_end_the_script(policy, skip):
    page = (
        b"<script><!-- document.write('<script></script>'); --></script>"
        b"<iframe src=https://www.youtube.com/embed/x></iframe>"
    )
    out = rewrite(policy, page, inject=False, skip=skip)
    assert out.count(b"data-consent-blocked=") == 1  # the iframe after the real end
    assert out.startswith(b"<script><!--")  # the script text holds no tracker


def test_latin1_bytes_are_preserved(policy, skip):
    page = "<p>Caf\xe9 cr\xe8me</p><iframe src=https://www.youtube.com/embed/x></iframe>"
    out = rewrite(policy, page.encode("latin-1"), inject=False, skip=skip)
    assert out.startswith("<p>Caf\xe9 cr\xe8me</p>".encode("latin-1"))


def head_rewrite(policy, page: bytes, chunks=None, *, skip) -> bytes:
    rw = HtmlRewriter(
        Neutraliser(policy, NO_DECISION, MARK), BANNER, True, head=b"<GUARD>", skip=skip
    )
    sizes = chunks or [len(page)]
    out = [rw.feed(page[i : i + sizes[0]]) for i in range(0, len(page), sizes[0])]
    return b"".join(out) + rw.close()


def test_guard_goes_right_after_head_before_any_script(policy, skip):
    page = b"<!DOCTYPE html><html><HEAD lang=x><script>a()</script></head><body></body>"
    out = head_rewrite(policy, page, [3], skip=skip)
    assert out.startswith(b"<!DOCTYPE html><html><HEAD lang=x><GUARD><script>a()</script>")
    assert out.count(b"<GUARD>") == 1


@pytest.mark.parametrize("size", [1, 5, 1000])
def test_bare_head_and_body_end_tags_go_as_any_other_spelling(policy, skip, size):
    """<head> and </body> as most pages spell them (the scanner takes them in a step of
    their own) give what <HEAD> and </BODY> give: one guard after the first, the banner
    before the last real </body>."""
    page = (
        b"<!DOCTYPE html><html><head><head><script>a()</script></head><body>"
        b"<p>x</body><svg></body></svg><p>y</body>\n</html>"
    )
    out = head_rewrite(policy, page, [size], skip=skip)
    spelt = page.replace(b"<head>", b"<HEAD>").replace(b"</body>", b"</BODY>")
    upper = head_rewrite(policy, spelt, [size], skip=skip)
    assert out == upper.replace(b"<HEAD>", b"<head>").replace(b"</BODY>", b"</body>")
    assert out.startswith(b"<!DOCTYPE html><html><head><GUARD><head><script>a()</script>")
    assert out.count(b"<GUARD>") == 1
    assert out.endswith(b"<p>y" + INJECTED + b"</body>\n</html>")


def test_a_styled_root_element_does_not_move_the_guard(policy, skip):
    """<html style> reaches Python for its style; the guard still waits for <head> (in
    XHTML anything before the root element would break the document)."""
    page = b"<html style='background:url(/bg.png)'><head><title>x</title></head><body></body>"
    assert head_rewrite(policy, page, skip=skip).startswith(
        b"<html style='background:url(/bg.png)'><head><GUARD><title>"
    )


def test_guard_goes_before_the_first_loading_tag_without_head(policy, skip):
    out = head_rewrite(policy, b"<p>x</p><img src=/a.png><script>b()</script>", skip=skip)
    assert out.startswith(b"<p>x</p><GUARD><img src=/a.png>")


def test_guard_comes_with_the_banner_when_nothing_loads(policy, skip):
    assert head_rewrite(policy, b"<p>plain</p>", skip=skip) == (
        b"<p>plain</p>" + CLOSERS + b"<GUARD>" + BANNER
    )


@pytest.mark.parametrize("name", [b"noscript", b"NOSCRIPT", b"template"])
@pytest.mark.parametrize("chunks", [None, [3]])
def test_the_guard_goes_before_a_noscript_or_template_not_into_it(policy, skip, name, chunks):
    """A page with no <head> whose first loading tag is in a <noscript> (a fallback
    stylesheet) had the guard put into it: a browser running scripts reads it as text, and
    the guard (the banner's script too) never ran."""
    page = b"<html><%s><link rel=stylesheet href=/nojs.css></%s><p>x</p>" % (name, name)
    out = head_rewrite(policy, page, chunks, skip=skip)
    assert out == b"<html><GUARD>" + page[6:] + CLOSERS + BANNER
    # once the guard is placed, they are quiet: stepped over like any tag that loads nothing
    later = b"<head><title>t</title></head><body><%s><p>y</p></%s></body>" % (name, name)
    assert head_rewrite(policy, later, skip=skip) == later.replace(
        b"<head>", b"<head><GUARD>", 1
    ).replace(b"</body>", CLOSERS + BANNER + b"</body>")


@pytest.mark.parametrize(
    "ending", [b"<noscript><img src=/p.gif>", b"<template><p>row", b"<select><option>a"]
)
@pytest.mark.parametrize(
    ("content_type", "closed"),
    [("text/html; charset=utf-8", True), (None, True), ("application/xhtml+xml", False)],
)
def test_an_html_page_left_inside_a_noscript_template_or_select_has_it_closed_for_the_banner(
    policy, skip, ending, content_type, closed
):
    """The banner went into the noscript's text, the template's inert content or the select's
    options: never shown. Browsers ignore an end tag with nothing of its name open, so the
    closers go before every banner in HTML; never in XHTML, where one is a fatal error."""
    page = b"<!doctype html><body><p>x</p>" + ending
    rw = HtmlRewriter(
        Neutraliser(policy, ALL, MARK), BANNER, True, skip=skip, content_type=content_type
    )
    out = rw.feed(page) + rw.close()
    assert out == page + (CLOSERS if closed else b"") + BANNER


# Pieces of markup, joined at random: tags the C loop steps over (local and remote URLs),
# tags it must hand back, and the bytes that make tokenizing hard (quotes, comments, '<').
PIECES = [
    b"<img src=/a.png>",
    b"<IMG SRC='//www.facebook.com/tr'>",
    b"<link href=/s.css>",
    b"<link rel=preconnect href=https://www.googletagmanager.com>",
    b"<input src=x:y>",
    b"<img srcset='/a.png 1x, /b.png 2x' alt=\"a > b\">",
    b"<head>",
    b"<HEAD lang=x>",
    b"<img src=/a.png\n/\t/x>",
    b"<embed src=\\\\www.youtube.com\\v>",
    b"<source src=/v&amp;>",
    b"<script>",
    b"</script>",
    b"<script src=https://connect.facebook.net/x.js>",
    b"<iframe src=https://www.youtube.com/embed/x>",
    b"</iframe>",
    b"<textarea>",
    b"</textarea>",
    b"<title>",
    b"</title>",
    b"<style>",
    b"</style>",
    b"<!--",
    b"-->",
    b"--!>",
    b"<!DOCTYPE html>",
    b"<?xml ?>",
    b"</body>",
    b"</BODY\n>",
    b"<p class=x>",
    b"</p>",
    b'<a href="/x">',
    b'"',
    b"'",
    b"<",
    b">",
    b"/",
    b"=",
    b" ",
    b"text",
    b"fbq('init')",
    b"<plaintext>",
    b"<img",
    b"<frame src=/f>",
    b"<video poster=//x.doubleclick.net/p>",
    b"<img src=https:www.facebook.com/tr>",
    b"<img src=&#x2F;&#x2F;www.facebook.com/tr>",
    b"<div style='color:red'>",
    b'<div STYLE="background:url(//www.facebook.com/tr)">',
    b"<p style=x>",
    b"<span style>",
    b"<b style=\\75rl(x)>",
    b"<img style='a:url(/x)' src=/a>",
    b"<a href=https://x.example/>",
    b"<a href=/n ping=https://www.facebook.com/tr>",
    b"<td class=c>",
    b"<TD background=//www.facebook.com/tr>",
    b"<meta name=d content=e>",
    b"<meta http-equiv=Set-Cookie content='_fbp=1'>",
    b"<style>a{color:red}",
    b"a{b:url(//x)}",
    b"@import 'x';",
    b"</STYLE >",
    b"<title>x",
    b"</title/>",
    b"<xmp>",
    b"</xmp>",
    b"<svg>",
    b"</svg>",
    b"<svg/>",
    b"<math>",
    b"<mi>",
    b"<foreignObject>",
    b"</foreignObject>",
    b"<![CDATA[",
    b"]]>",
    b"<b>",
    b"</p>",
    b"<g>",
    b"</g>",
    b"<path d=1/>",
    b"<g></g>",
    b"<svg viewBox='0 0 1 1'>",
    b"<use href=#i />",
    b"<title>",
    b"</title>",
    b"</mi>",
    b"</math>",
    b"<!-- c -->",
    b"</br>",
    b"<desc>",
    b"<svg d=x/>",
    b"<image href=//www.facebook.com/tr>",
    b"<base href=//other.example/>",
    b"<img src=https://cdn.unknown.example/a.png>",
    b"<img srcset='//cdn.unknown.example/a 1x, //www.facebook.com/tr 2x'>",
    b"<link href=//cdn.unknown.example@www.facebook.com/tr>",
    b"<source src=HTTPS://CDN.UNKNOWN.EXAMPLE/v.mp4 media=(min-width:1px)>",
    b"<script src=https://cdn.unknown.example/a.js>",
    b"<script src=/a.js><!--",
    b"</script>",
    b"<rect style='fill:url(//www.facebook.com/tr)'/>",
    b"p{background:url(//www.facebook.com/tr)}",
    b"@import '//www.google-analytics.com/a.css';",
    b"<p style='--x:\"//www.facebook.com/tr\"'>",
    b"<p style='image(\"//x\")'>",
    # What the C loop decides from the neutraliser's memos (settled hosts, kept data blocks,
    # elements let through): a page's second rewrite must give the first one's bytes.
    b"<script>fbq('init', '1');</script>",
    b"<script>var a = 1;</script>",
    # what an opener's needles stop the C loop at (remembered tags around them)
    b"<a class=prefs href=/p>",
    b"<b id=x>",
    b"<img src=https://www.facebook.com/tr?id=1>",
    b'<script type=application/ld+json>{"u": "//www.facebook.com/tr"}</script>',
    b"<style>.a{background:url(/a.png)}</style>",
    b"<style>.b{background:url(https://cdn.unknown.example/b.png)}</style>",
    b"<style>.c{background:url(//www.facebook.com/tr)}</style>",
    b"<td background=images/a.gif>",
    b"<a href=/x ping='/p //cdn.unknown.example/q'>",
    b"<meta http-equiv=X-UA-Compatible content=IE=edge>",
    b"<meta http-equiv=refresh content='0;url=//www.facebook.com/tr'>",
    b"<img src='data:image/gif;base64,R0lG'>",
    b"<img src='/a.png?x&#38;y'>",
    b"<link href='https://cdn.unknown.example/?a=1&#038;b=2'>",
    b"<base href=https://cdn.unknown.example/>",
    b"<input data-u=https://www.facebook.com/tr>",
    b"<img src=/a src=//www.facebook.com/tr>",
    b"<script srcset=/a.png>fbq('init', '1');</script>",
    # script data's escape states: where a script let through before ends
    b"<script>var a = '<!--';</script>",
    b"<script>a('<!--<script>'); b('</script>'); fbq('init', '1'); c('-->');</script>",
    b"-->",
    # event handlers: held where their code loads a tracker no run-time hook holds
    b"<img src=/missing.gif onerror=\"import('https://www.google-analytics.com/a.js')\">",
    b"<body onload=\"location.href='https://www.youtube.com/embed/x'\">",
    b"<svg onload=import('//www.google-analytics.com/a.js')>",
    b"<details open ontoggle='import(&apos;https://www.google-analytics.com/a.js&apos;)'>",
    b"<circle onclick=\"import('//www.google-analytics.com/a')\"/>",
    b"<a href=# onclick=\"return go('/x')\">",
    b"<b onmouseover=\"this.src='/on.png'\" class=x>",
    b"<p onclick=x()>",
    b"<b onclick=\"a &amp;&amp; go('/x')\">",
    b"<p onclick='x&#47;' onclick=\"location='//www.youtube.com/'\">",
    b"<i onclick=\"\\u0069mport('//www.google-analytics.com/a')\">",
    # attribute names in other cases, after others (the C loop reads most from a byte)
    b"<b class=x STYLE='background:url(//www.facebook.com/tr)'>",
    b"<img alt=a SRC=//www.facebook.com/tr>",
    b"<a title=t HREF=/x PING=//cdn.unknown.example/q>",
    b"<meta name=x HTTP-EQUIV=Refresh content='0;url=//www.facebook.com/tr'>",
    b"<p title=x OnClick=\"location='//www.youtube.com/'\">",
]
SOUP = st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(
    page=SOUP,
    chunks=st.lists(st.integers(1, 64), min_size=1, max_size=6),
    state=st.sampled_from([NO_DECISION, ALL]),
    inject=st.sampled_from([True, False, None]),
    opener=st.sampled_from([None, ".prefs", "a, #x"]),
)
def test_c_and_python_skip_loops_give_the_same_bytes(policy, page, chunks, state, inject, opener):
    """The C loop twice (the second time with what the first taught the policy's memos)
    and the pure-Python loop: the same bytes and the same reports; with an opener too,
    whose needles end the C loop's runs where it wrote out remembered tags."""
    marker = None if opener is None else OpenMarker(parse_selectors(opener))
    rewriters = [
        HtmlRewriter(
            Neutraliser(policy, state, MARK),
            BANNER,
            inject,
            head=b"<GUARD>",
            skip=skip,
            opener=marker,
        )
        for skip in (c_skip(), c_skip(), SKIPS["python"])
    ]
    outs = []
    for rw, sizes in zip(rewriters, (chunks, chunks, [len(page) or 1]), strict=True):
        out, pos, i = [], 0, 0
        while pos < len(page):
            out.append(rw.feed(page[pos : pos + sizes[i % len(sizes)]]))
            pos, i = pos + sizes[i % len(sizes)], i + 1
        outs.append(b"".join(out) + rw.close())
    assert outs[0] == outs[1] == outs[2]
    python = rewriters[2].neutraliser
    for rw in rewriters[:2]:
        assert rw.neutraliser.blocked == python.blocked
        assert rw.neutraliser.unknown_hosts == python.unknown_hosts


# The tokenizer's alphabet, finer than PIECES: every branch of the skip loop.
TOKENS = [
    b"<",
    b"</",
    b"<!",
    b"<?",
    b"-",
    b"--",
    b"!",
    b">",
    b"/",
    b'"',
    b"'",
    b"=",
    b" ",
    b"\n",
    b"a",
    b"bod",
    b"body",
    b"Body",
    b"script",
    b"img",
    b"head",
    b"x:",
    b"&",
    b"//",
    b"style",
    b"Style",
    b"svg",
    b"MATH",
]


@settings(max_examples=1000, deadline=None)
@given(
    buf=st.lists(st.sampled_from(TOKENS), max_size=30).map(b"".join)
    | SOUP
    | st.binary(max_size=200),
    start=st.integers(0, 1000),
)
def test_the_c_loop_stops_where_the_regex_does_when_no_tag_is_quiet(buf, start):
    """Without quiet_ok, the C loop is SKIP_RE exactly: same end for any bytes."""
    pos = start % (len(buf) + 1)
    assert c_skip()(buf, pos, False) == SKIPS["python"](buf, pos, False)


def test_the_c_loop_stops_where_the_regex_does_on_every_short_token_sequence():
    """Exhaustive where random search is thin: up to three tokens, then a closing tail."""
    c, py = c_skip(), SKIPS["python"]
    for n in range(4):
        for seq in itertools.product(TOKENS, repeat=n):
            for tail in (b"", b">", b"a>", b"-->", b"--!>", b'">'):
                buf = b"".join(seq) + tail
                assert c(buf, 0, False) == py(buf, 0, False), buf


# Runs of 1 to 70 bytes: names, values and text that end in the first, second or a later
# of the 16-byte windows the C loop reads them by, or past its 64-byte handover to memchr;
# vertical tab and \x01 are the control bytes that are no white space.
RUNS = st.tuples(
    st.sampled_from([b"a", b"A", b"x-", b"\x0b", b"\x01", b"\xe9", b" ", b"'"]), st.integers(1, 70)
).map(lambda run: run[0] * run[1])


@settings(max_examples=300, deadline=None)
@given(buf=st.lists(st.sampled_from(TOKENS) | RUNS, max_size=16).map(b"".join))
def test_the_c_loop_stops_where_the_regex_does_wherever_a_window_or_the_chunk_ends(buf):
    """The C loop reads 16 bytes at a time and a buffer's last 15 one by one: for any
    lengths, and wherever a chunk ends (in a name, in a quoted value holding '>', after a
    '<' as its last byte), it stops where SKIP_RE does."""
    c, py = c_skip(), SKIPS["python"]
    for end in range(len(buf) + 1):
        assert c(buf[:end], 0, False) == py(buf[:end], 0, False), buf[:end]


@pytest.mark.parametrize("byte", [b"\x0b", b"\x01", b"\x1f", b"\xa0"])
@pytest.mark.parametrize("name", [b"a", b"IMG", b"body", b"style", b"svg"])
def test_a_byte_that_is_no_white_space_does_not_end_a_name(name, byte):
    """Names are read 16 bytes at a time, every byte up to ' ' taken for a delimiter at
    first: <a\x0bx> is no <a>, </body\x0b> no </body>, style\x0b= no style attribute."""
    c, py = c_skip(), SKIPS["python"]
    tail = b"text " * 8  # (enough bytes after the name for its 16-byte window)
    for buf in (
        b"<" + name + byte + b"x>",
        b"</" + name + byte + b">",
        b"<p " + name + byte + b"=x>",
    ):
        assert c(buf + tail, 0, False) == py(buf + tail, 0, False) == len(buf + tail), buf


def test_an_attribute_read_in_one_16_byte_load_ends_where_the_regex_says():
    """name="value" whose '=', opening and closing quote fall anywhere in or past the 16
    bytes the C loop reads an attribute by (a quote as their last byte, "><script>" or the
    other quote in the value, a control byte or a space before the '=', no closing quote),
    a style attribute among them: the C loop and tag reader stop where the regexes do, at
    every end of the buffer."""
    c, py = c_skip(), SKIPS["python"]
    tag_span = TAG_SPAN[c]
    cases = 0
    for name in (b"x", b"style", b"data-a-long-nam", b"abcdefghijklmnopq", b"x\x01", b"x "):
        for quote, other in ((b'"', b"'"), (b"'", b'"')):
            for size in range(19):
                for value in (b"v" * size, (b"><script>" * 2)[:size], other * size):
                    for close in (quote, b""):
                        attr = name + b"=" + quote + value + close
                        for buf in (
                            b"<p " + attr + b">",
                            b"<p " + attr + b" " + attr + b"/>",
                            b"<p " + attr + b"x>" + b"tail " * 4,
                        ):
                            for end in range(len(buf) + 1):
                                cut = buf[:end]
                                assert c(cut, 0, False) == py(cut, 0, False), cut
                            assert tag_span(buf, 0) == python_tag_span(buf, 0), buf
                            cases += 1
    assert cases == 6 * 2 * 19 * 3 * 2 * 3


# Attributes after another, as the C loop reads them from their 16 bytes or past them: quoted
# values of both kinds holding the other quote, '>' or a name; a name with '=' or '/' in it,
# after a '/', starting with '=', a control byte or a space before its '=', no value,
# unquoted, duplicated, no closing quote, no space or two after the value.
HOSTILE_ATTRS = [
    b'b="2"',
    b"b='2'",
    b'b=""',
    b"c='\"'",
    b'c="\'"',
    b'd="><p style=x>"',
    b'style="x"',
    b"STYLE='a' style='b'",
    b'b="2"b="3"',
    b'b=="2"',
    b'=b="2"',
    b'b/="2"',
    b'/b="2"',
    b'b\x01="2"',
    b'b\x0b="2"',
    b'b ="2"',
    b'b= "2"',
    b"b=2",
    b"b",
    b'b="2',
    b'b="2"/',
    b'b="2"  e="5"',
    b'b="2"\te="5"',
    b'="x>"',
    b"='>'",
    b'b="2" /',
    b'b="' + b"v" * 14 + b'"',
    b"b" * 14 + b'="2"',
]


def test_a_hostile_attribute_after_another_ends_where_the_regex_says():
    """A first attribute of every length up to 18 bytes (its 16 bytes read at once), then
    each hostile attribute (or layout), then the tag's end in every form: the C loop and the
    tag reader stop where the regexes do, at every end of the buffer."""
    c, py = c_skip(), SKIPS["python"]
    tag_span = TAG_SPAN[c]
    for size in range(14):
        first = b'a="' + b"v" * size + b'"'
        for attr in HOSTILE_ATTRS:
            for tail in (b">", b"/>", b" >", b" />", b' z="9">'):
                buf = b"<p " + first + b" " + attr + tail + b"<b>text</b>"
                for end in range(len(buf) + 1):
                    cut = buf[:end]
                    assert c(cut, 0, False) == py(cut, 0, False), cut
                assert tag_span(buf, 0) == python_tag_span(buf, 0), buf


@settings(max_examples=300, deadline=None)
@given(
    attrs=st.lists(
        st.sampled_from(HOSTILE_ATTRS)
        | st.tuples(st.sampled_from([b"a", b"style", b"On"]), st.integers(0, 20)).map(
            lambda a: a[0] + b'="' + b"v" * a[1] + b'"'
        ),
        min_size=1,
        max_size=12,
    ),
    cut=st.integers(0, 400),
)
def test_a_tag_of_many_attributes_ends_where_the_regex_says_wherever_the_chunk_ends(attrs, cut):
    """Up to 12 attributes, hostile ones among short and long quoted ones, the buffer cut
    anywhere (a chunk may end in any of them): the same end as the regex."""
    c, py = c_skip(), SKIPS["python"]
    buf = b"<div " + b" ".join(attrs) + b"><p>after</p>"
    for part in (buf, buf[: cut % (len(buf) + 1)]):
        assert c(part, 0, False) == py(part, 0, False), part
    assert TAG_SPAN[c](buf, 0) == python_tag_span(buf, 0), buf


LOADING_ATTRS = [
    b'src="//www.facebook.com/tr"',
    b"SRC='//www.facebook.com/tr'",
    b'src="/a.png" src="//www.facebook.com/tr"',  # the second one: left to the neutraliser
    b'style="background:url(/a.png)"',
    b"onclick=\"location='//www.youtube.com/'\"",
    # event handlers of every length from the shortest the C loop reads ("on" and a letter)
    # to past the 15 bytes its table of names by length holds
    *(b"on" + b"x" * size + b"=\"location='//www.youtube.com/'\"" for size in (1, 12, 13, 14, 20)),
    b"ONANIMATIONSTART=\"location='//www.youtube.com/'\"",
]


@pytest.mark.parametrize("attr", LOADING_ATTRS)
def test_an_attribute_that_may_load_is_read_after_any_other_attributes(attr):
    """An image's URL, style or event handler (the C loop tells most attributes apart from
    their length and first byte) after one, two, five or ten attributes of any length: the C
    loop stops at the tag; with a settled URL in its place, it steps over it."""
    c = c_skip()
    for size in range(14):
        for before in (b'a="' + b"v" * size + b'"', b'a="1" b="' + b"v" * size + b'"'):
            for count in (1, 5, 10):
                tag = b"<img " + b" ".join([before] * count) + b" "
                assert c(tag + attr + b">", 0, 1, SETTLED, set()) == 0, tag + attr
                plain = tag + b'src="/a.png" alt="x">'
                assert c(plain, 0, 1, SETTLED, set()) == len(plain), plain


def test_text_and_quoted_values_are_searched_to_their_end_at_every_length():
    """The C loop looks for the next '<' (and a value's closing quote) in four unrolled
    16-byte loads when 64 bytes are left in the buffer, 16 at a time nearer its end, then
    with memchr: text and values of every length up to 150, at every end of the buffer."""
    c, py = c_skip(), SKIPS["python"]
    for size in range(150):
        text = bytes(b"abcdefg "[i % 8] for i in range(size))
        for buf, stop in (
            (text + b"<script>" + b"x" * 70, b"<script>"),
            (b"<p title='" + text + b"'>" + text + b"<iframe>", b"<iframe>"),
            (b'<div data-x="' + text + b'"><script>', b"<script>"),
        ):
            assert c(buf, 0, False) == py(buf, 0, False) == buf.index(stop)
            for end in range(max(0, len(buf) - 90), len(buf) + 1):
                assert c(buf[:end], 0, False) == py(buf[:end], 0, False), buf[:end]


def test_a_tag_name_read_in_one_16_byte_load_is_looked_up_as_the_regex_reads_it():
    """Tag names are found and compared (in any case) from the 16 bytes the C loop loads:
    names it stops at and near misses (a letter more or less, a byte one case bit away, a
    control byte inside, 15 and 16 bytes long), each ended by every delimiter, at every end
    of the buffer: the C loop stops where the Python one does."""
    c, py = c_skip(), SKIPS["python"]
    names = [b"script", b"SCRIPT", b"sCrIpT", b"scrip", b"scripts", b"scr\x01ipt", b"script\x00"]
    names += [b"a", b"A", b"b", b"td", b"tD", b"t\x04", b"t\x44", b"plaintext", b"plaintexT"]
    names += [b"noembe\x04", b"noembed", b"noframes" + b"x" * 7, b"plaintext" + b"x" * 7]
    names += [b"s\xc3\xa9ript", b"scrip\x54", b"scrip\x74", b"scrip\x14", b"i\x7bframe"]
    for name in names:
        for after in (b">", b" ", b"/", b"\t", b"\x0c", b"\n", b"\r", b" x=1>"):
            for tail in (b"", b"<b>" + b"x" * 20):
                buf = b"<" + name + after + tail
                for end in range(len(buf) + 1):
                    assert c(buf[:end], 0, False) == py(buf[:end], 0, False), buf[:end]


@pytest.mark.parametrize(
    "tag",
    [
        b'</a title="><script>">',
        b"</a b='><img src=x>'>",
        b'</a b="x><script>',
        b'</p"x><script>',
        b'</a="><script>">',
        b"</div>",
    ],
)
def test_an_end_tag_ends_at_its_first_gt_only_when_no_quote_comes_before(tag):
    """Short end tags are ended by the first '>' of their 16 bytes when no quote comes
    before it; a quote sends them through the attribute reader, as the regex reads them (a
    '>' in a quoted value does not end them: the <script> after it is in the value)."""
    c, py = c_skip(), SKIPS["python"]
    for buf in (tag + b"after the tag", tag + b"<b>" + b"x" * 20):
        for end in range(len(buf) + 1):
            assert c(buf[:end], 0, False) == py(buf[:end], 0, False), buf[:end]
        assert TAG_SPAN[c](buf, 0) == python_tag_span(buf, 0)


INERT_FOREIGN = [
    b'<svg viewBox="0 0 1 1"><path d="M0 0"/></svg>',
    b"<svg><use xlink:href='#icon'></use></svg>",
    b"<SVG><G><Path d=M0/></g></Svg >",
    b"<svg><title>A &lt;b&gt; title</title><g><rect/></g></svg>",
    b"<svg><!-- <img src=//www.facebook.com/tr> --><svg></svg></svg>",
    b"<svg><g></svg>",
    b"<svg><path style='fill:red'/></svg>",
    (
        b"<math><semantics><mrow><mi>x</mi><mo>=</mo><mn>1</mn></mrow>"
        b"<annotation encoding='application/x-tex'>x=1</annotation></semantics></math>"
    ),
]


@pytest.mark.parametrize("markup", INERT_FOREIGN)
def test_the_c_loop_steps_over_whole_svg_and_math_elements_that_load_nothing(markup):
    assert c_skip()(markup + b"<p>", 0, 4) == len(markup) + 3
    assert c_skip()(markup, 0, 1) == 0  # (the foreign bit only)


@pytest.mark.parametrize(
    "markup",
    [
        b"<svg><image href=//www.facebook.com/tr></image></svg>",
        b"<svg><style>@import '//www.google-analytics.com/a.css';</style></svg>",
        b"<svg><script>fbq('init')</script></svg>",
        b"<svg><title><img src=//www.facebook.com/tr></title></svg>",
        b"<math><mi><img src=//www.facebook.com/tr></mi></math>",
        b"<svg><foreignObject><iframe src=//x.example/></iframe></foreignObject></svg>",
        b"<svg><![CDATA[</svg><img src=//www.facebook.com/tr>]]></svg>",
        b"<svg><p>breaks out</svg>",
        b"<svg></p></svg>",
        b"<svg></BR></svg>",
        b"<math></BODY\n></math>",  # the banner goes before the last </body>, wherever
        b"<svg><font color=red>out</font></svg>",
        b"<svg><rect style='fill:url(//www.facebook.com/tr)'/></svg>",
        b"<svg style='background:URL(//www.facebook.com/tr)'></svg>",
        b"<svg/>",
        b"<svg><g></g>",  # not closed in this buffer
        b"<svg><a href=/x ping=//www.facebook.com/tr></a></svg>",
        b"<svg><?php x ?></svg>",
        b"<math><annotation-xml encoding=text/html><img src=x></annotation-xml></math>",
    ],
)
def test_the_c_loop_stops_at_svg_and_math_elements_the_scanner_must_see(markup):
    assert c_skip()(markup, 0, 7) == 0


def test_a_slash_in_an_unquoted_value_does_not_close_a_foreign_element():
    """<svg d=x/> stays open (foreign.self_closing): the first </svg> closes it, the
    outer one is still open after it."""
    inner = b"<svg><svg d=x/></svg>"
    assert c_skip()(inner + b"<style>", 0, 4) == 0
    assert c_skip()(inner + b"</svg><p>", 0, 4) == len(inner) + 9


def test_after_a_base_elsewhere_the_c_loop_steps_over_tags_only_their_key_could_load():
    """A <base> on another host makes every relative URL remote: with the keyed bit alone,
    an <a> without ping passes; one with ping, and an <img>, reach the neutraliser."""
    plain = b"<a href=/x class=y>"
    assert c_skip()(plain, 0, 2) == len(plain)
    assert c_skip()(b"<a href=/x ping=/p>", 0, 2) == 0
    assert c_skip()(b"<img src=/a.png>", 0, 2) == 0
    assert c_skip()(b"<title>t</title>", 0, 2) == 0
    # (an <input>'s key is its formaction, but its src loads: keyed is not enough)
    assert c_skip()(b"<input type=image src=/a.png>", 0, 2) == 0


CDN = b"cdn.unknown.example"  # unknown, so reported: settled once the page has named it
SETTLED = {CDN: True, b"static.example": False}


@pytest.mark.parametrize(
    "markup",
    [
        b'<img src="https://cdn.unknown.example/a.png" alt="a: b">',
        b"<img src=//CDN.Unknown.Example/a.png?x=1#y>",
        b"<img src=//static.example>",
        b"<img srcset='//static.example/a.png 1x, /b.png 2x' sizes=(max-width:1px)>",
        b'<link rel=stylesheet href="http://static.example/a:b.css">',
        b"<source src=/local.mp4 data-x=//www.facebook.com/tr>",  # not a URL attribute
    ],
)
def test_the_c_loop_steps_over_tags_whose_urls_name_settled_hosts_only(markup):
    assert c_skip()(markup, 0, 1, SETTLED, {"cdn.unknown.example"}) == len(markup)


@pytest.mark.parametrize(
    "markup",
    [
        b"<link href=/a.css lowsrc=//cdn.unknown.example/x rel=stylesheet>",
        b"<source src=/a.png lowsrc=https://cdn.unknown.example/x>",
    ],
)
def test_the_c_loop_steps_over_an_unseen_host_in_an_attribute_the_tag_does_not_load(markup):
    """Such a host is no report (3d1ccd1), but the loop stopped at the tag, on every response
    (the host, never reported, never seen): a page's such tags were each the Python loop's."""
    seen: set[str] = set()
    assert c_skip()(markup, 0, 1, SETTLED, seen) == len(markup) and not seen


@pytest.mark.parametrize(
    "markup",
    [
        b"<img src=https://www.facebook.com/tr>",
        b"<img SRC=//www.facebook.com/tr>",
        b"<img src=//cdn.unknown.example/a.png src=//www.facebook.com/tr>",
        b"<img srcset='//static.example/a 1x, //www.facebook.com/tr 2x'>",
        b"<img src=//cdn.unknown.example@www.facebook.com/tr>",
        b"<img src=//cdn.unknown.example:443@www.facebook.com/tr>",
        b"<img src=//cdn.unknown.example%2F@www.facebook.com/tr>",
        b"<img src='//cdn.unknown.example\\@www.facebook.com/tr'>",
        b"<img src='//static.example\\www.facebook.com/tr'>",
        b"<img src='&#x2F;&#x2F;www.facebook.com/tr'>",
        b"<img src='//static.example&#x40;www.facebook.com/tr'>",
        b"<img src='//stat\tic.example/x'>",  # a tab the URL parser drops
        b"<img src='//static.\x00example/x'>",
        b"<img src='\x01//www.facebook.com/tr'>",
        b"<img src=https:www.facebook.com/tr>",
        b"<img src=https:///www.facebook.com/tr>",
        b"<img src=//static.example./x>",  # (settled without the dot: left to Python)
        b"<img src='//static.example evil.example/x'>",
        b"<img src=javascript:alert(1)>",
        b"<link href='data:text/css,x'>",
        # past the first 16 bytes, where the C loop reads a URL 16 bytes at a time
        b"<img src='//static.example/" + b"a" * 40 + b"\x01//www.facebook.com/tr'>",
        b"<img src='/" + b"a" * 40 + b"\\www.facebook.com/tr'>",
        b"<img src=/" + b"a" * 40 + b"javascript:x>",
        b"<img src=/" + b"a" * 40 + b"&#x2F;&#x2F;www.facebook.com/tr>",
        b"<img srcset='/" + b"a" * 40 + b" 1x," + b" " * 20 + b"//www.facebook.com/tr 2x'>",
    ],
)
def test_the_c_loop_stops_at_urls_that_may_name_an_unsettled_host(markup):
    assert c_skip()(markup, 0, 1, SETTLED, {"cdn.unknown.example"}) == 0


@pytest.mark.parametrize(
    "markup",
    [
        b"<script src=/app.js></script>",
        b"<SCRIPT type=module SRC='https://static.example/a.js'></SCRIPT >",
        b"<script src=/a.js>ignored(); '<b>' --></script>",
        # its end tag where the escape states put it
        b"<script src=/a.js><!--<script></script>fbq('init')--></script>",
        b"<script src=/a.js>x('<!--'); y('</script>');",
    ],
)
def test_the_c_loop_steps_over_scripts_from_settled_hosts_up_to_their_end_tag(markup):
    assert c_skip()(markup, 0, 1, SETTLED, set()) == len(markup)


@pytest.mark.parametrize(
    "markup",
    [
        b"<script>fbq('init')</script>",  # inline: its text is the code
        b"<script type=text/plain>fbq('init')</script>",
        b"<script src=//www.facebook.com/tr></script>",
        b"<script src=/a.js xlink:href=//www.facebook.com/tr></script>",
        b"<script src=/a.js><!--<script></script>no end tag yet",  # (by its escape states)
        b"<script src=/a.js>no end tag yet",
        # URL attributes of other tags: the script's text is still its code
        b"<script srcset=//static.example/a.png>fbq('init')</script>",
        b"<script imagesrcset=/a.png lowsrc=/b.png dynsrc=/c>fbq('init')</script>",
    ],
)
def test_the_c_loop_stops_at_scripts_the_neutraliser_must_see(markup):
    assert c_skip()(markup, 0, 1, SETTLED, set()) == 0
    assert c_skip()(markup, 0, 1) == 0  # without settled hosts, never


@pytest.mark.parametrize(
    "markup",
    [
        b"<b class=x STYLE='background:url(//www.facebook.com/tr)'>",
        b'<b title=x Style="background:url(/a.png)">',
        b"<p id=a ONCLICK=\"location='//www.youtube.com/'\">",
        b"<p/oNlOaD=import('//www.google-analytics.com/a.js')>",
        b"<img alt=a SRC=//www.facebook.com/tr>",
        b"<img alt='a'/Src='//www.facebook.com/tr'>",
        b"<img alt=\"a\"SRCSET='//www.facebook.com/tr 1x'>",
        b"<img width=1 Src = //www.facebook.com/tr>",
        b"<img alt=\x00 sRc=//www.facebook.com/tr>",
        b"<a title=t HREF=/x PING=//www.facebook.com/tr>",
        b"<meta name=x HTTP-EQUIV=refresh content='0;url=//www.facebook.com/tr'>",
        b"<img alt=a SRC=//static.example/a.png",  # unended: the rest may be in the next chunk
    ],
)
def test_an_attribute_that_may_load_is_read_in_any_case_after_any_other(markup):
    """Most attributes (class, title, alt...) are told apart from their first byte and length
    alone: a style, an event handler, a key or a URL attribute is still read in any case, after
    a quote, a '/' or a NUL, with spaces around its '='."""
    assert c_skip()(markup, 0, 1, SETTLED, set()) == 0


@pytest.mark.parametrize(
    "markup",
    [
        b"<img class=STYLE title=onclick alt='src=//www.facebook.com/tr' src=/a.png>",
        b"<b CLASS='a' TITLE=\"STYLE=x\" ID=ONCLICK>",
        b"<a Title='x' Class=y HREF=/x>",
        b"<p Stile=url(//www.facebook.com/tr) o=1 on=x>",  # neither a style nor a handler
    ],
)
def test_attributes_that_cannot_load_are_stepped_over_in_any_case(markup):
    assert c_skip()(markup, 0, 1, SETTLED, set()) == len(markup)


def test_an_inline_script_holding_a_comment_is_stepped_over_where_its_escape_states_end_it(
    policy,
):
    """A script holding "<!--" (past many '<') ends where its escape states end it, not at
    the first "</script>": once the neutraliser has let it through, the C loop steps over the
    very text it held."""
    neutraliser = Neutraliser(policy, NO_DECISION, MARK)
    memos = (neutraliser.settled, neutraliser.unknown_hosts, neutraliser.element_memo)
    code = b"if (a<b && c<d) { x('<i>'); }" * 4 + b"y('<!--<script>'); z('</script>'); w('-->');"
    script = b"<script>" + code + b"</script><p>"
    assert c_skip()(script, 0, 1, *memos, neutraliser.choice) == 0  # not worked out yet
    assert neutraliser.inline_script(b"<script>", code) == b"<script>"
    neutraliser.remember_element(b"<script>", code, True, False)
    assert c_skip()(script, 0, 1, *memos, neutraliser.choice) == len(script)
    cut = code[: code.index(b"</script>")]  # what the first end tag would have ended
    neutraliser.remember_element(b"<script>", cut, True, False)
    assert c_skip()(b"<script>" + cut + b"</script>", 0, 1, *memos, neutraliser.choice) == 0


def test_the_c_loop_follows_script_data_through_its_escape_states_to_its_end():
    script_data = SCRIPT_DATA[c_skip()]
    assert script_data(b"if (a<b) x('</scripts>');</SCRIPT >", 0, 0) == (25, 0, True)
    escaped = b"x = '<!--'; <script></script></script>"
    assert script_data(escaped, 0, 0) == (escaped.rindex(b"</script>"), 1, True)
    assert script_data(b"no end tag </script", 0, 0) == (0, 0, False)  # (a delimiter next?)
    assert script_data(b"a<!-- b --> c <!-", 0, 0) == (11, 0, False)  # (the last token's end)
    assert script_data(b"<script> </script>", 0, 1) == (17, 1, False)


@settings(max_examples=1000, deadline=None)
@given(
    buf=st.lists(st.sampled_from(TOKENS + [b"title", b"TiTle", b"svg", b"\t"]), max_size=30).map(
        b"".join
    )
    | SOUP,
    name=st.sampled_from(sorted(END_TAG_RE)),
    start=st.integers(0, 1000),
    stop=st.integers(0, 1000),
)
def test_the_c_end_tag_search_finds_what_the_regex_finds(buf, name, start, stop):
    assert end_tag is not python_end_tag  # (the C one: `make install` builds it)
    pos, end = start % (len(buf) + 1), stop % (len(buf) + 1)
    assert end_tag(buf, name, pos, end) == python_end_tag(buf, name, pos, end)


@settings(max_examples=1000, deadline=None)
@given(
    buf=st.lists(st.sampled_from(TOKENS + [b"a", b"A", b"svg", b"\t", b"\f", b"\x00"]), max_size=30)
    .map(b"".join)
    .map(lambda tail: b"<" + tail)
    | SOUP,
    start=st.integers(0, 1000),
)
def test_the_c_tag_reader_reads_what_the_regex_reads(buf, start):
    tag_span = TAG_SPAN[c_skip()]
    pos = start % (len(buf) + 1)
    assert tag_span(buf, pos) == python_tag_span(buf, pos)


def test_an_inline_script_past_the_held_limit_is_classified_alike_by_both_loops(policy, skip):
    """Past MAX_HELD_TEXT the text held so far is classified: the C loop's one-step end of
    script data must not hold more than the token-by-token loop does."""
    code = b"x-->y;" * (MAX_HELD_TEXT // 6 + 1000) + b"fbq('init');"
    page = b"<html><head></head><body><script>" + code + b"</script></body></html>"
    outs = {
        rewrite(policy, page, chunks=[chunk], skip=s)
        for s in (skip, SKIPS["python"])
        for chunk in (16384, len(page))
    }
    assert len(outs) == 1


def test_a_host_the_c_loop_has_read_is_not_taken_for_another_of_the_same_shape():
    """The C loop remembers what it read of each host in one skip: stxtic.example (of
    static.example's length, first, middle and last letters) is still looked up."""
    first = b"<img src=//static.example/a.png>"
    other = b"<img src=//stxtic.example/a.png>"
    assert c_skip()(first + first + other, 0, 1, SETTLED, set()) == 2 * len(first)


def test_the_c_loop_reports_an_unknown_host_as_it_steps_over_its_first_tag():
    """The page's report (seen) gets the host the neutraliser would have put there."""
    tag = b"<img src=https://cdn.unknown.example/a.png>"
    seen: set[str] = set()
    assert c_skip()(tag + tag, 0, 1, SETTLED, seen) == 2 * len(tag)
    assert seen == {"cdn.unknown.example"}


@pytest.mark.parametrize(
    "markup",
    [
        b"<img src=//cdn.unknown.example/a.png srcset=//www.facebook.com/tr>",
        b"<img src=//cdn.unknown.example/a.png style='background: url(//x.example/a)'>",
        b"<script src=//cdn.unknown.example/a.js><!--<script></script>",  # (no end tag yet)
        b"<img src=/a.png src=//cdn.unknown.example/b.png>",  # the neutraliser reads the first
    ],
)
def test_an_unknown_host_in_a_tag_the_c_loop_stops_at_is_left_for_the_neutraliser(markup):
    seen: set[str] = set()
    assert c_skip()(markup, 0, 1, SETTLED, seen) == 0
    assert seen == set()


def test_a_scheme_read_in_one_8_byte_load_is_http_or_https_in_any_case_and_nothing_else():
    """The C loop reads "http://" and "https://" from 8 bytes with the letters' case bit
    set: every case of the letters passes, a byte one bit away from ':' or '/' (a control
    byte, which no value may hold) does not, nor a scheme cut short at the value's end (a
    relative path until its ':', then nothing)."""
    settled = {**SETTLED, b"a": False}
    for scheme in (b"http://", b"https://"):
        for i in range(len(scheme)):
            flipped = scheme[:i] + bytes([scheme[i] ^ 0x20]) + scheme[i + 1 :]
            for host in (b"a", b"static.example/a.png", b"www.facebook.com/tr"):
                for quote in (b"'", b'"'):
                    markup = b"<img src=" + quote + flipped + host + quote + b">"
                    settles = scheme[i : i + 1].isalpha() and host != b"www.facebook.com/tr"
                    got = c_skip()(markup, 0, 1, settled, set())
                    assert got == (len(markup) if settles else 0), markup
        for cut in range(1, len(scheme) + 1):  # a relative path until its ':'
            markup = b"<img src='" + scheme[:cut] + b"'>"
            got = c_skip()(markup, 0, 1, settled, set())
            assert got == (0 if b":" in scheme[:cut] else len(markup)), markup


SETTLED_WITH_REFERENCES = [
    b'<img src="https://static.example/a.png?w=1&amp;h=2">',
    b"<img srcset='/a.png?x=1&amp;y=2 1x, //static.example/b.png?c&amp;d 2x'>",
    b"<img src='/a.png?x&#38;y'>",  # past a query, nothing can name another host
    b'<link href="https://static.example/?css=1&#038;ver=2" rel=stylesheet>',
    b"<link href='//static.example/a.css#&#x2F;&#x2F;www.facebook.com/tr'>",
    b"<img src='/a?next=https://www.facebook.com/tr'>",
]
DATA_IMAGES = [
    b'<img src="data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw==">',
    b"<img srcset='data:image/png;base64,iVBORw0K 1x, /b.png 2x' alt=''>",
    b"<source srcset='DATA:image/webp;base64,UklGR' type=image/webp>",
]


@pytest.mark.parametrize("markup", SETTLED_WITH_REFERENCES + DATA_IMAGES)
def test_references_past_the_host_and_images_data_urls_leave_a_url_settled(markup):
    assert c_skip()(markup, 0, 1, SETTLED, set()) == len(markup)


@pytest.mark.parametrize(
    "markup",
    [
        b"<img src='//static.example&amp;www.facebook.com/tr'>",
        b"<img src='/a.png&#63;x&#38;y'>",  # an encoded '?' is no query yet
        b"<img src='/&#47;www.facebook.com/tr'>",
        b"<img srcset='/a.png?x 1x&#44;//www.facebook.com/tr 2x'>",  # a list: a hidden comma
        b"<img srcset='/a.png?x&#32;1x,//static.example/b 2x'>",
        b"<img src='//static.example&#47;@www.facebook.com/tr'>",
        b"<img src=/a:b?c>",
        b"<script src='data:text/javascript,fbq(1)'></script>",  # data: only for images
        b"<link href='data:text/css,@import url(//www.facebook.com/tr)'>",
        b"<img src='data:image/svg+xml,x' srcset='//www.facebook.com/tr 2x'>",
    ],
)
def test_any_other_character_reference_or_data_url_leaves_a_url_to_the_neutraliser(markup):
    assert c_skip()(markup, 0, 1, SETTLED, set()) == 0


def test_urls_the_c_loop_reads_as_settled_are_what_the_neutraliser_lets_through(policy, skip):
    """Both loops give the same page for the URLs the C loop now steps over."""
    page = b"<html><head></head><body>" + b"".join(SETTLED_WITH_REFERENCES + DATA_IMAGES)
    for state in (NO_DECISION, ALL):
        assert rewrite(policy, page, state=state, skip=skip).replace(INJECTED, b"") == page


CHOICE = ("no decision", "example.com")  # any hashable key of a consent choice and site
KEPT = (None, (), ())  # an outcome: unchanged, nothing blocked, no unknown host


def test_the_c_loop_steps_over_an_inline_script_let_through_on_the_same_choice_only():
    script = b"<script type=text/javascript>var a = 1;</script>"
    element = script[: -len(b"</script>")]
    known = {element: {CHOICE: KEPT}}
    assert c_skip()(script, 0, 1, SETTLED, set(), known, CHOICE) == len(script)
    assert c_skip()(script, 0, 1, SETTLED, set(), known, ("all", "")) == 0
    assert c_skip()(script, 0, 1, SETTLED, set(), {element + b" ": {CHOICE: KEPT}}, CHOICE) == 0
    assert c_skip()(script, 0, 1, SETTLED, set(), {}, CHOICE) == 0
    assert c_skip()(script, 0, 1, SETTLED, set()) == 0


def test_a_style_whose_relative_url_a_base_sent_to_an_unknown_host_is_not_reported_without_it(
    policy, skip
):
    """Under <base href=//cdn...> a <style>'s relative URL names that unknown host; the same
    <style> on a page without the base names none, and that page's report must not say it
    does (the elements the C loop remembers are keyed without the base)."""
    style = b"<style>.a{background:url(/a.png)}</style>"
    based = b"<html><head></head><body><base href=https://cdn.unknown.example/>" + style
    reports = []
    for page in (based, b"<html><head></head><body>" + style, based):
        rw = HtmlRewriter(Neutraliser(policy, NO_DECISION, MARK), BANNER, True, skip=skip)
        rw.feed(page + b"</body></html>")
        rw.close()
        reports.append(rw.neutraliser.unknown_hosts)
    assert reports == [{"cdn.unknown.example"}, set(), {"cdn.unknown.example"}]


def skip_out(buf: bytes, pos: int, quiet: int, elements, choice, memo, limit=None):
    """(end, what the C loop wrote out, the blocked list, the unknown hosts) of one skip with
    an output list, the mark attribute b' m="M"' and MARK_SLOT's own attribute name."""
    out: list[bytes] = []
    blocked: list = [("before", "x")]
    seen: set = set()
    args = (buf, pos, quiet, dict(SETTLED), seen, elements, choice, memo)
    end = c_skip()(
        *args, out, b' data-consent-mark="M"', blocked, len(buf) if limit is None else limit
    )
    return end, b"".join(out), blocked[1:], seen


def test_the_c_loop_writes_out_an_inline_script_whose_start_tag_alone_changed():
    """A blocked inline script seen before: its new start tag goes out, its text is stepped
    over, its reports are the page's; a <style> that changed is left to the scanner (its text
    changes)."""
    script = b"<script>fbq('init', '1');</script>"
    new = b'<script type="text/plain"' + MARK_SLOT + b">"
    blocked = (new, (("facebook-pixel", "script"),), ("cdn.unknown.example",))
    element = script[: -len(b"</script>")]
    end, out, reports, hosts = skip_out(script, 0, 1, {element: {CHOICE: blocked}}, CHOICE, None)
    assert end == len(script)
    assert out == b"<script type=\"text/plain\" data-consent-mark=\"M\">fbq('init', '1');</script>"
    assert reports == [("facebook-pixel", "script")] and hosts == {"cdn.unknown.example"}
    assert c_skip()(script, 0, 1, SETTLED, set(), {element: {CHOICE: blocked}}, CHOICE) == 0
    style = b"<style>p{background:url(//www.facebook.com/tr)}</style>"
    known = {style[: -len(b"</style>")]: {CHOICE: blocked}}
    assert skip_out(style, 0, 1, known, CHOICE, None) == (0, b"", [], set())


def test_the_c_loop_writes_long_runs_as_spans_of_the_page_only_when_asked():
    """With spans, a run of 64 bytes or more goes out as a buffer over the page (bytes, which
    nothing changes), not a copy: the same pieces, the same bytes once joined."""
    skip = c_skip()
    from consentproxy.rewrite._skip import Span

    script = b"<script>fbq('init', '1');</script>"
    new = b'<script type="text/plain"' + MARK_SLOT + b">"
    known = {script[: -len(b"</script>")]: {CHOICE: (new, (("facebook-pixel", "script"),), ())}}
    page = b"<p>" + b"a" * 100 + b"</p>" + script + b"<p>b</p>" + script + b"c" * 64
    outs = {}
    for buf, spans in ((page, False), (page, True), (bytearray(page), True)):
        out: list = []
        args = (buf, 0, 1, dict(SETTLED), set(), known, CHOICE, None, out, b' m="M"', [])
        assert skip(*args, len(page), spans) == len(page)
        outs[type(buf).__name__, spans] = out
    copies, spans = outs["bytes", False], outs["bytes", True]
    assert [type(p) for p in spans] == [Span, bytes, bytes, bytes, Span]
    assert [bytes(p) for p in spans] == copies and [len(p) for p in spans] == list(map(len, copies))
    assert all(type(p) is bytes for p in outs["bytearray", True])  # (it may change: copied)
    del page, outs, buf
    assert b"".join(spans) == b"".join(copies)  # (a span keeps its page)

    class Unsure:
        def __bool__(self):
            raise ValueError("no truth")

    with pytest.raises(ValueError):  # (an error, not a value with an exception set)
        skip(b"<p>x", 0, 1, dict(SETTLED), set(), {}, CHOICE, None, [], b"m", [], 4, Unsure())


def test_the_rewriter_s_c_loop_writes_a_page_s_long_runs_as_spans(policy, monkeypatch):
    """The rewriter passes the skip the endpoints' word after `spans`: the runs it steps over
    still go out as Spans, not copies (with the word, every run of a page was copied once
    more before the join: the bench's 100 KB page, 22 copies of ~4 KB a response)."""
    from consentproxy.rewrite._skip import Span

    rw = HtmlRewriter(Neutraliser(policy, NO_DECISION, MARK), BANNER, True, skip=c_skip())
    taken = []
    take = rw.injector.take
    monkeypatch.setattr(rw.injector, "take", lambda: taken.extend(rw.injector.out) or take())
    page = b"<!DOCTYPE html><html><head></head><body>" + b"<p>" + b"a" * 200 + b"</p></body>"
    assert rw.finish(page) == page.replace(b"</body>", INJECTED + b"</body>")
    assert Span in {type(piece) for piece in taken}


@pytest.mark.parametrize(
    "markup",
    [
        b"<script>a = '<!--<script>';</script>",  # its escape states end it past buf
        b"<script>no end tag yet",
        b"<script>" + b"x" * 5000 + b"</script>",  # longer than any element let through
    ],
)
def test_the_c_loop_stops_at_inline_scripts_whatever_was_let_through(markup):
    element = markup.split(b"</script>")[0]
    assert c_skip()(markup, 0, 1, SETTLED, set(), {element: {CHOICE: KEPT}}, CHOICE) == 0


def test_an_inline_script_let_through_passes_in_c_next_time_and_is_still_judged_per_choice(
    config,
):
    """The first page classifies the script and lets it through (all consented); the next
    page on that choice steps over it without the neutraliser; a page with no decision
    still neutralises it."""
    from consentproxy.policy import Policy

    policy = Policy(config)
    pixel = b"<script>fbq('init', '1'); fbq('track', 'PageView');</script>"
    page = b"<html><head></head><body>" + pixel + b"</body></html>"
    classified = []
    neutraliser = Neutraliser(policy, ALL, MARK)
    inline_script = neutraliser.inline_script
    neutraliser.inline_script = lambda tag, text: (
        classified.append(text) or inline_script(tag, text)
    )
    for _ in range(2):
        rw = HtmlRewriter(neutraliser, BANNER, True, skip=c_skip())
        assert (rw.feed(page) + rw.close()).replace(INJECTED, b"") == page
    assert len(classified) == 1
    assert pixel[: -len(b"</script>")] in policy.element_memo
    for skip in SKIPS.values():
        out = rewrite(policy, page, skip=skip)
        assert pixel not in out
        assert b'data-consent-blocked="facebook-pixel"' in out


REMEMBERED_TAGS = [
    b"<img src=https://www.facebook.com/tr?id=1&ev=PageView height=1 width=1>",
    b"<link rel=preconnect href=https://www.googletagmanager.com>",
    b"<script async src=https://www.googletagmanager.com/gtag/js?id=G-1></script>",
    b"<iframe src=https://www.youtube.com/embed/x width=560></iframe>",
]


@pytest.mark.parametrize("tag", REMEMBERED_TAGS)
def test_the_c_loop_writes_out_a_tag_the_neutraliser_remembers_as_it_makes_it(config, tag):
    """Once the neutraliser has worked a tag out on a choice, the C loop steps over it and
    writes out the new tag with the response's mark, the reports the page's: no stop."""
    from consentproxy.policy import Policy

    policy = Policy(config)
    page = b"<p>a</p>" + tag + b"<p>b</p>"
    neutraliser = Neutraliser(policy, NO_DECISION, "M")
    elements, choice = neutraliser.element_memo, neutraliser.choice
    start_tag = scanner_tag(tag)
    assert skip_out(page, 0, 1, elements, choice, policy.tag_memo) == (8, b"<p>a</p>", [], set())
    new = neutraliser.start_tag(start_tag[1:].split(b" ")[0], start_tag)  # not worked out: a stop
    known = policy.tag_memo[(choice, start_tag)]
    assert known[0] is not None and known[1]  # (changed, and blocked)
    assert MARK_SLOT in known[0] and MARK_SLOT not in new
    end, out, reports, _ = skip_out(page, 0, 1, elements, choice, policy.tag_memo)
    assert end == len(page)
    assert out == page.replace(start_tag, new)
    assert reports == list(known[1])
    # not on another choice, nor without the memo (a <base> elsewhere), nor before the guard
    other = Neutraliser(policy, ALL, MARK).choice
    for choice, memo, quiet in (
        (other, policy.tag_memo, 1),
        (neutraliser.choice, None, 1),
        (neutraliser.choice, policy.tag_memo, 2),
    ):
        assert skip_out(page, 0, quiet, elements, choice, memo) == (8, b"<p>a</p>", [], set())
    # without an output list: a stop
    assert c_skip()(page, 0, 1, SETTLED, set(), elements, neutraliser.choice) == 8


def fresh_policy(config):
    """A policy of its own: its memos hold what this test put there only."""
    from consentproxy.policy import Policy

    return Policy(config)


def scanner_tag(markup: bytes) -> bytes:
    return markup[: markup.index(b">") + 1]


@pytest.mark.parametrize(
    "markup",
    [
        b"<script>fbq('init')</script>",  # inline: its text decides
        b"<script srcset=/a>fbq('init')</script>",
        b"<script src=//www.facebook.com/tr><!--<script></script>",  # no end by its states
        b"<iframe src=https://www.youtube.com/embed/x>no end tag yet",
    ],
)
def test_the_c_loop_leaves_remembered_tags_whose_text_decides_to_the_scanner(config, markup):
    policy = fresh_policy(config)  # (the memo is made up: not the session's)
    neutraliser = Neutraliser(policy, NO_DECISION, MARK)
    tag = scanner_tag(markup)
    policy.tag_memo[(neutraliser.choice, tag)] = (b"<x>", (("x", "script"),), ())
    elements, choice = neutraliser.element_memo, neutraliser.choice
    assert skip_out(markup, 0, 1, elements, choice, policy.tag_memo) == (0, b"", [], set())


def test_a_remembered_tag_carries_each_responses_own_mark_and_reports(policy, skip):
    """The second page's tags come from the memo (in C, as edits): each response's mark is
    its own, and its report names what it blocked."""
    gtm = b"<script>(function(){var j=document.createElement('script');j.src='https://www.googletagmanager.com/gtm.js?id=GTM-X'})()</script>"
    tags = b"".join(REMEMBERED_TAGS) + gtm
    page = b"<html><head></head><body>" + tags + b"</body></html>"
    outs = []
    for mark in ("first-mark", "second-mark"):
        rw = HtmlRewriter(Neutraliser(policy, NO_DECISION, mark), BANNER, True, skip=skip)
        outs.append((rw.feed(page) + rw.close(), rw.neutraliser.blocked))
    (first, blocked1), (second, blocked2) = outs
    assert first.count(b'data-consent-mark="first-mark"') == 5
    assert second.count(b'data-consent-mark="second-mark"') == 5
    assert b"first-mark" not in second
    assert first.replace(b"first-mark", b"second-mark") == second
    assert blocked1 == blocked2 and len(blocked2) == 5


PIXEL = REMEMBERED_TAGS[0]


def neutralised(policy, tag: bytes) -> bytes:
    """What the neutraliser makes of a start tag on no decision, with MARK."""
    return Neutraliser(policy, NO_DECISION, MARK).start_tag(tag[1:].split(b" ")[0], tag)


def test_a_remembered_tag_cut_by_a_chunks_end_comes_out_once_marked_and_reported(config, skip):
    """The C loop writes out a remembered tag only when all of it is in the buffer: cut
    anywhere by a chunk's end, each comes out once, with this response's mark, reported."""
    policy = fresh_policy(config)
    text = b"<p>" + b"long text " * 500 + b"</p>"
    page = b"<html><head></head><body>" + text + PIXEL + b"<p>b</p>" + PIXEL + text + b"</body>"
    rewrite(policy, page, skip=skip)  # (the tag memo knows it now)
    expected = page.replace(PIXEL, neutralised(policy, PIXEL)).replace(
        b"</body>", INJECTED + b"</body>"
    )
    assert expected.count(b'data-consent-mark="test-mark"') == 2
    for cut in range(len(page) + 1):
        rw = HtmlRewriter(Neutraliser(policy, NO_DECISION, MARK), BANNER, True, skip=skip)
        assert rw.feed(page[:cut]) + rw.feed(page[cut:]) + rw.close() == expected, cut
        assert rw.neutraliser.blocked == [("facebook-pixel", "img")] * 2


@pytest.mark.parametrize("long_tail", [False, True])
def test_remembered_tags_after_a_body_end_tag_wait_with_it_for_the_banner(config, skip, long_tail):
    """After a </body> the output waits (is there a later one?): the remembered tags the C
    loop writes out wait with it, in order; past MAX_HOLD the banner goes in before it."""
    policy = fresh_policy(config)
    filler = b"<p>" + b"x" * 1000 + b"</p>" if long_tail else b"<p>after</p>"
    tail = (PIXEL + filler) * (MAX_HOLD // 1000 + 1 if long_tail else 2)
    page = b"<html><head></head><body><p>a</p>" + PIXEL + b"</body>" + tail + b"</body></html>"
    rewrite(policy, page, skip=skip)  # (the tag memo knows it now)
    last = page.rindex(b"</body>")
    at = page.index(b"</body>") if long_tail else last
    expected = (page[:at] + INJECTED + page[at:]).replace(PIXEL, neutralised(policy, PIXEL))
    for chunks in (None, [1000], [16384]):
        assert rewrite(policy, page, chunks, skip=skip) == expected
    rw = HtmlRewriter(Neutraliser(policy, NO_DECISION, MARK), BANNER, True, skip=skip)
    rw.feed(page)
    rw.close()
    assert len(rw.neutraliser.blocked) == page.count(PIXEL)


def test_a_host_decided_by_its_path_never_settles(policy, skip):
    """www.google.com/maps is Google Maps, the rest of www.google.com loads: after its
    images, the maps <img> is still neutralised."""
    logo = b"<img src=https://www.google.com/images/logo.png>"
    maps = b"<img src=https://www.google.com/maps/vt?x=1>"
    out = rewrite(policy, b"<html><head></head><body>" + logo * 3 + maps, skip=skip)
    assert out.count(logo) == 3
    assert maps not in out
    assert b'data-consent-blocked="google-maps"' in out
    assert b"www.google.com" not in Neutraliser(policy, NO_DECISION).settled


def test_an_inline_tracker_script_with_another_tags_url_attribute_is_still_neutralised(
    policy, skip
):
    """A srcset (an image's attribute) on an inline script naming a settled host gives it no
    src: its text is its code, and the neutraliser must read it."""
    gtm = b"<script>(function(){var j=document.createElement('script');j.src='https://www.googletagmanager.com/gtm.js?id=GTM-X'})()</script>"
    page = (
        b"<html><head></head><body><img src=//cdn.unknown.example/a.png>"
        + gtm.replace(b"<script>", b"<script srcset=//cdn.unknown.example/a.png>")
        + b"</body></html>"
    )
    rw = HtmlRewriter(Neutraliser(policy, NO_DECISION, MARK), BANNER, True, skip=skip)
    out = rw.feed(page) + rw.close()
    assert b'type="text/plain"' in out
    assert rw.neutraliser.blocked == [("google-tag-manager", "script")]


def test_settled_hosts_are_stepped_over_and_still_reported(policy, skip):
    """An unknown host's later tags pass in C: the page's report still names it once."""
    tags = b"".join(b"<img src=https://cdn.unknown.example/%d.png>" % i for i in range(5))
    page = b"<html><head></head><body>" + tags + b"</body></html>"
    rw = HtmlRewriter(Neutraliser(policy, NO_DECISION, MARK), BANNER, True, skip=skip)
    out = rw.feed(page) + rw.close()
    assert out.replace(INJECTED, b"") == page
    assert rw.neutraliser.unknown_hosts == {"cdn.unknown.example"}
    assert rw.neutraliser.blocked == []


def test_the_c_loop_steps_over_local_tags_only_once_quiet_is_allowed():
    local, remote = b"<img src=/a.png><p>", b"<img src=//x.example/a.png>"
    assert c_skip()(local, 0, True) == len(local)
    assert c_skip()(local, 0, False) == 0
    assert c_skip()(remote, 0, True) == 0


@pytest.mark.parametrize(
    "markup",
    [
        b"<title>a <img src=//www.facebook.com/tr> b</title>",
        b"<TEXTAREA>x</textarea\n>",
        b"<style>a { color: red }</style>",
        b"<meta name=d content='https://x.example/'>",
        b"<a href=https://x.example/ class=link>",
        b"<td class=c>",
        b"<div style='color: red'>",
        b"<iframe src=/local></iframe>",
    ],
)
def test_the_c_loop_steps_over_what_cannot_load(markup):
    assert c_skip()(markup, 0, True) == len(markup)


@pytest.mark.parametrize(
    "markup",
    [
        b"<title>no end tag yet",
        b"<style>a { background: url(/x.png) }</style>",
        b"<style>@import 'x.css';</style>",
        b"<meta http-equiv=refresh content=5>",
        b"<a href=/x PING=/p>",
        b"<td background=/x.png>",
        b"<div style='background:URL(/x)'>",
        b"<div style=\\75rl(x)>",
        b"<div style='&#117;rl(x)'>",
        b"<p style='image-set(\"x\" 1x)'>",
    ],
)
def test_the_c_loop_stops_where_the_neutraliser_must_look(markup):
    assert c_skip()(markup, 0, True) == 0


CSS_TOKENS = [
    b"url(",
    b"URL(",
    b"ur",
    b"l(",
    b"image(",
    b"image-set(",
    b"src(",
    b"@import",
    b"@IMPORT",
    b"-",
    b"--",
    b"\\",
    b"&",
    b"(",
    b")",
    b" ",
    b":",
    b"x",
    b'"',
    b">",
]


@settings(max_examples=500, deadline=None)
@given(
    pad=st.integers(0, 40), value=st.lists(st.sampled_from(CSS_TOKENS), max_size=8).map(b"".join)
)
def test_the_c_loop_hands_over_exactly_the_style_attributes_css_may_load_from(pad, value):
    """The C loop's rule for a style attribute and a <style> element is
    css.STYLE_MAY_LOAD_RE (its superset property is tested in tests/rewrite/test_css.py),
    on a plain tag and a quiet one, wherever the words fall in its 16-byte windows."""
    value = b"a:b;" * (pad // 4) + b" " * (pad % 4) + value
    for tag in (
        b"<p style='" + value + b"'>",
        b"<a href=/x style='" + value + b"'>",
        b"<style>" + value + b"</style>",
    ):
        stops = c_skip()(tag, 0, True) == 0
        assert stops == bool(STYLE_MAY_LOAD_RE.search(value)), tag


@pytest.mark.parametrize(
    ("word", "loads"),
    [
        (b"--", True),
        (b"url(", True),
        (b"URL(", True),
        (b"image(", True),
        (b"Image-Set(", True),
        (b"src(", True),
        (b"@import", True),
        (b"\\", True),
        (b"&", True),
        (b"-", False),
        (b"url", False),
        (b"@impor", False),
        (b"(", False),
    ],
)
def test_the_c_loop_finds_a_css_word_wherever_it_falls_in_its_windows(word, loads):
    """CSS is read 16 bytes at a time, looked at only around '\\', '&', '(', '@' and
    "--": a word at any offset, across two windows or in the last bytes, is found."""
    for offset in range(40):
        for css in (b"a" * offset + word + b"b" * 20, b"a" * offset + word):
            for tag in (b"<p style='" + css + b"'>", b"<style>" + css + b"</style>"):
                assert (c_skip()(tag, 0, True) == 0) == loads, tag


URL_PIECES = [b"/", b"\\", b"\t", b"\n", b"\r", b":", b"&", b"x", b"y.z", b" "]


@settings(max_examples=300, deadline=None)
@given(
    pad=st.integers(0, 40), value=st.lists(st.sampled_from(URL_PIECES), max_size=12).map(b"".join)
)
def test_the_c_loop_hands_over_a_tag_that_may_name_another_host_wherever_the_sign_falls(pad, value):
    """A quiet tag with no key (<audio>) is stepped over only when neutralise's
    _MAY_BE_REMOTE_RE finds nothing in it, wherever the '//', '&' or ':' falls."""
    for tag in (
        b"<audio title='" + b"v" * pad + value + b"'>",
        b"<audio title='" + b"v" * pad + value + b"' class='" + b"n" * 20 + b"'>",
    ):
        stops = c_skip()(tag, 0, True) == 0
        assert stops == bool(_MAY_BE_REMOTE_RE.search(tag)), tag


SCRIPT_PIECES = [
    b"<",
    b"<!--",
    b"-->",
    b"--",
    b"-",
    b">",
    b"<script",
    b"</script",
    b"<SCRIPT",
    b"</scripts",
    b" ",
    b"/",
    b"x",
    b"a<b",
    b"\n",
]


@settings(max_examples=1000, deadline=None)
@given(
    buf=st.lists(st.sampled_from(SCRIPT_PIECES), max_size=20).map(b"".join), start=st.integers(0, 8)
)
def test_script_tokens_are_found_where_the_regex_finds_them(buf, start):
    """The script data scan tries SCRIPT_TOKEN_RE only at '<' and '-->': the same tokens."""
    want = SCRIPT_TOKEN_RE.search(buf, start)
    got = _script_token(buf, start)
    assert (got and (got.span(), got.groups())) == (want and (want.span(), want.groups()))


# An SVG/MathML <style> holds markup (character references, CDATA sections, comments, child
# elements) whose child text is a stylesheet the browser applies: it is held until the tree
# builder closes it, and its stylesheet judged as a <style>'s.
GA_IMPORT = b"@import url(https://www.google-analytics.com/a.js);"
SVG_STYLE_ATTACKS = {
    "svg_style_import": b"<svg><style>" + GA_IMPORT + b"</style></svg>",
    "svg_style_import_unterminated_at_eof": b"<svg><style>" + GA_IMPORT,
    "svg_style_import_closed_by_breakout": b"<svg><style>" + GA_IMPORT + b"<p>after</p>",
    "math_style_import": b"<math><style>" + GA_IMPORT + b"</style></math>",
    "svg_style_url_by_character_reference": b"<svg><style>@import u&#114;l(https:&sol;&sol;www.google-analytics.com/a.js);</style>",
    "svg_style_url_split_by_cdata": b"<svg><style>@import ur<![CDATA[l(https://www.google-]]>analytics.com/a.js);</style>",
    "svg_style_url_split_by_comment": b"<svg><style>@import ur<!-- x -->l(https://www.google-analytics.com/a.js);</style>",
    "svg_style_url_split_by_child_element": b"<svg><style>@import url(<g>x</g>https://www.google-analytics.com/a.js);</style>",
}


@pytest.mark.parametrize("page", SVG_STYLE_ATTACKS.values(), ids=SVG_STYLE_ATTACKS.keys())
def test_svg_style_loading_a_tracker_is_neutralised_at_every_chunking(policy, skip, page):
    whole = rewrite(policy, page, inject=False, skip=skip)
    assert b'<style data-consent-blocked="google-analytics"' in whole
    # its text is the stylesheet, made inert (the URL kept in an attribute, for the banner)
    assert b"google-analytics.com" not in whole.split(b"<style", 1)[1].split(b">", 1)[1]
    assert b"@import url(about:invalid);" in whole
    for sizes in ([1], [2], [3], [5, 1], [7]):
        assert rewrite(policy, page, sizes, inject=False, skip=skip) == whole, sizes


@pytest.mark.parametrize(
    "page",
    [
        b"<svg><style>p{}<g><style>" + GA_IMPORT + b"</style></g></style></svg>",
        b"<svg><script>f()<style>" + GA_IMPORT + b"</style></script></svg>",
        b"<svg><script>f()<foreignObject><style>" + GA_IMPORT + b"</style></script></svg>",
    ],
)
def test_style_inside_a_held_svg_element_is_judged_on_its_own(policy, skip, page):
    whole = rewrite(policy, page, inject=False, skip=skip)
    assert whole.count(b"data-consent-blocked=") == 1
    assert b"google-analytics.com" not in whole.split(b"data-consent-css=")[1].split(b">", 1)[1]
    assert whole.startswith(page[: page.index(b"<style>")])  # the outer element passes
    for sizes in ([1], [3], [5, 2]):
        assert rewrite(policy, page, sizes, inject=False, skip=skip) == whole, sizes


def test_svg_style_text_rewritten_stays_text(policy, skip):
    page = b"<svg><style>p::after{content:'&lt;/style>&amp;'}" + GA_IMPORT + b"</style>x</svg>"
    out = rewrite(policy, page, inject=False, skip=skip)
    assert out.endswith(
        b">p::after{content:'&lt;/style>&amp;'}@import url(about:invalid);</style>x</svg>"
    )


@pytest.mark.parametrize(
    "page",
    [
        b"<svg><style>circle{fill:url(#g)} a&amp;b <![CDATA[ a<b ]]></style></svg>",
        b"<svg><style>@import url(/own.css);<g>https://www.google-analytics.com/a.js</g></style>",
        b"<svg><style><!-- @import url(https://www.google-analytics.com/a.js); --></style></svg>",
        b"<svg><style>p{}<p>@import url(https://www.google-analytics.com/a.js);</p>",
        b"<svg><style/>" + GA_IMPORT + b"</svg>",
        b"<svg><style>&#64;import url(//example.org/a.css);",
    ],
)
def test_svg_style_loading_nothing_blocked_passes_unchanged(policy, skip, page):
    for sizes in (None, [1], [2], [3], [7]):
        assert rewrite(policy, page, sizes, inject=False, skip=skip) == page, sizes


def test_inline_script_inside_svg_style_is_judged_on_its_own(policy, skip):
    page = (
        b"<svg><style>p{}<script>new Image().src='https://www.facebook.com/tr?id=1'"
        b"</script></style></svg>"
    )
    for sizes in (None, [1], [3]):
        out = rewrite(policy, page, sizes, inject=False, skip=skip)
        assert out.startswith(
            b'<svg><style>p{}<script type="text/plain" data-consent-blocked="facebook-pixel"'
        ), sizes


def test_a_data_block_kept_as_it_is_is_stepped_over_with_its_text_next_time(config):
    """A <script> whose type is no script holds data, not code: once the neutraliser has
    kept its start tag, the C loop steps over it and its text (tracker URLs or not)."""
    from consentproxy.policy import Policy

    policy = Policy(config)
    block = b'<script type="application/ld+json">{"u": "https://www.facebook.com/tr"}</script>'
    page = b"<html><head></head><body>" + block + b"</body></html>"
    neutraliser = Neutraliser(policy, NO_DECISION, MARK)
    seen = []
    start_tag = neutraliser.start_tag
    neutraliser.start_tag = lambda name, tag: seen.append(tag) or start_tag(name, tag)
    for _ in range(2):
        rw = HtmlRewriter(neutraliser, BANNER, True, skip=c_skip())
        assert (rw.feed(page) + rw.close()).replace(INJECTED, b"") == page
    assert seen == [block[: block.index(b">") + 1]]
    kept = {b"<script type=x>": False}
    assert c_skip()(b"<script type=x>a<b</script>", 0, 1, kept, set(), {}, CHOICE) == 27
    assert c_skip()(b"<script type=x>a<!--</script>", 0, 1, kept, set(), {}, CHOICE) == 29
    assert c_skip()(b"<script type=x><!--<script></script>", 0, 1, kept, set(), {}, CHOICE) == 0
    assert c_skip()(b"<script type=y>a</script>", 0, 1, kept, set(), {}, CHOICE) == 0


def test_after_a_base_on_a_settled_host_relative_urls_are_stepped_over_and_reported(policy, skip):
    """Relative URLs after <base href=//cdn...> go to that host: once it is settled, their
    tags pass in C, and the page still reports the host; a base on a host decided by the
    path never settles, so a relative URL to a blocked path there is still neutralised."""
    imgs = b"".join(b"<img src=p%d.png>" % i for i in range(3))
    page = b"<html><head><base href=https://cdn.unknown.example/></head><body>" + imgs
    neutraliser = Neutraliser(policy, NO_DECISION, MARK)
    seen = []
    start_tag = neutraliser.start_tag
    neutraliser.start_tag = lambda name, tag: seen.append(name) or start_tag(name, tag)
    rw = HtmlRewriter(neutraliser, BANNER, True, skip=skip)
    assert (rw.feed(page) + rw.close()).replace(INJECTED, b"") == page
    assert rw.neutraliser.unknown_hosts == {"cdn.unknown.example"}
    assert seen.count(b"img") == (0 if skip is c_skip() else 3)
    maps = b"<html><head><base href=https://www.google.com/></head><body>" + imgs
    out = rewrite(policy, maps + b"<img src=maps/vt?x=1>", skip=skip)
    assert out.count(b"data-consent-blocked=") == 1
    assert b'data-consent-blocked="google-maps"' in out


def test_an_inert_svg_cut_by_a_chunk_end_is_waited_for_and_stepped_over_whole(policy, skip):
    """An icon sprite split across chunks: the C loop holds it until its </svg> comes, then
    steps over it in one go; both loops give the page as it was."""
    sprite = b"<svg style=display:none>" + b"<symbol id=i><path d='M0 0h24v24'/></symbol>" * 60
    page = b"<html><head></head><body><p>x</p>" + sprite + b"</svg><p>y</p></body></html>"
    rw = HtmlRewriter(Neutraliser(policy, NO_DECISION, MARK), BANNER, True, skip=skip)
    stops = []
    markup = rw._markup
    rw._markup = lambda buf, pos, final: stops.append(buf[pos : pos + 4]) or markup(buf, pos, final)
    out = b"".join(rw.feed(page[i : i + 500]) for i in range(0, len(page), 500)) + rw.close()
    assert out.replace(INJECTED, b"") == page
    assert (b"<sym" in stops) == (skip is SKIPS["python"])


@pytest.mark.parametrize(
    "waiting",
    [
        b"<svg>" + b"<path d='M0 0 L 10 10'/>" * 1200 + b"</svg>",  # waited for whole
        b"<div title='" + b"x" * 30000 + b"'></div>",  # an unfinished tag
    ],
)
def test_a_long_wait_sent_byte_by_byte_is_not_scanned_again_for_each_byte(policy, skip, waiting):
    """A hostile origin sending a long element one byte at a time: each byte made the
    rescan of all that waited (a 58 KB <svg> took 4.8 s). Now the bytes scanned grow with the
    page, not its square, and the page comes out as it was."""
    page = b"<html><head></head><body><p>x</p>" + waiting + b"<p>y</p></body></html>"
    rw = HtmlRewriter(Neutraliser(policy, NO_DECISION, MARK), BANNER, True, skip=skip)
    scanned = []
    scan = rw._scan
    rw._scan = lambda buf, final: scanned.append(len(buf)) or scan(buf, final)
    out = b"".join(rw.feed(page[i : i + 1]) for i in range(len(page))) + rw.close()
    assert out.replace(INJECTED, b"") == page
    assert sum(scanned) < 40 * len(page)


@pytest.mark.parametrize("final", [True, False])
def test_a_start_tag_that_never_ends_is_not_read_again_from_each_lt_inside_it(policy, skip, final):
    """A hostile start tag that does not end (at the page's end, or over MAX_TAG) full of
    '<': each was read as a tag again, to the end of the buffer (a 1.1 MB one took 13 s).
    Passed through up to its first '>', in one step (made inert: see the next test)."""
    tail = b"<div a=\"'" * (3000 if final else MAX_TAG // 9 + 1000)
    page = b"<html><head></head><body><p>x</p>" + tail
    rw = HtmlRewriter(Neutraliser(policy, NO_DECISION, MARK), BANNER, True, skip=skip)
    markups = []
    markup = rw._markup
    rw._markup = lambda buf, pos, fin: markups.append(pos) or markup(buf, pos, fin)
    step = len(page) if final else 1 << 18
    chunks = [page[i : i + step] for i in range(0, len(page), step)]
    out = b"".join(rw.feed(c) for c in chunks) + rw.close()
    assert out.replace(INJECTED, b"").replace(b'<div style=""', b"<div") == page
    assert len(markups) < 50


@pytest.mark.parametrize(
    "tag",
    [
        b"<img src=https://www.facebook.com/tr ",
        b"<img src=https://www.facebook.com/tr alt='",
        b"<iframe src=https://www.youtube.com/embed/x",
        b"<script src=https://www.googletagmanager.com/gtag/js ",
        b'<meta http-equiv=refresh content="0;url=https://www.facebook.com/tr" ',
    ],
)
def test_a_page_ending_inside_a_start_tag_does_not_load_it_once_the_banner_ends_it(
    policy, skip, tag
):
    """A browser drops a tag the page ends inside; the banner's markup after it ended it,
    so the tracker it named loaded (through the proxy only). It goes out inert."""
    import html5lib

    out = rewrite(policy, b"<!doctype html><body><p>x</p>" + tag, chunks=[11], skip=skip)
    doc = html5lib.parse(out, namespaceHTMLElements=False)
    loads = [
        (e.tag, a, v)
        for e in doc.iter()
        if isinstance(e.tag, str)
        for a, v in e.attrib.items()
        if a in ("src", "content") and v
    ]
    assert loads == []


def test_a_start_tag_over_max_tag_is_inert_whatever_follows(policy, skip):
    """Past MAX_TAG (a megabyte of data-* JSON), a tag fed in chunks went out untouched up to
    its first '>', one inside a quoted value: its tracker loaded."""
    import html5lib

    tag = b"<img src=https://www.facebook.com/tr?big alt='" + b"x>" * MAX_TAG + b"'>"
    page = b"<!doctype html><body><p>a</p>" + tag + b"<p>after</p></body>"
    out = rewrite(policy, page, chunks=[1 << 16], skip=skip)
    (img,) = html5lib.parse(out, namespaceHTMLElements=False).iter("img")
    assert img.get("src") == "" and b"<p>after</p>" in out


@pytest.mark.parametrize(
    "markup",
    [
        b"<td background=images/a.gif>",
        b"<body background='//static.example/bg.png' class=x>",
        b"<a href=/x ping='/p //cdn.unknown.example/q'>",
    ],
)
def test_background_and_ping_naming_settled_hosts_are_stepped_over(markup):
    seen: set[str] = set()
    assert c_skip()(markup, 0, 1, SETTLED, seen) == len(markup)
    assert seen <= {"cdn.unknown.example"}
    assert c_skip()(markup, 0, 2, SETTLED, set()) == 0  # after a <base> elsewhere: stop


@pytest.mark.parametrize("tag", [b"tr", b"thead", b"tbody", b"tfoot", b"col", b"colgroup"])
def test_a_tracker_background_on_any_table_part_is_neutralised(policy, skip, tag):
    """(only body, table, td and th were: Chromium loads the others' too)"""
    page = b"<table><%s background='https://www.facebook.com/tr?id=1'><td>x</table>" % tag
    out = rewrite(policy, page, skip=skip)
    assert b" background='https://www.facebook.com/tr" not in out
    assert b"data-consent-background='https://www.facebook.com/tr?id=1'" in out
    fine = b"<table><%s background=/a.gif><td>x</table>" % tag
    assert rewrite(policy, fine, skip=skip).replace(INJECTED, b"") == fine


@pytest.mark.parametrize(
    "markup",
    [
        b"<td background=//www.facebook.com/tr>",
        b"<tr background=//www.facebook.com/tr>",
        b"<td background=/a.gif background=//www.facebook.com/tr>",
        b"<a href=/x ping='/p&#32;//www.facebook.com/tr'>",
        b"<a href=/x ping>",
        b"<table background='javascript:x'>",
    ],
)
def test_background_and_ping_naming_other_hosts_stop_the_c_loop(markup):
    assert c_skip()(markup, 0, 1, SETTLED, set()) == 0


@pytest.mark.parametrize(
    "markup",
    [
        b'<meta http-equiv="X-UA-Compatible" content="IE=edge">',
        b"<META HTTP-EQUIV=Content-Type content='text/html; charset=utf-8'>",
    ],
)
def test_a_meta_http_equiv_other_than_refresh_or_set_cookie_is_stepped_over(markup):
    assert c_skip()(markup, 0, 2) == len(markup)


@pytest.mark.parametrize(
    "markup",
    [
        b"<meta http-equiv=Refresh content='0; url=https://www.facebook.com/tr'>",
        b"<meta http-equiv='SET-COOKIE' content='_ga=1'>",
        b"<meta http-equiv=' refresh' content='0; url=//www.facebook.com/tr'>",
        b"<meta http-equiv='&#114;efresh' content='0; url=//www.facebook.com/tr'>",
        b"<meta http-equiv=x-ua http-equiv=refresh content='0; url=//www.facebook.com/tr'>",
        b"<meta http-equiv content='0; url=//www.facebook.com/tr'>",
    ],
)
def test_a_meta_http_equiv_that_may_refresh_or_set_a_cookie_stops_the_c_loop(markup):
    assert c_skip()(markup, 0, 2) == 0


def test_a_style_let_through_passes_in_c_next_time_and_its_unknown_host_is_still_reported(
    config,
):
    """A <style> let through is worked out once per choice, whether its CSS loads from the
    site itself or from an unknown host: the C loop hands the latter back as an edit that
    only reports, so each page's report still names the host."""
    from consentproxy.policy import Policy

    policy = Policy(config)
    local = b"<style>.a{background:url(/a.png)}</style>"
    remote = b"<style>.b{background:url(https://cdn.unknown.example/b.png)}</style>"
    page = b"<html><head></head><body>" + local + remote + b"</body></html>"
    neutraliser = Neutraliser(policy, NO_DECISION, MARK)
    styles = []
    style_element = neutraliser.style_element
    neutraliser.style_element = lambda tag, text: styles.append(text) or style_element(tag, text)
    for _ in range(2):
        neutraliser.unknown_hosts = set()
        rw = HtmlRewriter(neutraliser, BANNER, True, skip=c_skip())
        assert (rw.feed(page) + rw.close()).replace(INJECTED, b"") == page
        assert neutraliser.unknown_hosts == {"cdn.unknown.example"}
    assert styles == [
        b".a{background:url(/a.png)}",
        b".b{background:url(https://cdn.unknown.example/b.png)}",
    ]


def test_an_iso_2022_jp_page_is_rewritten_as_utf8_so_no_escape_hides_a_tag(policy):
    """Its escape sequences show as nothing: `<scr\\x1b(Bipt src=...>` was no tag to the
    scanner and a script to Chromium (tests/e2e/test_http_redteam.py)."""
    page = "<p>日本語</p>".encode("iso2022_jp") + (
        b"<scr\x1b(Bipt src=https://www.google-analytics.com/analytics.js></script>"
    )
    r = HtmlRewriter(
        Neutraliser(policy, NO_DECISION, MARK),
        b"",
        False,
        content_type="text/html; charset=ISO-2022-JP",
    )
    out = r.finish(page)
    assert out.startswith(b"\xef\xbb\xbf") and "<p>日本語</p>".encode() in out
    assert b"data-consent-src=https://www.google-analytics.com" in out
    assert b"<script src=" not in out


@pytest.mark.parametrize("label", ["\udcff", "utf-8\udcff", "\u00ff", "ｕｔｆ-16"])
def test_a_charset_label_not_ascii_names_no_encoding(policy, label):
    """aiohttp hands a header's stray byte over as a surrogate, and webencodings raised
    UnicodeEncodeError on it (a 500 and a traceback); no label is anything but ASCII."""
    page = b"<p>x</p><script src=https://www.google-analytics.com/analytics.js></script>"
    r = HtmlRewriter(
        Neutraliser(policy, NO_DECISION, MARK),
        b"",
        False,
        content_type=f"text/html; charset={label}",
    )
    out = r.finish(page)
    assert (
        out.startswith(b"<p>x</p>") and b"data-consent-src=https://www.google-analytics.com" in out
    )
    assert b"<script src=" not in out


@pytest.mark.parametrize(
    ("markup", "attr"),
    [
        (b"<svg><image><set attributeName=href to=https://www.facebook.com/tr /></image>", b"to"),
        (
            (
                b"<svg><filter><feImage><set attributeName=xlink:href"
                b" to=https://www.facebook.com/tr></set></feImage></filter>"
            ),
            b"to",
        ),
        (
            (
                b"<svg><image><animate attributeName=href"
                b" values='/a.png;https://www.facebook.com/tr' dur=1s /></image>"
            ),
            b"values",
        ),
        (
            (
                b"<svg><image><animate attributeName=' HREF' from=https://www.facebook.com/tr"
                b" to=/a.png></animate></image>"
            ),
            b"from",
        ),
    ],
)
def test_an_svg_animation_of_an_href_to_a_tracker_is_neutralised(policy, skip, markup, attr):
    """Chromium fetches each URL an animation of an <image>'s or <feImage>'s href gives it;
    the self-closing <set> inside the <image> went by as an inert SVG element."""
    page = b"<html><head></head><body>" + markup + b"</svg></body></html>"
    for chunks in (None, [5]):
        out = rewrite(policy, page, chunks, skip=skip)
        assert b'data-consent-blocked="facebook-pixel"' in out
        assert b" data-consent-" + attr + b"=" in out
        assert b" " + attr + b"=" not in out
    at = markup.find(b"<set")
    at = at if at >= 0 else markup.index(b"<animate")
    assert c_skip()(markup[at:], 0, 7) == 0  # (the C loop, out of any <svg>, stops there too)


@pytest.mark.parametrize(
    "markup",
    [
        b"<svg><rect><animate attributeName=fill to=https://www.facebook.com/tr /></rect></svg>",
        b"<svg><image href=/a.png><set attributeName=href to=/b.png /></image></svg>",
    ],
)
def test_an_svg_animation_that_loads_no_tracker_is_left_as_it_comes(policy, skip, markup):
    page = b"<html><head></head><body>" + markup + b"</body></html>"
    assert (
        rewrite(policy, page, skip=skip)
        .replace(INJECTED, b"", 1)
        .endswith(markup + b"</body></html>")
    )


def rewrite_as(
    policy, page: bytes, content_type, cut: int, skip, banner=BANNER, state=NO_DECISION
) -> bytes:
    """The page rewritten in two chunks, cut at cut, as served with content_type."""
    rw = HtmlRewriter(
        Neutraliser(policy, state, MARK), banner, True, skip=skip, content_type=content_type
    )
    return rw.feed(page[:cut]) + rw.feed(page[cut:]) + rw.close()


@pytest.mark.parametrize(
    ("page", "text"),
    [
        (b"<p>\x1b$d" + b"x" * 8, "<p>\ufffd$dxxxxxxxx"),
        (
            b"<p>\x1b$d<img src=https://WWW.facebook.com/tr>",
            "<p>\ufffd$d<img data-consent",
        ),
    ],
)
def test_an_iso_2022_jp_escape_browsers_do_not_know_is_read_as_they_read_it(
    policy, skip, page, text
):
    """CPython's decoder held an unknown escape sequence at a chunk's end and raised out of
    feed() once it held 9 bytes ('pending buffer overflow', errors='replace' or not), and
    took one to run to the next capital letter: the tag in it was one U+FFFD to the scanner,
    the pixel to Chromium, which replaces the ESC alone."""
    for cut in range(len(page) + 1):
        out = rewrite_as(policy, page, "text/html; charset=iso-2022-jp", cut, skip)
        assert out.startswith(b"\xef\xbb\xbf" + text.encode())
        assert b" src=https:" not in out


@pytest.mark.parametrize(
    "meta",
    [
        b"<meta charset=iso-2022-jp>",
        b"<META CHARSET='CSISO2022JP'>",
        b'<meta http-equiv=content-type content="text/html; charset=iso-2022-jp">',
        # comments as Chromium's tokenizer ends them (WHATWG's prescan: at `-->` only)
        b"<!-- x --!><meta charset=iso-2022-jp>",
        b"<!--><meta charset=iso-2022-jp>",
        b"<!---><meta charset=iso-2022-jp>",
        # and as Firefox's prescan does: to Chromium the UTF-8 one is the first
        b"<!-- --!><meta charset=utf-8> --><meta charset=iso-2022-jp>",
        # raw text: no <meta> to Chromium's tokenizer (WHATWG's prescan sees the UTF-8 one)
        b"<title><meta charset=utf-8></title><meta charset=iso-2022-jp>",
        b"<style>/*<meta charset=utf-8>*/</STYLE ><meta charset=iso-2022-jp>",
        b"<script>document.write('<meta charset=utf-8>')</script><meta charset=iso-2022-jp>",
        b"<script><!--<script></script><meta charset=utf-8></script><meta charset=iso-2022-jp>",
        b'<script>x="<a title=\'"</script><meta charset=iso-2022-jp>\'>"',
    ],
)
@pytest.mark.parametrize("content_type", [None, "text/html", "text/html; charset=x-made-up"])
def test_an_iso_2022_jp_page_its_meta_declares_is_rewritten_as_utf8(
    policy, skip, meta, content_type
):
    """A <meta> in the first 1024 bytes gives the page's charset when the Content-Type
    gives none a browser knows: `<\x1b(Bimg src=TRACKER>` was no tag to the scanner and
    the pixel to Chromium."""
    page = (
        b"<!doctype html><html><head>"
        + meta
        + b"</head><body><\x1b(Bimg src=https://www.facebook.com/tr>"
    )
    for cut in (0, 1, 20, len(page) - 30, len(page)):
        out = rewrite_as(policy, page, content_type, cut, skip)
        assert out.startswith(b"\xef\xbb\xbf<!doctype html>")
        assert b" data-consent-src=https://www.facebook.com/tr" in out
        assert b" src=https:" not in out


@pytest.mark.parametrize(
    "content_type",
    ["text/html; charset=utf_8", "text/html; charset=utf-7", "text/html; charset=latin_1"],
)
def test_a_header_charset_browsers_do_not_know_leaves_the_meta_to_decide(
    policy, skip, content_type
):
    """Python's codecs know `utf_8`, `utf-7` and `latin_1`, the WHATWG labels (and Chromium)
    not: the <meta charset=iso-2022-jp> decides, and `<\x1b(Bimg src=TRACKER>` was the
    pixel to Chromium and no tag to the scanner."""
    page = (
        b"<!doctype html><html><head><meta charset=iso-2022-jp>"
        b"</head><body><\x1b(Bimg src=https://www.facebook.com/tr>"
    )
    out = rewrite_as(policy, page, content_type, 20, skip)
    assert out.startswith(b"\xef\xbb\xbf<!doctype html>")
    assert b" data-consent-src=https://www.facebook.com/tr" in out
    assert b" src=https:" not in out


@pytest.mark.parametrize(
    "declaration",
    [
        b'<?xml version="1.0" encoding="ISO-2022-JP"?>',
        b"<?xml version='1.0' encoding = 'csiso2022jp' ?>",
        b'<?xml version="1.0" encoding="iso-2022-jp"?><!-- --!><meta charset=utf-8> -->',
        b"<?xml version='1.0'" + b" " * 1100 + b"encoding='iso-2022-jp'?>",  # (past 1024)
    ],
)
@pytest.mark.parametrize("content_type", [None, "text/html"])
def test_an_iso_2022_jp_page_its_xml_declaration_declares_is_rewritten_as_utf8(
    policy, skip, declaration, content_type
):
    """Chromium honours an XML declaration at a text/html page's very start (its encoding,
    read up to the declaration's '>'), a <meta> unless one follows."""
    page = declaration + b"<html><head></head><body><\x1b(Bimg src=https://www.facebook.com/tr>"
    for cut in (0, 5, 30, len(page)):
        out = rewrite_as(policy, page, content_type, cut, skip)
        assert out.startswith(b"\xef\xbb\xbf<?xml")
        assert b" data-consent-src=https://www.facebook.com/tr" in out
        assert b" src=https:" not in out


@pytest.mark.parametrize(
    ("head", "content_type"),
    [
        (b"<meta charset=utf-8>", None),  # (the <meta> decides)
        (b"", "text/html; charset=utf-8"),  # (the header does)
    ],
)
def test_an_xml_declaration_something_else_decides_over_is_left_as_it_comes(
    policy, skip, head, content_type
):
    page = (
        b'<?xml version="1.0" encoding="iso-2022-jp"?><html><head>'
        + head
        + ("</head><body><p>日本語</p></body></html>".encode())
    )
    assert rewrite_as(policy, page, content_type, 7, skip) == page.replace(
        b"</body>", INJECTED + b"</body>"
    )


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_a_utf16_page_its_xml_declaration_shows_is_rewritten_as_utf8(policy, skip, codec):
    """`<\\0?\\0x\\0` at the start is UTF-16 to Chromium, no BOM needed: to the scanner its
    tags were split by NULs."""
    page = '<?xml version="1.0"?><html><body><img src=https://www.facebook.com/tr>'
    out = rewrite_as(policy, page.encode(codec), "text/html", 9, skip)
    assert out.startswith(b"\xef\xbb\xbf<?xml version")
    assert b" data-consent-src=https://www.facebook.com/tr" in out


XHTML_PAGE = (
    '<html xmlns="http://www.w3.org/1999/xhtml"><head></head><body>'
    '<img src="https://www.facebook.com/tr"/></body></html>'
)


@pytest.mark.parametrize(
    ("declaration", "codec"),
    [
        ('<?xml version="1.0" encoding="utf-16"?>', "utf-16-le"),
        ('<?xml version="1.0" encoding="utf-16"?>', "utf-16-be"),
        ("<?xml version='1.0' encoding='iso-2022-jp'?>", "iso-2022-jp"),
    ],
)
def test_an_xhtml_page_its_xml_declaration_declares_is_rewritten_as_utf8(
    policy, skip, declaration, codec
):
    """Chromium reads an XHTML page (application/xhtml+xml, no charset in it) in its XML
    declaration's encoding: the declaration went unread there (HTML's <meta> prescan has no
    place in XML), a UTF-16 page's tags were split by NULs to the scanner and its trackers
    loaded (tests/e2e/test_http_redteam.py)."""
    page = (declaration + XHTML_PAGE).encode(codec)
    for cut in (0, 3, 9, len(page)):
        out = rewrite_as(policy, page, "application/xhtml+xml", cut, skip)
        assert out.startswith(b"\xef\xbb\xbf<?xml version")
        assert b' data-consent-src="https://www.facebook.com/tr"' in out
        assert b" src=" not in out


def test_an_xhtml_page_whose_header_names_its_charset_leaves_the_declaration_unread(policy, skip):
    """(the header's charset decides, as in Chromium: the declaration is not read)"""
    page = ('<?xml version="1.0" encoding="iso-2022-jp"?>' + XHTML_PAGE).encode()
    out = rewrite_as(policy, page, "application/xhtml+xml; charset=utf-8", 7, skip)
    assert out.startswith(b"<?xml version") and b"data-consent-src" in out


@pytest.mark.parametrize("content_type", [None, "text/html"])
@pytest.mark.parametrize(
    "meta",
    [
        b"<meta charset=utf-8>",
        b"<META HTTP-EQUIV=Content-Type CONTENT='text/html; charset=UTF-8'>",
        b"<meta charset=iso-2022-jp>",
    ],
)
def test_a_head_sent_early_is_sent_on_once_its_meta_settles_the_charset(
    policy, skip, content_type, meta
):
    """With no charset in the Content-Type, nothing was sent before 1024 bytes had come: an
    origin that flushed its <head> and then worked out its body for seconds had the visitor
    wait for nothing. A whole <meta> naming the charset settles it."""
    rw = HtmlRewriter(
        Neutraliser(policy, NO_DECISION, MARK), BANNER, True, skip=skip, content_type=content_type
    )
    head = b"<!doctype html><html><head><title>t</title>" + meta
    assert rw.feed(head[:-1]) == b""  # (not yet)
    bom = b"\xef\xbb\xbf" if b"2022" in meta else b""
    assert rw.feed(head[-1:] + b"<link rel=icon href=/i.png>").startswith(
        bom + b"<!doctype html><html><head><title>t</title>"
    )
    body = b"</head><body><\x1b(Bimg src=https://www.facebook.com/tr></body></html>"
    out = rw.feed(body) + rw.close()
    assert (b"data-consent-src=" in out) == bool(bom)


def test_a_meta_past_a_body_sent_early_leaves_no_escape_to_hide_a_tag(policy, skip):
    """An origin flushing its head and a first part of the body (no charset anywhere) had
    the visitor wait for 1024 bytes: those are sent on, and a <meta> past <body> (Chromium
    reads 1024 bytes) declaring ISO-2022-JP then finds no escape left: made '?', the
    browser reads what the scanner read (the page's own text lost: no such page is real)."""
    import html5lib

    page = (
        b"<html><head><!-- x --><body><p>x</p><meta charset=iso-2022-jp>"
        + b"<p><\x1b(Bimg src=https://www.facebook.com/tr></p>"
    )
    first = page.index(b"<p>x</p>") + 8
    rw = HtmlRewriter(Neutraliser(policy, NO_DECISION, MARK), BANNER, False, skip=skip)
    sent = rw.feed(page[:first])
    assert sent.startswith(b"<html><head><!-- x --><body>")
    out = sent + rw.feed(page[first:]) + rw.close()
    assert b"\x1b" not in out
    doc = html5lib.parse(out.decode("ascii"), namespaceHTMLElements=False)
    assert not [e for e in doc.iter("img") if "facebook" in (e.get("src") or "")]


@pytest.mark.parametrize(
    "head",
    [
        b'<div title="<meta charset=utf-8>"><meta charset=iso-2022-jp>',
        b"<!-- --!><meta charset=utf-8> --><meta charset=iso-2022-jp>",
        b"<meta charset=windows-1252><meta charset=iso-2022-jp>",
    ],
)
def test_bytes_that_settle_nothing_yet_send_nothing_yet(policy, skip, head):
    """What the first bytes show settles the charset only if no more bytes can change it."""
    page = b"<html><head>" + head + b"<p><\x1b(Bimg src=https://www.facebook.com/tr></p>"
    for cut in range(len(page)):
        out = rewrite_as(policy, page, None, cut, skip)
        assert out.startswith(b"\xef\xbb\xbf<html><head>")
        assert b" data-consent-src=https://www.facebook.com/tr" in out


@pytest.mark.parametrize(
    ("head", "content_type"),
    [
        (b"<meta charset=iso-2022-jp>", "text/html; charset=utf-8"),  # the header decides
        (b"<meta charset=iso-2022-jp>", "text/html; charset=Latin1"),  # (a WHATWG label)
        (b"<meta charset=ISO-2022-JP>", "text/html; charset=x-user-defined"),
        (b"<meta charset=utf-8><meta charset=iso-2022-jp>", None),  # the first one does
        (b"<!-- <meta charset=iso-2022-jp> -->", None),
        (b"<!-- --!-><meta charset=iso-2022-jp> -->", None),
        (b"<!--!><meta charset=iso-2022-jp> -->", None),
        (b'<?xml encoding="iso-2022-jp"?>', None),  # (not at the start)
        (b"<meta content='text/html; charset=iso-2022-jp'>", None),  # (no http-equiv)
    ],
)
def test_a_page_no_browser_reads_as_iso_2022_jp_is_left_as_it_comes(
    policy, skip, head, content_type
):
    page = b"<html><head>" + head + "</head><body><p>日本語</p></body></html>".encode()
    assert rewrite_as(policy, page, content_type, 7, skip) == page.replace(
        b"</body>", INJECTED + b"</body>"
    )


@pytest.mark.parametrize(
    "markup",
    [
        b"<form method=post action=/.consent/choice><button name=action value=accept-all>",
        b"<FORM ACTION='../.consent/me/erase' method=post><input type=submit>",
        b"<form method=post><button formaction=/.consent/choice name=action value=accept-all>",
        b"<form method=post><input type=submit formaction=/.consent/choice value=accept-all>",
        b"<base href=/.consent/><form method=post action=choice>",
    ],
)
def test_the_sites_forms_never_post_to_the_proxys_endpoints(policy, skip, markup):
    """A forum comment's form posted "Accept all" (or erased the visitor's records) on one
    click: same-origin, so the CSRF check let it through. Its action goes; it posts to
    its own page."""
    page = b"<html><head></head><body><p>comment</p>" + markup + b"</form></body></html>"
    out = rewrite(policy, page, state=ALL, skip=skip)
    assert out.count(b"data-consent-refused-") == 1  # (and nothing else changed)
    put_back = out.replace(INJECTED, b"", 1).replace(b"data-consent-refused-", b"")
    assert put_back.lower() == page.lower()
    # in any chunking, and the second time from the memos
    assert rewrite(policy, page, [7], state=ALL, skip=skip) == out
    assert rewrite(policy, page, state=ALL, skip=skip) == out


def test_the_sites_other_forms_pass_as_they_were(policy, skip):
    page = (
        b"<html><head></head><body><form action=/search><input name=q formaction=/find>"
        b"<button formaction='https://shop.example/cart'>Buy</button></form>"
        b"<base href=/static/></body></html>"
    )
    out = rewrite(policy, page, state=ALL, skip=skip)
    assert out.replace(INJECTED, b"", 1) == page


def test_the_c_loop_steps_over_a_form_that_cannot_post_to_the_endpoints():
    """A page's forms cost the neutraliser nothing when their actions plainly cannot name
    the prefix: one with the endpoints' word, or what could spell it, is handed over."""
    page = b"<p><form action=/search method=get><button formaction='//shop.example/c'>"
    word = b".consent"
    c = c_skip()
    assert c(page, 0, 3, {}, set(), {}, None, None, [], b"", [], 99, False, word) == len(page)
    # (without the word, every one stops, as before)
    assert c_skip()(page, 0, 3, {}, set(), {}, None, None, [], b"", [], 99, False) == 3
    for markup in (
        b"<form action=/.consent/choice>",
        b"<form action=/.CONSENT/choice>",
        b"<form action=/%2econsent/choice>",
        b"<form action=/&#46;consent/choice>",
        b"<form action='/.con\tsent/choice'>",
        b"<form action=/search ACTION=/x>",  # (a second: the neutraliser reads the first)
        b"<button formaction=../.consent/me/erase>",
    ):
        skip = c_skip()(markup, 0, 3, {}, set(), {}, None, None, [], b"", [], 99, False, word)
        assert skip == 0, markup


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    action=st.lists(
        st.sampled_from(
            ["/", ".", "..", "%2e", "&#46;", "\\", "\t", "consent", ".Consent/", "?", "h:"]
        ),
        max_size=8,
    ).map("".join),
    attr=st.sampled_from(["<form action", "<button formaction", "<input formaction"]),
)
def test_a_form_reads_the_same_to_both_skip_loops(policy, action, attr):
    """Whatever the action, the C loop steps over a form only where the neutraliser would
    have left it as it is: the rewrites are the same bytes."""
    page = f"<html><head></head><body>{attr}='{action}'><p>x</p></body></html>".encode()
    outs = [rewrite(policy, page, state=ALL, skip=s) for s in (c_skip(), SKIPS["python"])]
    assert outs[0] == outs[1]


@pytest.mark.parametrize("chunks", [None, [7]])
def test_after_a_policy_trusting_inserted_scripts_no_held_script_carries_the_mark(
    policy, skip, chunks
):
    """A <meta> CSP with 'strict-dynamic': banner.js, trusted, bringing back a held <script>
    after consent ran a tag the page's policy kept out (an injected one, without its nonce).
    A script held after that <meta> can never be brought back on this page (the next page
    leaves it as it came, for the policy to judge); one before it still can, and so can one
    carrying the policy's nonce (the origin's own), and an embed after it (no script:
    helper-105 found click-to-load gone with the mark)."""
    gtm = b'<script src="https://www.googletagmanager.com/gtm.js?id=G"></script>'
    own = b'<script nonce="a">gtag("js", new Date())</script>'
    frame = b'<iframe src="https://www.youtube.com/embed/x"></iframe>'
    meta = (
        b'<meta http-equiv="Content-Security-Policy" '
        b"content=\"script-src 'nonce-a' 'strict-dynamic'\">"
    )
    page = b"<html><head>" + gtm + meta + gtm + own + b"</head><body>" + frame + b"</body></html>"
    ours = f'data-consent-mark="{MARK}"'.encode()
    for _ in range(2):  # (the second time, from the memos)
        out = rewrite(policy, page, chunks, skip=skip)
        before, _, after = out.partition(meta)
        assert before.count(ours) == 1
        injected, _, rest = after.partition(b"</script>")
        assert b"data-consent-mark=" in injected and ours not in injected
        nonced, _, body = rest.partition(b"<iframe")
        assert b"data-consent-blocked" in nonced and ours in nonced
        assert ours in body.partition(b">")[0]
    lenient = page.replace(b"'strict-dynamic'", b"'self'")
    out = rewrite(policy, lenient, chunks, skip=skip)
    assert out.count(ours) == 4


def test_a_meta_csp_s_own_style_attribute_is_neutralised_as_any_tag_s(policy, skip):
    """(helper-105: read for its policy, the <meta> went out as it came, its style's tracker
    image with it: a <meta> in the body shows with display:block)"""
    page = (
        b"<html><body><meta http-equiv=Content-Security-Policy content='img-src *' "
        b"style='display:block;background:url(https://www.facebook.com/tr?id=1)'></body></html>"
    )
    for _ in range(2):
        out = rewrite(policy, page, skip=skip)
        assert b"url(https://www.facebook.com/tr" not in out and b"url(about:invalid)" in out


XML_BANNER = b'<div id="consentproxy"></div>'


@pytest.mark.parametrize(
    "closed",
    [
        b'<script src="/a.js"/>',
        b'<script type="application/json"/>',
        b"<script/>",
        b"<style/>",
        b"<title/>",
        b'<textarea name="a"/>',
        b'<iframe src="/frame"/>',
        b"<xmp/>",
        b"<noembed/>",
        b"<plaintext/>",
    ],
)
@pytest.mark.parametrize(
    ("body", "end"),
    [
        (
            (
                b'<body><p>text</p><iframe src="https://www.youtube.com/embed/x"></iframe>'
                b'<img src="https://www.facebook.com/tr?id=1" alt=""/></body>'
            ),
            b"</body></html>",
        ),
        (
            (
                b'<frameset cols="50%,50%"><frame src="https://www.youtube.com/embed/x"/>'
                b'<frame src="https://www.facebook.com/tr?id=1"/></frameset>'
            ),
            b"</html>",
        ),
    ],
)
def test_an_xhtml_page_stays_xml_with_elements_closed_by_a_slash(policy, skip, closed, body, end):
    """In XML '/>' ends any element: read as HTML, the rewrite took the rest of the page for
    a script's or a title's text (the trackers after it loaded) and put the banner after
    </html>, where Chromium shows only its XML error. The banner goes before </html> when
    there is no </body> (a frameset). Each page after an HTML page with the same tags, which
    the C loop remembers (it steps over one and what follows up to its end tag)."""
    page = (
        b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><head>'
        + closed
        + b"</head>"
        + body
        + b"</html>"
    )
    rewrite(policy, b"<html><head>" + closed + b"</head></html>", skip=skip)  # (remembered)
    for cut in (1, len(page) // 2, len(page) - 3):
        out = rewrite_as(policy, page, "application/xhtml+xml", cut, skip, XML_BANNER)
        ElementTree.fromstring(out)  # (raises on what is no XML)
        assert b' src="https://www.youtube.com' not in out
        assert b' src="https://www.facebook.com' not in out
        assert out.count(XML_BANNER) == 1
        assert out.endswith(XML_BANNER + end)


def test_a_rewriter_told_before_its_first_byte_reads_the_page_as_xml(policy, skip):
    """An untyped body sniffed as XML (body.py): '/>' ends the script, the pixel after it
    is held and the banner goes before </body>, as for application/xhtml+xml; a feed gets
    none (the banner after its root was Chromium's XML error)."""
    page = (
        b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><script/>'
        b'</head><body><img src="https://www.facebook.com/tr?id=1" alt=""/></body></html>'
    )
    feed = b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>x</title></channel></rss>\n'
    for body in (page, feed):
        rw = HtmlRewriter(Neutraliser(policy, NO_DECISION, MARK), XML_BANNER, True, skip=skip)
        rw.as_xml()
        out = rw.feed(body[:7]) + rw.feed(body[7:]) + rw.close()
        ElementTree.fromstring(out)
        assert b' src="https://www.facebook.com' not in out
        assert out.endswith(XML_BANNER + b"</body></html>" if body is page else b"</rss>\n")


@pytest.mark.parametrize(
    "name", [b"noframes", b"iframe", b"title", b"textarea", b"noembed", b"xmp"]
)
def test_in_an_xhtml_page_what_html_reads_as_text_is_markup(policy, skip, name):
    """A <noframes>'s content (an old XHTML frameset's body) is markup in XML: its pixel
    loads; read as HTML's raw text, it went out as it came (helper-113)."""
    page = (
        b'<html xmlns="http://www.w3.org/1999/xhtml"><head></head><body><'
        + name
        + b'><img src="https://www.facebook.com/tr?id=1" alt=""/></'
        + name
        + b"></body></html>"
    )
    out = rewrite_as(policy, page, "application/xhtml+xml", len(page), skip, XML_BANNER)
    assert b' src="https://www.facebook.com' not in out
    ElementTree.fromstring(out)
    html = rewrite(policy, page, skip=skip)  # (as HTML: text, as browsers read it)
    assert b' src="https://www.facebook.com' in html


# Event handler attributes whose code loads a tracker in a way no run-time hook of guard.js
# holds (a module's import(), a navigation): each renamed data-consent-on..., the element
# marked for the service's category (helper-118's vectors, confirmed in Chromium).
HANDLERS = [
    (
        b'<img src="/missing.gif" onerror="import(\'https://www.google-analytics.com/analytics.js\')">',
        b"onerror",
        "google-analytics",
    ),
    (b"<body onload=\"location.href='https://www.youtube.com/embed/x'\">", b"onload", "youtube"),
    (b"<svg onload=\"import('https://www.google-analytics.com/a.js')\"></svg>", b"onload", None),
    (
        b"<iframe src=/x onload=\"import('//www.google-analytics.com/a.js')\"></iframe>",
        b"onload",
        None,
    ),
    (
        b'<details open ontoggle="import(&apos;https://www.google-analytics.com/a.js&apos;)">x',
        b"ontoggle",
        None,
    ),
    (b"<input autofocus onfocus=\"location='https://www.youtube.com/'\">", b"onfocus", "youtube"),
    (
        b"<div ONCLICK='location.assign(\"https:&sol;&sol;www.youtube.com/x\")'>",
        b"onclick",
        "youtube",
    ),
    (
        b"<span onclick=\"import('https:\\u002f\\u002fwww.google-analytics.com/a.js')\">",
        b"onclick",
        None,
    ),
    (
        b"<svg><circle onclick=\"import('//www.google-analytics.com/a.js')\"/></svg>",
        b"onclick",
        None,
    ),
    (b"<a href=/x onclick=\"location='//www.youtube.com/'\" onclick=x()>", b"onclick", "youtube"),
]


@pytest.mark.parametrize(("markup", "attr", "service"), HANDLERS)
def test_an_event_handler_loading_a_tracker_is_held_at_every_split(
    policy, skip, markup, attr, service
):
    page = b"<!doctype html><head></head><body><p>a</p>" + markup + b"<p>b</p></body>"
    whole = rewrite(policy, page, skip=skip)
    service = service or "google-analytics"
    assert b'data-consent-blocked="%s"' % service.encode() in whole
    assert b" data-consent-" + attr + b"=" in whole
    assert not re.search(rb"[\s\"'/]" + attr + rb"=", whole, re.IGNORECASE)  # (duplicates too)
    for size in range(1, 40):  # chunk boundaries anywhere in the tag
        assert rewrite(policy, page, [size], skip=skip) == whole
    assert rewrite(policy, page, skip=skip) == whole  # (the memos' second page)
    assert rewrite(policy, page, state=ALL, skip=skip) == page.replace(
        b"</body>", INJECTED + b"</body>"
    )


@pytest.mark.parametrize(
    "markup",
    [
        b"<a href=# onclick=\"fbq('track', 'Lead'); open_modal(); return false\">",  # a marker
        b"<a href=# onclick=\"window.open('https://www.facebook.com/sharer.php?u=x')\">",  # hooked
        b"<a href=# onclick=\"new Image().src='https://www.facebook.com/tr?id=1&ev=Click'\">",
        b'<a href=# onclick="javascript:HighlanderComments.switchAccount();return false;">',
        b"<img src=/a.png onmouseover=\"this.src='/b.png'\" onload=\"import('/own.js')\">",
        b"<div onclick=\"location.href='https://own.example/next'\">",
        b'<body onload="init()">',
        b"<svg onload=\"draw('//cdn.unknown.example/x')\"></svg>",
    ],
)
def test_event_handlers_naming_no_tracker_load_no_hook_holds_stay_byte_identical(
    policy, skip, markup
):
    """A marker's call goes to its stand-in, a hooked load (a Share window on the visitor's
    click, a pixel) waits in the guard: the handler stays, as does one naming no tracker."""
    page = b"<!doctype html><head></head><body>" + markup + b"<p>b</p></body>"
    assert rewrite(policy, page, skip=skip) == page.replace(b"</body>", INJECTED + b"</body>")


def test_a_tag_held_already_waits_for_its_handlers_category_too(policy, skip):
    page = (
        b"<iframe src=https://www.youtube.com/embed/x "
        b"onload=\"import('https://www.google-analytics.com/a.js')\"></iframe>"
    )
    out = rewrite(policy, page, inject=False, skip=skip)
    assert out.count(b"data-consent-blocked=") == 1
    assert b'data-consent-blocked-category="social+analytics"' in out
    assert b"data-consent-src=" in out and b"data-consent-onload=" in out


HANDLER_STOPS = [
    (b"<div onclick=\"import('//www.google-analytics.com/a.js')\">", True),
    (b"<div onclick='x&#47;'>", True),  # (a reference may spell anything)
    (b"<div onclick='a&AMP;b'>", True),
    (b"<div onclick='\\u0069mport(1)'>", True),  # (an escape too)
    (b"<div onclick=\"location='/next'\">", True),
    (b"<div OnClick=NAVIGATION.navigate(x+'/')>", True),
    (b"<div onclick=a:b>", False),
    (b"<div onclick=\"if (a &amp;&amp; b) go('/x')\">", False),
    (b"<div onclick=\"ga('send', 'News & Politics', '/x')\" title='a &'>", False),  # (no reference)
    (b"<div onclick='a&#x3a;b'>", True),
    (b"<span onclick=\"_gaq.push(['_trackEvent', 'out', 'https://www.barbour.com/'])\">", False),
    (b'<div onclick="import(x)">', False),  # (no URL)
    (b"<div onclick=\"a(1)\" title='import //x'>", False),
    (b"<div onclick>", False),
    (b"<div data-onclick=\"import('//x')\">", False),
    (b"<img src=/a.png onerror=\"import('//www.google-analytics.com/a.js')\">", True),
    (b"<img src=/a.png onerror=\"this.src='/b.png'\">", False),
]


@pytest.mark.parametrize(("markup", "stops"), HANDLER_STOPS)
def test_the_c_loop_stops_at_an_event_handler_that_may_be_held(markup, stops):
    """Where its value may be code the neutraliser holds (neutralise.handler_may_load_re), as
    at a style that may load: the neutraliser judges it (or the tag memo knows it)."""
    assert c_skip()(markup + b"<p>", 0, 1, SETTLED, set()) == (0 if stops else len(markup) + 3)
    python_stops = SKIPS["python"](markup + b"<p>", 0, 1) == 0
    assert python_stops is (stops or markup.startswith(b"<img"))


@pytest.mark.parametrize("word", HANDLER_WORDS)
@pytest.mark.parametrize("quote", [b'"', b"'", b""])
def test_both_loops_stop_at_a_handler_with_a_url_and_any_word_of_policys_list(word, quote):
    """_skip.c's HANDLER_WORDS are policy.HANDLER_WORDS, in any case, in any kind of value."""
    for value in (b"x/" + word.upper(), word + b"/", b"x:" + word):
        markup = b"<b onclick=" + quote + value + quote + b">"
        assert c_skip()(markup + b"<p>", 0, 1) == 0
        assert SKIPS["python"](markup + b"<p>", 0, 1) == 0
        plain = markup.replace(word.upper(), b"x").replace(word, b"x")
        assert c_skip()(plain + b"<p>", 0, 1) == len(plain) + 3
        assert SKIPS["python"](plain + b"<p>", 0, 1) == len(plain) + 3


@pytest.mark.parametrize("content_type", ["application/xhtml+xml", "image/svg+xml"])
def test_an_event_handler_is_held_in_xml_documents_too(policy, skip, content_type):
    page = (
        b'<svg xmlns="http://www.w3.org/2000/svg" '
        b"onload=\"import('https://www.google-analytics.com/a.js')\"><rect/></svg>"
    )
    rw = HtmlRewriter(
        Neutraliser(policy, NO_DECISION, MARK), b"", False, skip=skip, content_type=content_type
    )
    out = rw.feed(page) + rw.close()
    assert b"data-consent-onload=" in out and b" onload=" not in out


def test_an_unended_tag_gets_its_event_handlers_emptied_first(policy, skip):
    page = b"<!doctype html><body><div onclick=\"import('//www.google-analytics.com/a.js')\" x='"
    out = rewrite(policy, page, skip=skip)
    assert out.startswith(b'<!doctype html><body><div style="" onclick="" onclick=')


URL_DECIDERS = [b"\x01", b"\x1f", b"\x7f", b"\\", b":", b"&"]  # each leaves the URL to Python


@pytest.mark.parametrize("lead", [0, 7])
def test_the_c_loop_reads_a_urls_deciding_byte_at_every_place_of_every_length(lead):
    """urls_settled reads a URL 16 bytes at a time, the last ones as the 16 ending the
    value: a control byte, '\\\\', a scheme's ':' or a reference at any place of a URL of
    1-70 bytes is found, at the buffer's start (lead 0: values under 16 bytes read byte by
    byte) or not; the same URL without it is stepped over."""
    text = b"t" * lead
    for size in range(1, 71):
        plain = b"/" + b"a" * (size - 1)
        tag = text + b"<img src='" + plain + b"'>"
        assert c_skip()(tag, 0, 1, SETTLED, set()) == len(tag), tag
        for at in range(1, size):
            for byte in URL_DECIDERS:
                tag = text + b"<img src='" + plain[:at] + byte + plain[at + 1 :] + b"'>"
                assert c_skip()(tag, 0, 1, SETTLED, set()) == lead, tag


HOST_BYTES = [b"Z", b"z", b"A", b"9", b"0", b".", b"-", b"_"]
NOT_HOST_BYTES = [b"@", b"[", b"`", b"{", b"/", b":", b"%", b"\x80", b"\xc1", b"\xfa", b" "]


@pytest.mark.parametrize("lead", [0, 7])
def test_the_c_loop_ends_a_host_at_its_first_byte_of_another_kind_wherever_it_falls(lead):
    """A host is read 16 bytes at a time too: a host of 1-40 bytes is settled with a letter,
    digit, '.', '-' or '_' anywhere in it, and ends (the URL then Python's) at any other
    byte, the neighbours of each range among them."""
    text = b"t" * lead
    for size in range(1, 41):
        for at in range(size):
            for byte in HOST_BYTES + NOT_HOST_BYTES:
                host = b"a" * at + byte + b"a" * (size - at - 1)
                tag = text + b"<img src=//" + host + b"/x.png>"
                settled = {host.lower(): False}
                stepped = c_skip()(tag, 0, 1, settled, set()) == len(tag)
                assert stepped == (byte in HOST_BYTES), tag


@pytest.mark.parametrize(
    "markup",
    [
        b"<script src=/a.js lowsrc=https://cdn.unknown.example/x></script>",
        b"<link href=/a.css lowsrc=https://cdn.unknown.example/x rel=stylesheet>",
        b"<input type=image src=/a.png srcset=https://cdn.unknown.example/x>",
        b"<source src=/a.png lowsrc=https://cdn.unknown.example/x>",
    ],
)
def test_both_loops_report_no_host_of_a_url_attribute_the_tag_does_not_load(config, markup):
    """Once a host was settled as one to report (an <img> of it on an earlier page), the C
    loop reported it from any hosted tag's URL attribute, its own or another tag's (a
    <script>'s lowsrc, an <input>'s srcset), which loads nothing: the Python loop, and the
    neutraliser, read a tag's own only. Same bytes either way; the report now agrees too."""
    from consentproxy.policy import Policy

    learned = b"<html><body>" + b"<img src=https://cdn.unknown.example/a.png>" * 2
    page = b"<html><head><title>t</title></head><body><p>x</p>" + markup * 3 + b"</body></html>"
    reports, outs = [], []
    for skip in (c_skip(), SKIPS["python"]):
        policy = Policy(config)  # (its memos learned afresh)
        for text in (learned, page):
            neutraliser = Neutraliser(policy, NO_DECISION, MARK)
            rw = HtmlRewriter(neutraliser, BANNER, True, head=b"<GUARD>", skip=skip)
            out = rw.feed(text) + rw.close()
        outs.append(out)
        reports.append(neutraliser.unknown_hosts)
    assert outs[0] == outs[1]
    assert reports[0] == reports[1] == set(), reports


def test_a_c_skipper_takes_hosted_urls_none_as_not_given():
    """hosted_urls=None, the default _skip.pyi and the type's doc give, was refused
    ("hosted_urls must be a tuple per name in hosted"): None is now not given."""
    c_skip()
    from consentproxy.rewrite._skip import Skipper

    page = b"<p>x</p><script src=/a.js lowsrc=https://cdn.unknown.example/x></script><p>y</p>"
    given = Skipper(*SKIPPER_ARGS[:-1], hosted_urls=None).skip
    assert given(page, 0, False) == Skipper(*SKIPPER_ARGS[:-1]).skip(page, 0, False)


@pytest.mark.parametrize(
    "instruction",
    [
        b'<?xml-stylesheet type="text/css" href="https://www.facebook.com/tr?id=1"?>',
        b"<?xml-stylesheet\n href = 'https://www.facebook.com/tr?id=1' type='text/css'?>",
        b'<?xml-stylesheet href="https://www.f&#97;cebook.com/tr?a=1&amp;b=>"?>',
    ],
)
def test_an_xml_style_sheet_instruction_of_a_held_service_is_read_by_no_browser(
    policy, skip, instruction
):
    """Chromium loads the style sheet an XHTML page's `<?xml-stylesheet?>` names, before its
    root element or after it: the Facebook pixel loaded through the proxy (helper-209,
    tests/e2e/test_http_redteam.py). Its target is renamed; one of the site's stays."""
    own = b'<?xml-stylesheet type="text/css" href="/site.css"?>'
    page = (
        b'<?xml version="1.0"?>'
        + instruction
        + own
        + b'<html xmlns="http://www.w3.org/1999/xhtml"><head></head><body><p>hi</p></body></html>'
        + instruction
    )
    for cut in (1, 30, len(page) // 2, len(page) - 5):
        out = rewrite_as(policy, page, "application/xhtml+xml", cut, skip, XML_BANNER)
        ElementTree.fromstring(out)
        assert b"<?xml-stylesheet" not in out.replace(own, b"")
        assert out.count(b"<?consent-held-xml-stylesheet") == 2 and own in out
    html = rewrite(policy, page, skip=skip)  # (as HTML: a bogus comment, loading nothing)
    assert instruction in html


@pytest.mark.parametrize(
    ("content_type", "xml"),
    [
        ("text/html charset=xml", False),
        ("text/html(xml)", False),
        ("application/xhtml+xml(x)", True),
        ("application/xhtml+xml charset=utf-8", True),
        (" Application/XHTML+XML ; charset=utf-8", True),
    ],
)
def test_a_page_is_read_as_xml_as_the_browser_reads_its_type(policy, content_type, xml):
    """The type's essence ends at whitespace, `;` or `(`, as Chromium's (net's
    ParseContentType): read up to `;` alone, `text/html charset=xml` was XML to the rewriter
    and HTML to Chromium, and `application/xhtml+xml(x)` HTML to the rewriter while
    Chromium loaded the tracker an `<?xml-stylesheet?>` of its prolog named (helper-224)."""
    instruction = b'<?xml-stylesheet type="text/css" href="https://www.facebook.com/tr?id=1"?>'
    page = b'<?xml version="1.0"?>' + instruction + b'<html xmlns="http://www.w3.org/1999/xhtml"/>'
    rw = HtmlRewriter(
        Neutraliser(policy, NO_DECISION, MARK), XML_BANNER, True, content_type=content_type
    )
    assert rw.xml is xml
    out = rw.feed(page) + rw.close()
    assert (instruction in out) is not xml


@pytest.mark.parametrize(
    "instruction",
    [
        b'<?xml-stylesheet title="x href=" href="https://www.facebook.com/tr?id=1"?>',
        b'<?xml-stylesheet title="type=" type="text/xsl" href="/site.xsl"?>',
        b'<?xml-stylesheet data-type="text/css" type="text/xsl" href="/site.xsl"?>',
        b'<?xml-stylesheet type="text&#47;xsl" href="/site.xsl"?>',
        b'<?xml-stylesheet type="text/css" x:href="https://www.facebook.com/tr?id=1"?>',
        b"<?xml-stylesheet href='https://www.f&#x61;ceb&#111;ok.com/tr?id=1'\n?>",
        # data that does not read as pseudo-attributes: held while anything is
        b'<?xml-stylesheet href="/site.css" title=x?>',
        b'<?xml-stylesheet href="/site.css"title="x"?>',
        b'<?xml-stylesheet href="/site.css" title="a&b"?>',
        b'<?xml-stylesheet href="/site.css" <x?>',
    ],
)
def test_an_xml_style_sheet_instruction_is_read_as_xml_reads_its_pseudo_attributes(
    policy, instruction
):
    """The pseudo-attributes are read in order from the target, names whole, values
    unescaped: a search for `href=`/`type=` found one inside another's value (title="x
    href="), or in data-type, and read type="text&#47;xsl" as no XSLT; Chromium loaded the
    pixel or the .xsl (helper-221). Data that reads otherwise is held while anything is."""
    page = b'<?xml version="1.0"?>' + instruction + b'<html xmlns="http://www.w3.org/1999/xhtml"/>'
    for cut in (3, 30, len(page) - 3):
        out = rewrite_as(policy, page, "application/xhtml+xml", cut, python_skip, XML_BANNER)
        assert out.count(b"<?consent-held-xml-stylesheet") == 1, out
        everything = rewrite_as(
            policy, page, "application/xhtml+xml", cut, python_skip, XML_BANNER, ALL
        )
        if b"/site.css" in instruction:  # (nothing held: it goes byte for byte)
            assert everything.startswith(page[:-2]), everything


XHTML_ROOT = (
    b'<html xmlns="http://www.w3.org/1999/xhtml"><head></head><body><p>hi</p></body></html>'
)
FB = b"https://www.facebook.com/tr?id=1"
GA = b"https://www.google-analytics.com/analytics.js"
FB_SHEET = b'<?xml-stylesheet type="text/css" href="' + FB + b'"?>'
GA_SCRIPT = b'<script src="' + GA + b'"></script>'


@pytest.mark.parametrize(
    "page",
    [
        # an instruction ends at '?>': read to the first '>', `<!--` hid what followed
        b'<?xml version="1.0"?><?a b><!-- ?>' + FB_SHEET + b"<!-- -->" + XHTML_ROOT,
        b'<?xml version="1.0"?>' + XHTML_ROOT + b"<?a b><!-- ?>" + FB_SHEET + b"<!-- -->",
        b'<?xml version="1.0"?>'
        + XHTML_ROOT.replace(b"<p>", b"<?a b><!-- ?>" + GA_SCRIPT + b"<!-- --><p>"),
        b'<?xml version="1.0"?>'
        + XHTML_ROOT.replace(
            b"<p>",
            b'<svg xmlns="http://www.w3.org/2000/svg"><?a b><!-- ?>'
            b'<script href="https://www.google-analytics.com/analytics.js"/><!-- --></svg><p>',
        ),
        # a DOCTYPE's internal subset: its instructions load, an entity's value is no comment
        b'<?xml version="1.0"?><!DOCTYPE html [' + FB_SHEET + b"]>" + XHTML_ROOT,
        b'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY c "x><!--"> '
        + FB_SHEET
        + b' <!ENTITY d "-->">]>'
        + XHTML_ROOT,
        b'<?xml version="1.0"?><!DOCTYPE html SYSTEM "a>[" [<!-- ] --> <?a ]>?>'
        + FB_SHEET
        + b"]>"
        + XHTML_ROOT,
        b'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY c "x><!--">]>'
        + XHTML_ROOT.replace(b"<p>", GA_SCRIPT + b"<!-- --><p>"),
        # a CDATA section ends at ']]>', in an XHTML body too
        b'<?xml version="1.0"?>'
        + XHTML_ROOT.replace(b"<p>", b"<![CDATA[ a> <!-- ]]>" + GA_SCRIPT + b"<!-- --><p>"),
    ],
)
def test_an_xml_document_s_instructions_doctype_and_cdata_are_read_as_xml_reads_them(policy, page):
    """helper-221, helper-235 (Chromium): the XML skip regex ended `<?a b>`, a DOCTYPE's
    subset and a CDATA section at their first '>', so a comment the browser never saw hid
    a style sheet instruction (the pixel loaded) or a <script> (Google Analytics loaded)."""
    for cut in (1, 25, 60, len(page) // 2, len(page) - 30):
        out = rewrite_as(policy, page, "application/xhtml+xml", cut, python_skip, XML_BANNER)
        assert b"<?xml-stylesheet" not in out and b"<script src=" not in out, out[:300]
        assert b"<?consent-held-xml-stylesheet" in out or b"data-consent-blocked" in out


def test_xml_instructions_doctypes_and_cdata_nothing_holds_pass_byte_for_byte(policy):
    """An instruction, a DOCTYPE's subset, a CDATA section or a style sheet instruction that
    holds nothing goes as it came, in any chunks."""
    page = (
        b'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY c "x><!--"> <?a ]>?> %p; <!-- ]> -->'
        b'<?xml-stylesheet type="text/css" href="/site.css"?>]>'
        b"<?a b><!-- ?>"
        + XHTML_ROOT.replace(b"<p>", b"<![CDATA[ a> <!-- ]]><p>")
        + b'<?xml-stylesheet href="/a.css"?>'
    )
    for cut in range(1, len(page)):
        out = rewrite_as(policy, page, "application/xhtml+xml", cut, python_skip, XML_BANNER, ALL)
        assert out == page.replace(b"</body>", XML_BANNER + b"</body>"), cut


@pytest.mark.parametrize(
    "markup",
    [
        b'<!DOCTYPE x [<!ENTITY a "b"> junk ]><image href="' + FB + b'"/>',
        b'<?xml-stylesheet type="text/css" href="' + FB + b'"?>',
    ],
)
def test_a_doctype_or_style_sheet_instruction_in_xml_foreign_content_is_read_alike_at_every_split(
    policy, markup
):
    """In an XML page's <svg>, the foreign skip stepped over a DOCTYPE to its first '>' and
    over a whole style sheet instruction, unjudged, while a chunk ending inside one had
    _xml_markup read a subset or judge the instruction (helper-240): both are read as
    outside foreign content now, the same at every split."""
    page = b'<?xml version="1.0"?>' + XHTML_ROOT.replace(
        b"<p>", b'<svg xmlns="http://www.w3.org/2000/svg">' + markup + b"</svg><p>"
    )
    whole = rewrite_as(policy, page, "application/xhtml+xml", len(page), python_skip, XML_BANNER)
    live = whole.find(b'<image href="' + FB)  # loads, unless after XML's error
    assert b"<?xml-stylesheet" not in whole and (live < 0 or 0 <= whole.find(b"\x00") < live)
    for cut in range(1, len(page)):
        out = rewrite_as(policy, page, "application/xhtml+xml", cut, python_skip, XML_BANNER)
        assert out == whole, cut


@pytest.mark.parametrize(
    "subset",
    [
        b'<!ENTITY c "' + b"x" * MAX_TAG + b'">',  # an item not ended in MAX_TAG bytes
        b"<!-- " + b"x" * MAX_TAG + b" -->",
        b"<x>",  # no subset item: XML's error
    ],
)
def test_an_xml_doctype_subset_not_followed_is_made_an_xml_error(policy, subset):
    """Where the subset is not read (an item not ended in MAX_TAG bytes, or none at all), a
    NUL (no XML character: Chromium shows its error and reads nothing past it) goes first,
    and the rest as it came: a `<!--` in it must not hide a script the browser runs."""
    page = b'<?xml version="1.0"?><!DOCTYPE html [' + subset + b"]>" + XHTML_ROOT
    at = page.index(b"[") + 1
    cuts = (at + MAX_TAG,) if len(subset) > MAX_TAG else (at + 2, len(page) - 5)
    for cut in cuts:
        out = rewrite_as(policy, page, "application/xhtml+xml", cut, python_skip, XML_BANNER)
        assert out == page[:at] + b"\x00" + page[at:]


_ENTITY, _ATTLIST = (HELD_ENTITY, "entity"), (HELD_ATTLIST, "attlist")


@pytest.mark.parametrize(
    ("declaration", "element", "left", "reported"),
    [
        (b'<!ENTITY t "' + GA + b'">', b'<script src="&t;"/>', b"", [_ENTITY]),
        (b"<!ENTITY\n% p '<!ENTITY t \"x\">'>", b'<script src="&t;"/>', b"", [_ENTITY]),
        (b'<!ENTITY t SYSTEM "https://example.org/t.ent">', b"<p>&t;</p>", b"", [_ENTITY]),
        # Held ones were renamed consent-held.t: a page declaring that name itself had its
        # reference expand (helper-240). Dropped, no name is left for a page to forge.
        (
            b'<!ENTITY consent-held.t "' + GA + b'"> <!ENTITY t "x">',
            b'<script src="&consent-held.t;"/>',
            b" ",
            [_ENTITY, _ENTITY],
        ),
        # An attribute list's default value is an attribute of every element it names.
        (b'<!ATTLIST script src CDATA "' + GA + b'">', b"<script/>", b"", [_ATTLIST]),
        (b'<!ATTLIST img\n src CDATA #FIXED "' + FB + b'">', b"<img/>", b"", [_ATTLIST]),
        (b"<!ATTLIST p style CDATA 'background:url(" + FB + b")'>", b"<p/>", b"", [_ATTLIST]),
    ],
)
def test_an_xml_entity_or_attlist_declaration_is_held_while_anything_is_unless_enforced(
    config, declaration, element, left, reported
):
    """A declared entity expands in an attribute's value (`src="&t;"`, a host spelt
    `www&d;facebook&d;com`) or into markup the rewrite never reads (helper-235), an
    <!ATTLIST>'s default value is an attribute of every element it names (libxml2 applies
    it: helper-240): Chromium loaded Google Analytics and the pixel through them. Held
    while anything is, unless `csp: enforce`: dropped (a reference is XML's error)."""
    page = (
        b'<?xml version="1.0"?><!DOCTYPE html [' + declaration + b"]>"
        b'<html xmlns="http://www.w3.org/1999/xhtml"><body>' + element + b"</body></html>"
    )
    for csp, state, held in (
        ("report-only", NO_DECISION, True),
        ("enforce", NO_DECISION, False),
        ("report-only", ALL, False),
    ):
        neutraliser = Neutraliser(Policy(replace(config, csp=csp)), state, MARK)
        rw = HtmlRewriter(
            neutraliser, b"", True, skip=python_skip, content_type="application/xhtml+xml"
        )
        out = rw.feed(page) + rw.close()
        assert out == (page.replace(declaration, left) if held else page)
        assert neutraliser.blocked == (reported if held else [])


@pytest.mark.parametrize(
    ("element", "held"),
    [
        (b'<h:script xmlns:h="http://www.w3.org/1999/xhtml" src="' + GA + b'"></h:script>', b"src"),
        (b'<h:img xmlns:h="http://www.w3.org/1999/xhtml" src="' + FB + b'"/>', b"src"),
        (
            b'<s:svg xmlns:s="http://www.w3.org/2000/svg"><s:image href="' + FB + b'"/></s:svg>',
            b"href",
        ),
    ],
)
def test_an_xml_prefixed_element_is_neutralised_as_its_local_name(policy, element, held):
    """Chromium loads what an element of the XHTML or SVG namespace loads whatever its
    prefix: <h:script src>, <h:img src>, <s:image href> loaded Google Analytics and the
    pixel through the proxy (helper-235). The prefix stays."""
    page = b'<?xml version="1.0"?>' + XHTML_ROOT.replace(b"<p>", element + b"<p>")
    opener = re.search(rb"<[hs]:(?:script|img|image) ", element).group()  # type: ignore[union-attr]
    for cut in (30, page.index(b"https") + 3, len(page) - 5):
        out = rewrite_as(policy, page, "application/xhtml+xml", cut, python_skip, XML_BANNER)
        assert b" data-consent-" + held + b'="https' in out, out
        assert b" " + held + b'="https' not in out and opener in out, out


@pytest.mark.parametrize(
    ("element", "live"),
    [
        (b'<_:script xmlns:_="http://www.w3.org/1999/xhtml" src="' + GA + b'"/>', b' src="'),
        ('<é:img xmlns:é="http://www.w3.org/1999/xhtml" src="'.encode() + FB + b'"/>', b' src="'),
        (b'<_x style="background:url(' + FB + b')"/>', b"url(https"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:q="http://www.w3.org/1999/xlink">'
            b'<image q:href="' + FB + b'"/></svg>',
            b' q:href="',
        ),
    ],
)
def test_an_xml_name_starting_otherwise_than_with_a_letter_is_a_tag(policy, element, live):
    """An XML name may start with '_' or a non-ASCII letter: `<_:script src>` and `<é:img
    src>` were text to the XML skip (a lone '<'), and loaded (helper-240); any prefix may
    be bound to XLink, `q:href` on an SVG <image> loaded the pixel. At every split."""
    page = b'<?xml version="1.0"?>' + XHTML_ROOT.replace(b"<p>", element + b"<p>")
    for cut in range(1, len(page)):
        out = rewrite_as(policy, page, "application/xhtml+xml", cut, python_skip, XML_BANNER)
        assert live not in out and b" data-consent-" in out, (cut, out)


def test_a_prefixed_xml_style_s_text_is_judged_as_a_style_s_at_every_split(policy):
    """`<h:style>@import url(GA)</h:style>` loaded Google Analytics: its text went unjudged
    (helper-240). Held to its end tag, whatever the prefix's length, as a <style>'s."""
    style = b'<longprefix:style xmlns:longprefix="http://www.w3.org/1999/xhtml">'
    page = b'<?xml version="1.0"?>' + XHTML_ROOT.replace(
        b"<p>", style + b"@import url(" + GA + b");</longprefix:style><img src='" + FB + b"'/><p>"
    )
    for cut in range(1, len(page)):
        out = rewrite_as(policy, page, "application/xhtml+xml", cut, python_skip, XML_BANNER)
        css = out.split(b"</longprefix:style>")[0].rsplit(b">", 1)[1]
        assert GA not in css and b" src='" + FB not in out, (cut, out)


@pytest.mark.parametrize("kind", ["text/xsl", "application/xml"])
def test_an_xslt_instruction_is_held_while_anything_is_unless_the_policy_is_enforced(config, kind):
    """Its output replaces the rewritten page, under that page's policy: the site's own
    .xsl's trackers loaded through the proxy under report-only (test_http_redteam.py). Held
    while the visitor's state holds anything (it was whatever they chose, everything
    accepted too), and reported (it was not: nothing said why the page was untransformed)."""
    instruction = b'<?xml-stylesheet type="%s" href="/site.xsl"?>' % kind.encode()
    page = b'<?xml version="1.0"?>' + instruction + b'<html xmlns="http://www.w3.org/1999/xhtml"/>'
    for csp, state, held in (
        ("report-only", NO_DECISION, True),
        ("off", NO_DECISION, True),
        ("enforce", NO_DECISION, False),
        ("report-only", ALL, False),
        ("off", ALL, False),
    ):
        neutraliser = Neutraliser(Policy(replace(config, csp=csp)), state, MARK)
        rw = HtmlRewriter(
            neutraliser, XML_BANNER, True, skip=python_skip, content_type="application/xhtml+xml"
        )
        out = rw.feed(page) + rw.close()
        assert (b"<?consent-held-xml-stylesheet" in out) is held
        assert (instruction in out) is not held
        assert neutraliser.blocked == ([("xslt", "xml-stylesheet")] if held else [])


SVG_XLINK = b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:%s="http://www.w3.org/1999/xlink">'


def _attributes(out: bytes) -> list[tuple[str, str]]:
    """Every attribute of the page as XML reads it with namespaces (ElementTree raises on a
    prefix no namespace declares: Chromium's XML error, the page lost)."""
    return [a for el in ElementTree.fromstring(out).iter() for a in el.attrib.items()]


@pytest.mark.parametrize(
    ("element", "held"),
    [
        (SVG_XLINK % b"xlink" + b'<image xlink:href="' + FB + b'"/></svg>', "xlink.href"),
        (SVG_XLINK % b"xlink" + b'<script xlink:href="' + GA + b'"/></svg>', "xlink.href"),
        (SVG_XLINK % b"q" + b'<image q:href="' + FB + b'"/></svg>', "q.href"),
        (SVG_XLINK % b"q.r" + b'<feImage q.r:href="' + FB + b'"/></svg>', "q.r.href"),
        # (its case kept: XML's prefixes are case-sensitive, banner.js looks Q up: helper-252)
        (SVG_XLINK % b"Q" + b'<image Q:href="' + FB + b'"/></svg>', "Q.href"),
    ],
)
def test_a_held_prefixed_attribute_keeps_an_xml_page_well_formed(policy, element, held):
    """A held xlink:href was renamed data-consent-xlink:href, a prefix no namespace declares:
    Chromium stopped the page there with its XML error. Held as data-consent-PREFIX.href
    (banner.js puts it back in its namespace), at every split."""
    page = b'<?xml version="1.0"?>' + XHTML_ROOT.replace(b"<p>", element + b"<p>")
    for cut in range(1, len(page), 7):
        out = rewrite_as(policy, page, "application/xhtml+xml", cut, python_skip, XML_BANNER)
        tracking = [name for name, value in _attributes(out) if "https://www." in value]
        assert tracking == ["data-consent-" + held], (cut, out)


@pytest.mark.parametrize(
    "element",
    [
        SVG_XLINK % b"q" + b'<script q:href="' + GA + b'"></script></svg>',
        SVG_XLINK % b"q" + b'<script q:href="' + GA + b'">var a = 1;</script></svg>',
        SVG_XLINK % b"q" + b'<script q:href="' + GA + b'"/></svg>',
    ],
)
def test_an_svg_script_s_href_of_any_prefix_is_judged(policy, element):
    """`<script q:href=GA>`, q bound to XLink, loads GA as `<script xlink:href>` does: its
    href went unjudged (an inline script's text was, or nothing)."""
    page = b'<?xml version="1.0"?>' + XHTML_ROOT.replace(b"<p>", element + b"<p>")
    for cut in range(1, len(page), 7):
        out = rewrite_as(policy, page, "application/xhtml+xml", cut, python_skip, XML_BANNER)
        tracking = [name for name, value in _attributes(out) if "https://www." in value]
        assert tracking == ["data-consent-q.href"], (cut, out)


@pytest.mark.parametrize(
    "content",
    [
        b"<img src='" + FB + b"'/>",  # an element: it loads
        b"a { color: red } <![CDATA[ </style> ]]><img src='" + FB + b"'/>",
        b"<!-- </style> --><img src='" + FB + b"'/>",
        b"<style><img src='" + FB + b"'/></style><img src='" + FB + b"'/>",  # (nested)
    ],
)
@pytest.mark.parametrize("element", [b"style", b"script", b"h:style"])
def test_an_xml_script_s_or_style_s_markup_is_read_as_xml(policy, content, element):
    """In XML a <script>'s or <style>'s content is markup (no raw text): `<style><img
    src=FB/></style>` loaded the pixel, read as raw text to the first end tag. Its elements
    are judged as a page's, a comment's or CDATA section's end tag is none, at every split."""
    opened = element + (b' xmlns:h="http://www.w3.org/1999/xhtml"' if b":" in element else b"")
    page = b'<?xml version="1.0"?>' + XHTML_ROOT.replace(
        b"<p>", b"<" + opened + b">" + content + b"</" + element + b"><p>"
    )
    for cut in range(1, len(page)):
        out = rewrite_as(policy, page, "application/xhtml+xml", cut, python_skip, XML_BANNER)
        tracking = [name for name, value in _attributes(out) if "https://www." in value]
        assert tracking and set(tracking) == {"data-consent-src"}, (cut, out)


@pytest.mark.parametrize(
    ("text", "held"),
    [
        (b"<![CDATA[@import url(" + GA + b");]]>", b"GA's URL in a CDATA section"),
        (b"@import url(&#x68;ttps://www.google-analytics.com/a.css);", b"a reference"),
        (b"@import url(https:<!-- -->//www.google-analytics.com/a.css);", b"a comment"),
        (b"@import url(https://www.google-an<b>x</b>alytics.com/a.css);", b"a child's text"),
        (b"@import url(https://www.google-an<style>x</style>alytics.com/a.css);", b"a style's"),
        (b"@import url(https://www.google-an<b><![CDATA[x]]></b>alytics.com/a.css);", b"CDATA"),
    ],
)
@pytest.mark.parametrize("svg", [False, True])
def test_an_xml_style_s_text_is_judged_as_xml_gives_it(policy, text, held, svg):
    """A style's text as XML gives it (a CDATA section's content, references read, comments
    none): `url(&#x68;ttps://GA)` is `url(https://GA)` to the browser. Its own text only, as
    Chromium reads a style's or script's (its text children): a child element's text was
    judged with it, and `google-an<b>x</b>alytics.com` read as no host while Chromium loaded
    GA (helper-252); an SVG style's was cut at `<b>` by HTML's breakout, which XML has not."""
    style = b"<style>" + text + b"</style>"
    if svg:
        style = b'<svg xmlns="http://www.w3.org/2000/svg">' + style + b"<rect/></svg>"
    page = b'<?xml version="1.0"?>' + XHTML_ROOT.replace(b"<p>", style + b"<p>")
    ns = "http://www.w3.org/2000/svg" if svg else "http://www.w3.org/1999/xhtml"
    for cut in range(1, len(page), 5):
        out = rewrite_as(policy, page, "application/xhtml+xml", cut, python_skip, XML_BANNER)
        style = ElementTree.fromstring(out).find(f".//{{{ns}}}style")
        assert style is not None and style.get("data-consent-blocked"), (held, cut, out)
        assert "google-analytics" not in (style.text or ""), (held, cut, out)


@pytest.mark.parametrize("element", [b"style", b"script"])
def test_an_xml_script_s_or_style_s_content_past_what_is_held_is_no_page(policy, element):
    """Past the first MiB of an XHTML script's or style's content (MAX_HELD_TEXT) the rest
    went out unread, and an origin sending it in 8 KiB chunks had an `<img src=FB/>` after
    140,000 `<i>a</i>` load the pixel through the proxy (helper-252): XML's error goes after
    what was judged, and Chromium reads nothing past it."""
    content = b"<i>a</i>" * 140_000 + b"<img src='" + FB + b"'/>"
    page = b'<?xml version="1.0"?>' + XHTML_ROOT.replace(
        b"<p>", b"<" + element + b">" + content + b"</" + element + b"><p>"
    )
    rw = HtmlRewriter(
        Neutraliser(policy, NO_DECISION, MARK),
        XML_BANNER,
        True,
        skip=python_skip,
        content_type="application/xhtml+xml",
    )
    out = b"".join(rw.feed(page[i : i + 8192]) for i in range(0, len(page), 8192)) + rw.close()
    read = out.split(XML_ERROR)[0]  # (what Chromium reads)
    assert b"<i>a</i>" in read and b"src='" + FB not in read


GA_CODE = b"var s = document.createElement('script'); s.src = '" + GA + b"';"


def test_an_xml_script_s_text_is_judged_as_xml_gives_it(policy):
    """An inline script's code as XML gives it: CDATA's content, a reference read
    (`google&#45;analytics` is Google Analytics' host)."""
    for code in (
        b"<![CDATA[" + GA_CODE + b"]]>",
        GA_CODE.replace(b"google-", b"google&#45;"),
        GA_CODE.replace(b"google-an", b"google-an<b>x</b>"),  # (its own text: helper-252)
    ):
        page = b'<?xml version="1.0"?>' + XHTML_ROOT.replace(
            b"<p>", b"<script>" + code + b"</script><p>"
        )
        for cut in range(1, len(page), 5):
            out = rewrite_as(policy, page, "application/xhtml+xml", cut, python_skip, XML_BANNER)
            script = ElementTree.fromstring(out).find(".//{http://www.w3.org/1999/xhtml}script")
            assert script is not None and script.get("type") == "text/plain", (cut, out)
