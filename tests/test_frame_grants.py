"""Loading one embed in place under `csp: enforce`: POST {prefix}grant signs a short-lived
grant for one service's URL (nothing recorded), GET {prefix}frame serves a frame document
of the site's own origin whose CSP frames that service and nothing else."""

import json
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from consentproxy.config import parse_config
from consentproxy.csp import script_source
from consentproxy.endpoints import FRAME_SCRIPT
from consentproxy.engine import Engine, Request
from consentproxy.httpheaders import header

NOW = 1_800_000_000
CONFIG = """\
upstream: http://127.0.0.1:9
csp: enforce
categories:
  necessary: {required: true}
  analytics: {}
  social: {}
services:
  - use: google-analytics
  - use: youtube
  - use: google-maps
  - {use: google-recaptcha, category: necessary}
"""
VIDEO = "https://www.youtube-nocookie.com/embed/xyz?rel=0&a=<b>"
SITE = [
    ("Host", "site.example"),
    ("Origin", "http://site.example"),
    ("Content-Type", "application/json"),
]


@pytest.fixture
def clock():
    return [float(NOW)]


@pytest.fixture
def engine(clock) -> Engine:
    return Engine(parse_config(CONFIG), [b"k" * 32], clock=lambda: clock[0])


def grant(engine, service, url, headers=SITE):
    ex = engine.begin(Request("POST", "/.consent/grant", headers))
    return ex.local_response(json.dumps({"service": service, "url": url}).encode())


def frame(engine, target, cookie=None, dest=None, referer="http://site.example/page"):
    """The frame's request (a browser may send its page's Referer, or none)."""
    headers = [("Host", "site.example")] + ([("Cookie", cookie)] if cookie else [])
    headers += [("Sec-Fetch-Dest", dest)] if dest else []
    headers += [("Referer", referer)] if referer else []
    return engine.begin(Request("GET", target, headers)).local_response(b"")


def test_a_grant_frames_that_embed_once_and_records_nothing(engine):
    resp = grant(engine, "youtube", VIDEO)
    assert resp.status == 200 and resp.record is None and resp.new_state is None
    assert not any(k == "Set-Cookie" for k, _ in resp.headers)
    target = json.loads(resp.body)["url"]
    assert target.startswith("/.consent/frame?")
    page = frame(engine, target)
    assert page.status == 200
    assert (
        b'<template><iframe src="https://www.youtube-nocookie.com/embed/xyz?rel=0&amp;a=&lt;b&gt;"'
        in page.body
    )
    policy = header(page.headers, "content-security-policy")
    assert (
        "frame-src" in policy and "*.youtube-nocookie.com" in policy
    )  # the domain and its subdomains
    assert "google-analytics" not in policy and "maps.google.com" not in policy
    assert "frame-ancestors 'self'" in policy
    assert f"script-src {script_source(FRAME_SCRIPT)};" in policy  # (that script alone)
    assert header(page.headers, "cache-control") == "no-store"
    assert not any(k == "Set-Cookie" for k, _ in page.headers)


@pytest.mark.parametrize(("dest", "status"), [("iframe", 200), ("embed", 200), ("document", 403)])
def test_a_grant_frames_its_embed_in_a_page_never_opened_top_level(engine, dest, status):
    """/grant asks for no visitor's cookie: anyone could get a grant's URL and send it as a
    link, and whoever opened it within two minutes had the embed load, consent or not."""
    target = json.loads(grant(engine, "youtube", VIDEO).body)["url"]
    assert frame(engine, target, dest=dest).status == status


@pytest.mark.parametrize("referer", [None, "http://evil.example/", "http://site.example/"])
def test_a_grant_puts_its_embed_in_only_inside_a_frame_whatever_the_referer(engine, referer):
    """Over http browsers send no Sec-Fetch-Dest, and an attacker's link on the site (a
    comment) redirecting to a fresh grant keeps the site's Referer: the embed loaded
    top-level, consent or not. Requiring that Referer also refused a visitor whose browser
    strips it. The document holds the embed in a <template> that its one script (allowed by
    its hash) puts in only inside a frame, which frame-ancestors 'self' makes the site's."""
    target = json.loads(grant(engine, "youtube", VIDEO).body)["url"]
    page = frame(engine, target, referer=referer)
    assert page.status == 200
    shown, _, held = page.body.decode().partition("<template>")
    assert "<iframe" not in shown and held.startswith("<iframe src=")
    assert "This YouTube video is hidden until you allow" in shown  # (its placeholder)
    assert f"<script>{FRAME_SCRIPT}</script>" in held
    assert frame(engine, target, "x=1", dest="document", referer=referer).status == 403


