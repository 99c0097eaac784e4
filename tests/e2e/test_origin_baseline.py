"""Baseline without the proxy: straight from the origin, the corpus really does leak.

If these pass, the harness can see third-party loads and tracking cookies, so the proxy tests
(the same pages through the proxy) mean something when they see none.
"""

import pytest
from playwright.async_api import Error as PlaywrightError

pytestmark = pytest.mark.e2e

TRACKING_COOKIES = {"_ga", "_gid", "_fbp"}


@pytest.mark.corpus(third_party=True, direct=True)
async def test_direct_load_leaks(tab, corpus_page):
    response = await tab.open(corpus_page.path)

    assert response is not None and response.status == corpus_page.status
    assert tab.recorder.requests, "the harness saw no third-party request"
    assert set(corpus_page.expect["hosts"]) <= tab.recorder.hosts
    assert corpus_page.expect["text"] in await tab.text()
    tracking = TRACKING_COOKIES & set(corpus_page.cookie_names)
    assert tracking <= set(await tab.cookies())


async def test_clean_page_makes_no_third_party_request(tab):
    await tab.open("/clean")
    assert "no trackers at all" in await tab.text()
    assert tab.recorder.requests == []
    assert set(await tab.cookies()) == {"PHPSESSID", "lang"}


async def test_fake_scripts_run_and_set_their_cookies(tab):
    await tab.open("/facebook")
    assert await tab.page.evaluate("window.__loaded_connect_facebook_net") == 1
    assert (await tab.cookies())["_fbp"] == "tp.connect.facebook.net"
    assert {r.resource_type for r in tab.recorder.to("facebook.net")} == {"script"}


async def test_dynamic_loader_is_seen(tab):
    await tab.open("/loader")
    types = {(r.host, r.resource_type) for r in tab.recorder.requests}
    assert ("connect.facebook.net", "script") in types
    assert ("www.google-analytics.com", "image") in types


async def test_tracking_cookies_reach_the_origin(tab):
    await tab.open("/ga-classic")
    echoed = await tab.fetch("/api/echo-cookies")
    assert TRACKING_COOKIES <= set(echoed["cookies"])
    assert "PHPSESSID=corpus123" in echoed["cookie_header"]


async def test_unknown_path_and_big_download(tab):
    response = await tab.open("/no/such/page")
    assert response is not None and response.status == 404
    assert "Not Found" in await tab.text()
    size = await tab.page.evaluate(
        "fetch('/api/big?mb=2').then(r => r.arrayBuffer()).then(b => b.byteLength)"
    )
    assert size == 2 * 1024 * 1024


@pytest.mark.corpus(direct=False)
async def test_chromium_cannot_decode_br_or_zstd_over_plain_http(tab, corpus_page):
    """Chromium advertises only gzip/deflate over http:, and refuses br/zstd bodies sent anyway.
    These pages are therefore only viewable through a proxy that re-encodes them."""
    with pytest.raises(PlaywrightError, match="ERR_CONTENT_DECODING_FAILED"):
        await tab.open(corpus_page.path)
