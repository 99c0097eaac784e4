"""The Open Cookie Database: parsing, lookup, category mapping, and its use by the policy."""

import pytest

from consentproxy.catalog.ocd import (
    DATABASE_FILE,
    CookieDatabase,
    CookieRecord,
    cookie_database,
    parse_database,
    snapshot_text,
)
from consentproxy.config import ConfigError, parse_config
from consentproxy.consent import NO_DECISION, ConsentState
from consentproxy.engine import Engine, Request
from consentproxy.policy import NEVER, Policy
from tests.configs import FOUR_CATEGORIES as BASE

# The upstream CSV's layout (all its columns), three rows in the upstream's own shape.
UPSTREAM = """\
ID,Platform,Category,Cookie / Data Key name,Domain,Description,Retention period,\
Data Controller,User Privacy & GDPR Rights Portals,Wildcard match
1,Acme Ads,Marketing,acme_uid,acme.example (3rd party),"Tracks, across sites",1 year,Acme,,0
2,Acme Ads,Marketing,acme_,acme.example,"Prefix row",30 days,Acme,,1
3,Facebook,Marketing,fbx_test,,Social,90 days,Meta,,0
4,Shop,Functional,shop_cart,,Basket,session,Shop,,0
5,Shop,Personalization,shop_theme,,Theme,1 year,Shop,,0
"""
ANALYTICS = ConsentState(decided=True, categories=frozenset({"analytics"}))
# A policy's own words: technical (required) and audience.
TECHNICAL = """\
upstream: http://127.0.0.1:9
categories:
  technical: {required: true}
  audience: {}
"""


@pytest.fixture(scope="module")
def database() -> CookieDatabase:
    return CookieDatabase(parse_database(UPSTREAM, "ocd.csv"))


def test_categories_map_to_ours_and_social_platforms_to_social(database):
    assert database.lookup("acme_uid").category == "advertising"
    assert database.lookup("fbx_test").category == "social"
    assert database.lookup("shop_cart").category == "necessary"
    assert database.lookup("shop_theme").category == "functional"


def test_wildcard_rows_match_by_prefix_and_exact_names_win(database):
    assert database.lookup("acme_12345").retention == "30 days"
    assert database.lookup("acme_uid").retention == "1 year"
    assert database.lookup("acm") is None and database.lookup("xacme_1") is None


def test_a_name_is_looked_up_only_under_the_prefixes_it_may_start_with():
    """Each name was sliced and looked up for each of the snapshot's 38 prefix lengths: a
    Cookie header of thousands of names nobody names cost 5 ms a thousand (helper-247). Now
    only for the lengths of the prefixes of its first two characters (and of any shorter
    than two); what is found is the same."""

    class Counted(dict[str, CookieRecord]):
        asked = 0

        def get(self, key, default=None):  # type: ignore[override]
            Counted.asked += 1
            return super().get(key, default)

    db = cookie_database()
    shipped = CookieDatabase([*db.exact.values(), *db.prefixes.values()])
    shipped.prefixes = Counted(shipped.prefixes)
    assert shipped.lookup("zz" + "z" * 60) is None and Counted.asked == 0
    assert shipped.lookup("_ga_ABC123") is db.lookup("_ga_ABC123") is not None
    assert Counted.asked < 5
    short = CookieRecord("x", "X", "advertising", "Marketing", "", True)
    records = [*parse_database(UPSTREAM, "ocd.csv"), short]
    assert CookieDatabase(records).lookup("xy") is short
    assert CookieDatabase(records).lookup("acme_1").name == "acme_"


def test_snapshot_keeps_the_columns_we_use_and_reads_back_the_same(database):
    records = parse_database(UPSTREAM, "ocd.csv")
    text = snapshot_text(records)
    assert "Tracks" not in text and text.splitlines()[1] == "Acme Ads,Marketing,acme_uid,1 year,0"
    assert parse_database(text, "snapshot.csv") == records


def test_a_file_that_is_not_the_database_is_refused_with_the_fix():
    with pytest.raises(
        ConfigError,
        match="ocd.csv:1: not an Open Cookie Database CSV.*download open-cookie-database.csv",
    ):
        parse_database("name,category\n_ga,Analytics\n", "ocd.csv")
    with pytest.raises(ConfigError, match="ocd.csv:3: cookie 'x' has category 'Weird'"):
        parse_database(
            UPSTREAM.splitlines()[0] + "\n9,P,Analytics,y,,,,,,0\n9,P,Weird,x,,,,,,0\n", "ocd.csv"
        )


@pytest.mark.parametrize(
    "row",
    [
        "Google,Analytics,_ga\r,2 years,0",  # (a carriage return alone, within a field)
        "Google,Analytics,_ga,2 years," + "0" * 200_000,  # (past the csv module's field limit)
    ],
)
def test_a_row_csv_cannot_read_is_refused_at_its_line(row):
    header = "Platform,Category,Cookie / Data Key name,Retention period,Wildcard match\n"
    with pytest.raises(ConfigError, match="ocd.csv:3: not a CSV row.*download"):
        parse_database(header + "Google,Analytics,_gid,1 day,0\n" + row + "\n", "ocd.csv")


def test_the_packaged_snapshot_is_the_real_database():
    db = cookie_database()
    rows = DATABASE_FILE.read_text().splitlines()
    assert len(rows) == 1 + 1308 and sum(r.endswith(",1") for r in rows) == 171
    assert (
        DATABASE_FILE.with_name("open-cookie-database.NOTICE.txt")
        .read_text()
        .count("Apache License, Version 2.0")
        == 1
    )
    assert db.lookup("_ga").platform == "Google Analytics"
    assert db.lookup("_ga_ABCDEF123").category == "analytics"  # wildcard row "_ga_"
    assert db.lookup("ASP.NET_SessionId").category == "necessary"
    assert db.lookup("__insp_uid").category == "analytics"


