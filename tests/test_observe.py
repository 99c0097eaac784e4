"""Observe mode and check-config warnings: what the operator should add to the config."""

import yaml

from consentproxy import observe
from consentproxy.config import parse_config
from consentproxy.engine import Engine, Request
from consentproxy.observe import config_warnings
from consentproxy.policy import Policy

HTML = [("Content-Type", "text/html")]
PAGE = (
    b'<html><head><script src="https://cdn.unknown-tracker.example/t.js"></script>'
    b'<script src="https://www.google-analytics.com/analytics.js"></script>'
    b'<img src="https://static.shop.example.com/logo.png"></head><body></body></html>'
)


def observed(config):
    lines: list[str] = []
    engine = Engine(config, [b"k" * 32], observe=lines.append)
    return engine, lines


def page(engine, markup, path="/"):
    """markup served as a page at path (what it loads observed)."""
    ex = engine.begin(Request("GET", path, [("Host", "www.shop.example.com")]))
    plan = ex.response(200, HTML)
    plan.body.feed(markup)
    plan.body.close()


def visit(engine, cookie="", set_cookies=()):
    ex = engine.begin(
        Request(
            "GET",
            "/",
            [("Host", "www.shop.example.com")] + ([("Cookie", cookie)] if cookie else []),
        )
    )
    ex.upstream_headers()
    plan = ex.response(200, HTML + [("Set-Cookie", c) for c in set_cookies])
    assert plan.body is not None
    plan.body.feed(PAGE)
    plan.body.close()


def test_observe_reports_each_unnamed_cookie_and_host_once_with_counts(config):
    engine, lines = observed(config)
    visit(engine, "_ga=1; mystery=2; PHPSESSID=s", ["__insp_uid=3", "_pk_id.1.ab=4"])
    visit(engine, "mystery=2")
    cookie_lines = [line for line in lines if line.startswith("observe: cookie")]
    assert len(cookie_lines) == 3  # mystery, __insp_uid, _pk_id; _ga and PHPSESSID are named
    assert (
        "'mystery' is named by no service (nor in the cookie declaration); treated as "
        "unknown (unknown_cookies: block)"
    ) in cookie_lines[0]
    assert "Inspectlet (Analytics), so it counts as analytics" in cookie_lines[1]
    assert (
        "built-in service 'matomo-cloud' names it, so it counts as analytics; add "
        "`- use: matomo-cloud`" in cookie_lines[2]
    )
    hosts = [line for line in lines if "host" in line]
    assert hosts == [
        (
            "observe: third-party host 'cdn.unknown-tracker.example' on / is named by "
            "no service (nor in the cookie declaration): unknown to the "
            "knowledge base: loads "
            "(unknown_third_parties: allow)"
        )
    ]
    assert engine.observer.cookies["mystery"] == 2
    assert engine.observer.summary()[0].startswith("cookie 'mystery': 2 times")


def test_a_visitors_made_up_cookie_names_are_counted_up_to_a_bound(config, monkeypatch):
    """Each name a visitor sends was counted and logged: made-up names on every request grew
    the counts and the log without end. Past MAX_OBSERVED, one line; the rest uncounted."""
    monkeypatch.setattr(observe, "MAX_OBSERVED", 5)
    engine, lines = observed(config)
    for i in range(4):
        visit(engine, f"made_up_{2 * i}=1; made_up_{2 * i + 1}=1")
    assert engine.observer is not None and len(engine.observer.cookies) == 5
    said = [line for line in lines if "cookie 'made_up_" in line]
    full = "observe: 5 distinct cookie names seen; the others are not counted (made-up names"
    assert len(said) == 5 and [line for line in lines if "distinct cookie" in line] == [
        full + " from a visitor or a page?)"
    ]
    visit(engine, "made_up_0=1")
    assert engine.observer.cookies["made_up_0"] == 2  # (those counted still are)


def test_observe_gives_each_third_party_the_knowledge_bases_verdict(config):
    engine, lines = observed(config)
    page(
        engine,
        b'<script src="https://static.chartbeat.com/c.js"></script>'
        b'<script src="https://cdn.jsdelivr.net/npm/x.js"></script>'
        b'<img src="https://img.shop.example.com/a.png">',
        "/news/1?x=2",
    )
    assert sorted(lines) == [
        (
            "observe: third-party host 'cdn.jsdelivr.net' on /news/1 is named by no service (nor "
            "in the cookie declaration): known, not a tracker: jsDelivr (cdn, WhoTracks.me)"
        ),
        (
            "observe: third-party host 'static.chartbeat.com' on /news/1 is named by no service "
            "(nor in the cookie declaration): known tracker ChartBeat (WhoTracks.me): held until analytics is accepted"
        ),
    ]
    summary = engine.observer.summary()
    assert (
        "  - name: chartbeat" in summary
        and "csp_allow: [cdn.jsdelivr.net]  # known, not trackers (for csp: enforce)" in summary
    )


