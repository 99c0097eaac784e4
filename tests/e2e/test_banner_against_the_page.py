"""The banner stays usable on pages whose own code works against it, in Chromium through the
real proxy (`csp: off`, the demo config): a site's modal dialog or popover in the top layer,
a site rewriting itself with document.open(), autofocus and focus-stealing scripts, and
400 % zoom (a 320 CSS px wide, 256 px high viewport: WCAG 1.4.10 reflow). Usable: on top
(the point at a control's centre hits that control), reachable by keyboard and pointer, and a
choice made from there reaches the proxy. Third-party requests are answered by the
recorder, never sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from ipaddress import ip_network
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page

from consentproxy import server
from consentproxy.config import Regions, load_config
from consentproxy.engine import Engine
from tests.conftest import DEMO_CONFIG
from tests.e2e.conftest import FIRST_PARTY_HOST, pages_origin, recorded, start_proxy

pytestmark = pytest.mark.e2e

LINKS = "".join(f"<p><a href='#l{i}'>link {i}</a></p>" for i in range(20))
SITE_DIALOG = (
    "<dialog id=promo><p>Subscribe to our newsletter!</p><input id=email>"
    "<a href=#cookies id=cookies data-consent-action=open>Cookies</a></dialog>"
)
# A site popover over the whole window, as a newsletter or app prompt would be.
SITE_POPOVER = (
    "<div id=promo popover={kind} style='inset:0;width:100vw;height:100vh;margin:0;"
    "max-width:none;max-height:none;background:#fee'>Install our app! <input id=email></div>"
)
AFTER_LOAD = "<script>addEventListener('load', function () {{ setTimeout(function () {{ {js} }}, 200); }});</script>"
WIPE = (
    "if (!/keep/.test(location.search)) { document.open(); document.write('<!DOCTYPE html>"
    "<html><head><title>fresh</title></head><body><h1>Rewritten</h1><p><a href=#x>x</a></p>"
    "</body></html>'); document.close(); window.__same = 1; }"
)
PAGES = {
    "/modal-inline": SITE_DIALOG + "<script>promo.showModal()</script>" + LINKS,
    "/modal-after-load": SITE_DIALOG + AFTER_LOAD.format(js="promo.showModal()") + LINKS,
    # a web component's own modal, in its shadow root
    "/modal-in-shadow-root": "<div id=host></div><script>var promo = host.attachShadow({mode: 'open'})"
    ".appendChild(document.createElement('dialog')); promo.innerHTML = '<input id=email>';"
    "promo.showModal();</script>" + LINKS,
    "/popover-manual": SITE_POPOVER.format(kind="manual")
    + AFTER_LOAD.format(js="promo.showPopover()")
    + LINKS,
    "/popover-auto": SITE_POPOVER.format(kind="auto")
    + AFTER_LOAD.format(js="promo.showPopover()")
    + LINKS,
    # opened by the markup (popovertarget), not by a script method
    "/popover-declarative": "<button id=offer popovertarget=promo>Offer</button>"
    + SITE_POPOVER.format(kind="auto")
    + AFTER_LOAD.format(js="offer.click()")
    + LINKS,
    "/document-open": "<h1>Old</h1>" + AFTER_LOAD.format(js=WIPE),
    # trackers in the document written anew, and loaded from it and its frame afterwards
    "/document-open-trackers": AFTER_LOAD.format(
        js="document.open(); document.write('<body><scr' + 'ipt src=\"https://www.google-' + "
        "'analytics.com/analytics.js\"></scr' + 'ipt><iframe id=f></iframe>'); document.close(); "
        "setTimeout(function () { new Image().src = 'https://www.facebook.com/tr?id=1'; "
        "document.getElementById('f').contentWindow.fetch('https://www.facebook.com/tr?id=2')"
        ".catch(function () {}); }, 200);"
    ),
    "/autofocus": "<input id=q autofocus>" + LINKS,
    "/focus-stolen": "<input id=q>" + LINKS + AFTER_LOAD.format(js="q.focus()"),
    "/plain": "<input id=q>" + LINKS,
    "/reflow": "<h1>Reflow</h1>" + LINKS,
    "/long": "<h1>Long</h1>" + LINKS * 3,
    "/long-padded": "<script>document.documentElement.style.paddingBottom = '3px'</script>"
    + LINKS * 3,
}

# Where a control of the banner is: scrolled into view (as a visitor scrolls to it, or
# focus brings it), whether its centre is inside the viewport and the point there hits it,
# through the shadow root (an inert or covered control is not hit).
WHERE = """([sel, only]) => {
    const sr = document.getElementById('consentproxy').shadowRoot;
    return [...sr.querySelectorAll(sel)].filter(b => b.checkVisibility())
        .filter((b, i) => only === null || i === only).map(b => {
        b.scrollIntoView({block: 'nearest', inline: 'nearest', behavior: 'instant'});
        const r = b.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
        let hit = document.elementFromPoint(x, y);
        while (hit && hit.shadowRoot && hit.shadowRoot.elementFromPoint(x, y) !== hit)
            hit = hit.shadowRoot.elementFromPoint(x, y);
        const inside = x >= 0 && y >= 0 && x <= innerWidth && y <= innerHeight;
        return {x, y, ok: inside && (hit === b || b.contains(hit)),
                what: (b.getAttribute('data-consent-action') || b.getAttribute('data-consent-category')
                       || b.tagName) + (inside ? '' : ' outside') + ' hit ' + (hit && hit.tagName)};
    });
}"""
PROMO = (
    "(document.getElementById('promo') ||"
    " document.getElementById('host').shadowRoot.querySelector('dialog'))"
)
FOCUSED = """(() => { let a = document.activeElement;
    while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
    return a ? (a.getAttribute('data-consent-action') || a.id || a.tagName) : null; })()"""
IN_BANNER = """(() => { const r = document.getElementById('consentproxy');
    return !!r && document.activeElement === r; })()"""
BANNER_OPEN = """(() => { const r = document.getElementById('consentproxy');
    return !!r && r.isConnected && r.shadowRoot.querySelector('dialog').open; })()"""


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def hostile_origin() -> AsyncIterator[str]:
    async with pages_origin(PAGES) as origin:
        yield origin


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def hostile_site(hostile_origin: str) -> AsyncIterator[str]:
    running = await start_proxy(hostile_origin, "off")
    yield f"http://{FIRST_PARTY_HOST}:{running.port}"
    await running.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def opt_out_site() -> AsyncIterator[str]:
    """The same pages with California an opt-out region (Do Not Sell beside Manage cookies)."""
    async with pages_origin(PAGES) as origin:
        config = replace(
            load_config(DEMO_CONFIG).with_overrides(
                upstream=f"http://127.0.0.1:{origin.rsplit(':', 1)[1]}"
            ),
            csp="off",
            trusted_proxies=(ip_network("127.0.0.1"),),
            regions=Regions("CF-IPCountry", "CF-Region-Code", frozenset({"US-CA"})),
        )
        running = await server.start(Engine(config, [b"e2e-secret-key-0123456789"]), "127.0.0.1", 0)
        yield f"http://{FIRST_PARTY_HOST}:{running.port}"
        await running.stop()


async def where(tab: Page, sel: str, only: int | None = None) -> list[dict[str, Any]]:
    """Each control sel matches (or the only-th one) scrolled into view, and where it is."""
    return list(await tab.evaluate(WHERE, [sel, only]))


async def choice_posted(tab: Page, action: str) -> list[str]:
    """Clicks `action` with the mouse where it shows; the choices the page posted."""
    posted: list[str] = []
    tab.on("request", lambda r: posted.append(r.post_data or "") if "/choice" in r.url else None)
    [box] = await where(tab, f"dialog [data-consent-action={action}]")
    assert box["ok"], box["what"]
    await tab.mouse.click(box["x"], box["y"])
    await tab.wait_for_function(f"!({BANNER_OPEN})")
    return posted


# --- 1. a site's modal dialog or popover in the top layer --------------------------------


@pytest.mark.parametrize("path", ["/modal-inline", "/modal-after-load", "/modal-in-shadow-root"])
async def test_a_sites_modal_dialog_leaves_the_banner_usable_on_top(
    browser: Browser, hostile_site: str, path: str
) -> None:
    async with recorded(browser, hostile_site) as (tab, _):
        await tab.goto(path)
        await tab.wait_for_function(f"{PROMO}.matches(':modal')")
        await tab.wait_for_timeout(300)
        assert await tab.evaluate(BANNER_OPEN)
        # Every first-layer control is on top and takes the pointer (inert ones are not hit).
        boxes = await where(tab, "dialog button, dialog summary")
        assert boxes and all(b["ok"] for b in boxes), [b["what"] for b in boxes]
        # The keyboard reaches them too.
        for _ in range(8):
            if await tab.evaluate(FOCUSED) == "reject-all":
                break
            await tab.keyboard.press("Tab")
        assert await tab.evaluate(FOCUSED) == "reject-all"
        await tab.keyboard.press("Enter")
        await tab.wait_for_function(f"!({BANNER_OPEN})")
        # The site's modal is the site's: still open, in charge again, with the focus back.
        assert await tab.evaluate(f"{PROMO}.matches(':modal')")
        assert await tab.evaluate(FOCUSED) == "email"
        assert (await tab.context.cookies()) and any(
            c["name"] == "consent" for c in await tab.context.cookies()
        )


@pytest.mark.parametrize("path", ["/popover-manual", "/popover-auto", "/popover-declarative"])
async def test_a_sites_popover_does_not_cover_the_banner(
    browser: Browser, hostile_site: str, path: str
) -> None:
    async with recorded(browser, hostile_site) as (tab, _):
        await tab.goto(path)
        await tab.wait_for_function("document.getElementById('promo').matches(':popover-open')")
        await tab.wait_for_timeout(300)
        boxes = await where(tab, "dialog button, dialog summary")
        assert boxes and all(b["ok"] for b in boxes), [b["what"] for b in boxes]
        posted = await choice_posted(tab, "accept-all")
        assert len(posted) == 1 and "accept-all" in posted[0]


async def test_the_preferences_come_back_on_top_of_a_modal_the_site_opens_later(
    browser: Browser, hostile_site: str
) -> None:
    """Customise, then the site's timer opens its modal over the preferences."""
    async with recorded(browser, hostile_site) as (tab, _):
        await tab.goto("/plain")
        await tab.click("[data-consent-action=customize]")
        await tab.evaluate("""() => { const d = document.createElement('dialog');
            d.id = 'late'; d.textContent = 'Wait!'; document.body.append(d); d.showModal(); }""")
        await tab.wait_for_timeout(300)
        boxes = await where(tab, "dialog input[data-consent-category]:not([disabled]), .cp-save")
        assert len(boxes) == 4 and all(b["ok"] for b in boxes), [b["what"] for b in boxes]
        await tab.mouse.click(boxes[0]["x"], boxes[0]["y"])
        posted = await choice_posted(tab, "save")
        assert len(posted) == 1 and '"save"' in posted[0]