def test_policy_uses_the_database_for_cookies_no_service_names(database):
    policy = Policy(parse_config(BASE), database)
    assert policy.cookie_category("acme_777") == "advertising"
    assert policy.cookie_category("shop_cart") == "necessary"
    assert policy.cookie_category("shop_theme") is None  # no functional category: unknown
    assert policy.cookie_category("nobody_knows") is None


def test_configured_services_and_necessary_names_win_over_the_database(database):
    policy = Policy(
        parse_config(
            BASE
            + """\
necessary_cookies: [acme_session]
services:
  - {name: acme, category: analytics, hosts: [acme.example], cookies: [acme_uid]}
"""
        ),
        database,
    )
    assert policy.cookie_category("acme_uid") == "analytics"
    assert policy.cookie_category("acme_session") == "necessary"
    assert policy.cookie_category("acme_other") == "advertising"


def test_config_maps_database_categories_to_its_own_names(database):
    policy = Policy(
        parse_config(
            TECHNICAL + "  networks: {}\n"
            "cookie_database: {advertising: networks, functional: technical}\n"
        ),
        database,
    )
    assert policy.cookie_category("shop_cart") == "technical"
    assert policy.cookie_category("shop_theme") == "technical"
    assert policy.cookie_category("acme_uid") == "networks"
    assert policy.cookie_category("fbx_test") == "networks"  # social falls back to advertising


def test_a_mapping_into_a_required_category_makes_no_third_party_required(database):
    """`functional: technical` keeps the site's preference cookies the database knows, not a
    chat widget's visitor id nor Google Fonts' requests: those are held until the config
    names them. The catalog's own necessary services (reCAPTCHA) are still required."""
    from consentproxy.observe import config_warnings

    policy = Policy(
        parse_config(TECHNICAL + "cookie_database: {analytics: audience, functional: technical}\n"),
        database,
    )
    assert policy.cookie_category("shop_theme") == "technical"
    assert policy.cookie_category("intercom-id-abc123") is None  # unknown: blocked
    for host, path in (("widget.intercom.io", "/widget/x"), ("fonts.googleapis.com", "/css")):
        assert policy.holder(host, path).category == NEVER
        assert "held for good" in policy.verdict(host, path, "shop.example.com")
    assert policy.holder("www.google.com", "/recaptcha/api.js").category == "technical"
    assert [w for w in config_warnings(policy) if "maps functional to technical" in w]


def test_builtin_services_the_config_does_not_use_win_over_the_database():
    """Hotjar's session cookies are "Functional" in the Open Cookie Database; the catalog
    says analytics, and the catalog wins even when the config does not use hotjar."""
    policy = Policy(parse_config(BASE))
    assert policy.database_record("_hjSession_123").category == "necessary"
    assert policy.catalog_service("_hjSession_123").name == "hotjar"
    assert policy.cookie_category("_hjSession_123") == "analytics"
    assert policy.cookie_category("mp_abc_mixpanel") == "analytics"  # a catalog pattern
    assert policy.named_cookie_category("_hjSession_123") is None


def test_database_can_be_turned_off(database):
    policy = Policy(parse_config(BASE + "cookie_database: false\n"), database)
    assert policy.cookie_category("acme_uid") is None and policy.database is None
    assert policy.cookie_category("_hjSession_123") is None  # nor the unused catalog


def test_cookie_database_key_errors_name_line_and_fix():
    with pytest.raises(
        ConfigError,
        match=r"site.yaml:7: cookie_database.analytics: category "
        "'audience' is not defined",
    ):
        parse_config(BASE + "cookie_database: {analytics: audience}\n", "site.yaml")
    with pytest.raises(ConfigError, match="site.yaml:7: cookie_database must be true, false"):
        parse_config(BASE + "cookie_database: maybe\n", "site.yaml")


def test_a_cookie_only_the_database_knows_is_stripped_before_consent(config):
    """__insp_uid (Inspectlet) is in no catalog service: the Open Cookie Database says
    Analytics, so it is dropped before consent and kept once analytics is accepted."""
    assert Policy(config).named_cookie_category("__insp_uid") is None
    engine = Engine(config, [b"k" * 32])
    set_cookies = [
        ("Set-Cookie", "__insp_uid=1; Path=/"),
        ("Set-Cookie", "ASP.NET_SessionId=s; Path=/"),
    ]
    ex = engine.begin(
        Request(
            "GET",
            "/",
            [("Host", "shop.example.com"), ("Cookie", "__insp_uid=1; ASP.NET_SessionId=s")],
        )
    )
    assert dict(ex.upstream_headers())["Cookie"] == "ASP.NET_SessionId=s"
    kept = [v for k, v in ex.response(200, set_cookies).headers if k == "Set-Cookie"]
    assert "ASP.NET_SessionId=s; Path=/" in kept and "__insp_uid=1; Path=/" not in kept
    engine = Engine(config, [b"k" * 32], forced=ANALYTICS)
    kept = [
        v
        for k, v in engine.begin(Request("GET", "/", [("Host", "shop.example.com")]))
        .response(200, set_cookies)
        .headers
        if k == "Set-Cookie"
    ]
    assert "__insp_uid=1; Path=/" in kept
    assert not Policy(config).cookie_allowed("__insp_uid", NO_DECISION)
