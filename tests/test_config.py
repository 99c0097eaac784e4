import json
import os
import socket
from pathlib import Path

import pytest

from consentproxy.catalog.knowledge import LAYER_HEADER
from consentproxy.config import MAX_CSS, ConfigError, load_config, parse_config
from consentproxy.policy import Policy
from consentproxy.settings import Config
from tests.conftest import ROOT

MINIMAL = """\
upstream: http://127.0.0.1:8080
categories:
  necessary: {required: true}
  analytics: {title: {en: Audience, fr: Audience}}
services:
  - use: google-analytics
"""


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as e:
        parse_config(text, "site.yaml")
    return e.value


def test_minimal_config_gets_sane_defaults():
    c = parse_config(MINIMAL)
    assert (c.listen_host, c.listen_port, c.prefix, c.csp) == (
        "127.0.0.1",
        8000,
        "/.consent/",
        "report-only",
    )
    assert c.consent.max_age_days == 182 and c.consent.cookie_name == "consent"
    assert [s.name for s in c.services] == ["google-analytics"]


def test_builtin_service_category_can_be_overridden():
    c = parse_config(
        MINIMAL.replace("- use: google-analytics", "- {use: youtube, category: analytics}")
    )
    assert c.services[0].name == "youtube" and c.services[0].category == "analytics"


def test_custom_service_is_described_in_full():
    c = parse_config(
        MINIMAL
        + """\
  - name: legacy-tracker
    category: analytics
    hosts: [tracker.example.net, "*.tracker.example.net"]
    cookies: [trk_uid, "trk_*"]
    inline: ["trkPush("]
"""
    )
    svc = c.services[1]
    assert svc.hosts == ("tracker.example.net", "*.tracker.example.net")
    assert svc.inline == ("trkPush(",)


@pytest.mark.parametrize(
    ("text", "line", "hint"),
    [
        (MINIMAL.replace("upstream: http://127.0.0.1:8080", "upstream: ftp://x"), 1, "http://"),
        (MINIMAL + "csp: maybe\n", 7, "csp must be one of"),
        (MINIMAL + "bogus: 1\n", 7, "unknown key 'bogus'"),
        (MINIMAL.replace("use: google-analytics", "use: google-analytix"), 6, "catalog list"),
        (
            MINIMAL.replace("use: google-analytics", "use: google-analytix"),
            6,
            "'google-analytics'?",
        ),
        (MINIMAL.replace("use: google-analytics", "{use: youtube}"), 6, "not defined"),
        (MINIMAL + "consent: {max_age_days: 400}\n", 7, "at most 13 months"),
        (MINIMAL + "listen: localhost\n", 7, "HOST:PORT"),
        (MINIMAL + "services: []\n", 7, "appears twice"),
        ("upstream: [\n", 2, "not valid YAML"),
        ("upstream: http://127.0.0.1:9\n# a line\nlisten: 'x\0'\n", 3, "character U+0000"),
        (MINIMAL + "consent: {secret_env: A B}\n", 7, "no environment variable's name"),
        (  # (reported where the file ends: where the quote was opened is what helps)
            'upstream: http://127.0.0.1:9\ncsp: "report-only\nlisten: 127.0.0.1:8000\n\n',
            5,
            "while scanning a quoted scalar begun on line 2",
        ),
        (
            MINIMAL.replace("- use: google-analytics", "- {use: google-analytics, embed: video}"),
            6,
            "must be one of script, iframe, pixel",
        ),
        (MINIMAL.replace("necessary: {required: true}", "necessary: {}"), 3, "required: true"),
        (MINIMAL + "banner:\n  position: top\n", 8, "one of bar, box"),
        (MINIMAL + "banner:\n  colors: {accent: blue}\n", 8, "#rgb or #rrggbb"),
        (MINIMAL + "banner:\n  colors:\n    accent: '#9ab'\n", 9, "below the 4.5:1"),
        (MINIMAL + "banner:\n  texts: {en: {titel: Hi}}\n", 8, "'titel' (did you mean 'title'?)"),
        (MINIMAL + "consent: {max_age_day: 90}\n", 7, "(did you mean 'max_age_days'?)"),
        (MINIMAL + "csp: enforced\n", 7, "(did you mean 'enforce'?)"),
        (MINIMAL + "cps: enforce\n", 7, "unknown key 'cps' (did you mean 'csp'?)"),
        (MINIMAL + "banner:\n  css: missing.css\n", 8, "cannot read the CSS file"),
        (MINIMAL + "banner:\n  css: /etc/passwd\n", 8, "must name a .css file"),
        (
            MINIMAL.replace(
                "  - use: google-analytics", "  - use: google-analytics\n    cookies: ['*']"
            ),
            7,
            "claims every cookie of the site",
        ),
        (MINIMAL + "banner:\n  logo: javascript:alert(1)\n", 8, "http(s) URL"),
        (MINIMAL + "languages: [en, sv]\n", 7, "banner.texts.sv"),
        (
            MINIMAL + "banner:\n  texts:\n    fr: {gpc: 'Votre navigateur: {catégories} off'}\n",
            9,
            "{catégories} is filled in with nothing; this text takes {categories}",
        ),
        (MINIMAL + "banner:\n  texts: {en: {title: 'Hi {name}'}}\n", 8, "takes no {...}"),
    ],
)
def test_config_errors_name_file_line_and_fix(text, line, hint):
    err = error_of(text)
    assert str(err).startswith(f"site.yaml:{line}: "), str(err)
    assert hint in str(err)


def test_categories_too_many_for_the_consent_cookie_are_refused_at_their_line():
    """40 optional categories of 30 characters loaded, and accept-all then granted 25 of them
    (the choice narrowed to fit the cookie), telling the visitor a false text. Now a config
    whose categories alone are over the cookie's length is refused; 25 of them fit."""

    def named(count: int) -> str:
        names = "".join(f"  category-with-a-long-name-{i:03d}: {{}}\n" for i in range(count))
        return "upstream: http://127.0.0.1:9\ncategories:\n  necessary: {required: true}\n" + names

    err = error_of(named(40))
    assert str(err).startswith("site.yaml:3: "), str(err)
    assert "40 optional categories is 1,557 characters, over the 1,024" in str(err)
    assert "use fewer categories, or shorter category names" in str(err)
    assert len(parse_config(named(25)).categories) == 26


def test_css_that_could_break_out_of_its_style_element_is_refused(tmp_path: Path):
    (tmp_path / "x.css").write_text("a{}</style><script>alert(1)</script>")
    (tmp_path / "c.yaml").write_text(MINIMAL + "banner: {css: x.css}\n")
    with pytest.raises(ConfigError, match="without '<'"):
        load_config(tmp_path / "c.yaml")


def test_banner_css_over_the_limit_is_refused_at_its_line(tmp_path: Path):
    (tmp_path / "x.css").write_text("a{}" + " " * (MAX_CSS - 2))
    (tmp_path / "c.yaml").write_text(MINIMAL + "banner: {css: x.css}\n")
    with pytest.raises(ConfigError, match="c.yaml:7: .*x.css must be plain CSS under 32 KB"):
        load_config(tmp_path / "c.yaml")


