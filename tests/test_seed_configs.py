"""The seeds' cookie policies as configs (config/): each loads cleanly, and classifies the
seed's cookies as the seed says."""

import html
from pathlib import Path

import pytest

from consentproxy.cli import main
from consentproxy.config import load_config
from consentproxy.consent import NO_DECISION, ConsentState
from consentproxy.observe import config_warnings
from consentproxy.policy import Policy

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))


def accepted(*categories: str) -> ConsentState:
    return ConsentState(decided=True, categories=frozenset(categories))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_passes_check_config_without_warnings(path, capsys):
    assert main(["check-config", str(path)]) == 0
    assert "warning" not in capsys.readouterr().out
    assert config_warnings(Policy(load_config(path))) == []


def test_the_seed_configs_are_shipped():
    assert {p.name for p in CONFIGS} >= {"ampere.yaml", "saas.yaml", "demo.yaml"}


# Seed 000's vendor table: cookie -> the category the policy gives it.
AMPERE_TABLE = {
    "lang": "technical",  # Renault S.A.S, the selected language
    "VISITOR_INFO1_LIVE": "social",  # YouTube, bandwidth estimate
    "YSC": "social",  # YouTube, statistics of videos viewed
    "yt-remote-connected-devices": "social",  # YouTube, video quality
    "yt-remote-device-id": "social",  # YouTube, player preferences
    "_ga": "audience",
    "_ga_XYZ123": "audience",
    "_gid": "audience",  # Google, audience
}


@pytest.fixture(scope="module")
def ampere() -> Policy:
    return Policy(load_config(CONFIG_DIR / "ampere.yaml"))


@pytest.mark.parametrize(("cookie", "category"), AMPERE_TABLE.items())
def test_ampere_classifies_the_seed_vendor_table(ampere, cookie, category):
    assert ampere.cookie_category(cookie) == category


def test_ampere_has_the_seed_categories_and_six_months_validity(ampere):
    cfg = ampere.config
    assert [c.name for c in cfg.categories] == ["technical", "audience", "social"]
    assert ampere.required == {"technical"}
    assert cfg.consent.max_age_days == 182
    for cat in cfg.categories:
        assert cat.title.keys() == {"fr", "en"} and cat.description.keys() == {"fr", "en"}


def test_ampere_vendor_table_lifetimes_are_recorded(ampere):
    assert "179 days" in ampere.services["youtube"].retention
    assert "13 months" in ampere.services["google-analytics"].retention
    assert ampere.services["site-language"].vendor == "Renault S.A.S"


def test_ampere_social_networks_and_youtube_wait_for_consent(ampere):
    for host in (
        "www.youtube.com",
        "connect.facebook.net",
        "platform.twitter.com",
        "snap.licdn.com",
        "analytics.tiktok.com",
    ):
        assert ampere.blocked_host(host, NO_DECISION) is not None, host
        assert ampere.blocked_host(host, accepted("audience")) is not None, host
        assert ampere.blocked_host(host, accepted("social")) is None, host
    assert not ampere.cookie_allowed("YSC", NO_DECISION)
    assert ampere.cookie_allowed("lang", NO_DECISION)


def test_ampere_maps_database_cookies_to_its_categories(ampere):
    assert ampere.cookie_category("__insp_uid") == "audience"  # Inspectlet, Analytics
    assert ampere.cookie_category("ASP.NET_SessionId") == "technical"
    assert ampere.cookie_category("IDE") == "social"  # DoubleClick marketing: no ad category


@pytest.fixture(scope="module")
def saas() -> Policy:
    return Policy(load_config(CONFIG_DIR / "saas.yaml"))


def test_saas_has_the_seed_categories_and_six_months_validity(saas):
    assert [c.name for c in saas.config.categories] == ["essential", "statistical", "functionality"]
    assert saas.required == {"essential"} and saas.config.consent.max_age_days == 182
    assert saas.services["google-analytics"].retention == "13 months"  # data kept at most
    assert saas.services["preferences"].retention == "13 months"


