"""The browser's HTTP cache never brings back a page rewritten for another consent state
(issue 15, High 1): in Chromium, through the proxy, in front of an origin that sends an
ETag and a Last-Modified and answers conditional requests with 304.

No request routing here: Playwright's `route` switches Chromium's HTTP cache off, which
would hide the very thing under test. Third-party requests fail to resolve (the harness's
host rules) and are recorded from the context's request events instead."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page

from consentproxy.demo.origin import serve_app
from tests.e2e.conftest import FIRST_PARTY_HOST, start_proxy

pytestmark = pytest.mark.e2e

PAGE = (
    b"<!doctype html><html><head><title>cached</title>"
    b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
    b"</head><body><p>a page browsers may cache</p><img src=/logo.gif alt=logo>"
    b'<img src="https://www.facebook.com/tr?id=1&amp;ev=PageView" alt="">'
    b"</body></html>"
)
VALIDATORS = {
    "ETag": '"page-v1"',
    "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT",
    "Cache-Control": "max-age=0",
}
TRACKERS = {"www.googletagmanager.com", "www.facebook.com"}
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
IMAGE_VALIDATORS = {"ETag": '"logo-v1"', "Cache-Control": "max-age=0"}
OPEN = "() => document.getElementById('consentproxy').shadowRoot.querySelector('dialog').open"


class Origin:
    """Serves PAGE with validators and counts its full answers and its 304s. If-None-Match
    is compared weakly, as RFC 9110 says and nginx and Apache do."""

    def __init__(self) -> None:
        self.full = self.not_modified = 0
        self.image_full = self.image_not_modified = 0

    async def image(self, request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"logo-v1"':
            self.image_not_modified += 1
            return web.Response(status=304, headers=IMAGE_VALIDATORS)
        self.image_full += 1
        return web.Response(body=GIF, content_type="image/gif", headers=IMAGE_VALIDATORS)

    async def page(self, request: web.Request) -> web.Response:
        tags = [
            t.strip().removeprefix("W/")
            for t in request.headers.get("If-None-Match", "").split(",")
        ]
        if (
            VALIDATORS["ETag"] in tags
            or request.headers.get("If-Modified-Since") == VALIDATORS["Last-Modified"]
        ):
            self.not_modified += 1
            return web.Response(status=304, headers=VALIDATORS)
        self.full += 1
        return web.Response(body=PAGE, content_type="text/html", headers=VALIDATORS)


@pytest_asyncio.fixture(loop_scope="session")
async def site() -> AsyncIterator[tuple[str, Origin]]:
    origin = Origin()
    app = web.Application()
    app.router.add_get("/", origin.page)
    app.router.add_get("/logo.gif", origin.image)
    async with serve_app(app) as port:
        running = await start_proxy(f"http://127.0.0.1:{port}")
        try:
            yield f"http://{FIRST_PARTY_HOST}:{running.port}", origin
        finally:
            await running.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def cached_context(
    browser: Browser, site: tuple[str, Origin]
) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(base_url=site[0])
    try:
        yield context
    finally:
        await context.close()


def tracker_log(context: BrowserContext) -> list[str]:
    hosts: list[str] = []
    context.on(
        "request",
        lambda r: (
            hosts.append(urlsplit(r.url).hostname or "")
            if urlsplit(r.url).hostname in TRACKERS
            else None
        ),
    )
    return hosts


async def accept_all(page: Page) -> None:
    """Click Accept all and wait for the proxy's answer (its cookie): a reload sent before
    it (a loaded machine) asked with no choice made yet."""
    async with page.expect_response(lambda r: "/.consent/choice" in r.url):
        await page.click("[data-consent-action=accept-all]")


async def settle(page: Page) -> None:
    await page.wait_for_load_state("networkidle")
    await page.wait_for_timeout(200)


async def test_withdrawal_is_not_undone_by_the_browser_cache(cached_context, site):
    _, origin = site
    hosts = tracker_log(cached_context)
    page = await cached_context.new_page()
    await page.goto("/")
    await settle(page)
    assert hosts == []
    await accept_all(page)
    await page.reload()
    await page.reload()  # the accepted page, revalidated: the origin's 304 serves it
    await settle(page)
    assert origin.not_modified >= 1, "Chromium never revalidated: this test proves nothing"
    assert set(hosts) == TRACKERS
    hosts.clear()
    async with page.expect_navigation():  # Reject all after a choice reloads the page
        await page.click(".cp-manage")
        await page.click("[data-consent-action=reject-all]")
    await settle(page)
    await page.reload()
    await settle(page)
    assert hosts == []
    assert await page.locator("img[data-consent-src]").count() == 1


async def test_a_page_cached_before_the_choice_loses_its_banner_after_accept_all(
    cached_context, site
):
    _, origin = site
    hosts = tracker_log(cached_context)
    page = await cached_context.new_page()
    await page.goto("/")
    await settle(page)
    assert await page.evaluate(OPEN)
    await accept_all(page)
    before = origin.full
    await page.reload()
    await settle(page)
    assert origin.full == before + 1  # a whole new page, not the cached one
    assert not await page.evaluate(OPEN)
    assert set(hosts) == TRACKERS


async def test_the_sites_own_images_are_revalidated_not_sent_again(cached_context, site):
    """Over plain http no Sec-Fetch-Dest says a request is for an image: its If-None-Match
    was dropped, and the origin sent the whole image again on every reload."""
    _, origin = site
    page = await cached_context.new_page()
    await page.goto("/")
    await settle(page)
    await page.reload()
    await settle(page)
    assert origin.image_full == 1 and origin.image_not_modified >= 1
