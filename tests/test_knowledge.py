"""The tracker knowledge base: layers, the site's own hosts, config keys, imports."""

from __future__ import annotations

import json
import re

import pytest

from consentproxy.catalog import imports, knowledge
from consentproxy.catalog.knowledge import Knowledge, KnownTracker, builtin_trackers, read_layer
from consentproxy.config import ConfigError, parse_config
from consentproxy.consent import NO_DECISION, ConsentState
from consentproxy.observe import config_warnings, suggest
from consentproxy.policy import NEVER, Policy
from tests.configs import FOUR_CATEGORIES as BASE

ANALYTICS = ConsentState(True, frozenset({"analytics"}))
SOCIAL = ConsentState(True, frozenset({"social"}))
REJECTED = ConsentState(True)


def policy(extra: str = "", knowledge: Knowledge | None = None) -> Policy:
    return Policy(parse_config(BASE + extra), knowledge=knowledge)


def test_the_shipped_base_holds_thousands_of_domains_with_vendor_and_category():
    entries = builtin_trackers()
    held = [d for e in entries if e.held for d in e.domains]
    assert len(held) >= 3000
    assert all(e.title and e.vendor for e in entries)
    assert {e.category for e in entries} >= {"advertising", "analytics", "social", "-"}


def test_a_known_tracker_no_service_names_waits_for_its_category():
    p = policy()
    svc = p.holder("static.chartbeat.com", "/js/chartbeat.js", "news.example")
    assert svc is not None and svc.category == "analytics" and "ChartBeat" in svc.display_title()
    assert p.blocked_host("static.chartbeat.com", NO_DECISION, site="news.example") is svc
    assert p.blocked_host("static.chartbeat.com", ANALYTICS, site="news.example") is None


def test_known_trackers_allow_lets_them_load():
    p = policy("known_trackers: allow\n")
    assert p.holder("static.chartbeat.com", "/", "news.example") is None


def test_the_sites_own_hosts_are_never_held_as_trackers():
    p = policy()
    assert p.holder("www.chartbeat.com", "/x.js", "chartbeat.com") is None
    assert p.holder("static.chartbeat.com", "/x.js", "chartbeat.com") is None
    assert p.holder("static.chartbeat.com", "/x.js", "chartbeat.net") is not None


def test_the_config_wins_even_on_the_sites_own_domain():
    p = policy(
        "services:\n  - {name: own-stats, category: analytics, hosts: [stats.news.example]}\n"
    )
    assert p.holder("stats.news.example", "/m.js", "news.example").name == "own-stats"


def test_cdns_and_shared_platforms_are_known_but_never_held():
    p = policy()
    for host in (
        "cdn.jsdelivr.net",
        "cdnjs.cloudflare.com",
        "s0.wp.com",
        "www.google.com",
        "www.gstatic.com",
    ):
        assert p.holder(host, "/x.js", "news.example") is None, host
        assert p.knowledge.lookup(host) is not None, host
    assert p.holder("stats.wp.com", "/e.js", "news.example").category == "analytics"


def test_a_built_in_service_the_config_does_not_use_is_held_in_its_category():
    p = policy()  # no services at all
    assert (
        p.holder("www.googletagmanager.com", "/gtm.js", "news.example").name == "google-tag-manager"
    )
    assert p.holder("www.google.com", "/recaptcha/api.js", "news.example") is not None
    assert (
        p.blocked_host("www.google.com", NO_DECISION, "/recaptcha/api.js", "news.example") is None
    )  # necessary


def test_a_category_the_config_lacks_holds_for_good_unless_mapped():
    p = policy()  # no functional category
    assert p.holder("cdn.livechatinc.com", "/x.js", "news.example").category == NEVER
    mapped = policy("cookie_database: {functional: social}\n")
    assert mapped.holder("cdn.livechatinc.com", "/x.js", "news.example").category == "social"


