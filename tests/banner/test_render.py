import gzip
import re
import xml.dom.minidom
from dataclasses import replace
from html import unescape
from itertools import zip_longest

import pytest

from consentproxy.banner.render import KNOWN_LISTED, Banner, filled, minify_js, slots, template
from consentproxy.banner.texts import LANGUAGES, TEXTS
from consentproxy.catalog.knowledge import builtin_trackers
from consentproxy.config import BannerSettings, parse_config
from consentproxy.consent import NO_DECISION, ConsentState
from consentproxy.engine import Engine, Request
from consentproxy.policy import MAX_SEEN, Policy

DECIDED = ConsentState(True, frozenset({"analytics"}), frozenset({"youtube"}))


@pytest.fixture(scope="module")
def banner(config):
    return Banner(config, Policy(config))


def test_markup_is_well_formed_xml_so_xhtml_pages_survive(banner):
    for state in (NO_DECISION, DECIDED):
        markup = banner.render(state, "fr", "/a?b=1&c=<2>", "n0nce")
        xml.dom.minidom.parseString(
            b'<body xmlns="http://www.w3.org/1999/xhtml">' + markup + b"</body>"
        )
    xml.dom.minidom.parseString(banner.script_tag(DECIDED, "n0nce"))


def test_nothing_optional_is_pre_ticked_and_necessary_is_locked(banner):
    markup = banner.render(NO_DECISION, "en", "/").decode()
    ticked = re.findall(r'<input [^>]*checked="checked"[^>]*>', markup)
    assert ticked and all('disabled="disabled"' in t for t in ticked)
    assert all(
        'value="necessary"' in t or 'data-consent-service-category="necessary"' in t for t in ticked
    )


def test_a_choice_ticks_its_categories_and_services(banner):
    markup = banner.render(DECIDED, "en", "/").decode()
    assert re.search(r'data-consent-category="analytics" checked="checked"', markup)
    assert re.search(
        r'data-consent-service="youtube" data-consent-service-category="social"'
        r' checked="checked"',
        markup,
    )
    assert not re.search(r'data-consent-category="social" checked', markup)


def test_undecided_banner_is_open_and_closing_it_refuses(banner):
    markup = banner.render(NO_DECISION, "en", "/").decode()
    assert '<dialog class="cp-banner cp-bar" aria-labelledby="cp-title" ' in markup
    assert 'open=""' in markup.split("<form")[0]
    assert re.search(
        r'value="reject-all" formaction="/\.consent/choice\?via=close" '
        r'class="cp-close" data-consent-action="close"',
        markup,
    )
    decided = banner.render(DECIDED, "en", "/").decode()
    assert 'open=""' not in decided.split("<form")[0]
    assert 'type="button" class="cp-close"' in decided


def test_too_many_consent_cookies_ask_again_never_saying_the_policy_changed(banner):
    """UNREAD (more than 8 consent cookies: none read) asks again, and said "Our cookie
    policy has changed since your last choice": false for a visitor sent planted cookies.
    Only a choice made on an older policy (it has a date) says so."""
    from consentproxy.consent import UNREAD

    older = ConsentState(True, decided_at=1_700_000_000, reask=True)
    assert older.choice == UNREAD.choice  # (the same banner but for the note)
    for state, noted in ((older, True), (UNREAD, False), (older, True)):
        markup = banner.render(state, "en", "/").decode()
        assert ('id="cp-reask"' in markup) is noted and 'open=""' in markup.split("<form")[0]


def test_per_request_values_are_escaped_and_the_nonce_is_spliced(banner):
    markup = banner.render(NO_DECISION, "en", '/p?q="><script>', "abc").decode()
    assert "<script>" not in markup and 'value="/p?q=&quot;&gt;&lt;script&gt;"' in markup
    assert '<style nonce="abc">' in markup
    assert "<style>" in banner.render(NO_DECISION, "en", "/").decode()


