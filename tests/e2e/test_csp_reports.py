"""CSP violation reports in Chromium: in report-only mode, what enforce would block reaches
{prefix}csp-report and is counted by directive and host (Prometheus, and --observe)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser

from consentproxy.demo.origin import serve_app
from consentproxy.telemetry import Telemetry
from tests.e2e.conftest import FIRST_PARTY_HOST, start_proxy

pytestmark = pytest.mark.e2e

PAGE = (
    "<!doctype html><html><head></head><body><p>a page with a tracker no service names"
    "</p><img src='https://pixel.unknown-tracker.example/p.gif' alt=''></body></html>"
)


@pytest_asyncio.fixture(loop_scope="session")
async def reported() -> AsyncIterator[tuple[str, Telemetry, list[str]]]:
    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    async with serve_app(app) as port:
        observed: list[str] = []
        running = await start_proxy(f"http://127.0.0.1:{port}", observe=observed.append)
        telemetry = Telemetry(lambda: running.proxy.engine)
        running.proxy.on_done = telemetry.request_done
        try:
            yield f"http://{FIRST_PARTY_HOST}:{running.port}", telemetry, observed
        finally:
            await running.stop()


async def test_report_only_violation_reaches_the_proxy_and_is_counted(
    browser: Browser, reported: tuple[str, Telemetry, list[str]]
) -> None:
    base, telemetry, observed = reported
    context = await browser.new_context(base_url=base)
    try:
        page = await context.new_page()
        await page.goto("/")
        metric = (
            'consentproxy_csp_violations_total{directive="img-src",'
            'host="pixel.unknown-tracker.example"} 1.0'
        )
        for _ in range(100):
            if metric in telemetry.scrape().decode():
                break
            await asyncio.sleep(0.05)
        assert metric in telemetry.scrape().decode()
        assert any(
            "CSP img-src blocks 'pixel.unknown-tracker.example'" in line for line in observed
        )
    finally:
        await context.close()