async def test_the_sites_cookie_link_in_its_modal_opens_the_preferences_on_top(
    browser: Browser, hostile_site: str
) -> None:
    async with recorded(browser, hostile_site) as (tab, _):
        await tab.goto("/plain")
        await choice_posted(tab, "reject-all")
        await tab.goto("/modal-after-load")
        await tab.wait_for_function("document.getElementById('promo').matches(':modal')")
        await tab.click("#cookies")
        await tab.wait_for_timeout(300)
        boxes = await where(tab, "dialog input[data-consent-category]:not([disabled]), .cp-save")
        assert len(boxes) == 4 and all(b["ok"] for b in boxes), [b["what"] for b in boxes]


# --- 2. document.open() wiping the document -------------------------------------------------


async def test_the_banner_comes_back_after_the_site_rewrites_its_document(
    browser: Browser, hostile_site: str
) -> None:
    async with recorded(browser, hostile_site) as (tab, _):
        await tab.goto("/document-open")
        await tab.wait_for_function("document.title === 'fresh'")
        await tab.wait_for_function(BANNER_OPEN)
        posted = await choice_posted(tab, "reject-all")
        # Posted by the banner's script (no form post, no reload): it still listens.
        assert len(posted) == 1 and "reject-all" in posted[0]
        assert await tab.evaluate("window.__same") == 1


