"""Every language has every string, and a banner in one language shows no other's words."""

from __future__ import annotations

import gzip
import json
import re
import string
import sys
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from consentproxy.banner.render import CONFIG_SLOT, Banner, script_code, script_source
from consentproxy.banner.texts import (
    _RETENTION_WORDS,
    _UNIT_FORMS,
    CATEGORY_TEXTS,
    LANGUAGES,
    TEXT_KEYS,
    TEXTS,
    lifetime_shown,
    localise_retention,
)
from consentproxy.catalog import I18N_DIR
from consentproxy.config import (
    Config,
    RecordsSettings,
    builtin_services,
    catalog_config,
    load_config,
)
from consentproxy.consent import NO_DECISION, ConsentState
from consentproxy.declaration import Declaration
from consentproxy.policy import Policy
from tests.conftest import ROOT

OTHERS = [lang for lang in LANGUAGES if lang != "en"]
CONFIGS = sorted((ROOT / "config").glob("*.yaml"))
# Every built-in service, and records kept (the preferences then link to them).
CATALOG = replace(catalog_config(), languages=LANGUAGES, records=RecordsSettings(":memory:"))


def fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_eight_languages_are_built_in():
    assert set(LANGUAGES) == {"en", "fr", "de", "es", "it", "nl", "pt", "pl"}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_language_has_every_banner_string_with_the_same_slots(lang):
    assert TEXTS[lang].keys() == TEXT_KEYS
    for key, text in TEXTS[lang].items():
        assert text.strip() and fields(text) == fields(TEXTS["en"][key]), key


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_usual_category_has_a_title_and_description_in_every_language(lang):
    for name, texts in CATEGORY_TEXTS.items():
        title, description = texts[lang]
        assert title and description, name


@pytest.mark.parametrize("lang", OTHERS)
def test_every_catalog_service_speaks_every_language(lang):
    """Purpose and placeholder in each language; a title wherever English has words
    rather than a brand (the same services in every language)."""
    given = yaml.safe_load((I18N_DIR / f"{lang}.yaml").read_text(encoding="utf-8"))
    french = yaml.safe_load((I18N_DIR / "fr.yaml").read_text(encoding="utf-8"))
    services = builtin_services()
    lacking, gone = services.keys() - given.keys(), given.keys() - services.keys()
    assert not lacking and not gone, (
        f"catalog/i18n/{lang}.yaml lacks {sorted(lacking)}; names no service {sorted(gone)}"
    )
    for name, svc in services.items():
        assert set(given[name]) <= {"title", "purpose", "placeholder"}, name
        assert svc.purpose[lang] and svc.placeholder[lang], name
        assert ("title" in given[name]) == ("title" in french[name]), name


@pytest.mark.parametrize("lang", OTHERS)
def test_every_catalog_lifetime_reads_in_every_language(lang):
    for svc in builtin_services().values():
        assert localise_retention(svc.retention, lang) is not None, svc.retention


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("2 years (_ga), 24 hours (_gid)", "de", "2 Jahre (_ga), 24 Stunden (_gid)"),
        (
            "up to 13 months (Google's own cookies)",
            "de",
            "bis zu 13 Monaten (eigene Cookies von Google)",
        ),
        ("up to 1 year", "pl", "do 1 roku"),
        ("up to 2 years", "pl", "do 2 lat"),
        ("1 year (_clck), 1 day (_clsk)", "pl", "1 rok (_clck), 1 dzień (_clsk)"),
        ("3 months", "pl", "3 miesiące"),
        ("13 months", "pl", "13 miesięcy"),
        ("22 hours", "pl", "22 godziny"),
        ("12 hours", "pl", "12 godzin"),
        (
            "session (YSC) to 179 days (VISITOR_INFO1_LIVE)",
            "es",
            "sesión (YSC) – 179 días (VISITOR_INFO1_LIVE)",
        ),
        ("3 months (uuid2, on adnxs.com)", "nl", "3 maanden (uuid2, op adnxs.com)"),
        ("no cookies of its own", "it", "nessun cookie proprio"),
        ("1 month", "pt", "1 mês"),
        ("6 months", "fr", "6 mois"),
        ("until you log out", "de", None),
        ("persistent", "fr", None),
    ],
)
def test_lifetimes_are_said_in_the_language_or_left_as_written(text, lang, expected):
    assert localise_retention(text, lang) == expected


