"""The banner as visitors get it: through the real proxy, on the corpus and the demo site —
origins with their own strict CSP, no JavaScript, placeholders that record a service,
keyboard only, and axe-core on every layer in both languages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, Page

from consentproxy.demo.origin import serve_app
from tests.e2e.conftest import FIRST_PARTY_HOST, ThirdPartyRecorder, axe_violations, start_proxy

pytestmark = pytest.mark.e2e
# Functions, not expressions: a string expression is eval()-ed, which strict CSPs refuse.
CLOSED = "() => !document.getElementById('consentproxy').shadowRoot.querySelector('dialog').open"
ACCENT = "rgb(29, 78, 216)"  # the default theme's accent: the banner's CSS applied


@pytest.fixture
def base_url(proxy: str) -> str:
    return proxy


async def visit(
    browser: Browser, base_url: str, path: str, **context_args: object
) -> tuple[Page, ThirdPartyRecorder, list[str]]:
    """A fresh context on a page; console messages collected (CSP refusals show there)."""
    context = await browser.new_context(base_url=base_url, **context_args)  # type: ignore[arg-type]
    recorder = ThirdPartyRecorder()
    await recorder.install(context)
    page = await context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    await page.goto(path)
    await page.wait_for_load_state("networkidle")
    return page, recorder, console


@pytest_asyncio.fixture(loop_scope="session")
async def contexts(browser: Browser) -> AsyncIterator[list]:
    """Closes every context a test opened with visit()."""
    before = set(browser.contexts)
    yield []
    for context in set(browser.contexts) - before:
        await context.close()


async def test_strict_nonce_csp_of_the_origin_keeps_holding_and_the_banner_works(
    browser, proxy, contexts
):
    page, recorder, console = await visit(browser, proxy, "/strict-csp")
    assert recorder.requests == []
    accept = page.locator("[data-consent-action=accept-all]")
    assert await accept.is_visible()
    assert await accept.evaluate("b => getComputedStyle(b).backgroundColor") == ACCENT
    assert await page.evaluate("window.__site_nonce_ran") == 1
    assert not [m for m in console if "Refused" in m or "pageerror" in m], console
    # The site's own policy still holds for anything else: its stray script without the
    # nonce stays blocked, as it is straight from the origin.
    assert await page.evaluate("window.__sneaky") is None
    await accept.click()
    await page.wait_for_function(CLOSED)
    await page.wait_for_function("() => window.__loaded_www_google_analytics_com === 1")
    assert {"www.google-analytics.com", "www.youtube.com"} <= recorder.hosts


async def test_unsafe_inline_csp_of_the_origin_is_not_switched_off(browser, proxy, contexts):
    page, recorder, console = await visit(browser, proxy, "/csp-inline")
    assert await page.evaluate("window.__site_inline_ran") == 1
    assert recorder.requests == []
    # connect-src 'none' in the site's policy: the proxy's own endpoint is let in.
    await page.click("[data-consent-action=accept-all]")
    await page.wait_for_function(CLOSED)
    await page.wait_for_function("() => window.__loaded_www_google_analytics_com === 1")
    assert not [m for m in console if "Refused" in m or "pageerror" in m], console


async def test_always_allow_a_service_is_remembered_by_the_proxy(browser, proxy, contexts):
    page, recorder, _ = await visit(browser, proxy, "/embeds")
    await page.click("[data-consent-action=reject-all]")
    await page.wait_for_function(CLOSED)
    await (
        page.locator("[data-consent-placeholder=youtube]")
        .first.get_by_role("button", name="Always allow YouTube")
        .click()
    )
    await page.wait_for_selector("iframe[src*='youtube.com']", state="attached")
    await page.reload()
    await page.wait_for_load_state("networkidle")
    # Served as is now: the proxy honours the service, and only that service.
    assert await page.locator("iframe[src^='https://www.youtube.com/embed/']").count() == 1
    assert await page.locator("[data-consent-placeholder=vimeo]").count() == 1
    assert "player.vimeo.com" not in recorder.hosts
    assert "www.youtube.com" in recorder.hosts


async def test_load_once_does_not_outlive_the_page(browser, proxy, contexts):
    page, recorder, _ = await visit(browser, proxy, "/embeds")
    await page.click("[data-consent-action=reject-all]")
    await page.wait_for_function(CLOSED)
    once = page.locator("[data-consent-placeholder=vimeo]").get_by_role(
        "button", name="Load this once"
    )
    await once.evaluate("b => b.click()")  # a script's click: the visitor's choice alone loads
    await page.wait_for_timeout(300)
    assert "player.vimeo.com" not in recorder.hosts
    # (the response: the recorder has the request by then; the request event may come first)
    async with page.expect_response("https://player.vimeo.com/**"):
        await once.click()
    # Not networkidle: a frame whose request ends before its DOMContentLoaded can leave
    # Playwright's networkidle unset for good (microsoft/playwright#42598); it failed CI once.
    await page.wait_for_selector("iframe[src^='https://player.vimeo.com/']", state="attached")
    assert "player.vimeo.com" in recorder.hosts
    recorder.clear()
    await page.reload()
    await page.wait_for_load_state("networkidle")
    assert await page.locator("[data-consent-placeholder=vimeo]").count() == 1
    assert recorder.requests == []


async def test_without_javascript_manage_cookies_leads_to_the_preferences(browser, proxy, contexts):
    page, recorder, _ = await visit(browser, proxy, "/embeds", java_script_enabled=False)
    async with page.expect_navigation():
        await page.click("[data-consent-action=accept-all]")
    assert page.url.endswith("/embeds") and "www.youtube.com" in recorder.hosts
    async with page.expect_navigation():
        await page.click("[data-consent-action=open]")
    assert "/.consent/preferences" in page.url
    assert await page.locator("input[data-consent-category=social]").is_checked()
    await page.uncheck("input[data-consent-category=social]")
    async with page.expect_navigation():
        await page.click("[data-consent-action=save]")
    assert page.url.endswith("/embeds")
    recorder.clear()
    await page.reload()
    assert "www.youtube.com" not in recorder.hosts
    assert "www.google-analytics.com" not in recorder.hosts


@pytest.mark.parametrize("locale", ["en-GB", "fr-FR"])
async def test_demo_site_has_no_axe_violations_on_any_layer(browser, demo_site, contexts, locale):
    page, _, console = await visit(browser, demo_site, "/", locale=locale)
    assert await axe_violations(page, ["#consentproxy"]) == []
    await page.click("[data-consent-action=customize]")
    for summary in await page.locator(".cp-services summary").all():
        await summary.click()
    assert await axe_violations(page, ["#consentproxy"]) == []
    await page.click("[data-consent-action=reject-all]")
    await page.wait_for_function(CLOSED)
    assert await axe_violations(page, ["#consentproxy", "[data-consent-placeholder]"]) == []
    assert not [m for m in console if "pageerror" in m], console


async def test_demo_site_keyboard_only_at_200_percent_zoom(browser, demo_site, contexts):
    # 200 % zoom of a 1280 px window is a 640 px wide layout with everything twice as big.
    page, recorder, _ = await visit(
        browser, demo_site, "/", viewport={"width": 640, "height": 400}, device_scale_factor=2
    )
    for _ in range(6):
        await page.keyboard.press("Tab")
        active = await page.evaluate("""(() => { let a = document.activeElement;
            while (a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
            return a.getAttribute('data-consent-action'); })()""")
        if active == "reject-all":
            break
    else:
        pytest.fail("Reject all is not reachable with Tab")
    box = await page.locator("dialog.cp-banner").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 640
    await page.keyboard.press("Enter")
    await page.wait_for_function(CLOSED)
    assert recorder.requests == []


# How far the open dialog's content runs past its own edge or the viewport's (CSS px).
OVERFLOW = """() => { const d = document.getElementById('consentproxy').shadowRoot
    .querySelector('dialog[open]');
    return Math.max(d.scrollWidth - d.clientWidth, d.getBoundingClientRect().right - innerWidth); }"""


@pytest.mark.parametrize("lang", ["en", "fr", "de", "es", "it", "nl", "pt", "pl"])
async def test_every_language_reflows_at_400_percent_zoom(browser, demo_site, contexts, lang):
    """WCAG 1.4.10 at 320 and 256 CSS px wide: nothing of the banner runs off its edge. One
    German word ("Datenschutzeinstellungen") widened the whole form: the close button and the
    buttons' ends were cut off, which axe does not see."""
    for width, height in ((320, 256), (256, 320)):
        viewport = {"width": width, "height": height}
        page, _, _ = await visit(browser, demo_site, "/", locale=lang, viewport=viewport)
        assert await page.evaluate(OVERFLOW) <= 0, (width, "first layer")
        await page.click("[data-consent-action=customize]")
        assert await page.evaluate(OVERFLOW) <= 0, (width, "preferences")


async def test_global_privacy_control_is_honoured_and_said(browser, proxy, contexts):
    page, recorder, _ = await visit(
        browser, proxy, "/facebook", extra_http_headers={"Sec-GPC": "1"}
    )
    assert "Global Privacy Control" in await page.locator("#cp-gpc").inner_text()
    await page.click("[data-consent-action=customize]")
    assert await page.locator("input[data-consent-category=advertising]").is_disabled()
    await page.click("[data-consent-action=accept-all]")
    await page.wait_for_function(CLOSED)
    await page.reload()
    await page.wait_for_load_state("networkidle")
    assert "advertising" not in (await page.evaluate("window.consentproxy.get()"))["categories"]
    assert not recorder.to("facebook.net") and not recorder.to("facebook.com")


# What a page's script may do to the banner's buttons: each made a choice recorded as the
# visitor's ("via": "banner") with no visitor there.
FAKE_CHOICES = {
    "click": "b => b.click()",
    "dispatched click": (
        "b => b.dispatchEvent(new MouseEvent('click', {bubbles: true, composed: true}))"
    ),
    "request submit": "b => b.form.requestSubmit(b)",
    "escape": (
        "b => b.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true,"
        " composed: true}))"
    ),
}


@pytest.mark.parametrize("how", FAKE_CHOICES)
async def test_a_script_clicking_the_banner_records_no_choice(browser, proxy, contexts, how):
    page, recorder, _ = await visit(browser, proxy, "/facebook")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    action = "reject-all" if how == "escape" else "accept-all"
    await page.locator(f"[data-consent-action={action}]").evaluate(FAKE_CHOICES[how])
    await page.wait_for_timeout(300)
    assert posts == [] and not (await page.evaluate("window.consentproxy.get()"))["decided"]
    assert not await page.evaluate(f"({CLOSED})()") and not recorder.to("facebook.net")
    await page.click("[data-consent-action=accept-all]")  # the visitor's own click
    await page.wait_for_function(CLOSED)
    assert [u for u in posts if u.endswith("/.consent/choice")]


async def test_the_demo_sites_own_manage_cookies_link_opens_the_preferences(
    browser, demo_site, contexts
):
    """The demo pages carry nothing for the proxy: their footer link is wired by
    banner.open_selectors in the demo config."""
    page, _, _ = await visit(browser, demo_site, "/", locale="fr-FR")
    await page.click("[data-consent-action=reject-all]")
    await page.wait_for_function(CLOSED)
    link = page.locator("a.lien-cookies")
    assert await link.get_attribute("data-consent-action") == "open"
    await link.click()
    await page.wait_for_function(
        "() => document.getElementById('consentproxy').shadowRoot.querySelector('dialog')"
        ".matches(':modal')"
    )
    assert page.url.endswith("/")  # the link's #cookies was not followed


# Legacy pages cut short inside an element that hides or disables what is in it (the
# banner goes after injector.CLOSERS). Not a <select>: Chromium's parser keeps a <div> in
# one, and banner.js moves the banner out; browsers parsing a <select> as the spec long said
# drop it. Unit tests cover it.
CUT_SHORT = {
    "/noscript": "<noscript><img src=/pixel.gif alt=''>",
    "/template": "<template><p>row",
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def cut_short_site() -> AsyncIterator[str]:
    """The proxy in front of an origin serving the CUT_SHORT pages as they are."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            text="<!doctype html><html><head><title>x</title></head><body><p>Sizes</p>"
            "<script src=https://www.google-analytics.com/analytics.js></script>"
            + CUT_SHORT[request.path],
            content_type="text/html",
        )

    app = web.Application()
    for path in CUT_SHORT:
        app.router.add_get(path, page)
    async with serve_app(app) as port:
        running = await start_proxy(f"http://127.0.0.1:{port}")
        try:
            yield f"http://{FIRST_PARTY_HOST}:{running.port}"
        finally:
            await running.stop()


@pytest.mark.parametrize("path", list(CUT_SHORT))
async def test_a_page_cut_short_in_a_noscript_or_template_shows_a_working_banner(
    browser, cut_short_site, contexts, path
):
    """The banner went into the element the page leaves open: never shown, never run."""
    page, recorder, _ = await visit(browser, cut_short_site, path)
    assert recorder.requests == []
    accept = page.locator("[data-consent-action=accept-all]")
    assert await accept.is_visible()
    await accept.click()
    await page.wait_for_function(CLOSED)
    await page.wait_for_function("() => window.__loaded_www_google_analytics_com === 1")


async def test_accept_all_on_a_banner_a_reload_has_changed_grants_nothing_until_seen_afresh(
    browser: Browser,
) -> None:
    """(helper-106) The config reloaded with a category more while the banner was open:
    Accept all granted it, recorded as shown. banner.js posts the version it shows; on one
    reloaded away the choice is refused, its form goes back to the page, and the page's new
    banner is the one the visitor then answers."""
    from dataclasses import replace

    from consentproxy.engine import Engine
    from tests.e2e.conftest import pages_origin, recorded

    async with pages_origin({"/": "<p>x</p>"}) as origin:
        running = await start_proxy(origin)
        try:
            async with recorded(browser, f"http://{FIRST_PARTY_HOST}:{running.port}") as (
                tab,
                _,
            ):
                await tab.goto("/")
                titles = "[id=consentproxy] [data-consent-category]"
                before = await tab.locator(titles).count()
                config = running.proxy.engine.config
                more = replace(
                    config,
                    categories=(*config.categories, replace(config.categories[-1], name="extra")),
                )
                await running.proxy.reload(Engine(more, [b"e2e-secret-key-0123456789"]))
                async with tab.expect_navigation():
                    await tab.click("[data-consent-action=accept-all]")
                state = await tab.evaluate("fetch('/.consent/state').then(r => r.json())")
                assert state["decided"] is False  # (nothing granted on the old banner)
                assert await tab.locator(titles).count() == before + 1
                await tab.click("[data-consent-action=accept-all]")
                await tab.wait_for_function(CLOSED)
                state = await tab.evaluate("fetch('/.consent/state').then(r => r.json())")
                assert "extra" in state["categories"]
        finally:
            await running.stop()
