import html
import json
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentproxy.consent import NO_DECISION, ConsentState
from consentproxy.rewrite import css, neutralise
from consentproxy.rewrite.css import (
    INERT_URL,
    STYLE_MAY_LOAD_RE,
    neutralise_css,
    python_style_may_load,
    style_may_load,
    url_spans,
)
from consentproxy.rewrite.neutralise import Neutraliser
from consentproxy.rewrite.tag import StartTag

PIXEL = "https://www.facebook.com/tr?id=1"
GA = "//www.google-analytics.com/x.css"
ALL = ConsentState(True, frozenset({"analytics", "advertising", "social"}))


def urls(css: str) -> list[str]:
    return [url for _, _, url in url_spans(css)]


# Name -> (CSS, the URLs a browser loads from it).
CASES = {
    "url_token": (f"p{{background:url({PIXEL})}}", [PIXEL]),
    "url_double_quoted": (f'p{{background:url("{PIXEL}")}}', [PIXEL]),
    "url_single_quoted_with_spaces": (f"p{{background:url(  '{PIXEL}'\t)}}", [PIXEL]),
    "url_token_with_spaces": (f"p{{background:url(\n {PIXEL} \n)}}", [PIXEL]),
    "uppercase_url": (f"p{{background:URL({PIXEL})}}", [PIXEL]),
    "hex_escaped_u": (f"p{{background:\\75 rl({PIXEL})}}", [PIXEL]),
    "hex_escaped_u_without_space": (f"p{{background:\\000075rl({PIXEL})}}", [PIXEL]),
    "hex_escape_eats_crlf": (f"p{{background:\\75\r\nrl({PIXEL})}}", [PIXEL]),
    "letter_escaped_r": (f"p{{background:u\\rl({PIXEL})}}", [PIXEL]),
    "escaped_uppercase_name": (f"p{{background:\\55\\52\\4c({PIXEL})}}", [PIXEL]),
    "escaped_slashes_in_url": (
        "p{background:url(https:\\2f\\2fwww.facebook.com/tr)}",
        ["https://www.facebook.com/tr"],
    ),
    "escaped_host_in_string": (
        "p{background:url('//www.f\\61 cebook.com/tr')}",
        ["//www.facebook.com/tr"],
    ),
    "hex_escape_eats_newline_in_string": (
        "@import '//www.fa\\63\nebook.com/tr';",
        ["//www.facebook.com/tr"],
    ),
    "another_at_rule_ends_import": (f"@import @media '{GA}';", []),
    "escaped_newline_in_string": (
        "p{background:url('//www.face\\\nbook.com/tr')}",
        ["//www.facebook.com/tr"],
    ),
    "escaped_paren_in_url": ("p{background:url(//www.facebook.com/\\))}", ["//www.facebook.com/)"]),
    "protocol_relative": ("p{background:url(//www.facebook.com/tr)}", ["//www.facebook.com/tr"]),
    "backslashes": (
        "p{background:url('https:\\\\\\\\www.facebook.com\\\\tr')}",
        ["https:\\\\www.facebook.com\\tr"],
    ),
    "import_url": (f"@import url({GA});", [GA]),
    "import_string": (f"@import '{GA}' screen;", [GA]),
    "import_uppercase": (f'@IMPORT "{GA}";', [GA]),
    "import_escaped_keyword": (f"@\\69mport '{GA}';", [GA]),
    "import_layer_and_supports": (f"@import '{GA}' layer(x) supports(display:grid);", [GA]),
    "image_set_strings": (
        f"p{{background:image-set('/a.png' 1x, '{PIXEL}' 2x)}}",
        ["/a.png", PIXEL],
    ),
    "webkit_image_set": (f"p{{background:-webkit-image-set(url({PIXEL}) 1x)}}", [PIXEL]),
    "image_set_type": (f"p{{background:image-set('{PIXEL}' type('image/avif'))}}", [PIXEL]),
    "src_function": (f"@font-face{{src:src('{PIXEL}')}}", [PIXEL]),
    "font_face_url": (f"@font-face{{font-family:x;src:url({PIXEL}) format('woff')}}", [PIXEL]),
    "after_comments": (f"/* }} */p/**/{{/*)*/background:/**/url({PIXEL})}}", [PIXEL]),
    "after_cdo": (f"<!--p{{background:url({PIXEL})}}-->", [PIXEL]),
    "cdo_right_before": (f"<!--url({PIXEL})", [PIXEL]),
    "unterminated_url_at_end": (f"p{{background:url({PIXEL}", [PIXEL]),
    "unterminated_string_at_end": (f"@import '{GA}", [GA]),
    "control_before_url_in_string": (f"p{{x:url('\\1 {PIXEL}')}}", [f"\x01{PIXEL}"]),
    "nul_in_url": ("p{background:url(//www.facebook.com/\x00)}", ["//www.facebook.com/\ufffd"]),
    "custom_property_string": (
        f":root{{--bg:'{PIXEL}'}}p{{background:image-set(var(--bg) 1x)}}",
        [PIXEL],
    ),
    "custom_property_spaces_and_list": (
        f"p{{--a : '/a.png' , '{PIXEL}'; b:'x'}}",
        ["/a.png", PIXEL],
    ),
    "custom_property_escaped_name": (f"p{{-\\-bg:'{PIXEL}'}}", [PIXEL]),
    "custom_property_in_attribute": (f"--bg:'{PIXEL}'", [PIXEL]),
    "several": (f"a{{b:url(/a.png),url({PIXEL})}} c{{d:url({GA})}}", ["/a.png", PIXEL, GA]),
    # What only looks like a URL load.
    "comment_splits_the_name": (f"p{{background:ur/**/l({PIXEL})}}", []),
    "longer_name": (f"p{{background:-url({PIXEL}) xurl({PIXEL}) url2({PIXEL})}}", []),
    "space_before_paren": (f"p{{background:url ({PIXEL})}}", []),
    "dimension_unit": (f"p{{width:5url({PIXEL})}}", []),
    "hash": (f"p{{x:#url({PIXEL})}}", []),
    "inside_comment": (f"/* p{{background:url({PIXEL})}} */", []),
    "inside_a_string": (f"p::after{{content:'url({PIXEL})'}}", []),
    "plain_string": (f"p::after{{content:'{PIXEL}'}}", []),
    "bad_url_space_inside": (f"p{{background:url({PIXEL} x)}} q{{x:url(/b.png)}}", ["/b.png"]),
    "bad_url_swallows_up_to_its_paren": (f"p{{x:url(a b url({PIXEL}) c)}}", []),
    "bad_url_quote_inside": (f"p{{background:url({PIXEL}')}}", []),
    "bad_url_escaped_newline": (f"p{{background:url({PIXEL}\\\n)}}", []),
    "bad_string_newline": (f"@import '{GA}\n;", []),
    "escaped_paren_is_no_function": (f"p{{background:url\\28 {PIXEL})}}", []),
    "string_in_other_function": (f"p{{background:image-set(type('{PIXEL}'))}}", []),
    "string_in_supports_of_import": (f"@import '/a.css' supports(x:'{PIXEL}');", ["/a.css"]),
    "string_after_custom_property_ended": (f"p{{--a:1; b:'{PIXEL}'}} q{{c:'{PIXEL}'}}", []),
    "name_with_dashes_inside": (f"p{{x--y:'{PIXEL}'}}", []),
    "string_after_import_ended": (f"@import '/a.css'; p{{x:'{PIXEL}'}}", ["/a.css"]),
}


