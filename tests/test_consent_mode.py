"""Google Consent Mode v2 advanced mode, an explicit per-service opt-in: the tag loads before
consent (the guard has pushed every signal denied first), its cookies still wait."""

import pytest

from consentproxy.banner.render import client_config
from consentproxy.config import ConfigError, parse_config
from consentproxy.consent import NO_DECISION, ConsentState
from consentproxy.engine import Engine, Request
from consentproxy.httpheaders import header
from consentproxy.policy import Policy

CONFIG = """\
upstream: http://127.0.0.1:9
csp: enforce
categories:
  necessary: {required: true}
  analytics: {}
  advertising: {}
services:
  - {use: google-tag-manager, consent_mode: advanced}
  - {use: google-analytics, consent_mode: advanced}
  - use: google-ads
  - use: facebook-pixel
"""
GTAG = (
    b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
    b"<script>window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push("
    b"arguments);} gtag('js', new Date()); gtag('config', 'G-1');</script>"
)
ADS = b'<script async src="https://pagead2.googlesyndication.com/pagead/show_ads.js"></script>'


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy(parse_config(CONFIG))


def test_an_advanced_tag_loads_before_consent_and_a_basic_one_is_held(policy):
    assert policy.blocked_host("www.googletagmanager.com", NO_DECISION, "/gtag/js") is None
    assert policy.blocked_host("region1.analytics.google.com", NO_DECISION, "/g/collect") is None
    assert policy.blocked_inline(b"gtag('config', 'G-1');", NO_DECISION) is None
    assert policy.blocked_host("pagead2.googlesyndication.com", NO_DECISION).name == "google-ads"
    assert policy.blocked_host("connect.facebook.net", NO_DECISION).name == "facebook-pixel"
    hosts = policy.allowed_hosts(NO_DECISION)  # an enforced CSP lets the tag in too
    assert "*.googletagmanager.com" in hosts
    assert not [h for h in hosts if "googlesyndication" in h or h == "*.doubleclick.net"]


def test_an_advanced_tags_cookies_still_wait_for_consent(policy):
    assert not policy.cookie_allowed("_ga", NO_DECISION)
    assert not policy.cookie_allowed("_ga_ABC123", NO_DECISION)
    assert policy.cookie_allowed("_ga", ConsentState(True, frozenset({"analytics"})))
    assert not policy.allows(policy.services["google-analytics"], NO_DECISION)  # not consent


def test_basic_is_the_default_and_holds_the_tag():
    basic = Policy(parse_config(CONFIG.replace(", consent_mode: advanced", "")))
    assert basic.blocked_host("www.googletagmanager.com", NO_DECISION, "/gtag/js") is not None
    assert basic.blocked_inline(b"gtag('config', 'G-1');", NO_DECISION) is not None
    assert all(s.consent_mode == "basic" for s in basic.config.services)
    explicit = parse_config(CONFIG.replace("consent_mode: advanced", "consent_mode: basic"))
    assert all(s.consent_mode == "basic" for s in explicit.services)


def test_the_guard_learns_which_services_load_before_consent(policy):
    services = {s[0]: s for s in client_config(policy)["services"]}
    assert services["google-analytics"] == ["google-analytics", "analytics", 1]
    assert services["google-tag-manager"] == ["google-tag-manager", "analytics", 1]
    assert services["google-ads"] == ["google-ads", "advertising"]
    # The signals all start denied (no optional category is allowed before consent).
    assert set(client_config(policy)["consentMode"]) >= {
        "ad_storage",
        "analytics_storage",
        "ad_user_data",
        "ad_personalization",
    }


def test_the_page_keeps_the_advanced_tag_and_the_proxy_strips_its_cookies(policy):
    engine = Engine(policy.config, [b"k" * 32])
    ex = engine.begin(
        Request(
            "GET", "/", [("Host", "shop.example.com"), ("Cookie", "_ga=GA1.1.1.1; PHPSESSID=s")]
        )
    )
    assert header(ex.upstream_headers(), "cookie") == "PHPSESSID=s"
    plan = ex.response(
        200, [("Content-Type", "text/html"), ("Set-Cookie", "_ga=GA1.1.2.2; Path=/")]
    )
    cookies = [v for k, v in plan.headers if k == "Set-Cookie"]
    assert not any(c.startswith("_ga=GA1") for c in cookies)
    assert any(c.startswith("_ga=; Max-Age=0") for c in cookies)
    policy_header = header(plan.headers, "content-security-policy")
    assert "*.googletagmanager.com" in policy_header and "googlesyndication" not in policy_header
    out = plan.body.feed(b"<html><head>" + GTAG + ADS + b"</head><body></body></html>")
    out += plan.body.close()
    assert GTAG in out  # untouched: src, type and the inline snippet
    assert ADS not in out and b'data-consent-blocked="google-ads"' in out


@pytest.mark.parametrize(
    ("entry", "line", "says"),
    [
        (
            "  - {use: facebook-pixel, consent_mode: advanced}\n",
            11,
            "consent_mode: advanced is for Google tags",
        ),
        (
            "  - {use: facebook-pixel, consent_mode: on}\n",
            11,
            "consent_mode of 'facebook-pixel' must be one of basic, advanced",
        ),
    ],
)
def test_advanced_mode_errors_name_the_line(entry, line, says):
    with pytest.raises(ConfigError) as e:
        parse_config(CONFIG.replace("  - use: facebook-pixel\n", entry), "site.yaml")
    assert f"site.yaml:{line}" in str(e.value) and says in str(e.value)


def test_advanced_mode_needs_consent_mode_on():
    with pytest.raises(ConfigError) as e:
        parse_config(CONFIG + "consent_mode: false\n", "site.yaml")
    assert "site.yaml:12: consent_mode: false, but google-tag-manager, google-analytics" in str(
        e.value
    )


def test_a_server_side_tagging_host_of_googles_may_be_advanced_too():
    config = parse_config(
        CONFIG
        + """\
  - name: sgtm
    category: analytics
    vendor: Google
    hosts: [sgtm.example.com]
    consent_mode: advanced
"""
    )
    assert Policy(config).blocked_host("sgtm.example.com", NO_DECISION) is None