@pytest.mark.parametrize(
    ("key", "said"),
    [("banner: {css: big.css}", "must be plain CSS under"), ("tracker_lists: [big.css]", "MiB")],
)
def test_a_file_over_its_limit_is_refused_after_its_limit(tmp_path: Path, key, said):
    """banner.css and tracker_lists were read whole before their size was checked."""
    (tmp_path / "big.css").write_bytes(b"a" * (33 << 20))
    (tmp_path / "c.yaml").write_text(MINIMAL + key + "\n")
    with pytest.raises(ConfigError, match=f"c.yaml:7: .*{said}"):
        load_config(tmp_path / "c.yaml")


@pytest.mark.parametrize("wrong", ["fifo", "/dev/zero", "directory"])
@pytest.mark.parametrize("key", ["banner: {css: x.css}", "tracker_lists: [x.css]"])
def test_a_css_file_or_tracker_list_that_is_no_regular_file_is_refused_unread(
    tmp_path: Path, key, wrong
):
    """A FIFO waited for a writer for ever (serve and check-config hung at start); /dev/zero
    was read to its limit."""
    named = tmp_path / "x.css"
    if wrong == "fifo":
        os.mkfifo(named)
    elif wrong == "directory":
        named.mkdir()
    else:
        named.symlink_to(wrong)
    (tmp_path / "c.yaml").write_text(MINIMAL + key + "\n")
    with pytest.raises(ConfigError, match=r"c.yaml:7: .*not a regular file \(a directory"):
        load_config(tmp_path / "c.yaml")


def test_a_language_missing_a_text_is_told_the_english_of_each_missing_key():
    """An upgrade adding a text (narrowed) stopped a config with a language of its own,
    saying only "missing narrowed": the error now gives the English to translate."""
    from consentproxy.banner.texts import TEXTS

    given = {k: f"sv {k}" for k in TEXTS["en"] if k not in ("narrowed", "reask")}
    lines = "".join(f"      {k}: '{v}'\n" for k, v in given.items())
    err = str(error_of(MINIMAL + "languages: [sv, en]\nbanner:\n  texts:\n    sv:\n" + lines))
    assert err.startswith("site.yaml:7: ") and "banner.texts.sv" in err
    english = ", ".join(f'{k}: "{TEXTS["en"][k]}"' for k in ("narrowed", "reask"))
    assert "missing, in English to translate {" + english + "}" in err


def test_a_new_language_with_all_its_texts_is_accepted():
    from consentproxy.banner.texts import TEXTS

    swedish = {k: f"sv {k}" for k in TEXTS["en"]}
    lines = "".join(f"      {k}: '{v}'\n" for k, v in swedish.items())
    c = parse_config(MINIMAL + "languages: [sv, en]\nbanner:\n  texts:\n    sv:\n" + lines)
    assert c.banner.text("sv")["accept-all"] == "sv accept-all"
    assert c.banner.text("en")["accept-all"] == "Accept all"


def test_missing_file_says_what_to_check(tmp_path: Path):
    with pytest.raises(ConfigError, match="check the path"):
        load_config(tmp_path / "nope.yaml")


def test_flags_override_the_file_and_are_validated():
    c = parse_config(MINIMAL).with_overrides("http://10.0.0.1:9000/", "0.0.0.0:9999")
    assert c.upstream == "http://10.0.0.1:9000" and c.listen_port == 9999
    with pytest.raises(ConfigError, match="^--listen: listen 'nope' must be HOST:PORT"):
        parse_config(MINIMAL).with_overrides(listen="nope")
    with pytest.raises(ConfigError, match="^--upstream: upstream 'ftp://x'"):  # (not the file)
        parse_config(MINIMAL).with_overrides(upstream="ftp://x")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "languages: [en, fr, en]\n",
            "site.yaml:7: languages must list at least one language, each once",
        ),
        ("  all: {}\n", "site.yaml:5: category name 'all' is a consent state's word"),
    ],
)
def test_a_language_twice_or_a_category_named_like_a_state_is_refused(text, said):
    """--state all or scan --states none could never select a category so named."""
    if text.startswith(" "):  # (a category of its own)
        text = MINIMAL.replace("services:", text + "services:")
    else:
        text = MINIMAL + text
    assert said in str(error_of(text))


@pytest.mark.parametrize(
    "host", ["127.1", "2130706433", "127.0.0.01", "0127.0.0.1", "1.2.3.4.5", "999.1.1.1"]
)
def test_an_upstream_ip_address_not_in_its_four_number_form_is_refused(host):
    """The resolver takes 127.1 as 127.0.0.1, so check-config passed it, and aiohttp refuses
    it: every request was a 502."""
    text = MINIMAL.replace("http://127.0.0.1:8080", f"http://{host}:8080")
    assert str(error_of(text)).startswith(f"site.yaml:1: upstream 'http://{host}:8080': {host}")
    assert "four numbers from 0 to 255" in str(error_of(text))
    with pytest.raises(ConfigError, match="^--upstream: .*such as 127.0.0.1"):
        parse_config(MINIMAL).with_overrides(upstream=f"http://{host}")


@pytest.mark.parametrize("host", ["127.0.0.1", "10.20.30.40", "255.255.255.255", "1host.example"])
def test_an_upstream_ip_address_in_its_four_number_form_or_a_name_is_kept(host):
    assert parse_config(MINIMAL.replace("127.0.0.1", host)).upstream == f"http://{host}:8080"


@pytest.mark.parametrize(
    ("upstream", "listen", "loops"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://localhost:8000/app", "127.0.0.1:8000", True),
        ("http://[::1]:8000", "0.0.0.0:8000", True),
        ("https://127.0.0.1", "127.0.0.1:443", True),
        ("http://127.0.0.1:8080", "127.0.0.1:8000", False),
        ("http://10.0.0.5:8000", "0.0.0.0:8000", False),  # (another machine, as far as known)
    ],
)
def test_the_upstream_cannot_be_the_proxys_own_address(upstream, listen, loops):
    """Each request came back to the proxy: one visit made ~10,000 requests, then a 502."""
    text = f"upstream: {upstream}\nlisten: {listen!r}\ncategories: {{n: {{required: true}}, a: {{}}}}\n"
    if not loops:
        assert parse_config(text).upstream == upstream
        return
    assert "site.yaml:1: upstream" in str(error_of(text)) and "own address" in str(error_of(text))
    with pytest.raises(ConfigError, match="^--upstream: upstream .* own address"):
        parse_config(MINIMAL).with_overrides(upstream=upstream, listen=listen)


@pytest.mark.parametrize("password", ["s3cret", "pa ss"])
def test_the_upstream_said_to_be_the_proxys_own_address_is_said_without_its_password(password):
    """serve printed the upstream whole, password and all, when it refused it at start or a
    reload (the reload's log line); one with a space, which the URL pattern stops at, too."""
    text = f"upstream: 'http://u:{password}@127.0.0.1:8000'\nlisten: '127.0.0.1:8000'\n"
    e = error_of(text + "categories: {n: {required: true}, a: {}}\n")
    assert "upstream http://u:***@127.0.0.1:8000 is this proxy's own address" in str(e), e


@pytest.mark.parametrize("password", ["pa/ss", "pa?ss", "pa#ss", "s3cret"])
def test_an_upstream_refused_is_named_without_its_password(password):
    """A password a URL parser cannot read whole ('/', '?', '#') was printed in the
    refusal, at start, in check-config and in the reload's log line."""
    text = f"upstream: 'http://user:{password}@origin.example:99999'\n"
    e = error_of(text + "categories: {n: {required: true}, a: {}}\n")
    assert password not in str(e) and "user:***@" in str(e), e


