"""Stand-ins, in Chromium through the real proxy (the demo config): the site's own code that
calls a held tracker's global (an onclick's `ga('send', ...)`, its bundle's `fbq('track',
'Lead')`) threw a ReferenceError while the tracker's snippet was held, and the rest of that
code never ran (salon.com's "Go Ad Free" link: `ga(...);open_modal('ad_free');`). The guard
now puts a stand-in there that keeps the calls and sends nothing; they reach the service only
once the visitor consents to it, after its snippet's own init, and never otherwise.

Third-party requests are answered by the recorder (its fake fbevents.js and analytics.js
define nothing, so the snippets' own queues stay readable), never sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Route

from tests.e2e.conftest import (
    FIRST_PARTY_HOST,
    ThirdPartyRecorder,
    pages_origin,
    recorded,
    start_proxy,
)
from tests.e2e.test_proxy_browser import wait_until

pytestmark = pytest.mark.e2e

# The snippets as sites paste them: the proxy holds both (markers GoogleAnalyticsObject, fbq().
GA_SNIPPET = (
    "<script>(function(i,s,o,g,r,a,m){i['GoogleAnalyticsObject']=r;i[r]=i[r]||function(){"
    "(i[r].q=i[r].q||[]).push(arguments)},i[r].l=1*new Date();a=s.createElement(o),"
    "m=s.getElementsByTagName(o)[0];a.async=1;a.src=g;m.parentNode.insertBefore(a,m)"
    "})(window,document,'script','https://www.google-analytics.com/analytics.js','ga');"
    "ga('create','UA-1-1','auto');ga('send','pageview');</script>"
)
FB_SNIPPET = (
    "<script>!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?"
    "n.callMethod.apply(n,arguments):n.queue.push(arguments)};if(!f._fbq)f._fbq=n;n.push=n;"
    "n.loaded=!0;n.version='2.0';n.queue=[];t=b.createElement(e);t.async=!0;t.src=v;"
    "s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,document,'script',"
    "'https://connect.facebook.net/en_US/fbevents.js');fbq('init','123');"
    "fbq('track','PageView');</script>"
)
# gpt.js as Google's (its body, not the recorder's stub: it defines googletag): it adopts
# the googletag it finds, as the snippet sites paste (`googletag = googletag || {}`) expects.
GPT = "https://www.googletagservices.com/tag/js/gpt.js"
GPT_JS = (
    "window.googletag = window.googletag || {cmd: []};"
    "googletag.defineSlot = function (path) { return {path: path}; };"
)
# The site's own code: an inline script and a link's onclick (salon.com's), and its bundle.
SITE_CALLS = (
    "<script>ga('send','event','x'); document.body.dataset.after='1';</script>"
    "<a id=adfree href='#' onclick=\"ga('send','event','adfree');"
    "document.getElementById('modal').hidden=false;return false\">Go Ad Free</a>"
    "<div id=modal hidden>Ad free</div>"
)
BODIES = {
    "/salon": GA_SNIPPET + "<p>Articles</p>" + SITE_CALLS,
    "/lead": GA_SNIPPET + FB_SNIPPET + "<script src='/bundle.js'></script>"
    "<button id=lead onclick=\"fbq('trackCustom','Click');this.textContent='sent'\">Lead</button>",
    # the page's own ga, defined after its bundle called one (the stand-in then)
    # Google's outbound link: the navigation waits on the hit's callback
    "/out": GA_SNIPPET + "<a id=out href='/elsewhere' onclick=\"ga('send','event','out','click',"
    "{hitCallback:function(){document.body.dataset.went='ga'}});return false\">Out</a>"
    "<a id=out2 href='/elsewhere' onclick=\"gtag('event','out',{event_callback:function(){"
    "document.body.dataset.went2='gtag'}});return false\">Out</a>",
    # An app's bundle (over 16 KiB: it runs before consent) with a Hotjar-like snippet in
    # it, found by its URL alone: the snippet makes its queue of the stand-in
    "/bundle": "<script>var pad = '" + "x" * 17000 + "';"
    "(function(w,n,u){w[n]=w[n]||function(){(w[n].q=w[n].q||[]).push(arguments)};"
    "w[n]('init',7);var s=document.createElement('script');s.src=u;"
    "document.head.appendChild(s)})(window,'hj','https://static.hotjar.com/c/hotjar-7.js');"
    "</script>",
    "/own": GA_SNIPPET + "<script src='/early.js'></script>"
    "<script>window.ga=function(){(window.mine=window.mine||[]).push([].slice.call(arguments))};"
    "ga('send','own');</script>",
    # GPT as pasted (its setup is the site's own: not held, it makes its queue of the
    # stand-in), and the classic ga.js snippet (held) with an onclick pushing to _gaq
    "/ads": "<script async src='https://securepubads.g.doubleclick.net/tag/js/gpt.js'></script>"
    "<script>window.googletag=window.googletag||{cmd:[]};googletag.cmd.push(function(){});"
    "</script><script>var _gaq=_gaq||[];_gaq.push(['_setAccount','UA-1-1']);"
    "_gaq.push(['_trackPageview']);(function(){var ga=document.createElement('script');"
    "ga.src='https://ssl.google-analytics.com/ga.js';document.body.appendChild(ga)})();</script>"
    "<button id=buy onclick=\"_gaq.push(['_trackEvent','buy']);googletag.cmd.push(function(){});"
    "this.textContent='bought'\">Buy</button>",
    # A real page's GPT setup (sonntag-sachsen.de's): its own object of the stand-in, with
    # its slots kept on it, gpt.js loaded after it (held), and a slot defined right away
    # (which throws until gpt.js is there: run again after it once it is back)
    "/slots": "<script>var googletag = googletag || {}; googletag.cmd = googletag.cmd || [];"
    "googletag.slots = googletag.slots || {};</script>"
    f"<script src='{GPT}'></script>"
    "<script>window.tries = (window.tries || 0) + 1;"
    "googletag.slots.side = googletag.defineSlot('/1/side', [300, 250], 'side');</script>",
}
SCRIPTS = {
    "/bundle.js": "fbq('track','Lead');ga('send','event','lead');",
    "/early.js": "ga('send','early');",
}
# The queue of a snippet's own fbq or ga, as lists (null: none there, e.g. a stand-in).
QUEUE = """(name) => {
    const q = window[name] && window[name][name === 'ga' ? 'q' : 'queue'];
    return q ? Array.from(q, (a) => Array.from(a)) : null;
}"""


@asynccontextmanager
async def through_proxy(
    browser: Browser,
) -> AsyncIterator[tuple[Page, ThirdPartyRecorder, list[str]]]:
    """A tab on the pages above through the proxy, its recorder and the page's errors."""
    async with pages_origin(BODIES, SCRIPTS) as origin:
        running = await start_proxy(origin)
        try:
            async with recorded(browser, f"http://{FIRST_PARTY_HOST}:{running.port}") as (
                page,
                recorder,
            ):
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                yield page, recorder, errors
        finally:
            await running.stop()


