"""Google Consent Mode v2 advanced mode (`consent_mode: advanced` on a Google tag), in
Chromium through the proxy: the tag loads before consent, after the guard has pushed the
denied default; its Set-Cookie is stripped until consent; accepting updates the signals to
granted; a tag left in basic mode (the default) stays held."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, Route

from consentproxy import server
from consentproxy.config import load_config
from consentproxy.demo.origin import serve_app
from consentproxy.engine import Engine
from tests.conftest import DEMO_CONFIG
from tests.e2e.conftest import FIRST_PARTY_HOST, recorded

pytestmark = pytest.mark.e2e
GTAG = "https://www.googletagmanager.com/gtag/js?id=G-1"
PAGE = (
    "<!doctype html><html><head><title>shop</title>"
    f'<script async src="{GTAG}"></script>'
    "<script>window.dataLayer = window.dataLayer || [];"
    "function gtag(){dataLayer.push(arguments);}"
    "gtag('js', new Date()); gtag('config', 'G-1');</script>"
    '<script async src="https://connect.facebook.net/en_US/fbevents.js"></script>'
    "</head><body><p>shop</p></body></html>"
)
# The stand-in for gtag.js: what Consent Mode said when it ran, and a cookie it tries to set.
TAG = (
    "window.__tag_saw = (window.dataLayer || []).filter(function (e) {"
    "  return e[0] === 'consent'; }).map(function (e) { return [e[1], e[2]]; });"
    "document.cookie = '_ga=GA1.1.from-tag; path=/';"
)
SIGNALS = ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization")
OPEN = "() => document.getElementById('consentproxy').shadowRoot.querySelector('dialog').open"


async def page(request: web.Request) -> web.Response:
    resp = web.Response(text=PAGE, content_type="text/html")
    resp.headers.add("Set-Cookie", "_ga=GA1.1.from-origin; Path=/; Max-Age=3600")
    return resp


async def own_snippet(request: web.Request) -> web.Response:
    return web.Response(text=OWN_SNIPPET, content_type="text/html")


async def renamed_layer(request: web.Request) -> web.Response:
    return web.Response(text=RENAMED_LAYER, content_type="text/html")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def advanced_proxy() -> AsyncIterator[str]:
    """The demo config with Google Analytics and gtag.js's host (Google Tag Manager) in
    advanced mode; the Facebook pixel stays basic."""
    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/own", own_snippet)
    app.router.add_get("/renamed", renamed_layer)
    async with serve_app(app) as port:
        config = load_config(DEMO_CONFIG).with_overrides(upstream=f"http://127.0.0.1:{port}")
        config = replace(
            config,
            services=tuple(
                replace(s, consent_mode="advanced")
                if s.name in ("google-analytics", "google-tag-manager")
                else s
                for s in config.services
            ),
        )
        running = await server.start(Engine(config, [b"e2e-secret-key-0123456789"]), "127.0.0.1", 0)
        yield f"http://{FIRST_PARTY_HOST}:{running.port}"
        await running.stop()


async def test_advanced_tag_loads_before_consent_with_denied_signals_and_no_cookies(
    browser: Browser, advanced_proxy: str
) -> None:
    async with recorded(browser, advanced_proxy) as (tab, recorder):

        async def tag(route: Route) -> None:
            await route.fulfill(body=TAG, content_type="application/javascript")

        await tab.route("https://www.googletagmanager.com/gtag/js*", tag)
        loaded = tab.wait_for_function("() => window.__tag_saw !== undefined")
        await tab.goto("/")
        await loaded
        await tab.wait_for_load_state("networkidle")
        assert await tab.evaluate(OPEN)  # no choice yet: the banner asks
        saw = await tab.evaluate("window.__tag_saw")
        assert saw and saw[0][0] == "default", saw  # the default came before the tag ran
        assert all(saw[0][1][s] == "denied" for s in SIGNALS), saw
        assert not [k for k, _ in saw if k == "update"]
        assert "_ga" not in {c["name"] for c in await tab.context.cookies()}  # both refused
        assert not recorder.to("facebook.net")  # basic mode: held

        await tab.click("[data-consent-action=accept-all]")
        await tab.wait_for_function(
            "() => window.dataLayer.some(function (e) {"
            " return e[0] === 'consent' && e[1] === 'update'; })"
        )
        update = json.loads(
            await tab.evaluate(
                "JSON.stringify(window.dataLayer.filter(function (e) {"
                " return e[0] === 'consent' && e[1] === 'update'; }).pop()[2])"
            )
        )
        assert all(update[s] == "granted" for s in SIGNALS), update
        await tab.reload()
        await tab.wait_for_load_state("networkidle")
        assert "_ga" in {c["name"] for c in await tab.context.cookies()}
        assert recorder.to("facebook.net")


# The site's own snippet grants every signal (in a dataLayer it declares anew), then updates
# them once its tag has run; the tag, as gtag.js does, wraps dataLayer.push and reads each
# consent command it is handed.
OWN_SNIPPET = (
    "<!doctype html><html><head><title>shop</title><script>var dataLayer = [];"
    "function gtag(){dataLayer.push(arguments);}"
    "gtag('consent', 'default', {ad_storage: 'granted', analytics_storage: 'granted',"
    " ad_user_data: 'granted', ad_personalization: 'granted'});</script>"
    f"<script async src=\"{GTAG}\" onload=\"gtag('consent', 'update', "
    "{ad_storage: 'granted', ad_user_data: 'granted'}); window.__updated = 1\"></script>"
    "</head><body><p>shop</p></body></html>"
)
CHAIN_TAG = (
    "var layer = window.dataLayer, before = layer.push, seen = window.__tag_seen = [];"
    "function read(e) { if (e[0] === 'consent') seen.push([e[1], JSON.stringify(e[2])]); }"
    "[].forEach.call(layer, read);"
    "layer.push = function () { [].forEach.call(arguments, read);"
    " return before.apply(layer, arguments); };"
)


async def test_the_site_s_own_consent_commands_only_narrow_the_visitor_s_choice(
    browser: Browser, advanced_proxy: str
) -> None:
    """(its snippet's default and update, all granted, went on untouched: Google's tags read
    every signal granted before any choice, ad signals after only analytics was accepted)"""
    async with recorded(browser, advanced_proxy) as (tab, _):

        async def tag(route: Route) -> None:
            await route.fulfill(body=CHAIN_TAG, content_type="application/javascript")

        await tab.route("https://www.googletagmanager.com/gtag/js*", tag)
        for accepted in (False, True):
            if accepted:
                await tab.click("[data-consent-action=accept-all]")
                await tab.wait_for_function("() => !(" + OPEN + ")()")
            await tab.goto("/")
            await tab.evaluate("window.__updated = 0")
            await tab.goto("/own")
            await tab.wait_for_function("() => window.__updated === 1")
            seen = await tab.evaluate("window.__tag_seen")
            assert seen, seen
            for kind, signals in seen:
                values = {v for k, v in json.loads(signals).items() if k in SIGNALS}
                assert values == ({"granted"} if accepted else {"denied"}), (kind, signals)


# GTM's snippet with its data layer renamed (`l=dl`): the site's own default grants every
# signal and the container's start event is queued before gtm.js is asked for.
RENAMED_LAYER = (
    "<!doctype html><html><head><title>shop</title><script>var dl = [];"
    "function gtag(){dl.push(arguments);}"
    "gtag('consent', 'default', {ad_storage: 'granted', analytics_storage: 'granted',"
    " ad_user_data: 'granted', ad_personalization: 'granted'});"
    "dl.push({'gtm.start': Date.now(), event: 'gtm.js'});"
    "var j = document.createElement('script'); j.async = true;"
    " j.onload = function () { window.__updated = 1; };"
    " j.src = 'https://www.googletagmanager.com/gtm.js?id=GTM-1&l=dl';"
    " document.head.appendChild(j);</script></head><body><p>shop</p></body></html>"
)


async def test_a_renamed_data_layer_gets_the_default_first_and_the_clamp(
    browser: Browser, advanced_proxy: str
) -> None:
    """(the default and the clamp reached window.dataLayer only: a container reading `dl`
    saw every signal granted before any choice)"""
    async with recorded(browser, advanced_proxy) as (tab, _):

        async def tag(route: Route) -> None:
            body = CHAIN_TAG.replace("window.dataLayer", "window.dl")
            await route.fulfill(body=body, content_type="application/javascript")

        await tab.route("https://www.googletagmanager.com/gtm.js*", tag)
        await tab.goto("/renamed")
        await tab.wait_for_function("() => window.__updated === 1")
        first = await tab.evaluate("window.dl[0][0] + ' ' + window.dl[0][1]")
        assert first == "consent default"  # (before the start event the container reads)
        seen = await tab.evaluate("window.__tag_seen")
        assert len(seen) == 2, seen  # the guard's default, then the site's, clamped
        for kind, signals in seen:
            values = {v for k, v in json.loads(signals).items() if k in SIGNALS}
            assert values == {"denied"}, (kind, signals)