def test_sites_replace_the_upstream_for_forward_mode():
    c = parse_config(
        MINIMAL.replace(
            "upstream: http://127.0.0.1:8080", "sites: [www.example.com, '*.shop.example']"
        )
    )
    assert c.upstream is None and c.sites == ("www.example.com", "*.shop.example")
    assert c.is_site("WWW.example.com") and c.is_site("a.shop.example")
    assert not c.is_site("example.com") and not c.is_site("shop.example")


def test_a_site_with_a_scheme_is_refused_with_its_line():
    e = error_of(MINIMAL + "sites: [https://www.example.com]\n")
    assert e.line == 7 and "must be a lower-case host name" in str(e)


def test_without_upstream_or_sites_the_error_says_what_to_add():
    e = error_of(MINIMAL.replace("upstream: http://127.0.0.1:8080\n", ""))
    assert "missing 'upstream'" in str(e) and "sites:" in str(e)


def test_state_header_is_off_unless_a_test_config_turns_it_on():
    assert parse_config(MINIMAL).testing.state_header is False
    assert parse_config(MINIMAL + "testing: {state_header: true}\n").testing.state_header
    e = error_of(MINIMAL + "testing: {state_header: yes please}\n")
    assert "testing.state_header must be true or false" in str(e)


def test_consent_mode_is_on_with_google_services_and_maps_existing_categories():
    c = parse_config(MINIMAL)  # google-analytics: a Google service
    assert c.consent_mode["analytics_storage"] == ("analytics",)
    assert c.consent_mode["ad_storage"] == ()  # no advertising category: stays denied
    assert c.consent_mode["security_storage"] == ("necessary",)
    assert parse_config(MINIMAL + "consent_mode: false\n").consent_mode == {}
    custom = parse_config(MINIMAL + "consent_mode: {ad_storage: [analytics]}\n")
    assert custom.consent_mode["ad_storage"] == ("analytics",)
    assert "is not a category" in str(error_of(MINIMAL + "consent_mode: {ad_storage: [ads]}\n"))
    e = error_of(MINIMAL + "consent_mode: {ad_storage: [necessary]}\n")
    assert "site.yaml:7" in str(e) and "would be granted before any choice" in str(e)
    functional = MINIMAL.replace("necessary: {required: true}", "functional: {required: true}")
    assert parse_config(functional).consent_mode["personalization_storage"] == ()  # (not
    # granted before any choice by a required category, as an explicit mapping is refused)
    kept = parse_config(MINIMAL + "consent_mode: {security_storage: [necessary]}\n")
    assert kept.consent_mode["security_storage"] == ("necessary",)


@pytest.mark.parametrize(
    ("extra", "owner"),
    [
        (
            "consent: {cookie_name: PHPSESSID}\nnecessary_cookies: [PHPSESSID]\n",
            "necessary_cookies",
        ),
        ("consent: {cookie_name: _ga}\n", "the service google-analytics"),
        ("consent: {cookie_name: lang}\n", "language_cookie"),
        ("consent: {cookie_name: CookieConsent}\nformer_cmp: {tool: cookiebot}\n", "cookiebot"),
        ("consent: {cookie_name: klaro}\nformer_cmp: {tool: klaro}\n", "tool (klaro)"),
        (
            "consent: {cookie_name: cookieyes-consent}\nformer_cmp: {tool: cookieyes}\n",
            "tool (cookieyes)",
        ),
        ("consent: {cookie_name: PHPSESSID}\n", "PHP.net (Open Cookie Database)"),
    ],
)
def test_the_consent_cookie_takes_no_name_the_site_or_the_catalog_uses(extra, owner):
    """The origin cannot set the consent cookie: one named PHPSESSID dropped the site's
    session cookie (every login lost), then replaced it with the visitor's choice."""
    e = error_of(MINIMAL + extra)
    assert "site.yaml:7: consent.cookie_name" in str(e) and owner in str(e)
    assert parse_config(MINIMAL + "consent: {cookie_name: site_consent}\n")


def test_trusted_proxies_are_addresses_or_networks():
    c = parse_config(MINIMAL + "trusted_proxies: [127.0.0.1, 10.0.0.0/8, '::1']\n")
    assert [str(n) for n in c.trusted_proxies] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    assert parse_config(MINIMAL).trusted_proxies == ()
    e = error_of(MINIMAL + "trusted_proxies: [proxy.example.com]\n")
    assert "site.yaml:7" in str(e) and "CIDR" in str(e)


def test_limits_have_defaults_and_ranges():
    c = parse_config(MINIMAL + "limits: {html_bytes: 1048576, body_idle_seconds: 5}\n")
    assert c.limits.html_bytes == 1 << 20 and c.limits.body_idle_seconds == 5
    assert c.limits.request_head_bytes == parse_config(MINIMAL).limits.request_head_bytes
    assert "limits.html_bytes must be a whole number" in str(
        error_of(MINIMAL + "limits: {html_bytes: 10}\n")
    )
    assert "unknown key 'html_size'" in str(error_of(MINIMAL + "limits: {html_size: 1}\n"))


def test_texts_missing_a_language_of_the_config_are_warned_about():
    c = parse_config("""
upstream: http://127.0.0.1:8080
languages: [en, de]
categories:
  necessary: {required: true}
  analytics: {title: Audience}
  social: {}
services:
  - {use: youtube, purpose: Plays our videos.}
  - {name: counter, category: analytics, cookies: [cnt], title: {en: Counter, fr: Compteur}}
""")
    assert c.translation_warnings() == [
        "categories.analytics.title has no de text; visitors reading it see 'Audience'",
        "service youtube: purpose has no de text; visitors reading it see 'Plays our videos.'",
        "service counter: title has no de text; visitors reading it see 'Counter'",
    ]
    # Usual category names and the catalog's services speak every built-in language.
    assert c.category("social").title["de"] == "Soziale Netzwerke und Videos"


def test_records_may_be_kept_five_years_while_choices_last_thirteen_months_at_most():
    c = parse_config(MINIMAL + "records: {path: r.sqlite3, retention_days: 1826}\n")
    assert c.records.retention_days == 1826 and c.consent.max_age_days <= 395
    with pytest.raises(ConfigError, match="at most 5 years"):
        parse_config(MINIMAL + "records: {path: r.sqlite3, retention_days: 1827}\n")
    with pytest.raises(ConfigError, match="13 months"):
        parse_config(MINIMAL + "consent: {max_age_days: 396}\n")


# --- YAML's booleans where a word is meant ---------------------------------------------


@pytest.mark.parametrize("written", ["off", "Off", "no", "false", "'off'"])
def test_csp_off_unquoted_is_off_not_a_yaml_boolean(written):
    assert parse_config(MINIMAL + f"csp: {written}\n").csp == "off"


def test_csp_true_names_the_yaml_pitfall_and_the_words():
    err = str(error_of(MINIMAL + "csp: on\n"))
    assert err.startswith("site.yaml:7: ")
    assert "csp must be one of off, report-only, enforce" in err
    assert "YAML reads an unquoted on as true" in err


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("unknown_cookies: no\n", "YAML reads an unquoted no as false"),
        ("banner: {position: yes}\n", "YAML reads an unquoted yes as true"),
    ],
)
def test_words_that_yaml_reads_as_booleans_are_explained(text, hint):
    assert hint in str(error_of(MINIMAL + text))