def test_a_template_of_pieces_fills_their_slots_as_filled_does_percent_signs_and_all(banner):
    values = slots("/100%?a=%s&b=%(x)s<", "n%nce", "0123abcd")
    for pieces in (banner.pieces(NO_DECISION, "en"), banner.script_pieces(DECIDED, "ex.com")):
        assert template(pieces) % values == b"".join(filled(pieces, values))
    pieces = [b"width:100%;%s%(x)s", b"\x00mark\x00", b"%%", b"\x00return\x00", b""]
    assert template(pieces) % values == b"width:100%;%s%(x)s0123abcd%%/100%?a=%s&amp;b=%(x)s&lt;"


def test_texts_follow_the_language_and_the_operator_overrides(config):
    custom = replace(
        config,
        banner=BannerSettings(
            texts={"fr": {"accept-all": "J'accepte"}}, privacy_url="/confidentialite"
        ),
    )
    markup = Banner(custom, Policy(custom)).render(NO_DECISION, "fr", "/").decode()
    assert "J&#x27;accepte" in markup and "Tout refuser" in markup
    assert 'href="/confidentialite">Politique de confidentialit&#233;</a>' in markup


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_first_layer_names_every_purpose_asked_for(config, lang):
    """Before any choice the visitor reads what each optional category is for (CNIL's
    recommendation, EDPB 05/2020): the built-in body names none itself, the config's
    categories are listed after it, by their titles."""
    from consentproxy.settings import translated

    body = re.search(
        r'<p id="cp-body">(.*?)</p>',
        Banner(config, Policy(config)).render(NO_DECISION, lang, "/").decode(),
    )
    assert body
    titles = [translated(c.title, lang) for c in config.categories if not c.required]
    assert len(titles) >= 3 and all(unescape(t) in unescape(body[1]) for t in titles)


def test_services_show_what_the_config_and_catalog_say(config):
    custom = parse_config("""
upstream: http://127.0.0.1:9
categories: {necessary: {required: true}, social: {title: Social}}
services:
  - use: youtube
    purpose: Shows our videos.
    retention: 6 months
""")
    markup = Banner(custom, Policy(custom)).render(NO_DECISION, "en", "/").decode()
    assert "YouTube" in markup and "Provider: Google" in markup
    assert "Shows our videos." in markup and "Kept for: 6 months" in markup
    assert "Cookies: " in markup


def test_theme_colours_and_custom_css_go_into_the_shadow_style(tmp_path):
    (tmp_path / "extra.css").write_text(".cp-logo { max-height: 60px; }")
    (tmp_path / "c.yaml").write_text("""
upstream: http://127.0.0.1:9
categories: {necessary: {required: true}, social: {title: Social}}
banner:
  position: box
  colors: {accent: "#7a1f00"}
  logo: /img/logo.png
  css: extra.css
""")
    from consentproxy.config import load_config

    cfg = load_config(tmp_path / "c.yaml")
    markup = Banner(cfg, Policy(cfg)).render(NO_DECISION, "en", "/").decode()
    assert "--cp-accent:#7a1f00;" in markup and ".cp-logo{max-height: 60px;}" in markup
    assert 'class="cp-banner cp-box"' in markup and 'src="/img/logo.png"' in markup


def test_script_version_changes_with_the_tables(config):
    a = Banner(config, Policy(config))
    fewer = replace(config, services=config.services[:2])
    b = Banner(fewer, Policy(fewer))
    assert a.version != b.version and a.script != b.script


def test_preferences_page_opens_the_preferences(banner):
    page = banner.preferences_page(DECIDED, "en", "/shop").decode()
    assert page.startswith("<!DOCTYPE html>") and 'class="cp-banner cp-box"' in page
    assert '<details class="cp-details" open="">' in page
    assert 'name="return" value="/shop"' in page


OPTIONAL = frozenset({"analytics", "advertising", "social"})
REGIME = ConsentState(categories=OPTIONAL, opt_out=True)  # an opt-out region, no choice yet
DNS = 'data-consent-action="do-not-sell"'