@pytest.mark.parametrize(("css", "loads"), CASES.values(), ids=CASES.keys())
def test_urls_are_the_ones_a_browser_loads(css, loads):
    assert urls(css) == loads


def facebook(url: str):
    return "fb" if "facebook" in url else None


def test_only_the_blocked_urls_change_byte_for_byte():
    css = f"a{{b:url( '{PIXEL}' )}}c{{d:url(/local.png)}}/*x*/e{{f:\\75 rl({PIXEL} )}}"
    out, svc = neutralise_css(css, facebook)
    assert svc == "fb"
    assert (
        out == f"a{{b:url( '{INERT_URL}' )}}c{{d:url(/local.png)}}/*x*/e{{f:\\75 rl({INERT_URL} )}}"
    )


def test_a_url_behind_an_escaped_control_character_is_blocked(blocking):
    _, text = blocking.style_element(b"<style>", f"p{{x:url('\\1 {PIXEL}')}}".encode())
    assert text == b"p{x:url('about:invalid')}"


def test_nothing_blocked_gives_the_same_text():
    css = f"a{{b:url({GA})}}"
    assert neutralise_css(css, lambda url: None) == (css, None)


def test_inert_url_loads_nothing_in_both_forms():
    assert urls(f"a{{b:url({INERT_URL})}}") == [INERT_URL]
    assert urls(f"a{{b:url('{INERT_URL}')}}") == [INERT_URL]