@pytest.mark.parametrize(
    ("cookie", "category"),
    [
        ("session", "essential"),
        ("csrftoken", "essential"),  # technical, exempt
        ("_ga", "statistical"),
        ("_gid", "statistical"),  # visit statistics
        ("lang", "functionality"),
        ("currency", "functionality"),  # remembered preferences
        ("intercom-session-abc", "functionality"),
    ],
)
def test_saas_classifies_cookies_by_the_seed_types(saas, cookie, category):
    assert saas.cookie_category(cookie) == category


def test_saas_never_allows_advertising_cookies(saas):
    """The seed uses no advertising cookies: marketing cookies stay unknown, so blocked
    whatever the visitor accepts."""
    everything = accepted("statistical", "functionality")
    assert saas.cookie_category("IDE") is None
    assert not saas.cookie_allowed("IDE", everything)
    assert not saas.cookie_allowed("_fbp", everything)
    assert saas.cookie_allowed("_ga", everything) and not saas.cookie_allowed("_ga", NO_DECISION)


def test_seed_configs_speak_in_their_own_words(ampere, saas):
    from consentproxy.banner.texts import TEXTS

    for config in (ampere.config, saas.config):
        for lang in config.languages:
            assert config.banner.text(lang)["title"] != TEXTS[lang]["title"]
        assert config.banner.privacy_url
    assert ampere.config.banner.text("fr")["manage"] == "Gérer mes cookies"


@pytest.mark.parametrize("cookie", ["PREF", "LOGIN_INFO", "GPS", "VISITOR_PRIVACY_METADATA"])
def test_ampere_youtube_cookies_beyond_the_table_are_social_not_technical(ampere, cookie):
    """The config's YouTube names extend the built-in ones: none falls to the Open Cookie
    Database (which calls PREF and LOGIN_INFO functional, so technical here)."""
    assert ampere.cookie_category(cookie) == "social"
    assert not ampere.cookie_allowed(cookie, NO_DECISION)


@pytest.mark.parametrize("name", ["ampere.yaml", "saas.yaml"])
def test_seed_configs_keep_proof_of_consent_in_sqlite(name):
    """Seed 000: "we will keep a record of your preferences"; both for 13 months."""
    records = load_config(CONFIG_DIR / name).records
    assert records.target == str(CONFIG_DIR / name.replace(".yaml", "-records.sqlite3"))
    assert records.retention_days == 395


def test_ampere_links_the_seeds_policy_pages_and_names_its_dpo(ampere):
    from consentproxy.banner.render import Banner

    banner = ampere.config.banner
    assert banner.privacy_url == "https://www.ampere.cars/en/privacy-policy/"  # seed 001
    assert banner.cookie_policy_url == "https://www.ampere.cars/en/cookie-policy/"
    assert banner.dpo["email"] == "dpo@ampere.cars"
    assert "122-122 bis avenue du Général Leclerc" in banner.dpo["address"]
    page = html.unescape(
        Banner(ampere.config, ampere).preferences_page(NO_DECISION, "fr", "/").decode()
    )
    assert '<a href="https://www.ampere.cars/en/cookie-policy/">Politique de cookies</a>' in page
    assert (
        '<p class="cp-dpo">Délégué à la protection des données: '
        '<a href="mailto:dpo@ampere.cars">dpo@ampere.cars</a> · AMPERE SAS'
    ) in page


def test_ampere_retires_its_former_onetrust_banner_and_imports_its_choices(ampere):
    """The seed's table lists OneTrust, technical: the tool consentproxy replaces. Its
    scripts never run again, its cookies go once read, its choices carry over."""
    from consentproxy.config import FORMER_CMP

    former = ampere.config.former_cmp
    assert former is not None and former.tool == "onetrust" and former.neutralise
    assert former.imports == {"C0002": "audience", "C0004": "social", "C0005": "social"}
    everything = accepted("audience", "social")
    assert ampere.blocked_host("cdn.cookielaw.org", everything) is not None
    assert ampere.cookie_category("OptanonConsent") == FORMER_CMP
    assert not ampere.cookie_allowed("OptanonAlertBoxClosed", everything)
