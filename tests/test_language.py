"""The banner speaks the page's language: <html lang>, the path, the site's cookie, then the
browser's, in the order the config gives."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from consentproxy import language
from consentproxy.banner.render import MARK_HEADER
from consentproxy.config import ConfigError, load_config, parse_config
from consentproxy.engine import Engine, Request
from consentproxy.language import (
    KNOWN_STARTS,
    PageLanguage,
    direction,
    pick_language,
    request_language,
)
from tests.conftest import ROOT

LANGS = ("en", "fr", "de")
ORDER = ("html-lang", "path", "cookie", "accept-language")
HTML = [("Content-Type", "text/html; charset=utf-8")]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ("sv-SE,en;q=0.5", "en"),
        ("", None),
        ("en;q=0.1, fr;q=0.9", "fr"),
        ("garbage;q=x", None),
        ("pt_BR", None),
        ("DE-at", "de"),
        ("fr;q=0, de;q=0.5", "de"),  # (q=0: "not acceptable", it was chosen: helper-109)
        ("fr;q=0", None),
        ("fr;q=nan, de", "de"),
        ("fr;q=inf, de;q=0.1", "de"),
        # RFC 9110 12.4.2's qvalue only, its q in any case and among other parameters
        # (float() put q=1.5, 2, 1_0 or 0.5e1 above q=1; Q= and a q after level= were
        # missed: helper-130)
        ("de, fr;q=1.5", "de"),
        ("de, fr;q=2", "de"),
        ("de, fr;q=1_0", "de"),
        ("de, fr;q=0.5e1", "de"),
        ("de;q=0.5, fr;q=1.0001", "de"),
        ("de;q=0.5, fr;Q=0.1", "de"),
        ("fr;level=1;q=0.1, de;q=0.5", "de"),
        ("fr;level=1;q=0.1", "fr"),
        ("de;q=0.5, fr ; Q=1.000", "fr"),
        ("de;q=0.5, fr;q=abc", "de"),
        (", ,;q=1, de", "de"),  # (empty entries skipped)
    ],
)
def test_accept_language_gives_the_first_offered_by_quality(header, expected):
    assert pick_language(header, LANGS) == expected


def test_only_the_first_32_language_ranges_are_read_and_remembered():
    """An 8 KiB header of ~4,000 entries cost ~1.4 ms a request, and the cache kept whole
    headers (up to 64 KiB each) as keys (helper-130)."""
    filler = ", ".join(["sv"] * 31)
    assert pick_language(f"{filler}, ,, de", LANGS) == "de"  # (empty ones do not count)
    assert pick_language(f"{filler}, sv, de", LANGS) is None
    # (nor do ranges with no tag: ';q=1' was read as a range 'q=1' and counted)
    assert pick_language(f"{filler}, ;q=1, ; Q=0.5,\t;level=1, de", LANGS) == "de"
    # (of its first 2 KiB, whole ranges only: fr;q=0.1 is not read as fr;q)
    assert pick_language(f"{'x' * 2030}, de;q=0.5, fr;q=0.1", LANGS) == "de"
    assert pick_language(f"{'x' * 2040}, de;q=0.5, fr;q=0.1", LANGS) is None
    huge = ",".join(["xx"] * 30_000) + ",de"
    language._ranked_pick.cache_clear()
    assert pick_language(huge, LANGS) is None
    assert pick_language(huge + "x", LANGS) is None
    info = language._ranked_pick.cache_info()
    assert (info.hits, info.misses) == (1, 1)  # (one key: the 32 ranges read)


def ask(order=ORDER, target="/", **headers: str) -> tuple[str | None, str]:
    req = Request("GET", target, [(k.replace("_", "-"), v) for k, v in headers.items()])
    return request_language(order, LANGS, target, req.cookies, req.accept_language, "lang")


def test_the_page_decides_first_and_the_request_is_its_fallback():
    assert ask(target="/de/produkte", Accept_Language="fr") == (None, "de")
    assert ask(Cookie="a=1; lang=fr_FR", Accept_Language="de") == (None, "fr")
    assert ask(Accept_Language="de-CH") == (None, "de")
    assert ask(target="/sv/", Cookie="lang=xx", Accept_Language="sv") == (None, "en")


def test_a_quoted_language_cookie_is_read():
    """RFC 6265's cookie-value may be quoted: lang="fr" was no language (helper-130)."""
    assert ask(Cookie='a=1; lang="fr"', Accept_Language="de") == (None, "fr")
    assert ask(Cookie='lang="', Accept_Language="de") == (None, "de")