# Pieces of CSS, joined at random: names, escapes, comments, strings, brackets.
PIECES = [
    "url(",
    "URL(",
    "\\75 rl(",
    "u\\rl(",
    "\\55 RL(",
    "@import",
    "@\\69mport",
    " ",
    "image-set(",
    "-webkit-image-set(",
    "src(",
    "image(",
    "type(",
    PIXEL,
    GA,
    "/a.png",
    "'",
    '"',
    "\\",
    "\n",
    "/*",
    "*/",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ";",
    ",",
    "1x",
    "-",
    "x",
    "5",
    "#",
    "<!--",
    "-->",
    "&#117;",
    "&amp;",
    "\x00",
    "\\28",
    "ur",
    "l(",
    "--x:",
    "var(",
    "a{b:c}",
    "{--x:",
    "'//t/a'",
    '"//t/a"',
    "@media",
    "/",
]
CSS = st.lists(st.sampled_from(PIECES), max_size=24).map("".join)


def token_by_token_url_spans(css_text: str) -> list[tuple[int, int, str]]:
    """url_spans reading each block and bracket token by token, as it does where a string
    may load (the reference the quiet runs must agree with)."""
    quiet = css._QUIET_TOKEN_RE
    css._QUIET_TOKEN_RE = css._TOKEN_RE
    try:
        return url_spans(css_text)
    finally:
        css._QUIET_TOKEN_RE = quiet


@pytest.mark.parametrize(
    "text",
    [
        "a{b:c}--x:'//t/a'",  # a quiet block, then a custom property's string
        "{--x:c}'//t/a'",  # the block ends the custom property's value
        "{--x:'//t/a'}",  # (a string: no quiet block)
        '{--x:"//t/a"}',
        "{--x:u\\rl(//t/a)}",
        "image-set({a:b}'//t/a')",  # a block inside a function that takes URLs
        "x(a)image-set('//t/a')",
        ":not([a]){b:url(//t/a)}",
        "{a:x(b);c:image-set('//t/a')}",
        "@import{}'//t/a'",
        "#--x:'//t/a'",  # a hash, not a custom property
        "a{b:c(d}'//t/a')",  # a function's parenthesis keeps the block open
        "a{b/c:d}url(//t/a)",
    ],
)
def test_quiet_runs_find_what_reading_token_by_token_finds(text):
    assert url_spans(text) == token_by_token_url_spans(text)


@settings(max_examples=3000, deadline=None)
@given(css_text=CSS)
def test_quiet_runs_find_what_reading_token_by_token_finds_at_random(css_text):
    assert url_spans(css_text) == token_by_token_url_spans(css_text)


@settings(max_examples=2000, deadline=None)
@given(css=CSS)
def test_style_may_load_is_a_superset_of_what_loads(css):
    if url_spans(css):
        assert STYLE_MAY_LOAD_RE.search(css.encode("utf-8"))


@settings(max_examples=2000, deadline=None)
@given(css=CSS, upper=st.booleans())
def test_the_fast_may_load_checks_say_what_the_regex_says(css, upper):
    raw = (css.upper() if upper else css).encode("utf-8")
    assert style_may_load is not python_style_may_load  # (the C one: `make install` builds it)
    assert style_may_load(raw) == python_style_may_load(raw) == bool(STYLE_MAY_LOAD_RE.search(raw))


@settings(max_examples=2000, deadline=None)
@given(raw=CSS)
def test_style_may_load_holds_before_entities_are_decoded(raw):
    if url_spans(html.unescape(raw)):
        assert STYLE_MAY_LOAD_RE.search(raw.encode("utf-8"))


@settings(max_examples=2000, deadline=None)
@given(css=CSS)
def test_neutralised_css_loads_no_blocked_url_and_keeps_the_rest(css):
    out, svc = neutralise_css(css, facebook)
    assert (svc is None) == (out == css)
    assert not any(facebook(url) for url in urls(out))
    spans = url_spans(css)
    assert len(urls(out)) == len(spans)  # the tokens around each URL are unchanged
    for (start, end, url), (o_start, o_end, o_url) in zip(spans, url_spans(out), strict=True):
        assert o_url == (INERT_URL if facebook(url) else url)


@pytest.fixture
def blocking(policy):
    return Neutraliser(policy, NO_DECISION, mark="M")


