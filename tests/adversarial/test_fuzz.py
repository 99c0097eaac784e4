"""Fuzzing the parsers a hostile page or visitor reaches: the rewriter, the Set-Cookie parser,
the consent cookie decoder and the engine's reading of requests and origin heads. Short in `make test`; `make fuzz` runs them for long
(FUZZ_EXAMPLES). Properties: no exception, and the rewriter loses or reorders no byte
outside the tags it neutralises."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from ipaddress import ip_network

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from consentproxy.config import load_config
from consentproxy.consent import NO_DECISION, Signer
from consentproxy.cookies import capped, cookie_pairs, lifetime, set_cookie_name
from consentproxy.engine import Engine, Request
from consentproxy.rewrite.encoding import BodyError
from consentproxy.settings import ForTesting, RecordsSettings, Regions
from tests.adversarial.oracle import rewrite
from tests.conftest import ROOT
from tests.rewrite.test_scanner import UTF16_BOMS

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TOKENS = [
    b"<",
    b">",
    b"/",
    b"!",
    b"-",
    b"=",
    b"'",
    b'"',
    b" ",
    b"\n",
    b"\t",
    b"&#x2F;",
    b"script",
    b"SCRIPT",
    b"img",
    b"iframe",
    b"svg",
    b"style",
    b"xmp",
    b"textarea",
    b"title",
    b"body",
    b"meta",
    b"base",
    b"plaintext",
    b"<!--",
    b"-->",
    b"--!>",
    b"src",
    b"href",
    b"srcdoc",
    b"http-equiv=refresh",
    b"content=",
    b"url=",
    b"//www.google-analytics.com/a.js",
    b"https://www.facebook.com/tr",
    b"gtag(",
    b"document.write(",
    b"\xc3\xa9",
    b"\xff",
]
# What neutralising adds to a tag (the response's mark too); removing it (and lower-casing,
# since renamed attributes are written in lower case) must give back the input.
ADDED = re.compile(
    rb'(?: type="text/plain")? data-consent-blocked="[^"]*" '
    rb'data-consent-blocked-category="[^"]*"(?: data-consent-mark="[^"]*")?'
    rb"|data-(?:site-)?consent-",
    re.IGNORECASE,
)
pages = st.lists(st.sampled_from(TOKENS) | st.binary(max_size=4), max_size=60).map(b"".join)


@FUZZ
@given(page=pages, chunk=st.integers(0, 17))
def test_rewriter_loses_no_byte_outside_neutralised_tags(page, chunk):
    assume(page[:2] not in UTF16_BOMS)  # (read as UTF-16, written as UTF-8)
    out = rewrite(page, chunk)
    assert ADDED.sub(b"", out).lower() == ADDED.sub(b"", page).lower()
    assert out == rewrite(page)


@FUZZ
@given(st.text())
def test_set_cookie_parser_never_fails(value):
    name = set_cookie_name(value)
    assert "=" not in name
    out = capped(value, 86400, 1_800_000_000.0)
    assert out.split(";")[0] == value.split(";")[0]
    lifetime(value, 1_800_000_000.0)
    cookie_pairs(value)


SIGNER = Signer([b"k" * 32], 365, 3, {"analytics": "abc123"})
VALID = SIGNER.encode(SIGNER.decide(["analytics"], ["youtube"], 1_800_000_000.0))


@FUZZ
@given(
    st.text()
    | st.builds(
        lambda i, c: VALID[:i] + c + VALID[i + 1 :], st.integers(0, len(VALID) - 1), st.characters()
    )
)
def test_consent_decoder_never_fails_and_a_changed_cookie_proves_nothing(value):
    state = SIGNER.decode(value, 1_800_000_000.0)
    assert state == NO_DECISION or value == VALID


# --- the engine against any request a visitor sends and any head an origin answers --------

HOST = "shop.example.com"
ENGINE = Engine(
    replace(
        load_config(ROOT / "config" / "ampere.yaml"),  # (its former consent tool too)
        records=RecordsSettings(),
        language_from=("path", "cookie", "accept-language", "html-lang"),
        testing=ForTesting(state_header=True),
        regions=Regions("cf-ipcountry", "cf-region", frozenset({"US", "US-CA"})),
        trusted_proxies=(ip_network("127.0.0.1/32"),),
    ),
    [b"k" * 32],
)
NAMES = (
    "cookie",
    "origin",
    "referer",
    "host",
    "accept",
    "accept-encoding",
    "accept-language",
    "content-type",
    "content-length",
    "transfer-encoding",
    "expect",
    "range",
    "upgrade",
    "sec-fetch-site",
    "sec-fetch-dest",
    "sec-gpc",
    "dnt",
    "if-none-match",
    "x-consent-state",
    "x-forwarded-for",
    "x-forwarded-proto",
    "cf-ipcountry",
    "cf-region",
)
ORIGIN_NAMES = (
    "set-cookie",
    "content-type",
    "content-encoding",
    "content-length",
    "location",
    "link",
    "etag",
    "cache-control",
    "vary",
    "content-security-policy",
    "refresh",
    "content-disposition",
    "alt-svc",
    "speculation-rules",
    "reporting-endpoints",
)
# What breaks parsers: brackets (IPv6), digits int() refuses ('²'), escapes, separators.
HOSTILE = st.text(st.sampled_from("[]:/?#@%=;,.&*\\\t \"'²٣é\udcff\x00\x7fahttps0-9"), max_size=24)
VALUES = (
    st.sampled_from(
        (
            "http://[::1",
            "//[::1/x",
            "http://shop.example.com/",
            "gzip",
            "br;q=0",
            "text/html",
            "chunked",
            "100-continue",
            "bytes=0-",
            "document",
            "websocket",
            "1",
            "²",
            "accept-all",
            "_ga=1; OptanonConsent=groups%3DC0002%3A1&datestamp=²",
            "a=b; Domain=.x; Max-Age=1e999",
            "0; url=https://www.google-analytics.com/",
            "</x>; rel=preload",
        )
    )
    | HOSTILE
)
URLS = st.tuples(
    st.sampled_from(("http://", "https://", "//", "")),
    st.sampled_from(("[::1", "[", "]", "[::1]:99999", "x@[::1", HOST, "evil.example")),
    HOSTILE,
).map("".join)
URL_HEADERS = dict.fromkeys(("origin", "referer", "location", "content-location"), URLS | VALUES)
TARGETS = st.sampled_from(
    (
        "/",
        "//",
        "/fr/",
        "/.consent/choice",
        "/.consent/frame?s=youtube&e=",
        "/.consent/me",
        "/.consent/preferences?return=",
        "/.consent/grant",
        "/.consent/me/erase",
        "/.consent/state",
        "/.well-known/gpc.json",
        "*",
    )
).flatmap(lambda t: (st.just("") | HOSTILE.map("?".__add__) | HOSTILE).map(t.__add__))
BODIES = st.sampled_from(
    (
        b"",
        b"{}",
        b'{"action":"accept-all"}',
        b"action=reject-all&return=//[::1",
        b"\xff",
        b'{"service":"youtube","url":"https://[::1"}',
        b'{"categories":[1]}',
    )
)


@settings(FUZZ, max_examples=5 * EXAMPLES)  # (quick: ~5 ms an example)
@given(
    method=st.sampled_from(("GET", "POST", "HEAD", "OPTIONS", "PUT", "POST")),
    target=TARGETS,
    headers=st.fixed_dictionaries({}, optional=dict.fromkeys(NAMES, VALUES) | URL_HEADERS),
    client=st.sampled_from(("127.0.0.1", "::1", "", "x")),
    body=BODIES,
    status=st.sampled_from((200, 204, 206, 301, 304, 500)),
    origin=st.fixed_dictionaries({}, optional=dict.fromkeys(ORIGIN_NAMES, VALUES)),
)
def test_the_engine_answers_any_request_and_any_origin_head(
    method, target, headers, client, body, status, origin
):
    """Each request a visitor can send gets an answer (an error is a 4xx), never an
    exception: an Origin `http://[::1` made the consent endpoints a 500 with a traceback."""
    ex = ENGINE.begin(Request(method, target, [("Host", HOST), *headers.items()], client_ip=client))
    if ex.is_local:
        assert ex.local_response(body).status < 500
        return
    ex.upstream_headers()
    plan = ex.response(status, list(origin.items()))
    if plan.body is not None:
        try:
            plan.body.feed(b"<html lang=fr><script src=https://www.google-analytics.com/a.js>")
            plan.body.close()
        except BodyError:  # (a body the origin said was gzip, and is not)
            pass
