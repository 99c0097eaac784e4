from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentproxy.consent import NO_DECISION, ConsentState
from consentproxy.rewrite.neutralise import Neutraliser
from consentproxy.rewrite.scanner import MAX_HOLD, HtmlRewriter

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
PAGES = sorted(CORPUS.glob("*.html"))
BANNER = b"<div id=consentproxy></div>"
ALL = ConsentState(True, frozenset({"analytics", "advertising", "social"}))


def rewrite(policy, page: bytes, chunks=None, state=NO_DECISION, inject=True) -> bytes:
    rw = HtmlRewriter(Neutraliser(policy, state), BANNER, inject)
    sizes = chunks or [len(page) or 1]
    out, pos, i = [], 0, 0
    while pos < len(page):
        size = max(1, sizes[i % len(sizes)])
        out.append(rw.feed(page[pos:pos + size]))
        pos, i = pos + size, i + 1
    return b"".join(out) + rw.close()


def test_corpus_is_there():
    assert len(PAGES) >= 10


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_everything_consented_changes_nothing_but_the_banner(policy, page):
    data = page.read_bytes()
    out = rewrite(policy, data, state=ALL)
    assert out.count(BANNER) == 1
    assert out.replace(BANNER, b"", 1) == data


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=st.sampled_from(PAGES), chunks=st.lists(st.integers(1, 300), min_size=1,
                                                     max_size=8))
def test_any_chunking_gives_the_same_output(policy, page, chunks):
    data = page.read_bytes()
    assert rewrite(policy, data, chunks) == rewrite(policy, data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text("<>!-/ascriptbodyframe=\"'\n", max_size=200).map(
    str.encode))
def test_any_bytes_pass_through_when_nothing_is_blocked(policy, data):
    out = rewrite(policy, data, chunks=[7], state=ALL, inject=False)
    assert out == data


def test_banner_goes_before_the_last_real_body_end(policy):
    page = (b"<body><script>var s='</body>';</script><!-- </body> -->"
            b"<p>x</p></body>\n<p>late</p></BODY ></html>")
    out = rewrite(policy, page)
    assert out == page.replace(b"</BODY >", BANNER + b"</BODY >")


def test_banner_goes_at_the_end_without_body(policy):
    assert rewrite(policy, b"<p>caf\xe9") == b"<p>caf\xe9" + BANNER


def test_long_tail_after_body_end_bounds_what_is_held(policy):
    page = b"<p>a</p></body>" + b"x" * (MAX_HOLD + 10)
    out = rewrite(policy, page, chunks=[4096])
    assert out == page.replace(b"</body>", BANNER + b"</body>")


def test_no_banner_for_fragments_when_sniffing(policy):
    assert rewrite(policy, b"<div><p>fragment</p></div>", inject=None).count(BANNER) == 0
    doc = b"<!DOCTYPE html><html><body><p>x</p></body></html>"
    assert rewrite(policy, doc, inject=None).count(BANNER) == 1


def test_an_xml_prolog_still_starts_a_document(policy):
    doc = b'<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">' \
          b"<body><p>x</p></body></html>"
    assert rewrite(policy, doc, inject=None).count(BANNER) == 1


@pytest.mark.parametrize("markup", [
    b"<!-- <script src=https://connect.facebook.net/x.js></script> -->",
    b"<textarea><iframe src=https://www.youtube.com/embed/x></iframe></textarea>",
    b"<title><img src=https://www.facebook.com/tr></title>",
    b"<img alt='<iframe src=https://www.youtube.com/embed/x>' src=/a.png>",
    b'<script type="application/ld+json">{"u":"https://www.youtube.com/x"}</script>',
    b"<style>/* <img src=https://www.facebook.com/tr> */</style>",
    b"<script>var s = \"</body><iframe src='https://www.youtube.com/embed/x'>\";</script>",
])
def test_text_that_only_looks_like_trackers_is_untouched(policy, markup):
    assert rewrite(policy, markup, inject=False) == markup


@pytest.mark.parametrize("markup", [
    b"<SCRIPT SRC=https://www.google-analytics.com/analytics.js></SCRIPT>",
    b"<iframe src=//www.youtube.com/embed/x></iframe>",
    b"<noscript><img src='https://www.facebook.com/tr?id=1'></noscript>",
    b"<object data='https://www.youtube.com/v/x'></object><embed src=https://www.youtube.com/v/y>",
    b"<link rel=dns-prefetch href=//www.googletagmanager.com>",
    b"<script>!function(f,b,e,v,n,t,s){}(window);fbq('init','1')</script>",
    (b"<script><!-- document.write('<script src=//www.google-analytics.com/ga.js></script>')"
     b" --></script>"),
    b"<img\nsrc\n=\nhttps://px.ads.linkedin.com/collect>",
])
def test_trackers_are_neutralised(policy, markup):
    out = rewrite(policy, markup, inject=False)
    assert out != markup and b"data-consent-blocked=" in out


def test_script_end_inside_escaped_comment_does_not_end_the_script(policy):
    page = (b"<script><!-- document.write('<script></script>'); --></script>"
            b"<iframe src=https://www.youtube.com/embed/x></iframe>")
    out = rewrite(policy, page, inject=False)
    assert out.count(b"data-consent-blocked=") == 1  # the iframe after the real end
    assert out.startswith(b"<script><!--")  # the script text holds no tracker


def test_latin1_bytes_are_preserved(policy):
    page = "<p>Caf\xe9 cr\xe8me</p><iframe src=https://www.youtube.com/embed/x></iframe>"
    out = rewrite(policy, page.encode("latin-1"), inject=False)
    assert out.startswith("<p>Caf\xe9 cr\xe8me</p>".encode("latin-1"))


def head_rewrite(policy, page: bytes, chunks=None) -> bytes:
    rw = HtmlRewriter(Neutraliser(policy, NO_DECISION), BANNER, True, head=b"<GUARD>")
    sizes = chunks or [len(page)]
    out = [rw.feed(page[i:i + sizes[0]]) for i in range(0, len(page), sizes[0])]
    return b"".join(out) + rw.close()


def test_guard_goes_right_after_head_before_any_script(policy):
    page = b"<!DOCTYPE html><html><HEAD lang=x><script>a()</script></head><body></body>"
    out = head_rewrite(policy, page, [3])
    assert out.startswith(b"<!DOCTYPE html><html><HEAD lang=x><GUARD><script>a()</script>")
    assert out.count(b"<GUARD>") == 1


def test_guard_goes_before_the_first_loading_tag_without_head(policy):
    out = head_rewrite(policy, b"<p>x</p><img src=/a.png><script>b()</script>")
    assert out.startswith(b"<p>x</p><GUARD><img src=/a.png>")


def test_guard_comes_with_the_banner_when_nothing_loads(policy):
    assert head_rewrite(policy, b"<p>plain</p>") == b"<p>plain</p><GUARD>" + BANNER