def test_a_language_named_no_is_norwegian_not_false():
    texts = "".join(
        f"      {k}: 'nb {k}'\n"
        for k in __import__("consentproxy.banner.texts", fromlist=["TEXTS"]).TEXTS["en"]
    )
    c = parse_config(MINIMAL + "languages: [no, en]\nbanner:\n  texts:\n    no:\n" + texts)
    assert c.languages == ("no", "en") and c.banner.text("no")["title"] == "nb title"


def test_cookie_and_category_names_yaml_would_type_stay_text():
    c = parse_config(
        MINIMAL.replace("analytics: {title", "on: {title").replace(
            "- use: google-analytics", "- {use: google-analytics, category: on}"
        )
        + "necessary_cookies: [yes, 2024]\n"
    )
    assert [cat.name for cat in c.categories] == ["necessary", "on"]
    assert c.services[0].category == "on" and c.necessary_cookies == ("yes", "2024")


@pytest.mark.parametrize("written", ['"off"', "'no'", "'False'"])
def test_a_quoted_boolean_word_is_that_boolean(written):
    c = parse_config(
        MINIMAL + f"dnt: {written}\ncookie_database: {written}\nconsent_mode: {written}\n"
    )
    assert (c.dnt, c.cookie_database, c.consent_mode) == (False, False, {})


# --- a built-in's lists grow with what a config adds ----------------------------------


def test_cookies_added_to_a_builtin_service_extend_its_list():
    c = parse_config(
        MINIMAL.replace(
            "- use: google-analytics", "- {use: google-analytics, cookies: [_ga_custom, ga_uid]}"
        )
    )
    cookies = c.services[0].cookies
    assert cookies[:3] == ("_ga", "_ga_*", "_gid") and cookies[-2:] == ("_ga_custom", "ga_uid")


def test_a_name_the_builtin_has_is_not_listed_twice():
    c = parse_config(
        MINIMAL.replace(
            "- use: google-analytics", "- {use: google-analytics, cookies: [_gid, x_id]}"
        )
    )
    assert c.services[0].cookies.count("_gid") == 1 and "x_id" in c.services[0].cookies


def test_replace_says_which_builtin_lists_are_replaced():
    c = parse_config(
        MINIMAL.replace(
            "- use: google-analytics",
            "- {use: google-analytics, cookies: [_ga], inline: ['gaX('], replace: [cookies]}",
        )
    )
    svc = c.services[0]
    assert svc.cookies == ("_ga",)
    assert "gtag(" in svc.inline and "gaX(" in svc.inline  # not replaced: extended


@pytest.mark.parametrize(
    ("entry", "hint"),
    [
        ("{use: google-analytics, replace: [cookies]}", "needs the cookies list"),
        (
            "{use: google-analytics, cookies: [a], replace: [coookies]}",
            "is not a list of a service",
        ),
        (
            "{name: mine, category: analytics, cookies: [a], replace: [cookies]}",
            "only a built-in service",
        ),
    ],
)
def test_replace_mistakes_are_explained(entry, hint):
    err = error_of(MINIMAL.replace("- use: google-analytics", f"- {entry}"))
    assert err.line == 6 and hint in str(err)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("banner: {dpo: {email: not-an-address}}\n", "must be an address"),
        ("banner: {dpo: {phone: '0100'}}\n", "unknown key 'phone'"),
        ("banner: {dpo: {}}\n", "needs email, address or url"),
        ("banner: {cookie_policy_url: 'javascript:x'}\n", "http(s) URL"),
    ],
)
def test_dpo_and_policy_page_mistakes_are_explained(text, hint):
    err = error_of(MINIMAL + text)
    assert err.line == 7 and hint in str(err)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.domain)",
        "/\\\\evil.example",
        "//evil.example",
        "/\\t/evil.example",
    ],
)
@pytest.mark.parametrize("where", ["service", "banner", "dpo"])
def test_a_link_to_another_host_or_a_script_is_refused_wherever_it_is_given(url, where):
    """A service's privacy_url took any text, linked in the declaration as written (a
    javascript: URL ran on a click); `/\\evil.example` passed everywhere as a path, and
    browsers read it as `//evil.example`."""
    quoted = f'"{url}"'
    text = {
        "service": MINIMAL.replace(
            "- use: google-analytics", f"- {{use: google-analytics, privacy_url: {quoted}}}"
        ),
        "banner": MINIMAL + f"banner: {{privacy_url: {quoted}}}\n",
        "dpo": MINIMAL + f"banner: {{dpo: {{url: {quoted}}}}}\n",
    }[where]
    err = error_of(text)
    assert str(err).startswith(f"site.yaml:{6 if where == 'service' else 7}: "), str(err)
    assert "must be an http(s) URL or a path starting with / (not // or /\\" in str(err)


@pytest.mark.parametrize("url", ["https://example.net/privacy", "/privacy-policy", "/p?a=1#x"])
def test_a_service_privacy_url_on_the_web_or_the_site_is_kept(url):
    c = parse_config(
        MINIMAL.replace(
            "- use: google-analytics", f"- {{use: google-analytics, privacy_url: '{url}'}}"
        )
    )
    assert c.services[0].privacy_url == url


@pytest.mark.parametrize(
    ("text", "line", "said"),
    [
        (MINIMAL.replace("{title: {en: Audience, fr: Audience}}", "{title: {}}"), 4, "is empty"),
        (MINIMAL.replace("{en: Audience, fr: Audience}", "{en: Audience, fr: ' '}"), 4, "nothing"),
        (MINIMAL.replace("{en: Audience, fr: Audience}", '"\\u200b"'), 4, "nothing"),
        (MINIMAL + "banner:\n  texts: {en: {accept-all: ' '}}\n", 8, "nothing"),
        (MINIMAL + 'banner:\n  texts: {en: {accept-all: "\\u200b\\u2060"}}\n', 8, "nothing"),
        (MINIMAL + 'banner:\n  texts: {en: {title: "\\u3164 \\u0301"}}\n', 8, "nothing"),
        (
            MINIMAL.replace(
                "- use: google-analytics", '- {use: google-analytics, purpose: {fr: "\\t"}}'
            ),
            6,
            "nothing",
        ),
    ],
)
def test_a_blank_text_for_visitors_is_refused(text, line, said):
    """`title: {}` dropped the category's title, and a space or a zero-width space was a
    blank button: a choice nobody can read."""
    err = error_of(text)
    assert str(err).startswith(f"site.yaml:{line}: "), str(err)
    assert said in str(err) and "leave the key out for the built-in one" in str(err)


def test_a_text_with_something_visible_among_invisible_characters_is_kept():
    c = parse_config(MINIMAL + 'banner:\n  texts: {en: {accept-all: "\\u200bOK "}}\n')
    assert c.banner.texts["en"]["accept-all"] == "\u200bOK "