def test_sources_before_the_page_decide_without_it():
    order = ("path", "html-lang", "accept-language")
    assert ask(order, "/fr/", Accept_Language="de") == ("fr", "fr")
    assert ask(order, "/shop/", Accept_Language="de") == (None, "de")
    assert ask(("cookie", "accept-language"), "/", Cookie="lang=de", Accept_Language="fr") == (
        "de",
        "de",
    )
    assert ask(("accept-language",), "/de/", Accept_Language="it") == ("en", "en")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/fr/x?lang=de#de", "fr"),
        ("/de?x=/fr/", "de"),
        ("/it#/fr/", "it"),
        ("//fr/de/x", "de"),  # read as urlsplit reads it: a host, then the path
        ("/f\tr/x", "fr"),  # a tab in the target is dropped, as urlsplit drops it
        ("/?fr", None),
        ("//[::1/fr/", None),  # a host urlsplit refuses: no path read (a 500 before)
    ],
)
def test_the_path_source_reads_the_first_segment_of_the_targets_path(target, expected):
    languages = ("en", "fr", "de", "it")
    assert request_language(("path",), languages, target, (), None, "lang")[0] == (expected or "en")


def sniffed(sniffer: PageLanguage, page: bytes, size: int) -> tuple[str | None, bytes]:
    """(the language read from the page in chunks of size, None if undecided at its end;
    the bytes last kept) as the engine's BodyTransform reads them."""
    head = b""
    for i in range(0, len(page), size):
        head, lang = sniffer.read(head, page[i : i + size])
        if lang is not None:
            return lang, head
    return None, head


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (b'<!DOCTYPE html>\n<!-- a comment <html lang="fr"> -->\n<html lang="de-AT"><head>', "de"),
        (
            (
                b"\xef\xbb\xbf<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml' "
                b"xml:lang='fr' lang='fr'>"
            ),
            "fr",
        ),
        (b"<HTML LANG=fr class=x><body>", "fr"),
        (b'<html data-lang="fr" lang="de">', "de"),
        # attributes read as the tokenizer reads them: lang in another one's value, a '>'
        # in a quoted value (helper-130)
        (b'<html data-x=" lang=de" lang="fr">', "fr"),
        (b"<html title='a>b' lang=\"fr\"><body>", "fr"),
        (b'<html title="a>b lang=de" lang=fr>', "fr"),
        (b"<html lang=&#102;r>", "fr"),
        # in HTML xml:lang means nothing: lang wins
        (b'<html xml:lang="de" lang="fr">', "fr"),
        (b'<html xml:lang="de">', "en"),
        (b'<html lang="sv"><body>', "en"),  # not offered: the fallback
        (b"<!doctype html><head><title>x", "en"),  # no <html> at all
        (b"<html><body>", "en"),  # no lang on it
    ],
)
def test_html_lang_is_read_from_the_first_bytes_in_any_chunking(page, expected):
    for size in (1, 3, len(page)):
        found, _ = sniffed(PageLanguage(LANGS), page, size)
        assert (found or "en") == expected


def test_in_an_xml_page_xml_lang_wins_over_lang():
    """(In HTML it means nothing: there lang wins, and the two readings are kept apart.)"""
    sniffer = PageLanguage(LANGS)
    page = b'<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="de" lang="fr">'
    assert sniffer.read(b"", page, xml=True)[1] == "de"
    assert sniffer.read(b"", page)[1] == "fr"
    assert sniffer.read(b"", page, xml=True)[1] == "de"