def test_unknown_third_parties_follow_the_config():
    assert policy().holder("cdn.nobody-knows.example", "/a.js", "news.example") is None
    blocked = policy('unknown_third_parties: block\ncsp_allow: ["*.mycdn.example"]\n')
    assert blocked.holder("cdn.nobody-knows.example", "/a.js", "news.example").category == NEVER
    assert blocked.holder("a.mycdn.example", "/a.js", "news.example") is None
    assert blocked.holder("cdn.jsdelivr.net", "/a.js", "news.example") is None  # known
    assert blocked.holder("img.news.example", "/a.png", "news.example") is None
    held = policy("unknown_third_parties: analytics\n")
    svc = held.holder("cdn.nobody-knows.example", "/a.js", "news.example")
    assert svc.category == "analytics" and svc.name == "nobody-knows.example"


def test_config_errors_name_the_line_and_the_fix(tmp_path):
    cases = {
        "known_trackers: maybe\n": "known_trackers must be one of hold, allow",
        "unknown_third_parties: nope\n": "unknown_third_parties must be allow, block or",
        "services:\n  - {name: x, category: analytics, domains: [www.example.com]}\n": "not a registrable domain (that is 'example.com')",
        "services:\n  - {name: x, category: analytics, domains: [co.uk]}\n": "is a public suffix",
        f"tracker_lists: [{tmp_path / 'missing.tsv'}]\n": "cannot read the tracker list",
    }
    for text, message in cases.items():
        with pytest.raises(ConfigError, match=re.escape(message)) as e:
            parse_config(BASE + text, "c.yaml")
        assert str(e.value).startswith("c.yaml:7:") or str(e.value).startswith("c.yaml:8:")


def test_an_imported_layer_sits_over_the_built_in_base(tmp_path):
    (tmp_path / "hosts.txt").write_text(
        "0.0.0.0 px.tracker-one.example\n0.0.0.0 static.chartbeat.com\n"
    )
    layer = imports.read_list((tmp_path / "hosts.txt").read_text(), "hosts.txt", category="social")
    (tmp_path / "layer.tsv").write_text(
        "# test\n"
        + "".join(
            f"{e.name}\t{e.category}\t{e.kind}\t{e.title}\t\t{' '.join(e.domains)}\n" for e in layer
        )
    )
    cfg = parse_config(BASE + "tracker_lists: [layer.tsv]\n", str(tmp_path / "c.yaml"))
    p = Policy(cfg)
    assert p.holder("px.tracker-one.example", "/", "news.example").category == "social"
    assert p.holder("static.chartbeat.com", "/", "news.example").category == "social"
    assert p.holder("www.chartbeat.com", "/", "news.example").category == "analytics"


def test_a_bad_layer_line_is_named():
    with pytest.raises(ConfigError, match=r"bad.tsv:2: .*6 tab-separated"):
        from consentproxy.catalog.knowledge import parse_layer

        parse_layer("# ok\nname\tanalytics\n", "bad.tsv")


def test_imports_read_hosts_files_rules_and_disconnect():
    hosts = imports.read_list(
        "# c\n0.0.0.0 ads.one.example\n127.0.0.1 localhost\ntwo.example\n0.0.0.0 co.uk\n", "h"
    )
    assert {d for e in hosts for d in e.domains} == {"ads.one.example", "two.example"}
    rules = imports.read_list(
        "[Adblock Plus 2.0]\n||stats.three.example^\n"
        "||four.example^$third-party\n||five.example/path^\n"
        "@@||six.example^\n||seven.example^$domain=a.example\n",
        "r",
        category="analytics",
    )
    assert {d for e in rules for d in e.domains} == {"stats.three.example", "four.example"}
    assert {e.category for e in rules} == {"analytics"}
    disconnect = imports.read_list(
        '{"categories": {"Analytics": [{"Tracky": {"https://t.example/": ["t.example", '
        '"t-cdn.example"]}}], "Email": [{"M": {"https://m.example": ["m.example"]}}], '
        '"Content": [{"Vid": {"https://v.example": ["v.example"], "dnt": "eff"}}]}}',
        "d",
    )
    assert {(e.title, e.category, e.domains) for e in disconnect} == {
        ("Tracky", "analytics", ("t-cdn.example", "t.example")),
        ("Vid", "functional", ("v.example",)),
    }
    with pytest.raises(ConfigError, match="not a Disconnect services.json"):
        imports.read_list('{"nope": 1}', "x.json")