def test_style_element_is_marked_and_its_urls_made_inert(blocking):
    tag, text = blocking.style_element(
        b"<style media=screen>", f"@import url({GA});p{{x:url(/a.png)}}".encode()
    )
    assert tag == (
        b'<style data-consent-blocked="google-analytics" '
        b'data-consent-blocked-category="analytics" data-consent-mark="M" '
        b'data-consent-css="[&quot;//www.google-analytics.com/x.css&quot;]" media=screen>'
    )
    assert text == b"@import url(about:invalid);p{x:url(/a.png)}"
    assert blocking.blocked == [("google-analytics", "style")]


def restored_css(css: str, originals: list[str | None]) -> str:
    """What neutralise_css made inert put back, as banner.js's restyle does."""
    parts = css.split(INERT_URL)
    if len(parts) != len(originals) + 1:
        return css
    out = [parts[0]]
    for original, part in zip(originals, parts[1:], strict=True):
        out += (INERT_URL if original is None else original, part)
    return "".join(out)


@pytest.mark.parametrize(
    "css",
    [
        f"@import url({GA});p{{x:url(/a.png)}}",
        f"@import '{GA}';p{{x:url({INERT_URL})}}q{{y:url( \"{PIXEL}\" )}}",
        f"p{{x:url({INERT_URL})}}{INERT_URL}q{{y:\\75 rl({PIXEL})}}/*{INERT_URL}*/",
        f"@font-face{{src:url('{GA}?a=\"&<>')}}",
    ],
)
def test_style_element_keeps_what_it_made_inert_to_be_put_back_in_place(blocking, css):
    tag, text = blocking.style_element(b"<style>", css.encode())
    kept = json.loads(html.unescape(StartTag(b"style", tag).attrs.get(b"data-consent-css")))
    assert text.decode() != css
    assert restored_css(text.decode(), kept) == css
    assert kept.count(None) == css.count(INERT_URL)  # the page's own, left as they were


def test_style_element_keeps_non_ascii_bytes(blocking):
    text = f"p::after{{content:'caf\xe9'}}q{{x:url({PIXEL})}}".encode("latin-1")
    _, out = blocking.style_element(b"<style>", text)
    assert out == b"p::after{content:'caf\xe9'}q{x:url(about:invalid)}"


def test_style_element_left_alone_with_consent_or_locally(policy, blocking):
    tag, text = b"<style>", f"p{{x:url({PIXEL})}}".encode()
    consented = Neutraliser(policy, ALL)
    assert consented.style_element(tag, text) == (tag, text)
    local = b"p{x:url(/a.png)}q{y:url(https://shop.example/b.png)}"
    out_tag, out_text = blocking.style_element(tag, local)
    assert out_tag is tag and out_text is local


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        (
            f"<div class=x style='background:url({PIXEL})'>",
            '<div {marks} class=x style="background:url(about:invalid)">',
        ),
        (
            f'<p style="background:&#117;rl({PIXEL}&amp;a=1)" id=y>',
            '<p {marks} style="background:url(about:invalid)" id=y>',
        ),
        (
            f"<span style=background:\\75rl({PIXEL})>",
            '<span {marks} style="background:\\75rl(about:invalid)">',
        ),
        (
            f"<b style='content:\"a&b\";background:url({PIXEL})' style=color:red>",
            '<b {marks} style="content:&quot;a&amp;b&quot;;background:url(about:invalid)" style=color:red>',
        ),
        (
            f"<i STYLE='background:image-set(\"{PIXEL}\" 1x)'>",
            '<i {marks} STYLE="background:image-set(&quot;about:invalid&quot; 1x)">',
        ),
    ],
)
def test_style_attribute_is_rewritten_double_quoted(blocking, tag, expected):
    name = tag[1:].split(" ")[0].encode()
    marks = (
        'data-consent-blocked="facebook-pixel" data-consent-blocked-category="advertising" '
        'data-consent-mark="M" data-consent-style="[&quot;{url}&quot;]"'
    )
    url = PIXEL.replace("&", "&amp;")
    out = blocking.start_tag(name, tag.encode())
    assert out.replace(b"&amp;a=1", b"") == expected.format(marks=marks).format(url=url).encode()


@pytest.mark.parametrize(
    "css",
    [
        f"background:url({PIXEL})",
        f"background:url({INERT_URL}), url( '{PIXEL}' ) ;mask:\75rl({GA})",
        f'content:"a&b<\'";background:image-set("{PIXEL}" 1x)',
        f"background:url({PIXEL}?caf\u00e9=中)",
    ],
)
def test_style_attribute_keeps_what_it_made_inert_to_be_put_back_in_place(blocking, css):
    tag = b'<div id=x style="%s">' % css.replace("&", "&amp;").replace('"', "&quot;").encode()
    out = StartTag(b"div", blocking.start_tag(b"div", tag)).attrs
    kept = json.loads(out.get(b"data-consent-style"))
    value = out.get(b"style")  # (the page's bytes, read as latin-1)
    assert value.encode("latin-1") != css.encode()
    assert restored_css(value, kept).encode("latin-1") == css.encode()
    assert kept.count(None) == css.count(INERT_URL)  # the page's own, left as they were


