"""A former consent tool's cookies in Chromium: what {prefix}me/erase reaches of them.

Complianz on a WordPress in /blog/ keeps its cookies on Path=/blog/, which the browser sends
to no request outside it (RFC 6265 5.1.4), the erase's included."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from consentproxy.settings import FormerCmp
from tests.e2e.conftest import FIRST_PARTY_HOST, pages_origin, start_proxy

pytestmark = pytest.mark.e2e

# As Complianz writes them after a choice (document.cookie: never Partitioned).
COMPLIANZ = {
    "cmplz_banner-status": "dismissed",
    "cmplz_preferences": "deny",
    "cmplz_statistics": "allow",
    "cmplz_marketing": "allow",
}


async def test_an_erase_deletes_the_former_tools_cookies_on_its_path(browser: Browser):
    """The erase deleted only the cookies sent to it, none of /blog/: the choice stayed,
    and with neutralise: false the next page under /blog/ imported it again."""
    async with pages_origin({"/": "<p>home</p>", "/blog/": "<p>blog</p>"}) as origin:
        running = await start_proxy(
            origin, former_cmp=FormerCmp("complianz", neutralise=False, path="/blog/")
        )
        site = f"http://{FIRST_PARTY_HOST}:{running.port}"
        context = await browser.new_context(base_url=site)
        try:
            await context.add_cookies(
                [{"name": n, "value": v, "url": f"{site}/blog/"} for n, v in COMPLIANZ.items()]
                + [{"name": "cmplz_marketing", "value": "deny", "url": f"{site}/"}]
            )
            assert {(c["name"], c["path"]) for c in await context.cookies()} >= {
                ("cmplz_banner-status", "/blog/"),
                ("cmplz_marketing", "/"),
            }
            page = await context.new_page()
            await page.goto("/")
            status = await page.evaluate(
                "async () => (await fetch('/.consent/me/erase', {method: 'POST'})).status"
            )
            assert status == 200
            left = [(c["name"], c["path"]) for c in await context.cookies()]
            assert [c for c in left if c[0].startswith("cmplz_")] == []
        finally:
            await context.close()
            await running.stop()
