"""mitmproxy's forward (regular) mode in a real Chromium: the browser's proxy is a mitmdump
running addons/consent.py with `sites: [legacy.test]`. The listed site gets the same
enforcement as behind `consentproxy serve`; every other host passes untouched."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from tests.adapters import mitmdump
from tests.conftest import DEMO_CONFIG
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, FIRST_PARTY_HOST, ThirdPartyRecorder
from tests.e2e.test_proxy_browser import banner_visible, tracking_cookies, wait_for_hosts

pytestmark = pytest.mark.e2e

RESOLVE = f"consent_resolve={FIRST_PARTY_HOST}=127.0.0.1"  # for mitmdump, as for Chromium


@contextmanager
def forward_mitmdump(home: Path, *options: str) -> Iterator[int]:
    """mitmdump in regular mode enforcing legacy.test; yields its port."""
    config = home / "site.yaml"
    config.write_text(DEMO_CONFIG.read_text() + f"sites: [{FIRST_PARTY_HOST}]\n")
    with mitmdump(config, "regular", home, "e2e-secret-key-0123456789", RESOLVE, *options) as m:
        yield m.port


@pytest.fixture(scope="module")
def forward_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """The forward proxy the browser uses; yields its port and JSON report."""
    home = tmp_path_factory.mktemp("mitm-forward")
    report = home / "flows.jsonl"
    with forward_mitmdump(home, f"consent_report={report}") as port:
        yield port, report


@pytest.fixture(scope="module")
def forced_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The same, forced to no decision (`--set consent_state=none`, a QA run)."""
    with forward_mitmdump(tmp_path_factory.mktemp("mitm-forced"), "consent_state=none") as port:
        yield port


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser(forward_proxy: tuple[int, Path]) -> AsyncIterator[Browser]:
    """Chromium whose every request goes through mitmdump, loopback ones too. Chromium then
    resolves only the proxy's address (mitmdump resolves the rest, see RESOLVE)."""
    args = [a for a in CHROMIUM_ARGS if not a.startswith("--host-resolver-rules")] + [
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--proxy-server=http://127.0.0.1:{forward_proxy[0]}",
        "--proxy-bypass-list=<-loopback>",
    ]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield browser
        await browser.close()


async def test_the_listed_site_is_enforced_through_the_forward_proxy(tab):
    await tab.context.add_cookies([{"name": "_ga", "value": "old", "url": tab.base_url}])
    await tab.open("/ga-classic")
    assert tab.recorder.requests == []
    assert await tab.page.locator("#consentproxy").count() == 1 and await banner_visible(tab)
    echoed = await tab.fetch("/api/echo-cookies")
    assert "_ga" not in echoed["cookies"] and "PHPSESSID" in echoed["cookies"]
    assert await tracking_cookies(tab) == set()


async def test_accept_all_activates_in_place_through_the_forward_proxy(tab):
    await tab.open("/ga-classic")
    await tab.page.evaluate("window.__same_page = 1")
    await tab.page.click("[data-consent-action=accept-all]")
    await wait_for_hosts(tab, {"www.google-analytics.com"})
    assert "www.google-analytics.com" in tab.recorder.hosts
    assert await tab.page.evaluate("window.__same_page") == 1


async def test_other_hosts_pass_untouched_and_only_the_site_is_reported(
    browser, origin, forward_proxy
):
    other = f"http://127.0.0.1:{origin.rsplit(':', 1)[1]}"
    context = await browser.new_context(base_url=other)
    recorder = ThirdPartyRecorder(first_party=frozenset({"127.0.0.1"}))
    await recorder.install(context)
    page = await context.new_page()
    await page.goto("/ga-classic")
    await page.wait_for_load_state("networkidle")
    assert await page.locator("#consentproxy").count() == 0
    assert "www.google-analytics.com" in recorder.hosts  # the page as the origin sends it
    await context.close()
    flows = [json.loads(line) for line in forward_proxy[1].read_text().splitlines()]
    urls = {f["url"] for f in flows}
    assert f"{origin}/ga-classic" in urls
    assert not any(u.startswith("http://127.0.0.1") for u in urls)
    page_flow = next(f for f in flows if f["url"] == f"{origin}/ga-classic")
    assert page_flow["banner"] and page_flow["neutralised"]


async def test_accept_all_loads_no_tracker_when_the_state_is_forced_to_none(
    browser, origin, forced_proxy
):
    context = await browser.new_context(
        base_url=origin,
        proxy={"server": f"http://127.0.0.1:{forced_proxy}", "bypass": "<-loopback>"},
    )
    try:
        recorder = ThirdPartyRecorder()
        await recorder.install(context)
        page = await context.new_page()
        await page.goto("/uppercase")
        await page.wait_for_load_state("networkidle")
        async with page.expect_response(lambda r: r.url.endswith("/.consent/choice")) as answer:
            await page.click("[data-consent-action=accept-all]")
        assert (await (await answer.value).json())["forced"] is True
        await page.locator("dialog.cp-banner").wait_for(state="hidden")
        await page.wait_for_timeout(500)  # what accepting would have loaded, given time
        assert recorder.requests == []
        assert await page.locator("[data-consent-blocked]").count() >= 3
        assert {c["name"] for c in await context.cookies(origin)} <= {"PHPSESSID", "lang"}
        await page.reload()
        await page.wait_for_load_state("networkidle")
        assert recorder.requests == [] and await page.locator("#consentproxy").count() == 1
    finally:
        await context.close()