def test_pages_that_start_alike_are_read_once_and_the_rest_each_time():
    sniffer = PageLanguage(LANGS)
    start = b'<!DOCTYPE html>\n<html lang="fr">'
    for tail in (b"<head><title>a", b"<body>b"):
        assert sniffer.read(b"", start + tail)[1] == "fr"
    assert list(sniffer.known) == [(False, start)]
    # The first "<html" in a comment: the bytes up to its '>' say nothing of the page's own.
    for lang in ("de", "fr", "de"):
        page = b"<!--<html>--><html lang=" + lang.encode() + b"><body>"
        assert sniffer.read(b"", page)[1] == lang
    assert list(sniffer.known) == [(False, start)]
    for i in range(40):  # bounded
        sniffer.read(b"", b"<html lang=fr id=p%d>" % i)
    assert 0 < len(sniffer.known) <= KNOWN_STARTS


def test_a_page_without_html_tag_in_its_first_4_kib_gets_the_fallback_at_once():
    sniffer = PageLanguage(LANGS)
    assert sniffer.read(b"", b"<!-- " + b"x" * 5000)[1] == ""  # (the request's)


@pytest.mark.parametrize("size", [4000, 1 << 16])
def test_an_html_tag_past_the_first_4_kib_is_not_read_in_any_chunking(size):
    page = b"<!-- " + b"x" * 4080 + b' --><html lang="de"><body>' + b"y" * 70000
    found, head = sniffed(PageLanguage(LANGS), page, size)
    assert found == ""
    assert head == page[: len(head)]  # (only the start is kept)


def test_language_sources_are_checked_in_the_config():
    c = parse_config(
        "upstream: http://127.0.0.1:9\ncategories: {necessary: {required: true}, "
        "a: {}}\nlanguage_from: [path, accept-language]\nlanguage_cookie: site_lang\n"
    )
    assert c.language_from == ("path", "accept-language") and c.language_cookie == "site_lang"
    with pytest.raises(ConfigError, match="html-lang, path, cookie, accept-language"):
        parse_config(
            "upstream: http://127.0.0.1:9\ncategories: {necessary: {required: true}, "
            "a: {}}\nlanguage_from: [path, geoip]\n"
        )


# --- through the engine: seed 000's bilingual site ------------------------------------------


@pytest.fixture(scope="module")
def ampere() -> Engine:
    """Seed 000: a French site with English pages under /en/ (languages: fr, en)."""
    config = load_config(ROOT / "config" / "ampere.yaml")
    return Engine(config, [b"k" * 32], clock=lambda: 1_800_000_000.0)


def banner_lang(
    engine: Engine, target: str, page: bytes, chunk: int = 7, types=HTML, **headers: str
) -> str:
    pairs = [("Host", "www.example.com"), ("Sec-Fetch-Dest", "document")]
    pairs += [(k.replace("_", "-"), v) for k, v in headers.items()]
    plan = engine.begin(Request("GET", target, pairs)).response(200, types)
    assert plan.body is not None
    out = b"".join(plan.body.feed(page[i : i + chunk]) for i in range(0, len(page), chunk))
    out += plan.body.close()
    m = re.search(rb'<div id="consentproxy"[^>]*lang="(\w+)"', out)
    assert m is not None and out.count(b'id="consentproxy"') == 1
    # the banner, whichever language chose it, carries this response's mark (banner.js
    # ignores a root without it)
    mark = dict(plan.headers)[MARK_HEADER]
    assert f'<div id="consentproxy" data-consent-mark="{mark}"'.encode() in out
    return m.group(1).decode()


def test_seed_000_english_pages_get_an_english_banner_in_a_french_browser(ampere):
    page = b'<!DOCTYPE html><html lang="en"><head></head><body><p>Cars</p></body></html>'
    assert banner_lang(ampere, "/en/models", page, Accept_Language="fr-FR,fr") == "en"
    french = page.replace(b'lang="en"', b'lang="fr"')
    assert banner_lang(ampere, "/fr/modeles", french, Accept_Language="en-GB,en") == "fr"


def test_a_page_without_lang_is_read_from_its_path_then_cookie_then_browser(ampere):
    page = b"<!DOCTYPE html><html><body><p>Cars</p></body></html>"
    assert banner_lang(ampere, "/en/models", page, Accept_Language="fr") == "en"
    assert banner_lang(ampere, "/models", page, Cookie="lang=en", Accept_Language="fr") == "en"
    assert banner_lang(ampere, "/models", page, Accept_Language="en-US") == "en"
    assert banner_lang(ampere, "/models", page, Accept_Language="de") == "fr"  # the first


