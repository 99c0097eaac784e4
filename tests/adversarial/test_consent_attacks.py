"""Hostile visitors against the consent cookie and the proxy's own endpoints, on the real
engine (sans I/O): forged or stale cookies prove nothing, other sites cannot choose for
the visitor, the form cannot redirect off-site, bodies are bounded, nothing is reflected."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from consentproxy import consent
from consentproxy.config import ConfigError, load_config, parse_config
from consentproxy.consent import MAX_CONSENT_COOKIES, Signer
from consentproxy.cookies import cookie_pairs
from consentproxy.engine import Engine, Request
from tests.conftest import DEMO_CONFIG

NOW = 1_800_000_000.0
HOST = "shop.example.com"
KEY, OLD_KEY = b"n" * 32, b"o" * 32


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(
        load_config(DEMO_CONFIG).with_overrides(upstream="http://127.0.0.1:9"),
        [KEY, OLD_KEY],
        clock=lambda: NOW,
    )


def post(engine, path, body=b"", ctype="application/json", **headers):
    hs = [("Host", HOST), ("Content-Type", ctype)]
    hs += [(k.replace("_", "-"), v) for k, v in headers.items()]
    return engine.begin(Request("POST", f"/.consent/{path}", hs)).local_response(body)


def accepted_cookie(engine) -> str:
    resp = post(engine, "choice", b'{"action": "accept-all"}', Origin=f"http://{HOST}")
    assert resp.status == 200
    return (
        next(v for k, v in resp.headers if k == "Set-Cookie" and v.startswith("consent="))
        .split(";")[0]
        .split("=", 1)[1]
    )


def state_of(engine, value: str):
    return engine.consent_of(cookie_pairs(f"consent={value}"))


def test_genuine_cookie_is_a_decision(engine):
    assert state_of(engine, accepted_cookie(engine)).categories


def test_tampered_categories_are_no_decision(engine):
    value = accepted_cookie(engine)
    payload, sig = value.rsplit(".", 1)
    forged = payload.replace("analytics~", "advertising~", 1) + "." + sig
    assert forged != value and not state_of(engine, forged).decided


def test_tampered_signature_is_no_decision(engine):
    value = accepted_cookie(engine)
    assert not state_of(engine, value[:-2] + ("AA" if value[-2:] != "AA" else "BB")).decided


@pytest.mark.parametrize("cut", [1, 10, 40, -1])
def test_truncated_cookie_is_no_decision(engine, cut):
    assert not state_of(engine, accepted_cookie(engine)[:cut]).decided


def test_cookie_signed_with_an_unknown_key_is_no_decision(engine):
    other = Engine(engine.config, [b"x" * 32], clock=lambda: NOW)
    assert not state_of(engine, accepted_cookie(other)).decided


def test_cookie_signed_with_the_previous_key_still_counts_after_rotation(engine):
    before = Engine(engine.config, [OLD_KEY], clock=lambda: NOW)
    assert state_of(engine, accepted_cookie(before)).decided


def test_expired_cookie_is_no_decision(engine):
    old = Engine(engine.config, [KEY], clock=lambda: NOW - 400 * 86400)
    assert not state_of(engine, accepted_cookie(old)).decided


def test_cookie_from_the_future_is_no_decision(engine):
    future = Engine(engine.config, [KEY], clock=lambda: NOW + 3600)
    assert not state_of(engine, accepted_cookie(future)).decided


def signer_at(engine, revision: int) -> Signer:
    return Signer([KEY], 365, revision, engine.signer.digests)


def test_cookie_from_a_newer_revision_is_no_decision(engine):
    newer = signer_at(engine, 6)
    value = newer.encode(newer.decide(["analytics"], [], NOW))
    assert not signer_at(engine, 5).decode(value, NOW).decided


def test_replayed_cookie_from_an_older_revision_asks_again_and_grants_nothing(engine):
    older = signer_at(engine, 4)
    value = older.encode(older.decide(["analytics"], [], NOW))
    state = signer_at(engine, 5).decode(value, NOW)
    assert state.reask and state.categories == set()


def test_oversized_cookie_is_no_decision_even_when_signed(engine, monkeypatch):
    signer = engine.signer
    value = signer.encode(signer.decide([], [f"service-{i:04d}" for i in range(200)], NOW))
    assert not state_of(engine, value).decided
    monkeypatch.setattr(consent, "MAX_COOKIE_LEN", 1 << 20)
    assert state_of(engine, value).decided  # its size alone refused it


def signatures_checked(engine, monkeypatch, pairs: list[str]) -> tuple[bool, int]:
    """Whether a request sending these cookies (in Cookie lines of up to 8,000 bytes, as a
    head may hold) is granted anything, and how many HMACs it cost."""
    made = []
    sign = Signer._sign
    monkeypatch.setattr(Signer, "_sign", lambda self, k, p: made.append(p) or sign(self, k, p))
    fresh = Engine(engine.config, [KEY, OLD_KEY], clock=lambda: NOW)  # (nothing remembered)
    lines = [""]
    for pair in pairs:
        if len(lines[-1]) + len(pair) > 8000:
            lines.append("")
        lines[-1] += f"{pair}; "
    headers = [("Host", HOST), *(("Cookie", line) for line in lines)]
    ex = fresh.begin(Request("GET", "/", headers))
    assert ex.error is None
    return bool(ex.state.categories), len(made)


def test_a_head_full_of_consent_cookies_costs_a_bounded_number_of_signatures(engine, monkeypatch):
    """Each consent cookie is an HMAC per key to check: 2,400 forged ones (`consent=1234`,
    in the 32 KiB a head may hold) cost 4,800 HMACs, 10 ms of CPU for a request that costs
    10 µs. Past MAX_CONSENT_COOKIES distinct ones none is read (a refusal asked again: a
    sibling planting more only narrows the choice, as its one planted cookie could), and one
    sent many times is read once."""
    value = f"consent={accepted_cookie(engine)}"
    forged = [f"consent={i}" for i in range(2400)]
    assert signatures_checked(engine, monkeypatch, forged) == (False, 0)
    assert signatures_checked(engine, monkeypatch, [value, *forged[:300]]) == (False, 0)
    assert signatures_checked(engine, monkeypatch, [value] * 200) == (True, 1)
    some = forged[: MAX_CONSENT_COOKIES - 1]
    assert signatures_checked(engine, monkeypatch, [*some, value])[0]


# --- CSRF ---------------------------------------------------------------------------------

CHOICE = b'{"action": "accept-all"}'
FORM = b"action=accept-all&return=/shop"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": f"http://{HOST}.evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://[::1"},
    ],
    ids=[
        "other_origin",
        "opaque_origin",
        "suffix_origin",
        "cross_site_no_origin",
        "sibling_subdomain_no_origin",
        "unreadable_origin",  # an IPv6 bracket left open: urlsplit raises (a 500 before)
    ],
)
@pytest.mark.parametrize("path", ["choice", "me/erase"])
def test_cross_site_post_is_refused(engine, path, headers):
    resp = post(engine, path, CHOICE, **headers)
    assert resp.status == 403
    assert not any(k == "Set-Cookie" for k, _ in resp.headers)


@pytest.mark.parametrize(
    ("scheme", "origin", "status"),
    [
        ("https", f"http://{HOST}", 403),  # a page of the plain-http origin, over https
        ("https", f"HTTPS://{HOST}", 200),
        ("http", f"https://{HOST}", 200),  # (behind a TLS front the proxy does not trust)
        ("http", f"http://{HOST}", 200),
    ],
)
@pytest.mark.parametrize("path", ["choice", "grant"])
def test_over_https_a_choice_from_the_sites_plain_http_origin_is_refused(
    engine, scheme, origin, status, path
):
    """Whoever can write into the site's plain-http pages on the way (an open network)
    would otherwise choose, or grant an embed, for the visitor of the https site."""
    body = (
        CHOICE
        if path == "choice"
        else b'{"service": "youtube", "url": "https://www.youtube.com/embed/x"}'
    )
    hs = [("Host", HOST), ("Content-Type", "application/json"), ("Origin", origin)]
    resp = engine.begin(Request("POST", f"/.consent/{path}", hs, scheme=scheme)).local_response(
        body
    )
    assert resp.status == status, (resp.status, resp.body)


def test_same_site_form_without_javascript_still_works(engine):
    resp = post(
        engine,
        "choice",
        FORM,
        "application/x-www-form-urlencoded",
        Origin=f"http://{HOST}",
        Sec_Fetch_Site="same-origin",
    )
    assert resp.status == 303 and ("Location", "/shop") in resp.headers


@pytest.mark.parametrize("referer", [f"http://{HOST}/shop?x=1", "http://[::1/shop", "http://x/"])
def test_a_form_without_return_goes_back_to_its_referer_on_the_site_only(engine, referer):
    resp = post(
        engine,
        "choice",
        b"action=accept-all",
        "application/x-www-form-urlencoded",
        Origin=f"http://{HOST}",
        Referer=referer,
    )
    back = "/shop?x=1" if referer.startswith(f"http://{HOST}/") else "/"
    assert resp.status == 303 and ("Location", back) in resp.headers


# --- open redirect --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example/",
        "https://evil.example/",
        "/\t/evil.example",
        "\\evil.example",
        "/%0d%0aSet-Cookie:%20x=1",
        "javascript:alert(1)",
        "//%2fevil.example",
        " //evil.example",
        "/\x0b",
        "/\x0c",
        "/\x00",
        "/\x7f",
        "/a\x1fb",
    ],
)
def test_form_return_cannot_leave_the_site(engine, target):
    body = b"action=reject-all&return=" + quote(target.replace("\\t", "\t")).encode()
    resp = post(
        engine, "choice", body, "application/x-www-form-urlencoded", Origin=f"http://{HOST}"
    )
    location = dict(resp.headers)["Location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))
    assert "\r" not in location and "\n" not in location
    assert location.isascii() and location.isprintable()


def test_form_return_beyond_ascii_is_escaped(engine):
    body = b"action=reject-all&return=" + quote("/caf\u00e9?q=\u20ac").encode()
    resp = post(
        engine, "choice", body, "application/x-www-form-urlencoded", Origin=f"http://{HOST}"
    )
    assert dict(resp.headers)["Location"] == "/caf%C3%A9?q=%E2%82%AC"


def test_referer_from_another_site_is_no_return_target(engine):
    resp = post(
        engine,
        "choice",
        b"action=reject-all",
        "application/x-www-form-urlencoded",
        Origin=f"http://{HOST}",
        Referer="https://evil.example/phish",
    )
    assert dict(resp.headers)["Location"] == "/"


# --- JSON limits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 8000 + b"]" * 8000,
        b"[" * 16000,
        b'{"action": "save", "services": [{"a": 1}], "categories": [["x"]]}',
        b'{"action": ["accept-all"]}',
        b'{"action": "save", "categories": "analytics"}',
        b"\xff\xfe{}",
        b'{"action": "accept-all", "action": "reject-all"',
    ],
    ids=[
        "deeply_nested_array",
        "nested_16000_deep",
        "unhashable_names",
        "action_as_list",
        "categories_as_string",
        "not_utf8",
        "truncated_json",
    ],
)
def test_hostile_json_is_a_400_never_a_crash(engine, body):
    resp = post(engine, "choice", body, Origin=f"http://{HOST}")
    assert resp.status == 400
    assert not any(k == "Set-Cookie" for k, _ in resp.headers)


def test_oversized_body_is_413(engine):
    body = json.dumps({"action": "save", "categories": ["x" * 20000]}).encode()
    assert post(engine, "choice", body, Origin=f"http://{HOST}").status == 413


# --- reflected XSS ---------------------------------------------------------------------------

XSS = '"><script>alert(1)</script><img src=x onerror=alert(1)>'


def test_banner_does_not_reflect_the_url_or_headers(engine):
    ex = engine.begin(
        Request(
            "GET",
            "/p?q=" + quote(XSS, safe='"<>=()/'),
            [("Host", HOST), ("Accept-Language", XSS), ("Sec-Fetch-Dest", "document")],
        )
    )
    plan = ex.response(200, [("Content-Type", "text/html")])
    assert plan.body is not None
    out = plan.body.feed(b"<html><body><p>x</p></body></html>") + plan.body.close()
    assert b"<script>alert(1)" not in out and b"<img src=x onerror" not in out


def test_preferences_page_does_not_reflect_the_return_parameter(engine):
    ex = engine.begin(
        Request("GET", "/.consent/preferences?return=/" + quote(XSS), [("Host", HOST)])
    )
    page = ex.local_response(b"").body
    assert b"<script>alert(1)" not in page and b"<img src=x onerror" not in page


def test_config_strings_are_escaped_in_the_banner():
    quoted = json.dumps(XSS)
    config = parse_config(f"""