def test_regions_name_the_country_header_and_the_opt_out_places():
    c = parse_config(
        MINIMAL + "trusted_proxies: [10.0.0.0/8]\nregions:\n  header: CF-IPCountry\n"
        "  subdivision_header: CF-Region-Code\n  opt_out: [US-CA, US-CO, CA]\n"
    )
    assert c.regions is not None and c.regions.header == "CF-IPCountry"
    assert c.regions.subdivision_header == "CF-Region-Code"
    assert c.regions.opt_out == {"US-CA", "US-CO", "CA"}
    assert parse_config(MINIMAL).regions is None


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("regions: {header: CF-IPCountry, opt_out: [US]}\n", 7, "needs trusted_proxies"),
        (  # (an empty list trusts no one: the regions would never apply)
            "trusted_proxies: []\nregions: {header: CF-IPCountry, opt_out: [US]}\n",
            8,
            "needs trusted_proxies",
        ),
        ("trusted_proxies: [10.0.0.1]\nregions: {opt_out: [US]}\n", 8, "needs header"),
        ("trusted_proxies: [10.0.0.1]\nregions: {header: 'CF IPCountry'}\n", 8, "a header name"),
        (
            "trusted_proxies: [10.0.0.1]\nregions:\n  header: CF-IPCountry\n  opt_out: [us, USA]\n",
            10,
            "us, USA must be an upper-case ISO 3166 code",
        ),
        (
            "trusted_proxies: [10.0.0.1]\nregions:\n  header: CF-IPCountry\n  opt_out: [US-CA]\n",
            10,
            "give subdivision_header",
        ),
        ("trusted_proxies: [10.0.0.1]\nregions: {header: X-Country, opt_in: [FR]}\n", 8, "opt_in"),
    ],
)
def test_regions_errors_name_the_line_and_the_fix(text, line, says):
    e = error_of(MINIMAL + text)
    assert f"site.yaml:{line}" in str(e) and says in str(e)


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        (b"upstream: http://127.0.0.1:8080\n# caf\xe9\n", 2, "not UTF-8 (byte 0xe9)"),
        (
            b"upstream: http://127.0.0.1:8080\nconsent: {max_age_days: !!int abc}\n"
            + b"categories: {necessary: {required: true}, analytics: {}}\n",
            2,
            "drop the tag",
        ),
        (b"upstream: 'http://127.0.0.1:99999'\n", 1, "no number from 1 to 65535"),
        (b"upstream: 'http://127.0.0.1:0'\n", 1, "no number from 1 to 65535"),
        (b"upstream: 'http://[::1'\n", 1, "no number from 1 to 65535, or a malformed host"),
        (b"upstream: 'http://127.0.0.1:8080#x'\n", 1, "no query or fragment"),
        (b"upstream: 'http://shop..example'\n", 1, "or a malformed host"),  # (500s)
        (  # (a UnicodeError traceback when serve bound it)
            b"upstream: http://127.0.0.1:8080\nlisten: 'proxy..example:8000'\n",
            2,
            "listen 'proxy..example:8000' must be HOST:PORT",
        ),
        (b"upstream: 'http://127.0.0.1:8080/app?x=1'\n", 1, "no query or fragment"),
        (
            b"upstream: http://127.0.0.1:8080\nbanner: " + b"[" * 5000 + b"]" * 5000,
            None,
            "too deep",
        ),
    ],
)
def test_a_config_no_reader_takes_is_one_line_naming_file_and_line(tmp_path, text, line, says):
    """Each was a traceback (a file saved as Latin-1, a YAML tag, a deep nesting) or was
    accepted and failed every request (a port out of range: 500s; a fragment: the whole
    site served as its home page)."""
    f = tmp_path / "site.yaml"
    f.write_bytes(text)
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert e.value.line == line and says in str(e.value)


def test_a_file_far_larger_than_any_config_is_refused_unread(tmp_path):
    """A log or a dump given as --config was parsed for minutes."""
    f = tmp_path / "serve.log"
    f.write_text("INFO a request went through\n" * 40_000)  # (1.1 MB)
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert str(e.value) == (
        f"{f}: more than 1 MiB, which no config is; check the path given to --config"
    )


@pytest.mark.parametrize("wrong", ["fifo", "/dev/zero", "directory", "socket"])
def test_a_config_that_is_no_regular_file_is_refused_unopened(tmp_path, wrong):
    """check-config on a FIFO waited for a writer for ever; /dev/zero was read to its
    limit; a socket was "cannot read the file (No such device or address)"."""
    f = Path(wrong) if wrong.startswith("/") else tmp_path / wrong
    if wrong == "fifo":
        os.mkfifo(f)
    elif wrong == "directory":
        f.mkdir()
    elif wrong == "socket":
        listening = socket.socket(socket.AF_UNIX)
        listening.bind(str(f))
        listening.close()  # (the name stays, a socket's)
    with pytest.raises(ConfigError) as e:
        load_config(f, "check-config")
    assert str(e.value) == (
        f"{f}: not a regular file (a directory, a pipe or a device); give a regular file "
        "to check-config"
    )


@pytest.mark.parametrize("key", ["[bogus]", "{bogus: 1}"])
def test_a_key_that_is_a_list_or_mapping_is_named_plainly(key):
    """The error printed PyYAML's internal ScalarNode(...) text."""
    assert str(error_of(MINIMAL + f"{key}: 1\n")) == (
        "site.yaml:7: a key in the config is a list or mapping; keys are words"
    )


def test_records_are_kept_at_least_as_long_as_a_consent_lasts():
    """(7 days of records for 182 days of consent: the purge deleted the proof of consents
    still in force)"""
    with pytest.raises(ConfigError, match=r"retention_days \(7\) is shorter than .*\(182\)"):
        parse_config(
            MINIMAL + "consent: {max_age_days: 182}\nrecords: {path: r, retention_days: 7}\n"
        )
    parse_config(
        MINIMAL + "consent: {max_age_days: 182}\nrecords: {path: r, retention_days: 182}\n"
    )


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ("consent: {cookie_domain: .co.uk}\n", "no public suffix"),  # (browsers refuse it:
        ("consent: {cookie_domain: 10.0.0.1}\n", "no address"),  # no choice was ever kept)
        ("prefix: /../\n", "prefix must be a path"),  # (the banner's script went to the origin)
        ("prefix: /a/./b/\n", "prefix must be a path"),
        ("csp_allow: ['*']\n", "is no host"),  # (enforce then let every tracker through)
        ("csp_allow: [\"'unsafe-inline'\"]\n", "is no host"),
        ("csp_allow: [':::']\n", "is no host"),  # (browsers drop it: enforce blocked the host)
        ("csp_allow: ['https:']\n", "is no host"),
        ("csp_allow: ['data:']\n", "is no host"),
        ("csp_allow: ['cdn.example.com:x']\n", "is no host"),
        ("csp_allow: ['https://']\n", "is no host"),
    ],
)
def test_values_that_would_defeat_the_proxy_are_refused(extra, says):
    with pytest.raises(ConfigError, match=says):
        parse_config(MINIMAL + extra)


def test_csp_allow_takes_every_spelling_of_a_host_source():
    sources = [
        "cdn.example.com",
        "*.example.com",
        "https://cdn.example.com:8443/assets/",
        "wss://live.example.com",
        "cdn.example.com:*",
        "example.com.",
    ]
    assert parse_config(MINIMAL + f"csp_allow: {sources}\n").csp_allow == tuple(sources)


