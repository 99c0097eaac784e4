"""banner.open_selectors: the site's own "manage cookies" elements marked by the rewriter,
byte for byte otherwise, with both skip loops and any chunking."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentproxy.consent import NO_DECISION
from consentproxy.rewrite import selectors
from consentproxy.rewrite.neutralise import Neutraliser
from consentproxy.rewrite.scanner import SKIPS, HtmlRewriter
from consentproxy.rewrite.selectors import OpenMarker, SelectorError, parse_selectors
from tests.rewrite.test_scanner import c_skip, fresh_policy

OPEN = b' data-consent-action="open"'


@pytest.fixture(scope="module", params=["c", "python"])
def skip(request):
    return c_skip() if request.param == "c" else SKIPS["python"]


def marked(policy, page: bytes, *selectors: str, skip, chunk: int = 0) -> bytes:
    opener = OpenMarker(tuple(s for text in selectors for s in parse_selectors(text)))
    rw = HtmlRewriter(Neutraliser(policy, NO_DECISION), b"", False, skip=skip, opener=opener)
    size = chunk or len(page)
    out = [rw.feed(page[i : i + size]) for i in range(0, len(page), size)]
    return b"".join(out) + rw.close()


LEGACY = (
    b"<html><head><title>ot-sdk-show-settings</title></head><body>"
    b'<!-- <a class="ot-sdk-show-settings">in a comment</a> -->'
    b'<p class="intro">Text about ot-sdk-show-settings.</p>'
    b'<textarea><b class="ot-sdk-show-settings">typed</b></textarea>'
    b'<div><span>x</span><button class="btn ot-sdk-show-settings" type=button>'
    b"Cookie settings</button></div>"
    b"<script>var c = \"<a class='ot-sdk-show-settings'>\";</script>"
    b'<footer><a href="#" id="manage">Manage</a> <a href="#" id="manager">No</a>'
    b'<a href="/cookies" data-cookies=prefs>Prefs</a> <a data-cookies=other>x</a>'
    b"</footer></body></html>"
)


def test_onetrusts_settings_link_class_is_marked_and_nothing_else_changes(policy, skip):
    out = marked(policy, LEGACY, ".ot-sdk-show-settings", skip=skip)
    assert out.count(OPEN) == 1
    assert b"<button" + OPEN + b' class="btn ot-sdk-show-settings" type=button>' in out
    assert out.replace(OPEN, b"", 1) == LEGACY  # comment, title, textarea, script untouched


def test_id_and_attribute_value_selectors_mark_exactly_their_elements(policy, skip):
    out = marked(policy, LEGACY, "#manage", "a[data-cookies=prefs]", skip=skip)
    assert b"<a" + OPEN + b' href="#" id="manage">' in out
    assert b"<a" + OPEN + b' href="/cookies" data-cookies=prefs>' in out
    assert out.count(OPEN) == 2  # not #manager, not data-cookies=other


def test_a_tag_selector_and_a_list_in_one_entry(policy, skip):
    out = marked(policy, LEGACY, "footer, button[type]", skip=skip)
    assert b"<footer" + OPEN + b">" in out and b"<button" + OPEN in out
    assert out.count(OPEN) == 2


def test_an_element_with_its_own_consent_action_keeps_it(policy, skip):
    page = b'<a class="manage" data-consent-action="accept-all">x</a>'
    assert marked(policy, page, ".manage", skip=skip) == page


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(chunk=st.integers(1, 64))
def test_any_chunking_marks_the_same(policy, skip, chunk):
    whole = marked(policy, LEGACY, ".ot-sdk-show-settings", "#manage", skip=skip)
    assert (
        marked(policy, LEGACY, ".ot-sdk-show-settings", "#manage", skip=skip, chunk=chunk) == whole
    )


@pytest.mark.parametrize(
    "selector", ["footer a", "a > b", "a:hover", "a::before", "*", "[href^=x]", "a,", ""]
)
def test_selectors_a_start_tag_cannot_decide_are_refused(selector):
    with pytest.raises(SelectorError):
        parse_selectors(selector)


DECLARATION = b"<section>the declaration</section>"
POLICY_PAGE = (
    b'<html lang="fr"><body><h1>Cookies</h1>'
    b"<!-- <div data-consent-declaration></div> -->"
    b"<textarea data-consent-declaration>typed</textarea><br data-consent-declaration>"
    b'<div class="legal" DATA-Consent-Declaration>Loading...</div>'
    b'<p id="cookie-table"></p></body></html>'
)


def filled(policy, page: bytes, *selectors: str, skip, chunk: int = 0) -> bytes:
    opener = OpenMarker((), tuple(s for text in selectors for s in parse_selectors(text)))
    rw = HtmlRewriter(
        Neutraliser(policy, NO_DECISION),
        b"",
        False,
        skip=skip,
        opener=opener,
        declaration=DECLARATION,
    )
    size = chunk or len(page)
    out = [rw.feed(page[i : i + size]) for i in range(0, len(page), size)]
    return b"".join(out) + rw.close()


@pytest.mark.parametrize("chunk", [0, 1, 7])
def test_the_declaration_goes_first_in_each_marked_element_that_holds_content(policy, skip, chunk):
    out = filled(
        policy, POLICY_PAGE, "[data-consent-declaration]", "#cookie-table", skip=skip, chunk=chunk
    )
    assert out.count(DECLARATION) == 2  # not in the comment, the textarea or the <br>
    assert b"Declaration>" + DECLARATION + b"Loading..." in out
    assert b'<p id="cookie-table">' + DECLARATION + b"</p>" in out
    assert b"<!-- <div data-consent-declaration></div> -->" in out
    assert b">typed</textarea><br" in out


def test_no_declaration_selector_fills_nothing(policy, skip):
    assert filled(policy, POLICY_PAGE, "#elsewhere", skip=skip).count(DECLARATION) == 0


def test_a_declaration_selector_matching_inside_an_svg_fills_nothing_there(policy, skip):
    """The C loop steps over a whole inert <svg>: the opener must stop before it when its
    needle lies inside, so the foreign element is seen as such (no HTML content in it)."""
    page = (
        b'<p>x</p><svg viewBox="0 0 1 1"><g id="cookie-table"><path d="M0 0"/></g></svg>'
        b'<p id="cookie-table"></p>'
    )
    out = filled(policy, page, "#cookie-table", skip=skip)
    assert out == page.replace(b'<p id="cookie-table">', b'<p id="cookie-table">' + DECLARATION)


def test_a_needle_in_a_script_the_c_loop_stepped_over_is_script_data(policy, skip):
    page = b'<script src=/a.js>var x = "<a class=manage>";</script><a class=manage>x</a>'
    out = marked(policy, page, ".manage", skip=skip)
    assert out == page.replace(b"<a class=manage>x", b"<a" + OPEN + b" class=manage>x")


PIXEL = b'<img src="https://www.facebook.com/tr?id=1&ev=PageView" height=1 width=1>'
GTAG = b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
MARK = b'data-consent-mark="test-mark"'


@pytest.mark.parametrize(
    "page",
    [
        # a run that starts at the needle's tag (after the </body> stop), a tracker after it
        b"<p>x</p>" + PIXEL + b'</body><a class=prefs href="/c">c</a><p>z</p>' + PIXEL,
        # a tracker holding the needle: marked, then neutralised
        b"<p>x</p>" + PIXEL + b'<p>y</p><img class=prefs src="https://www.facebook.com/tr">',
        # a tracker script before the needle ("prefs" in no URL), a tracker after it
        b"<p>x</p>" + PIXEL + GTAG + b"<p>y</p><a class=prefs>c</a>" + PIXEL + b"<p>z</p>",
        # an <svg> before the needle, a tracker between them
        b"<p>x</p>"
        + PIXEL
        + b'<svg viewBox="0 0 1 1"><path d="M0 0"/></svg>'
        + PIXEL
        + b"<p>y</p><a class=prefs>c</a>"
        + PIXEL,
        # a tracker in a raw text element before the needle
        b"<p>x</p><iframe src=https://www.youtube.com/embed/x></iframe>"
        + PIXEL
        + b"<a class=prefs>c</a>"
        + PIXEL,
    ],
)
def test_remembered_tags_in_a_run_the_opener_cuts_short_come_out_once_each(config, skip, page):
    """The C loop writes out the remembered tags it steps over: where the opener ends the run
    before the end the loop reached (at the needle's tag, or a script before it), none that
    follows is written out by the loop, and each tracker comes out once, marked, reported."""
    opener = OpenMarker(parse_selectors(".prefs"))
    policy = fresh_policy(config)

    def run(skip, chunk):
        rw = HtmlRewriter(
            Neutraliser(policy, NO_DECISION, "test-mark"), b"", False, skip=skip, opener=opener
        )
        out = [rw.feed(page[i : i + chunk]) for i in range(0, len(page), chunk)]
        return b"".join(out) + rw.close(), rw.neutraliser.blocked

    expected, blocked = run(SKIPS["python"], len(page))  # (the memo knows the tags now)
    trackers = page.count(b"www.facebook.com") + page.count(b"google") + page.count(b"youtube")
    assert expected.count(MARK) == len(blocked) == trackers
    assert expected.count(OPEN) == 1
    for chunk in (len(page), 16, 7):
        assert run(skip, chunk) == (expected, blocked)


NEEDLE_TOKENS = [b"ot-sdk", b"OT-SDK", b"-show", b"Show", b"manage", b"MaNaGe", b"<a", b"<A", b"x"]
SELECTOR_OF = {
    b"ot-sdk-show": ".ot-sdk-show",
    b"manage": ".manage",
    b"<a": "a",
    b"x": "#x",
    "été".encode(): ".été",
}


@settings(max_examples=500, deadline=None)
@given(
    buf=st.lists(st.sampled_from(NEEDLE_TOKENS) | st.binary(max_size=6), max_size=20).map(b"".join),
    needles=st.lists(st.sampled_from(sorted(SELECTOR_OF)), min_size=1, max_size=3),
    pos=st.integers(0, 80),
    end=st.integers(0, 80),
)
def test_the_case_blind_search_finds_what_the_lower_cased_page_shows(buf, needles, pos, end):
    """find (the C loop's find_ci: a filter of each needle's two rarest bytes, no copy) and the
    regex of the build without a compiler both give buf.lower().find's first needle."""
    assert selectors.find_ci is not None, "the C scanner is not built: run `make install`"
    opener = OpenMarker(parse_selectors(", ".join(SELECTOR_OF[n] for n in needles)))
    assert set(opener.needles) == set(needles)
    lowered = buf.lower()
    hits = [i for n in opener.needles if (i := lowered.find(n, pos, end)) != -1]
    expected = min(hits) if hits else -1
    assert opener.find(buf, pos, end) == expected
    assert opener.regex_find(buf, pos, end) == expected


# Needle bytes: letters, and bytes the case bit cannot fold ('@' and '`', '[' and '{', UTF-8's
# é: a filter that folds them too misses matches), digits and punctuation of class names.
NEEDLE_BYTES = b"abkqz-_.09@`[{ \xc3\xa9"


@st.composite
def case_blind_haystacks(draw):
    """1-3 lowercase needles of 1-20 bytes, and a buffer of up to ~600 bytes made of them in
    any case, their prefixes (partial matches that overlap the next piece), their bytes, and
    runs of filler long enough for the 16- and 64-start steps; pos and end anywhere, or
    around a match."""
    needles = draw(
        st.lists(st.binary(min_size=1, max_size=20), min_size=1, max_size=3).map(
            lambda ns: tuple(
                bytes(NEEDLE_BYTES[b % len(NEEDLE_BYTES)] for b in n).lower() for n in ns
            )
        )
    )
    whole = st.sampled_from(needles)
    prefix = whole.flatmap(lambda n: st.integers(1, len(n)).map(lambda k: n[:k]))
    filler = st.tuples(st.sampled_from(b"xK-@a \xc3<"), st.integers(1, 90)).map(
        lambda t: bytes([t[0]]) * t[1]
    )
    pieces = st.lists(whole | prefix | filler | st.binary(max_size=8), max_size=24)
    flips = st.randoms(use_true_random=False)
    buf = draw(pieces.map(b"".join))
    rnd = draw(flips)
    buf = bytes(c ^ 0x20 if 0x41 <= (c & ~0x20) <= 0x5A and rnd.random() < 0.5 else c for c in buf)
    pos = draw(st.integers(0, len(buf) + 2))
    end = draw(st.integers(max(0, pos - 2), len(buf) + 20) | st.just(len(buf)))
    lowered = buf.lower()
    found = [(i, len(n)) for n in needles if (i := lowered.find(n)) != -1]
    if found and draw(st.booleans()):
        # a match that ends at end, or one byte past it, as the last start of a 16- or
        # 64-start step
        at, size = draw(st.sampled_from(found))
        end = at + size - draw(st.integers(0, 1))
        step = draw(st.sampled_from([16, 64]))
        pos = max(0, at - (step - 1) - step * draw(st.integers(0, 3)))
    return buf, needles, pos, end


@settings(max_examples=1500, deadline=None)
@given(case=case_blind_haystacks())
def test_find_ci_gives_the_first_needle_in_the_lower_cased_buffer_at_every_length(case):
    """find_ci's SIMD filter (two bytes of each needle compared for 16 and 64 starts at once,
    the letters with the case bit set) and its memchr tail give buf.lower().find's first
    needle: needles of 1 to 20 bytes, in any case, near the end of the range, after partial
    matches, and bytes the case bit does not fold."""
    buf, needles, pos, end = case
    lowered = buf.lower()
    hits = [i for n in needles if (i := lowered.find(n, pos, end)) != -1]
    assert selectors.find_ci is not None, "the C scanner is not built: run `make install`"
    assert selectors.find_ci(buf, needles, pos, end) == (min(hits) if hits else -1)