def test_a_tracker_list_over_the_limit_is_refused_unread(tmp_path):
    """It was read whole before anything was checked: a name for /dev/zero took all memory
    (now refused unread, as no regular file)."""
    big = tmp_path / "big.tsv"
    big.write_bytes(b"#" * (knowledge.MAX_LAYER_BYTES + 1))
    with pytest.raises(ConfigError, match=f"{big}: more than 32 MiB"):
        read_layer(big)
    (tmp_path / "zero.tsv").symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match=r"zero.tsv: cannot read .*\(not a regular file "):
        read_layer(tmp_path / "zero.tsv")
    big.write_bytes(b"#" * knowledge.MAX_LAYER_BYTES)
    assert read_layer(big) == ()


def test_catalog_import_writes_a_layer_a_config_can_name(tmp_path, capsys):
    from consentproxy.cli import main

    (tmp_path / "h.txt").write_text("0.0.0.0 ads.one.example\n")
    into = tmp_path / "layer.tsv"
    assert main(["catalog", "import", str(tmp_path / "h.txt"), "--into", str(into)]) == 0
    assert f"tracker_lists: [{into}]" in capsys.readouterr().out
    assert [e.domains for e in read_layer(into)] == [("ads.one.example",)]


def test_catalog_import_of_a_file_with_no_tracker_writes_nothing(tmp_path, capsys):
    from consentproxy.cli import main

    (tmp_path / "h.txt").write_text("0.0.0.0 ads.one.example\n")
    (tmp_path / "junk.txt").write_text("Dear operator,\nhere is the list you asked for.\n")
    into = tmp_path / "layer.tsv"
    files = [str(tmp_path / "h.txt"), str(tmp_path / "junk.txt")]
    assert main(["catalog", "import", *files, "--into", str(into)]) == 2
    err = capsys.readouterr().err
    assert f"consentproxy: {tmp_path / 'junk.txt'}: no tracker domains in it; " in err
    assert "hosts files" in err and "services.json" in err and "||domain^" in err
    assert not into.exists()


def test_catalog_import_into_what_is_no_layer_says_to_name_another_file(tmp_path, capsys):
    """--into naming the config, a list or a directory said "cannot read the tracker list
    ...; make it with `consentproxy catalog import`": the command being run."""
    from consentproxy.cli import main

    (tmp_path / "h.txt").write_text("0.0.0.0 ads.one.example\n")
    config = tmp_path / "site.yaml"
    config.write_text("upstream: http://127.0.0.1:8080\n")
    for into, why in [
        (config, "site.yaml:1: expected 6 tab-separated fields"),
        (tmp_path, f"{tmp_path}: cannot read the tracker list (not a regular file"),
    ]:
        assert main(["catalog", "import", str(tmp_path / "h.txt"), "--into", str(into)]) == 2
        err = capsys.readouterr().err
        assert f"consentproxy: --into {into} is no tracker layer to add to ({why}" in err, err
        assert err.rstrip().endswith(
            "give --into a new file, or a layer catalog import wrote (nothing written)"
        )
        assert "make it with" not in err and "write it with" not in err
    assert config.read_text() == "upstream: http://127.0.0.1:8080\n"


def test_inline_scripts_writing_a_tracker_url_with_its_scheme_apart_are_held():
    """document.write(... proto + "host/path" ...): the guard never sees it."""
    p = policy()
    js = (
        b'var p = (("https:" == document.location.protocol) ? "https://" : "http://");'
        b'document.write(unescape("%3Cscript src=\'" + p + "static.chartbeat.com/js/c.js\''
        b' %3E%3C/script%3E"));'
    )
    held = p.blocked_inline(js, REJECTED, site="news.example")
    assert held is not None and (held.name, held.category) == ("chartbeat", "analytics")
    unknown = b'document.write("cdn.nobody-knows.example/x.js")'
    assert p.blocked_inline(unknown, REJECTED, site="news.example") is None