@pytest.mark.parametrize(
    "tag",
    [
        b"<div style='color:red'>",
        b"<div style='background:url(/a.png)'>",
        b"<div style>",
        b"<div class='url(https://www.facebook.com/tr)'>",
        b"<div style=''>",
        b"<div style='x:y' style='background:url(https://www.facebook.com/tr)'>",  # first wins
        b"<div style='background:ur/**/l(https://www.facebook.com/tr)'>",
    ],
)
def test_style_attribute_without_a_blocked_load_is_the_same_object(blocking, tag):
    assert blocking.style_attribute(StartTag(b"div", tag)) is tag
    assert blocking.blocked == []


def test_style_attribute_consented_is_the_same_object(policy):
    tag = f"<div style='background:url({PIXEL})'>".encode()
    assert Neutraliser(policy, ALL).style_attribute(StartTag(b"div", tag)) is tag


def test_style_attribute_of_a_tag_start_tag_neutralised_keeps_one_set_of_marks(blocking):
    tag = blocking.start_tag(b"img", f"<img src='{PIXEL}' style='background:url({GA})'>".encode())
    out = blocking.style_attribute(StartTag(b"img", tag))
    assert out.count(b"data-consent-blocked=") == 1
    assert out.endswith(b' style="background:url(about:invalid)">')
    assert blocking.blocked == [("facebook-pixel", "img"), ("google-analytics", "img")]


def test_style_texts_seen_again_reuse_their_url_spans(blocking, monkeypatch):
    monkeypatch.setattr(neutralise, "STYLE_URLS_BYTES", 3000)  # four of these texts
    for i in range(10):
        text = f"p{{x:url(/{i}.png)}}q{{y:url({PIXEL})}}".encode()
        first = blocking.style_element(b"<style>", text)
        assert blocking.style_element(b"<style>", text) == first
        assert len(blocking.policy.style_urls) <= 4
        assert blocking.policy.style_urls_bytes <= 3000
    assert len(blocking.blocked) == 20


def _held_bytes(spans: list[tuple[int, int, str]]) -> int:
    return sys.getsizeof(spans) + sum(sum(map(sys.getsizeof, (t, *t))) for t in spans)


def test_url_spans_are_kept_up_to_a_byte_bound_however_many_urls_a_text_has(blocking):
    """Unique pages of 20,000 url()s each in a <style>: the memo of where their URLs are
    holds at most STYLE_URLS_BYTES (by count of texts, it grew by ~4 MB a page)."""
    memo = blocking.policy.style_urls
    for i in range(6):
        text = "".join(f"a{i}-{j}{{background:url(/{j}.png)}}" for j in range(20_000))
        assert blocking.style_element(b"<style>", text.encode()) == (b"<style>", text.encode())
        held = sum(map(_held_bytes, memo.values()))
        assert held <= neutralise.STYLE_URLS_BYTES
        assert held <= blocking.policy.style_urls_bytes  # (what it counts is no less)
    assert 0 < len(memo) < 6  # (the big texts still remembered, a few at a time)


def test_a_style_text_that_loads_nothing_blocked_is_remembered_with_its_reports(policy):
    """Worked out once per consent choice: the next page gets the same answer and the same
    report of the unknown host; on another choice, or blocked, it is worked out again."""
    local = b"p{background:url(https://cdn.unknown.example/a.png)}"
    blocked = f"p{{background:url({PIXEL})}}".encode()
    for _ in range(2):
        n = Neutraliser(policy, NO_DECISION, mark="M")
        assert n.style_element(b"<style id=a>", local) == (b"<style id=a>", local)
        tag, text = n.style_element(b"<style id=a>", blocked)
        assert PIXEL.encode() not in text
        assert b'data-consent-blocked="facebook-pixel"' in tag
        assert n.unknown_hosts == {"cdn.unknown.example"}
        assert n.blocked == [("facebook-pixel", "style")]
    assert sum(key[2:3] == (b"<style id=a>",) for key in policy.tag_memo) == 1
    consented = Neutraliser(policy, ALL, mark="M")
    assert consented.style_element(b"<style id=a>", blocked) == (b"<style id=a>", blocked)