async def test_manage_cookies_comes_back_after_the_site_rewrites_its_document(
    browser: Browser, hostile_site: str
) -> None:
    async with recorded(browser, hostile_site) as (tab, _):
        await tab.goto("/document-open?keep")
        await choice_posted(tab, "reject-all")
        await tab.goto("/document-open")
        await tab.wait_for_function("document.title === 'fresh'")
        await tab.wait_for_timeout(300)
        [manage] = await where(tab, ".cp-manage")
        assert manage["ok"], manage["what"]
        await tab.mouse.click(manage["x"], manage["y"])
        # The preferences open in place, as a modal (not the no-JavaScript page).
        await tab.wait_for_function(
            "document.getElementById('consentproxy').shadowRoot.querySelector('dialog:modal')"
        )
        assert await tab.evaluate("window.__same") == 1


async def test_the_guard_still_holds_what_a_rewritten_document_loads(
    browser: Browser, hostile_origin: str, hostile_site: str
) -> None:
    for base, expected in (
        (hostile_origin, {"www.google-analytics.com", "www.facebook.com"}),
        (hostile_site, set()),
    ):
        async with recorded(browser, base) as (tab, recorder):
            await tab.goto("/document-open-trackers")
            await tab.wait_for_timeout(1200)
            assert recorder.hosts == expected, base