def test_verdicts_and_suggested_config_lines():
    p = policy("services:\n  - use: youtube\n")
    assert p.verdict("www.youtube.com") == "service youtube (social) of the config"
    assert "known tracker ChartBeat" in p.verdict("static.chartbeat.com", "", "n.example")
    assert "held until analytics is accepted" in p.verdict("static.chartbeat.com")
    assert p.verdict("cdn.jsdelivr.net").startswith("known, not a tracker: jsDelivr")
    assert p.verdict("img.n.example", "", "n.example") == "the site's own host"
    lines = "\n".join(
        suggest(
            p,
            [
                "static.chartbeat.com",
                "cdn.jsdelivr.net",
                "www.youtube.com",
                "x.nobody.example",
                "www.googletagmanager.com",
            ],
            "n.example",
        )
    )
    assert "  - use: google-tag-manager" in lines
    assert "  - name: chartbeat" in lines and "domains: [chartbeat.com, chartbeat.net]" in lines
    assert "csp_allow: [cdn.jsdelivr.net]" in lines and "# unknown: x.nobody.example" in lines
    assert "youtube" not in lines


def test_every_suggested_line_is_one_the_config_takes():
    """suggest printed names the config refuses ('Acme Pixel!', one it already has, the
    same name twice), a vendor's subdomain under domains, and categories it has not
    (functional): now each entry reads, or is commented out saying what to add."""
    own = "  - {name: acme-pixel, category: analytics, hosts: [x.own.test]}\n"
    layer = [
        KnownTracker("Acme Pixel!", "advertising", domains=("cdn.acme.test",)),
        KnownTracker("acme-pixel", "advertising", domains=("acme2.test",)),
        KnownTracker("acme.pixel", "advertising", domains=("acme3.test",)),
        KnownTracker("chat", "functional", domains=("chat.test",)),
    ]
    p = policy("services:\n" + own, Knowledge(layers=[layer]))
    seen = [e.domains[0] for e in [*builtin_trackers(), *layer] if e.held and e.domains]
    lines = suggest(p, seen)
    config = parse_config(BASE + "\n".join(lines) + "\n" + own)  # (raised ConfigError)
    names = [s.name for s in config.services]
    assert len(names) == len(set(names)) > 1000
    assert {"acme-pixel-2", "acme-pixel-3", "acme-pixel-4"} <= set(names)
    acme = next(s for s in config.services if "cdn.acme.test" in s.hosts)
    assert acme.hosts == ("cdn.acme.test", "*.cdn.acme.test") and not acme.domains
    assert "  # - name: chat  # its category functional is not one here" in "\n".join(lines)


@pytest.mark.parametrize(
    "extra",
    [
        "unknown_third_parties: block\ncsp_allow: [cdn.example.net]\n",
        "unknown_third_parties: analytics\n",
        "cookie_database: {analytics: necessary}\n",  # a tracker of a required category
    ],
)
def test_a_verdict_says_what_the_holder_does(extra):
    """verdict (observe, scan, catalog classify) and holder (the rewrite) read the same
    layers: verdict said 'held' of a csp_allow host and of a tracker that always loads."""
    p = policy("services:\n  - use: youtube\n" + extra)
    for host in ("cdn.example.net", "static.chartbeat.com", "x.nobody.example", "img.n.example"):
        holder, verdict = p.holder(host, "", "n.example"), p.verdict(host, "", "n.example")
        says_it_loads = "loads" in verdict or verdict.startswith(
            ("the site's own host", "known, not a tracker")
        )
        assert says_it_loads == (holder is None or holder.category in p.required), verdict


def test_lookups_walk_labels_not_the_list():
    """O(labels): a knowledge base of 10,000 domains answers like one of 10."""
    small = Knowledge(
        builtin=False,
        layers=[
            [KnownTracker(f"t{i}", "analytics", domains=(f"t{i}.example",)) for i in range(10)]
        ],
    )
    big = Knowledge(
        builtin=False,
        layers=[
            [KnownTracker(f"t{i}", "analytics", domains=(f"t{i}.example",)) for i in range(10_000)]
        ],
    )
    assert small.lookup("a.b.t3.example").name == big.lookup("a.b.t3.example").name == "t3"
    assert big.lookup("t3.example.org") is None and len(big) == 10_000