def test_the_banner_is_rendered_once_in_the_pages_language_whatever_the_chunks(ampere):
    page = (
        b"<!DOCTYPE html>"
        + b"<!-- pad -->" * 50
        + b'<html lang="en"><body>'
        + b"<p>x</p>" * 2000
        + b"</body></html>"
    )
    for chunk in (1, 100, len(page)):
        assert banner_lang(ampere, "/", page, chunk, Accept_Language="fr") == "en"


def test_pages_of_one_kind_read_their_own_lang_while_streamed_side_by_side(ampere):
    """The sniffer is the page plan's, shared by every page of its kind: what each response
    has read so far is its own."""
    pairs = [("Host", "www.example.com"), ("Sec-Fetch-Dest", "document")]
    pages = {
        lang: b"<!DOCTYPE html>"
        + b"<!-- pad -->" * 20
        + f'<html lang="{lang}">'.encode()
        + b"<body><p>x</p></body></html>"
        for lang in ("en", "fr")
    }
    plans = {lang: ampere.begin(Request("GET", "/", pairs)).response(200, HTML) for lang in pages}
    outs = dict.fromkeys(pages, b"")
    for i in range(0, max(map(len, pages.values())), 5):  # chunk by chunk, in turn
        for lang, page in pages.items():
            body = plans[lang].body
            assert body is not None
            outs[lang] += body.feed(page[i : i + 5])
    for lang, plan in plans.items():
        assert plan.body is not None
        out = outs[lang] + plan.body.close()
        m = re.search(rb'<div id="consentproxy"[^>]*lang="(\w+)"', out)
        assert m is not None and m.group(1).decode() == lang


def test_an_xhtml_page_is_read_by_its_xml_lang_and_an_html_page_by_its_lang(ampere):
    page = b'<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="fr"><body></body>'
    page += b"</html>"
    xhtml = [("Content-Type", "application/xhtml+xml")]
    assert banner_lang(ampere, "/", page, types=xhtml) == "en"
    assert banner_lang(ampere, "/", page) == "fr"


def test_the_config_order_can_put_the_path_before_the_page(ampere):
    engine = Engine(replace(ampere.config, language_from=("path", "html-lang")), [b"k" * 32])
    page = b'<html lang="fr"><body>x</body></html>'
    assert banner_lang(engine, "/en/", page) == "en"
    assert banner_lang(engine, "/", page) == "fr"


def test_the_preferences_page_speaks_the_language_of_the_page_it_came_from(ampere):
    ex = ampere.begin(
        Request(
            "GET",
            "/.consent/preferences?return=/en/models",
            [("Host", "www.example.com"), ("Accept-Language", "fr")],
        )
    )
    assert b'<html lang="en" dir="ltr">' in ex.local_response(b"").body


def test_the_requests_language_is_worked_out_only_for_a_page_that_names_none(ampere):
    pairs = [("Host", "www.example.com"), ("Sec-Fetch-Dest", "document")]
    pairs.append(("Accept-Language", "en"))
    for page, asked, lang in (
        (b'<html lang="fr"><body>x', False, "fr"),
        (b"<html><body>x", True, "en"),
        (b"", True, "en"),  # (no byte at all: the banner still goes in, the request's)
    ):
        ex = ampere.begin(Request("GET", "/models", pairs))
        plan = ex.response(200, HTML)
        assert plan.body is not None
        out = b"".join(plan.body.sliced(page, True)) if page else plan.body.close()
        assert (ex._language is not None) == asked
        m = re.search(rb'<div id="consentproxy"[^>]*lang="(\w+)"', out)
        assert m is not None and m.group(1).decode() == lang


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("ar", "rtl"), ("he-IL", "rtl"), ("fa", "rtl"), ("en", "ltr"), ("de", "ltr")],
)
def test_what_the_proxy_writes_in_a_language_reads_its_way(lang, expected):
    """An operator's Arabic banner on a left-to-right page was laid out left to right."""
    assert direction(lang) == expected
