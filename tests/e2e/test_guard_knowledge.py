"""The guard knows what the server knows: every knowledge-base domain, decoded in Chromium
from the compact sets consent.js carries, gets the category the server gives it; the site's
own hosts and known CDNs pass; a tracker a page script adds waits for its category.

Every request is answered by ``context.route`` (the page on legacy.test, stubs for the
rest), never sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from playwright.async_api import Page, Route, async_playwright

from consentproxy.banner import domainset
from consentproxy.banner.render import Banner
from consentproxy.config import parse_config
from consentproxy.consent import NO_DECISION
from consentproxy.policy import NEVER, Policy
from tests.configs import FOUR_CATEGORIES, NOT_UNDER_MATOMO, SERVED_UNDER_MATOMO, matomo_at
from tests.e2e.conftest import CHROMIUM, script_with_tools

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

HOST = "legacy.test"
CONFIG = parse_config(FOUR_CATEGORIES + matomo_at(HOST), "test-guard-knowledge.yaml")
POLICY = Policy(CONFIG)
BANNER = Banner(CONFIG, POLICY)
BANNER_SETS = POLICY.known_domains(all_known=False)
CATEGORIES = """hosts => Object.fromEntries(hosts.map(h => {
    const s = window.__guard.serviceOf('https://' + h + '/x.js');
    return [h, s ? s[1] : null]; }))"""
ADD_SCRIPT = """url => { const s = document.createElement('script'); s.src = url;
                         document.head.append(s); return s.getAttribute('type'); }"""


@pytest_asyncio.fixture(loop_scope="session")
async def page() -> AsyncIterator[tuple[Page, list[str]]]:
    async with guarded(BANNER) as found:
        yield found


@contextlib.asynccontextmanager
async def guarded(banner: Banner) -> AsyncIterator[tuple[Page, list[str]]]:
    """A page of HOST with banner's consent.js (its guard's tools on window.__guard), and
    the third-party hosts it requested."""
    requested: list[str] = []
    script = script_with_tools(banner)  # (the page's own scripts never get the guard's tools)
    html = (
        "<!DOCTYPE html><html><head>"
        + banner.script_tag(NO_DECISION, "", HOST).decode()
        + "</head><body><p>Legacy</p></body></html>"
    )

    async def handle(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.hostname != HOST:
            requested.append(url.hostname or "")
            await route.fulfill(body="", content_type="application/javascript")
        elif url.path.endswith("consent.js"):
            await route.fulfill(body=script, content_type="text/javascript")
        else:
            await route.fulfill(body=html, content_type="text/html")

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND"]
        )
        try:
            context = await browser.new_context()
            await context.route("**/*", handle)
            p = await context.new_page()
            await p.goto(f"http://{HOST}/")
            yield p, requested
        finally:
            await browser.close()


async def test_guard_holds_every_domain_the_server_holds_and_rarely_more(page) -> None:
    """No false negative: every known tracker domain (and a subdomain of it) is held, in the
    category the server gives it. False positives, the price of the compact sets, stay
    within their bound (a lookup in 2**16 per set and label) on hosts nobody lists."""
    p, _ = page
    known = POLICY.knowledge.domains
    hosts = sorted({*known, *(f"www.{d}" for d in known)})
    expected = {}
    for host in hosts:
        svc = POLICY.holder(host, "/", HOST)
        held = svc is not None and svc.category not in POLICY.required
        expected[host] = svc.category if held else None
    got = await p.evaluate(CATEGORIES, hosts)
    missed = [h for h in hosts if expected[h] and not got[h]]
    assert not missed, missed[:10]
    # A false positive at a more specific label can only change the category it waits for.
    other = [h for h in hosts if got[h] != expected[h]]
    assert len(other) <= 3 * len(hosts) * 3 * len(BANNER_SETS) / 2**domainset.BITS, other
    assert expected["www.chartbeat.com"] == "analytics"
    assert NEVER in expected.values()  # functional trackers: no category here, held for good
    nobody = [f"cdn{i}.unlisted-{i}.example" for i in range(5_000)]
    held = [h for h, cat in (await p.evaluate(CATEGORIES, nobody)).items() if cat]
    lookups = len(nobody) * 3 * len(BANNER_SETS)
    assert len(held) <= 3 * lookups / 2**domainset.BITS + 5, held


async def test_guard_lets_the_site_cdns_and_unknown_hosts_through(page) -> None:
    p, _ = page
    for url in (
        f"https://static.{HOST}/app.js",
        "https://cdn.jsdelivr.net/npm/x.js",
        "https://fonts.example-unknown.org/f.css",
        "/relative.js",
    ):
        assert await p.evaluate("u => window.__guard.serviceOf(u)", url) is None, url


async def test_a_tracker_a_page_script_adds_waits_for_its_category(page) -> None:
    p, requested = page
    assert (
        await p.evaluate(ADD_SCRIPT, "https://static.chartbeat.com/js/chartbeat.js") == "text/plain"
    )
    await p.evaluate(ADD_SCRIPT, "https://cdn.jsdelivr.net/npm/lib.js")
    await p.wait_for_timeout(200)
    assert "static.chartbeat.com" not in requested and "cdn.jsdelivr.net" in requested
    await p.evaluate(
        "window.__guard.guardState({decided: true, categories: ['analytics'], services: []})"
    )
    assert await p.evaluate(ADD_SCRIPT, "https://static.chartbeat.com/js/chartbeat.js") is None
    await p.wait_for_timeout(200)
    assert "static.chartbeat.com" in requested


async def test_the_guard_reads_a_star_segment_in_a_hosts_path_as_the_server_does(page) -> None:
    """connect.facebook.net/*/sdk.js: Facebook's JS SDK is the social plugins' (what their
    facebook-jssdk snippet loads), the rest of facebook.net the pixel's, in the guard too."""
    p, _ = page
    for path in (
        "/en_US/sdk.js",
        "/de_DE/all.js",
        "/fr_FR/sdk/xfbml.customerchat.js",
        "/en_US/fbevents.js",
        "/signals/config/1",
        "/sdk.js",
        "//sdk.js",
    ):
        url = f"https://connect.facebook.net{path}"
        svc = POLICY.holder("connect.facebook.net", path, HOST)
        got = await p.evaluate("u => window.__guard.serviceOf(u)", url)
        assert got[1] == svc.category, (url, got)  # (a domain of a set: no service's name)
    assert POLICY.holder("connect.facebook.net", "/en_US/sdk.js", HOST).category == "social"


async def test_the_guard_reads_a_path_on_the_site_s_own_host_as_its_origin_serves_it(page) -> None:
    """guard.js's servedPath and knowledge.served_path on the same paths: a script's
    `new Image().src = "/js/..%2Fmatomo/m.php"` loaded a self-hosted Matomo before any
    choice, which nginx serves from /matomo/ (URL resolves `..`, but not `..%2F`)."""
    p, _ = page
    odd = ("/%ff/..%2Fmatomo/m.js", "/%zz/..%2Fmatomo/m.js", "/matomo/%C3%BC/..", "/m/..")
    for path in (*SERVED_UNDER_MATOMO, *NOT_UNDER_MATOMO, *odd):
        svc = POLICY.service_for_host(HOST, path)
        got = await p.evaluate("u => window.__guard.serviceOf(u)", f"http://{HOST}{path}")
        assert (got and got[0]) == (svc and svc.name), path
    assert await p.evaluate(ADD_SCRIPT, "/js/..%2Fmatomo/m.js") == "text/plain"


async def test_the_guard_holds_a_social_networks_ad_tag_apart_as_the_server_does() -> None:
    """`use: linkedin` alone (and twitter, tiktok): the server gives the Insight Tag's,
    X's pixel's and the TikTok Pixel's hosts under their wider domains to those built-ins
    (policy.apart), in advertising; the guard, reading the same tables, holds a URL a
    script makes of them so too, not as the social network's embeds."""
    config = parse_config(
        FOUR_CATEGORIES + "services: [{use: linkedin}, {use: twitter}, {use: tiktok}]\n",
        "halves.yaml",
    )
    policy = Policy(config)
    want = {
        "https://snap.licdn.com/li.lms-analytics/insight.min.js": [
            "linkedin-insight",
            "advertising",
        ],
        "https://px.ads.linkedin.com/collect": ["linkedin-insight", "advertising"],
        "https://analytics.twitter.com/i/adsct": ["x-pixel", "advertising"],
        "https://t.co/i/adsct": ["x-pixel", "advertising"],
        "https://analytics.tiktok.com/i18n/pixel/events.js": ["tiktok-pixel", "advertising"],
        "https://platform.linkedin.com/in.js": ["linkedin", "social"],
        "https://static.licdn.com/x.js": ["linkedin", "social"],
        "https://t.co/abc": ["twitter", "social"],
        "https://www.tiktok.com/embed.js": ["tiktok", "social"],
    }
    for url, (name, category) in want.items():
        parts = urlsplit(url)
        svc = policy.holder(parts.hostname or "", parts.path, HOST)
        assert svc is not None and (svc.name, svc.category) == (name, category), url
    async with guarded(Banner(config, policy)) as (p, _):
        got = await p.evaluate(
            "urls => urls.map(u => window.__guard.serviceOf(u).slice(0, 2))", list(want)
        )
    assert dict(zip(want, got, strict=True)) == want