def readme_example(tmp_path: Path) -> Config:
    """The README's example config, loaded with the files it names."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("\n```", 1)[0]
    (tmp_path / "tracker-list.tsv").write_text(LAYER_HEADER + "\n")
    (tmp_path / "banner-extra.css").write_text(".cp-banner{border-radius:0}\n")
    config = tmp_path / "site.yaml"
    config.write_text(example)
    return load_config(config)


def test_the_readmes_example_config_loads(tmp_path: Path):
    """An operator starts from it: it listed a service twice, a subdomain as a registrable
    domain and a category it did not define, and was refused."""
    loaded = readme_example(tmp_path)
    assert loaded.upstream == "http://127.0.0.1:8080" and "advertising" in loaded.gpc


def test_the_readmes_example_holds_a_matomo_of_the_sites_own_on_a_host_of_its_own(
    tmp_path: Path,
):
    """A publisher's (or its agency's) own Matomo on a host no list names (a real page loaded
    analytics.w2media.online's piwik.js): the example shows how to give it to the built-in
    service, whose snippet (_paq.push) was held while its host was an unknown third party."""
    matomo = Policy(readme_example(tmp_path)).service_for_host("stats.example.net", "/matomo.js")
    assert matomo is not None and matomo.name == "matomo-cloud"


def test_yaml_merge_keys_share_settings_and_a_mappings_own_keys_win():
    """Operators share a service's or a category's settings with an anchor and `<<:` (it
    was refused as an unknown key '<<')."""
    config = parse_config(
        "upstream: http://127.0.0.1:8080\n"
        "categories:\n"
        "  necessary: {required: true}\n"
        "  analytics: &optional {title: Audience, description: Counts visits}\n"
        "  social: {<<: *optional, title: Social}\n"
        "services:\n"
        "  - &stats {name: stats-a, category: analytics, hosts: [stats.a.example]}\n"
        "  - <<: [*stats, {vendor: B}]\n"
        "    name: stats-b\n"
        "    hosts: [stats.b.example]\n"
    )
    by_name = {c.name: c for c in config.categories}
    assert by_name["social"].title == {"en": "Social"}
    assert by_name["social"].description == by_name["analytics"].description
    b = next(s for s in config.services if s.name == "stats-b")
    assert (b.category, b.hosts, b.vendor) == ("analytics", ("stats.b.example",), "B")


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("  - {<<: 3, name: x}\n", 8, "a merge key (<<) takes a mapping"),
        ("  - {<<: *s, nme: x}\n", 8, "unknown key 'nme'"),  # the merging line's own key
        ("  - {<<: {nme: x}, name: x}\n", 8, "unknown key 'nme'"),
    ],
)
def test_a_bad_merge_key_names_its_line(text, line, says):
    base = (
        "upstream: http://127.0.0.1:8080\ncategories:\n  necessary: {required: true}\n"
        "  analytics: {}\nservices:\n"
        "  - &s {name: a, category: analytics, hosts: [a.example]}\n"
        "  - {name: b, category: analytics, hosts: [b.example]}\n"
    )
    with pytest.raises(ConfigError) as e:
        parse_config(base + text)
    assert e.value.line == line and says in str(e.value)


# --- globals: the stand-ins the guard keeps for a held service --------------------------


def test_globals_take_the_three_forms_and_extend_a_builtins_list():
    from consentproxy.config import builtin_services

    c = parse_config(
        MINIMAL.replace(
            "- use: google-analytics",
            "- {use: google-analytics, globals: [gaLegacy()]}\n"
            "  - name: legacy-tracker\n"
            "    category: analytics\n"
            "    hosts: [tracker.example.net]\n"
            "    globals: [trk(), '_trkq[]', '$trk.cmd[]', trk_2()]\n",
        )
    )
    ga, mine = c.services
    assert ga.globals == (*builtin_services()["google-analytics"].globals, "gaLegacy()")
    assert mine.globals == ("trk()", "_trkq[]", "$trk.cmd[]", "trk_2()")
    replaced = parse_config(
        MINIMAL.replace(
            "- use: google-analytics",
            "- {use: google-analytics, globals: [ga()], replace: [globals]}",
        )
    )
    assert replaced.services[0].globals == ("ga()",)


@pytest.mark.parametrize(
    "entry",
    ["ga", "ga(", "ga(x)", "ga[0]", "window.ga()", "googletag.cmd()", "a.b.c[]", "1ga()",
     "ga ()", "ga-x()", "gä()", ".cmd[]", "ga[]()"],
)  # fmt: skip
def test_a_global_of_another_form_is_explained_with_its_line(entry):
    err = error_of(
        MINIMAL.replace(
            "- use: google-analytics",
            f"- use: google-analytics\n    globals:\n      - fbq()\n      - {entry!r}",
        )
    )
    assert err.line == 9 and f"global {entry!r} must be one of" in str(err)
    assert "name() (a function), name[] (an array) or name.prop[]" in str(err)
    assert err.source == "site.yaml" and str(err).startswith("site.yaml:9:")


@pytest.mark.parametrize("key", ["globals: [fbq()]", "cookies: [_x]"])
def test_a_service_listed_twice_is_named_at_its_own_line_whatever_its_lists(key):
    """The check of a list's entries reused the service's variable: "listed twice" named the
    line of its last global or cookie."""
    err = error_of(MINIMAL + f"  - use: google-analytics\n\n\n    {key}\n")
    assert "listed twice" in str(err) and err.line == 7


def test_the_catalog_names_the_globals_sites_call():
    from consentproxy.config import builtin_services

    want = {
        "google-analytics": ("ga()", "gtag()", "_gaq[]", "dataLayer[]"),
        "google-tag-manager": ("dataLayer[]",),
        "facebook-pixel": ("fbq()",),
        "google-ads": ("googletag.cmd[]",),
        "hotjar": ("hj()",),
        "x-pixel": ("twq()",),
        "linkedin-insight": ("lintrk()",),
    }
    services = builtin_services()
    for name, globals_ in want.items():
        assert services[name].globals == globals_, name
    assert services["tiktok-pixel"].globals == ()  # (ttq: an object with methods)


def test_metrics_on_the_proxys_own_port_is_refused_where_it_is_written():
    """(it passed check-config, and serve said only that the port "cannot be bound")"""
    with pytest.raises(ConfigError, match=r":8: metrics.listen port 8000 is listen's own"):
        parse_config(MINIMAL + "listen: 0.0.0.0:8000\nmetrics: {listen: '127.0.0.1:8000'}\n")
    c = parse_config(MINIMAL + "listen: 0.0.0.0:8000\nmetrics: {listen: '127.0.0.1:9100'}\n")
    assert c.metrics_listen == ("127.0.0.1", 9100)
    with pytest.raises(ConfigError, match=r":8: metrics.listen port 8000 is listen's own"):
        parse_config(MINIMAL + "listen: 127.0.0.1:8000\nmetrics: {listen: '127.0.0.1:8000'}\n")
    # (two addresses of the machine's may share a port: both bind)
    c = parse_config(MINIMAL + "listen: 10.0.0.5:8000\nmetrics: {listen: '127.0.0.1:8000'}\n")
    assert c.metrics_listen == ("127.0.0.1", 8000)


@pytest.mark.parametrize(
    ("entries", "said"),
    [
        ("[en, pt-BR]", "languages entry 'pt-BR' is no language code in lower case"),
        ("[EN-gb, fr]", "write en; regional variants are not told apart"),
        ("[en, pt_BR]", "write pt; regional variants are not told apart"),
        ("[EN, fr]", "did you mean 'en'?"),
        ("['zz\"><svg onload=alert(1)>', en]", "such as en or fr"),
    ],
)
def test_a_language_that_is_no_lower_case_primary_subtag_is_refused(entries, said):
    """pt-BR was accepted and never chosen (the page's, path's, cookie's and browser's
    languages are read as primary subtags: every request got en), and an entry went into
    the pages' lang attributes as written (helper-130)."""
    error = str(error_of(MINIMAL + f"languages: {entries}\n"))
    assert error.startswith("site.yaml:7: ") and said in error


@pytest.mark.parametrize(
    "text",
    [
        'banner: {texts: {en: {manage: "M\\ud800"}}}\n',
        '  ads: {title: {en: "Ads \\udfff"}}\n',
        '"\\ud83d": {}\n',  # (a key)
    ],
)
def test_a_lone_surrogate_anywhere_in_the_config_is_refused_at_its_line(text):
    """check-config passed it, then Engine() died with UnicodeEncodeError (helper-130)."""
    text = MINIMAL.replace("services:", text + "services:") if text[0] == " " else MINIMAL + text
    error = str(error_of(text))
    assert "lone surrogate" in error and error.endswith("remove the character")
    assert error.startswith(("site.yaml:5: ", "site.yaml:7: "))


@pytest.mark.parametrize(
    "tagged",
    [
        "dnt: !!bool 1",
        "dnt: !!bool abc",
        "consent: {max_age_days: !!int ''}",
        "consent: {max_age_days: !!float ''}",
        "consent: {max_age_days: !!int '-'}",
        "consent: {max_age_days: !!int '_'}",
        "csp: !!timestamp abc",
    ],
)
def test_a_tag_pyyaml_cannot_read_is_one_line_naming_its_line(tagged):
    """PyYAML's constructors raise KeyError, IndexError or AttributeError for these: every
    command was a traceback."""
    err = error_of(MINIMAL + tagged + "\n")
    assert str(err).startswith("site.yaml:7: cannot read ") and str(err).endswith("drop the tag")


@pytest.mark.parametrize(
    ("extra", "line", "says"),
    [
        ("csp_allow: ['*.com']\n", 7, "csp_allow entry '*.com' covers every site under"),
        ("csp_allow: ['https://*.co.uk:443/x']\n", 7, "'*.co.uk' covers every site"),
        ("csp_allow: ['*.github.io']\n", 7, "such as cdn.example.github.io"),
        ("sites: [www.example.com, '*.com']\n", 7, "site '*.com' covers every site under"),
        (
            "  - {name: shop-cdn, category: analytics, hosts: ['*.co.uk']}\n",
            7,
            "host '*.co.uk' covers every site under the public suffix co.uk",
        ),
        (
            "  - {name: shop-cdn, category: analytics, hosts: ['*.co.uk/js']}\n",
            7,
            "host '*.co.uk' covers",
        ),
    ],
)
def test_a_wildcard_over_a_public_suffix_is_refused(extra, line, says):
    """`csp_allow: ['*.com']` let every .com host load despite unknown_third_parties: block;
    a service's `*.co.uk` held a .co.uk site's own files; `sites: ['*.com']` had the addon
    rewrite every .com site the developer's browser visited."""
    err = error_of(MINIMAL + extra)
    assert str(err).startswith(f"site.yaml:{line}: ") and says in str(err), str(err)


def test_a_wildcard_under_a_site_of_a_public_suffix_is_kept():
    c = parse_config(
        MINIMAL
        + "  - {name: shop-cdn, category: analytics, hosts: ['*.shop.co.uk', '*.me.github.io']}\n"
        + "csp_allow: ['*.example.co.uk', 'https://*.me.github.io']\n"
    )
    assert c.services[1].hosts == ("*.shop.co.uk", "*.me.github.io")
    assert c.csp_allow == ("*.example.co.uk", "https://*.me.github.io")


@pytest.mark.parametrize(
    ("path", "encoded"),
    [("/a b", "/a%20b"), ("/a\tb", "/a%09b"), ("/caf\u00e9/", "/caf%C3%A9/")],
)
def test_an_upstream_path_no_request_line_carries_is_refused_with_its_encoding(path, encoded):
    """`/a b` went out as `GET /a b/x` (a malformed request line), a tab was dropped, and
    non-ASCII was sent raw."""
    upstream = "http://127.0.0.1:8080" + path
    err = error_of(MINIMAL.replace("http://127.0.0.1:8080", json.dumps(upstream)))
    said = f"in its path, which a request line cannot carry; percent-encode it: {encoded}"
    assert str(err).startswith("site.yaml:1: upstream ") and str(err).endswith(said)
    with pytest.raises(ConfigError) as flag:
        parse_config(MINIMAL).with_overrides(upstream=upstream)
    assert str(flag.value).startswith("--upstream: ") and str(flag.value).endswith(said)


def test_an_upstream_path_percent_encoded_is_kept():
    c = parse_config(MINIMAL.replace("8080", "8080/a%20b/caf%C3%A9"))
    assert c.upstream == "http://127.0.0.1:8080/a%20b/caf%C3%A9"


@pytest.mark.parametrize(
    ("written", "says"),
    [
        ("030", "YAML reads 030 as 24; write 30, not 030"),
        ("3:05", "YAML reads 3:05 as 185; write the number meant in decimal digits"),
        ("0b1_0", "YAML reads 0b1_0 as 2; write the number meant"),
        ("0x10", "YAML reads 0x10 as 16; write the number meant"),
        ("1_0", "YAML reads 1_0 as 10; write 10, not 1_0"),
        ("!!int 030", "write 30, not 030"),
    ],
)
def test_a_number_yaml_reads_in_another_base_is_refused(written, says):
    """`max_age_days: 030` was 24 days, `3:05` was 185: values other than those meant."""
    err = error_of(MINIMAL + f"consent: {{max_age_days: {written}}}\n")
    assert str(err).startswith("site.yaml:7: consent.max_age_days (at most 13 months): YAML")
    assert says in str(err)


@pytest.mark.parametrize("written", ["30", "+30"])
def test_a_number_in_decimal_digits_is_kept(written):
    assert (
        parse_config(MINIMAL + f"consent: {{max_age_days: {written}}}\n").consent.max_age_days == 30
    )


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (
            "listen: ':8000'\n",
            (
                "listen ':8000' names no host; write 0.0.0.0:8000 to listen on every "
                "interface, or 127.0.0.1:8000"
            ),
        ),
        (
            "metrics: {listen: ':9100'}\n",
            "metrics.listen ':9100' names no host; write 0.0.0.0:9100",
        ),
        ("listen: '[]:8000'\n", "names no host"),
        ("metrics: {listen: 9100}\n", "metrics.listen '9100' must be HOST:PORT"),
    ],
)
def test_a_listen_address_with_no_host_is_refused_naming_both_choices(extra, says):
    """`:8000` meant every interface, which nothing said; metrics must never be on the
    public address."""
    err = error_of(MINIMAL + extra)
    assert str(err).startswith("site.yaml:7: ") and says in str(err), str(err)
    if extra.startswith("listen"):
        with pytest.raises(ConfigError) as flag:
            parse_config(MINIMAL).with_overrides(listen=extra[9:-2])
        assert str(flag.value) == "--listen: " + str(err).removeprefix("site.yaml:7: ")


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (
            'hosts: ["https://stats.example/"]',
            "host 'https://stats.example/' of 'stats' is a URL; write it as a host: stats.example",
        ),
        (
            'hosts: ["http://WWW.Example.org:8080/Pixel"]',
            "write it as a host: www.example.org/Pixel",
        ),
        (
            'domains: ["https://stats.example/js"]',
            "of 'stats' is a URL; write the domain alone: stats.example",
        ),
    ],
)
def test_a_service_host_or_domain_written_as_a_url_is_refused_with_what_to_write(entry, says):
    """A URL pasted from the page said "must be lower-case like cdn.example.com": it was."""
    e = error_of(MINIMAL + f"  - name: stats\n    category: analytics\n    {entry}\n")
    assert str(e).endswith(says) and "lower-case" not in str(e), e