def test_observing_is_off_unless_asked(config):
    engine = Engine(config, [b"k" * 32])
    assert engine.observer is None
    ex = engine.begin(Request("GET", "/", [("Host", "a.example"), ("Cookie", "mystery=1")]))
    ex.upstream_headers()
    assert not ex.report.cookies_seen


BASE = """\
upstream: http://127.0.0.1:9
categories:
  necessary: {required: true}
  analytics: {}
"""


def warned(extra: str) -> str:
    """What check-config warns of in BASE + extra, one warning a line."""
    return "\n".join(config_warnings(Policy(parse_config(BASE + extra))))


def test_check_config_warns_about_what_looks_wrong():
    warnings = config_warnings(
        Policy(
            parse_config(
                BASE
                + """\
unknown_cookies: allow
necessary_cookies: [_gid, __insp_uid, _fbp]
services:
  - use: google-analytics
  - {name: inline-only, category: analytics, inline: ["track("]}
  - {name: twin, category: analytics, domains: [google-analytics.com]}
"""
            )
        )
    )
    text = "\n".join(warnings)
    assert "service 'inline-only' names only inline markers" in text
    assert "host 'google-analytics.com' is listed by 'google-analytics' and 'twin'" in text
    assert (
        "necessary_cookies lists '_gid', which the optional service 'google-analytics' names too"
        in text
    )
    assert (
        "necessary_cookies lists '__insp_uid', which the Open Cookie Database gives to "
        "Inspectlet (Analytics)" in text
    )
    assert (
        "necessary_cookies lists '_fbp', which the built-in service 'facebook-pixel' "
        "sets for advertising" in text
    )
    assert "unknown_cookies: allow lets every cookie" in text
    assert "Open Cookie Database advertising cookies have no category here" in text


def test_check_config_warns_of_cookies_a_pattern_or_two_services_take_from_a_category():
    """necessary_cookies: ["_*"] sent Google Analytics' _ga without consent, and a cookie of
    an analytics and a necessary service went by the first: check-config said nothing."""
    text = "\n".join(
        config_warnings(
            Policy(
                parse_config(
                    BASE
                    + """necessary_cookies: ["_*", "sess*"]
services:
  - use: google-analytics
  - {name: a, category: analytics, cookies: [sid]}
  - {name: b, category: necessary, cookies: [sid, sess_id]}
"""
                )
            )
        )
    )
    assert "necessary_cookies' pattern '_*' takes '_ga', '_ga_*', '_gid'" in text
    assert "(google-analytics): sent without consent" in text
    assert "pattern 'sess*'" not in text  # (only a necessary service's cookie)
    assert "cookie 'sid' is listed by 'a' (analytics) and 'b' (necessary)" in text


def test_check_config_warns_of_a_host_another_services_domain_holds():
    """A service's exact host under a used built-in's domain takes it (the exact host wins):
    www.google-analytics.com made necessary loaded Google Analytics before any choice, and
    check-config said nothing. The catalog's own overlap is meant and not warned of."""
    text = warned(
        """services:
  - use: google-analytics
  - {use: google-ads, category: analytics}
  - {name: cdn, category: necessary, hosts: [www.google-analytics.com, static.example]}
  - {name: maps, category: analytics, hosts: ["*.maps.example", "a.maps.example/x"]}
"""
    )
    assert (
        "host 'www.google-analytics.com' of 'cdn' (necessary) is under 'google-analytics''s "
        "'google-analytics.com' (analytics)" in text
    )
    assert "static.example" not in text
    assert "lists 'www.google-analytics.com'" not in text  # (the warning above says it)
    assert "maps.example" not in text  # (one service's own entries)
    assert "stats.g.doubleclick.net" not in text


def test_check_config_warns_under_csp_enforce_of_services_the_policy_cannot_tell_apart():
    """helper-91 in Chromium 156: a visitor who accepted social only loaded the Facebook
    pixel's script under `csp: enforce`, let in by facebook-social's connect.facebook.net/
    and *.facebook.com. Paths apart (cdn.example/stats/, /fonts/) and report-only are not
    warned of."""
    services = """services:
  - use: facebook-social
  - use: facebook-pixel
  - {name: stats, category: analytics, hosts: ["cdn.example/stats/"]}
  - {name: fonts, category: social, hosts: ["cdn.example/fonts/"]}
"""
    base = BASE + "  social: {}\n  advertising: {}\n"

    def warned(extra: str) -> str:
        return "\n".join(config_warnings(Policy(parse_config(base + extra))))

    text = warned("csp: enforce\n" + services)
    assert (
        "accepting social (facebook-social) lets in facebook-pixel (advertising) at "
        "https://www.facebook.com/tr: the policy's source *.facebook.com cannot tell them apart"
    ) in text
    assert "accepting advertising (facebook-pixel) lets in facebook-social (social)" in text
    assert "cdn.example" not in text
    assert "lets in" not in warned(services)


