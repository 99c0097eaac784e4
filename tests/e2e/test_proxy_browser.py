"""The promise of the product, in a real Chromium through both adapters (`consentproxy
serve`'s code, and a real mitmdump with addons/consent.py in reverse mode): before a choice
nothing third-party loads and no tracking cookie is set; accepting activates in place;
refusing is remembered; withdrawing deletes; one category is one.

Every corpus page is also loaded straight from the origin by test_origin_baseline.py,
which shows the same pages do leak without the proxy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Self
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from consentproxy import server
from consentproxy.banner.texts import TEXTS
from consentproxy.config import load_config, parse_config
from consentproxy.demo.origin import serve_app
from consentproxy.engine import Engine
from consentproxy.scan import CHROMIUM
from consentproxy.scan import CHROMIUM_ARGS as BROWSER_FLAGS
from tests.adapters import ADAPTERS, mitmdump
from tests.conftest import DEMO_CONFIG
from tests.e2e.conftest import (
    FIRST_PARTY_HOST,
    ThirdPartyRecorder,
    expectation,
    pages_origin,
    recorded,
    start_proxy,
)

pytestmark = pytest.mark.e2e

NECESSARY = {"PHPSESSID", "lang", "consent"}
ANALYTICS_HOSTS = {"www.google-analytics.com", "www.googletagmanager.com", "static.hotjar.com"}
# In-page: the page's text without what the proxy adds (banner, placeholders).
SITE_TEXT = """() => {
    for (const el of document.querySelectorAll('#consentproxy, [data-consent-placeholder]')) el.remove();
    return document.body ? document.body.innerText : '';
}"""


@pytest.fixture(scope="session")
def mitm_proxy(origin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """mitmdump in reverse mode with the addon and the demo config, same origin."""
    upstream = f"http://127.0.0.1:{origin.rsplit(':', 1)[1]}"
    home = tmp_path_factory.mktemp("mitm-e2e")
    with mitmdump(DEMO_CONFIG, f"reverse:{upstream}", home, "e2e-secret-key-0123456789") as m:
        yield f"http://{FIRST_PARTY_HOST}:{m.port}"


@pytest.fixture(scope="session", params=ADAPTERS)
def proxy(request: pytest.FixtureRequest, proxy: str) -> str:
    """The site through one adapter or the other (conftest's `proxy` is `consentproxy
    serve`'s): every test here runs through both."""
    return proxy if request.param == "aiohttp" else str(request.getfixturevalue("mitm_proxy"))


@pytest.fixture
def base_url(proxy: str) -> str:
    return proxy


async def origin_text(browser: Browser, origin: str, path: str) -> str:
    context = await browser.new_context(base_url=origin)
    await ThirdPartyRecorder().install(context)
    page = await context.new_page()
    await page.goto(path)
    await page.wait_for_load_state("networkidle")
    text = await page.evaluate(SITE_TEXT)
    await context.close()
    return text


def lines(text: str) -> list[str]:
    """Visible text line by line; blank lines and edge spaces are layout, not content."""
    return [line.strip() for line in text.splitlines() if line.strip()]


async def tracking_cookies(tab) -> set[str]:
    return set(await tab.cookies()) - NECESSARY


async def banner_visible(tab) -> bool:
    return await tab.page.locator("dialog.cp-banner").is_visible()


async def banner_closed(tab) -> None:
    """Wait for the banner to close. A locator, not wait_for_function: polling a string
    predicate needs eval, which a page's own CSP may forbid (/csp-inline, /strict-csp)."""
    await tab.page.locator("dialog.cp-banner").wait_for(state="hidden")


@pytest.mark.corpus(document=True)
async def test_before_a_choice_nothing_third_party_and_one_banner(
    tab, corpus_page, browser, origin
):
    response = await tab.open(corpus_page.path)
    assert response is not None and response.status == corpus_page.status
    assert tab.recorder.requests == []
    assert await tracking_cookies(tab) == set()
    assert await tab.page.locator("#consentproxy").count() == 1
    assert await banner_visible(tab)
    text = await tab.page.evaluate(SITE_TEXT)
    assert expectation(corpus_page, "text") in text
    if expectation(corpus_page, "direct"):
        assert lines(text) == lines(await origin_text(browser, origin, corpus_page.path))


async def test_fragments_get_no_banner_and_stay_neutralised(tab):
    await tab.open("/xhr")
    assert await tab.page.locator("#consentproxy").count() == 1
    assert await tab.page.locator("[data-consent-blocked]").count() >= 1
    assert tab.recorder.requests == []


async def test_tracking_cookies_do_not_reach_the_origin(tab):
    await tab.context.add_cookies([{"name": "_ga", "value": "old", "url": tab.base_url}])
    await tab.open("/ga-classic")
    echoed = await tab.fetch("/api/echo-cookies")
    assert "_ga" not in echoed["cookies"] and "PHPSESSID" in echoed["cookies"]
    assert "_ga" not in await tab.cookies()  # and the stale one was deleted


async def wait_until(page: Page, ready: Callable[[], Awaitable[bool]], seconds: float = 10) -> None:
    """Poll ready() every 100 ms for up to seconds (the assertion after it tells what failed)."""
    for _ in range(int(seconds * 10)):
        if await ready():
            return
        await page.wait_for_timeout(100)


async def wait_for_hosts(tab, hosts: set[str], seconds: float = 10) -> None:
    """Poll the recorder (networkidle is unreliable once iframes navigate in place)."""

    async def seen() -> bool:
        return hosts <= tab.recorder.hosts

    await wait_until(tab.page, seen, seconds)


async def wait_for_cookie(tab, name: str) -> None:
    """Poll the browser's cookie jar: a script's document.cookie reaches it asynchronously
    (the network service stores it), so under load a read right after may miss it."""

    async def stored() -> bool:
        return name in await tab.cookies()

    await wait_until(tab.page, stored)


@pytest.mark.corpus(third_party=True, direct=True, document=True)
async def test_accept_all_activates_everything_without_reload(tab, corpus_page):
    await tab.open(corpus_page.path)
    await tab.page.evaluate("window.__same_page = 1")
    await tab.page.click("[data-consent-action=accept-all]")
    await banner_closed(tab)
    # A beacon fired before consent (new Image() in /loader) is dropped, not replayed.
    expected = set(corpus_page.expect["hosts"]) - set(corpus_page.expect.get("beacons", []))
    await wait_for_hosts(tab, expected)
    assert expected <= tab.recorder.hosts
    assert await tab.page.evaluate("window.__same_page") == 1
    assert not await banner_visible(tab)


async def test_dynamic_loads_by_first_party_code_wait_for_consent(tab):
    await tab.open("/loader")
    assert tab.recorder.requests == []
    held = tab.page.locator("script[data-consent-blocked=facebook-pixel]")
    assert await held.count() == 1  # created by loader.js, held by the guard
    await tab.page.click("[data-consent-action=accept-all]")
    await wait_for_hosts(tab, {"connect.facebook.net"})
    assert ("connect.facebook.net", "script") in {
        (r.host, r.resource_type) for r in tab.recorder.requests
    }


async def test_reject_all_is_remembered(tab):
    await tab.open("/embeds")
    await tab.page.click("[data-consent-action=reject-all]")
    await tab.page.wait_for_timeout(300)
    assert not await banner_visible(tab)
    await tab.open("/embeds")
    await tab.open("/gtm")
    assert tab.recorder.requests == []
    assert not await banner_visible(tab)
    assert await tracking_cookies(tab) == set() and "consent" in await tab.cookies()


async def test_accept_then_withdraw_removes_trackers_and_their_cookies(tab):
    await tab.open("/facebook")
    await tab.page.click("[data-consent-action=accept-all]")
    await tab.page.wait_for_function("window.__loaded_connect_facebook_net === 1")
    await wait_for_cookie(tab, "_fbp")
    assert "_fbp" in await tab.cookies()  # set by the (fake) pixel once allowed
    await tab.page.click("[data-consent-action=open]")
    async with tab.page.expect_navigation():  # withdrawal reloads: running code must stop
        await tab.page.click("[data-consent-action=reject-all]")
    await tab.page.wait_for_load_state("networkidle")
    tab.recorder.clear()
    await tab.open("/facebook")
    assert tab.recorder.requests == []
    assert await tracking_cookies(tab) == set()


# In the page: what a tracker still running does, a beacon (an image) and its cookie.
TRACKER_SENDS = """() => {
    new Image().src = 'https://www.facebook.com/tr?id=123&ev=Late';
    document.cookie = '_fbp=late; path=/';
    return document.cookie;
}"""


class HeldChoice:
    """The page's /choice requests held until `answered` is set, then sent on (answer
    "late") or failed ("failed"); leaving answers a held one and waits for it."""

    def __init__(self, page, answer: str = "late"):
        self.page, self.answer = page, answer
        self.asked, self.answered, self.done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def _hold(self, route) -> None:
        self.asked.set()
        await self.answered.wait()
        await (route.continue_() if self.answer == "late" else route.abort())
        self.done.set()

    async def __aenter__(self) -> Self:
        await self.page.route("**/.consent/choice*", self._hold)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.answered.set()
        if self.asked.is_set():
            await asyncio.wait_for(self.done.wait(), 10)


@pytest.mark.parametrize("answer", ["late", "failed"])
async def test_a_withdrawal_stops_trackers_before_the_proxy_answers(tab, answer):
    """The guard went on allowing a withdrawn category until /choice answered: a tracker
    still running on the page sent its beacon and set its cookie in the meantime."""
    await tab.open("/facebook")
    await tab.page.click("[data-consent-action=accept-all]")
    await tab.page.wait_for_function("window.__loaded_connect_facebook_net === 1")
    await wait_for_cookie(tab, "_fbp")
    async with HeldChoice(tab.page, answer) as held:
        await tab.page.click("[data-consent-action=open]")
        await tab.page.click("[data-consent-action=reject-all]")
        await asyncio.wait_for(held.asked.wait(), 10)
        tab.recorder.clear()
        cookies = await tab.page.evaluate(TRACKER_SENDS)
        await tab.page.wait_for_timeout(300)
        assert tab.recorder.to("facebook.com") == [] and "_fbp=late" not in cookies
        assert (await tab.cookies()).get("_fbp") != "late"
        if answer == "late":
            async with tab.page.expect_navigation():  # then the reload, as before
                held.answered.set()
        else:
            held.answered.set()
            await tab.page.locator(".cp-error").wait_for()
            assert "_fbp=late" not in await tab.page.evaluate(TRACKER_SENDS)
            await tab.page.wait_for_timeout(300)
            assert tab.recorder.to("facebook.com") == []


async def test_a_withdrawal_stops_the_other_tabs_trackers_before_the_proxy_answers(tab):
    """The other tabs heard of a withdrawal only once the proxy had answered it: their
    trackers went on beaconing and setting cookies meanwhile."""
    await tab.open("/facebook")
    await tab.page.click("[data-consent-action=accept-all]")
    # (the choice answered, its cookie kept: then the other tab opens with it; CI once
    # opened it first, on a loaded machine)
    await tab.page.wait_for_function("window.__loaded_connect_facebook_net === 1")
    other = await tab.context.new_page()
    await other.goto("/facebook")
    await other.wait_for_function("window.__loaded_connect_facebook_net === 1")
    async with HeldChoice(tab.page) as held:
        await tab.page.click("[data-consent-action=open]")
        await tab.page.click("[data-consent-action=reject-all]")
        await asyncio.wait_for(held.asked.wait(), 10)
        await other.wait_for_timeout(300)  # (the message between two tabs: well under it)
        tab.recorder.clear()
        cookies = await other.evaluate(TRACKER_SENDS)
        await other.wait_for_timeout(300)
        assert tab.recorder.to("facebook.com") == [] and "_fbp=late" not in cookies
        async with other.expect_navigation():  # then, the answer told, it reloads as before
            held.answered.set()
    await other.close()


async def test_a_choice_made_in_one_tab_reaches_the_sites_other_tabs(tab):
    """A withdrawal stopped nothing in the site's other open tabs: their trackers, allowed
    when they loaded, kept sending and set their cookies again until the visitor left them."""
    await tab.open("/facebook")
    other = await tab.context.new_page()
    await other.goto("/facebook")
    await tab.page.click("[data-consent-action=accept-all]")
    await other.wait_for_function("window.__loaded_connect_facebook_net === 1")  # in place
    await tab.page.click("[data-consent-action=open]")
    async with other.expect_navigation():  # the other tab's running code must stop too
        await tab.page.click("[data-consent-action=reject-all]")
    await other.wait_for_load_state("networkidle")
    assert await other.evaluate("window.__loaded_connect_facebook_net") is None
    assert await other.locator("[data-consent-blocked]").count() >= 1
    await other.close()


async def test_a_page_back_from_the_browsers_cache_asks_what_was_chosen_meanwhile(origin):
    """A page kept in the back-forward cache came back as it was left, its trackers running,
    after a withdrawal no message reached it with: made on a sibling host under
    cookie_domain (another origin: no BroadcastChannel), it beaconed and set _fbp again."""
    port = origin.rsplit(":", 1)[1]
    config = load_config(DEMO_CONFIG).with_overrides(upstream=f"http://127.0.0.1:{port}")
    config = replace(config, consent=replace(config.consent, cookie_domain=FIRST_PARTY_HOST))
    running = await server.start(Engine(config, [b"e2e-secret-key-0123456789"]), "127.0.0.1", 0)
    shop, www = (f"http://{h}.{FIRST_PARTY_HOST}:{running.port}" for h in ("shop", "www"))
    recorder = ThirdPartyRecorder(frozenset(urlsplit(u).hostname for u in (shop, www)))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                *BROWSER_FLAGS,
                f"--host-resolver-rules=MAP *.{FIRST_PARTY_HOST} 127.0.0.1, MAP * ~NOTFOUND",
            ],
            ignore_default_args=["--disable-back-forward-cache"],  # (Playwright's default)
        )
        try:
            context = await browser.new_context()
            await recorder.install(context)
            page = await context.new_page()
            await page.goto(www + "/facebook")
            await page.click("[data-consent-action=accept-all]")
            await page.wait_for_function("window.__loaded_connect_facebook_net === 1")
            # As it comes back, the page inserts a pixel (before the proxy has answered): the
            # banner had brought it back by the state the page left with.
            await page.evaluate("""() => addEventListener('pageshow', (e) => {
                if (!e.persisted) return;
                sessionStorage.restored = 1;  // (kept over the reload)
                const pixel = document.createElement('img');
                pixel.src = 'https://www.facebook.com/tr?id=123&ev=Back';
                document.body.append(pixel); })""")
            await page.goto(shop + "/embeds")
            await page.click("[data-consent-action=open]")
            async with page.expect_navigation():
                await page.click("[data-consent-action=reject-all]")
            await page.wait_for_load_state("networkidle")
            recorder.clear()
            await page.evaluate("history.back()")  # (go_back waits for a load none sends)
            await page.wait_for_function("location.host.startsWith('www.')")
            await page.wait_for_load_state("networkidle")
            cookies = await page.evaluate(TRACKER_SENDS)
            await page.wait_for_timeout(300)
            assert recorder.to("facebook.com") == [] and "_fbp=late" not in cookies
            assert await page.evaluate("sessionStorage.restored") == "1"  # (from the cache)
        finally:
            await browser.close()
            await running.stop()


async def test_another_tabs_withdrawal_does_not_post_its_form_again(tab):
    """A withdrawal reloaded the site's other tabs: one showing the answer to a form (an
    order placed) posted it again."""
    posts = []

    async def order(route):  # (the corpus site has no form: its /facebook page answers)
        if route.request.method == "POST":
            posts.append(route.request.post_data)
        await route.continue_(method="GET", url=tab.base_url + "/facebook")

    await tab.context.route("**/order", order)
    await tab.open("/facebook")
    await tab.page.click("[data-consent-action=accept-all]")
    other = await tab.context.new_page()
    await other.goto("/facebook")
    async with other.expect_navigation():
        await other.evaluate("""() => { const f = document.createElement('form');
            f.method = 'post'; f.action = '/order'; f.innerHTML = '<input name=item value=1>';
            document.body.append(f); f.submit(); }""")
    await other.wait_for_function("window.__loaded_connect_facebook_net === 1")
    await tab.page.click("[data-consent-action=open]")
    async with other.expect_navigation():
        await tab.page.click("[data-consent-action=reject-all]")
    await other.wait_for_load_state("networkidle")
    assert posts == ["item=1"] and other.url.endswith("/order")
    assert await other.evaluate("window.__loaded_connect_facebook_net") is None
    await other.close()


async def test_a_choice_made_without_javascript_reaches_the_other_tabs(tab):
    """Only the banner's script told the other tabs: a choice posted as a plain form (no
    JavaScript, erasing one's records) left their trackers running."""
    await tab.open("/facebook")
    await tab.page.click("[data-consent-action=accept-all]")
    other = await tab.context.new_page()
    await other.goto("/facebook")
    await other.wait_for_function("window.__loaded_connect_facebook_net === 1")
    async with other.expect_navigation():
        await tab.page.evaluate("""() => { const f = document.createElement('form');
            f.method = 'post'; f.action = '/.consent/choice';
            f.innerHTML = '<input name=action value=reject-all><input name=return value=/facebook>';
            document.body.append(f); HTMLFormElement.prototype.submit.call(f); }""")
    await other.wait_for_load_state("networkidle")
    assert await other.evaluate("window.__loaded_connect_facebook_net") is None
    await other.close()


async def test_another_tabs_choice_leaves_the_preferences_open_here(tab):
    await tab.open("/facebook")
    other = await tab.context.new_page()
    await other.goto("/facebook")
    await other.click("[data-consent-action=customize]")
    preferences = other.locator("dialog.cp-banner")
    await preferences.wait_for(state="visible")
    await tab.page.click("[data-consent-action=accept-all]")
    await other.wait_for_function("window.__loaded_connect_facebook_net === 1")  # applied
    assert await preferences.is_visible()
    assert await other.locator("[data-consent-category=advertising]").is_checked()
    await other.close()


async def test_one_category_lets_only_that_category_through(tab):
    await tab.open("/ga-classic")
    await tab.page.click("[data-consent-action=customize]")
    await tab.page.check("[data-consent-category=analytics]")
    await tab.page.click("[data-consent-action=save]")
    await banner_closed(tab)
    await wait_for_hosts(tab, {"www.google-analytics.com"})
    for path in ("/embeds", "/gtag", "/facebook", "/social", "/hotjar"):
        await tab.open(path)
    assert tab.recorder.hosts and tab.recorder.hosts <= ANALYTICS_HOSTS
    assert "_ga" in await tab.cookies() and "_fbp" not in await tab.cookies()


# A legacy theme's video facades: thumbnails in a <style>, a style attribute and a table
# cell's background.
FACADES = {
    "/facades": "<style>.hero{height:20px;background:url(https://i.ytimg.com/vi/a/0.jpg)}</style>"
    "<div class=hero>hero</div><div id=facade style='height:20px;background-image:"
    'url("https://i.ytimg.com/vi/b/0.jpg")\'>video</div><table><tr>'
    "<td background=https://i.ytimg.com/vi/c/0.jpg>cell</td></tr></table><p>Our films</p>"
}


async def test_css_and_background_urls_come_back_in_place_after_accepting(browser):
    thumbnails = {f"https://i.ytimg.com/vi/{v}/0.jpg" for v in "abc"}

    async def wait_for_thumbnails(page: Page, recorder: ThirdPartyRecorder) -> None:
        async def seen() -> bool:
            return thumbnails <= {r.url for r in recorder.requests}

        await wait_until(page, seen, 5)

    async with pages_origin(FACADES) as origin:
        async with recorded(browser, origin) as (page, recorder):  # (the test needs them)
            await page.goto("/facades")
            await wait_for_thumbnails(page, recorder)
            assert {r.url for r in recorder.requests} == thumbnails
        running = await start_proxy(origin)
        try:
            async with recorded(browser, f"{origin.rsplit(':', 1)[0]}:{running.port}") as (
                page,
                recorder,
            ):
                await page.goto("/facades")
                await page.wait_for_load_state("networkidle")
                assert recorder.requests == []
                await page.evaluate("window.__same_page = 1")
                await page.click("[data-consent-action=accept-all]")
                await wait_for_thumbnails(page, recorder)
                assert {r.url for r in recorder.requests} == thumbnails
                assert await page.evaluate("window.__same_page") == 1
        finally:
            await running.stop()


# A uCoz page: its host's scripts come before <html> (over plain http no Sec-Fetch-Dest says
# it is a document: the first bytes did, and said "fragment").
SCRIPT_FIRST = (
    "<script src='https://www.google-analytics.com/analytics.js'></script>\n"
    "<html><head><title>Letters</title></head><body><p>Our letters</p></body></html>"
)


async def test_a_page_whose_first_tag_is_a_script_gets_the_banner(browser):
    async def page(_: web.Request) -> web.Response:
        return web.Response(text=SCRIPT_FIRST, content_type="text/html")

    app = web.Application()
    app.router.add_get("/letters", page)
    async with serve_app(app) as port:
        running = await start_proxy(f"http://127.0.0.1:{port}")
        try:
            async with recorded(browser, f"http://{FIRST_PARTY_HOST}:{running.port}") as (
                tab,
                recorder,
            ):
                await tab.goto("/letters")
                await tab.locator("dialog.cp-banner").wait_for()
                assert recorder.requests == []
                await tab.click("[data-consent-action=accept-all]")

                async def loaded() -> bool:
                    return bool(recorder.requests)

                await wait_until(tab, loaded)
                assert recorder.hosts == {"www.google-analytics.com"}
        finally:
            await running.stop()


async def test_choices_work_without_javascript(browser, proxy):
    context = await browser.new_context(base_url=proxy, java_script_enabled=False)
    recorder = ThirdPartyRecorder()
    await recorder.install(context)
    page = await context.new_page()
    await page.goto("/embeds")
    async with page.expect_navigation():
        await page.click("[data-consent-action=accept-all]")
    assert page.url.endswith("/embeds")
    assert await page.locator("dialog.cp-banner").is_hidden()
    assert {"www.youtube.com", "player.vimeo.com"} <= recorder.hosts
    await context.close()


# Services enough that granting them one by one is too long for the consent cookie.
ONE_BY_ONE = "".join(
    f"  - {{name: measurement-service-with-a-long-name-{i:02d}, category: analytics, "
    f"hosts: [m{i:02d}.example]}}\n"
    for i in range(30)
)


async def test_a_choice_saved_narrowed_is_said_without_javascript(browser):
    """A choice too long for the consent cookie is saved narrowed (some services left off):
    banner.js says so, but the no-JavaScript form went back to the page with no word of it,
    the visitor believing every service they ticked was allowed. The form now goes to the
    preferences, the notice above the boxes as saved; saving them goes back to the page.
    Only the proxy's own redirect shows the notice (signed for the choice just saved)."""
    async with pages_origin({"/shop": "<p>Our shop</p>"}) as origin:
        config = parse_config(
            f"upstream: http://127.0.0.1:{origin.rsplit(':', 1)[1]}\n"
            "categories: {necessary: {required: true}, analytics: {}}\n"
            f"services:\n{ONE_BY_ONE}"
        )
        running = await server.start(Engine(config, [b"e2e-secret-key-0123456789"]), "127.0.0.1", 0)
        context = await browser.new_context(
            base_url=f"http://{FIRST_PARTY_HOST}:{running.port}", java_script_enabled=False
        )
        try:
            page = await context.new_page()
            await page.goto("/shop")
            await page.click("summary[data-consent-action=customize]")
            await page.click("details.cp-services summary")
            boxes = page.locator("input[name=service]")
            for i in range(await boxes.count()):
                await boxes.nth(i).check()
            async with page.expect_navigation():
                await page.click("[data-consent-action=save]")
            notice = page.get_by_text(TEXTS["en"]["narrowed"])
            assert await notice.is_visible(), page.url
            await page.click("details.cp-services summary")
            kept = await page.locator("input[name=service]:checked").count()
            assert 0 < kept < 30
            async with page.expect_navigation():
                await page.click("[data-consent-action=save]")
            assert urlsplit(page.url).path == "/shop"
            assert await page.locator("dialog.cp-banner").is_hidden()
            assert not await page.get_by_text(TEXTS["en"]["narrowed"]).count()
            # (anyone's link saying so, a nudge to allow whole categories, says nothing)
            await page.goto("/.consent/preferences?return=/shop&narrowed=1")
            assert await page.locator("input[name=service]").count()
            assert not await page.get_by_text(TEXTS["en"]["narrowed"]).count()
        finally:
            await context.close()
            await running.stop()


async def test_enforced_csp_blocks_dynamic_loads_and_accepting_reloads(browser, enforcing_proxy):
    context = await browser.new_context(base_url=enforcing_proxy)
    recorder = ThirdPartyRecorder()
    await recorder.install(context)
    page = await context.new_page()
    await page.goto("/loader")
    await page.wait_for_load_state("networkidle")
    assert recorder.requests == []
    # The page's CSP was written for "no decision": accepting must load a new page.
    async with page.expect_navigation():
        await page.click("[data-consent-action=accept-all]")
    await page.wait_for_load_state("networkidle")
    assert "connect.facebook.net" in recorder.hosts
    await context.close()