def test_an_expired_grant_frames_nothing(engine, clock):
    target = json.loads(grant(engine, "youtube", VIDEO).body)["url"]
    clock[0] += 121
    assert frame(engine, target).status == 403


@pytest.mark.parametrize(
    "change",
    [
        {"u": "https://www.youtube.com/embed/other"},  # another URL of the service
        {"s": "google-maps", "u": "https://maps.google.com/x"},  # another service
        {"g": "forged"},
        {"e": str(NOW + 3600)},  # a later expiry
        {"e": "\u00b2"},  # a digit to str.isdigit, not to int (a 500 before)
        {"e": "9" * 4400},  # more digits than int reads (a 500 before)
    ],
)
def test_a_grant_covers_its_service_url_and_time_only(engine, change):
    target = json.loads(grant(engine, "youtube", VIDEO).body)["url"]
    query = dict(parse_qsl(urlsplit(target).query)) | change
    assert frame(engine, "/.consent/frame?" + urlencode(query)).status == 403


@pytest.mark.parametrize(
    ("service", "url"),
    [
        ("youtube", "https://evil.example/embed/x"),  # not a host of the service
        ("youtube", "javascript:alert(1)"),
        ("youtube", "//www.youtube.com/embed/x"),  # not absolute
        ("google-recaptcha", "https://www.google.com/recaptcha/api2/anchor"),  # needs no consent
        ("nope", VIDEO),
        (["youtube"], VIDEO),
    ],
)
def test_grants_are_only_for_embeds_of_services_a_choice_can_allow(engine, service, url):
    assert grant(engine, service, url).status == 400


def test_grants_are_refused_to_other_sites(engine):
    headers = [
        ("Host", "site.example"),
        ("Origin", "https://evil.example"),
        ("Content-Type", "application/json"),
    ]
    assert grant(engine, "youtube", VIDEO, headers).status == 403


def test_consent_for_the_service_frames_it_without_a_grant(engine):
    target = "/.consent/frame?" + urlencode({"s": "youtube", "u": VIDEO})
    assert frame(engine, target).status == 403
    ex = engine.begin(Request("POST", "/.consent/choice", SITE))
    choice = ex.local_response(json.dumps({"action": "save", "categories": ["social"]}).encode())
    cookie = next(v for k, v in choice.headers if k == "Set-Cookie").split(";")[0]
    page = frame(engine, target, cookie)
    assert page.status == 200 and b"<template>" not in page.body  # (top-level too)
    assert "script-src" not in header(page.headers, "content-security-policy")


def test_the_frames_held_sentence_is_the_placeholders_text_as_text_never_markup(clock):
    """The frame built its sentence from banner.texts.<lang>.blocked unescaped (only the
    names filled in were): `<em>off</em> & more` became markup there, where banner.js shows
    it as text; and a service's own placeholder text, which banner.js shows, was not used."""
    texts = "banner:\n  texts:\n    en: {blocked: '{service} <em>off</em> & more ({category})'}\n"
    own = "  - {use: google-maps, placeholder: {en: 'Maps <b>wait</b> & see'}}\n"
    clips = (
        "  - {name: clips, title: 'Clips <i>TV</i>', category: social, hosts: [clips.example]}\n"
    )
    config = parse_config(CONFIG.replace("  - use: google-maps\n", own + clips) + texts)
    engine = Engine(config, [b"k" * 32], clock=lambda: clock[0])
    for service, url, said in (
        ("clips", "https://clips.example/v/1", "Clips &lt;i&gt;TV&lt;/i&gt; &lt;em&gt;off"),
        ("google-maps", "https://www.google.com/maps/embed?pb=1", "Maps &lt;b&gt;wait&lt;/b&gt;"),
    ):
        target = json.loads(grant(engine, service, url).body)["url"]
        shown = frame(engine, target).body.decode().partition("<template>")[0]
        assert f"<p>{said}" in shown, shown
        assert "<em>" not in shown and "<b>" not in shown and "<i>" not in shown
