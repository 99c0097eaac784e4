"""The cookie declaration: what the config enforces, declared category by category."""

from __future__ import annotations

import json
import xml.dom.minidom
from dataclasses import replace

import pytest

from consentproxy.config import ConfigError, parse_config
from consentproxy.declaration import Declaration
from consentproxy.engine import Engine, Request

CONFIG = """
upstream: http://127.0.0.1:8080
languages: [en, de]
necessary_cookies: [PHPSESSID, "wp-settings-*"]
consent: {cookie_name: choice, max_age_days: 182}
categories:
  necessary: {required: true}
  analytics: {}
  social: {}
  advertising: {}
services:
  - use: google-analytics
  - use: youtube
  - name: counter
    category: analytics
    hosts: [count.example.net]
    cookies: ["cnt|id"]
    title: "Counter | *stats*"
    purpose: "Counts <visits> | and [nothing] else"
    retention: 13 months
"""


def declaration() -> Declaration:
    return Declaration(parse_config(CONFIG))


def test_declaration_lists_each_categorys_services_with_their_cookies_and_facts():
    data = declaration().data("en")
    assert [c["name"] for c in data["categories"]] == [
        "necessary",
        "analytics",
        "social",
        "advertising",
    ]
    analytics = data["categories"][1]
    assert analytics["title"] == "Audience measurement" and not analytics["required"]
    ga = analytics["services"][0]
    assert ga["name"] == "google-analytics" and ga["provider"] == "Google"
    assert ga["purpose"] == "Counts visits and measures how pages are used."
    assert "_ga" in ga["cookies"] and ga["retention"] == "13 months (_ga), 24 hours (_gid)"
    assert ga["privacy_url"] == "https://policies.google.com/privacy"
    assert "*.google-analytics.com" in ga["hosts"]  # a domain: its subdomains
    assert [s["name"] for s in analytics["services"]] == ["google-analytics", "counter"]
    assert data["categories"][3]["services"] == []  # declared empty, not left out


def test_the_sites_own_cookies_are_declared_under_the_required_category():
    """The consent cookie (with its lifetime) and necessary_cookies: what the site sets
    without asking."""
    necessary = declaration().data("de")["categories"][0]
    assert necessary["required"] and necessary["services"] == []
    assert necessary["site"]["cookies"] == ["choice", "PHPSESSID", "wp-settings-*"]
    assert necessary["site"]["retention"] == "182 Tage (choice)"
    assert necessary["site"]["title"] == "Diese Website"
    assert all(c["site"] is None for c in declaration().data("de")["categories"][1:])


def test_declaration_is_in_the_language_asked_for():
    html = declaration().html("de").decode()
    assert 'lang="de"' in html and "Reichweitenmessung" in html and "Zweck" in html
    assert "Speicherdauer" in html and "13 Monate (_ga)" in html
    assert "Derzeit keine Dienste in dieser Kategorie." in html  # advertising: none
    assert "Audience measurement" not in html and "Purpose" not in html


def test_html_fragment_is_well_formed_ascii_markup_with_the_values_escaped():
    """It goes into any page: latin-1 ones (ASCII only) and XHTML (well-formed)."""
    raw = declaration().html("de")
    assert raw.isascii()
    dom = xml.dom.minidom.parseString(raw)
    assert dom.documentElement.tagName == "section"
    text = raw.decode()
    assert "<visits>" not in text and "&lt;visits&gt;" in text
    assert text.count("<table>") == 3  # necessary (the site), analytics, social
    assert '<a href="/.consent/preferences" data-consent-action="open">' in text


def test_html_for_pages_the_proxy_does_not_serve_has_no_preferences_link():
    assert b"preferences" not in declaration().html("en", manage=False)


def test_markdown_tables_keep_their_cells_whatever_the_texts_hold():
    md = declaration().markdown("en")
    row = next(line for line in md.splitlines() if line.startswith("| Counter"))
    cells = [c for c in row.replace("\\|", "").split("|")][1:-1]
    assert len(cells) == 5, row
    assert "Counter \\| \\*stats\\*" in row and "\\<visits\\>" in row
    assert "`cnt\\|id`" in row
    assert "## Audience measurement" in md
    assert "[Privacy policy](https://policies.google.com/privacy)" in md


def test_json_names_its_schema_and_language():
    data = json.loads(declaration().json("de"))
    assert data["schema"] == "consentproxy-declaration/1" and data["language"] == "de"


def test_operator_texts_replace_the_built_in_column_names():
    config = parse_config(CONFIG)
    config = replace(config, banner=replace(config.banner, texts={"en": {"purpose": "Why"}}))
    assert '<th scope="col">Why</th>' in Declaration(config).html("en").decode()


def test_the_proxy_fills_the_declaration_into_the_element_the_page_or_config_marks():
    """In the page's language (its <html lang>), into `[data-consent-declaration]` (the
    default) and the elements banner.declaration_selectors names."""
    config = parse_config(
        CONFIG + "banner: {declaration_selectors: ['[data-consent-declaration]', '#cookie-list']}\n"
    )
    engine = Engine(config, [b"k" * 32])
    plan = engine.begin(
        Request("GET", "/cookies", [("Host", "shop.example"), ("Accept-Language", "en")])
    ).response(200, [("Content-Type", "text/html")])
    page = (
        b'<!DOCTYPE html><html lang="de"><body><h1>Cookies</h1><div id="cookie-list">'
        b"</div><p data-consent-declaration>old table</p></body></html>"
    )
    assert plan.body is not None
    out = plan.body.feed(page) + plan.body.close()
    german = Declaration(config).html("de")
    assert out.count(german) == 2
    assert b'<div id="cookie-list">' + german + b"</div>" in out
    assert german + b"old table</p>" in out
    # Without a selector that matches, the page is left as it is.
    plan = engine.begin(Request("GET", "/", [("Host", "shop.example")])).response(
        200, [("Content-Type", "text/html")]
    )
    assert plan.body is not None
    other = b"<!DOCTYPE html><html><body><div id=cookies></div></body></html>"
    assert b"consent-declaration" not in plan.body.feed(other) + plan.body.close()


def test_a_declaration_selector_the_rewriter_cannot_match_is_refused_with_its_line():
    with pytest.raises(
        ConfigError,
        match=r"site.yaml:\d+: banner.declaration_selectors: "
        r"'main div': only a tag",
    ):
        parse_config(CONFIG + "banner: {declaration_selectors: ['main div']}\n", "site.yaml")