def test_the_knowledge_base_names_every_tracker_of_its_layers_and_no_domain_it_does_not_know():
    """The names telemetry may label by: the built-in base (built-in services on paths too)
    and the imported layers; an unknown domain is none of them."""
    names = policy().knowledge.names
    assert {"chartbeat", "youtube", "google-maps"} <= names
    layered = Knowledge(
        layers=[[KnownTracker("acme-pixel", "advertising", domains=("acme.test",))]]
    )
    assert "acme-pixel" in layered.names and "acme-pixel" not in names
    assert "s1-1.example" not in names and len(names) < 4000


def test_known_trackers_met_are_listed_by_vendor_and_allowed_by_the_csp_once_consented():
    from consentproxy.banner.render import Banner
    from consentproxy.engine import Engine, Request

    engine = Engine(parse_config(BASE + "csp: enforce\n"), [b"k" * 32])
    banner = Banner(engine.config, engine.policy)
    assert "ChartBeat" not in banner.render(NO_DECISION, "en", "/").decode()
    ex = engine.begin(Request("GET", "/", [("Host", "news.example")]))
    plan = ex.response(200, [("Content-Type", "text/html")])
    assert plan.body is not None
    out = (
        plan.body.feed(
            b'<html><head><script src="https://static.chartbeat.com/c.js">'
            b"</script></head><body><p>x</p></body></html>"
        )
        + plan.body.close()
    )
    assert b'data-consent-blocked="chartbeat"' in out
    markup = banner.render(NO_DECISION, "en", "/").decode()
    analytics = markup.split('data-consent-category="analytics"')[1].split("cp-category")[0]
    assert '<li class="cp-known">ChartBeat<ul class="cp-facts"><li>Provider: ChartBeat' in analytics
    assert "chartbeat.com" not in (engine.csp_header(NO_DECISION) or ("", ""))[1]
    policy_value = engine.csp_header(ANALYTICS)[1]
    assert " chartbeat.com " in policy_value and " *.chartbeat.com " in policy_value
    assert "scorecardresearch" not in policy_value  # never met on this site


def test_a_page_naming_hundreds_of_known_trackers_cannot_grow_the_csp_past_its_bound():
    """The site's markup (a comment, an ad slot) decides which trackers are met: a page
    naming 600 must not make a header a front proxy refuses for everyone who accepted."""
    from consentproxy.csp import MAX_VALUE
    from consentproxy.engine import Engine, Request

    engine = Engine(parse_config(BASE + "csp: enforce\n"), [b"k" * 32])
    domains = [e.domains[0] for e in builtin_trackers() if e.held and e.category == "analytics"]
    assert len(domains) >= 600
    tags = b"".join(f'<img src="https://{d}/p.gif">'.encode() for d in domains[:600])
    ex = engine.begin(Request("GET", "/", [("Host", "news.example")]))
    plan = ex.response(200, [("Content-Type", "text/html")])
    assert plan.body is not None
    plan.body.feed(b"<html><body>" + tags + b"</body></html>")
    plan.body.close()
    value = engine.csp_header(ANALYTICS)[1]
    assert MAX_VALUE - 100 < len(value) <= MAX_VALUE
    assert f" {domains[0]} " in value and f" *.{domains[0]} " in value  # the first met


def test_a_tracker_url_without_its_scheme_is_a_load_only_where_markup_is_written():
    """The guard sees what scripts create, not what document.write parses."""
    p = policy()
    js = (
        b'var s = document.createElement("script"); s.src = "https://" + e.agent; '
        b'var e = {agent: "js-agent.newrelic.com/nr-1123.min.js"};'
    )
    assert p.blocked_inline(js, REJECTED, site="news.example") is None


def test_a_built_in_service_the_config_does_not_use_is_named_by_its_title_for_people():
    """Its title is per language; the knowledge base's label is one text (no dict shown)."""
    verdict = policy().verdict("connect.facebook.net", "/", "news.example")
    assert verdict.startswith("known tracker Meta (Facebook) Pixel (built-in catalog)")
    assert "{" not in verdict and "'en'" not in verdict