def test_check_config_warns_of_a_known_tracker_made_necessary():
    text = warned(
        """services:
  - {name: cdn, category: necessary, hosts: [connect.facebook.net, "www.google.com/maps"]}
  - {name: mine, category: analytics, hosts: [static.hotjar.com]}
"""
    )
    assert (
        "'cdn' (necessary: no consent asked) lists 'connect.facebook.net', a tracker's "
        "(Meta (Facebook) Pixel, advertising, says the built-in catalog)" in text
    )
    assert "'www.google.com/maps', a tracker's (Google Maps, social" in text
    assert "hotjar" not in text  # (held until consent all the same)


def test_check_config_warns_of_settings_that_do_nothing_or_trust_everyone():
    """Texts of a language not in `languages` (never shown), trusted_proxies 0.0.0.0/0 (any
    client picks its scheme and its country's regime), and an opt-out region where GPC
    refuses nothing: all accepted without a word."""
    text = "\n".join(
        config_warnings(
            Policy(
                parse_config(
                    BASE
                    + "banner: {texts: {de: {title: Hallo}}}\n"
                    + "trusted_proxies: [0.0.0.0/0, 10.0.0.0/8]\n"
                    + "regions: {header: CF-IPCountry, opt_out: [US]}\n"
                )
            )
        )
    )
    assert "banner.texts.de is for a language not in languages (en, fr): no visitor" in text
    assert "trusted_proxies 0.0.0.0/0 trusts every client" in text
    assert "10.0.0.0/8" not in text
    assert "in the opt-out regions a browser's Global Privacy Control signal changes" in text


def test_a_sound_config_has_no_warnings(config):
    assert config_warnings(Policy(config)) == []


def test_check_config_warns_of_a_csp_longer_than_a_page_s_head_can_carry():
    """(3,000 csp_allow hosts made every page's head 65 KB; nothing said so)"""
    hosts = ", ".join(f"cdn{i}.example.net" for i in range(600))
    assert "the CSP of a visitor who accepts everything is" in warned(f"csp_allow: [{hosts}]\n")
    assert "the CSP" not in warned(f"csp_allow: [{hosts}]\ncsp: 'off'\n")
    assert "the CSP" not in warned("csp_allow: [cdn.example.net]\n")


def test_check_config_warns_of_services_too_many_to_choose_one_by_one():
    """(a visitor ticking 40 such services got a cookie the proxy would not read: now a
    choice refused, said here beforehand)"""

    def services(count: int) -> str:
        return "services:\n" + "".join(
            f"  - {{name: vendor-service-number-{i:02d}, category: analytics, "
            f"hosts: [t{i}.example.net]}}\n"
            for i in range(count)
        )

    assert "gets a consent cookie of up to 1,077 characters, over the 1,024" in warned(services(40))
    assert "consent cookie" not in warned(services(30))


def test_a_pages_made_up_hosts_put_no_config_lines_in_what_suggest_prints(config):
    """A page's URL names any host it likes (%-escapes decoded): 'a.com, evil.example,
    x.cdn.jsdelivr.net' is a known non-tracker's, and was printed in csp_allow's list, which
    the operator pastes as three entries; a line break left the comment of an unknown one.
    What is no host name is in no config line, the page's names in none but as counted."""
    engine, _ = observed(config)
    page(
        engine,
        b'<img src="https://a.com,%20tracker.evil.example,%20x.cdn.jsdelivr.net/p.png">'
        b'<img src="https://x%0acsp_allow%20[*]%0a%23.nobody.example/p.png">'
        b'<img src="https://&anchor.cdn.jsdelivr.net/p.png">'
        b'<script src="https://cdn.jsdelivr.net/npm/x.js"></script>',
    )
    summary = engine.observer.summary()
    lines = observe.suggest(engine.policy, engine.observer.hosts, "shop.example.com")
    assert lines == summary[-len(lines) :]
    printed = "\n".join(lines)
    assert yaml.safe_load(printed) == {"csp_allow": ["cdn.jsdelivr.net"]}
    assert "evil" not in printed and "anchor" not in printed and "nobody" not in printed
    assert lines[-1] == "# 3 seen that are no host names, left out (a page's made-up URLs?)"


def test_a_visitors_path_in_an_observe_line_is_one_line_of_plain_characters(config):
    """A line names the page a host was first seen on, the path the visitor asked for:
    serve's parser (aiohttp's) takes C1 controls in it (U+009B, a CSI to xterm; U+0085, a
    line break to str.splitlines) and U+2028; they reached the log raw."""
    engine, lines = observed(config)
    path = "/\x1b]0;owned\x07\x9b2J\x85observe: forged\u2028x"
    page(engine, b'<img src="https://cdn.unknown-tracker.example/p.png">', path)
    assert len(lines) == 1 and lines[0].isprintable(), lines
    assert "on /\\x1b]0;owned\\x07\\x9b2J\\x85observe: forged\\u2028x is named" in lines[0]