# --- 3. focus taken by the site --------------------------------------------------------------


@pytest.mark.parametrize("path", ["/autofocus", "/focus-stolen"])
async def test_a_keyboard_visitors_first_tab_lands_in_the_banner(
    browser: Browser, hostile_site: str, path: str
) -> None:
    async with recorded(browser, hostile_site) as (tab, _):
        await tab.goto(path)
        await tab.wait_for_timeout(400)
        assert await tab.evaluate(FOCUSED) == "q"  # the site's focus is left as it was
        await tab.keyboard.press("Tab")
        assert await tab.evaluate(IN_BANNER), await tab.evaluate(FOCUSED)
        # Once there, Tab goes on as usual: through the banner and out of it to the page.
        for _ in range(12):
            await tab.keyboard.press("Tab")
            if not await tab.evaluate(IN_BANNER):
                break
        assert not await tab.evaluate(IN_BANNER)
        await tab.keyboard.press("Tab")
        assert not await tab.evaluate(IN_BANNER)  # not pulled back in


async def test_a_link_tabbed_to_is_not_hidden_under_the_open_banner(
    browser: Browser, hostile_site: str
) -> None:
    """WCAG 2.2's Focus Not Obscured (2.4.11): with the first layer open at the bottom of the
    window, each of the page's links a keyboard visitor tabs to shows above it."""
    padding = "document.documentElement.style.paddingBottom"
    async with recorded(browser, hostile_site) as (tab, _):
        await tab.goto("/long-padded")  # a site's own value is its own
        await tab.wait_for_timeout(300)
        assert await tab.evaluate(BANNER_OPEN) and await tab.evaluate(padding) == "3px"
        await tab.goto("/long")
        await tab.wait_for_timeout(300)
        hidden, seen = [], 0
        for _ in range(80):
            await tab.keyboard.press("Tab")
            if await tab.evaluate(IN_BANNER) or await tab.evaluate(FOCUSED) != "A":
                continue
            seen += 1
            hit = await tab.evaluate(
                """(() => { const a = document.activeElement, r = a.getBoundingClientRect();
                const h = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                return h === a ? null : a.textContent + ' under ' + (h && h.id); })()"""
            )
            if hit:
                hidden.append(hit)
        assert await tab.evaluate(BANNER_OPEN)
        assert seen >= 60 and not hidden, (seen, hidden)
        # The room made below the page goes with the first layer.
        assert await tab.evaluate(padding)
        await tab.click("#consentproxy >> [data-consent-action=reject-all]")
        await tab.wait_for_function(f"!{padding}")