def test_a_hostile_list_is_read_in_linear_time_or_refused_with_its_name():
    """Telling a list's format searched each line's start for a rule with \\s*, which ran
    on over every blank line after it: 40,000 newlines (40 KB) took 17 s, a megabyte hours;
    a services.json nested 100,000 deep was a RecursionError's traceback."""
    blank = "\n" * 1_000_000 + "0.0.0.0 ads.one.example\n"
    assert imports.detect(blank) == "hosts"  # (in well under the test's time)
    assert [e.domains for e in imports.read_list(blank, "h")] == [("ads.one.example",)]
    assert imports.detect("\n\n  \t||x.example^\n") == "rules"
    deep = '{"categories": {"Advertising": [' + "[" * 100_000 + "]" * 100_000 + "]}}"
    with pytest.raises(ConfigError, match="deep.json: not a Disconnect services.json"):
        imports.read_list(deep, "deep.json")


def test_an_imported_lists_names_reach_the_operators_terminal_as_plain_characters(tmp_path, capsys):
    """A services.json names its companies as it likes: their escape sequences went into
    the layer and out raw where a verdict is printed (catalog classify --config: ESC ]0;
    retitled the terminal, ESC [2J cleared it)."""
    from consentproxy.cli import main

    company = "\x1b]0;owned\x07Evil\x1b[2J\x9b1mCo\u2028rp\x00"
    listed = tmp_path / "services.json"
    sites = {company: {"https://e.example/": ["t.evil.example"]}}
    listed.write_text(json.dumps({"categories": {"Analytics": [sites]}}))
    into = tmp_path / "layer.tsv"
    assert main(["catalog", "import", str(listed), "--into", str(into)]) == 0
    [entry] = read_layer(into)
    assert entry.title == entry.vendor == "\\x1b]0;owned\\x07Evil\\x1b[2J\\x9b1mCo rp\\x00"
    config = tmp_path / "c.yaml"
    config.write_text(BASE + f"tracker_lists: [{into}]\n")
    capsys.readouterr()
    assert main(["catalog", "classify", "--config", str(config), "t.evil.example"]) == 0
    out = capsys.readouterr().out
    assert "known tracker \\x1b]0;owned" in out and out.rstrip("\n").isprintable(), out
    # a layer written by hand (or before its texts were escaped) is read escaped
    raw = "\x1b]0;owned\x07Evil\x1b[2J\x9b1mCo"  # (line breaks: no layer line at all)
    into.write_text(f"evil\tanalytics\tkind\t{raw}\t{raw}\tt.evil.example\n")
    assert main(["catalog", "classify", "--config", str(config), "t.evil.example"]) == 0
    out = capsys.readouterr().out
    assert "known tracker \\x1b]0;owned" in out and out.rstrip("\n").isprintable(), out


def test_an_imported_list_cannot_call_a_tracker_the_layers_below_hold_no_tracker():
    """A layer sits over the base, the most specific domain winning: a services.json filing
    chartbeat.com (or static.chartbeat.com) among consent managers made ChartBeat a known
    non-tracker, loaded before consent and suggested for csp_allow. It may file a tracker
    under another category, and call what nothing below holds no tracker."""
    listed = json.dumps(
        {
            "categories": {
                "ConsentManagers": [
                    {"Evil": {"https://e.example/": ["static.chartbeat.com", "cmp.nobody.example"]}}
                ],
                "Anti-fraud": [{"Evil2": {"https://e.example/": ["chartbeat.net"]}}],
                "Social": [{"Evil3": {"https://e.example/": ["chartbeat.com"]}}],
            }
        }
    )
    p = policy(knowledge=Knowledge(layers=[imports.read_list(listed, "services.json")]))
    assert p.holder("static.chartbeat.com", "/", "news.example") is not None
    assert p.holder("ping.chartbeat.net", "/", "news.example") is not None
    assert p.holder("www.chartbeat.com", "/", "news.example").category == "social"
    assert p.holder("cmp.nobody.example", "/", "news.example") is None
    assert p.verdict("cmp.nobody.example").startswith("known, not a tracker: Evil")