upstream: http://127.0.0.1:9
banner:
  texts: {{en: {{title: {quoted}, body: {quoted}, accept-all: {quoted}}}}}
categories:
  necessary: {{required: true}}
  analytics: {{title: {quoted}, description: {quoted}}}
services:
  - {{use: google-analytics, title: {quoted}}}
""")
    engine = Engine(config, [KEY], clock=lambda: NOW)
    ex = engine.begin(Request("GET", "/", [("Host", HOST), ("Sec-Fetch-Dest", "document")]))
    plan = ex.response(200, [("Content-Type", "text/html")])
    assert plan.body is not None
    out = plan.body.feed(b"<html><body></body></html>") + plan.body.close()
    assert b"&lt;script&gt;alert(1)" in out
    assert b"<script>alert(1)" not in out and b"<img src=x onerror" not in out


def test_non_ascii_cookie_is_no_decision_not_a_crash(engine):
    assert not state_of(engine, accepted_cookie(engine)[:-1] + "\x80").decided


# --- header injection through config and request headers --------------------------------

BASE = """upstream: http://127.0.0.1:9
categories:
  necessary: {required: true}
  analytics: {}
"""


@pytest.mark.parametrize(
    "extra",
    [
        'consent: {cookie_domain: "a.com\\r\\nX-Injected: 1"}',
        'consent: {cookie_name: "c\\r\\nX-Injected: 1"}',
        'consent: {cookie_name: "c; Domain=evil.example"}',
        'consent: {cookie_domain: "a.com; SameSite=None"}',
        'csp_allow: ["cdn.example\\r\\nX-Injected: 1"]',
        'csp_allow: ["cdn.example; script-src *"]',
        'csp_allow: ["cdn.example, default-src *"]',
        'csp_allow: ["cdn.example *"]',
        'prefix: "/.c\\r\\nX-Injected: 1/"',
        'services:\n  - {name: x, category: analytics, hosts: ["a.example; script-src *"]}',
    ],
    ids=[
        "cookie_domain_crlf",
        "cookie_name_crlf",
        "cookie_name_attribute",
        "cookie_domain_attribute",
        "csp_allow_crlf",
        "csp_allow_directive",
        "csp_allow_policy",
        "csp_allow_wildcard_source",
        "prefix_crlf",
        "service_host_directive",
    ],
)
def test_config_values_cannot_inject_headers_or_directives(extra):
    with pytest.raises(ConfigError):
        parse_config(BASE + extra)


def test_connection_header_cannot_strip_the_proxys_forwarding_headers(engine):
    ex = engine.begin(
        Request(
            "GET",
            "/",
            [
                ("Host", HOST),
                ("Connection", "X-Forwarded-For, X-Forwarded-Proto, Cookie"),
                ("X-Forwarded-For", "6.6.6.6"),
                ("Cookie", "_ga=1; PHPSESSID=s"),
            ],
            client_ip="10.0.0.1",
        )
    )
    sent = dict(ex.upstream_headers())
    assert sent["X-Forwarded-For"].endswith("10.0.0.1") and sent["X-Forwarded-Proto"] == "http"
    assert "Cookie" not in sent and "Connection" not in sent


# --- CSP violation reports -------------------------------------------------------------------

REPORT_URI_BODY = json.dumps(
    {
        "csp-report": {
            "document-uri": f"http://{HOST}/",
            "effective-directive": "script-src-elem",
            "violated-directive": "script-src-elem",
            "blocked-uri": "https://tracker.example/t.js",
        }
    }
)
REPORTING_API_BODY = json.dumps(
    [
        {
            "type": "csp-violation",
            "body": {
                "effectiveDirective": "img-src",
                "blockedURL": "https://pixel.example/p.gif?x=1",
            },
        }
    ]
)


def report(engine, body, ctype="application/csp-report"):
    ex = engine.begin(
        Request("POST", "/.consent/csp-report", [("Host", HOST), ("Content-Type", ctype)])
    )
    return ex, ex.local_response(body.encode() if isinstance(body, str) else body)


def test_csp_reports_are_counted_by_directive_and_host(engine):
    ex, resp = report(engine, REPORT_URI_BODY)
    assert resp.status == 204 and ex.report.csp_violations == [
        ("script-src-elem", "tracker.example")
    ]
    ex, resp = report(engine, REPORTING_API_BODY, "application/reports+json")
    assert ex.report.csp_violations == [("img-src", "pixel.example")]


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(
            {
                "csp-report": {
                    "effective-directive": "x" * 100 + "; evil",
                    "blocked-uri": "javascript:alert(1)",
                }
            }
        ),
        json.dumps({"csp-report": {"effective-directive": ["img-src"], "blocked-uri": 5}}),
    ],
)
def test_hostile_csp_reports_become_bounded_labels(engine, body):
    ex, resp = report(engine, body)
    assert resp.status == 204 and ex.report.csp_violations == [("other", "other")]


def test_csp_reports_past_the_host_cap_count_as_other(engine):
    fresh = Engine(engine.config, [KEY], clock=lambda: NOW)
    fresh.endpoints.reports.rate = 1e9
    for i in range(600):
        ex, _ = report(fresh, REPORT_URI_BODY.replace("tracker.example", f"t{i}.example"))
    assert ex.report.csp_violations == [("script-src-elem", "other")]
    assert len(fresh.endpoints.hosts_seen) == 500
    # what report-only is tuned by still counts by name: a host a service or the knowledge
    # base names (a burst of made-up hosts in anonymous reports blinded it for good)
    for host in ("www.googletagmanager.com", "connect.facebook.net", "cdn.segment.com"):
        ex, _ = report(fresh, REPORT_URI_BODY.replace("tracker.example", host))
        assert ex.report.csp_violations == [("script-src-elem", host)]


def test_csp_reports_name_only_directives_that_exist(engine):
    """A directive of the right shape but no CSP's is one more series per name a visitor
    makes up: counted as other."""
    fresh = Engine(engine.config, [KEY], clock=lambda: NOW)
    fresh.endpoints.reports.rate = 1e9
    named = set()
    for i in range(300):
        name = "made-up-" + "".join(chr(ord("a") + int(d)) for d in str(i))
        made_up = REPORT_URI_BODY.replace('"script-src-elem"', f'"{name}"')
        ex, _ = report(fresh, made_up.replace("tracker.example", "x.example"))
        named.update(directive for directive, _host in ex.report.csp_violations)
    assert named == {"other"}
    ex, _ = report(fresh, REPORT_URI_BODY.replace("script-src-elem", "Frame-Ancestors"))
    assert ex.report.csp_violations == [("frame-ancestors", "tracker.example")]


def test_csp_report_flood_is_rate_limited_and_bodies_bounded(engine):
    fresh = Engine(engine.config, [KEY], clock=lambda: NOW)
    statuses = [report(fresh, REPORT_URI_BODY)[1].status for _ in range(300)]
    assert statuses.count(204) < 150 and statuses[-1] == 429
    assert report(engine, "[" + "{}," * 10000 + "{}]")[1].status == 413
    assert report(engine, "[" * 16000)[1].status in (400, 429)