def test_a_lifetime_longer_than_the_cap_is_shown_cut_to_it():
    """The policy page and the preferences said "2 years (_ga)" while the proxy keeps no
    cookie of the site past cap_cookie_lifetime_days: 13 months here. A vendor's cookies on
    its own domain (the proxy never sees them) stay as declared."""
    assert lifetime_shown("2 years (_ga), 24 hours (_gid)", "en", 395) == (
        "13 months (_ga), 24 hours (_gid)"
    )
    assert lifetime_shown("up to 3 years (__lc_cid)", "fr", 395) == "jusqu'à 13 mois (__lc_cid)"
    assert lifetime_shown("2 years (vuid)", "en", 90) == "90 days (vuid)"
    assert lifetime_shown("2 years (vuid)", "en", 365) == "12 months (vuid)"
    for theirs in ("up to 2 years (Facebook's own cookies)", "13 months (ad-id, on x.com)"):
        assert lifetime_shown(theirs, "en", 90) == theirs
    assert lifetime_shown("13 months (IDE)", "en", 395) == "13 months (IDE)"
    # The catalog's vendors' own (an embed's, a tracking domain's) say where they live.
    from consentproxy.config import builtin_services

    for name in ("vimeo", "youtube", "google-ads", "adobe-analytics"):
        retention = builtin_services()[name].retention
        assert lifetime_shown(retention, "en", 90) == retention, name


def test_the_lifetime_grammar_covers_every_language():
    assert _UNIT_FORMS.keys() == _RETENTION_WORDS.keys() == set(OTHERS)


# --- no English in another language's banner --------------------------------------------


class _Visible(HTMLParser):
    """The strings a visitor reads or hears: text (not CSS), labels, and the script's own
    texts and names (placeholders), with their {slots} taken out."""

    def __init__(self) -> None:
        super().__init__()
        self.strings: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        values = dict(attrs)
        for name in ("aria-label", "alt", "title"):
            if values.get(name):
                self.strings.append(values[name] or "")
        catalog = values.get("data-consentproxy-catalog")
        if catalog:
            data = json.loads(catalog)
            self.strings += [*data["texts"].values(), *data["categories"].values()]
            self.strings += [
                s
                for title, _, placeholder, _ in data["services"].values()
                for s in (title, placeholder)
            ]

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if not self._in_style:
            self.strings.append(data)


def words(texts: list[str]) -> set[str]:
    return {w.lower() for t in texts for w in re.findall(r"[^\W\d_]+", re.sub(r"\{\w+\}", "", t))}


def shown(config: Config, lang: str) -> set[str]:
    """Every word of the banner (undecided, then decided with notes) and preferences page."""
    banner = Banner(config, Policy(config))
    optional = frozenset(c.name for c in config.categories if not c.required)
    noted = ConsentState(True, optional, decided_at=1, reask=True, gpc=True)
    pages = [
        banner.render(NO_DECISION, lang, "/"),
        banner.render(noted, lang, "/"),
        banner.preferences_page(noted, lang, "/"),
    ]
    parser = _Visible()
    for page in pages:
        parser.feed(page.decode())
    return words(parser.strings)


def own_words(config: Config, lang: str) -> set[str]:
    """Words that belong to the language (its texts, the operator's texts in it) or to no
    language (brands, providers, cookie names)."""
    texts = [
        *config.banner.text(lang).values(),
        *config.banner.dpo.values(),  # contacts
        *(
            t
            for c in config.categories
            for t in (c.title.get(lang, ""), c.description.get(lang, ""))
        ),
        config.consent.cookie_name,
        *config.necessary_cookies,
    ]
    for svc in config.services:
        texts += [
            svc.title.get(lang, ""),
            svc.purpose.get(lang, ""),
            svc.placeholder.get(lang, ""),
            svc.vendor,
            *svc.cookies,
        ]
        texts += [localise_retention(svc.retention, lang) or ""]
        if len(svc.title) == 1:  # a brand
            texts.append(svc.display_title())
    return words(texts)


# Each example config in each of its languages but English, and the catalog in the others.
TRANSLATED = pytest.mark.parametrize(
    ("config", "lang"),
    [
        *(
            (load_config(p), lang)
            for p in CONFIGS
            for lang in load_config(p).languages
            if lang != "en"
        ),
        *((CATALOG, lang) for lang in OTHERS),
    ],
    ids=lambda v: v if isinstance(v, str) else Path(v.source).name,
)


@TRANSLATED
def test_no_english_shows_in_another_languages_banner(config, lang):
    english = shown(config, "en") - own_words(config, lang)
    assert english, "the check must have English words to look for"
    leaked = shown(config, lang) & english
    assert not leaked, f"English words in the {lang} banner: {sorted(leaked)}"


@TRANSLATED
def test_no_english_shows_in_another_languages_cookie_declaration(config, lang):
    def declared(lang: str) -> set[str]:
        parser = _Visible()
        parser.feed(Declaration(config).html(lang).decode())
        return words(parser.strings)

    english = declared("en") - own_words(config, lang)
    assert english, "the check must have English words to look for"
    leaked = declared(lang) & english
    assert not leaked, f"English words in the {lang} declaration: {sorted(leaked)}"