def test_a_layers_known_non_trackers_are_judged_against_the_layers_below_alone():
    """A layer's own lines do not count as below it: a hosts list holding adnet.example and
    a services.json filing cmp.adnet.example among consent managers, imported into one
    layer, read one way in one order and the other in the other (helper-146)."""
    parent = KnownTracker("adnet", "advertising", domains=("adnet.example",))
    child = KnownTracker("cmp", "-", domains=("cmp.adnet.example",))
    base = KnownTracker("chartbeat", "analytics", domains=("chartbeat.example",))
    hidden = KnownTracker("evil", "-", domains=("static.chartbeat.example",))
    read = [
        Knowledge(layers=[[base], order], builtin=False).lookup(host)
        for order in ([parent, child, hidden], [hidden, child, parent])
        for host in ("cmp.adnet.example", "static.chartbeat.example")
    ]
    assert [e.name for e in read if e] == ["cmp", "chartbeat", "cmp", "chartbeat"]


def test_catalog_import_reads_no_further_than_a_list_may_be_and_writes_no_layer_too_big(
    tmp_path, capsys, monkeypatch
):
    """A list was read whole (a name for /dev/zero took all memory), and a layer over
    MAX_LAYER_BYTES was written, which the config then refused: serve would not start."""
    from consentproxy.cli import main

    into = tmp_path / "layer.tsv"
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    assert main(["catalog", "import", str(tmp_path / "zero.txt"), "--into", str(into)]) == 2
    assert "zero.txt (not a regular file" in capsys.readouterr().err
    hosts = tmp_path / "h.txt"
    hosts.write_text("".join(f"0.0.0.0 ads{i}.example{i}.com\n" for i in range(2000)))
    monkeypatch.setattr(imports, "MAX_LIST_BYTES", 1000)
    assert main(["catalog", "import", str(hosts), "--into", str(into)]) == 2
    assert "h.txt: more than 0 MiB, which no tracker list is" in capsys.readouterr().err
    monkeypatch.setattr(imports, "MAX_LIST_BYTES", 1 << 20)
    monkeypatch.setattr(knowledge, "MAX_LAYER_BYTES", 50_000)
    assert main(["catalog", "import", str(hosts), "--into", str(into)]) == 2
    assert "layer.tsv would be more than 0 MiB, which a config refuses; nothing written" in (
        capsys.readouterr().err
    )
    assert not into.exists()


def test_a_host_a_used_builtin_covers_widely_is_told_and_suggested_as_the_catalogs(
    tmp_path, capsys
):
    """`use: linkedin` alone: snap.licdn.com is the Insight Tag's (policy.apart), so the
    verdict (catalog classify) names it, `suggest` proposes `use: linkedin-insight` (the
    declaration lists no ad tag under LinkedIn's buttons), and csp: enforce warns that
    social's *.licdn.com lets it in. A host the operator gives linkedin stays linkedin's, as
    the whole domain of a service of their own does."""
    from consentproxy.cli import main

    p = policy("services:\n  - use: linkedin\n")
    told = (
        "built-in service linkedin-insight (advertising), which the catalog files apart "
        "from the config's linkedin"
    )
    assert p.verdict("snap.licdn.com") == told
    config = tmp_path / "c.yaml"
    config.write_text(BASE + "services:\n  - use: linkedin\n")
    assert main(["catalog", "classify", "--config", str(config), "snap.licdn.com"]) == 0
    assert told in capsys.readouterr().out
    assert p.verdict("platform.linkedin.com") == "service linkedin (social) of the config"
    lines = "\n".join(suggest(p, ["snap.licdn.com", "platform.linkedin.com"], "n.example"))
    assert "  - use: linkedin-insight" in lines and "use: linkedin\n" not in lines + "\n"
    enforced = "\n".join(config_warnings(policy("csp: enforce\nservices:\n  - use: linkedin\n")))
    assert (
        "accepting social (linkedin) lets in linkedin-insight (advertising) at "
        "https://snap.licdn.com/"
    ) in enforced
    allowed = policy("known_trackers: allow\nservices:\n  - use: linkedin\n")
    assert allowed.blocked_host("px.ads.linkedin.com", SOCIAL, "/x") is not None  # (as before)
    given = policy("services:\n  - {use: linkedin, hosts: [snap.licdn.com]}\n")
    assert given.holder("snap.licdn.com", "/x.js").name == "linkedin"
    assert given.holder("px.ads.linkedin.com", "/x").name == "linkedin-insight"
    own = policy("services:\n  - {name: li, category: social, domains: [licdn.com]}\n")
    assert own.holder("snap.licdn.com", "/x.js").name == "li" and not own.apart