async def queues(page: Page) -> dict[str, Any]:
    return {name: await page.evaluate(QUEUE, name) for name in ("ga", "fbq")}


async def test_before_a_choice_the_sites_own_calls_run_on_and_send_nothing(browser):
    async with through_proxy(browser) as (page, recorder, errors):
        await page.goto("/salon")
        await page.wait_for_load_state("networkidle")
        assert await page.locator("script[data-consent-blocked=google-analytics]").count() == 1
        assert errors == []  # (was: ReferenceError: ga is not defined)
        assert await page.evaluate("document.body.dataset.after") == "1"
        await page.click("#adfree")
        assert await page.locator("#modal").is_visible()  # the click's second action
        assert errors == []
        await page.wait_for_timeout(300)
        assert recorder.requests == []
        # a stand-in: a function that keeps the calls, with no queue a library reads
        assert await page.evaluate("typeof ga === 'function' && ga.q === undefined")


async def test_a_callback_the_sites_link_waits_on_is_called_and_its_call_never_made_later(
    browser,
):
    """A stand-in kept ga('send', ..., {hitCallback: go}) and never called go: Google's
    outbound-link code (then `return false`) left every such link dead before consent, and
    on consent the page would have followed one clicked minutes before."""
    async with through_proxy(browser) as (page, recorder, errors):
        await page.goto("/out")
        await page.wait_for_load_state("networkidle")
        await page.click("#out")
        await page.click("#out2")
        await page.wait_for_function("document.body.dataset.went && document.body.dataset.went2")
        assert errors == [] and recorder.requests == []
        await page.click("[data-consent-action=accept-all]")

        async def loaded() -> bool:
            return "www.google-analytics.com" in recorder.hosts

        await wait_until(page, loaded)
        await page.wait_for_timeout(300)
        calls = (await queues(page))["ga"]
        assert calls and ["create", "UA-1-1", "auto"] in calls
        assert not [c for c in calls if "out" in c]  # (answered: not made again)