def test_the_english_check_catches_an_untranslated_purpose():
    """The check checks: one English purpose in the German banner is found."""
    config = replace(
        CATALOG,
        services=tuple(
            replace(s, purpose={"en": s.purpose["en"]}) if s.name == "hotjar" else s
            for s in CATALOG.services
        ),
    )
    english = shown(config, "en") - own_words(config, "de")
    assert {"records", "visitors", "surveys"} <= shown(config, "de") & english


# Issue 16's budget is 25 KiB (25,600 B): held at what consent.js weighs plus ~100 B, so growth
# shows; a change that needs the room raises it, never past 25 * 1024. Raised from 25,000 on
# 2026-12-07 for the demo's X pixel, two services known and the guard reading each value once
# (helper-250): 24,999 -> 25,320 B, plus ~100 B.
SCRIPT_BUDGET = 25_420


@pytest.mark.parametrize("lang", LANGUAGES)
def test_banner_markup_stays_under_6_kb_compressed_in_every_language(config, lang):
    """What each page carries: the banner (its CSS inline) and the script tag."""
    banner = Banner(config, Policy(config))
    markup = banner.render(NO_DECISION, lang, "/") + banner.script_tag(NO_DECISION)
    assert len(gzip.compress(markup, 9)) < 6 * 1024


def test_the_script_stays_under_25_kb_compressed(config):
    """Issue 16's budget for what the page loads once and caches (versioned, immutable):
    the guard, the banner's code and the tables they classify with, the knowledge base's
    tracker domains by category included. Held below the budget where it stands: each fix or
    service added spends some of what is left (25,358 B at the last count)."""
    script = Banner(config, Policy(config)).script
    assert b'"known":[' in script and b'"advertising","analytics"' in script
    size = len(gzip.compress(script, 9))
    print(f"consent.js: {len(script):,} B, {size:,} B gzipped (budget {SCRIPT_BUDGET:,})")
    assert size <= SCRIPT_BUDGET


def test_the_minifier_shortens_local_names_and_keeps_what_the_page_reads(config):
    """tdewolff's minify (render.minify_js) against rjsmin's whitespace and comments only,
    on the same code: at least 1.5 KB gzipped saved (2.1 KB when it came in, taking the
    script from 25,600 B to 23,465). Globals, properties and strings stay: the page's API
    and what banner.js reads of the guard's, the attributes, the tables' slot."""
    import rjsmin  # (a dev dependency: this comparison only)

    code = script_source()
    ours, theirs = script_code(), rjsmin.jsmin(code)
    saved = len(gzip.compress(theirs, 9)) - len(gzip.compress(ours, 9))
    print(f"consent.js's code: {saved:,} B gzipped saved on rjsmin's")
    assert saved >= 1500
    assert b"nativeGetAttribute" in code and b"nativeGetAttribute" not in ours  # a local
    assert ours.count(CONFIG_SLOT) == 1 and ours.count(b'"use strict"') == 2
    api = re.search(rb'defineProperty\(window,"consentproxy",\{[^{]*value:(\{.*)\}\)', ours)
    assert api is not None
    for name in ("get", "onChange", "open"):
        assert re.search(rb"[{,]%s:" % name.encode(), api[1]), name
    # banner.js's tools are the guard's, never the page's: no names of theirs on any object
    for name in ("setState", "asking", "ours", "serviceOf", "deleteCookies", "replay"):
        assert not re.search(rb"[{,]%s:" % name.encode(), ours), name
    for kept in (
        b"window.consentproxy.pendingOpen=",
        b'"dataLayer"',  # (the layer Google's tags read, by name)
        b'"consent:change"',
        b'"data-consentproxy-state"',
        b'"data-consentproxy-mark"',
        b'"data-consent-"',
    ):
        assert kept in ours, kept
    # Go's runtime never enters this process: it would not survive serve --workers's fork.
    assert "minify" not in sys.modules
    # Each function keeps its parameters' count (a hooked native's length stays as it was).
    params = re.compile(rb"function\s*[\w$]*\s*\(([^)]*)\)")
    source = re.sub(rb"/\*.*?\*/|(?m:^\s*//[^\n]*)", b"", code, flags=re.DOTALL)
    assert [p.count(b",") + bool(p.strip()) for p in params.findall(ours)] == [
        p.count(b",") + bool(p.strip()) for p in params.findall(source)
    ]


def test_a_lifetime_cut_to_one_day_or_one_month_is_singular_in_english():
    """ "1 days (_ga)", "1 months": the other languages' words were right (helper-130)."""
    assert lifetime_shown("2 years (_ga)", "en", 1) == "1 day (_ga)"
    assert lifetime_shown("2 years (_ga)", "en", 30) == "1 month (_ga)"
    assert lifetime_shown("up to 2 years (_ga)", "fr", 1) == "jusqu'à 1 jour (_ga)"