@pytest.mark.parametrize(
    ("entry", "line", "says"),
    [
        ("hosts: ['*.com']", 9, "host '*.com' covers every site under the public suffix com"),
        ("hosts: [stats.example:8080]", 9, "'stats.example:8080' of 'stats' must be written "),
        ("hosts: [Stats.Example/JS]", 9, "must be written stats.example/JS (lower case"),
        ("hosts: [bücher.example]", 9, "must be written xn--bcher-kva.example ("),
        ("hosts:\n      - a.example\n      - B.example", 11, "must be written b.example ("),
        ("hosts: [localhost]", 9, "'localhost' of 'stats' must be a host name with a dot"),
        ("domains: [Stats.Example]", 9, "domain 'Stats.Example' of 'stats' must be written "),
    ],
)
def test_a_service_host_that_is_no_host_pattern_is_told_what_is_wrong_at_its_line(
    entry, line, says
):
    """Every host pattern the config refused, '*.com' (a public suffix, refused in csp_allow
    with that reason), one with a port or in Unicode, got "must be lower-case like
    cdn.example.com", already true of most; and in a block list, the list's first line."""
    e = error_of(MINIMAL + f"  - name: stats\n    category: analytics\n    {entry}\n")
    assert e.line == line and says in str(e) and "must be lower-case" not in str(e), e


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (
            "  - {name: stats, hosts: [stats.example]}\n",
            "service 'stats' has no category; give it category: one of analytics, necessary",
        ),
        (
            "  - youtube\n",
            "a service entry is a mapping, not the word 'youtube'; write - use: youtube",
        ),
        ("  - stats.example\n", "write - use: NAME for a built-in (`consentproxy catalog list`)"),
    ],
)
def test_a_service_without_a_category_or_written_as_a_word_is_told_what_to_add(entry, says):
    """A service with no category was 'in category '(none)', which is not defined', and a
    built-in named alone ('- youtube', as sites and csp_allow are lists of words) 'must be a
    mapping (key: value lines)'."""
    e = error_of(MINIMAL + entry)
    assert e.line == 7 and says in str(e) and "(none)" not in str(e), e