async def test_a_snippet_that_ran_before_consent_reaches_the_library_consent_brings(browser):
    """A long script of the site's runs before consent (its trackers are URLs the guard
    holds), its snippet keeping the stand-in it found as its queue. On consent the stand-in
    went and, the library not loaded yet when the banner was done, its init was dropped."""
    async with through_proxy(browser) as (page, recorder, errors):

        async def library(route: Route) -> None:  # (its loader, then itself: as Hotjar's)
            if "modules" not in route.request.url:  # (later: after the banner is done)
                body = "setTimeout(function () { var m = document.createElement('script');"
                body += "m.src = 'https://script.hotjar.com/modules.js';"
                body += "document.head.appendChild(m); }, 300);"
            else:
                body = "window.hj = function () {"
                body += " (window.got = window.got || []).push([].slice.call(arguments)); };"
            await route.fulfill(content_type="application/javascript", body=body)

        await page.route("https://*.hotjar.com/**", library)
        await page.goto("/bundle")
        await page.wait_for_load_state("networkidle")
        assert errors == [] and recorder.requests == []
        assert await page.evaluate("window.got") is None  # (held: nothing loaded)
        await page.click("[data-consent-action=accept-all]")
        await page.wait_for_function("window.got", timeout=10_000)
        assert await page.evaluate("window.got") == [["init", 7]]


async def test_calls_made_before_consent_reach_the_service_after_its_own_init(browser):
    async with through_proxy(browser) as (page, recorder, errors):
        await page.goto("/lead")
        await page.wait_for_load_state("networkidle")
        await page.click("#lead")
        assert await page.locator("#lead").text_content() == "sent"
        assert recorder.requests == [] and errors == []
        await page.evaluate("window.__same_page = 1")
        await page.click("[data-consent-action=accept-all]")

        async def loaded() -> bool:
            return {"connect.facebook.net", "www.google-analytics.com"} <= recorder.hosts

        await wait_until(page, loaded)
        assert {(r.host, r.resource_type) for r in recorder.requests} >= {
            ("connect.facebook.net", "script"),
            ("www.google-analytics.com", "script"),
        }

        async def replayed() -> bool:
            return len((await queues(page))["fbq"] or []) == 4

        await wait_until(page, replayed, 5)
        # the snippets' own fbq and ga (the stand-ins were taken away before they ran), with
        # their init first, then the site's calls in the order they were made
        assert await page.evaluate("fbq.version === '2.0' && fbq.push === fbq")
        assert await queues(page) == {
            "fbq": [
                ["init", "123"],
                ["track", "PageView"],
                ["track", "Lead"],
                ["trackCustom", "Click"],
            ],
            "ga": [["create", "UA-1-1", "auto"], ["send", "pageview"], ["send", "event", "lead"]],
        }
        assert await page.evaluate("window.__same_page") == 1 and errors == []


