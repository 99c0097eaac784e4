"""Another origin cannot choose for the visitor, in a real Chromium: a page of another site,
or of a sibling host of the same site, that posts a form, fetches, beacons, loads an image or
navigates to {prefix}choice (Accept all, or Reject all) is refused by the proxy and sets no
consent cookie. adversarial/test_consent_attacks refuses the headers it is given; this is
what the browser really sends, each attempt seen reaching the proxy (a sibling host would
get the SameSite=Lax cookie set: only the proxy's Origin check stops it). The attacking pages are
real servers on the loopback, as the proxy is (a page Playwright made up is public to
Chromium, which then refused every request to the loopback itself, proving nothing), and no
request is routed (Playwright answers the CORS preflight of a routed one itself, allowing
it); every other host fails to resolve, and none is asked for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser

from consentproxy.demo.origin import serve_app
from tests.e2e.conftest import CHROMIUM_ARGS as SITE_ARGS
from tests.e2e.conftest import FIRST_PARTY_HOST, chromium, start_proxy

pytestmark = pytest.mark.e2e

OTHER_SITE, SIBLING = "evil.test", f"www.{FIRST_PARTY_HOST}"
# The site's hosts and the attacker's on the loopback; every other name fails to resolve.
MAPPED = ", ".join(f"MAP {h} 127.0.0.1" for h in (FIRST_PARTY_HOST, SIBLING, OTHER_SITE))
ARGS = [a for a in SITE_ARGS if not a.startswith("--host-resolver-rules")]
ARGS.append(f"--host-resolver-rules={MAPPED}, MAP * ~NOTFOUND")
# Each attempt, run in the attacking page with T the choice's URL and A the action; the page's
# title becomes "done" once it was answered or refused (a form and a navigation leave it).
ATTEMPTS = {
    "form": "const f = document.createElement('form'); f.method = 'post'; f.action = T; "
    "f.innerHTML = `<input name=action value=${A}>`; document.body.append(f); f.submit();",
    "no-cors-fetch": "await fetch(T, {method: 'POST', mode: 'no-cors', credentials: 'include', "
    "body: new URLSearchParams({action: A})}).catch(() => {});",
    "cors-json-fetch": "await fetch(T, {method: 'POST', credentials: 'include', "
    "headers: {'Content-Type': 'application/json'}, body: JSON.stringify({action: A})})"
    ".catch(() => {});",
    "beacon": "navigator.sendBeacon(T, new URLSearchParams({action: A}));",
    "image": "await new Promise(r => { const i = new Image(); i.onload = i.onerror = r; "
    "i.src = T + '?action=' + A; });",
    "navigation": "location.href = T + '?action=' + A;",
}
# What the proxy was asked with each, and answered: the posts are refused (403); a GET is no
# choice (405); a JSON fetch never gets past its preflight (the proxy's 405 to OPTIONS, with
# no CORS headers): its POST is never sent.
ANSWERS = {
    "form": [("POST", 403)],
    "no-cors-fetch": [("POST", 403)],
    "cors-json-fetch": [("OPTIONS", 405)],
    "beacon": [("POST", 403)],
    "image": [("GET", 405)],
    "navigation": [("GET", 405)],
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def attacker() -> AsyncIterator[int]:
    """The attacking pages, /HOW/ACTION?target=URL: the port they are served on."""

    async def page(request: web.Request) -> web.Response:
        target, action = request.query["target"], request.match_info["action"]
        code = ATTEMPTS[request.match_info["how"]]
        return web.Response(
            text="<!doctype html><title>win</title><body><script>(async () => { "
            f"const T = {target!r}, A = {action!r}; {code} document.title = 'done'; }})();"
            "</script>",
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_get("/{how}/{action}", page)
    async with serve_app(app) as port:
        yield port


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def proxy(origin: str) -> AsyncIterator[tuple[str, list[tuple[str, int]]]]:
    """The proxy (the demo config before the corpus), and what it answered under
    {prefix}choice: (method, status), as its server saw them."""
    running = await start_proxy(origin)
    answered: list[tuple[str, int]] = []
    running.proxy.on_done = lambda method, path, status, *_: (
        answered.append((method, status)) if path.startswith("/.consent/choice") else None
    )
    yield f"http://{FIRST_PARTY_HOST}:{running.port}", answered
    await running.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with chromium(ARGS) as browser:
        yield browser


@pytest.mark.parametrize("action", ["accept-all", "reject-all"])
@pytest.mark.parametrize("how", list(ATTEMPTS))
@pytest.mark.parametrize("host", [OTHER_SITE, SIBLING])
async def test_a_page_of_another_origin_cannot_choose_for_the_visitor(
    browser, proxy, attacker, host, how, action
):
    site, answered = proxy
    answered.clear()
    context = await browser.new_context(service_workers="block")  # (a fresh jar)
    try:
        page = await context.new_page()
        hosts: set[str] = set()
        page.on("request", lambda r: hosts.add(urlsplit(r.url).hostname or ""))
        url = f"http://{host}:{attacker}/{how}/{action}?target={site}/.consent/choice"
        await page.goto(url)
        await page.wait_for_function(
            "url => document.title === 'done' || location.href !== url", arg=url
        )
        for _ in range(200):  # (a form and a navigation leave the page before the answer)
            if answered:
                break
            await page.wait_for_timeout(50)
        assert answered == ANSWERS[how] and hosts <= {host, FIRST_PARTY_HOST}
        assert "consent" not in {c["name"] for c in await context.cookies(site)}
    finally:
        await context.close()