@pytest.mark.parametrize(
    "entry",
    [
        "  - {name: stats, category: analytcs, hosts: [stats.example]}\n",
        "unknown_cookies: analytcs\n",
        "unknown_third_parties: analytcs\n",
        "unknown_third_parties: blok\n",
        "gpc: [analytcs]\n",
        "consent_mode: {analytics_storage: [analytcs]}\n",
        "cookie_database: {analytics: analytcs}\n",
        "former_cmp: {tool: onetrust, import: {C0002: analytcs}}\n",
    ],
)
def test_a_misspelt_category_name_is_told_which_was_meant(entry):
    """Keys and words misspelt got "(did you mean ...?)"; a category name, the most
    written word of a config, got only the list to read through."""
    e = error_of(MINIMAL + entry)
    meant = "block" if "blok" in entry else "analytics"
    assert f"(did you mean {meant!r}?)" in str(e), e


@pytest.mark.parametrize(
    "key",
    ["necessary_cookies: [&a wp-x, *a]", "csp_allow: [&a cdn.example.com, x.example.com, *a]"],
)
def test_a_list_naming_an_alias_twice_is_refused(key):
    """A 1 MiB config can repeat an alias of a long entry 100,000 times: each was checked as
    an entry of its own (csp_allow: 100,000 scans of 400 KB, more than 5 minutes at start,
    a hang). An entry twice means nothing, so the list is refused at its first repeat."""
    with pytest.raises(ConfigError, match=r"c\.yaml:7: .* the same entry twice through an alias"):
        parse_config(MINIMAL + key + "\n", "c.yaml")


def _aliased(services: int, path: int) -> str:
    """A config whose first service anchors a host of `path` bytes and the others alias it."""
    return (
        MINIMAL
        + f"  - {{name: s0, category: analytics, hosts: [&a a.example/{'p' * path}]}}\n"
        + "".join(
            f"  - {{name: s{i}, category: analytics, hosts: [*a]}}\n" for i in range(1, services)
        )
    )


def test_aliases_repeating_more_text_than_a_config_holds_are_refused_at_a_line():
    """12,000 services' hosts: [*a] of one 400 KB entry (a 1 MiB config) took 21-46 s to
    read, each repeat checked again (and check-config printed its warning 12,000 times):
    past 16 Mi characters repeated, the reader stops at the list that went over."""
    e = error_of(_aliased(450, 40_000))
    assert e.line == 7 + 419 and "aliases (*) repeat more than 16,777,216 characters" in str(e), e
    assert "anchored at line 7" in str(e) and "write a long entry once" in str(e), e


def test_aliases_repeating_many_short_values_are_refused_at_a_line():
    """Reading goes per value: 31 aliases of one 60,000-domain list (4 MB of text, under
    the budget counted in characters alone) took 29 s to read; each value now counts 64
    characters more, so the fourth alias goes over and the reader stops there."""
    domains = ", ".join(f"d{i}.ex" for i in range(60_000))
    text = (
        MINIMAL
        + f"  - {{name: s0, category: analytics, domains: &a [{domains}]}}\n"
        + "".join(f"  - {{name: s{i}, category: analytics, domains: *a}}\n" for i in range(1, 32))
    )
    e = error_of(text)
    assert (
        e.line == 7 + 4
        and "each key, value, list and mapping counted as 64 more than its text" in str(e)
    ), e


def test_merge_keys_of_every_service_are_not_counted_as_too_much():
    """Shared settings of a few hundred bytes, merged into each of 1,000 services, load."""
    stats = "{category: analytics, vendor: " + "Acme " * 40 + ", retention: 13 months}"
    text = (
        MINIMAL
        + f"  - &stats {{<<: {stats}, name: s0, hosts: [s0.example]}}\n"
        + "".join(
            f"  - {{<<: *stats, name: s{i}, hosts: [s{i}.example]}}\n" for i in range(1, 1000)
        )
    )
    assert len(parse_config(text, "c.yaml").services) == 1001


@pytest.mark.parametrize("used", ["linkedin-insight", "tiktok-pixel", "x-pixel", "facebook-pixel"])
def test_a_builtin_ad_tag_used_where_only_social_is_defined_is_social(used):
    """A config of social and no advertising (the seed policies' three categories) took
    `- use: linkedin-insight` while it was social; once the catalog filed social networks' ad
    tags under advertising, that config stopped serve ('category advertising, which is not
    defined'). The neighbour stands in, as it does for the cookie database's categories;
    a category given wins, and one with neither is still told."""
    three = "upstream: http://127.0.0.1:9\ncategories:\n  technical: {required: true}\n"
    three += "  audience: {}\n  social: {}\nservices:\n"
    (svc,) = parse_config(three + f"  - use: {used}\n", "t.yaml").services
    assert svc.category == "social"
    (svc,) = parse_config(three + f"  - {{use: {used}, category: audience}}\n", "t.yaml").services
    assert svc.category == "audience"
    with pytest.raises(ConfigError, match="not defined"):
        parse_config(three.replace("  social: {}\n", "") + f"  - use: {used}\n", "t.yaml")