async def test_reject_all_replays_nothing_and_sends_nothing(browser):
    async with through_proxy(browser) as (page, recorder, errors):
        await page.goto("/lead")
        await page.wait_for_load_state("networkidle")
        await page.click("#lead")
        await page.click("[data-consent-action=reject-all]")
        await page.locator("dialog.cp-banner").wait_for(state="hidden")
        await page.wait_for_timeout(500)
        await page.click("#lead")  # (still held: the stand-in keeps taking calls)
        assert recorder.requests == [] and errors == []
        assert await queues(page) == {"fbq": None, "ga": None}
        assert await page.locator("script[data-consent-blocked]").count() == 2
        # and the next page, refused: the same
        await page.goto("/salon")
        await page.wait_for_load_state("networkidle")
        await page.click("#adfree")
        assert await page.locator("#modal").is_visible()
        assert recorder.requests == [] and errors == []


async def test_a_page_that_defines_the_global_itself_keeps_its_own(browser):
    async with through_proxy(browser) as (page, recorder, errors):
        await page.goto("/own")
        await page.wait_for_load_state("networkidle")
        assert errors == []
        assert await page.evaluate("window.mine") == [["send", "own"]]
        await page.click("[data-consent-action=accept-all]")

        async def loaded() -> bool:
            return "www.google-analytics.com" in recorder.hosts

        await wait_until(page, loaded)
        await page.wait_for_timeout(300)
        # the held snippet found the page's ga and kept it (ga = ga || ...); what the stand-in
        # took before the page had its own is not handed to the page's function
        assert await page.evaluate("String(ga).includes('window.mine')")
        assert await page.evaluate("window.mine") == [
            ["send", "own"],
            ["create", "UA-1-1", "auto"],
            ["send", "pageview"],
        ]
        assert errors == []


async def test_queues_pushed_to_before_consent_reach_the_library_after_it(browser):
    """Arrays: _gaq's items go onto the held snippet's own queue after its own; GPT's queue,
    which the site's setup made of the stand-in, is its queue again for gpt.js (it loads
    after the stand-in is gone: nothing else defines googletag)."""
    async with through_proxy(browser) as (page, recorder, errors):
        await page.goto("/ads")
        await page.wait_for_load_state("networkidle")
        await page.click("#buy")
        assert await page.locator("#buy").text_content() == "bought"
        assert recorder.requests == [] and errors == []  # (was: _gaq is not defined)
        await page.click("[data-consent-action=accept-all]")

        async def loaded() -> bool:
            return {"securepubads.g.doubleclick.net", "ssl.google-analytics.com"} <= recorder.hosts

        await wait_until(page, loaded)
        await page.wait_for_timeout(300)
        assert await page.evaluate("JSON.stringify(_gaq)") == (
            '[["_setAccount","UA-1-1"],["_trackPageview"],["_trackEvent","buy"]]'
        )
        assert await page.evaluate("googletag.cmd.length") == 2
        assert errors == []


async def test_the_sites_own_object_made_of_a_stand_in_stays_the_sites_after_consent(browser):
    """sonntag-sachsen.de, one of the real pages: its GPT setup made its googletag of the
    stand-in and kept its slots on it. Taking the stand-in away on consent took the slots
    with it: gpt.js made a googletag of its own, and the site's script run again after it
    threw (`googletag.slots` undefined), as would every later use of its slots."""
    async with through_proxy(browser) as (page, recorder, errors):
        gpt: list[str] = []  # (answered here, not by the recorder: counted here too)

        async def serve_gpt(route: Route) -> None:
            gpt.append(route.request.url)
            await route.fulfill(body=GPT_JS, content_type="text/javascript")

        await page.route(GPT, serve_gpt)
        await page.goto("/slots")
        await page.wait_for_load_state("networkidle")
        assert gpt == [] and recorder.requests == []
        assert errors == ["googletag.defineSlot is not a function"]  # (gpt.js held)
        errors.clear()
        await page.click("[data-consent-action=accept-all]")

        async def ran_again() -> bool:
            return bool(await page.evaluate("window.tries === 2"))

        await wait_until(page, ran_again)
        await page.wait_for_timeout(300)
        assert await page.evaluate(
            "[typeof googletag.defineSlot, googletag.slots && googletag.slots.side]"
        ) == [
            "function",
            {"path": "/1/side"},
        ]
        assert gpt == [GPT] and errors == []