def test_an_opt_out_region_asks_nothing_and_offers_the_do_not_sell_control(banner):
    markup = banner.render(REGIME, "en", "/here").decode()
    assert 'open=""' not in markup.split("<form")[0]
    assert (
        '<form method="post" action="/.consent/choice?via=do-not-sell"><input '
        'type="hidden" name="return" value="/here"/>'
    ) in markup
    assert (
        '<button type="submit" name="action" value="reject-all" class="cp-manage cp-dns" '
        'data-consent-action="do-not-sell">Do Not Sell or Share My Personal Information'
        "</button>"
    ) in markup
    assert 'id="cp-opt-out"' in markup and "Manage cookies</a>" in markup
    # The version shown, for the record of the opt-out (recorded as unknown without it)
    dns_form = markup.split("via=do-not-sell")[1].split("</form>")[0]
    assert f'<input type="hidden" name="shown" value="{banner.shown}"/>' in dns_form
    # Closing the preferences changes nothing: the regime is no refusal to confirm.
    assert re.search(r'<button type="button" class="cp-close"', markup)
    assert all(f'data-consent-category="{c}" checked="checked"' in markup for c in OPTIONAL)
    xml.dom.minidom.parseString(
        b'<body xmlns="http://www.w3.org/1999/xhtml">' + markup.encode() + b"</body>"
    )


def test_once_opted_out_or_decided_the_opt_out_note_and_control_go(banner):
    opted_out = banner.render(
        replace(REGIME, decided=True, categories=frozenset()), "en", "/"
    ).decode()
    assert DNS not in opted_out and 'id="cp-opt-out"' not in opted_out
    kept = banner.render(
        replace(REGIME, decided=True, categories=frozenset({"analytics"})), "en", "/"
    ).decode()
    assert DNS in kept and 'id="cp-opt-out"' not in kept


def test_the_privacy_signal_in_an_opt_out_region_refused_every_optional_category(banner):
    markup = banner.render(replace(REGIME, categories=frozenset(), gpc=True), "en", "/").decode()
    assert DNS not in markup and 'id="cp-opt-out"' not in markup
    note = re.search(r'<p class="cp-note" id="cp-gpc">([^<]*)</p>', markup)
    assert note and all(
        c in note.group(1) for c in ("Audience measurement", "Advertising", "Social networks")
    )


def test_a_brace_in_the_privacy_signal_s_text_is_only_text(config):
    """(str.format read it: a stray '{' in the operator's text made every page a 500, the
    note shown or not)"""
    texts = {"en": {"gpc": "GPC on: {categories} off {"}}
    custom = Banner(replace(config, banner=replace(config.banner, texts=texts)), Policy(config))
    assert 'id="cp-gpc"' not in custom.render(NO_DECISION, "en", "/").decode()
    markup = custom.render(replace(REGIME, categories=frozenset(), gpc=True), "en", "/").decode()
    assert re.search(r'id="cp-gpc">GPC on: [^{<]*Advertising[^{<]* off {</p>', markup)


@pytest.mark.parametrize("lang", ["en", "fr", "de", "es", "it", "nl", "pt", "pl"])
def test_the_do_not_sell_control_speaks_every_language(banner, lang):
    from consentproxy.banner.texts import TEXTS

    markup = banner.render(REGIME, lang, "/").decode()
    dns = re.search(r'data-consent-action="do-not-sell">([^<]*)</button>', markup)
    assert dns and dns.group(1) == xml_text(TEXTS[lang]["do-not-sell"])
    assert xml_text(TEXTS[lang]["opt-out"]) in markup


