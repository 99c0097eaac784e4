"""Jurisdictions in a real browser: in an opt-out region (the country a trusted front proxy
names) trackers run before any choice, until the visitor presses Do Not Sell or Share, or
their browser sends Global Privacy Control."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from ipaddress import ip_network

import pytest
import pytest_asyncio
from playwright.async_api import Browser

from consentproxy import server
from consentproxy.config import Regions, load_config
from consentproxy.engine import Engine
from tests.conftest import DEMO_CONFIG
from tests.e2e.conftest import FIRST_PARTY_HOST, axe_violations, recorded

pytestmark = pytest.mark.e2e
CALIFORNIA = {"CF-IPCountry": "US", "CF-Region-Code": "CA"}
TRACKERS = ("google-analytics.com", "facebook.net")
OPEN = "() => document.getElementById('consentproxy').shadowRoot.querySelector('dialog').open"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def regional_proxy(origin: str) -> AsyncIterator[str]:
    """The demo config with California an opt-out region, the browser (on 127.0.0.1) standing
    in for the CDN that names the visitor's country."""
    config = replace(
        load_config(DEMO_CONFIG).with_overrides(
            upstream=f"http://127.0.0.1:{origin.rsplit(':', 1)[1]}"
        ),
        trusted_proxies=(ip_network("127.0.0.1"),),
        regions=Regions("CF-IPCountry", "CF-Region-Code", frozenset({"US-CA"})),
    )
    running = await server.start(Engine(config, [b"e2e-secret-key-0123456789"]), "127.0.0.1", 0)
    yield f"http://{FIRST_PARTY_HOST}:{running.port}"
    await running.stop()


async def test_opt_out_region_trackers_run_until_do_not_sell_and_gpc_holds_them(
    browser: Browser, regional_proxy: str
) -> None:
    async with recorded(browser, regional_proxy) as (page, recorder):
        await page.context.set_extra_http_headers(CALIFORNIA)
        await page.goto("/gzip")
        await page.wait_for_load_state("networkidle")
        assert all(recorder.to(t) for t in TRACKERS), recorder.hosts  # before any choice
        cookies = {c["name"] for c in await page.context.cookies()}
        assert {"_ga", "_fbp"} <= cookies
        assert not await page.evaluate(OPEN)  # nothing to ask first
        assert (await page.evaluate("window.consentproxy.get()"))["categories"] == [
            "advertising",
            "analytics",
            "social",
        ]
        assert await axe_violations(page, ["#consentproxy"]) == []

        recorder.clear()
        async with page.expect_navigation():  # what ran cannot be stopped: a new page
            await page.click("[data-consent-action=do-not-sell]")
        await page.wait_for_load_state("networkidle")
        assert not any(recorder.to(t) for t in TRACKERS), recorder.hosts
        cookies = {c["name"] for c in await page.context.cookies()}
        assert "consent" in cookies and not {"_ga", "_fbp"} & cookies
        assert await page.locator("[data-consent-action=do-not-sell]").count() == 0
        assert (await page.evaluate("window.consentproxy.get()"))["categories"] == []

    async with recorded(browser, regional_proxy) as (page, recorder):
        await page.context.set_extra_http_headers({**CALIFORNIA, "Sec-GPC": "1"})
        await page.goto("/gzip")
        await page.wait_for_load_state("networkidle")
        assert recorder.requests == []
        assert {c["name"] for c in await page.context.cookies()} & {"_ga", "_fbp"} == set()
        assert not await page.evaluate(OPEN)
        assert await page.locator("[data-consent-action=do-not-sell]").count() == 0