async def test_a_visitor_who_clicked_into_the_page_tabs_on_from_there(
    browser: Browser, hostile_site: str
) -> None:
    async with recorded(browser, hostile_site) as (tab, _):
        await tab.goto("/autofocus")
        await tab.wait_for_timeout(300)
        await tab.click("#q")
        await tab.keyboard.press("Tab")
        assert await tab.evaluate(FOCUSED) == "A"  # the link after the field, not the banner


async def test_on_a_plain_page_the_banner_is_first_and_does_not_keep_the_focus(
    browser: Browser, hostile_site: str
) -> None:
    async with recorded(browser, hostile_site) as (tab, _):
        await tab.goto("/plain")
        await tab.wait_for_timeout(300)
        assert await tab.evaluate(FOCUSED) == "cp-title"
        seen = []
        for _ in range(12):
            await tab.keyboard.press("Tab")
            seen.append(await tab.evaluate(FOCUSED))
            if not await tab.evaluate(IN_BANNER):
                break
        assert not await tab.evaluate(IN_BANNER), seen
        assert {"accept-all", "reject-all", "customize"} <= set(seen)


# --- 4. reflow at 400 % zoom -----------------------------------------------------------------


@pytest.mark.parametrize("size", [(320, 256), (256, 320), (320, 640)])
async def test_every_control_is_reachable_at_400_percent_zoom(
    browser: Browser, hostile_site: str, size: tuple[int, int]
) -> None:
    width, height = size
    context = await browser.new_context(
        base_url=hostile_site, viewport={"width": width, "height": height}
    )
    try:
        tab = await context.new_page()
        await tab.route(
            "**/*",
            lambda r: r.continue_() if FIRST_PARTY_HOST in r.request.url else r.abort(),
        )
        await tab.goto("/reflow")
        await tab.wait_for_timeout(300)
        first = await where(tab, "dialog button, dialog summary, dialog a")
        assert len(first) >= 4 and all(b["ok"] for b in first), [b["what"] for b in first]
        assert await tab.evaluate("document.documentElement.scrollWidth") <= width
        await tab.click("[data-consent-action=customize]")
        prefs = await where(
            tab,
            "dialog input[data-consent-category]:not([disabled]), dialog button, dialog summary",
        )
        assert len(prefs) >= 8 and all(b["ok"] for b in prefs), [b["what"] for b in prefs]
        # Each switch can be operated where it shows, and Save after them.
        switches = "dialog input[data-consent-category]:not([disabled])"
        for i in range(len(await where(tab, switches))):
            [b] = await where(tab, switches, i)
            await tab.mouse.click(b["x"], b["y"])
        checked = await tab.evaluate("""[...document.getElementById('consentproxy').shadowRoot
            .querySelectorAll('input[data-consent-category]:not([disabled])')].every(c => c.checked)""")
        assert checked
        posted = []
        tab.on(
            "request", lambda r: posted.append(r.post_data or "") if "/choice" in r.url else None
        )
        [save] = await where(tab, ".cp-save")
        assert save["ok"], save["what"]
        await tab.mouse.click(save["x"], save["y"])
        await tab.wait_for_function(f"!({BANNER_OPEN})")
        assert len(posted) == 1 and "analytics" in posted[0]
    finally:
        await context.close()


@pytest.mark.parametrize("size", [(320, 256), (256, 320)])
async def test_manage_cookies_and_do_not_sell_are_both_reachable_at_400_percent_zoom(
    browser: Browser, opt_out_site: str, size: tuple[int, int]
) -> None:
    """The two floating controls of an opt-out region, side by side at the bottom."""
    width, height = size
    context = await browser.new_context(
        base_url=opt_out_site,
        viewport={"width": width, "height": height},
        extra_http_headers={"CF-IPCountry": "US", "CF-Region-Code": "CA"},
    )
    try:
        tab = await context.new_page()
        await tab.goto("/reflow")
        await tab.wait_for_timeout(300)
        floating = await where(tab, ".cp-manage")
        assert len(floating) == 2 and all(b["ok"] for b in floating), [b["what"] for b in floating]
        assert await tab.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        await context.close()