def xml_text(text: str) -> str:
    from html import escape

    return escape(text).encode("ascii", "xmlcharrefreplace").decode()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_page_naming_hundreds_of_known_trackers_lists_ten_per_category_and_counts_all(
    config, lang
):
    """The trackers met on the site are listed on every later page, for every visitor: a page
    naming 600 grew the banner from 4.4 to 10.5 KB gzipped. Each category names its first
    KNOWN_LISTED, counts them all and says how many more ("+ N")."""
    engine = Engine(config, [b"k" * 32])
    by_category = [
        [e for e in builtin_trackers() if e.category == c]
        for c in ("analytics", "advertising", "social", "functional")
    ]  # taken in turn: every category's list grows
    trackers = [e for row in zip_longest(*by_category) for e in row if e][:600]
    tags = b"".join(f'<img src="https://{e.domains[0]}/p.gif">'.encode() for e in trackers)
    ex = engine.begin(Request("GET", "/", [("Host", "news.example")]))
    plan = ex.response(200, [("Content-Type", "text/html")])
    assert plan.body is not None
    plan.body.feed(b"<html><body>" + tags + b"</body></html>")
    plan.body.close()
    seen = engine.policy.seen.values()
    assert len(seen) == MAX_SEEN
    banner = Banner(config, engine.policy)
    markup = banner.render(NO_DECISION, lang, "/") + banner.script_tag(NO_DECISION)
    assert len(gzip.compress(markup, 9)) < 6 * 1024
    text, listed = markup.decode(), 0
    for cat in config.categories:
        known = [s for s in seen if s.category == cat.name]
        services = [s for s in config.services if s.category == cat.name]
        part = text.split(f'data-consent-category="{cat.name}"')[1].split('class="cp-category"')[0]
        names = [unescape(n) for n in re.findall(r'<li class="cp-known">([^<]*)', part)]
        assert names == [s.display_title(lang) for s in known[:KNOWN_LISTED]]
        if known:
            assert f"({len(services) + len(known)})</summary>" in part
        if len(known) > KNOWN_LISTED:
            assert f'<li class="cp-more">+ {len(known) - KNOWN_LISTED}</li></ul>' in part
        else:
            assert "cp-more" not in part
        listed += len(known)
    assert listed > 300 and text.count('class="cp-more"') == 3  # (the rest: no category here)


def test_the_minifier_is_the_installed_one_whatever_the_current_directory(tmp_path, monkeypatch):
    """The child interpreter that minifies consent.js took a minify.py in the directory
    serve was started from: its output went to every visitor."""
    (tmp_path / "minify.py").write_text(
        "def config(_): pass\ndef string(_, code): return '/*not minified*/' + code\n"
    )
    monkeypatch.chdir(tmp_path)
    assert minify_js(b"var answer = 42 ;\n") == b"var answer=42"


def test_the_guards_tables_carry_each_services_globals_by_its_index():
    """guard.js makes its stand-ins from `globals`: each form -> the indexes into `services`
    (name, category) of the services that define it, which it holds or lets go by."""
    from consentproxy.banner.render import client_config

    config = parse_config(
        "upstream: http://127.0.0.1:8080\ncategories:\n  necessary: {required: true}\n"
        "  analytics: {}\n  advertising: {}\nservices:\n  - use: google-analytics\n"
        "  - use: facebook-pixel\n  - {use: google-ads, globals: [legacyAds()]}\n"
        "  - name: counter\n    category: analytics\n    hosts: [count.example.net]\n"
        "  - use: google-tag-manager\n"
    )
    tables = client_config(Policy(config))
    names = [s[0] for s in tables["services"]]  # type: ignore[index, union-attr]
    assert {
        form: [names[i] for i in at]
        for form, at in tables["globals"].items()  # type: ignore[attr-defined]
    } == {
        "ga()": ["google-analytics"],
        "gtag()": ["google-analytics"],
        "_gaq[]": ["google-analytics"],
        "dataLayer[]": ["google-analytics", "google-tag-manager"],
        "fbq()": ["facebook-pixel"],
        "googletag.cmd[]": ["google-ads"],
        "legacyAds()": ["google-ads"],
    }
    banner = Banner(config, Policy(config))
    assert b'"globals":{"_gaq[]":[0],"dataLayer[]":[0,4],' in banner.script


def test_a_language_is_escaped_in_the_attributes_it_is_written_into():
    """The config refuses such a language (config.py); the markup escapes it anyway, as it
    escapes every other text it writes (helper-130)."""
    cfg = parse_config("upstream: http://x.test\ncategories: {necessary: {required: true}, a: {}}")
    bad = 'x"><svg onload=alert(1)>'
    texts = {**cfg.banner.texts, bad: TEXTS["en"]}
    cfg = replace(cfg, languages=("en", bad), banner=replace(cfg.banner, texts=texts))
    rendered = Banner(cfg, Policy(cfg))
    for markup in (
        rendered.render(NO_DECISION, bad, "/"),
        rendered.preferences_page(NO_DECISION, bad, "/"),
    ):
        assert b"<svg" not in markup and b'"x&quot;&gt;&lt;svg onload=alert(1)&gt;"' in markup
