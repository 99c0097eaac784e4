"""A service on a path of the site's own host (a self-hosted Matomo at /matomo/) is held
before consent however a page spells its path, in markup and in what a script builds, under
the default report-only: the browser sends `/js/..%2Fmatomo/m.php` as it is and the origin
(nginx, Apache) serves it from /matomo/. Its requests are routed and counted, never sent."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import unquote, urlsplit

import pytest
from playwright.async_api import Browser, Route

from consentproxy import server
from consentproxy.config import load_config, parse_config
from consentproxy.engine import Engine
from tests.configs import FOUR_CATEGORIES, matomo_at
from tests.conftest import DEMO_CONFIG
from tests.e2e.conftest import FIRST_PARTY_HOST, pages_origin

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

CLOSED = "() => !document.getElementById('consentproxy').shadowRoot.querySelector('dialog').open"
PAGE = (
    '<img src="/js/..%2Fmatomo/m.php?img">'
    '<script src="/%6datomo%2Fm.js"></script>'
    "<script>var i = new Image(); i.src = '//' + location.host + '//matomo/m.php?built';"
    "document.body.append(i);</script>"
)


async def test_an_aliased_path_of_a_self_hosted_service_waits_for_consent(browser: Browser):
    matomo = parse_config(FOUR_CATEGORIES + matomo_at(FIRST_PARTY_HOST)).services
    async with pages_origin({"/": PAGE}) as origin:
        config = load_config(DEMO_CONFIG).with_overrides(
            upstream=origin.replace(FIRST_PARTY_HOST, "127.0.0.1")
        )
        config = replace(config, services=(*config.services, *matomo))
        running = await server.start(Engine(config, [b"e2e-secret-key-0123456789"]), "127.0.0.1", 0)
        context = await browser.new_context(base_url=f"http://{FIRST_PARTY_HOST}:{running.port}")
        loaded: list[str] = []

        async def count(route: Route) -> None:
            url = urlsplit(route.request.url)
            if url.hostname == FIRST_PARTY_HOST and "/matomo/" in unquote(url.path):
                loaded.append(url.query)
                await route.fulfill(body="", content_type="text/javascript")
            elif url.hostname == FIRST_PARTY_HOST:
                await route.continue_()
            else:
                await route.fulfill(body="")

        try:
            await context.route("**/*", count)
            tab = await context.new_page()
            await tab.goto("/")
            await tab.wait_for_load_state("networkidle")
            assert loaded == []
            await tab.click("[data-consent-action=accept-all]")
            await tab.wait_for_function(CLOSED)
            await tab.wait_for_load_state("networkidle")
            assert sorted(set(loaded)) == ["", "built", "img"]
        finally:
            await context.close()
            await running.stop()
